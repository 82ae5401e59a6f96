"""Backtests of accuracy forecasts: fit links on the small runs, score the forecasts of the large ones.

:func:`downstream_backtest` holds out every run with at least ``cutoff_N`` parameters, fits the loss law
(per group: :func:`bayescale.fit_many`) and the links (:func:`bayescale.fit_downstream`) on the rest, and
scores the predictive distribution of each held-out (run, task) score, and of the mean over a set of tasks
(e.g. Gadre et al.'s 17-task average), with :func:`score_draws`: absolute error of the median in accuracy
points, coverage of central intervals, CRPS (points). Held-out points share runs and tasks, so pooled rates
are not independent trials: :func:`cluster_mean` gives intervals from a bootstrap over clusters (tasks).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from bayescale.analyses.backtest import crps_from_draws
from bayescale.checks import check_probs
from bayescale.errors import CutoffError
from bayescale.fitting.batch import fit_many
from bayescale.fitting.downstream import fit_downstream
from bayescale.posterior.downstream import DownstreamFit
from bayescale.task_data import TaskData

__all__ = ["downstream_backtest", "score_draws", "cluster_mean", "split_by_size", "loss_fits_by_group"]


def score_draws(draws, observed, prob=(0.5, 0.9)) -> dict[str, np.ndarray]:
    """Scores of observations under predictive draws ``(S, m)``, in accuracy points (x 100).

    Returns ``median``, ``abs_error`` (points), ``crps`` (points) and per level ``lower_<p>``, ``upper_<p>``,
    ``covered_<p>`` (``p`` in percent).

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.analyses.downstream_backtest import score_draws
    >>> d = np.random.default_rng(0).normal(0.5, 0.01, size=(4000, 2))
    >>> s = score_draws(d, [0.5, 0.6])
    >>> s["covered_90"].tolist(), [round(float(v)) for v in s["abs_error"]]
    ([True, False], [0, 10])
    """
    x = np.asarray(draws, dtype=np.float64)
    y = np.asarray(observed, dtype=np.float64)
    out = {"median": np.median(x, axis=0)}
    out["abs_error"] = 100.0 * np.abs(out["median"] - y)
    out["crps"] = 100.0 * crps_from_draws(x, y)
    for level in check_probs(prob):
        lo, hi = np.quantile(x, [(1 - level) / 2, (1 + level) / 2], axis=0)
        tag = f"{100 * level:g}"
        out[f"lower_{tag}"], out[f"upper_{tag}"] = lo, hi
        out[f"covered_{tag}"] = (lo <= y) & (y <= hi)
    return out


def cluster_mean(values, clusters, *, n_boot: int = 2000, prob: float = 0.95, seed: int = 0) -> dict[str, float]:
    """Mean of ``values`` with a central interval from a bootstrap over ``clusters`` (resampled with
    replacement, all of a cluster's values together): what the mean would be over other tasks like these.

    Examples
    --------
    >>> from bayescale.analyses.downstream_backtest import cluster_mean
    >>> r = cluster_mean([1, 1, 0, 0, 1, 1], ["a", "a", "b", "b", "c", "c"], n_boot=500)
    >>> round(r["mean"], 3), r["lower"] <= r["mean"] <= r["upper"], r["clusters"]
    (0.667, True, 3)
    """
    values = np.asarray(values, dtype=np.float64)
    clusters = np.asarray(clusters)
    labels = np.unique(clusters)
    sums = np.array([values[clusters == c].sum() for c in labels])
    counts = np.array([(clusters == c).sum() for c in labels], dtype=np.float64)
    pick = np.random.default_rng(seed).integers(0, labels.size, size=(n_boot, labels.size))
    boot = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    lo, hi = np.quantile(boot, [(1 - prob) / 2, (1 + prob) / 2])
    return {"mean": float(values.mean()), "lower": float(lo), "upper": float(hi), "clusters": int(labels.size),
            "n": int(values.size)}


def split_by_size(task_data: TaskData, cutoff_N: float) -> tuple[TaskData, TaskData]:
    """Rows of runs with fewer than ``cutoff_N`` parameters (to fit) and the rest (to forecast)."""
    small = task_data.N < float(cutoff_N)
    if small.sum() == 0 or (~small).sum() == 0:
        raise CutoffError(f"cutoff_N={cutoff_N:.3g} leaves {int(small.sum())} rows to fit and {int((~small).sum())} to "
                          f"score; parameters range over {task_data.N.min():.3g} .. {task_data.N.max():.3g}")
    return task_data.subset(small), task_data.subset(~small)


def loss_fits_by_group(train: TaskData, seed: int = 0, **fit_kwargs) -> dict:
    """One loss fit per group of ``train``'s distinct runs (one per dataset without groups: key ``None``),
    all in one :func:`bayescale.fit_many` call when their lengths pad alike."""
    runs = train.loss_data()
    if runs.group is None:
        return {None: fit_many([runs], seed=seed, **fit_kwargs)[0]}
    groups = list(train.groups)
    fits = fit_many([runs.subset(runs.group == g) for g in groups], seed=seed, **fit_kwargs)
    return dict(zip(groups, fits))


def _score_unit(fit: DownstreamFit, unit_i: int, test: TaskData, prob, seed: int) -> list[dict]:
    """The held-out rows of one unit's task (and group), scored; a unit over all groups is asked per group."""
    u = fit.units[unit_i]
    out = []
    for g in ((u.group,) if u.group is not None else (test.groups or (None,))):
        rows = np.flatnonzero((test.task == u.task) & ((test.group == g) if g is not None else True))
        if rows.size == 0:
            continue
        pred = fit.predict_draws(N=test.N[rows], D=test.D[rows], task=u.task, group=g, seed=seed)["pred"]
        s = score_draws(pred, test.accuracy[rows], prob)
        out += [{"task": u.task, "group": g, "N": float(test.N[r]), "D": float(test.D[r]),
                 "observed": float(test.accuracy[r]), "at_chance": u.at_chance,
                 **{k: (bool(v[j]) if v.dtype == bool else float(v[j])) for k, v in s.items()}}
                for j, r in enumerate(rows)]
    return out


def _score_mean(fit: DownstreamFit, test: TaskData, tasks: Sequence[str], prob, seed: int) -> list[dict]:
    """The mean accuracy over ``tasks`` at each held-out run (per group), scored."""
    out = []
    for g in (test.groups or (None,)):
        in_g = (test.group == g) if g is not None else np.ones(test.n, bool)
        first = np.flatnonzero(in_g & (test.task == tasks[0]))
        N, D = test.N[first], test.D[first]
        observed = np.array([np.mean([test.accuracy[in_g & (test.task == t) & (test.N == n) & (test.D == d)][0]
                                      for t in tasks]) for n, d in zip(N, D)])
        pred = fit.mean_draws(N=N, D=D, tasks=tasks, group=g, seed=seed)["pred"]
        s = score_draws(pred, observed, prob)
        out += [{"task": "mean", "group": g, "N": float(n), "D": float(d), "observed": float(o), "at_chance": False,
                 **{k: (bool(v[j]) if v.dtype == bool else float(v[j])) for k, v in s.items()}}
                for j, (n, d, o) in enumerate(zip(N, D, observed))]
    return out


def downstream_backtest(task_data: TaskData, *, cutoff_N: float, method: str = "two_step",
                        mean_over: Sequence[str] | None = None, prob=(0.5, 0.9), seed: int = 0,
                        loss_fit=None, **fit_kwargs):
    """Fit on the runs below ``cutoff_N`` parameters, score the forecasts of the others.

    Two-step: the loss law is fitted per group (:func:`loss_fits_by_group`, unless ``loss_fit`` is given), the
    links per (task, group). One row per held-out (run, task) with the observed accuracy, the predictive
    median and intervals (with the benchmark's noise), ``abs_error`` and ``crps`` in points, and
    ``at_chance``; with ``mean_over``, rows with ``task="mean"`` score the mean accuracy over those tasks.
    ``fit_kwargs`` go to :func:`bayescale.fit_downstream` (and to the loss fits' sampler settings).

    Returns
    -------
    (pandas.DataFrame, DownstreamFit)
    """
    import pandas as pd

    prob = check_probs(prob)
    train, test = split_by_size(task_data, cutoff_N)
    if method == "two_step" and loss_fit is None:
        sampler = {k: v for k, v in fit_kwargs.items() if k in ("num_chains", "num_warmup", "num_samples")}
        loss_fit = loss_fits_by_group(train, seed=seed, **sampler)
        if None in loss_fit:
            loss_fit = loss_fit[None]
    fit = fit_downstream(train, loss_fit=loss_fit, method=method, seed=seed, **fit_kwargs)
    rows = [r for i in range(len(fit.units)) for r in _score_unit(fit, i, test, prob, seed)]
    if mean_over:
        rows += _score_mean(fit, test, list(mean_over), prob, seed)
    return pd.DataFrame(rows), fit
