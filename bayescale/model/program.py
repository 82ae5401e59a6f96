"""The one NumPyro program of every fit, built from a :class:`~bayescale.model.spec.ScalingModel`.

A plain function with the observations optional, so the same function serves
prior predictive checks (``log_loss=None``), fitting and ``Predictive``. The
arrays are arguments, so refits of same-shaped data reuse the compiled sampler; runs padding the
arrays to a shared size (``X["mask"]`` False) are masked out of the likelihood. So are the priors' parameter
values (``X["priors"]``): fits that differ only in them (a prior sensitivity study) reuse it too; the
distributions' families are the program's.
"""

from __future__ import annotations

import jax.numpy as jnp

from bayescale.model.likelihoods import NOISE

__all__ = ["scaling_program", "OBS", "NOISE", "MASK", "PRIORS", "bound_priors"]

#: Site name of the observed log losses.
OBS = "log_loss"
#: Key of the model argument marking real runs (``True``) and padding (``False``): ``ScalingModel.args``.
MASK = "mask"
#: Key of the model argument holding every prior's parameter values (``{name: {parameter: value}}``).
PRIORS = "priors"


def bound_priors(priors, values):
    """``priors`` with their parameters read from the program's arguments ``values`` (``X[PRIORS]``)."""
    return {k: p.bound(values[k]) for k, p in priors.items()}


def scaling_program(X, ref, log_loss=None, *, spec, n_groups: int | None = None):
    """``log(loss) ~ likelihood(law.log_loss(covariates) + shared errors, sigma)`` with the spec's priors,
    pooling and error model (:mod:`bayescale.model.error_models`).

    Parameters
    ----------
    X : dict
        Log covariates of each run, keyed by covariate name (``{"N": log N, "D": log D}``
        for Chinchilla; ``"C"``, ``"U"`` for laws that use them) and, for a grouped
        model, ``"group"`` (the group index of each run), and the error model's level
        indices and positions (:meth:`ErrorModel.args <bayescale.model.error_models.ErrorModel.args>`),
        ``"mask"``: ``False`` for runs that only pad the arrays to a shared compiled size, and ``"priors"``:
        the priors' parameter values (the spec's priors give only their distributions).
    ref : dict
        Reference scales for the centred parametrisation (``Law.reference``).
    log_loss : array, optional
        Observed log losses; ``None`` samples them (prior or posterior predictive).
    spec : ScalingModel
    n_groups : int, optional
        Number of groups of a grouped model.
    """
    import numpyro

    law, likelihood, priors = spec.law, spec.likelihood, bound_priors(spec.priors, X[PRIORS])
    sampled = spec.pooling.sample_params(law, priors, n_groups)
    for name, value in law.derived(sampled, ref).items():
        numpyro.deterministic(name, value)
    sigma = numpyro.sample(NOISE, priors[NOISE].to_numpyro())
    extra = likelihood.sample_extra(priors)
    mu = law.sampled_log_loss(spec.pooling.per_run(sampled, X), ref, *(X[c] for c in law.covariates))
    mu = mu + spec.error_model.sample(priors, X)
    with numpyro.plate("runs", jnp.shape(X[law.covariates[0]])[0]):
        # Padding runs (X[MASK] False: ScalingModel.args) add nothing to the log density.
        numpyro.sample(OBS, likelihood.dist(mu, sigma, **extra).mask(X[MASK]), obs=log_loss)
