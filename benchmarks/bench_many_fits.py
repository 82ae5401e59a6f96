"""Benchmark 2: many posteriors at once. ``bs.fit_many`` (one compiled, vmapped call) vs a Python loop of ``bs.fit``.

K bootstrap resamples of the Epoch data (or the example) for K in ``--ks``. For each K:
fit_many's first call (compiles the batch shape), its warm call when K is small enough to
repeat, posteriors per second, min bulk ESS and max R-hat over all fits and parameters,
divergences; the loop's posteriors per second from ``--loop`` warm single fits (scaled
to K: a loop's cost is linear in K). Run: ``python benchmarks/bench_many_fits.py [--quick]``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import LAW_PARAMS, load_data, table, write_json  # noqa: E402


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--data", default="auto")
    p.add_argument("--ks", default=None, help="comma-separated K values (default 1,16,256; quick 1,2)")
    p.add_argument("--repeat-max", type=int, default=16, help="also time a warm second call for K up to this")
    p.add_argument("--loop", type=int, default=None, help="warm single fits timed for the loop baseline (default 8; quick 2)")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=None, help="default 500 (quick 30)")
    p.add_argument("--draws", type=int, default=None, help="default 500 (quick 30)")
    p.add_argument("--out", default=None)
    cfg = p.parse_args(argv)
    ks = [int(k) for k in (cfg.ks or ("1,2" if cfg.quick else "1,16,256")).split(",")]
    warmup = cfg.warmup or (30 if cfg.quick else 500)
    draws = cfg.draws or (30 if cfg.quick else 500)
    n_loop = cfg.loop or (2 if cfg.quick else 8)

    import bayescale as bs
    from bayescale.errors import DataWarning

    data_name, data = load_data(cfg.data)
    kw = dict(num_chains=cfg.chains, num_warmup=warmup, num_samples=draws, progress_bar=False, warn=False)
    idx = bs.batch.bootstrap_indices(data.n, max(max(ks), n_loop + 1), seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        resamples = [data.subset(i) for i in idx]

    # Loop baseline: one compile, then n_loop warm fits.
    t0 = time.perf_counter()
    bs.fit(resamples[0], seed=0, **kw)
    loop_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    loop_fits = [bs.fit(resamples[i], seed=i, **kw) for i in range(1, n_loop + 1)]
    loop_per_fit = (time.perf_counter() - t0) / n_loop
    loop = {"first_s": loop_first, "per_fit_s": loop_per_fit, "posteriors_per_s": 1.0 / loop_per_fit, "fits_timed": n_loop,
            "min_ess_bulk": float(min(min(f.diagnostics.ess_bulk.values()) for f in loop_fits))}

    rows, results = [], []
    compile_est = None
    for k in ks:
        batch = resamples[:k]
        t0 = time.perf_counter()
        fits = bs.fit_many(batch, seed=0, **kw)
        first = time.perf_counter() - t0
        warm = None
        if k <= cfg.repeat_max:
            t0 = time.perf_counter()
            fits = bs.fit_many(batch, seed=1000, **kw)
            warm = time.perf_counter() - t0
            compile_est = first - warm
        run_s = warm if warm is not None else (first - compile_est if compile_est is not None else first)
        ess = np.array([[f.diagnostics.ess_bulk[p] for p in LAW_PARAMS] for f in fits])
        rhat = np.array([[f.diagnostics.rhat[p] for p in LAW_PARAMS] for f in fits])
        steps = float(np.mean([f.diagnostics.mean_steps for f in fits]))
        r = {
            "K": k, "first_s": first, "warm_s": warm, "run_s": run_s, "run_s_is": "measured" if warm is not None else
            "first call minus compile time of the largest repeated K",
            "posteriors_per_s": k / run_s, "posteriors_per_s_incl_compile": k / first,
            "loop_posteriors_per_s": loop["posteriors_per_s"], "speedup_vs_loop": (k / run_s) / loop["posteriors_per_s"],
            "min_ess_bulk": float(np.nanmin(ess)), "max_rhat": float(np.nanmax(rhat)),
            "fits_ess_ge_400": int(np.sum(ess.min(axis=1) >= 400)), "fits_rhat_le_1.01": int(np.sum(rhat.max(axis=1) <= 1.01)),
            "divergences": int(sum(f.diagnostics.n_divergent for f in fits)), "steps_per_draw": steps,
            "ess_per_s": float(np.sum(ess.min(axis=1))) / run_s,
        }
        results.append(r)
        rows.append(r)
        print(f"  K={k}: {first:.1f} s first call, {r['posteriors_per_s']:.2f} posteriors/s", file=sys.stderr)
    cols = [("K", "K", "d"), ("first_s", "first call s", ".1f"), ("run_s", "run s", ".1f"),
            ("posteriors_per_s", "posteriors/s", ".2f"), ("posteriors_per_s_incl_compile", "incl. compile", ".2f"),
            ("loop_posteriors_per_s", "loop posteriors/s", ".2f"), ("speedup_vs_loop", "x loop", ".2f"),
            ("min_ess_bulk", "min ESS", ".0f"), ("max_rhat", "max R-hat", ".3f"), ("fits_ess_ge_400", "fits ESS>=400", "d"),
            ("divergences", "div", "d"), ("steps_per_draw", "steps/draw", ".1f")]
    print(f"\nMany fits: bootstrap resamples of {data_name} ({data.n} points), {cfg.chains} chains x ({warmup} + {draws}) each; "
          f"loop = {n_loop} warm bs.fit calls, {loop_per_fit:.2f} s per fit\n")
    print(table(rows, cols))
    payload = {"data": data_name, "n": data.n, "settings": {"chains": cfg.chains, "warmup": warmup, "draws": draws,
               "ks": ks, "quick": cfg.quick}, "loop": loop, "results": results}
    path = write_json("many_fits" + ("_quick" if cfg.quick else ""), payload, cfg.out)
    print(f"\nwrote {path}")
    return payload


if __name__ == "__main__":
    main()
