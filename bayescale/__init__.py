"""bayescale: Bayesian scaling laws with JIT-compiled NUTS and honest uncertainty.

>>> import bayescale as bs
>>> data = bs.datasets.example()
>>> fit = bs.fit(data, seed=0, num_warmup=500, num_samples=500)
>>> fit.frontier(C=1e21).shape[0]
1
"""

from __future__ import annotations

__version__ = "0.1.0"

from bayescale import datasets, errors, hierarchical, laws
from bayescale.data import ScalingData
from bayescale.diagnostics import Diagnostics
from bayescale.errors import ConvergenceWarning, DataWarning, ExtrapolationWarning, ParetoKWarning
from bayescale.fit import default_priors, fit
from bayescale.frontier import chinchilla_frontier
from bayescale.laws import CHINCHILLA, LAWS, ChinchillaParams, Law, chinchilla_log_loss, chinchilla_loss
from bayescale.laws import custom_law
from bayescale.likelihoods import Likelihood
from bayescale.priors import Prior
from bayescale.result import ScalingFit, load
from bayescale.sampling import SamplerConfig
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
    "SamplerConfig",
    "datasets",
    "errors",
    "ConvergenceWarning",
    "ExtrapolationWarning",
    "DataWarning",
    "compare",
    "loo",
    "ParetoKWarning",
    "custom_law",
    "laws",
    "hierarchical",
]
