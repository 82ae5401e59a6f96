"""``bayescale.fit``: the one entry point from data to posterior."""

from __future__ import annotations

import numbers
from typing import Mapping

import jax
import numpy as np

from bayescale import _idata, hierarchical
from bayescale.data import ScalingData
from bayescale.errors import ConfigError
from bayescale.laws import Law, get_law
from bayescale.likelihoods import DF, Likelihood, get_likelihood
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
    if not isinstance(data, ScalingData):
        raise ConfigError(
            f"data must be a bayescale.ScalingData, got {type(data).__name__}; build one with "
            "ScalingData.from_frame(df, N=..., D=..., loss=...) or ScalingData.from_arrays(...)"
        )
    law = get_law(law)
    likelihood = get_likelihood(likelihood)
    seed = _check_seed(seed)
    pooling = hierarchical.check_pooling(pooling, law, data)
    defaults = {**default_priors(law, likelihood), **hierarchical.hierarchical_priors(law, pooling)}
    all_priors = merge_priors(defaults, priors, positive=law.positive | {NOISE, DF} | set(defaults) - set(law.default_priors))
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

    ref = law.reference(data.N, data.D, data.U)
    args = model_args(law, data.N, data.D, data.loss, ref, U=data.U)
    group_labels = None
    if pooling == "complete":
        model = make_model(law, all_priors, likelihood)
    else:
        gidx, group_labels = hierarchical.group_index(data)
        args = ({**args[0], "group": jax.numpy.asarray(gidx)},) + args[1:]
        model = hierarchical.make_hierarchical_model(law, all_priors, likelihood, len(group_labels), pooling)
    cache_key = (
        law.name, id(law), tuple(sorted((k, hash(v)) for k, v in all_priors.items())), likelihood,
        pooling, None if group_labels is None else len(group_labels),
    )
    runner, _ = get_runner(model, config, args, cache_key)
    samples, stats, warm, loglik = jax.device_get(runner(jax.random.PRNGKey(seed), args))

    posterior = {k: np.asarray(v) for k, v in samples.items()}
    # Posterior predictive of log loss: the law's mean plus a draw of the noise.
    X = args[0]
    if group_labels is None:
        at_runs = {k: v[..., None] for k, v in posterior.items()}
    else:
        at_runs = {k: posterior[k][..., np.asarray(X["group"])] for k in law.sampled_names}
    mu = np.asarray(law.sampled_log_loss(at_runs, ref, *(X[c] for c in law.covariates)))
    noise = likelihood.noise(
        seed, posterior[NOISE].reshape(-1), posterior[DF].reshape(-1) if likelihood.learns_df else None, mu.shape[-1:]
    )
    pp = mu + noise.reshape(mu.shape)

    sample_stats = {k: np.asarray(v) for k, v in stats.items()}
    constant = {"N": data.N, "D": data.D, "loss": data.loss}
    if data.group is not None:
        constant["group"] = data.group
    if data.U is not None:
        constant["U"] = data.U
    idata = _idata.build_idata(
        posterior=posterior,
        sample_stats=sample_stats,
        log_likelihood={OBS: np.asarray(loglik[OBS])},
        posterior_predictive={OBS: pp},
        observed_data={OBS: np.log(data.loss)},
        constant_data=constant,
        meta={},
        posterior_dims=hierarchical.posterior_dims(law, pooling),
        coords=None if group_labels is None else {"group": list(group_labels)},
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
        diagnostics=_diagnostics_of(idata, law, pooling),
        pooling=pooling,
        group_labels=group_labels,
    )
    result.idata.sample_stats.attrs["warmup_divergences"] = int(np.sum(warm["diverging"]))
    result.idata.sample_stats.attrs["warmup_leapfrog_steps"] = int(np.sum(warm["n_steps"]))
    idata.posterior.attrs[_idata.META_KEY] = __import__("json").dumps(result._meta())
    if warn:
        result.diagnostics.warn(stacklevel=2)
    return result
