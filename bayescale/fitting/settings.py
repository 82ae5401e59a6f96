"""One argument surface: the model keywords and sampler settings every entry point that fits takes.

:func:`bayescale.fit`, :func:`~bayescale.fit_many`, :func:`~bayescale.bootstrap`, :func:`~bayescale.backtest`
and :func:`~bayescale.calibration` take the same keywords, with the same names and defaults, and resolve
them here, in one place (:func:`resolve`): the model keywords of :data:`MODEL_KEYWORDS` (or ``model=``)
build one :class:`~bayescale.ScalingModel`; the settings of :data:`SAMPLER_SETTINGS` one
:class:`~bayescale.SamplerConfig` plus the extension and refit rules. :func:`~bayescale.prior_predictive`
takes the model keywords (and ``num_samples``, ``seed``); the command line's flags are built from the same
tables (``bayescale.cli``). ``tests/test_argument_surface.py`` walks every signature and the parser against
them, so they cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Mapping

from bayescale.errors import ConfigError
from bayescale.inference.config import SamplerConfig
from bayescale.model.spec import ScalingModel, resolve_model

__all__ = ["MODEL_KEYWORDS", "SAMPLER_SETTINGS", "REFIT_DIVERGENT", "Settings", "resolve", "shared",
           "check_until_converged", "check_refit_divergent"]

#: ``target_accept`` values a fit with divergences is refitted at, in turn (``refit_divergent``).
#: Measured on 100 prior-drawn calibration fits (seed 0, 4 x (1000 + 1000)): 29 failed at 0.9 (27 with
#: divergences); refitted, 11 passed every check at 0.95 and 17 more at 0.99, 1 still diverged.
REFIT_DIVERGENT = (0.95, 0.99)

#: The model keywords (all default ``None``: the defaults of :class:`~bayescale.ScalingModel`); ``model=``
#: gives the whole model instead of the other five.
MODEL_KEYWORDS = ("law", "model", "likelihood", "priors", "pooling", "error_model")

#: Every sampler setting and its default, the same in every entry point that fits.
SAMPLER_SETTINGS = {
    "num_chains": 4,
    "num_warmup": 1000,
    "num_samples": 1000,
    "target_accept": 0.9,
    "max_tree_depth": 10,
    "dense_mass": True,
    "chain_method": "auto",
    "progress_bar": None,
    "until_converged": 3,
    "refit_divergent": REFIT_DIVERGENT,
}

#: The settings :class:`~bayescale.SamplerConfig` holds (the others are rules around the sampler).
_CONFIG_FIELDS = ("num_chains", "num_warmup", "num_samples", "target_accept", "max_tree_depth", "dense_mass",
                  "chain_method", "progress_bar")


@dataclasses.dataclass(frozen=True)
class Settings:
    """A call's model and sampler settings, resolved and validated (before anything compiles).

    Attributes
    ----------
    model : ScalingModel
    config : SamplerConfig
        NUTS's settings, with what the model needs (``whiten``).
    until_converged : int
        Extensions of a fit failing only R-hat or ESS.
    refit_divergent : tuple of float
        The ``target_accept`` values a divergent fit is refitted at.
    """

    model: ScalingModel
    config: SamplerConfig
    until_converged: int
    refit_divergent: tuple[float, ...]


def resolve(law=None, *, model: ScalingModel | None = None, likelihood=None, priors=None, pooling=None,
            error_model=None, data=None, **sampler) -> Settings:
    """The :class:`Settings` of a call: the model from its keywords, the sampler settings over the defaults.

    Examples
    --------
    >>> from bayescale.fitting.settings import resolve
    >>> s = resolve("kaplan", num_warmup=500)
    >>> s.model.law.name, s.config.num_warmup, s.config.target_accept, s.refit_divergent
    ('kaplan', 500, 0.9, (0.95, 0.99))
    """
    unknown = sorted(set(sampler) - set(SAMPLER_SETTINGS))
    if unknown:
        raise ConfigError(f"unknown sampler setting(s) {unknown}; the settings are {list(SAMPLER_SETTINGS)}")
    values = {**SAMPLER_SETTINGS, **sampler}
    model = resolve_model(law, model=model, likelihood=likelihood, priors=priors, pooling=pooling,
                          error_model=error_model, data=data)
    config = SamplerConfig(**{k: values[k] for k in _CONFIG_FIELDS}, whiten=model.whiten)
    return Settings(model=model, config=config, until_converged=check_until_converged(values["until_converged"]),
                    refit_divergent=check_refit_divergent(values["refit_divergent"]))


def shared(arguments: Mapping) -> dict:
    """The model keywords and sampler settings among a call's ``arguments`` (its ``locals()``), for :func:`resolve`."""
    return {k: arguments[k] for k in (*MODEL_KEYWORDS, *SAMPLER_SETTINGS) if k in arguments}


def check_until_converged(until_converged) -> int:
    """A non-negative integer number of extensions, or a :class:`~bayescale.errors.ConfigError`."""
    if isinstance(until_converged, bool) or not isinstance(until_converged, numbers.Integral) or until_converged < 0:
        raise ConfigError(f"until_converged must be a non-negative integer (0: never extend), got {until_converged!r}")
    return int(until_converged)


def check_refit_divergent(values) -> tuple[float, ...]:
    """The ``refit_divergent`` ladder as floats, each in (0, 1) and increasing, or a ConfigError."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ConfigError(f"refit_divergent must be a sequence of target_accept values, e.g. (0.95, 0.99) or () "
                          f"to never refit; got {values!r}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0.0 < float(v) < 1.0:
            raise ConfigError(f"refit_divergent values are target_accept values in (0, 1), e.g. (0.95, 0.99); got {v!r}")
        out.append(float(v))
    if any(b <= a for a, b in zip(out, out[1:])):
        raise ConfigError(f"refit_divergent must increase (each refit takes smaller steps), got {tuple(out)}")
    return tuple(out)
