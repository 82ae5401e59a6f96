"""The public API, in one place: what ``import bayescale as bs`` offers (``bs.fit``, ``bs.ScalingModel``, ...).

``bayescale/__init__.py`` re-exports this module and does the documented import-time
set-up; library code and the command line import from here or from the layer modules,
never from the package root.
"""

from bayescale import datasets, errors
from bayescale._version import __version__
from bayescale.analyses.allocation import inference_optimal
from bayescale.analyses.backtest import Backtest, backtest, crps_from_draws
from bayescale.analyses.calibration import Calibration, calibration
from bayescale.analyses.compare import compare, loo
from bayescale.analyses.decisions import compute_for_loss, isoflop, prob_better
from bayescale.analyses.planning import plan
from bayescale.analyses.recipes import compare_recipes, recipe_crossover
from bayescale.data import ScalingData
from bayescale.errors import ConvergenceWarning, DataWarning, DeviceWarning, ExtrapolationWarning, ParetoKWarning
from bayescale.fitting import batch
from bayescale.fitting.batch import bootstrap, fit_many
from bayescale.fitting.distributed import fit_many_across_processes, gather_draws
from bayescale.fitting.fit import default_priors, fit
from bayescale.fitting.prior_predictive import prior_predictive
from bayescale.inference import compile_cache
from bayescale.inference.compile_cache import compile_cache_dir, enable_compile_cache
from bayescale.inference.config import SamplerConfig
from bayescale.inference.devices import request_host_devices
from bayescale.model import laws, pooling
from bayescale.model.chinchilla import CHINCHILLA, ChinchillaParams, chinchilla_frontier, chinchilla_log_loss
from bayescale.model.chinchilla import chinchilla_loss
from bayescale.model.custom import custom_law
from bayescale.model.error_models import ErrorModel, Extrapolation, Independent, Offsets, RandomWalk
from bayescale.model.law import Law
from bayescale.model.laws import LAWS
from bayescale.model.likelihoods import Huber, Likelihood, Normal, StudentT
from bayescale.model.pooling import CompletePooling, NoPooling, PartialPooling, Pooling
from bayescale.model.priors import Prior
from bayescale.model.spec import ScalingModel
from bayescale.plots import plot_backtest
from bayescale import plots
from bayescale.posterior.diagnostics import Diagnostics
from bayescale.posterior.io import load
from bayescale.posterior.result import ScalingFit

__all__ = [
    "__version__",
    # what is fitted
    "ScalingModel", "Law", "LAWS", "CHINCHILLA", "ChinchillaParams", "chinchilla_loss", "chinchilla_log_loss",
    "chinchilla_frontier", "custom_law", "Likelihood", "StudentT", "Normal", "Huber", "Pooling",
    "CompletePooling", "PartialPooling", "NoPooling", "ErrorModel", "Independent", "Extrapolation", "Offsets", "RandomWalk", "Prior", "default_priors", "laws", "pooling",
    # data
    "ScalingData", "datasets",
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
    "ParetoKWarning", "DeviceWarning",
]
