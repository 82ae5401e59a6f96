"""Backtests on real scaling runs: bayescale's default fit beside the classic point fit with bootstrap intervals.

Three published sets of runs (cite them with the numbers):

- **Epoch** (Besiroglu et al. 2024, arXiv:2404.10102; Hoffmann et al. 2022, Fig. 4): Epoch's 5 highest-loss
  rows dropped (240 left); fit on C < 7.75e19 FLOPs (the log-midpoint between Chinchilla's 6e19 and 1e20
  IsoFLOP levels, as ``reliability.py``), test on the rest.
- **Porian** (Porian et al. 2024, arXiv:2406.19146): each of the 15 configurations fitted on all but its 3
  largest budgets, tested on those 3 (12 budgets, 11 for the three that count N the Kaplan way).
- **Li** (Li, Kudugunta & Zettlemoyer 2025, arXiv:2502.18969): best learning rate per (N, D); fit on
  N < 5e8 parameters, test on the larger models.

For every split and seed, in the same run:

- **bayescale**: ``bs.fit(train, seed=s)`` with the library's defaults (``--likelihood`` to change the noise
  model, ``--error-model`` the shared errors: ``extrapolation`` (the default), ``extrapolation:0.03``, ``independent``, ``offsets:C``, ``walk:C+offsets:C``, ``offsets:C,N``,
  ``walk:N,D`` ...; see :func:`parse_error_model`); forecasts are the posterior predictive (``fit.predict_draws(N, D, seed=s)["pred"]``): its
  median, its central 50% and 90% intervals, CRPS from the draws (``bs.crps_from_draws``).
- **classic** (Hoffmann et al. Approach 3 as Epoch AI replicated it): summed Huber loss (delta 1e-3) on log
  residuals, L-BFGS-B from a grid of starts (4,500 by default, ``--grid``), the best start polished to
  convergence; the point forecast is the law at the optimum. Intervals from a nonparametric bootstrap:
  resample the training rows, refit from the full-data optimum (one L-BFGS-B start, tolerances
  ftol = 1e-15, gtol = 1e-12: with SciPy's default ftol the refit stops at once, because the summed Huber
  loss is ~1e-3, and the interval of alpha on Epoch shrinks from 0.318-0.369 to 0.346-0.349); the
  predictive interval is the bootstrap quantiles of the law's prediction, and the CRPS is computed from
  those draws. That is what users of the peers get: an interval for the curve, with no noise term.

Per split, per dataset and pooled over all held-out points: n train / n test, extrapolation factor (largest
test C over largest training C), median |relative error| of the forecast median, bias (median signed
relative error), 50% and 90% coverage, pooled ones with a 95% cluster-bootstrap interval over splits
(:func:`cluster_interval`: the runs of one split share its posterior and discrepancy draws, so splits, not
runs, are resampled; one split gets no interval), mean CRPS (nats), and
bayescale's convergence (divergences, max R-hat, min bulk ESS over the law's parameters, converged).

``--min-tokens-per-param R`` fits both methods on the training runs with D / N >= R only (every split alike;
held-out runs are all scored). Default 4 (chosen on these backtests; 0: every run). Porian's sweeps reach D / N = 0.01 at small budgets
(a 900M-parameter model trained on 9M tokens, mostly warmup, loss 8-9), far outside where the law holds.

**Extrapolation discrepancy, held out**: with bs.fit's default error model (``bs.Extrapolation``, whose scale
was fitted on these backtests), each split is scored again with the scale fitted (:func:`discrepancy_mle`) on
the other splits' held-out errors only, and each dataset with the scale fitted on the other datasets only;
printed and saved (``discrepancy_cross_validation``) with the scale fitted on every split.

**Porian frontier check**: per configuration, does the 90% interval of N_opt at the largest held-out budget
(``fit.frontier(C)``; for the classic fit, bootstrap quantiles of the closed-form N_opt) contain the
empirical IsoFLOP minimum, the N of the lowest-loss run at that budget?

    PYTHONPATH=$PWD python benchmarks/real_backtests.py                  # every split, seed 0
    PYTHONPATH=$PWD python benchmarks/real_backtests.py --seeds 0 1 2
    PYTHONPATH=$PWD python benchmarks/real_backtests.py --quick           # smoke run: 3 splits, 4 starts
    PYTHONPATH=$PWD python benchmarks/real_backtests.py --splits epoch li porian:3
    PYTHONPATH=$PWD python benchmarks/real_backtests.py --error-model walk:C+offsets:C --target-accept 0.95 --bayescale-only
    PYTHONPATH=$PWD python benchmarks/real_backtests.py --min-tokens-per-param 4

Writes ``benchmarks/results/real_backtests.json`` (``real_backtests_quick.json`` with ``--quick``; folder
``--out``), machine information included. Data are read from ``../shared/data`` (``--data-dir``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, _grid_fit, _huber_objective, classic_grid, table, write_json  # noqa: E402

#: Epoch split: the log-midpoint between Chinchilla's IsoFLOP levels 6e19 and 1e20 FLOPs.
EPOCH_CUTOFF_C = 7.75e19
#: Li split: models with fewer parameters are fitted, the larger ones forecast.
LI_CUTOFF_N = 5e8
#: Gadre split: the runs up to 411M parameters are fitted, the 1.4B and 6.9B runs forecast.
GADRE_CUTOFF_N = 1e9
#: Porian split: the largest budgets of each configuration held out.
PORIAN_HELD_OUT = 3
LEVELS = (0.5, 0.9)
#: Training runs with fewer tokens per parameter are left out of both fits (``--min-tokens-per-param``).
MIN_TOKENS_PER_PARAM = 4.0
#: Tolerances of the bootstrap refits (see the module docstring).
BOOT_OPTIONS = {"ftol": 1e-15, "gtol": 1e-12, "maxiter": 15000}
#: The error model of bs.fit's default (``--error-model``): the results file without a suffix holds its run.
DEFAULT_ERROR_MODEL = "extrapolation"
GRIDS = {"full": "4,500 starts (Epoch AI's grid)", "small": "4 starts (a, b in {5, 10}; e, alpha, beta = 0.5)"}


@dataclasses.dataclass
class Split:
    name: str
    dataset: str
    train: object  # ScalingData
    test: object
    frontier_C: float | None = None  # Porian: the largest held-out budget
    frontier_N_emp: float | None = None  # ... and the N of the lowest-loss run there


# ---------------------------------------------------------------- splits
def epoch_splits(data_dir: Path) -> list[Split]:
    import bayescale as bs

    data = bs.datasets.load_chinchilla(data_dir, drop_outliers=True)
    train = data.C < EPOCH_CUTOFF_C
    return [Split("epoch", "epoch", data.subset(train), data.subset(~train))]


def porian_splits(data_dir: Path, which: list[int] | None = None) -> list[Split]:
    import bayescale as bs

    df = bs.datasets.load_porian(data_dir, as_frame=True)
    labels = list(dict.fromkeys(df["config"]))
    out = []
    for i, label in enumerate(labels):
        if which is not None and i not in which:
            continue
        g = df[df["config"] == label]
        budgets = np.sort(g["flops"].unique())
        held = g["flops"].to_numpy() >= budgets[-PORIAN_HELD_OUT]
        top = g[g["flops"] == budgets[-1]]
        n_emp = float(top["N"].to_numpy()[np.argmin(top["loss"].to_numpy())])
        to_data = lambda part: bs.ScalingData.from_frame(part, N="N", D="D", loss="loss")  # noqa: E731
        out.append(Split(f"porian:{i} {label}", "porian", to_data(g[~held]), to_data(g[held]),
                         frontier_C=float(budgets[-1]), frontier_N_emp=n_emp))
    return out


def li_splits(data_dir: Path) -> list[Split]:
    import bayescale as bs

    data = bs.datasets.load_li(data_dir, best_lr=True)
    train = data.N < LI_CUTOFF_N
    return [Split("li", "li", data.subset(train), data.subset(~train))]


def gadre_splits(data_dir: Path, which: list[str] | None = None) -> list[Split]:
    """One split per training set (C4, RedPajama, RefinedWeb), loss on C4's validation set: fit on the runs up
    to 411M parameters, forecast the 1.4B and 6.9B runs, as Gadre et al. (2024) do."""
    import bayescale as bs

    out = []
    for name in bs.datasets.GADRE_TRAINING_SETS if which is None else which:
        data = bs.datasets.load_gadre(data_dir, val_set="c4_val", training_set=name)
        data = bs.ScalingData.from_arrays(N=data.N, D=data.D, loss=data.loss)
        train = data.N < GADRE_CUTOFF_N
        out.append(Split(f"gadre:{name}", "gadre", data.subset(train), data.subset(~train)))
    return out


def make_splits(data_dir: Path, names: list[str]) -> list[Split]:
    """``names``: 'epoch', 'li', 'porian' (all 15), 'porian:<i>' (one configuration, 0-based), 'gadre' (its three
    training sets) or 'gadre:<training set>'."""
    out: list[Split] = []
    porian = [n for n in names if n.startswith("porian")]
    for name in names:
        if name == "epoch":
            out += epoch_splits(data_dir)
        elif name == "li":
            out += li_splits(data_dir)
        elif name == "gadre" or name.startswith("gadre:"):
            out += gadre_splits(data_dir, None if name == "gadre" else [name.split(":", 1)[1]])
        elif not name.startswith("porian"):
            raise SystemExit(f"unknown split {name!r}: choose from epoch, li, porian, porian:<0..14>, gadre, "
                             "gadre:<c4_original|rpj|rw_original>")
    if porian:
        which = None if "porian" in porian else sorted({int(n.split(":", 1)[1]) for n in porian})
        out += porian_splits(data_dir, which)
    return out


def trained_only(splits: list[Split], min_tokens_per_param: float) -> list[Split]:
    """The splits with training runs of ``D / N >= min_tokens_per_param`` only (held-out runs untouched)."""
    if min_tokens_per_param <= 0:
        return splits
    out = []
    for sp in splits:
        keep = np.flatnonzero(sp.train.D / sp.train.N >= min_tokens_per_param)
        if keep.size < 10:
            raise SystemExit(f"split {sp.name}: only {keep.size} training runs have D / N >= {min_tokens_per_param}")
        out.append(dataclasses.replace(sp, train=sp.train.subset(keep)))
    return out


# ---------------------------------------------------------------- scoring
def _points(median: np.ndarray, draws: np.ndarray, y: np.ndarray) -> dict:
    """Per held-out run: forecast median, interval bounds, hits, relative error and CRPS."""
    import bayescale as bs

    out = {"median": median, "rel_error": (median - y) / y, "crps": np.asarray(bs.crps_from_draws(draws, y))}
    for level in LEVELS:
        lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
        pct = f"{100 * level:g}"
        out[f"lower_{pct}"], out[f"upper_{pct}"] = lo, hi
        out[f"in_{pct}"] = (lo <= y) & (y <= hi)
    return out


#: Bootstrap resamples of the splits behind each pooled coverage interval (:func:`cluster_interval`).
CLUSTER_BOOT = 10_000


def cluster_interval(hits: list[np.ndarray], clusters: list | None = None, level: float = 0.95,
                     n_boot: int = CLUSTER_BOOT, seed: int = 0) -> list[float] | None:
    """Percentile interval of a pooled coverage when whole splits, not runs, are resampled (a cluster bootstrap).

    The held-out runs of one split share its posterior and its discrepancy draws, so they are not independent
    (a Clopper-Pearson interval over runs treats them as if they were); splits are fitted apart. ``hits``: one
    boolean array per split (``clusters`` names the split of each, when a split appears once per seed). Fewer
    than two clusters: ``None`` (no interval from one split).

    >>> cluster_interval([np.ones(10, bool), np.zeros(10, bool)])     # two splits: 0, 0.5 or 1
    [0.0, 1.0]
    """
    labels = list(range(len(hits))) if clusters is None else list(clusters)
    names = list(dict.fromkeys(labels))
    if len(names) < 2:
        return None
    h = np.array([sum(int(np.sum(x)) for x, c in zip(hits, labels) if c == k) for k in names], dtype=np.float64)
    n = np.array([sum(np.size(x) for x, c in zip(hits, labels) if c == k) for k in names], dtype=np.float64)
    w = np.random.default_rng(seed).multinomial(len(names), np.full(len(names), 1.0 / len(names)), size=n_boot)
    cov = (w @ h) / (w @ n)
    return [float(v) for v in np.quantile(cov, [(1 - level) / 2, (1 + level) / 2])]


def summarize(points: list[dict], clusters: list | None = None) -> dict:
    """Scores pooled over the held-out runs of one or more splits (one dict of points per split); coverage
    intervals from :func:`cluster_interval` (``None`` for a single split)."""
    cat = {k: np.concatenate([np.asarray(p[k]) for p in points]) for k in ("rel_error", "crps", "in_50", "in_90")}
    n = int(cat["rel_error"].size)
    out = {"n_test": n, "median_abs_rel_error": float(np.median(np.abs(cat["rel_error"]))),
           "bias": float(np.median(cat["rel_error"])), "crps": float(np.mean(cat["crps"]))}
    for pct in ("50", "90"):
        out[f"coverage_{pct}"] = int(cat[f"in_{pct}"].sum()) / n
        out[f"coverage_{pct}_ci"] = cluster_interval([np.asarray(p[f"in_{pct}"]) for p in points], clusters)
    return out


def coverage_text(s: dict, pct: str) -> str:
    """``0.43 [0.35, 0.52]`` (the cluster-bootstrap interval), or the coverage alone for one split."""
    ci = s[f"coverage_{pct}_ci"]
    return f"{s[f'coverage_{pct}']:.2f}" + ("" if ci is None else f" [{ci[0]:.2f}, {ci[1]:.2f}]")


# ---------------------------------------------------------------- the two methods
def parse_error_model(text: str):
    """``learned_extrapolation[:prior]``, ``extrapolation[:PER_DECADE]``, ``independent``, ``offsets[:AXES]``,
    ``walk[:AXES][+offsets:AXES]`` (AXES: comma-separated C, N, D) -> a bayescale error model; ``offsets`` and
    ``walk`` alone are ``bs.Offsets()`` and ``bs.RandomWalk()``; ``learned_extrapolation:prior`` is
    ``bs.LearnedExtrapolation(learn_from_data=False)``.

    >>> parse_error_model("walk:N,D+offsets:C").label
    'walk(N,D)+offsets(C)'
    >>> parse_error_model("extrapolation:0.03").label
    'extrapolation(C, 0.03/sqrt(decade))'
    """
    import bayescale as bs

    if text in ("learned_extrapolation", "learned"):
        return bs.LearnedExtrapolation()
    if text in ("learned_extrapolation:prior", "learned:prior"):
        return bs.LearnedExtrapolation(learn_from_data=False)
    if text.split(":", 1)[0] == "extrapolation":
        scale = text.split(":", 1)[1] if ":" in text else ""
        return bs.Extrapolation(per_decade=float(scale)) if scale else bs.Extrapolation()
    parts = dict((p.split(":", 1) + [""])[:2] for p in text.split("+"))
    axes = {k: tuple(a for a in v.split(",") if a) for k, v in parts.items()}
    if set(axes) == {"independent"}:
        return bs.Independent()
    if set(axes) == {"offsets"}:
        return bs.Offsets(by=axes["offsets"]) if axes["offsets"] else bs.Offsets()
    if "walk" in axes and set(axes) <= {"walk", "offsets"}:
        kw = {"by": axes["walk"]} if axes["walk"] else {}
        if "offsets" in axes:
            kw["offsets"] = axes["offsets"]  # "walk:C+offsets:" -> no offsets
        return bs.RandomWalk(**kw)
    raise SystemExit(f"unknown --error-model {text!r}: e.g. extrapolation, extrapolation:0.03, independent, offsets:C, offsets:C,N, walk:C+offsets:C, walk:N,D")


def run_bayescale(split: Split, seed: int, args) -> dict:
    import bayescale as bs

    kw = {"seed": seed, "model": bs.ScalingModel(likelihood=args.likelihood,
                                                 error_model=parse_error_model(args.error_model))}
    if args.warmup is not None:
        kw["num_warmup"] = args.warmup
    if args.draws is not None:
        kw["num_samples"] = args.draws
    if args.target_accept is not None:
        kw["target_accept"] = args.target_accept
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = bs.fit(split.train, **kw)
        wall = time.perf_counter() - t0
        test = split.test
        t1 = time.perf_counter()
        draws = fit.predict_draws(N=test.N, D=test.D, seed=seed)["pred"]
        forecast_s = time.perf_counter() - t1  # with the learned discrepancy: its rolling-origin refits
        pts = _points(np.median(draws, axis=0), draws, test.loss)
        cv, learned = None, None
        em = fit.model.error_model
        if isinstance(em, bs.LearnedExtrapolation):  # for cross_validate_learned: the fit, its forecast
            learned = {"_fit": fit, "_draws": draws}
        if isinstance(em, bs.Extrapolation):  # for cross_validate_discrepancy: law + noise, and a unit discrepancy
            cov = {"C": test.C, "N": test.N, "D": test.D}  # the same seed gives the draws predict_draws added
            cv = {"base_log": np.log(draws) - em.draws(fit, cov, seed),
                  "unit": dataclasses.replace(em, per_decade=0.5).draws(fit, cov, seed + 1) / 0.5,
                  "decades": _decades_beyond(np.log10(getattr(test, em.by)), np.log10(getattr(split.train, em.by)))}
        front = None
        if split.frontier_C is not None:
            f = fit.frontier(C=split.frontier_C, prob=0.9).iloc[0]
            lo, hi = float(f["N_opt_lower"]), float(f["N_opt_upper"])
            front = {"median": float(f["N_opt_median"]), "lower": lo, "upper": hi,
                     "contains": bool(lo <= split.frontier_N_emp <= hi)}
    d = fit.diagnostics
    post = fit.draws()
    return {
        "wall_s": wall, "forecast_s": forecast_s, "points": pts, "frontier": front, "_cv": cv, **(learned or {}),
        "diagnostics": {"divergences": int(d.n_divergent), "max_rhat": float(max(d.rhat.values())),
                        "min_ess_bulk": float(min(d.ess_bulk.values())), "converged": bool(fit.converged),
                        "mean_steps": float(d.mean_steps)},
        "posterior_median": {k: float(np.median(v)) for k, v in post.items() if np.ndim(v) == 1},
        "warnings": sorted({f"{w.category.__name__}: {str(w.message)[:300]}" for w in caught}),
    }


def _decades_beyond(x: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Distance of each log10 value ``x`` outside the range of ``train``, in decades (0 inside)."""
    return np.maximum(train.min() - x, 0.0) + np.maximum(x - train.max(), 0.0)


