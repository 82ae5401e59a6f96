"""Many fits at once: :func:`fit_many` over datasets of one compiled shape, :func:`fit_all` over any, and
:func:`bootstrap`.

Two samplers (``method=``). NUTS (:mod:`bayescale.fitting.batch_nuts`) fits each dataset exactly as
:func:`bayescale.fit` would, all in one compiled call: the draws are a loop's. ChEES-HMC
(:mod:`bayescale.fitting.batch_chees`) runs pools of datasets in lockstep with one pooled adaptation: faster
for many datasets, and its draws depend on the pool. A pooled (grouped) model is fitted dataset by dataset
with :func:`bayescale.fit`'s NUTS (one compiled program per shape). Every fit is an ordinary
:class:`~bayescale.ScalingFit` with its own diagnostics; the keywords are :func:`bayescale.fit`'s
(:mod:`bayescale.fitting.settings`).
"""

from __future__ import annotations

import dataclasses
import numbers
import warnings
from typing import Mapping, Sequence

import jax
import numpy as np

from bayescale.checks import check_seed
from bayescale.data import ScalingData
from bayescale.errors import BatchError, ConfigError, ConvergenceWarning, DataWarning
from bayescale.fitting.batch_chees import fit_many_chees
from bayescale.fitting.batch_nuts import fit_many_nuts
from bayescale.fitting.fit import fit_one, nuts_if_unconverged, refit_divergent_fit, refit_note
from bayescale.fitting.settings import REFIT_DIVERGENT, SAMPLER_SETTINGS, Settings, resolve, shared
from bayescale.inference.chees import TARGET_ACCEPT as CHEES_TARGET_ACCEPT
from bayescale.model.law import Law
from bayescale.model.likelihoods import Likelihood
from bayescale.model.priors import Prior
from bayescale.model.spec import ScalingModel, padded_runs
from bayescale.posterior.result import ScalingFit

__all__ = ["fit_many", "fit_all", "bootstrap", "bootstrap_indices", "METHODS", "CHEES_MIN_DATASETS",
           "choose_method", "check_batch"]

#: The samplers of :func:`fit_many` (``method=``): ``"auto"`` picks one of the other two.
METHODS = ("auto", "nuts", "chees")
#: ``method="auto"`` runs ChEES for at least this many datasets of one compiled shape (when the model and
#: settings are ones ChEES serves: :func:`choose_method`), NUTS for fewer: one dataset is fitted as
#: :func:`bayescale.fit` fits it. Measured (``benchmarks/bench_many_fits.py --ks 1,2,4,8,16,32 --interleave 5``,
#: Epoch resamples, 4 x (500 + 500), 2 shared cores under load 8-10, 2026-12-06,
#: ``benchmarks/results/many_fits_auto.json``): ChEES's posteriors per second over NUTS's, median of 5 rounds
#: of warm calls side by side, 5.4x at K = 1, 4.1x at 2, 6.4x at 4, 3.2x at 8, 3.8x at 16 and 32 (quiet
#: machine, 2026-12-03: 3.0x at 16, 3.9x at 256); first calls (compiling) took about as long for both.
CHEES_MIN_DATASETS = 2


