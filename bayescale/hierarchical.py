"""Hierarchical fits of the Chinchilla law: several groups (training setups, datasets, model families) in one model.

``bs.fit(data, pooling=...)`` with a ``group`` column in the data:

- ``"partial"``: every sampled parameter of group ``g`` is log-normal around a
  population value, ``log theta_g = mu_theta + tau_theta * z_g`` with
  ``z_g ~ Normal(0, 1)`` (non-centred: samples well when groups are small or
  ``tau`` is near zero; the population spreads mix slowest, so use
  ``target_accept=0.95`` and 1000 draws per chain). ``mu_theta`` takes the law's default prior on
  ``log theta``; ``tau`` is half-normal, tight for the exponents and ``E``
  (HalfNormal(0.2): setups rarely differ by more than ~20% in an exponent) and
  loose for ``A_ref`` and ``B_ref`` (HalfNormal(1)): the exponents and ``E`` are
  pooled, while ``A`` and ``B`` are in effect per group.
- ``"none"``: every group has its own parameters with the law's default priors.
- ``"complete"``: groups are ignored (the ordinary fit).

The noise scale ``sigma`` (and a learned ``df``) is shared by all groups.
A hierarchical fit answers ``predict`` and ``frontier`` per group
(``group="setup-a"``) and, for partial pooling, for a new group from the
population (``group="population"``).
"""

from __future__ import annotations

import functools
from typing import Mapping

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from bayescale.errors import ConfigError, LawCapabilityError, PriorError
from bayescale.laws import CHINCHILLA, Law
from bayescale.likelihoods import DF, Likelihood
from bayescale.priors import Prior

__all__ = ["POOLINGS", "POPULATION", "hierarchical_priors", "hierarchical_model", "make_hierarchical_model"]

POOLINGS = ("complete", "partial", "none")
#: The ``group=`` label that asks a partially pooled fit about a new group drawn from the population.
POPULATION = "population"

#: Population spread (sd of log theta across groups) per sampled parameter.
_TAU_PRIORS = {
    "E": Prior("HalfNormal", scale=0.2),
    "alpha": Prior("HalfNormal", scale=0.2),
    "beta": Prior("HalfNormal", scale=0.2),
    "A_ref": Prior("HalfNormal", scale=1.0),
    "B_ref": Prior("HalfNormal", scale=1.0),
}


#: Parameters sampled centred (log theta_g ~ Normal(mu, tau)); the others non-centred. Empty:
#: on 6 simulated groups (5 x 30 runs, 1 x 8) a centred A_ref/B_ref gave a few divergences
#: (a funnel at small tau for the small group) where the all-non-centred form gave none.
_CENTRED: tuple[str, ...] = ()


def check_pooling(pooling, law: Law, data) -> str:
    """Validate ``pooling`` against the law and the data (before any compilation)."""
    if pooling not in POOLINGS:
        raise ConfigError(f"pooling must be one of {list(POOLINGS)}, got {pooling!r}")
    if pooling == "complete":
        return pooling
    if law is not CHINCHILLA:
        raise LawCapabilityError(
            f"pooling={pooling!r} is implemented for the 'chinchilla' law only, not {law.name!r}; "
            "fit each group separately (data.subset(data.group == g)) or use pooling='complete'"
        )
    if data.group is None:
        raise ConfigError(
            f"pooling={pooling!r} needs a group column: ScalingData.from_frame(df, ..., group='<column>')"
        )
    labels = data.groups
    if len(labels) < 2:
        raise ConfigError(f"pooling={pooling!r} needs at least two groups; the data have {len(labels)} ({labels!r})")
    if POPULATION in {str(g) for g in labels}:
        raise ConfigError(f"a group may not be called {POPULATION!r}: that label asks for a new group; rename it")
    return pooling


def hierarchical_priors(law: Law, pooling: str) -> dict[str, Prior]:
    """Extra priors of a pooled fit: ``tau_<param>`` (population spread) for partial pooling.

    Examples
    --------
    >>> from bayescale.hierarchical import hierarchical_priors
    >>> from bayescale.laws import CHINCHILLA
    >>> hierarchical_priors(CHINCHILLA, "partial")["tau_alpha"]
    Prior('HalfNormal', scale=0.2)
    """
    if pooling != "partial":
        return {}
    return {f"tau_{k}": _TAU_PRIORS[k] for k in law.sampled_names}


def _check_lognormal(priors: Mapping[str, Prior], law: Law) -> None:
    for k in law.sampled_names:
        if priors[k].dist != "LogNormal":
            raise PriorError(
                f"partial pooling draws log {k} from Normal(mu, tau) with mu from the prior on {k}, which must "
                f"be LogNormal(loc, scale); got {priors[k]!r}"
            )


def group_index(data) -> tuple[np.ndarray, tuple[str, ...]]:
    """Integer group index per row and the labels (as strings) in order of first appearance."""
    labels = tuple(str(g) for g in data.groups)
    lookup = {g: i for i, g in enumerate(labels)}
    return np.asarray([lookup[str(g)] for g in data.group], dtype=np.int32), labels


