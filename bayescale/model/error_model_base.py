"""The error model interface (:class:`ErrorModel`) and :class:`Independent`; the error models themselves
are in :mod:`bayescale.model.error_models`, which re-exports these."""

from __future__ import annotations

import abc
import dataclasses
from typing import ClassVar, Mapping

import numpy as np

from bayescale.errors import ConfigError
from bayescale.model.priors import Prior

#: Axes whose levels may share an error: compute, parameters, tokens.
AXES = ("C", "N", "D")


def _axis_values(axis: str, cov: Mapping[str, np.ndarray]) -> np.ndarray:
    if axis not in cov:
        raise ConfigError(f"this fit's error model shares errors by {axis!r}: give {axis} (or two of N, D, C) to predict")
    return np.asarray(cov[axis], dtype=np.float64)


def law_axes(covariates) -> tuple[str, ...]:
    """The axes a forecast of a law of ``covariates`` always has: N, D and C (= 6ND) for a law of N and D;
    a one-variable law's own variable (its forecasts give that alone)."""
    if {"N", "D"} <= set(covariates):
        return AXES
    return tuple(a for a in AXES if a in covariates)


def _check_axes(name: str, axes) -> tuple[str, ...]:
    axes = (axes,) if isinstance(axes, str) else tuple(axes)
    bad = [a for a in axes if a not in AXES]
    if bad or len(set(axes)) != len(axes):
        raise ConfigError(f"{name} must name distinct axes among {list(AXES)}, e.g. ('C', 'N'); got {axes!r}")
    return axes


class ErrorModel(abc.ABC):
    """Shared errors of runs beyond the likelihood's noise (abstract); see :mod:`bayescale.model.error_models`."""

    #: Registry name (``ScalingModel(error_model=name)``), saved with a fit.
    name: ClassVar[str]
    #: Whether NUTS may run whitened by the Laplace approximation at the mode (see ``Pooling.whiten``).
    whiten: ClassVar[bool] = True

    def priors(self) -> dict[str, Prior]:
        """Default priors of the error model's scale sites."""
        return {}

    @property
    def scale_sites(self) -> tuple[str, ...]:
        """Scale parameters in the posterior (their ESS and R-hat count towards convergence)."""
        return ()

    def for_law(self, law) -> "ErrorModel":
        """This error model as it applies to ``law`` (:class:`~bayescale.ScalingModel` asks once); itself by default."""
        return self

    def check(self, data) -> None:
        """Validate against the data (before any compilation)."""

    def args(self, data) -> dict:
        """Extra model arguments of ``data`` (level index per run, level positions)."""
        return {}

    def run_keys(self) -> tuple[str, ...]:
        """The keys of :meth:`args` that hold one value per run (padded with the data, ``ScalingModel.args``)."""
        return ()

    def batch_key(self, data) -> tuple:
        """What besides the length fixes the compiled program's shapes for ``data``."""
        return ()

    def sample(self, priors: Mapping[str, Prior], X: Mapping):
        """Inside a NumPyro model: the shared error of each run (0.0 for none)."""
        return 0.0

    def posterior_dims(self) -> dict[str, list[str]]:
        return {}

    def draws(self, fit, cov: Mapping[str, np.ndarray], seed: int) -> np.ndarray | float:
        """Posterior predictive draws ``(S, m)`` of the shared error at new runs ``cov`` (0.0 for none)."""
        return 0.0

    @property
    def program_key(self) -> "ErrorModel":
        """What of the error model the compiled program depends on (models of one key share a sampler)."""
        return self

    def to_dict(self) -> dict:
        return {"name": self.name, **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}}

    @classmethod
    def from_dict(cls, d: Mapping | None) -> "ErrorModel":
        """Inverse of :meth:`to_dict`; ``None`` (files from before error models) is :class:`Independent`."""
        if d is None:
            return Independent()
        d = dict(d)
        sub = _registered()[d.pop("name")]
        return sub(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    @property
    def label(self) -> str:
        return self.name


@dataclasses.dataclass(frozen=True)
class Independent(ErrorModel):
    """No shared errors: every run deviates from the law independently (the likelihood alone)."""

    name: ClassVar[str] = "independent"



def _registered() -> dict[str, type[ErrorModel]]:
    """Every concrete error model class by name (its subclasses, however deep)."""
    out, todo = {}, list(ErrorModel.__subclasses__())
    while todo:
        c = todo.pop()
        out.setdefault(c.name, c)
        todo.extend(c.__subclasses__())
    return out
