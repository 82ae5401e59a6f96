"""Prior predictive checks: what the priors say before seeing the losses."""

from __future__ import annotations

from typing import Mapping

import jax
import numpy as np
from numpyro.infer import Predictive

from bayescale.checks import check_seed
from bayescale.data import ScalingData
from bayescale.errors import ConfigError
from bayescale.fitting.settings import resolve, shared
from bayescale.model.law import Law
from bayescale.model.likelihoods import Likelihood
from bayescale.model.priors import Prior
from bayescale.model.program import OBS
from bayescale.model.spec import ScalingModel
from bayescale.posterior import idata as _idata

__all__ = ["prior_predictive"]


def prior_predictive(
    data: ScalingData,
    law: str | Law | None = None,
    *,
    model: ScalingModel | None = None,
    likelihood: str | Likelihood | None = None,
    priors: Mapping[str, Prior] | None = None,
    pooling: str | None = None,
    error_model=None,
    num_samples: int = 1000,
    seed: int = 0,
):
    """Draw parameters from the priors and losses at the data's (N, D) from the model.

    Uses NumPyro's ``Predictive`` on the same model ``bs.fit`` samples, with the same
    reference scales, so it shows exactly what the fit assumes a priori.

    Parameters
    ----------
    data : ScalingData
        The runs whose losses are drawn (their losses are not used).
    law, model, likelihood, priors, pooling, error_model
        The model, as in :func:`bayescale.fit` (:mod:`bayescale.fitting.settings`).
    num_samples : int
        Draws from the prior (default 1000, as a fit's draws per chain).
    seed : int

    Returns
    -------
    arviz.InferenceData
        Groups ``prior`` (the law's parameters, ``sigma`` and the centred ones),
        ``prior_predictive`` (``log_loss`` per run), ``observed_data``, ``constant_data``.

    Examples
    --------
    >>> import numpy as np, bayescale as bs
    >>> pp = bs.prior_predictive(bs.datasets.example(), num_samples=200, seed=0)
    >>> pp.prior_predictive["log_loss"].shape
    (1, 200, 180)
    >>> bool(np.median(pp.prior["alpha"]) < 0.4)
    True
    """
    if not isinstance(data, ScalingData):
        raise ConfigError(f"data must be a bayescale.ScalingData, got {type(data).__name__}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ConfigError(f"num_samples must be a positive integer, got {num_samples!r}")
    model = resolve(**shared(locals())).model
    model.check_data(data)
    args, labels = model.args(data, observed=False, pad=False)
    program = model.program(None if labels is None else len(labels))
    draws = Predictive(program, num_samples=int(num_samples))(jax.random.PRNGKey(check_seed(seed)), *args)
    draws = {k: np.asarray(v)[None] for k, v in draws.items()}
    return _idata.build_prior_idata(
        prior={k: v for k, v in draws.items() if k != OBS},
        prior_predictive={OBS: draws[OBS]},
        observed_data={OBS: np.log(data.loss)},
        constant_data={"N": data.N, "D": data.D},
    )
