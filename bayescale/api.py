"""The public API, in one place: what ``import bayescale as bs`` offers (``bs.fit``, ``bs.ScalingModel``, ...).

``bayescale/__init__.py`` re-exports this module and does the documented import-time
set-up; library code and the command line import from here or from the layer modules,
never from the package root.

``import bayescale`` imports JAX and little else: each name below is imported from its module on
first use (:func:`__getattr__`), so a script that fits imports NumPyro and the model, one that also
plots imports matplotlib, and none pays for the analyses or plots it does not use (ArviZ, pandas,
BlackJAX, optax and SciPy are imported where they are used).
"""

from __future__ import annotations

import importlib

from bayescale import errors
from bayescale._version import __version__
from bayescale.errors import (AtChanceWarning, CacheWarning, ConvergenceWarning, DataWarning, DeviceWarning,
                              ExtrapolationWarning, ParetoKWarning)

#: Name -> the module that defines it (imported on first use).
_LAZY = {
    # what is fitted
    "ScalingModel": "bayescale.model.spec", "Law": "bayescale.model.law", "LAWS": "bayescale.model.law_registry",
    "CHINCHILLA": "bayescale.model.chinchilla", "ChinchillaParams": "bayescale.model.chinchilla",
    "chinchilla_loss": "bayescale.model.chinchilla", "chinchilla_log_loss": "bayescale.model.chinchilla",
    "chinchilla_frontier": "bayescale.model.chinchilla", "custom_law": "bayescale.model.custom",
    "Likelihood": "bayescale.model.likelihoods", "StudentT": "bayescale.model.likelihoods",
    "Normal": "bayescale.model.likelihoods", "Huber": "bayescale.model.likelihoods",
    "Pooling": "bayescale.model.pooling", "CompletePooling": "bayescale.model.pooling",
    "PartialPooling": "bayescale.model.pooling", "NoPooling": "bayescale.model.pooling",
    "ErrorModel": "bayescale.model.error_models", "Independent": "bayescale.model.error_models",
    "Extrapolation": "bayescale.model.error_models", "Offsets": "bayescale.model.error_models",
    "RandomWalk": "bayescale.model.error_models", "LearnedExtrapolation": "bayescale.model.error_models",
    "DiscrepancyPrior": "bayescale.model.discrepancy", "Prior": "bayescale.model.priors",
    "default_priors": "bayescale.fitting.fit",
    # data
    "ScalingData": "bayescale.data",
    # downstream: loss -> benchmark accuracy
    "TaskData": "bayescale.task_data", "fit_downstream": "bayescale.fitting.downstream",
    "downstream_prior_predictive": "bayescale.fitting.downstream", "DownstreamFit": "bayescale.posterior.downstream",
    "Link": "bayescale.model.links", "LINKS": "bayescale.model.links", "custom_link": "bayescale.model.links",
    # fitting and sampling
    "fit": "bayescale.fitting.fit", "fit_many": "bayescale.fitting.batch", "bootstrap": "bayescale.fitting.batch",
    "fit_many_across_processes": "bayescale.fitting.distributed", "gather_draws": "bayescale.fitting.distributed",
    "prior_predictive": "bayescale.fitting.prior_predictive", "SamplerConfig": "bayescale.inference.config",
    "request_host_devices": "bayescale.inference.devices", "enable_compile_cache": "bayescale.inference.compile_cache",
    "compile_cache_dir": "bayescale.inference.compile_cache",
    # the posterior
    "ScalingFit": "bayescale.posterior.result", "Diagnostics": "bayescale.posterior.diagnostics",
    "load": "bayescale.posterior.io",
    # analyses
    "compute_for_loss": "bayescale.analyses.decisions", "isoflop": "bayescale.analyses.decisions",
    "prob_better": "bayescale.analyses.decisions", "inference_optimal": "bayescale.analyses.allocation",
    "plan": "bayescale.analyses.planning", "backtest": "bayescale.analyses.backtest",
    "Backtest": "bayescale.analyses.backtest", "crps_from_draws": "bayescale.analyses.backtest",
    "calibration": "bayescale.analyses.calibration", "Calibration": "bayescale.analyses.calibration",
    "compare": "bayescale.analyses.compare", "loo": "bayescale.analyses.compare",
    "compare_recipes": "bayescale.analyses.recipes", "recipe_crossover": "bayescale.analyses.recipes",
    # plots
    "plot_backtest": "bayescale.plots",
}
#: Modules offered as attributes (``bs.datasets``, ``bs.plots``, ...), imported on first use.
_MODULES = {"datasets": "bayescale.datasets", "laws": "bayescale.model.law_registry", "pooling": "bayescale.model.pooling",
            "batch": "bayescale.fitting.batch", "compile_cache": "bayescale.inference.compile_cache",
            "plots": "bayescale.plots"}

__all__ = [
    "__version__",
    # what is fitted
    "ScalingModel", "Law", "LAWS", "CHINCHILLA", "ChinchillaParams", "chinchilla_loss", "chinchilla_log_loss",
    "chinchilla_frontier", "custom_law", "Likelihood", "StudentT", "Normal", "Huber", "Pooling",
    "CompletePooling", "PartialPooling", "NoPooling", "ErrorModel", "Independent", "Extrapolation", "LearnedExtrapolation", "DiscrepancyPrior", "Offsets", "RandomWalk", "Prior", "default_priors", "laws", "pooling",
    # data
    "ScalingData", "datasets",
    # downstream: loss -> benchmark accuracy
    "TaskData", "fit_downstream", "downstream_prior_predictive", "DownstreamFit", "Link", "LINKS", "custom_link", "AtChanceWarning",
    # fitting and sampling
    "fit", "fit_many", "bootstrap", "fit_many_across_processes", "gather_draws", "prior_predictive", "SamplerConfig",
    "request_host_devices", "enable_compile_cache", "compile_cache_dir", "compile_cache", "batch",
    # the posterior
    "ScalingFit", "Diagnostics", "load",
    # analyses
    "compute_for_loss", "isoflop", "prob_better", "inference_optimal", "plan", "backtest", "Backtest",
    "crps_from_draws", "calibration", "Calibration", "compare", "loo", "compare_recipes", "recipe_crossover",
    # plots, errors
    "plots", "plot_backtest", "errors", "ConvergenceWarning", "ExtrapolationWarning", "DataWarning",
    "ParetoKWarning", "DeviceWarning", "CacheWarning",
]


def __getattr__(name: str):
    """Import a public name's module on first use (see module docs) and keep the name here."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
