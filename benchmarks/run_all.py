"""Run every benchmark and print its table: ``python benchmarks/run_all.py [--quick | --gpu] [--out DIR]``.

Each script also runs alone (``python benchmarks/bench_single_fit.py --help``). Results go to
``benchmarks/results/*.json`` (``*_quick.json`` for the smoke run), with machine, device and versions.

``--gpu``: the accelerator run of issue 13, after ``pip install -e ".[bench,cuda]"`` on a machine with an
NVIDIA GPU: the single fit, many fits at K = 1 .. 4096 with both methods (``--ks``), data size and devices,
into ``benchmarks/results/gpu/``. On an accelerator the chains are vmapped (``bayescale.inference.nuts``), and
``method="chees"`` vmaps every chain of a pool of datasets, which is what such a device is for.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ("bench_single_fit.py", "bench_many_fits.py", "bench_data_size.py", "bench_devices.py")
#: Extra arguments of each script in the ``--gpu`` run.
GPU_ARGS = {"bench_single_fit.py": ["--samplers", "bayescale,nutpie,numpyro_textbook,blackjax"],
            "bench_many_fits.py": ["--ks", "1,16,256,1024,4096", "--repeat-max", "4096"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny settings for every script: a smoke run, not a measurement")
    p.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    p.add_argument("--only", default=None, help="comma-separated subset of " + ",".join(SCRIPTS))
    p.add_argument("--gpu", action="store_true", help="the accelerator run: many fits at K up to 4096, results in gpu/")
    cfg = p.parse_args(argv)
    if cfg.gpu and cfg.quick:
        p.error("--gpu and --quick are exclusive")
    if cfg.gpu and cfg.out is None:
        cfg.out = str(HERE / "results" / "gpu")
    scripts = [s for s in SCRIPTS if not cfg.only or s in cfg.only.split(",")]
    failed = []
    for s in scripts:
        args = [sys.executable, str(HERE / s)] + (["--quick"] if cfg.quick else []) + (["--out", cfg.out] if cfg.out else [])
        args += GPU_ARGS.get(s, []) if cfg.gpu else []
        print(f"\n=== {s} ===", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call(args, cwd=HERE.parent)
        print(f"=== {s}: exit {rc}, {time.perf_counter() - t0:.0f} s ===", flush=True)
        if rc:
            failed.append(s)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