def discrepancy_mle(resid: np.ndarray, sd: np.ndarray, decades: np.ndarray) -> float:
    """Maximum-likelihood Brownian scale ``t`` of forecast errors: ``resid ~ Normal(0, sd**2 + t**2 * decades)``.

    ``resid``: log observed minus the median of the discrepancy-free forecast; ``sd``: that forecast's
    standard deviation (law and noise, normal approximation); ``decades``: distance beyond the training range.

    >>> rng = np.random.default_rng(0)
    >>> d = rng.uniform(0.3, 2.0, 4000)
    >>> round(discrepancy_mle(rng.normal(0.0, np.sqrt(0.01**2 + 0.02**2 * d)), np.full(d.size, 0.01), d), 3)
    0.02
    """
    from scipy.optimize import minimize_scalar

    def nll(log_t):
        v = sd**2 + np.exp(2.0 * log_t) * decades
        return 0.5 * float(np.sum(np.log(v) + resid**2 / v))

    return float(np.exp(minimize_scalar(nll, bounds=(np.log(1e-5), np.log(0.5)), method="bounded").x))


def cross_validate_discrepancy(records: list[dict], splits: dict) -> dict | None:
    """Held-out scores of the Extrapolation discrepancy's scale: each split (and each dataset) scored with
    the scale fitted, by :func:`discrepancy_mle`, on the other splits' (datasets') held-out errors only."""
    recs = [r for r in records if r["bayescale"].get("_cv") is not None]
    if len(recs) < 2:
        return None
    stats = []
    for r in recs:
        cv = r["bayescale"]["_cv"]
        y = np.log(splits[r["split"]].test.loss)
        stats.append((y - np.median(cv["base_log"], axis=0), np.std(cv["base_log"], axis=0), cv["decades"]))
    cat = lambda idx: tuple(np.concatenate([stats[i][k] for i in idx]) for k in range(3))  # noqa: E731
    everything = discrepancy_mle(*cat(range(len(recs))))
    out = {"mle_all_splits": everything, "folds": {}}
    for fold, key in (("leave_one_split_out", "split"), ("leave_one_dataset_out", "dataset")):
        points, rows, groups = [], [], {}
        for group in dict.fromkeys(r[key] for r in recs):
            inside = [i for i, r in enumerate(recs) if r[key] == group]
            t = discrepancy_mle(*cat([i for i in range(len(recs)) if i not in inside]))
            mine = []
            for i in inside:
                cv = recs[i]["bayescale"]["_cv"]
                draws = np.exp(cv["base_log"] + t * cv["unit"])
                pts = _points(np.median(draws, axis=0), draws, splits[recs[i]["split"]].test.loss)
                points.append(pts)
                mine.append(pts)
                rows.append({"split": recs[i]["split"], "seed": recs[i]["seed"], "held_out": group, "per_decade": t,
                             **summarize([pts])})
            groups[group] = {"per_decade": t, **summarize(mine)}
        out["folds"][fold] = {"pooled": summarize(points), "groups": groups, "rows": rows}
    return out


