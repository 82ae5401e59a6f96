"""Benchmark 4: 1 vs 2 host devices (``XLA_FLAGS=--xla_force_host_platform_device_count=D``), each in a fresh process.

With several devices bayescale splits a fit's chains, and fit_many's datasets, across them
(``jax.shard_map``), so they run on separate cores. Per D: single fit (first and warm) and
fit_many of K bootstrap resamples (first and warm). Run: ``python benchmarks/bench_devices.py [--quick]``.
A GPU, when present, is recorded in the machine section (JAX's default backend).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load_data, run_child, table, write_json  # noqa: E402

HERE = Path(__file__).resolve()


def child(cfg) -> dict:
    import jax

    import bayescale as bs
    from bayescale.errors import DataWarning

    _, data = load_data(cfg.data)
    kw = dict(num_chains=cfg.chains, num_warmup=cfg.warmup, num_samples=cfg.draws, progress_bar=False, warn=False)
    out = {"devices": [str(d) for d in jax.local_devices()]}
    t0 = time.perf_counter()
    bs.fit(data, seed=0, **kw)
    out["fit_first_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit = bs.fit(data, seed=1, **kw)
    out["fit_warm_s"] = time.perf_counter() - t0
    out["fit_min_ess"] = min(fit.diagnostics.ess_bulk.values())
    idx = bs.batch.bootstrap_indices(data.n, cfg.k, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        res = [data.subset(i) for i in idx]
    t0 = time.perf_counter()
    bs.fit_many(res, seed=0, method="nuts", **kw)  # NUTS across devices (ChEES: bench_many_fits.py)
    out["many_first_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fits = bs.fit_many(res, seed=100, method="nuts", **kw)
    out["many_warm_s"] = time.perf_counter() - t0
    out["many_posteriors_per_s"] = cfg.k / out["many_warm_s"]
    out["many_min_ess"] = min(min(f.diagnostics.ess_bulk.values()) for f in fits)
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--data", default="auto")
    p.add_argument("--devices", default="1,2")
    p.add_argument("--k", type=int, default=None, help="fit_many batch size (default 16; quick 2)")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=None, help="default 1000 (quick 30)")
    p.add_argument("--draws", type=int, default=None, help="default 1000 (quick 30)")
    p.add_argument("--out", default=None)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    cfg = p.parse_args(argv)
    cfg.k = cfg.k or (2 if cfg.quick else 16)
    cfg.warmup = cfg.warmup or (30 if cfg.quick else 1000)
    cfg.draws = cfg.draws or (30 if cfg.quick else 1000)
    if cfg.child:
        print(json.dumps({"status": "ok", **child(cfg)}, default=float))
        return {}
    rows = []
    args = ["--child", "--data", cfg.data, "--k", str(cfg.k), "--chains", str(cfg.chains), "--warmup", str(cfg.warmup),
            "--draws", str(cfg.draws)]
    for d in [int(x) for x in cfg.devices.split(",")]:
        r = run_child(HERE, args, env={"XLA_FLAGS": f"--xla_force_host_platform_device_count={d}"})
        r["host_devices"] = d
        rows.append(r)
        print(f"  {d} device(s): {r.get('status')}", file=sys.stderr)
    ok = [r for r in rows if r.get("status") == "ok"]
    if ok:
        for r in ok:
            r["fit_speedup"] = ok[0]["fit_warm_s"] / r["fit_warm_s"]
            r["many_speedup"] = ok[0]["many_warm_s"] / r["many_warm_s"]
    cols = [("host_devices", "host devices", "d"), ("fit_first_s", "fit first s", ".1f"), ("fit_warm_s", "fit warm s", ".2f"),
            ("fit_speedup", "x", ".2f"), ("many_first_s", f"fit_many K={cfg.k} first s", ".1f"),
            ("many_warm_s", "warm s", ".1f"), ("many_posteriors_per_s", "posteriors/s", ".2f"), ("many_speedup", "x", ".2f")]
    print(f"\nDevices: {cfg.chains} chains x ({cfg.warmup} + {cfg.draws}); fit_many of K={cfg.k} bootstrap resamples\n")
    print(table(ok, cols))
    for r in rows:
        if r.get("status") != "ok":
            print(f"  {r['host_devices']} device(s): {r.get('status')}: {r.get('error', '')[-300:]}")
    payload = {"settings": {"k": cfg.k, "chains": cfg.chains, "warmup": cfg.warmup, "draws": cfg.draws, "quick": cfg.quick},
               "results": rows}
    path = write_json("devices" + ("_quick" if cfg.quick else ""), payload, cfg.out)
    print(f"\nwrote {path}")
    return payload


if __name__ == "__main__":
    main()