def hierarchical_model(X, ref, log_loss=None, *, law: Law, priors, likelihood: Likelihood, n_groups: int, pooling: str):
    """NumPyro model of a pooled fit: per-group law parameters indexed by ``X["group"]``."""
    g = X["group"]
    per_group = {}
    if pooling == "partial":
        mu = {k: numpyro.sample(f"mu_{k}", dist.Normal(priors[k].params["loc"], priors[k].params["scale"]))
              for k in law.sampled_names}
        tau = {k: numpyro.sample(f"tau_{k}", priors[f"tau_{k}"].to_numpyro()) for k in law.sampled_names}
    with numpyro.plate("groups", n_groups):
        for k in law.sampled_names:
            if pooling == "partial" and k in _CENTRED:
                # Loosely pooled and well informed by each group's runs: centred samples better.
                log_k = numpyro.sample(f"log_{k}", dist.Normal(mu[k], tau[k]))
                per_group[k] = numpyro.deterministic(k, jnp.exp(log_k))
            elif pooling == "partial":
                z = numpyro.sample(f"z_{k}", dist.Normal(0.0, 1.0))
                per_group[k] = numpyro.deterministic(k, jnp.exp(mu[k] + tau[k] * z))
            else:
                per_group[k] = numpyro.sample(k, priors[k].to_numpyro())
    for name, value in law.derived(per_group, ref).items():
        numpyro.deterministic(name, value)
    sigma = numpyro.sample("sigma", priors["sigma"].to_numpyro())
    df = numpyro.sample(DF, priors[DF].to_numpyro()) if likelihood.learns_df else None
    mu = law.sampled_log_loss({k: v[g] for k, v in per_group.items()}, ref, *(X[c] for c in law.covariates))
    with numpyro.plate("runs", jnp.shape(g)[0]):
        numpyro.sample("log_loss", likelihood.dist(mu, sigma, df=df), obs=log_loss)


def make_hierarchical_model(law: Law, priors: Mapping[str, Prior], likelihood: Likelihood, n_groups: int, pooling: str):
    """Bind the configuration of a pooled fit, leaving ``(X, ref, log_loss)`` as arguments."""
    if pooling == "partial":
        _check_lognormal(priors, law)
    return functools.partial(
        hierarchical_model, law=law, priors=dict(priors), likelihood=likelihood, n_groups=int(n_groups), pooling=pooling
    )


def posterior_dims(law: Law, pooling: str) -> dict[str, list[str]]:
    """Posterior variables with a ``group`` dimension in a pooled fit."""
    if pooling == "complete":
        return {}
    names = set(law.sampled_names) | set(law.param_names)
    if pooling == "partial":
        names |= {f"z_{k}" for k in law.sampled_names if k not in _CENTRED}
        names |= {f"log_{k}" for k in _CENTRED}
    return {k: ["group"] for k in sorted(names)}


def diagnostic_names(law: Law, pooling: str) -> list[str]:
    """Variables whose ESS / R-hat decide convergence: law parameters, and population parameters."""
    names = list(law.param_names)
    if pooling == "partial":
        names += [f"{p}_{k}" for p in ("mu", "tau") for k in law.sampled_names]
    return names


def group_natural_draws(fit, group) -> dict[str, np.ndarray]:
    """Natural law parameters for one group (flattened draws) or for a new group from the population."""
    law = fit.law
    labels = list(fit.group_labels)
    post = fit.idata.posterior
    if group is None:
        raise ConfigError(
            f"this fit has groups {labels}: pass group=<label>"
            + (f" or group={POPULATION!r} for a new group" if fit.pooling == "partial" else "")
        )
    if str(group) in labels:
        i = labels.index(str(group))
        return {k: np.asarray(post[k])[..., i].reshape(-1) for k in law.param_names}
    if str(group) != POPULATION:
        raise ConfigError(f"unknown group {group!r}; this fit has {labels} (and {POPULATION!r} for a new group)")
    if fit.pooling != "partial":
        raise LawCapabilityError(
            f"a fit with pooling={fit.pooling!r} has no population to draw a new group from; refit with "
            "pooling='partial'"
        )
    mu = {k: np.asarray(post[f"mu_{k}"]).reshape(-1) for k in law.sampled_names}
    tau = {k: np.asarray(post[f"tau_{k}"]).reshape(-1) for k in law.sampled_names}
    rng = np.random.default_rng(fit.seed + 7919)
    sampled = {k: np.exp(mu[k] + tau[k] * rng.standard_normal(mu[k].shape)) for k in law.sampled_names}
    ref = {k: float(v) for k, v in fit.ref.items()}
    natural = {k: np.asarray(v) for k, v in law.derived(sampled, ref).items()}
    return {k: np.asarray(natural.get(k, sampled.get(k)), dtype=np.float64) for k in law.param_names}