def _law(p: np.ndarray, logN: np.ndarray, logD: np.ndarray) -> np.ndarray:
    """The Chinchilla law at parameters ``p`` = (a, b, e, alpha, beta), rows of p broadcast over points."""
    a, b, e, alpha, beta = (np.asarray(p)[..., k, None] for k in range(5))
    t = np.stack(np.broadcast_arrays(a - alpha * logN, b - beta * logD, e))
    return np.exp(np.logaddexp.reduce(t, axis=0))


def _n_opt(p: np.ndarray, C: float) -> np.ndarray:
    """Closed-form compute-optimal N at budget C (SCIENCE.md), per row of p = (a, b, e, alpha, beta)."""
    a, b, _, alpha, beta = np.asarray(p, dtype=np.float64).T
    with np.errstate(all="ignore"):
        G = (alpha * np.exp(a) / (beta * np.exp(b))) ** (1.0 / (alpha + beta))
        return G * (C / 6.0) ** (beta / (alpha + beta))


def classic_point_fit(split: Split, grid) -> dict:
    """The grid fit on the training runs (deterministic: computed once per split, whatever the seed)."""
    tr = split.train
    logN, logD, logL = np.log(tr.N), np.log(tr.D), np.log(tr.loss)
    f = _huber_objective()
    t0 = time.perf_counter()
    best, _ = _grid_fit(f, logN, logD, logL, grid)
    best, val = _grid_fit(f, logN, logD, logL, [best], BOOT_OPTIONS)  # polish the winner
    return {"params": best, "huber_sum": float(val), "grid_s": time.perf_counter() - t0, "starts": len(grid)}


