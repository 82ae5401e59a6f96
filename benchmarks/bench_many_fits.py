"""Benchmark 2: many posteriors at once. ``bs.fit_many`` (NUTS, and ChEES) vs a Python loop of ``bs.fit``.

K bootstrap resamples of the Epoch data (or the example) for K in ``--ks``. For each K and
each ``--methods`` entry of ``fit_many`` (``nuts``, ``chees``): the first call (compiles the
batch shape), its warm call when K is small enough to repeat, posteriors per second, the
ratio to the loop, min bulk ESS and max R-hat over all fits and parameters, divergences, and
how many fits pass every check (0 divergences, R-hat <= 1.01, bulk ESS >= 400, after
``until_converged`` extensions) and how many needed extending; the loop's posteriors per
second from ``--loop`` warm single fits before and as many after the batches (scaled to K: a loop's
cost is linear in K), timed in the same run; and the same rates with every fit's InferenceData built
(``fit.idata``, which fits build on first read: for ChEES fits that includes their pointwise
log-likelihood and predictive location, which ``bs.fit`` computes while sampling); a loop fit that compiled anything (the first to need
the extender) is not timed and another resample takes its place. The load average is recorded before and after (the machine may be shared).

``--interleave R`` (for a shared machine, where the load changes between measurements minutes apart): after
each K's first calls, R rounds of warm calls, one per method in each round (order reversed every other round),
each round on new seeds; each round's ratio of a method's posteriors per second to the first method's is taken
from calls seconds apart, and the median over rounds is reported. This is what ``fit_many``'s
``method="auto"`` threshold (``bayescale.fitting.batch.CHEES_MIN_DATASETS``) was decided by.
Run: ``python benchmarks/bench_many_fits.py [--quick]``; the threshold:
``python benchmarks/bench_many_fits.py --ks 1,2,4,8,16 --interleave 5 --repeat-max 0 --loop 2``.
"""

from __future__ import annotations

