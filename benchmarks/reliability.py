"""Reliability numbers: backtests on the built-in example and Epoch AI's data, and calibration coverage.

    PYTHONPATH=$PWD python benchmarks/reliability.py backtest-example
    PYTHONPATH=$PWD python benchmarks/reliability.py backtest-epoch --epoch ../shared/data
    PYTHONPATH=$PWD python benchmarks/reliability.py calibration --M 100 --seed 1

Each prints its tables and writes JSON (``--out``, default ``reliability-<what>.json``).

Budgets. The example has 9 exact IsoFLOP budgets; the cutoff is the fifth-largest, so the
runs at the five largest budgets are held out. Epoch's points were read off a figure, so every
run has its own "Training FLOP"; each is assigned to the nearest (in log C) of Chinchilla's
IsoFLOP levels (Hoffmann et al. 2022, Fig. 3: 6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21,
3e21 FLOPs). The fifth-largest level is 1e20, and the cutoff is placed at the log-midpoint
between 6e19 and 1e20 (7.75e19 FLOPs), so that every run assigned to 1e20 or above is held out.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import pandas as pd

import bayescale as bs

ISOFLOP_LEVELS = np.array([6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21])


def _versions() -> dict:
    import jax
    import numpyro

    return {"bayescale": bs.__version__, "jax": jax.__version__, "numpyro": numpyro.__version__,
            "machine": platform.platform(), "device": str(jax.devices()[0])}


def _backtest(data, cutoff, args) -> dict:
    t0 = time.perf_counter()
    bt = bs.backtest(data, cutoff=cutoff, seed=args.seed, num_warmup=args.warmup, num_samples=args.draws,
                     progress_bar=False)
    wall = time.perf_counter() - t0
    pd.set_option("display.width", 200)
    print(bt.table.to_string(float_format=lambda v: f"{v:.4g}"))
    fit = bt.fits[0]
    front = fit.draws()
    print("training-fit posterior medians:", {k: round(float(np.median(v)), 4) for k, v in front.items()})
    print(fit.diagnostics)
    return {"table": bt.table.reset_index().to_dict(orient="records"),
            "posterior_median": {k: float(np.median(v)) for k, v in front.items()},
            "wall_s": wall}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["backtest-example", "backtest-epoch", "calibration"])
    p.add_argument("--epoch", default="../shared/data")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--M", type=int, default=100)
    p.add_argument("--out")
    args = p.parse_args()
    out = {"what": args.what, "versions": _versions()}
    if args.what == "backtest-example":
        args.seed = 0 if args.seed is None else args.seed
        data = bs.datasets.example()
        budgets = np.unique(np.round(data.C, -15))
        cutoff = float(np.sort(budgets)[-5])
        print(f"example: budgets {budgets.tolist()}; cutoff (fifth-largest) {cutoff:.4g}")
        out.update(cutoff=cutoff, **_backtest(data, cutoff, args))
    elif args.what == "backtest-epoch":
        args.seed = 0 if args.seed is None else args.seed
        data = bs.datasets.load_chinchilla(args.epoch, drop_outliers=True)
        level = ISOFLOP_LEVELS[np.argmin(np.abs(np.log(data.C)[:, None] - np.log(ISOFLOP_LEVELS)[None, :]), axis=1)]
        counts = pd.Series(level).value_counts().sort_index()
        print("runs per IsoFLOP level:", {f"{k:.0e}": int(v) for k, v in counts.items()})
        fifth = float(np.sort(np.unique(level))[-5])
        below = float(ISOFLOP_LEVELS[np.searchsorted(ISOFLOP_LEVELS, fifth) - 1])
        cutoff = float(np.sqrt(fifth * below))
        print(f"fifth-largest level {fifth:.0e}; cutoff at the log-midpoint with {below:.0e}: {cutoff:.4g}")
        out.update(cutoff=cutoff, fifth_level=fifth, runs_per_level={f"{k:.0e}": int(v) for k, v in counts.items()},
                   **_backtest(data, cutoff, args))
    else:
        args.seed = 1 if args.seed is None else args.seed
        t0 = time.perf_counter()
        cal = bs.calibration(M=args.M, seed=args.seed, prob=(0.5, 0.8, 0.9), num_warmup=args.warmup,
                             num_samples=args.draws, progress_bar=False)
        wall = time.perf_counter() - t0
        print(cal)
        print(cal.coverage.to_string(float_format=lambda v: f"{v:.3g}"))
        out.update(coverage=cal.coverage.to_dict(orient="records"), sbc=cal.sbc.reset_index().to_dict(orient="records"),
                   converged=int(cal.converged.sum()), M=args.M, seed=args.seed, wall_s=wall,
                   settings=dict(num_chains=4, num_warmup=args.warmup, num_samples=args.draws))
    path = args.out or f"reliability-{args.what}.json"
    with open(path, "w") as fh:
        json.dump(out, fh, indent=1, default=float)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
