"""Convergence at default settings on hard posteriors: bayescale's defaults beside the previous sampler.

Three sets of fits, each at seeds 0-4 (``--seeds``), every fit judged by the library's own checks
(0 divergences, R-hat <= 1.01, bulk ESS >= 400 for every law parameter):

- **over-training design** (``bs.datasets.overtraining``): 4 model sizes 10M-400M, 0.25x-32x of 20 tokens per
  parameter, 32 runs; Epoch's truth and a Gadre et al.-like one, each with and without a per-size offset
  (sd 0.015) the law cannot absorb: 6 datasets x seeds;
- **real corpus splits** (``real_backtests.py``'s training sets: Epoch below 7.75e19 FLOPs, the 15 Porian
  configurations without their 3 largest budgets, Li below 5e8 parameters at the best learning rate), when
  ``../shared/data`` is present;
- **calibration**: ``bs.calibration(M)`` (prior-drawn truths on the built-in IsoFLOP design, through
  ``fit_many``), seed 0;
- **hierarchical** (``pooling="partial"`` at bs.fit's defaults, :mod:`_hierarchical`): the 6-recipe simulated
  design (``bs.datasets.recipes(seed=s)``, data and chain seed ``s``) and Porian et al.'s 15 configurations as
  groups (runs with D / N >= 4), each pooled fit timed beside the independent fits of its groups run one
  after another (both warm: a full fit of each shape first, seed 1000), the ratio of the two reported.

The baseline, in the same run, is the previous default sampler: the model's own coordinates (no
``share_coords``), ``target_accept=0.8``, no extension (``until_converged=0``) and no refits after
divergences (``refit_divergent=()``); it keeps the new pooled L-BFGS start (not switchable). ``--no-baseline`` skips it.

    PYTHONPATH=$PWD python benchmarks/convergence.py                     # everything, seeds 0-4
    PYTHONPATH=$PWD python benchmarks/convergence.py --sets overtraining --seeds 0 1
    PYTHONPATH=$PWD python benchmarks/convergence.py --sets hierarchical --out benchmarks/results/hierarchical
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
from _common import SHARED_DATA, table as markdown_table, write_json  # noqa: E402
import _hierarchical  # noqa: E402

OVERTRAINING = {  # name: (truth, data seed, per-size offset sd)
    "epoch_truth_s0": ("example", 0, 0.0),
    "epoch_truth_s1": ("example", 1, 0.0),
    "gadre_s0": ("gadre", 0, 0.0),
    "gadre_s1": ("gadre", 1, 0.0),
    "gadre_offset_s0": ("gadre", 0, 0.015),
    "gadre_offset_s1": ("gadre", 1, 0.015),
}


def variants(bs) -> dict:
    """name -> (model, fit settings)."""
    plain_law = dataclasses.replace(bs.LAWS["chinchilla"], sampler_coords=None)
    return {
        "default": (bs.ScalingModel(), {}),
        "baseline": (bs.ScalingModel(plain_law), {"target_accept": 0.8, "until_converged": 0, "refit_divergent": ()}),
    }


def datasets(bs, sets: list[str]) -> dict:
    out = {}
    if "overtraining" in sets:
        for name, (truth, seed, offset) in OVERTRAINING.items():
            t = bs.datasets.GADRE_TRUTH if truth == "gadre" else bs.datasets.EXAMPLE_TRUTH
            out[f"overtraining/{name}"] = bs.datasets.overtraining(truth=t, seed=seed, size_offset=offset)
    if "corpus" in sets:
        if not SHARED_DATA.exists():
            print(f"(corpus skipped: {SHARED_DATA} not present)")
        else:
            from real_backtests import make_splits

            for split in make_splits(SHARED_DATA, ["epoch", "porian", "li"]):
                out[f"corpus/{split.name}"] = split.train
    return out


def run_fits(bs, sets, seeds, names) -> list[dict]:
    rows = []
    data = datasets(bs, sets)
    for variant in names:
        model, settings = variants(bs)[variant]
        for label, d in data.items():
            for seed in seeds:
                t0 = time.perf_counter()
                f = bs.fit(d, model=model, seed=seed, warn=False, progress_bar=False, **settings)
                rows.append({"variant": variant, "set": label.split("/")[0], "data": label, "seed": seed,
                             "n": d.n, "seconds": time.perf_counter() - t0, **_hierarchical.diagnostics_row(f)})
                r = rows[-1]
                print(f"{variant:8s} {label:44s} seed {seed}: converged={r['converged']!s:5s} div={r['divergences']:3d} "
                      f"rhat={r['max_rhat']:.3f} ess={r['min_ess']:5.0f} steps={r['steps_per_draw']:5.1f} "
                      f"extra={r['extra_draws_per_chain']} refits={r['refits']} ({r['seconds']:.1f} s)", flush=True)
    return rows


def run_calibration(bs, M: int, names) -> list[dict]:
    rows = []
    for variant in names:
        model, settings = variants(bs)[variant]
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bs.errors.ConvergenceWarning)  # counted below
            cal = bs.calibration(model=model, M=M, seed=0, progress_bar=False, **settings)
        h = cal.diagnostics
        rows.append({
            "variant": variant, "set": "calibration", "M": M, "seconds": time.perf_counter() - t0,
            "converged": int(h["converged"].sum()), "with_divergences": int((h["divergences"] > 0).sum()),
            "divergences": int(h["divergences"].sum()), "max_rhat": float(h["max_rhat"].max()),
            "min_ess": float(h["min_ess_bulk"].min()), "extended": int((h["extra_draws_per_chain"] > 0).sum()),
            "refitted": int((h["refits"] > 0).sum()), "restarted": int((h["restarts"] > 0).sum()),
            "steps_per_draw": float(h["steps_per_draw"].mean()),
            "coverage_within_bounds": int(((cal.coverage["ci_lower"] <= cal.coverage["prob"])
                                           & (cal.coverage["prob"] <= cal.coverage["ci_upper"])).sum()),
            "coverage_rows": int(len(cal.coverage)),
            "sbc_min_p": None if cal.sbc is None else float(cal.sbc["p_value"].min()),
        })
        print(f"calibration {variant}: {rows[-1]}", flush=True)
    return rows


def run_hierarchical(bs, seeds, names=("recipes", "porian")) -> list[dict]:
    """Pooled fits beside the independent fits of their groups (:func:`_hierarchical.pooled_beside_independent`)."""
    rows, warm = [], set()
    for label, (data, seed) in _hierarchical.designs(bs, list(names), seeds, SHARED_DATA).items():
        kind = label.split("/")[0]
        if kind not in warm:
            _hierarchical.warm_up(bs, data, "partial")
            warm.add(kind)
        rows.append({"variant": "default", "set": f"hierarchical/{kind}",
                     **_hierarchical.pooled_beside_independent(bs, label, data, seed)})
    return rows


def hierarchical_table(rows: list[dict]) -> list[dict]:
    out = []
    for s in sorted({r["set"] for r in rows}):
        rs = [r for r in rows if r["set"] == s]
        out.append({"set": s, "fits": len(rs), "converged": sum(r["converged"] for r in rs),
                    "with_divergences": sum(r["divergences"] > 0 for r in rs),
                    "max_rhat": max(r["max_rhat"] for r in rs), "min_ess": min(r["min_ess"] for r in rs),
                    "max_steps": max(r["steps_per_draw"] for r in rs),
                    "mean_steps": float(np.mean([r["steps_per_draw"] for r in rs])),
                    "extended": sum(r["extra_draws_per_chain"] > 0 for r in rs), "refitted": sum(r["refits"] > 0 for r in rs),
                    "restarted": sum(r.get("restarts", 0) > 0 for r in rs),
                    "max_ratio": max(r["ratio"] for r in rs), "median_ratio": float(np.median([r["ratio"] for r in rs]))})
    return out


def table(rows: list[dict]) -> list[dict]:
    out = []
    keys = sorted({(r["set"], r["variant"]) for r in rows}, key=lambda k: (k[0], k[1] != "default"))
    for s, v in keys:
        rs = [r for r in rows if r["set"] == s and r["variant"] == v]
        out.append({
            "set": s, "variant": v, "fits": len(rs), "converged": sum(r["converged"] for r in rs),
            "with_divergences": sum(r["divergences"] > 0 for r in rs), "max_rhat": max(r["max_rhat"] for r in rs),
            "min_ess": min(r["min_ess"] for r in rs), "mean_steps": float(np.mean([r["steps_per_draw"] for r in rs])),
            "extended": sum(r["extra_draws_per_chain"] > 0 for r in rs),
            "refitted": sum(r["refits"] > 0 for r in rs),
            "restarted": sum(r.get("restarts", 0) > 0 for r in rs),
            "median_s": float(np.median([r["seconds"] for r in rs])),
        })
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", nargs="+", default=["overtraining", "corpus", "calibration", "hierarchical"],
                   choices=["overtraining", "corpus", "calibration", "hierarchical"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--M", type=int, default=100, help="calibration fits (default 100)")
    p.add_argument("--no-baseline", action="store_true", help="only the current defaults")
    p.add_argument("--designs", nargs="+", default=["recipes", "porian"], choices=["recipes", "porian"],
                   help="hierarchical designs (default both)")
    p.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    args = p.parse_args(argv)
    import bayescale as bs

    names = ["default"] if args.no_baseline else ["default", "baseline"]
    t0 = time.perf_counter()
    rows = run_fits(bs, [s for s in args.sets if s in ("overtraining", "corpus")], args.seeds, names)
    summary = table(rows)
    print("\n" + markdown_table(summary, [
        ("set", "set", ""), ("variant", "variant", ""), ("fits", "fits", "d"), ("converged", "converged", "d"),
        ("with_divergences", "with div.", "d"), ("max_rhat", "max R-hat", ".3f"), ("min_ess", "min ESS", ".0f"),
        ("mean_steps", "steps/draw", ".1f"), ("extended", "extended", "d"), ("refitted", "refitted", "d"), ("restarted", "restarted", "d"),
        ("median_s", "median s", ".2f")]))
    hier = run_hierarchical(bs, args.seeds, args.designs) if "hierarchical" in args.sets else []
    hier_summary = hierarchical_table(hier)
    if hier:
        print("\n" + markdown_table(hier_summary, [
            ("set", "set", ""), ("fits", "fits", "d"), ("converged", "converged", "d"),
            ("with_divergences", "with div.", "d"), ("max_rhat", "max R-hat", ".3f"), ("min_ess", "min ESS", ".0f"),
            ("mean_steps", "steps/draw", ".1f"), ("max_steps", "max steps/draw", ".1f"), ("extended", "extended", "d"),
            ("refitted", "refitted", "d"), ("restarted", "restarted", "d"), ("median_ratio", "pooled / independent (median)", ".2f"),
            ("max_ratio", "(max)", ".2f")]))
    calibration = run_calibration(bs, args.M, names) if "calibration" in args.sets else []
    for c in calibration:
        print(f"calibration ({c['variant']}): {c['converged']}/{c['M']} converged, {c['with_divergences']} with "
              f"divergences ({c['divergences']} in all), max R-hat {c['max_rhat']:.3f}, {c['extended']} extended, {c['refitted']} refitted, {c['restarted']} restarted, "
              f"{c['steps_per_draw']:.1f} steps/draw, {c['seconds']:.0f} s")
    payload = {"settings": {"seeds": args.seeds, "sets": args.sets, "M": args.M, "variants": names},
               "summary": summary, "calibration": calibration, "fits": rows, "hierarchical_summary": hier_summary,
               "hierarchical": hier, "wall_s": time.perf_counter() - t0}
    path = write_json("convergence", payload, Path(args.out) if args.out else None)
    print(f"\nsaved {path}")
    return payload


if __name__ == "__main__":
    main()
