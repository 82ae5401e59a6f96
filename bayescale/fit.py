"""``bayescale.fit``: the one entry point from data to posterior."""

from __future__ import annotations

import numbers
from typing import Mapping

import jax
import numpy as np

from bayescale import _idata
from bayescale import _progress
from bayescale.data import ScalingData
from bayescale.errors import ConfigError
from bayescale.laws import Law, get_law
from bayescale.likelihoods import DEFAULT_SIGMA_PRIOR, Likelihood, get_likelihood
from bayescale.model import NOISE, OBS, make_model, model_args
from bayescale.priors import Prior, merge_priors
from bayescale.result import ScalingFit, _diagnostics_of
from bayescale.sampling import SamplerConfig, get_runner

__all__ = ["fit", "default_priors"]


def default_priors(law: str | Law = "chinchilla") -> dict[str, Prior]:
    """The default priors of a law, plus the noise scale ``sigma``.

    Examples
    --------
    >>> import bayescale as bs
    >>> bs.default_priors("chinchilla")["alpha"]
    Prior('LogNormal', loc=-1.2, scale=0.75)
    """
    law = get_law(law)
    return {**law.default_priors, NOISE: DEFAULT_SIGMA_PRIOR}


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def fit(
    data: ScalingData,
    law: str | Law = "chinchilla",
    *,
    likelihood: str | Likelihood = "student_t",
    priors: Mapping[str, Prior] | None = None,
    seed: int = 0,
    num_chains: int = 4,
    num_warmup: int = 1000,
    num_samples: int = 1000,
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
    dense_mass: bool = True,
    progress_bar: bool | None = None,
    warn: bool = True,
) -> ScalingFit:
    """Fit a scaling law with NUTS and return its posterior.

    Parameters
    ----------
    data : ScalingData
        The training runs (see :class:`~bayescale.ScalingData`).
    law : str or Law
        ``"chinchilla"`` (default): ``L = E + A/N**alpha + B/D**beta``.
    likelihood : str or Likelihood
        Noise model on log loss: ``"student_t"`` (robust, default) or ``"normal"``.
    priors : mapping, optional
        Per-parameter overrides of :func:`default_priors`, e.g.
        ``{"alpha": bs.Prior("LogNormal", loc=-1.0, scale=0.3)}``.
    seed : int
        Same seed, same data, same machine: identical draws.
    num_chains, num_warmup, num_samples, target_accept, max_tree_depth, dense_mass, progress_bar
        NUTS settings (:class:`~bayescale.sampling.SamplerConfig`).
    warn : bool
        Emit a :class:`~bayescale.errors.ConvergenceWarning` when a check fails
        (the diagnostics are on the result either way).

    Returns
    -------
    ScalingFit

    Examples
    --------
    >>> import bayescale as bs
    >>> fit = bs.fit(bs.datasets.example(), seed=0, num_warmup=500, num_samples=500)
    >>> sorted(fit.idata.groups())[:3]
    ['constant_data', 'log_likelihood', 'observed_data']
    >>> 0.3 < float(fit.idata.posterior["alpha"].median()) < 0.4
    True
    """
    if not isinstance(data, ScalingData):
        raise ConfigError(
            f"data must be a bayescale.ScalingData, got {type(data).__name__}; build one with "
            "ScalingData.from_frame(df, N=..., D=..., loss=...) or ScalingData.from_arrays(...)"
        )
    law = get_law(law)
    likelihood = get_likelihood(likelihood)
    seed = _check_seed(seed)
    all_priors = merge_priors(default_priors(law), priors, positive=law.positive | {NOISE})
    config = SamplerConfig(
        num_chains=num_chains,
        num_warmup=num_warmup,
        num_samples=num_samples,
        target_accept=target_accept,
        max_tree_depth=max_tree_depth,
        dense_mass=dense_mass,
        progress_bar=progress_bar,
    )
    data.require(n_params=law.n_params, covariates=law.covariates)

    ref = law.reference(data.N, data.D)
    model = make_model(law, all_priors, likelihood)
    args = model_args(law, data.N, data.D, data.loss, ref)
    cache_key = (law.name, id(law), tuple(sorted((k, hash(v)) for k, v in all_priors.items())), likelihood)
    runner, _ = get_runner(model, config, args, cache_key)
    with _progress.progress_bar(config.num_warmup + config.num_samples, bool(config.progress_bar)):
        samples, stats, warm, loglik = jax.device_get(runner(jax.random.PRNGKey(seed), args))

    posterior = {k: np.asarray(v) for k, v in samples.items()}
    # Posterior predictive of log loss: the law's mean plus a draw of the noise.
    mu = np.asarray(law.sampled_log_loss({k: v[..., None] for k, v in posterior.items()}, ref, args[0], args[1]))
    rng = np.random.default_rng(seed)
    shape = mu.shape
    z = rng.standard_normal(shape) if likelihood.kind == "normal" else rng.standard_t(likelihood.df, size=shape)
    pp = mu + posterior[NOISE][..., None] * z

    sample_stats = {k: np.asarray(v) for k, v in stats.items()}
    constant = {"N": data.N, "D": data.D, "loss": data.loss}
    if data.group is not None:
        constant["group"] = data.group
    idata = _idata.build_idata(
        posterior=posterior,
        sample_stats=sample_stats,
        log_likelihood={OBS: np.asarray(loglik[OBS])},
        posterior_predictive={OBS: pp},
        observed_data={OBS: np.log(data.loss)},
        constant_data=constant,
        meta={},
    )
    result = ScalingFit(
        idata=idata,
        law=law,
        likelihood=likelihood,
        priors=all_priors,
        config=config,
        ref=ref,
        seed=seed,
        data=data,
        diagnostics=_diagnostics_of(idata, law),
    )
    result.idata.sample_stats.attrs["warmup_divergences"] = int(np.sum(warm["diverging"]))
    result.idata.sample_stats.attrs["warmup_leapfrog_steps"] = int(np.sum(warm["n_steps"]))
    idata.posterior.attrs[_idata.META_KEY] = __import__("json").dumps(result._meta())
    if warn:
        result.diagnostics.warn(stacklevel=2)
    return result