import argparse
import os
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
    p.add_argument("--repeat-max", type=int, default=4096,
                   help="time a warm second call for K up to this (above it: first call minus an estimated compile)")
    p.add_argument("--loop", type=int, default=None, help="warm single fits timed for the loop baseline (default 8; quick 2)")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=None, help="default 500 (quick 30)")
    p.add_argument("--draws", type=int, default=None, help="default 500 (quick 30)")
    p.add_argument("--methods", default="nuts,chees", help="fit_many methods, comma-separated (default nuts,chees)")
    p.add_argument("--interleave", type=int, default=0, metavar="R",
                   help="rounds of warm calls alternating the methods after each K's first calls; report the median "
                        "ratio of posteriors/s to the first method's (default 0: none)")
    p.add_argument("--out", default=None)
    cfg = p.parse_args(argv)
    ks = [int(k) for k in (cfg.ks or ("1,2" if cfg.quick else "1,16,256")).split(",")]
    warmup = cfg.warmup or (30 if cfg.quick else 500)
    draws = cfg.draws or (30 if cfg.quick else 500)
    n_loop = cfg.loop or (2 if cfg.quick else 8)
    methods = cfg.methods.split(",")
    load_before = os.getloadavg()

    import bayescale as bs
    from bayescale.errors import DataWarning
    from bayescale.inference.nuts import TRACE_COUNTS

    data_name, data = load_data(cfg.data)
    kw = dict(num_chains=cfg.chains, num_warmup=warmup, num_samples=draws, progress_bar=False, warn=False)
    idx = bs.batch.bootstrap_indices(data.n, max(max(ks), 4 * n_loop + 1), seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        resamples = [data.subset(i) for i in idx]

    # Loop baseline: one compile, then n_loop warm fits before the batched runs and n_loop more after
    # them (the machine may be shared: the rate is the mean over both, each half is recorded too).
    t0 = time.perf_counter()
    bs.fit(resamples[0], seed=0, **kw)
    loop_first = time.perf_counter() - t0

    def time_loop(start):
        """``n_loop`` warm fits from resample ``start`` on: a fit that traced (compiled) anything, the first to
        need the extender, is not timed and another resample takes its place."""
        total, fits, skipped, i = 0.0, [], 0, start
        while len(fits) < n_loop:
            traces = sum(TRACE_COUNTS.values())
            t0 = time.perf_counter()
            f = bs.fit(resamples[i], seed=i, **kw)
            dt = time.perf_counter() - t0
            i += 1
            if sum(TRACE_COUNTS.values()) != traces:
                skipped += 1
                continue
            total += dt
            fits.append(f)
        return total, fits, skipped

    loop_s, loop_fits, skipped = time_loop(1)
    loop = {"first_s": loop_first, "fits_timed": n_loop, "before_s_per_fit": loop_s / n_loop,
            "not_timed_compiled": skipped,
            "min_ess_bulk": float(min(min(f.diagnostics.ess_bulk.values()) for f in loop_fits))}
    loop.update(per_fit_s=loop_s / n_loop, posteriors_per_s=n_loop / loop_s)

    rows, results = [], []
    compile_est = {}
    for k in ks:
        batch = resamples[:k]
        for method in methods:
            t0 = time.perf_counter()
            fits = bs.fit_many(batch, seed=0, method=method, **kw)
            first = time.perf_counter() - t0
            warm = None
            if k <= cfg.repeat_max:
                # A warm call compiles nothing; the first call that extends a fit (until_converged) compiles
                # the extender, so a call that traced anything is repeated with other seeds.
                for seed in (1000, 2000, 3000):
                    traces = sum(TRACE_COUNTS.values())
                    t0 = time.perf_counter()
                    fits = bs.fit_many(batch, seed=seed, method=method, **kw)
                    warm = time.perf_counter() - t0
                    if sum(TRACE_COUNTS.values()) == traces:
                        break
                compile_est[method] = first - warm
            est = compile_est.get(method)
            run_s = warm if warm is not None else (first - est if est is not None else first)
            t0 = time.perf_counter()
            for f in fits:
                f.idata  # built on first read (pointwise values, predictive draws, ArviZ's object)
            idata_s = time.perf_counter() - t0
            r = {"K": k, "method": method, "first_s": first, "warm_s": warm, "run_s": run_s, "idata_s": idata_s,
                 "warm_seed": seed if warm is not None else None,
                 "run_s_is": "measured (a call that compiled nothing)" if warm is not None else "first call minus compile time of the largest repeated K",
                 **_checks(fits, k, run_s, first, loop["posteriors_per_s"])}
            results.append(r)
            rows.append(r)
            print(f"  K={k} {method}: {first:.1f} s first call, {r['posteriors_per_s']:.2f} posteriors/s, "
                  f"{r['fits_pass']}/{k} pass", file=sys.stderr)
        if cfg.interleave:
            _interleaved(bs, batch, methods, cfg.interleave, kw, TRACE_COUNTS, [r for r in results if r["K"] == k])
            print(f"  K={k} interleaved: " + ", ".join(f"{r['method']} {r['interleaved_ratio_median']:.2f}x"
                                                      for r in results if r["K"] == k), file=sys.stderr)
    after_s, after_fits, skipped = time_loop(2 * n_loop + 1)
    loop_fits += after_fits
    loop["not_timed_compiled"] += skipped
    t0 = time.perf_counter()
    for f in loop_fits:
        f.idata
    loop["idata_s_per_fit"] = (time.perf_counter() - t0) / len(loop_fits)
    loop.update(after_s_per_fit=after_s / n_loop, fits_timed=2 * n_loop, per_fit_s=(loop_s + after_s) / (2 * n_loop),
                posteriors_per_s=2 * n_loop / (loop_s + after_s), fits_pass=int(sum(f.converged for f in loop_fits)),
                min_ess_bulk=float(min(min(f.diagnostics.ess_bulk.values()) for f in loop_fits)))
    loop_per_fit = loop["per_fit_s"]
    loop["posteriors_per_s_with_idata"] = 1.0 / (loop_per_fit + loop["idata_s_per_fit"])
    for r in results:
        r["loop_posteriors_per_s"] = loop["posteriors_per_s"]
        r["speedup_vs_loop"] = r["posteriors_per_s"] / loop["posteriors_per_s"]
        r["posteriors_per_s_with_idata"] = r["K"] / (r["run_s"] + r["idata_s"])
        r["speedup_vs_loop_with_idata"] = r["posteriors_per_s_with_idata"] / loop["posteriors_per_s_with_idata"]
    cols = [("K", "K", "d"), ("method", "method", "s"), ("first_s", "first call s", ".1f"), ("run_s", "run s", ".1f"),
            ("posteriors_per_s", "posteriors/s", ".2f"), ("posteriors_per_s_incl_compile", "incl. compile", ".2f"),
            ("loop_posteriors_per_s", "loop posteriors/s", ".2f"), ("speedup_vs_loop", "x loop", ".2f"),
            ("posteriors_per_s_with_idata", "with idata /s", ".2f"), ("speedup_vs_loop_with_idata", "x loop with idata", ".2f"),
            ("min_ess_bulk", "min ESS", ".0f"), ("max_rhat", "max R-hat", ".3f"), ("fits_ess_ge_400", "fits ESS>=400", "d"),
            ("fits_pass", "fits passing", "d"), ("fits_extended", "extended", "d"),
            ("divergences", "div", "d"), ("steps_per_draw", "steps/draw", ".1f")]
    print(f"\nMany fits: bootstrap resamples of {data_name} ({data.n} points), {cfg.chains} chains x ({warmup} + {draws}) each; "
          f"loop = {2 * n_loop} warm bs.fit calls ({n_loop} before, {n_loop} after the batches: "
          f"{loop['before_s_per_fit']:.2f} and {loop['after_s_per_fit']:.2f} s per fit), {loop_per_fit:.2f} s per fit, "
          f"{loop['fits_pass']} of {2 * n_loop} passing; building a fit's InferenceData: loop "
          f"{1e3 * loop['idata_s_per_fit']:.1f} ms per fit\n")
    print(table(rows, cols))
    if cfg.interleave:
        icols = [("K", "K", "d"), ("method", "method", "s"), ("interleaved_median_posteriors_per_s", "posteriors/s (median)", ".2f"),
                 ("interleaved_ratio_median", f"x {methods[0]} (median of rounds)", ".2f"),
                 ("interleaved_ratio_min", "min", ".2f"), ("interleaved_ratio_max", "max", ".2f"),
                 ("interleaved_fits_pass", "fits passing (all rounds)", "d")]
        print(f"\nInterleaved: {cfg.interleave} rounds of warm calls per K, methods side by side (ABBA order)\n")
        print(table(results, icols))
    load = {"before": load_before, "after": os.getloadavg()}
    print(f"load average (1, 5, 15 min) before {load['before']}, after {load['after']}")
    payload = {"data": data_name, "n": data.n, "settings": {"chains": cfg.chains, "warmup": warmup, "draws": draws,
               "ks": ks, "quick": cfg.quick, "methods": methods, "interleave": cfg.interleave}, "loop": loop, "results": results, "load_average": load}
    path = write_json("many_fits" + ("_quick" if cfg.quick else ""), payload, cfg.out)
    print(f"\nwrote {path}")
    return payload


def _interleaved(bs, batch, methods, rounds, kw, trace_counts, rows) -> None:
    """``rounds`` rounds of one warm call per method (order reversed every other round, new seeds each round);
    adds each method's rates, and the median, min and max over rounds of its rate over the first method's, to
    its row of ``rows``."""
    k = len(batch)
    rates = {m: [] for m in methods}
    passing = {m: 0 for m in methods}
    for r in range(rounds):
        for method in (methods if r % 2 == 0 else methods[::-1]):
            for attempt in range(3):  # a call that compiled something (an extender) is repeated on other seeds
                traces = sum(trace_counts.values())
                t0 = time.perf_counter()
                fits = bs.fit_many(batch, seed=100_000 * (r + 1) + 1_000 * attempt, method=method, **kw)
                dt = time.perf_counter() - t0
                if sum(trace_counts.values()) == traces:
                    break
            rates[method].append(k / dt)
            passing[method] += int(sum(f.converged for f in fits))
    first = np.asarray(rates[methods[0]])
    for row in rows:
        m = row["method"]
        ratio = np.asarray(rates[m]) / first
        row.update(interleaved_rounds=rounds, interleaved_posteriors_per_s=rates[m],
                   interleaved_median_posteriors_per_s=float(np.median(rates[m])),
                   interleaved_ratio_to=methods[0], interleaved_ratio_median=float(np.median(ratio)),
                   interleaved_ratio_min=float(ratio.min()), interleaved_ratio_max=float(ratio.max()),
                   interleaved_fits_pass=passing[m], interleaved_fits=rounds * k)


def _checks(fits, k: int, run_s: float, first: float, loop_rate: float) -> dict:
    """Speed and the convergence checks of ``fits`` (one ``fit_many`` call of ``k`` datasets)."""
    ess = np.array([[f.diagnostics.ess_bulk[p] for p in LAW_PARAMS] for f in fits])
    rhat = np.array([[f.diagnostics.rhat[p] for p in LAW_PARAMS] for f in fits])
    return {
        "posteriors_per_s": k / run_s, "posteriors_per_s_incl_compile": k / first,
        "loop_posteriors_per_s": loop_rate, "speedup_vs_loop": (k / run_s) / loop_rate,
        "min_ess_bulk": float(np.nanmin(ess)), "max_rhat": float(np.nanmax(rhat)),
        "fits_ess_ge_400": int(np.sum(ess.min(axis=1) >= 400)), "fits_rhat_le_1.01": int(np.sum(rhat.max(axis=1) <= 1.01)),
        "fits_pass": int(sum(f.converged for f in fits)),
        "fits_extended": int(sum(f.extra_draws_per_chain > 0 for f in fits)),
        "divergences": int(sum(f.diagnostics.n_divergent for f in fits)),
        "fits_with_divergences": int(sum(f.diagnostics.n_divergent > 0 for f in fits)),
        "steps_per_draw": float(np.mean([f.diagnostics.mean_steps for f in fits])),
        "ess_per_s": float(np.sum(ess.min(axis=1))) / run_s,
    }


if __name__ == "__main__":
    main()
