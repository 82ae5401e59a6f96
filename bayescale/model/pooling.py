"""How groups are used: complete, partial or no pooling, one class each.

``bs.fit(data, pooling=...)`` with a ``group`` column in the data:

- ``"complete"`` (:class:`CompletePooling`, default): groups are ignored (the ordinary fit).
- ``"partial"`` (:class:`PartialPooling`): a hierarchical model. Per sampled parameter of the law,
  pooled across groups (default: each group's value drawn around a population value, centred, on the
  parameter's unconstrained scale), shared (one value for every group) or independent; e.g.
  ``bs.PartialPooling(shared=("E",))``. See :mod:`bayescale.model.partial_pooling`.
- ``"none"`` (:class:`NoPooling`): every group has its own parameters with the law's priors.

The noise scale ``sigma`` (and a learned ``df``) is shared by all groups. A pooled
fit answers ``predict``, ``frontier`` and the decision tools per group
(``group="setup-a"``) and, for partial pooling, for a new group from the population
(``group="population"``). A pooling object owns its priors, its parametrisation, its
posterior layout, its sampler coordinates and the sampler setting it needs (:attr:`Pooling.whiten`).
"""

from __future__ import annotations

from typing import ClassVar, Mapping


from bayescale.errors import ConfigError
from bayescale.model.partial_pooling import PartialPooling
from bayescale.model.pooling_base import POPULATION, ROLES, Grouped, Pooling

__all__ = ["Pooling", "CompletePooling", "PartialPooling", "NoPooling", "POOLINGS", "POPULATION", "ROLES",
           "get_pooling"]


class CompletePooling(Pooling):
    """One set of law parameters for all runs; groups, if any, are ignored."""

    name: ClassVar[str] = "complete"

    def sample_params(self, law, priors, n_groups):
        import numpyro

        return {k: numpyro.sample(k, priors[k].to_numpyro()) for k in law.sampled_names}


class NoPooling(Grouped):
    """Every group has its own law parameters, each with the law's prior."""

    name: ClassVar[str] = "none"

    def sample_params(self, law, priors, n_groups):
        import numpyro

        with numpyro.plate("groups", n_groups):
            return {k: numpyro.sample(k, priors[k].to_numpyro()) for k in law.sampled_names}


#: Poolings by name.
POOLINGS: dict[str, type[Pooling]] = {c.name: c for c in (CompletePooling, PartialPooling, NoPooling)}


def get_pooling(pooling: str | Pooling | Mapping) -> Pooling:
    """A :class:`Pooling` from its name or its saved form (:meth:`Pooling.to_dict`), or passed through.

    Examples
    --------
    >>> from bayescale.model.pooling import get_pooling
    >>> get_pooling("partial")
    PartialPooling()
    >>> get_pooling({"name": "partial", "shared": ["E"]}).label
    'partial(shared E)'
    """
    if isinstance(pooling, Pooling):
        return pooling
    if isinstance(pooling, str) and pooling in POOLINGS:
        return POOLINGS[pooling]()
    if isinstance(pooling, Mapping) and pooling.get("name") in POOLINGS:
        options = {k: tuple(v) for k, v in pooling.items() if k != "name"}
        return POOLINGS[pooling["name"]](**options)
    raise ConfigError(f"pooling must be one of {list(POOLINGS)} or a bs.PartialPooling(...), got {pooling!r}")