def run_classic(split: Split, point: dict | None, seed: int, args) -> dict | None:
    if point is None:  # --bayescale-only
        return None
    tr, test = split.train, split.test
    logN, logD, logL = np.log(tr.N), np.log(tr.D), np.log(tr.loss)
    f = _huber_objective()
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    boots = []
    for _ in range(args.resamples):
        i = rng.integers(0, tr.n, tr.n)
        boots.append(_grid_fit(f, logN[i], logD[i], logL[i], [point["params"]], BOOT_OPTIONS)[0])
    boots = np.asarray(boots)
    boot_s = time.perf_counter() - t0
    tN, tD = np.log(test.N), np.log(test.D)
    draws = _law(boots, tN, tD)
    pts = _points(_law(point["params"], tN, tD), draws, test.loss)
    front = None
    if split.frontier_C is not None:
        n_boot = _n_opt(boots, split.frontier_C)
        lo, hi = (float(v) for v in np.nanquantile(n_boot, [0.05, 0.95]))
        front = {"median": float(_n_opt(point["params"][None, :], split.frontier_C)[0]), "lower": lo, "upper": hi,
                 "contains": bool(lo <= split.frontier_N_emp <= hi)}
    a, b, e, alpha, beta = point["params"]
    return {
        "wall_s": point["grid_s"] + boot_s, "grid_s": point["grid_s"], "boot_s": boot_s, "starts": point["starts"],
        "resamples": args.resamples, "points": pts, "frontier": front,
        "point": {"E": float(np.exp(e)), "A": float(np.exp(a)), "B": float(np.exp(b)), "alpha": float(alpha),
                  "beta": float(beta)},
        "huber_sum": point["huber_sum"],
        "boot_alpha_90": [float(v) for v in np.quantile(boots[:, 3], [0.05, 0.95])],
    }


