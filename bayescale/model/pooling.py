"""How groups are used: complete, partial or no pooling, one class each.

``bs.fit(data, pooling=...)`` with a ``group`` column in the data:

- ``"complete"`` (:class:`CompletePooling`, default): groups are ignored (the ordinary fit).
- ``"partial"`` (:class:`PartialPooling`): every sampled parameter of group ``g``
  is drawn around a population value on its unconstrained scale,
  ``T^-1(theta_g) = mu_theta + tau_theta * z_g`` with ``z_g ~ Normal(0, 1)`` (non-centred:
  samples well when groups are small or ``tau`` is near zero; the population spreads
  mix slowest, so use ``target_accept=0.99`` and 1000 draws per chain: README, "Hierarchical fits"). ``T`` is
  ``exp`` for a LogNormal prior (``mu`` then takes the prior's ``Normal(loc, scale)``
  on ``log theta``), the identity for a Normal one, and the support's bijection
  otherwise (``mu`` takes the prior pushed to the unconstrained scale). ``tau`` takes
  the law's spread prior (:meth:`~bayescale.model.law.Law.spread_prior`; for Chinchilla
  HalfNormal(0.2) for the exponents and ``E``, HalfNormal(1) for ``A_ref``, ``B_ref``).
- ``"none"`` (:class:`NoPooling`): every group has its own parameters with the law's priors.

The noise scale ``sigma`` (and a learned ``df``) is shared by all groups. A pooled
fit answers ``predict``, ``frontier`` and the decision tools per group
(``group="setup-a"``) and, for partial pooling, for a new group from the population
(``group="population"``). A pooling object owns its priors, its parametrisation, its
posterior layout and the sampler setting it needs (:attr:`Pooling.whiten`).
"""

from __future__ import annotations

import abc
import dataclasses
from typing import ClassVar, Mapping

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions.transforms import biject_to

from bayescale.errors import ConfigError, LawCapabilityError
from bayescale.model.law import Law
from bayescale.model.priors import Prior

__all__ = ["Pooling", "CompletePooling", "PartialPooling", "NoPooling", "POOLINGS", "POPULATION", "get_pooling"]

#: The ``group=`` label that asks a partially pooled fit about a new group drawn from the population.
POPULATION = "population"
#: Mixed with a call's ``seed`` for the draws of a new group (independent of the noise drawn with that seed).
POPULATION_STREAM = 7919


class Pooling(abc.ABC):
    """How a fit uses the data's groups (abstract)."""

    #: Registry name (``bs.fit(..., pooling=name)``), saved with a fit.
    name: ClassVar[str]
    #: Whether NUTS may run in coordinates whitened by the Laplace approximation at the mode
    #: (:class:`~bayescale.inference.config.SamplerConfig`); off where the mode is unrepresentative.
    whiten: ClassVar[bool] = True
    #: Whether the model indexes parameters by group.
    grouped: ClassVar[bool] = False

    def check(self, law: Law, data) -> None:
        """Validate against the law and the data (before any compilation)."""

    def priors(self, law: Law) -> dict[str, Prior]:
        """Extra default priors this pooling adds (population spreads)."""
        return {}

    def group_index(self, data) -> tuple[np.ndarray | None, tuple[str, ...] | None]:
        """Integer group index per row and the group labels, or ``(None, None)`` when groups are unused."""
        return None, None

    @abc.abstractmethod
    def sample_params(self, law: Law, priors: Mapping[str, Prior], n_groups: int | None) -> dict:
        """Inside a NumPyro model: sample the law's parameters (one value, or one per group)."""

    def per_run(self, sampled: Mapping, X: Mapping) -> Mapping:
        """The parameters of each run, from :meth:`sample_params` and the model arguments."""
        return sampled

    def posterior_dims(self, law: Law) -> dict[str, list[str]]:
        """Posterior variables with a ``group`` dimension."""
        return {}

    def sampler_coords(self, law: Law):
        """The coordinates NUTS moves in (:mod:`bayescale.model.coords`): the law's own for a
        single set of parameters; ``None`` (the model's) for parameters indexed by group."""
        return None if self.grouped else law.sampler_coords

    def diagnostic_names(self, law: Law) -> list[str]:
        """Variables whose ESS / R-hat decide convergence."""
        return list(law.param_names)

    def natural_draws(self, fit, group, seed: int = 0) -> dict[str, np.ndarray]:
        """Natural law parameters, flattened draws, for ``group`` (``None`` unless grouped); ``seed``: of the
        draws of a new group (``group="population"``)."""
        if group is not None:
            raise ConfigError(f"group={group!r} given, but this fit has no groups (fit with pooling='partial')")
        return fit.draws(fit.law.param_names)

    @property
    def label(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other) -> bool:
        # Equal to its name too, so ``fit.pooling == "partial"`` reads as it always did.
        return type(self) is type(other) or (isinstance(other, str) and other == self.name)

    def __hash__(self) -> int:
        return hash(self.name)


class CompletePooling(Pooling):
    """One set of law parameters for all runs; groups, if any, are ignored."""

    name: ClassVar[str] = "complete"

    def sample_params(self, law, priors, n_groups):
        return {k: numpyro.sample(k, priors[k].to_numpyro()) for k in law.sampled_names}