def dataset_seeds(seed, k: int) -> list[int]:
    """One seed per dataset: ``seed`` as given (a sequence of ``k``), or ``seed, seed + 1, ...`` from one int."""
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
    pooling: str | None = None,
    error_model=None,
    seed: int | Sequence[int] = 0,
    num_chains: int = 4,
    num_warmup: int = 1000,
    num_samples: int = 1000,
    target_accept: float = 0.9,
    max_tree_depth: int = 10,
    dense_mass: bool = True,
    chain_method: str = "auto",
    progress_bar: bool | None = None,
    until_converged: int = 3,
    refit_divergent=REFIT_DIVERGENT,
    warn: bool = True,
    pointwise: bool = True,
    method: str = "auto",
) -> list[ScalingFit]:
    """Fit the same model to many datasets of one padded length (:func:`~bayescale.model.spec.padded_runs`)
    in one compiled call.

    By default (``method="auto"``) the fastest correct sampler: ChEES for two or more datasets it serves,
    NUTS otherwise. With ``method="nuts"`` equivalent to
    ``[bs.fit(d, seed=s, ...) for d, s in zip(datasets, seeds)]``,
    but one compiled call runs every dataset (no per-fit Python or dispatch overhead, and blocks of
    datasets in parallel on several host devices when JAX has them). Each dataset is fitted as
    :func:`bayescale.fit` would: its own L-BFGS start, Laplace whitening and NumPyro warmup, so the same
    posterior as the loop; the draws are the loop's bit for bit where XLA compiles the same per-device
    program (e.g. two datasets on two host devices), and differ by float32 rounding in other layouts.
    Datasets of several shapes: :func:`fit_all`.

    Parameters
    ----------
    datasets : sequence of ScalingData
        At least one; all of one padded length (and the error model's levels).
    law, model, likelihood, priors, pooling, error_model
        The model, as in :func:`bayescale.fit`, shared by every dataset. A pooled model (``pooling``
        ``"partial"`` or ``"none"``) is fitted dataset by dataset with :func:`bayescale.fit`'s NUTS.
    seed : int or sequence of int
        One int: dataset ``i`` uses seed ``seed + i`` (so ``fit_many(ds, seed=s)[i]``
        corresponds to ``fit(ds[i], seed=s + i)``); or one seed per dataset.
    num_chains, num_warmup, num_samples, target_accept, max_tree_depth, dense_mass, chain_method, progress_bar
        As in :func:`bayescale.fit`, with the same defaults. ``target_accept`` is NUTS's (ChEES adapts to
        its own harmonic-mean target, 0.651: see ``method``).
    until_converged : int
        As in :func:`bayescale.fit`: a fit that fails only the R-hat or bulk-ESS check has its
        chains continued (from where the batch left them) up to this many times by ``num_samples``
        draws; ``fit.extra_draws_per_chain`` says how many.
    refit_divergent : sequence of float
        As in :func:`bayescale.fit`: a fit with divergences is refitted alone, by :func:`bayescale.fit`'s
        NUTS (whatever ``method``), at each of these ``target_accept`` values in turn until it has none
        (``fit.refits`` lists the fits given up); ``()`` never refits.
    warn : bool
        One :class:`~bayescale.errors.ConvergenceWarning` summarising every fit that failed a check.
    pointwise : bool
        Keep the pointwise log-likelihood and posterior predictive groups (``True``,
        as :func:`bayescale.fit`). ``False`` saves ``2 * chains * draws * n`` floats
        per fit, which matters for thousands of fits; forecasts and frontiers do not need them.
        NUTS computes them while sampling; ChEES when a fit's InferenceData is first read.
    method : {"auto", "nuts", "chees"}
        ``"nuts"``: each dataset fitted exactly as :func:`bayescale.fit` would; the draws match a loop of
        :func:`bayescale.fit` (same seeds). ``"chees"``: ChEES-HMC (:mod:`bayescale.inference.chees`), every
        chain of a pool of up to 32 datasets in lockstep with one pooled adaptation of step size (to a
        harmonic-mean acceptance of 0.651, ChEES's own target) and trajectory length; each dataset keeps
        its own L-BFGS start, Laplace whitening, chains and diagnostics. The same posteriors, 3-6x the
        posteriors per second of NUTS from 2 to 256 datasets (:data:`CHEES_MIN_DATASETS`), but a
        dataset's draws depend on the other datasets of its pool, not only on its seed. It serves complete-pooling models whose error model has no
        learned scale, with ``dense_mass=True`` (its metric is the dense Laplace whitening); ``max_tree_depth``
        caps its leapfrog steps per draw at ``2**max_tree_depth``; it shows no progress bar.
        ``"auto"`` (default): ChEES for at least :data:`CHEES_MIN_DATASETS` (2) datasets of one shape when
        it serves the model and ``target_accept`` is the default 0.9, NUTS otherwise (one dataset, a
        pooled model, an error model with learned scales, ``dense_mass=False``, another ``target_accept``):
        :func:`choose_method`. A ChEES fit that still fails R-hat or bulk ESS after its extensions is then
        refitted alone by NUTS, as :func:`bayescale.fit` fits it (``fit.refits`` names the ChEES fit given
        up). Pin ``method="nuts"`` for the draws of a loop of :func:`bayescale.fit`.

    Returns
    -------
    list of ScalingFit
        One per dataset, in order, each with its own diagnostics.

    Raises
    ------
    BatchError
        No datasets, or datasets of different lengths (raised before compiling).
    ConfigError
        An unknown ``method``, ``method="chees"`` for a model or setting it does not serve, or a bad
        setting (before compiling).

    Examples
    --------
    >>> import bayescale as bs
    >>> data = bs.datasets.example()
    >>> fits = bs.fit_many([data, data], seed=0, num_warmup=500, num_samples=500)
    >>> len(fits), [f.sampler for f in fits]   # method="auto": ChEES for two or more datasets
    (2, ['chees', 'chees'])
    >>> all(f.converged for f in fits)
    True
    """
    datasets = _as_datasets(datasets)
    settings = resolve(**shared(locals()))
    check_batch(datasets, settings.model)
    fits = fit_batch(datasets, settings, dataset_seeds(seed, len(datasets)), pointwise=check_pointwise(pointwise),
                     method=method)
    if warn:
        warn_many(fits)
    return fits