# ---------------------------------------------------------------- report
def _row(label: str, method: str, s: dict, r: dict | None, split: Split | None) -> dict:
    row = {"split": label, "method": method, "n": f"{split.train.n}/{s['n_test']}" if split else f"-/{s['n_test']}",
           "extrap": float(split.test.C.max() / split.train.C.max()) if split else None,
           "mare": 100 * s["median_abs_rel_error"], "bias": 100 * s["bias"], "crps": s["crps"]}
    for pct in ("50", "90"):
        row[f"cov{pct}"] = coverage_text(s, pct)
    if r is not None:
        row["wall"] = r["wall_s"]
        d = r.get("diagnostics")
        if d is not None:
            row.update(div=str(d["divergences"]), rhat=d["max_rhat"], ess=d["min_ess_bulk"],
                       conv="yes" if d["converged"] else "NO")
    return row


COLUMNS = [("split", "split", ""), ("method", "method", ""), ("n", "train/test", ""), ("extrap", "C extrap", ".3g"),
           ("mare", "med abs rel err %", ".2f"), ("bias", "bias %", "+.2f"), ("cov50", "cov 50% [95% split bootstrap]", ""),
           ("cov90", "cov 90% [95% split bootstrap]", ""), ("crps", "CRPS", ".4f"), ("div", "div", ""), ("rhat", "max R-hat", ".3f"),
           ("ess", "min ESS", ".0f"), ("conv", "conv", ""), ("wall", "wall s", ".1f")]


