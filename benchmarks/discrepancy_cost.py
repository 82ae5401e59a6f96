"""What the default error model costs on the default paths: ``bayescale fit`` run twice, and the first forecast
beyond the data in a process, beside a baseline checkout's (e.g. main, whose default is
``Extrapolation(per_decade=0.021)``), in the same run.

The rows of this checkout: ``learned`` (:class:`bayescale.LearnedExtrapolation`, its rolling-origin refits),
``prior_only`` (``LearnedExtrapolation(learn_from_data=False)``) and ``extrapolation`` (``Extrapolation(0.021)``);
the baseline's ``default`` (each row's ``label`` says which error model it ran; in the saved run of
2026-12-06 this checkout's ``default`` row was the learned one, the branch's default then).

Each row is a fresh process on ``bs.datasets.example()`` (seed 0, bs.fit's default settings), with its own
executable cache per checkout (``BAYESCALE_CACHE_DIR``): a first process fills it, the timed one is the second
(what a user sees from then on). The checkouts alternate so that they share the machine's load.

- ``cli_second_s``: ``bayescale fit runs.csv`` end to end (the CLI prints the posterior and the law's frontier);
- ``predict_first_s``: in a process that has fitted, the first ``fit.predict`` of runs beyond the data (for
  :class:`bayescale.LearnedExtrapolation` with ``learn_from_data=True``, this is where its rolling-origin
  refits run), and ``fit_s``, the fit before it.

    PYTHONPATH=$PWD python benchmarks/discrepancy_cost.py --baseline /work/main
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, write_json  # noqa: E402

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import bayescale as bs
spec = sys.argv[1]
em = {"default": lambda: None, "learned": lambda: bs.LearnedExtrapolation(),
      "prior_only": lambda: bs.LearnedExtrapolation(learn_from_data=False),
      "extrapolation": lambda: bs.Extrapolation(per_decade=0.021)}[spec]()
data = bs.datasets.example()
t1 = time.perf_counter()
fit = bs.fit(data, seed=0, progress_bar=False, warn=False, **({} if em is None else {"error_model": em}))
t2 = time.perf_counter()
fit.predict(N=[2e10, 7e10], D=[4e11, 1.4e12])
t3 = time.perf_counter()
print(json.dumps({"error_model": fit.model.error_model.label, "fit_s": t2 - t1, "predict_first_s": t3 - t2,
                  "process_s": t3 - t0}))
"""


def _run(root: Path, cache: str, argv: list[str], cwd: str) -> tuple[float, str]:
    env = {**os.environ, "BAYESCALE_CACHE_DIR": cache, "PYTHONPATH": str(root)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, timeout=1800, cwd=cwd)
    if proc.returncode not in (0, 3):
        raise RuntimeError(f"{argv} in {root} failed: {proc.stderr[-2000:]}")
    return time.perf_counter() - t0, proc.stdout


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline", default=None, help="another checkout (e.g. /work/main), run side by side")
    p.add_argument("--repeats", type=int, default=2, help="timed second processes per row (median)")
    args = p.parse_args(argv)
    import bayescale as bs

    roots = {"this": ROOT, **({"baseline": Path(args.baseline)} if args.baseline else {})}
    rows = {"this": ["learned", "prior_only", "extrapolation"], "baseline": ["default"]}
    out: dict = {"load_average_start": os.getloadavg(), "cli": {}, "predict": {}}
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "runs.csv"
        d = bs.datasets.example()
        np.savetxt(csv, np.column_stack([d.N, d.D, d.loss]), delimiter=",", header="N,D,loss", comments="")
        caches = {name: tempfile.mkdtemp(dir=tmp) for name in roots}
        for rep in range(1 + args.repeats):  # rep 0 fills each checkout's cache
            for name, root in roots.items():
                wall, _ = _run(root, caches[name], ["-m", "bayescale.cli", "fit", str(csv)], tmp)
                out["cli"].setdefault(name, []).append(wall)
                for spec in rows[name]:
                    _, text = _run(root, caches[name], ["-c", CHILD, spec], tmp)
                    out["predict"].setdefault(f"{name}:{spec}", []).append(json.loads(text.strip().splitlines()[-1]))
                print(f"round {rep}: {name} cli {wall:.1f} s; " + "; ".join(
                    f"{k} fit {v[-1]['fit_s']:.1f} predict {v[-1]['predict_first_s']:.1f}"
                    for k, v in out["predict"].items() if k.startswith(name)), flush=True)
    summary = {}
    for name, walls in out["cli"].items():
        summary[f"{name}:cli_second_s"] = float(np.median(walls[1:]))
    for key, runs in out["predict"].items():
        summary[f"{key}:fit_s"] = float(np.median([r["fit_s"] for r in runs[1:]]))
        summary[f"{key}:predict_first_s"] = float(np.median([r["predict_first_s"] for r in runs[1:]]))
        summary[f"{key}:label"] = runs[-1]["error_model"]
    out["summary"] = summary
    out["load_average_end"] = os.getloadavg()
    for k, v in summary.items():
        print(f"{k:40s} {v if isinstance(v, str) else f'{v:.2f}'}")
    print(f"wrote {write_json('discrepancy_cost', out)}")
    return out


if __name__ == "__main__":
    main()