def _as_datasets(datasets) -> list:
    if isinstance(datasets, ScalingData):
        raise BatchError("fit_many takes a sequence of ScalingData; for one dataset call bs.fit(data)")
    datasets = list(datasets)
    if not datasets:
        raise BatchError("fit_many got no datasets; pass a non-empty list of ScalingData")
    return datasets


def check_pointwise(pointwise) -> bool:
    """``pointwise`` when it is True or False, else a :class:`~bayescale.errors.ConfigError`."""
    if not isinstance(pointwise, bool):
        raise ConfigError(f"pointwise must be True or False, got {pointwise!r}")
    return pointwise


def chees_refusal(settings: Settings) -> str | None:
    """Why ChEES cannot fit with ``settings`` (a sentence), or ``None`` when it can."""
    model = settings.model
    if model.pooling.grouped:
        return (f"pools datasets of one complete-pooling model; this model pools groups ({model.pooling.name!r}) and "
                "is fitted dataset by dataset with NUTS")
    if model.error_model.scale_sites:
        return f"is validated for error models without learned scales, got {model.error_model.label}"
    if settings.config.dense_mass is not True:
        return "whitens each dataset by its dense Laplace factor; dense_mass must be True"
    return None


def choose_method(method: str, settings: Settings, k: int) -> str:
    """The sampler of ``k`` datasets of one compiled shape: ``method``, or for ``"auto"`` ChEES when it serves the
    model and settings, ``target_accept`` is the default (ChEES adapts to its own target) and ``k`` is at least
    :data:`CHEES_MIN_DATASETS`; NUTS otherwise. Raises a ConfigError for ``method="chees"`` ChEES cannot serve."""
    if method not in METHODS:
        raise ConfigError(f"method must be one of {METHODS}, got {method!r}")
    refusal = chees_refusal(settings)
    if method == "chees" and refusal:
        raise ConfigError(f"method='chees' {refusal}; use method='nuts' or 'auto'")
    if method != "auto":
        return method
    default_target = settings.config.target_accept == SAMPLER_SETTINGS["target_accept"]
    return "chees" if refusal is None and default_target and k >= CHEES_MIN_DATASETS else "nuts"


def fit_batch(datasets: list, settings: Settings, seeds: list[int], *, pointwise: bool = True,
              method: str = "auto") -> list[ScalingFit]:
    """The fits of ``datasets`` (one compiled shape, checked by :func:`check_batch`) by the sampler
    :func:`choose_method` picks, without a warning."""
    auto, method = method == "auto", choose_method(method, settings, len(datasets))
    model = settings.model
    if model.pooling.grouped or (method == "nuts" and len(datasets) == 1):
        # One dataset through NUTS: bs.fit's own program (a batched program of one is another XLA layout, with other
        # draws), so fit_many([d]) is bs.fit(d) and a backtest's lone cutoff reuses a fit's compiled sampler.
        return [fit_one(d, settings, s, pointwise) for d, s in zip(datasets, seeds)]
    refs = [model.reference(d) for d in datasets]
    args = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *[model.args(d, r)[0] for d, r in zip(datasets, refs)])
    if method == "nuts":
        return fit_many_nuts(datasets, settings, seeds, refs, args, pointwise)
    config = dataclasses.replace(settings.config, target_accept=CHEES_TARGET_ACCEPT)  # what ChEES adapts to
    fits = fit_many_chees(datasets, model, config, seeds, refs, args, pointwise, settings.until_converged)
    fits = [refit_divergent_fit(f, settings.refit_divergent, settings.until_converged, pointwise) for f in fits]
    return [nuts_if_unconverged(f, settings, pointwise) for f in fits] if auto else fits


