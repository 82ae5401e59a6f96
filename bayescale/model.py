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

from bayescale.laws import Law, covariate_values
from bayescale.likelihoods import DF, Likelihood
from bayescale.priors import Prior

__all__ = ["scaling_model", "make_model", "model_args", "log_covariates"]

NOISE = "sigma"
OBS = "log_loss"


def scaling_model(X, ref, log_loss=None, *, law: Law, priors: Mapping[str, Prior], likelihood: Likelihood):
    """NumPyro model of ``log(loss) ~ likelihood(law.log_loss(covariates), sigma)``.

    Parameters
    ----------
    X : dict
        Log covariates of each run, keyed by covariate name (``{"N": log N, "D": log D}``
        for Chinchilla; ``"C"``, ``"U"`` for laws that use them).
    ref : dict
        Reference scales for the centred parametrisation (``Law.reference``).
    log_loss : array, optional
        Observed log losses; ``None`` samples them (prior or posterior predictive).
    """
    sampled = {name: numpyro.sample(name, priors[name].to_numpyro()) for name in law.sampled_names}
    for name, value in law.derived(sampled, ref).items():
        numpyro.deterministic(name, value)
    sigma = numpyro.sample(NOISE, priors[NOISE].to_numpyro())
    df = numpyro.sample(DF, priors[DF].to_numpyro()) if likelihood.learns_df else None
    mu = law.sampled_log_loss(sampled, ref, *(X[c] for c in law.covariates))
    with numpyro.plate("runs", jnp.shape(X[law.covariates[0]])[0]):
        numpyro.sample(OBS, likelihood.dist(mu, sigma, df=df), obs=log_loss)


def make_model(law: Law, priors: Mapping[str, Prior], likelihood: Likelihood):
    """Bind the configuration, leaving ``(X, ref, log_loss)`` as arguments."""
    return functools.partial(scaling_model, law=law, priors=dict(priors), likelihood=likelihood)


def log_covariates(law: Law, N, D, U=None) -> dict:
    """``{name: log values}`` (float32) of the covariates the law reads."""
    import numpy as np

    values = covariate_values(law.covariates, N=N, D=D, U=U)
    return {c: jnp.asarray(np.log(v), dtype=jnp.float32) for c, v in values.items()}


def model_args(law: Law, N, D, loss=None, ref: Mapping[str, float] | None = None, *, U=None) -> tuple:
    """Model arguments ``(X, ref[, log_loss])`` from data columns (float32, reference scales from the data)."""
    import numpy as np

    ref = law.reference(np.asarray(N), np.asarray(D), U) if ref is None else ref
    args = (log_covariates(law, N, D, U), {k: jnp.asarray(v, dtype=jnp.float32) for k, v in ref.items()})
    if loss is not None:
        args = args + (jnp.asarray(np.log(np.asarray(loss, dtype=np.float64)), dtype=jnp.float32),)
    return args