def _pooled(records: list[dict], method: str) -> dict:
    out = summarize([r[method]["points"] for r in records], [r["split"] for r in records])
    if method == "bayescale":
        ds = [r[method]["diagnostics"] for r in records]
        out["diagnostics"] = {"divergences": int(sum(d["divergences"] for d in ds)),
                              "max_rhat": float(max(d["max_rhat"] for d in ds)),
                              "min_ess_bulk": float(min(d["min_ess_bulk"] for d in ds)),
                              "converged": f"{sum(d['converged'] for d in ds)}/{len(ds)}"}
    return out


def rescore(path: Path) -> dict:
    """Recompute the coverage intervals of a saved results file with :func:`cluster_interval` (files written
    before it held Clopper-Pearson intervals over runs): pooled rows from their splits' points, the
    cross-validation rows from each split's hits; single splits get none. Rewrites the file in place."""
    import json

    payload = json.loads(Path(path).read_text())
    recs = payload["splits"]
    methods = [m for m in ("bayescale", "classic") if m in recs[0]]
    for rec in recs:
        for m in methods:
            for pct in ("50", "90"):
                rec[m]["summary"][f"coverage_{pct}_ci"] = None
    for label, res in payload["pooled"].items():
        mine = recs if label == "all (pooled)" else [r for r in recs if f"{r['dataset']} (pooled)" == label]
        for m in methods:
            fresh = summarize([{k: np.asarray(v) for k, v in r[m]["points"].items()} for r in mine],
                              [r["split"] for r in mine])
            res[m].update({k: fresh[k] for k in ("coverage_50_ci", "coverage_90_ci")})
    cv = payload.get("discrepancy_cross_validation")
    for fold in (cv or {}).get("folds", {}).values():
        hits = {pct: [np.arange(r["n_test"]) < round(r[f"coverage_{pct}"] * r["n_test"]) for r in fold["rows"]]
                for pct in ("50", "90")}
        for pct in ("50", "90"):
            fold["pooled"][f"coverage_{pct}_ci"] = cluster_interval(hits[pct], [r["split"] for r in fold["rows"]])
            for g, res in fold["groups"].items():
                idx = [i for i, r in enumerate(fold["rows"]) if r["held_out"] == g]
                res[f"coverage_{pct}_ci"] = cluster_interval([hits[pct][i] for i in idx],
                                                             [fold["rows"][i]["split"] for i in idx])
            for r in fold["rows"]:
                r[f"coverage_{pct}_ci"] = None
    payload.setdefault("settings", {})["coverage_intervals"] = (
        f"95% cluster bootstrap over splits ({CLUSTER_BOOT} resamples; rescored from the saved points)")
    Path(path).write_text(json.dumps(payload, indent=2, default=float))
    return payload


