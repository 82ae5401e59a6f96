"""Priors as plain values: readable, printable, overridable and saved with a fit.

A :class:`Prior` names a :mod:`numpyro.distributions` class and its keyword
arguments. Priors are merged with a law's defaults with ``|`` semantics: what the
user gives wins, per parameter.
"""

from __future__ import annotations

import inspect
import json
import math
from typing import Any, Mapping

import numpy as np

from bayescale.errors import PriorError

__all__ = ["Prior", "BoundPrior", "merge_priors", "priors_to_json", "priors_from_json"]

#: Every prior bayescale has made for itself (:meth:`Prior._builtin`), for the tests to check.
BUILTIN: dict = {}


def _distributions():
    """:mod:`numpyro.distributions`, imported on first use (not by a fit whose programs are loaded from disk)."""
    import numpyro.distributions

    return numpyro.distributions


class Prior:
    """A prior distribution given by name and parameters.

    Parameters
    ----------
    dist : str
        Name of a distribution in :mod:`numpyro.distributions` (``"LogNormal"``,
        ``"HalfNormal"``, ``"Normal"``, ``"Gamma"``, ``"TruncatedNormal"``, ...).
    **params : float
        Its keyword arguments.

    Examples
    --------
    >>> from bayescale import Prior
    >>> p = Prior("LogNormal", loc=-1.2, scale=0.5)
    >>> p
    Prior('LogNormal', loc=-1.2, scale=0.5)
    >>> round(float(p.to_numpyro().mean), 3)
    0.341
    """

    __slots__ = ("dist", "params")

    def __init__(self, dist: str, /, **params: float) -> None:
        _dist = _distributions()
        factory = getattr(_dist, dist, None) if isinstance(dist, str) and not dist.startswith("_") else None
        if not callable(factory) or (isinstance(factory, type) and not issubclass(factory, _dist.Distribution)):
            raise PriorError(
                f"unknown distribution {dist!r}: give the name of a numpyro.distributions class, "
                "e.g. Prior('LogNormal', loc=0.0, scale=1.0)"
            )
        clean = {}
        for key, value in params.items():
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise PriorError(f"{dist} parameter {key}={value!r} is not a number") from None
            if not math.isfinite(value):
                raise PriorError(f"{dist} parameter {key}={value!r} must be finite")
            clean[key] = value
        object.__setattr__(self, "dist", dist)
        object.__setattr__(self, "params", clean)
        try:
            if not self._valid_by_constraints(factory):
                self.to_numpyro()
        except (TypeError, ValueError) as err:
            raise PriorError(f"invalid prior {self!r}: {err}") from None

    def _valid_by_constraints(self, factory) -> bool:
        """Whether the parameters fit the distribution's signature and each satisfies its constraint
        (``arg_constraints``), checked in NumPy; ``False`` when a parameter has no constraint NumPy can evaluate
        (the caller then builds the distribution, which validates it). Building runs JAX operations: a Beta's
        compiles a program (0.2 s in a fresh process, paid at import for a law's built-in Beta prior).

        Raises ``TypeError`` for an unknown or missing argument, ``ValueError`` for a value outside its constraint.
        """
        inspect.signature(factory).bind(**self.params)
        constraints = getattr(factory, "arg_constraints", None) or {}
        if not isinstance(factory, type) or set(self.params) - set(constraints):
            return False
        try:
            valid = {k: bool(np.all(constraints[k](np.asarray(v)))) for k, v in self.params.items()}
        except Exception:  # noqa: BLE001 - a constraint NumPy cannot evaluate (e.g. dependent): build instead
            return False
        for k, ok in valid.items():
            if not ok:
                raise ValueError(f"{self.dist} got invalid {k} parameter {self.params[k]:g} "
                                 f"(it must satisfy {constraints[k]})")
        return True

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Prior is immutable; build a new one")

    @classmethod
    def _builtin(cls, dist: str, /, **params: float) -> "Prior":
        """A prior bayescale itself defines, not checked when made: checking imports NumPyro (0.4 s), which a
        process that only loads compiled programs never needs. Each is kept in :data:`BUILTIN`, and
        tests/test_model_spec.py checks them all as :class:`Prior` checks a user's."""
        prior = object.__new__(cls)
        object.__setattr__(prior, "dist", dist)
        object.__setattr__(prior, "params", {k: float(v) for k, v in params.items()})
        return BUILTIN.setdefault((dist, tuple(sorted(prior.params.items()))), prior)

    def to_numpyro(self) -> "numpyro.distributions.Distribution":  # noqa: F821
        """The :mod:`numpyro.distributions` object (arguments validated)."""
        _dist = _distributions()
        out = getattr(_dist, self.dist)(**self.params, validate_args=True)
        if not isinstance(out, _dist.Distribution):
            raise TypeError(f"{self.dist} did not build a distribution")
        return out

    def bound(self, params: Mapping[str, Any]) -> "BoundPrior":
        """This distribution with the parameter values ``params`` (arrays, traced inside a compiled program)."""
        return BoundPrior(self.dist, params)

    @property
    def positive(self) -> bool:
        """Whether the distribution's support lies in [0, inf) (a positive parameter can take it)."""
        lower = getattr(self.to_numpyro().support, "lower_bound", None)
        try:
            return lower is not None and float(lower) >= 0.0
        except TypeError:
            return False

    def to_dict(self) -> dict[str, Any]:
        return {"dist": self.dist, **self.params}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Prior":
        d = dict(d)
        return cls(d.pop("dist"), **d)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Prior) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.dist, tuple(sorted(self.params.items()))))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"Prior({self.dist!r}{', ' if args else ''}{args})"


