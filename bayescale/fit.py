"""``bayescale.fit``: the one entry point from data to posterior."""

from __future__ import annotations

import json
import numbers
from typing import Mapping, NamedTuple

import jax
import numpy as np

from bayescale import _idata, _progress, hierarchical
from bayescale.data import ScalingData
from bayescale.diagnostics import Diagnostics
from bayescale.errors import ConfigError
from bayescale.laws import Law, get_law
from bayescale.likelihoods import DF, Likelihood, get_likelihood, predictive_draws
from bayescale.model import NOISE, OBS, make_model, model_args
from bayescale.priors import Prior, merge_priors
from bayescale.result import ScalingFit, _diagnostics_of
from bayescale.sampling import SamplerConfig, get_runner

__all__ = ["fit", "default_priors"]


def default_priors(law: str | Law = "chinchilla", likelihood: str | Likelihood = "student_t") -> dict[str, Prior]:
    """The default priors of a law, plus the likelihood's: the noise scale ``sigma`` (and ``df`` when learned).

    Examples
    --------
    >>> import bayescale as bs
    >>> bs.default_priors("chinchilla")["alpha"]
    Prior('LogNormal', loc=-1.2, scale=0.75)
    >>> bs.default_priors("chinchilla", bs.Likelihood("student_t", df="learn"))["df"]
    Prior('Gamma', concentration=2, rate=0.1)
    """
    law = get_law(law)
    return {**law.default_priors, **get_likelihood(likelihood).default_priors()}


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
    pooling: str = "complete",
) -> ScalingFit:
    """Fit a scaling law with NUTS and return its posterior.

    Parameters
    ----------
    data : ScalingData
        The training runs (see :class:`~bayescale.ScalingData`).
    law : str or Law
        ``"chinchilla"`` (default): ``L = E + A/N**alpha + B/D**beta``; any name in
        :data:`bayescale.LAWS` (``"power_law"``, ``"kaplan"``, ``"data_constrained"``,
        ``"broken_power_law"``, ...), or a law built with :func:`bayescale.custom_law`.
    likelihood : str or Likelihood
        Noise model on log loss: ``"student_t"`` (robust, default; ``bs.Likelihood("student_t",
        df="learn")`` learns its degrees of freedom), ``"normal"``, or ``"huber"`` (Epoch AI's
        normalised Huber density, delta = 1e-3). See :class:`~bayescale.Likelihood`.
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
    pooling : {"complete", "partial", "none"}
        How a ``group`` column is used (Chinchilla law): ``"complete"`` (default)
        ignores groups; ``"partial"`` fits a hierarchical model with population
        distributions for every parameter (non-centred); ``"none"`` gives each
        group its own parameters. See :mod:`bayescale.hierarchical`.

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
    law, likelihood, all_priors, config, seed, pooling = _settings(
        law, likelihood, priors, seed,
        dict(num_chains=num_chains, num_warmup=num_warmup, num_samples=num_samples, target_accept=target_accept,
             max_tree_depth=max_tree_depth, dense_mass=dense_mass, progress_bar=progress_bar),
        pooling=pooling, data=data,
    )
    _check_data(data, law)
    ref = law.reference(data.N, data.D, data.U)
    args, group_labels = _args_of(law, data, ref, pooling)
    model, cache_key = _model_of(law, all_priors, likelihood, pooling, group_labels)
    runner, _ = get_runner(model, config, args, cache_key, obs_site=OBS)
    total = config.num_chains * (config.num_warmup + config.num_samples)  # iterations of all chains
    with _progress.progress_bar(total, bool(config.progress_bar), desc=f"sampling {config.num_chains} chains"):
        out = jax.device_get(runner(jax.random.PRNGKey(seed), args))
    draws = _Draws(*out)
    if pooling == "complete":
        ess, rhat = _idata.ess_rhat_arrays({k: draws.samples[k] for k in law.param_names})
    else:
        ess = rhat = None  # vector-valued group parameters: diagnosed from the InferenceData
    result = _make_fit(data, law, likelihood, all_priors, config, ref, seed, draws, ess, rhat, pooling, group_labels)
    if warn:
        result.diagnostics.warn(stacklevel=2)
    return result


class _Draws(NamedTuple):
    """What the compiled runner returns for one dataset (numpy arrays, ``(chain, draw, ...)``)."""

    samples: dict
    stats: dict
    warm: dict
    loglik: np.ndarray | None
    pp: dict | None  # loc, scale (, df) of the observation distribution: see likelihoods.predictive_draws


def _check_data(data, law: Law) -> None:
    if not isinstance(data, ScalingData):
        raise ConfigError(
            f"data must be a bayescale.ScalingData, got {type(data).__name__}; build one with "
            "ScalingData.from_frame(df, N=..., D=..., loss=...) or ScalingData.from_arrays(...)"
        )
    data.require(n_params=law.n_params, covariates=law.covariates)


def _settings(law, likelihood, priors, seed, sampler: dict, *, pooling: str = "complete", data=None):
    """Validate everything but the data (no compilation happens here)."""
    law = get_law(law)
    likelihood = get_likelihood(likelihood)
    seed = _check_seed(seed)
    pooling = hierarchical.check_pooling(pooling, law, data)
    all_priors = resolve_priors(law, likelihood, priors, pooling)
    config = SamplerConfig(**sampler, whiten=pooling == "complete")  # see SamplerConfig.whiten
    return law, likelihood, all_priors, config, seed, pooling


def resolve_priors(law: Law, likelihood: Likelihood, priors, pooling: str = "complete") -> dict[str, Prior]:
    """The law's, the likelihood's and the pooling's default priors, overridden by ``priors``.

    Every parameter the law or the noise model requires to be positive is checked.
    """
    defaults = {**default_priors(law, likelihood), **hierarchical.hierarchical_priors(law, pooling)}
    return merge_priors(defaults, priors, positive=law.positive | {NOISE, DF} | set(defaults) - set(law.default_priors))


def _args_of(law: Law, data: ScalingData, ref, pooling: str):
    """Model arguments for one dataset, with the group index when groups are pooled."""
    args = model_args(law, data.N, data.D, data.loss, ref, U=data.U)
    if pooling == "complete":
        return args, None
    gidx, group_labels = hierarchical.group_index(data)
    return ({**args[0], "group": jax.numpy.asarray(gidx)},) + args[1:], group_labels


def _model_of(law: Law, all_priors, likelihood, pooling: str = "complete", group_labels=None):
    if pooling == "complete":
        model = make_model(law, all_priors, likelihood)
    else:
        model = hierarchical.make_hierarchical_model(law, all_priors, likelihood, len(group_labels), pooling)
    cache_key = (
        law.name, id(law), tuple(sorted((k, hash(v)) for k, v in all_priors.items())), likelihood,
        pooling, None if group_labels is None else len(group_labels),
    )
    return model, cache_key


def _make_fit(
    data, law, likelihood, all_priors, config, ref, seed, draws: _Draws, ess: dict | None, rhat: dict | None,
    pooling: str = "complete", group_labels=None,
) -> ScalingFit:
    """A :class:`ScalingFit` from the runner's output for one dataset and its ESS / R-hat per parameter
    (``None``: computed here from the InferenceData, as for pooled fits)."""
    posterior = {k: np.asarray(v) for k, v in draws.samples.items()}
    sample_stats = {k: np.asarray(v) for k, v in draws.stats.items()}
    constant = {"N": data.N, "D": data.D, "loss": data.loss}
    if data.group is not None:
        constant["group"] = data.group
    if data.U is not None:
        constant["U"] = data.U
    idata = _idata.build_idata(
        posterior=posterior,
        sample_stats=sample_stats,
        log_likelihood={} if draws.loglik is None else {OBS: np.asarray(draws.loglik)},
        posterior_predictive={} if draws.pp is None else {OBS: predictive_draws(likelihood, draws.pp, seed)},
        observed_data={OBS: np.log(data.loss)},
        constant_data=constant,
        meta={},
        posterior_dims=hierarchical.posterior_dims(law, pooling),
        coords=None if group_labels is None else {"group": list(group_labels)},
    )
    if ess is None:
        diagnostics = _diagnostics_of(idata, law, pooling)
    else:
        diverging = sample_stats["diverging"]
        diagnostics = Diagnostics.from_numbers(
            n_divergent=int(diverging.sum()),
            n_draws=int(diverging.size),
            rhat=rhat,
            ess_bulk=ess,
            mean_steps=float(sample_stats["n_steps"].mean()),
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
        diagnostics=diagnostics,
        pooling=pooling,
        group_labels=group_labels,
    )
    result.idata.sample_stats.attrs["warmup_divergences"] = int(np.sum(draws.warm["diverging"]))
    result.idata.sample_stats.attrs["warmup_leapfrog_steps"] = int(np.sum(draws.warm["n_steps"]))
    idata.posterior.attrs[_idata.META_KEY] = json.dumps(result._meta())
    return result
