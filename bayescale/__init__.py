"""bayescale: Bayesian scaling laws with JIT-compiled NUTS and honest uncertainty.

>>> import bayescale as bs
>>> data = bs.datasets.example()
>>> fit = bs.fit(data, seed=0, num_warmup=500, num_samples=500)
>>> fit.frontier(C=1e21).shape[0]
1
"""

from __future__ import annotations

__version__ = "0.1.0"

from bayescale import _devices

_devices.request_host_devices()  # before anything starts JAX's backend
from bayescale import datasets, errors, hierarchical, laws  # noqa: E402
from bayescale.data import ScalingData
from bayescale.diagnostics import Diagnostics
from bayescale.errors import ConvergenceWarning, DataWarning, ExtrapolationWarning, ParetoKWarning
from bayescale.fit import default_priors, fit
from bayescale.frontier import chinchilla_frontier
from bayescale.laws import CHINCHILLA, LAWS, ChinchillaParams, Law, chinchilla_log_loss, chinchilla_loss
from bayescale.laws import custom_law
from bayescale.likelihoods import Likelihood
from bayescale.prior_predictive import prior_predictive
from bayescale.priors import Prior
from bayescale.result import ScalingFit, load
from bayescale.sampling import SamplerConfig
from bayescale.backtest import Backtest, backtest, crps_from_draws, plot_backtest
from bayescale.calibration import Calibration, calibration
from bayescale import compile_cache
from bayescale.compile_cache import compile_cache_dir, enable_compile_cache
from bayescale.batch import bootstrap, fit_many

compile_cache.DEFAULT_AT_IMPORT = compile_cache._enable_on_import()
from bayescale.compare import compare, loo

__all__ = [
    "__version__",
    "ScalingData",
    "fit",
    "load",
    "ScalingFit",
    "Diagnostics",
    "Prior",
    "Likelihood",
    "Law",
    "LAWS",
    "CHINCHILLA",
    "ChinchillaParams",
    "chinchilla_loss",
    "chinchilla_log_loss",
    "chinchilla_frontier",
    "default_priors",
    "prior_predictive",
    "SamplerConfig",
    "datasets",
    "errors",
    "ConvergenceWarning",
    "ExtrapolationWarning",
    "DataWarning",
    "backtest",
    "Backtest",
    "plot_backtest",
    "crps_from_draws",
    "calibration",
    "Calibration",
    "fit_many",
    "bootstrap",
    "enable_compile_cache",
    "compile_cache_dir",
    "compile_cache",
    "compare",
    "loo",
    "ParetoKWarning",
    "custom_law",
    "laws",
    "hierarchical",
]

# Decisions, planning and plots (issue 6).
from bayescale.decisions import compute_for_loss, inference_optimal, isoflop, prob_better

__all__ += ["compute_for_loss", "isoflop", "prob_better", "inference_optimal"]
from bayescale import plots
from bayescale.planning import plan

__all__ += ["plan", "plots"]