class BoundPrior:
    """A prior's distribution whose parameters are a compiled program's arguments
    (:data:`bayescale.model.program.PRIORS`): fits that differ only in prior values share one program. Built
    inside the program (:meth:`Prior.bound`), never by users; the values were checked when the :class:`Prior`
    was made."""

    __slots__ = ("dist", "params")

    def __init__(self, dist: str, params: Mapping[str, Any]) -> None:
        self.dist, self.params = dist, dict(params)

    def to_numpyro(self) -> "numpyro.distributions.Distribution":  # noqa: F821
        return getattr(_distributions(), self.dist)(**self.params)


def merge_priors(
    defaults: Mapping[str, Prior],
    overrides: Mapping[str, Prior] | None,
    *,
    positive: frozenset[str] = frozenset(),
) -> dict[str, Prior]:
    """Defaults ``|`` overrides, checking names and supports.

    Raises :class:`~bayescale.errors.PriorError` for a name that is not a parameter
    and for a prior whose support allows values a positive parameter cannot take.
    """
    merged = dict(defaults)
    for name, prior in (overrides or {}).items():
        if name not in defaults:
            raise PriorError(
                f"no parameter {name!r} to put a prior on; the priors are on {sorted(defaults)}"
            )
        if isinstance(prior, Mapping):
            prior = Prior.from_dict(prior)
        if not isinstance(prior, Prior):
            raise PriorError(
                f"prior for {name!r} must be a bayescale.Prior, e.g. Prior('LogNormal', loc=0, scale=1); "
                f"got {prior!r}"
            )
        if name in positive and not prior.positive:
            raise PriorError(
                f"{name} must be positive but {prior!r} has support {prior.to_numpyro().support}; "
                "use a positive distribution (LogNormal, HalfNormal, Gamma, ...)"
            )
        merged[name] = prior
    return merged


def priors_to_json(priors: Mapping[str, Prior]) -> str:
    return json.dumps({k: p.to_dict() for k, p in priors.items()})


def priors_from_json(text: str) -> dict[str, Prior]:
    return {k: Prior.from_dict(v) for k, v in json.loads(text).items()}