class _Grouped(Pooling):
    """Law parameters per group, indexed by ``X["group"]``."""

    grouped: ClassVar[bool] = True

    def check(self, law, data) -> None:
        if data is None:
            return
        if data.group is None:
            raise ConfigError(
                f"pooling={self.name!r} needs a group column: ScalingData.from_frame(df, ..., group='<column>')"
            )
        labels = data.groups
        if len(labels) < 2:
            raise ConfigError(f"pooling={self.name!r} needs at least two groups; the data have {len(labels)} ({labels!r})")
        if POPULATION in {str(g) for g in labels}:
            raise ConfigError(f"a group may not be called {POPULATION!r}: that label asks for a new group; rename it")

    def group_index(self, data):
        labels = tuple(str(g) for g in data.groups)
        lookup = {g: i for i, g in enumerate(labels)}
        return np.asarray([lookup[str(g)] for g in data.group], dtype=np.int32), labels

    def per_run(self, sampled, X):
        g = X["group"]
        return {k: v[g] for k, v in sampled.items()}

    def posterior_dims(self, law):
        return {k: ["group"] for k in sorted(set(law.sampled_names) | set(law.param_names))}

    def natural_draws(self, fit, group, seed: int = 0):
        labels = list(fit.group_labels)
        if group is None:
            raise ConfigError(
                f"this fit has groups {labels}: pass group=<label>"
                + (f" or group={POPULATION!r} for a new group" if isinstance(self, PartialPooling) else "")
            )
        if str(group) in labels:
            i = labels.index(str(group))
            return {k: fit.posterior_array(k)[..., i].reshape(-1) for k in fit.law.param_names}
        if str(group) != POPULATION:
            raise ConfigError(f"unknown group {group!r}; this fit has {labels} (and {POPULATION!r} for a new group)")
        return self.population_draws(fit, seed)

    def population_draws(self, fit, seed: int = 0) -> dict[str, np.ndarray]:
        raise LawCapabilityError(
            f"a fit with pooling={self.name!r} has no population to draw a new group from; refit with "
            "pooling='partial'"
        )


class NoPooling(_Grouped):
    """Every group has its own law parameters, each with the law's prior."""

    name: ClassVar[str] = "none"

    def sample_params(self, law, priors, n_groups):
        with numpyro.plate("groups", n_groups):
            return {k: numpyro.sample(k, priors[k].to_numpyro()) for k in law.sampled_names}


def _unconstrained(prior: Prior):
    """``(population distribution of mu, link)``: ``theta = link(mu + tau z)``, for NumPy or JAX arrays."""
    if prior.dist == "LogNormal":
        return dist.Normal(prior.params["loc"], prior.params["scale"]), "exp"
    if prior.dist == "Normal":
        return dist.Normal(prior.params["loc"], prior.params["scale"]), "identity"
    d = prior.to_numpyro()
    return dist.TransformedDistribution(d, biject_to(d.support).inv), biject_to(d.support)


def _apply_link(link, x, xp):
    if link == "exp":
        return xp.exp(x)
    if link == "identity":
        return x
    return np.asarray(link(jnp.asarray(x)), dtype=np.float64) if xp is np else link(x)


@dataclasses.dataclass(frozen=True, eq=False)
class PartialPooling(_Grouped):
    """Group parameters drawn from a population (non-centred on the unconstrained scale)."""

    name: ClassVar[str] = "partial"
    #: Whitened at the mode (the funnel's neck, group spreads near 0) the Laplace scales are far too
    #: small for the bulk (measured: 729 leapfrog steps per draw); adapt in the raw coordinates instead.
    whiten: ClassVar[bool] = False

    def priors(self, law):
        return {f"tau_{k}": law.spread_prior(k) for k in law.sampled_names}

    def sample_params(self, law, priors, n_groups):
        pop = {k: _unconstrained(priors[k]) for k in law.sampled_names}
        mu = {k: numpyro.sample(f"mu_{k}", pop[k][0]) for k in law.sampled_names}
        tau = {k: numpyro.sample(f"tau_{k}", priors[f"tau_{k}"].to_numpyro()) for k in law.sampled_names}
        out = {}
        with numpyro.plate("groups", n_groups):
            for k in law.sampled_names:
                z = numpyro.sample(f"z_{k}", dist.Normal(0.0, 1.0))
                out[k] = numpyro.deterministic(k, _apply_link(pop[k][1], mu[k] + tau[k] * z, jnp))
        return out

    def posterior_dims(self, law):
        return {**super().posterior_dims(law), **{f"z_{k}": ["group"] for k in law.sampled_names}}

    def diagnostic_names(self, law):
        return list(law.param_names) + [f"{p}_{k}" for p in ("mu", "tau") for k in law.sampled_names]

    def population_draws(self, fit, seed: int = 0):
        """One new group per posterior draw, drawn with ``seed``: the same seed, the same new group."""
        law = fit.law
        rng = np.random.default_rng([int(seed), POPULATION_STREAM])
        sampled = {}
        for k in law.sampled_names:
            mu = fit.posterior_array(f"mu_{k}").reshape(-1)
            tau = fit.posterior_array(f"tau_{k}").reshape(-1)
            sampled[k] = _apply_link(_unconstrained(fit.priors[k])[1], mu + tau * rng.standard_normal(mu.shape), np)
        ref = {k: float(v) for k, v in fit.ref.items()}
        natural = {k: np.asarray(v) for k, v in law.derived(sampled, ref).items()}
        return {k: np.asarray(natural.get(k, sampled.get(k)), dtype=np.float64) for k in law.param_names}


#: Poolings by name.
POOLINGS: dict[str, type[Pooling]] = {c.name: c for c in (CompletePooling, PartialPooling, NoPooling)}


def get_pooling(pooling: str | Pooling) -> Pooling:
    """A :class:`Pooling` from its name, or passed through.

    Examples
    --------
    >>> from bayescale.model.pooling import get_pooling
    >>> get_pooling("partial").whiten
    False
    """
    if isinstance(pooling, Pooling):
        return pooling
    if isinstance(pooling, str) and pooling in POOLINGS:
        return POOLINGS[pooling]()
    raise ConfigError(f"pooling must be one of {list(POOLINGS)}, got {pooling!r}")
