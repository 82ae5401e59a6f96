"""Many fits at once: :func:`fit_many` over datasets of one padded length, and :func:`bootstrap`.

The sampler of :func:`bayescale.fit` is one jitted function of the data, so many
datasets of the same padded length (:func:`~bayescale.model.spec.padded_runs`: 100 to 128 runs
are one size) are fitted by mapping it over a leading dataset axis
inside one compiled program (``lax.map``; reused for every later batch of the same
shape), with blocks of datasets in parallel across host devices (one per core
on CPU: :mod:`bayescale.inference.devices`). Datasets are mapped, not ``vmap``-ed: vmapped
NUTS advances every chain in lockstep, so each step costs the longest tree of any
chain of any dataset (measured 10x slower than a loop at K=16 with the old raw-scale
metric, and still 1.3x slower with the whitened one). Each dataset keeps its own
chains, L-BFGS start, Laplace whitening and NumPyro warmup; the results are ordinary
:class:`~bayescale.ScalingFit` objects whose diagnostics (bulk ESS, R-hat) are
computed for all fits in one ArviZ call.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Mapping, Sequence

import jax
import numpy as np

from bayescale.data import ScalingData
from bayescale.errors import BatchError, ConfigError, ConvergenceWarning, DataWarning
from bayescale.fitting.fit import (
    REFIT_DIVERGENT, Draws, check_refit_divergent, check_seed, check_until_converged, compiled_runner,
    extend_until_converged, make_fit, refit_divergent_fit, refit_note, sampler_config,
)
from bayescale.fitting.batch_chees import fit_many_chees
from bayescale.inference.chees import TARGET_ACCEPT as CHEES_TARGET_ACCEPT
from bayescale.inference.nuts import get_extender
from bayescale.model.law import Law
from bayescale.model.likelihoods import Likelihood
from bayescale.model.priors import Prior
from bayescale.model.spec import ScalingModel, padded_runs, resolve_model
from bayescale.posterior import idata as _idata
from bayescale.posterior.result import ScalingFit

__all__ = ["fit_many", "bootstrap", "bootstrap_indices", "METHODS"]

#: The samplers of :func:`fit_many` (``method=``).
METHODS = ("nuts", "chees")


def _seeds(seed, k: int) -> list[int]:
    if isinstance(seed, (list, tuple, np.ndarray)):
        seeds = [check_seed(s) for s in (seed.tolist() if isinstance(seed, np.ndarray) else seed)]
        if len(seeds) != k:
            raise ConfigError(f"seed has {len(seeds)} entries for {k} datasets; give one seed per dataset or one int")
        return seeds
    base = check_seed(seed)
    return [base + i for i in range(k)]


def fit_many(
    datasets: Sequence[ScalingData],
    law: str | Law | None = None,
    *,
    model: ScalingModel | None = None,
    likelihood: str | Likelihood | None = None,
    priors: Mapping[str, Prior] | None = None,
    seed: int | Sequence[int] = 0,
    num_chains: int = 4,
    num_warmup: int = 1000,
    num_samples: int = 1000,
    target_accept: float | None = None,
    max_tree_depth: int = 10,
    dense_mass: bool = True,
    progress_bar: bool | None = None,
    chain_method: str = "auto",
    warn: bool = True,
    pointwise: bool = True,
    until_converged: int = 3,
    refit_divergent=REFIT_DIVERGENT,
    method: str = "nuts",
) -> list[ScalingFit]:
    """Fit the same law to many datasets of one padded length (:func:`~bayescale.model.spec.padded_runs`) in one
    compiled call.

    Equivalent to ``[bs.fit(d, seed=s, ...) for d, s in zip(datasets, seeds)]``,
    but one compiled call runs every dataset (no per-fit Python or dispatch
    overhead, and blocks of datasets in parallel on several host devices when JAX
    has them). Each dataset is fitted as :func:`bayescale.fit` would (the same
    per-dataset computation): its own L-BFGS start, Laplace whitening and NumPyro
    warmup, so the same posterior as the loop; the draws are the loop's bit for bit
    where XLA compiles the same per-device program (e.g. two datasets on two host
    devices), and differ by float32 rounding in other layouts.

    Parameters
    ----------
    datasets : sequence of ScalingData
        At least one; all with the same number of rows (pad or subsample otherwise).
    law, model, likelihood, priors, num_chains, num_warmup, num_samples, max_tree_depth, dense_mass, progress_bar, chain_method
        As in :func:`bayescale.fit`, shared by every dataset (complete pooling: a pooled model
        is fitted with :func:`bayescale.fit`, whose groups give the datasets their structure).
    seed : int or sequence of int
        One int: dataset ``i`` uses seed ``seed + i`` (so ``fit_many(ds, seed=s)[i]``
        corresponds to ``fit(ds[i], seed=s + i)``); or one seed per dataset.
    warn : bool
        One :class:`~bayescale.errors.ConvergenceWarning` summarising every fit that failed a check.
    until_converged : int
        As in :func:`bayescale.fit`: a fit that fails only the R-hat or bulk-ESS check has its
        chains continued (one dataset at a time, from where the batch left them) up to this
        many times by ``num_samples`` draws; ``fit.extra_draws_per_chain`` says how many.
    refit_divergent : sequence of float
        As in :func:`bayescale.fit`: a fit with divergences is refitted alone, by :func:`bayescale.fit`'s
        NUTS (whatever ``method``), at each of these ``target_accept`` values in turn until it has none
        (``fit.refits`` lists the fits given up); ``()`` never refits.
    target_accept : float, optional
        The step-size adaptation's target acceptance: default 0.9 for NUTS (as :func:`bayescale.fit`),
        0.651 (harmonic mean over chains) for ChEES.
    method : {"nuts", "chees"}
        ``"nuts"`` (default): each dataset fitted exactly as :func:`bayescale.fit` would.
        ``"chees"``: ChEES-HMC (:mod:`bayescale.inference.chees`), every chain of a pool of up to
        32 datasets in lockstep with one pooled adaptation of step size and trajectory length
        (each dataset keeps its own L-BFGS start, Laplace whitening, chains and diagnostics).
        Measured 2.7-2.9x the posteriors per second of a loop of :func:`bayescale.fit` on bootstrap
        resamples of Epoch's data (README, Performance). Its draws depend on the other datasets
        of the pool, not only on the seed; ``max_tree_depth`` caps its leapfrog steps per draw at
        ``2**max_tree_depth``; it needs ``dense_mass=True`` (its metric is the dense Laplace whitening);
        it shows no progress bar.
        Use it for many similar datasets (bootstraps, backtests), whose posteriors have similar shapes.
    pointwise : bool
        Keep the pointwise log-likelihood and posterior predictive groups (``True``,
        as :func:`bayescale.fit`). ``False`` saves ``2 * chains * draws * n`` floats
        per fit, which matters for thousands of fits; forecasts and frontiers do not need them.
        NUTS computes them while sampling; ChEES when a fit's InferenceData is first read.

    Returns
    -------
    list of ScalingFit
        One per dataset, in order, each with its own diagnostics.

    Raises
    ------
    BatchError
        No datasets, or datasets of different lengths (raised before compiling).
    ConfigError
        An unknown ``method``, ``method="chees"`` with ``dense_mass=False``, or a bad setting (before compiling).

    Examples
    --------
    >>> import bayescale as bs
    >>> data = bs.datasets.example()
    >>> fits = bs.fit_many([data, data], seed=0, num_warmup=500, num_samples=500)
    >>> len(fits), fits[0].idata.posterior["alpha"].shape
    (2, (4, 500))
    >>> all(f.converged for f in fits)
    True
    """
    datasets = list(datasets) if not isinstance(datasets, ScalingData) else None
    if datasets is None:
        raise BatchError("fit_many takes a sequence of ScalingData; for one dataset call bs.fit(data)")
    if not datasets:
        raise BatchError("fit_many got no datasets; pass a non-empty list of ScalingData")
    if method not in METHODS:
        raise ConfigError(f"method must be one of {METHODS}, got {method!r}")
    if method == "chees" and dense_mass is not True:
        raise ConfigError("method='chees' whitens each dataset by its dense Laplace factor; dense_mass must be True")
    if target_accept is None:
        target_accept = 0.9 if method == "nuts" else CHEES_TARGET_ACCEPT
    model = resolve_model(law, model=model, likelihood=likelihood, priors=priors)
    if method == "chees" and model.error_model.scale_sites:
        raise ConfigError(f"method='chees' is validated for the independent error model only, got "
                          f"{model.error_model.label}; use method='nuts' (the default)")
    if model.pooling.grouped:
        raise ConfigError(
            f"fit_many fits complete-pooling models; this model pools groups ({model.pooling.name!r}): fit it with "
            "bs.fit(data, model=...) on the data of all groups together"
        )
    config = sampler_config(model, num_chains=num_chains, num_warmup=num_warmup, num_samples=num_samples,
                            target_accept=target_accept, max_tree_depth=max_tree_depth, dense_mass=dense_mass,
                            progress_bar=progress_bar, chain_method=chain_method)
    check_batch(datasets, model)
    until_converged = check_until_converged(until_converged)
    ladder = check_refit_divergent(refit_divergent)
    if not isinstance(pointwise, bool):
        raise ConfigError(f"pointwise must be True or False, got {pointwise!r}")
    seeds = _seeds(seed, len(datasets))

    refs = [model.reference(d) for d in datasets]
    args = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *[model.args(d, r)[0] for d, r in zip(datasets, refs)])
    if method == "chees":
        fits = fit_many_chees(datasets, model, config, seeds, refs, args, pointwise, until_converged)
        fits = [refit_divergent_fit(f, ladder, until_converged, pointwise) for f in fits]
        if warn:
            _warn_many(fits)
        return fits
    runner, _ = compiled_runner(model, config, args, batched=True, pointwise=pointwise)
    keys = np.stack([np.asarray(jax.random.PRNGKey(s)) for s in seeds])
    runner.compile(keys, args, meanwhile=_idata.preload_arviz)  # ArviZ imports while XLA compiles
    *out, carry = runner(keys, args)  # the chains' final states (carry) stay on the device
    samples, stats, warm, loglik, pp = jax.device_get(tuple(out))

    ess, rhat = _idata.ess_rhat_arrays({k: samples[k] for k in model.diagnostic_names})
    fits = []
    for i, d in enumerate(datasets):
        draws = Draws(
            samples={k: v[i] for k, v in samples.items()},
            stats={k: v[i] for k, v in stats.items()},
            warm={k: v[i] for k, v in warm.items()},
            loglik=None if loglik is None else loglik[i],
            pp=None if pp is None else {k: v[i] for k, v in pp.items()},
        )
        one = make_fit(d, model, config, refs[i], seeds[i], draws,
                       {k: float(v[i]) for k, v in ess.items()}, {k: float(v[i]) for k, v in rhat.items()})
        if until_converged and one.diagnostics.n_divergent == 0 and not one.converged:
            # Continue this dataset's chains with the single-dataset extender (compiled once, on first need).
            args_i, _ = model.args(d, refs[i])
            _, key = compiled_runner(model, config, args_i, pointwise=pointwise)
            carry_i = jax.tree_util.tree_map(lambda a: a[i], carry)
            one = extend_until_converged(one, draws, carry_i, get_extender(key), args_i, until_converged)
        fits.append(refit_divergent_fit(one, ladder, until_converged, pointwise))
    if warn:
        _warn_many(fits)
    return fits


def check_batch(datasets: list, model: ScalingModel) -> None:
    """Raise :class:`~bayescale.errors.BatchError` unless ``datasets`` can be fitted together by ``model``
    (all ScalingData, lengths of one padded size, the model's data checks, matching error-model levels), before compiling."""
    for i, d in enumerate(datasets):
        if not isinstance(d, ScalingData):
            raise BatchError(f"datasets[{i}] is a {type(d).__name__}, not a bayescale.ScalingData")
    lengths = [d.n for d in datasets]
    sizes = [padded_runs(n) for n in lengths]
    if len(set(sizes)) > 1:
        counts = {n: lengths.count(n) for n in sorted(set(lengths))}
        first_odd = next(i for i, n in enumerate(sizes) if n != sizes[0])
        raise BatchError(
            f"fit_many needs datasets of one compiled size (lengths padded to {sorted(set(sizes))} runs, "
            f"bayescale.model.spec.padded_runs); got lengths {counts} (n: how many), e.g. datasets[0] has "
            f"{lengths[0]} rows and datasets[{first_odd}] has {lengths[first_odd]}; group them by padded length "
            f"(bayescale.analyses.backtest.fit_all does) and call fit_many once per group, or call bs.fit on each"
        )
    for d in datasets:
        model.check_data(d)
    shapes = [model.batch_key(d) for d in datasets]
    if len(set(shapes)) > 1:
        odd = next(i for i, k in enumerate(shapes) if k != shapes[0])
        raise BatchError(
            f"fit_many needs datasets whose shared-error levels match (error model {model.error_model.label}): "
            f"datasets[0] has levels {shapes[0][1:]} and datasets[{odd}] has {shapes[odd][1:]}; fit them with bs.fit "
            "(or bayescale.analyses.backtest.fit_all, which groups them)"
        )


def _warn_many(fits: list[ScalingFit], indices: Sequence[int] | None = None) -> None:
    """One ConvergenceWarning for every fit that failed a check; ``indices`` name the fits (default 0, 1, ...)."""
    where = list(range(len(fits))) if indices is None else list(indices)
    bad = [i for i, f in enumerate(fits) if not f.converged]
    if bad:
        first = fits[bad[0]].diagnostics.problems
        note = refit_note(fits[bad[0]])
        named = [where[i] for i in bad]
        more = "..." if len(bad) > 10 else ""
        of, see = ("", "fits[i].diagnostics") if indices is None else ("this process's ", "each fit's .diagnostics")
        warnings.warn(
            f"{len(bad)} of {of}{len(fits)} fits did not converge (indices {named[:10]}{more}); "
            f"fit {named[0]}: " + " | ".join(first) + (f" ({note})" if note else "") + f"; see {see}",
            ConvergenceWarning,
            stacklevel=3,
        )


def bootstrap_indices(n: int, n_resamples: int, seed: int = 0) -> np.ndarray:
    """Row indices of ``n_resamples`` bootstrap resamples of ``n`` rows (with replacement), shape ``(n_resamples, n)``.

    Examples
    --------
    >>> from bayescale.fitting.batch import bootstrap_indices
    >>> bootstrap_indices(5, 2, seed=0).shape
    (2, 5)
    """
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def bootstrap(
    data: ScalingData,
    n_resamples: int,
    law: str | Law | None = None,
    *,
    seed: int = 0,
    **fit_kwargs,
) -> list[ScalingFit]:
    """Fit the law to ``n_resamples`` bootstrap resamples of the rows of ``data``, in one compiled call.

    Rows are drawn with replacement (:func:`bootstrap_indices` with ``seed``);
    each resample is fitted by :func:`fit_many` with sampler seeds ``seed + i`` (resamples
    whose error-model levels differ, :meth:`ScalingModel.batch_key`, in separate calls).
    This is the Bayesian counterpart of the bootstrap intervals of the point-fit
    literature: the spread of the posteriors across resamples shows how much the
    answer depends on which runs happened to be in the sweep.

    Parameters
    ----------
    data : ScalingData
    n_resamples : int
        How many resamples (positive).
    law : str or Law
    seed : int
        Seeds the resampling and, offset by resample index, the samplers.
    **fit_kwargs
        Any other keyword of :func:`fit_many` (``num_warmup``, ``pointwise``, ...).

    Examples
    --------
    >>> import bayescale as bs
    >>> fits = bs.bootstrap(bs.datasets.example(), 2, seed=0, num_warmup=500, num_samples=500)
    >>> [f.data.n for f in fits]
    [180, 180]
    """
    if not isinstance(data, ScalingData):
        raise ConfigError(f"data must be a bayescale.ScalingData, got {type(data).__name__}")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, numbers.Integral) or n_resamples < 1:
        raise ConfigError(f"n_resamples must be a positive integer, e.g. 200; got {n_resamples!r}")
    seed = check_seed(seed)
    idx = bootstrap_indices(data.n, int(n_resamples), seed)
    with warnings.catch_warnings():
        # Resampling with replacement repeats rows on purpose.
        warnings.filterwarnings("ignore", message=r".*repeat an earlier \(N, D, loss\) row", category=DataWarning)
        resamples = [data.subset(i) for i in idx]
    model = resolve_model(law, model=fit_kwargs.pop("model", None), likelihood=fit_kwargs.pop("likelihood", None),
                          priors=fit_kwargs.pop("priors", None))
    # A resample can miss a level of an error model's axis: one fit_many call per shape.
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(resamples):
        groups.setdefault(model.batch_key(r), []).append(i)
    out: list = [None] * len(resamples)
    for members in groups.values():
        fits = fit_many([resamples[i] for i in members], model=model, seed=[seed + i for i in members], **fit_kwargs)
        for i, f in zip(members, fits):
            out[i] = f
    return out
