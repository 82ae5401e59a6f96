"""The NumPyro model: a law, its priors and a likelihood on log loss.

A plain function with the observations optional, so the same function serves
prior predictive checks (``log_loss=None``), fitting and ``Predictive``.
Configuration (law, priors, likelihood) is bound with :func:`make_model`; the
arrays are arguments, so refits of same-shaped data reuse the compiled sampler.
"""

from __future__ import annotations

import functools
from typing import Mapping

import jax.numpy as jnp
import numpyro

from bayescale.laws import Law
from bayescale.likelihoods import Likelihood
from bayescale.priors import Prior

__all__ = ["scaling_model", "make_model", "model_args"]

NOISE = "sigma"
OBS = "log_loss"


def scaling_model(logN, logD, ref, log_loss=None, *, law: Law, priors: Mapping[str, Prior], likelihood: Likelihood):
    """NumPyro model of ``log(loss) ~ likelihood(law.log_loss(N, D), sigma)``.

    Parameters
    ----------
    logN, logD : array
        Log parameters and log tokens of each run.
    ref : dict
        Reference scales for the centred parametrisation (``Law.reference``).
    log_loss : array, optional
        Observed log losses; ``None`` samples them (prior or posterior predictive).
    """
    sampled = {name: numpyro.sample(name, priors[name].to_numpyro()) for name in law.sampled_names}
    for name, value in law.derived(sampled, ref).items():
        numpyro.deterministic(name, value)
    sigma = numpyro.sample(NOISE, priors[NOISE].to_numpyro())
    mu = law.sampled_log_loss(sampled, ref, logN, logD)
    with numpyro.plate("runs", jnp.shape(logN)[0]):
        numpyro.sample(OBS, likelihood.dist(mu, sigma), obs=log_loss)


def make_model(law: Law, priors: Mapping[str, Prior], likelihood: Likelihood):
    """Bind the configuration, leaving ``(logN, logD, ref, log_loss)`` as arguments."""
    return functools.partial(scaling_model, law=law, priors=dict(priors), likelihood=likelihood)


def model_args(law: Law, N, D, loss=None, ref: Mapping[str, float] | None = None) -> tuple:
    """Model arguments from data columns (float32 arrays, reference scales from the data)."""
    import numpy as np

    ref = law.reference(np.asarray(N), np.asarray(D)) if ref is None else ref
    args = (
        jnp.asarray(np.log(np.asarray(N, dtype=np.float64)), dtype=jnp.float32),
        jnp.asarray(np.log(np.asarray(D, dtype=np.float64)), dtype=jnp.float32),
        {k: jnp.asarray(v, dtype=jnp.float32) for k, v in ref.items()},
    )
    if loss is not None:
        args = args + (jnp.asarray(np.log(np.asarray(loss, dtype=np.float64)), dtype=jnp.float32),)
    return args