def print_learned_cross_validation(learned: dict) -> None:
    """In-sample rows (the shipped corpus prior, learned from every dataset) beside held-out ones (the prior
    relearned without the dataset scored), per dataset and pooled."""
    print("\nLearned discrepancy, in-sample (corpus prior from all datasets) and leave one dataset out (prior "
          "learned from the other datasets; each sweep's own rolling-origin forecasts in both)\n")
    rows = []
    for ds, held in [*learned["datasets"].items(), ("all", learned["pooled"])]:
        for label, s_ in (("in-sample", learned["in_sample"][ds]), ("held out", held)):
            rows.append({"ds": ds, "how": label, "n": s_["n_test"], "mare": 100 * s_["median_abs_rel_error"],
                         "bias": 100 * s_["bias"], "crps": s_["crps"], "cov50": coverage_text(s_, "50"),
                         "cov90": coverage_text(s_, "90")})
    print(table(rows, [("ds", "dataset", ""), ("how", "prior", ""), ("n", "n test", ""),
                       ("mare", "med abs rel err %", ".2f"), ("bias", "bias %", "+.2f"),
                       ("cov50", "cov 50% [95% split bootstrap]", ""), ("cov90", "cov 90% [95% split bootstrap]", ""),
                       ("crps", "CRPS", ".4f")]))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="bayescale fit seeds (and bootstrap seeds)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: splits epoch, li, porian:3 (unless --splits), small grid, 20 resamples, 300+300 draws")
    p.add_argument("--splits", nargs="+", default=None,
                   help="epoch, li, porian (all 15), porian:<i>, gadre (its 3 training sets), gadre:<set> (default: all)")
    p.add_argument("--likelihood", default="student_t", help="bayescale's noise model: student_t (default), normal, huber")
    p.add_argument("--error-model", default=DEFAULT_ERROR_MODEL,
                   help=f"bayescale's shared errors: {DEFAULT_ERROR_MODEL} (bs.fit's default), learned_extrapolation, "
                        "learned_extrapolation:prior, extrapolation:0.03, independent, offsets:C, walk:C+offsets:C, offsets:C,N, walk:N,D ...")
    p.add_argument("--bayescale-only", action="store_true", help="skip the classic fit (to compare bayescale variants)")
    p.add_argument("--grid", choices=sorted(GRIDS), default=None, help="classic fit's starts: full (default) or small")
    p.add_argument("--resamples", type=int, default=None, help="bootstrap resamples of the classic fit (default 400)")
    p.add_argument("--warmup", type=int, default=None, help="bayescale num_warmup (default: bs.fit's)")
    p.add_argument("--draws", type=int, default=None, help="bayescale num_samples (default: bs.fit's)")
    p.add_argument("--target-accept", type=float, default=None, help="bayescale target_accept (default: bs.fit's)")
    p.add_argument("--min-tokens-per-param", type=float, default=MIN_TOKENS_PER_PARAM,
                   help=f"fit on training runs with D / N at least this (default {MIN_TOKENS_PER_PARAM:g}; 0: every run); "
                        "held-out runs all scored")
    p.add_argument("--data-dir", default=str(SHARED_DATA), help="folder with the three CSV files (../shared/data)")
    p.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    p.add_argument("--rescore", default=None, metavar="JSON",
                   help="recompute the coverage intervals of a saved results file (cluster bootstrap over splits) and exit")
    args = p.parse_args(argv)
    if args.rescore:
        rescore(Path(args.rescore))
        print(f"rescored {args.rescore}")
        return {}
    args.splits = args.splits or (["epoch", "li", "porian:3"] if args.quick else ["epoch", "porian", "li", "gadre"])
    args.grid = args.grid or ("small" if args.quick else "full")
    args.resamples = args.resamples if args.resamples is not None else (20 if args.quick else 400)
    if args.quick:
        args.warmup = args.warmup if args.warmup is not None else 300
        args.draws = args.draws if args.draws is not None else 300
    data_dir = Path(args.data_dir)
    if not data_dir.is_dir():
        raise SystemExit(f"no data folder {data_dir}: the real-data CSV files live in ../shared/data (--data-dir)")

    t_start = time.perf_counter()
    splits = trained_only(make_splits(data_dir, args.splits), args.min_tokens_per_param)
    grid = classic_grid(small=args.grid == "small")
    records = []
    methods = ("bayescale",) if args.bayescale_only else ("bayescale", "classic")
    for split in splits:
        point = None if args.bayescale_only else classic_point_fit(split, grid)
        for seed in args.seeds:
            rec = {"split": split.name, "dataset": split.dataset, "seed": seed, "n_train": split.train.n,
                   "n_test": split.test.n, "extrapolation": float(split.test.C.max() / split.train.C.max()),
                   "frontier_C": split.frontier_C, "frontier_N_emp": split.frontier_N_emp,
                   "bayescale": run_bayescale(split, seed, args), "classic": run_classic(split, point, seed, args)}
            for m in methods:
                rec[m]["summary"] = summarize([rec[m]["points"]])
            records.append(rec)
            if args.bayescale_only:
                del rec["classic"]
            b, c = rec["bayescale"], rec.get("classic")
            print(f"  {split.name} seed {seed}: bayescale {b['wall_s']:.1f} s + forecast {b['forecast_s']:.1f} s (converged {b['diagnostics']['converged']}, "
                  f"90% {b['summary']['coverage_90']:.2f}, 50% {b['summary']['coverage_50']:.2f}, "
                  f"mare {100 * b['summary']['median_abs_rel_error']:.2f}%)"
                  + (f", classic grid {c['grid_s']:.1f} s + bootstrap {c['boot_s']:.1f} s" if c else ""),
                  file=sys.stderr, flush=True)
    wall = time.perf_counter() - t_start

    by_name = {s.name: s for s in splits}
    rows = []
    for rec in records:
        label = rec["split"] if len(args.seeds) == 1 else f"{rec['split']} (seed {rec['seed']})"
        for m in methods:
            rows.append(_row(label, m, rec[m]["summary"], rec[m], by_name[rec["split"]]))
    pooled = {}
    groups = {f"{ds} (pooled)": [r for r in records if r["dataset"] == ds] for ds in dict.fromkeys(r["dataset"] for r in records)}
    groups = {k: v for k, v in groups.items() if len(v) > 1}
    groups["all (pooled)"] = records
    for label, recs in groups.items():
        pooled[label] = {m: _pooled(recs, m) for m in methods}
        for m in methods:
            s = pooled[label][m]
            row = _row(label, m, s, {"wall_s": sum(r[m]["wall_s"] for r in recs), "diagnostics": s.get("diagnostics")}
                       if m == "bayescale" else {"wall_s": sum(r[m]["wall_s"] for r in recs)}, None)
            if m == "bayescale":
                row["div"], row["conv"] = str(s["diagnostics"]["divergences"]), s["diagnostics"]["converged"]
            rows.append(row)

    print(f"\nReal-data backtests: bayescale (bs.fit defaults, likelihood={args.likelihood}, "
          f"error model {parse_error_model(args.error_model).label}"
          f"{'' if args.warmup is None else f', {args.warmup}+{args.draws} draws'}"
          f"{'' if not args.min_tokens_per_param else f'; training runs with D/N >= {args.min_tokens_per_param:g}'}) vs classic (summed Huber, "
          f"L-BFGS-B, {GRIDS[args.grid]}, bootstrap {args.resamples} resamples); seeds {args.seeds}\n")
    print(table(rows, COLUMNS))

    frontier = []
    for rec in records:
        if rec["frontier_C"] is None:
            continue
        b = rec["bayescale"]["frontier"]
        c = rec["classic"]["frontier"] if "classic" in rec else {"median": np.nan, "lower": np.nan, "upper": np.nan,
                                                                  "contains": False}
        frontier.append({"split": rec["split"] if len(args.seeds) == 1 else f"{rec['split']} (seed {rec['seed']})",
                         "seed": rec["seed"], "C": rec["frontier_C"], "N_emp": rec["frontier_N_emp"],
                         "bs": f"{b['median']:.3g} [{b['lower']:.3g}, {b['upper']:.3g}]", "bs_in": "yes" if b["contains"] else "no",
                         "cl": f"{c['median']:.3g} [{c['lower']:.3g}, {c['upper']:.3g}]", "cl_in": "yes" if c["contains"] else "no",
                         "bayescale": b, "classic": c})
    counts = {}
    if frontier:
        print("\nPorian frontier check: does the 90% interval of N_opt at the largest held-out budget contain the "
              "empirical IsoFLOP minimum (N of the lowest-loss run there)?\n")
        print(table(frontier, [("split", "configuration", ""), ("C", "C", ".3g"), ("N_emp", "empirical N_opt", ".3g"),
                               ("bs", "bayescale N_opt median [90%]", ""), ("bs_in", "contains", ""),
                               ("cl", "classic N_opt point [90% bootstrap]", ""), ("cl_in", "contains", "")]))
        counts = {m: sum(f[m]["contains"] for f in frontier) for m in methods}
        print(f"\ncontained: bayescale {counts['bayescale']}/{len(frontier)}"
              + ("" if args.bayescale_only else f", classic {counts['classic']}/{len(frontier)}"))
    cv = cross_validate_discrepancy(records, by_name)
    if cv is not None:
        print(f"\nExtrapolation discrepancy, held out: each split (dataset) forecast with the scale per sqrt(decade) "
              f"fitted on the other splits' (datasets') errors only. Fitted on every split: {cv['mle_all_splits']:.4f} "
              f"(this run's: {parse_error_model(args.error_model).per_decade:g})\n")
        cv_rows = []
        for fold, res in cv["folds"].items():
            scales = [g["per_decade"] for g in res["groups"].values()]
            for label, s_ in [("all (pooled)", res["pooled"]), *((g, v) for g, v in res["groups"].items()
                                                                 if fold == "leave_one_dataset_out")]:
                t = f"{min(scales):.4f}-{max(scales):.4f}" if label == "all (pooled)" else f"{s_['per_decade']:.4f}"
                cv_rows.append({"fold": fold.replace("_", " "), "test": label, "scale": t, "n": s_["n_test"],
                                "mare": 100 * s_["median_abs_rel_error"], "crps": s_["crps"],
                                **{f"cov{q}": coverage_text(s_, q) for q in ("50", "90")}})
        print(table(cv_rows, [("fold", "held out", ""), ("test", "scored", ""), ("scale", "scale(s) used", ""),
                              ("n", "n test", ""), ("mare", "med abs rel err %", ".2f"), ("cov50", "cov 50% [95% split bootstrap]", ""),
                              ("cov90", "cov 90% [95% split bootstrap]", ""), ("crps", "CRPS", ".4f")]))
    import bayescale as bs

    learned = None
    if isinstance(parse_error_model(args.error_model), bs.LearnedExtrapolation):
        from discrepancy_prior import cross_validate_learned

        learned = cross_validate_learned(records, by_name)
    if learned is not None:
        print_learned_cross_validation(learned)
    print(f"\ntotal wall time {wall:.0f} s")

    def _jsonable(rec):
        out = dict(rec)
        for m in methods:
            out[m] = {k: v for k, v in rec[m].items() if not k.startswith("_")}
            out[m]["points"] = {k: np.asarray(v).tolist() for k, v in rec[m]["points"].items()}
        split = by_name[rec["split"]]
        out["test"] = {"N": split.test.N.tolist(), "D": split.test.D.tolist(), "loss": split.test.loss.tolist()}
        return out

    payload = {
        "settings": {"coverage_intervals": f"95% cluster bootstrap over splits ({CLUSTER_BOOT} resamples)", "seeds": args.seeds, "quick": args.quick, "splits": args.splits, "likelihood": args.likelihood,
                     "error_model": parse_error_model(args.error_model).to_dict(), "bayescale_only": args.bayescale_only,
                     "grid": args.grid, "starts": len(grid), "resamples": args.resamples, "warmup": args.warmup,
                     "draws": args.draws, "target_accept": args.target_accept,
                     "min_tokens_per_param": args.min_tokens_per_param, "levels": list(LEVELS), "epoch_cutoff_C": EPOCH_CUTOFF_C,
                     "li_cutoff_N": LI_CUTOFF_N, "porian_held_out_budgets": PORIAN_HELD_OUT, "boot_options": BOOT_OPTIONS},
        "wall_s": wall,
        "splits": [_jsonable(r) for r in records],
        "pooled": pooled,
        "discrepancy_cross_validation": cv,
        "learned_discrepancy_cross_validation": learned,
        "frontier_check": {"rows": [{k: v for k, v in f.items() if k not in ("bs", "bs_in", "cl", "cl_in")} for f in frontier],
                           "contained": counts, "configurations": len(frontier)},
    }
    suffix = "" if args.error_model == DEFAULT_ERROR_MODEL else "_" + parse_error_model(args.error_model).label.translate(
        str.maketrans({"(": "_", ")": "", ",": "", "+": "_", " ": "", "/": "per"}))
    if args.min_tokens_per_param != MIN_TOKENS_PER_PARAM:
        suffix += f"_tpp{args.min_tokens_per_param:g}"
    path = write_json("real_backtests" + ("_quick" if args.quick else "") + suffix, payload, args.out)
    print(f"wrote {path}")
    return payload


if __name__ == "__main__":
    main()
