"""What every pooling shares: the :class:`Pooling` interface and the machinery of per-group parameters.

A grouped pooling gives each sampled parameter of the law one of three roles:

- ``"pooled"``: one value per group, drawn around a population value (partial pooling);
- ``"shared"``: one value for every group (e.g. one irreducible loss ``E`` for recipes scored on one set);
- ``"independent"``: one value per group, each with the law's own prior (no pooling).

:class:`Grouped` turns the roles into the posterior's layout (which variables carry a ``group``
dimension), per-run parameters, per-group draws, and the sampler coordinates: the law's own
(:mod:`bayescale.model.coords`, e.g. Chinchilla's straightened ``E``-``A``-``B`` ridge) apply to per-group
arrays elementwise wherever every site they mix has the same layout.
"""

from __future__ import annotations

import abc
from typing import ClassVar, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from bayescale.errors import ConfigError, LawCapabilityError
from bayescale.model.law import Law
from bayescale.model.priors import Prior

__all__ = ["Pooling", "Grouped", "POPULATION", "POPULATION_STREAM", "ROLES"]

#: The ``group=`` label that asks a partially pooled fit about a new group drawn from the population.
POPULATION = "population"
#: Mixed with a call's ``seed`` for the draws of a new group (independent of the noise drawn with that seed).
POPULATION_STREAM = 7919
#: What a grouped pooling may do with each sampled parameter.
ROLES = ("pooled", "shared", "independent")


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
        """The coordinates NUTS moves in (:mod:`bayescale.model.coords`); ``None``: the model's own."""
        return law.sampler_coords

    def diagnostic_names(self, law: Law) -> list[str]:
        """Variables whose ESS / R-hat decide convergence."""
        return list(law.param_names)

    def natural_draws(self, fit, group, seed: int = 0) -> dict[str, np.ndarray]:
        """Natural law parameters, flattened draws, for ``group`` (``None`` unless grouped); ``seed``: of the
        draws of a new group (``group="population"``)."""
        if group is not None:
            raise ConfigError(f"group={group!r} given, but this fit has no groups (fit with pooling='partial')")
        return fit.draws(fit.law.param_names)

    def to_dict(self) -> dict:
        """What :func:`~bayescale.model.pooling.get_pooling` rebuilds this pooling from (saved with a fit)."""
        return {"name": self.name}

    @property
    def key(self) -> tuple:
        """What of this pooling the compiled program depends on."""
        return (self.name,)

    @property
    def label(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other) -> bool:
        # Equal to its name too, so ``fit.pooling == "partial"`` reads as it always did.
        if isinstance(other, str):
            return other == self.name
        return isinstance(other, Pooling) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)


class Grouped(Pooling):
    """Law parameters per group, indexed by ``X["group"]``; each sampled parameter has a role (:data:`ROLES`)."""

    grouped: ClassVar[bool] = True

    def roles(self, law: Law) -> dict[str, str]:
        """Each sampled parameter of ``law`` and its role (:data:`ROLES`)."""
        return {k: "independent" for k in law.sampled_names}

    def per_group_sites(self, law: Law) -> set[str]:
        """Sampled sites that hold one value per group (NumPyro sites, not deterministic ones)."""
        return {k for k, r in self.roles(law).items() if r != "shared"}

    def check(self, law, data) -> None:
        self.roles(law)  # names checked against the law
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
        """Each run's parameters: its group's values, picked for all per-group parameters at once (one
        gather of a ``(groups, parameters)`` array: measured on 1,536 runs, five gathers and their gradients
        took 240 us, one 150 us, a one-hot product 180-450 us, on a loaded 2-core machine)."""
        per_group = [k for k, v in sampled.items() if jnp.ndim(v) > 0]
        if not per_group:
            return dict(sampled)
        picked = jnp.stack([sampled[k] for k in per_group], axis=-1)[X["group"]]  # (runs, parameters)
        return {**sampled, **{k: picked[:, j] for j, k in enumerate(per_group)}}

    def grouped_names(self, law: Law) -> list[str]:
        """Law parameters (sampled and natural) that have one value per group: those a per-group parameter
        enters (learnt by evaluating the law's ``derived`` on shapes only)."""
        roles = self.roles(law)
        shapes = {k: jax.ShapeDtypeStruct(() if r == "shared" else (2,), jnp.float32) for k, r in roles.items()}
        ref = {f"log{c}0": 0.0 for c in law.covariates}
        derived = jax.eval_shape(lambda s: law.derived(s, ref), shapes)
        per_group = {k for k, r in roles.items() if r != "shared"} | {k for k, v in derived.items() if v.shape}
        return sorted(per_group)

    def posterior_dims(self, law):
        return {k: ["group"] for k in self.grouped_names(law)}

    def sampler_coords(self, law):
        """The law's coordinates (e.g. :func:`~bayescale.model.coords.share_coords`), applied to per-group
        arrays elementwise, where every site they mix is a sampled site of one layout (all per group or all
        shared); otherwise the model's own."""
        coords = law.sampler_coords
        sites = getattr(coords, "sites", ())
        if coords is None or not sites:
            return None
        roles = self.roles(law)
        layouts = {"shared" if roles.get(s) == "shared" else ("group" if s in self.per_group_sites(law) else None)
                   for s in sites}
        return coords if len(layouts) == 1 and None not in layouts else None

    def natural_draws(self, fit, group, seed: int = 0):
        labels = list(fit.group_labels)
        if group is None:
            raise ConfigError(
                f"this fit has groups {labels}: pass group=<label>"
                + (f" or group={POPULATION!r} for a new group" if self.has_population else "")
            )
        if str(group) in labels:
            i = labels.index(str(group))
            out = {}
            for k in fit.law.param_names:
                arr = fit.posterior_array(k)
                out[k] = (arr[..., i] if arr.ndim == 3 else arr).reshape(-1)
            return out
        if str(group) != POPULATION:
            raise ConfigError(f"unknown group {group!r}; this fit has {labels} (and {POPULATION!r} for a new group)")
        return self.population_draws(fit, seed)

    #: Whether ``group="population"`` (a new group) has an answer.
    has_population: ClassVar[bool] = False

    def population_draws(self, fit, seed: int = 0) -> dict[str, np.ndarray]:
        raise LawCapabilityError(
            f"a fit with pooling={self.name!r} has no population to draw a new group from; refit with "
            "pooling='partial'"
        )