def fit_all(datasets: Sequence[ScalingData], settings: Settings, seeds: Sequence[int], *, pointwise: bool = True,
            method: str = "auto") -> list[ScalingFit]:
    """Fit every dataset with one model and settings, whatever their shapes: the one place bootstraps,
    backtests and calibrations fit.

    Same-shaped datasets (padded length and shared-error levels, :meth:`ScalingModel.batch_key`) go through
    :func:`fit_batch` together (one compiled call per shape, each shape's sampler chosen by its number of
    datasets); the fits come back in the order of ``datasets``, without a warning.
    """
    datasets = list(datasets)
    for d in datasets:
        settings.model.check_data(d)
    groups: dict[tuple, list[int]] = {}
    for i, d in enumerate(datasets):
        groups.setdefault(settings.model.batch_key(d), []).append(i)
    out: list = [None] * len(datasets)
    for members in groups.values():
        fits = fit_batch([datasets[i] for i in members], settings, [seeds[i] for i in members], pointwise=pointwise,
                         method=method)
        for i, f in zip(members, fits):
            out[i] = f
    return out


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
            f"(bayescale.fitting.batch.fit_all does) and call fit_many once per group, or call bs.fit on each"
        )
    for d in datasets:
        model.check_data(d)
    shapes = [model.batch_key(d) for d in datasets]
    if len(set(shapes)) > 1:
        odd = next(i for i, k in enumerate(shapes) if k != shapes[0])
        raise BatchError(
            f"fit_many needs datasets whose shared-error levels match (error model {model.error_model.label}): "
            f"datasets[0] has levels {shapes[0][1:]} and datasets[{odd}] has {shapes[odd][1:]}; fit them with bs.fit "
            "(or bayescale.fitting.batch.fit_all, which groups them)"
        )


def warn_many(fits: list[ScalingFit], indices: Sequence[int] | None = None) -> None:
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
    model: ScalingModel | None = None,
    likelihood: str | Likelihood | None = None,
    priors: Mapping[str, Prior] | None = None,
    pooling: str | None = None,
    error_model=None,
    seed: int = 0,
    num_chains: int = 4,
    num_warmup: int = 1000,
    num_samples: int = 1000,
    target_accept: float = 0.9,
    max_tree_depth: int = 10,
    dense_mass: bool = True,
    chain_method: str = "auto",
    progress_bar: bool | None = None,
    until_converged: int = 3,
    refit_divergent=REFIT_DIVERGENT,
    warn: bool = True,
    pointwise: bool = True,
    method: str = "auto",
) -> list[ScalingFit]:
    """Fit the model to ``n_resamples`` bootstrap resamples of the rows of ``data``.

    Rows are drawn with replacement (:func:`bootstrap_indices` with ``seed``); resample ``i`` is fitted
    with sampler seed ``seed + i`` by :func:`fit_all` (one compiled call per shape: resamples whose
    error-model levels differ, :meth:`ScalingModel.batch_key`, are fitted apart). This is the Bayesian
    counterpart of the bootstrap intervals of the point-fit literature: the spread of the posteriors
    across resamples shows how much the answer depends on which runs happened to be in the sweep.

    Parameters
    ----------
    data : ScalingData
    n_resamples : int
        How many resamples (positive).
    law, model, likelihood, priors, pooling, error_model
        The model, as in :func:`bayescale.fit` (a pooled model resamples rows of every group together).
    seed : int
        Seeds the resampling and, offset by resample index, the samplers.
    num_chains, num_warmup, num_samples, target_accept, max_tree_depth, dense_mass, chain_method, progress_bar, until_converged, refit_divergent, warn, pointwise, method
        As in :func:`fit_many`, with the same defaults.

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
    settings = resolve(**shared(locals()))
    seed, pointwise = check_seed(seed), check_pointwise(pointwise)
    idx = bootstrap_indices(data.n, int(n_resamples), seed)
    with warnings.catch_warnings():
        # Resampling with replacement repeats rows on purpose.
        warnings.filterwarnings("ignore", message=r".*repeat an earlier \(N, D, loss\) row", category=DataWarning)
        resamples = [data.subset(i) for i in idx]
    fits = fit_all(resamples, settings, [seed + i for i in range(len(resamples))], pointwise=pointwise, method=method)
    if warn:
        warn_many(fits)
    return fits
