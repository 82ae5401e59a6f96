"""Does pooling help a sparse recipe? A real backtest on Porian et al. (2024)'s 15 configurations.

For each configuration in turn (the "sparse recipe"): keep only its runs at its ``--keep`` smallest compute
budgets (default 6 of its 11-12) and every run of the 14 others, and forecast its runs at the larger
budgets (1.6x to 400x beyond its largest kept budget). Two forecasts side by side, same seed:

- **pooled**: one hierarchical fit of everything kept (``bs.fit(..., pooling="partial")``: the configurations as
  groups), the sparse recipe's posterior predictive (``fit.predict_draws(N, D, group=label)["pred"]``);
- **alone**: ``bs.fit`` of the sparse recipe's kept runs only (what a lab with one sweep would do).

Training runs have D / N >= 4 (as in ``real_backtests.py``: Porian's smallest budgets reach D / N = 0.01, far
outside where the law holds); every held-out run is scored. Scores per configuration and pooled over all
held-out runs: median |relative error| of the forecast median, bias (median signed relative error), 50% and
90% coverage of the central predictive intervals (Clopper-Pearson 95% bounds treat runs as independent,
which runs of one sweep are not: a guide), mean CRPS (nats), and the fits' convergence.

    PYTHONPATH=$PWD python benchmarks/recipe_backtests.py                     # all 15, seed 0
    PYTHONPATH=$PWD python benchmarks/recipe_backtests.py --configs 0 3 --keep 5

Writes ``benchmarks/results/recipe_backtests.json`` (folder ``--out``). Data from ``../shared/data``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, table, write_json  # noqa: E402
from _hierarchical import MIN_TOKENS_PER_PARAM, diagnostics_row  # noqa: E402

LEVELS = (0.5, 0.9)


def splits(data_dir: Path, keep: int, which: list[int] | None):
    """``[(index, label, train ScalingData with groups, test frame)]``: one per configuration."""
    import bayescale as bs

    df = bs.datasets.load_porian(data_dir, as_frame=True)
    labels = list(dict.fromkeys(df["config"]))
    trained = df[df["D"] / df["N"] >= MIN_TOKENS_PER_PARAM]
    out = []
    for i, label in enumerate(labels):
        if which is not None and i not in which:
            continue
        mine = df[df["config"] == label]
        cutoff = np.sort(mine["flops"].unique())[keep - 1]
        train = trained[(trained["config"] != label) | (trained["flops"] <= cutoff)]
        test = mine[mine["flops"] > cutoff]
        out.append((i, label, bs.ScalingData.from_frame(train, N="N", D="D", loss="loss", group="config"), test))
    return out


def score(draws: np.ndarray, y: np.ndarray) -> dict:
    """Per held-out run: relative error of the median, interval hits, CRPS (nats of loss, as real_backtests.py)."""
    import bayescale as bs

    med = np.median(draws, axis=0)
    out = {"rel_error": (med - y) / y, "crps": np.asarray(bs.crps_from_draws(draws, y))}
    for level in LEVELS:
        lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
        out[f"in_{100 * level:g}"] = (lo <= y) & (y <= hi)
    return out


def summarize(points: list[dict]) -> dict:
    from bayescale.analyses.calibration import clopper_pearson

    cat = {k: np.concatenate([p[k] for p in points]) for k in points[0]}
    n = cat["rel_error"].size
    out = {"n_test": int(n), "median_abs_rel_error": float(np.median(np.abs(cat["rel_error"]))),
           "bias": float(np.median(cat["rel_error"])), "crps": float(np.mean(cat["crps"]))}
    for pct in ("50", "90"):
        hits = int(cat[f"in_{pct}"].sum())
        out[f"coverage_{pct}"] = hits / n
        out[f"coverage_{pct}_ci"] = [float(v) for v in clopper_pearson(hits, n)]
    return out


def forecast(bs, data, test, seed: int, group=None, **kw) -> tuple[dict, dict, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.errors.ConvergenceWarning)  # reported in the rows
        warnings.simplefilter("ignore", bs.errors.ExtrapolationWarning)
        t0 = time.perf_counter()
        fit = bs.fit(data, seed=seed, warn=False, progress_bar=False, **kw)
        wall = time.perf_counter() - t0
        draws = fit.predict_draws(N=test["N"].to_numpy(), D=test["D"].to_numpy(), seed=seed, group=group)["pred"]
    return score(draws, test["loss"].to_numpy()), diagnostics_row(fit), wall


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", nargs="+", type=int, default=None, help="configurations (0-based; default all 15)")
    p.add_argument("--keep", type=int, default=6, help="budgets of the sparse recipe kept, smallest first (default 6)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=str(SHARED_DATA))
    p.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    args = p.parse_args(argv)
    import bayescale as bs

    t0 = time.perf_counter()
    rows, points = [], {"pooled": [], "alone": []}
    for i, label, train, test in splits(Path(args.data_dir), args.keep, args.configs):
        alone_data = train.subset(train.group == label)
        alone_data = bs.ScalingData.from_arrays(N=alone_data.N, D=alone_data.D, loss=alone_data.loss)
        kept = float(np.max(alone_data.C))
        for method, (data, kw, group) in {"pooled": (train, {"pooling": "partial"}, label),
                                          "alone": (alone_data, {}, None)}.items():
            pts, diag, wall = forecast(bs, data, test, args.seed, group=group, **kw)
            points[method].append(pts)
            rows.append({"config": i, "label": label, "method": method, "n_train_recipe": alone_data.n,
                         "n_train": data.n, "extrapolation": float(test["flops"].max() / kept), "seconds": wall,
                         **summarize([pts]), **diag})
            r = rows[-1]
            print(f"{i:2d} {label:55s} {method:6s} n={r['n_train']:5d} test={r['n_test']:3d} "
                  f"|err| {100 * r['median_abs_rel_error']:5.2f}% bias {100 * r['bias']:+5.2f}% "
                  f"cov50 {r['coverage_50']:.2f} cov90 {r['coverage_90']:.2f} crps {r['crps']:.4f} "
                  f"conv={r['converged']} steps={r['steps_per_draw']:.0f} ({wall:.0f} s)", flush=True)
        save(args, rows, points, t0, partial=True)  # configurations so far survive a run stopped early
    path, payload = save(args, rows, points, t0, partial=False)
    pooled = payload["summary"]
    summary = [{"method": m, **s} for m, s in pooled.items()]
    print("\n" + table(summary, [("method", "method", ""), ("n_test", "held-out runs", "d"),
                                 ("median_abs_rel_error", "median abs. rel. error", ".4f"), ("bias", "bias", "+.4f"),
                                 ("coverage_50", "50% coverage", ".2f"), ("coverage_90", "90% coverage", ".2f"),
                                 ("crps", "CRPS", ".4f")]))
    print(f"\nsaved {path}")
    return payload


def save(args, rows: list[dict], points: dict, t0: float, partial: bool) -> tuple[Path, dict]:
    """Write the rows and pooled scores of the configurations backtested so far."""
    pooled = {m: summarize(v) for m, v in points.items() if v}
    payload = {"settings": vars(args), "partial": partial, "summary": pooled, "rows": rows,
               "wall_s": time.perf_counter() - t0}
    return write_json("recipe_backtests", payload, Path(args.out) if args.out else None), payload


if __name__ == "__main__":
    main()
