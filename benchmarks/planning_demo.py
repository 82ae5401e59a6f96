"""Does following `bayescale.plan` shrink the interval more than the naive next run, for the same FLOPs?

Scenario (simulated, truth = bs.datasets.EXAMPLE_TRUTH, Epoch AI's Chinchilla fit):
a small IsoFLOP sweep (4 budgets from 6e18 to 3e21 FLOPs x 5 sizes, 1% Student-t noise) is
fitted; the decision is the size to train at C* = 1e24, so the target is log N_opt(1e24).
One more run is affordable, at the next budget of the same IsoFLOP grid, C_next = 3e21 x 7.94.

- naive: the next IsoFLOP level's centre, N = posterior-median N_opt(C_next);
- planned: the top row of `bs.plan(fit, target_compute=1e24, candidates=...)` over 17 sizes on
  the same C_next IsoFLOP (N_opt/16 .. 16 N_opt), so both cost exactly C_next FLOPs.

Both new runs are simulated from the truth with the same noise draw, each is added to the data and
the law refitted (NUTS, 4 x (1000 + 1000)); the realised 90% interval width (and variance) of
log N_opt(1e24) is compared with the base fit's. Repeated over independent replicate sweeps.

    PYTHONPATH=$PWD python benchmarks/planning_demo.py --replicates 12 --out benchmarks/planning_demo.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

import bayescale as bs
from bayescale.analyses.decisions import law_params
from bayescale.analyses.planning import target_log_n_opt

TARGET_C = 1e24
BUDGETS, SIZES = 4, 5
SETTINGS = dict(num_chains=4, num_warmup=1000, num_samples=1000, warn=False)


def spread(fit):
    g = target_log_n_opt(law_params(fit), TARGET_C)
    lo, hi = np.quantile(g, [0.05, 0.95])
    return float(hi - lo), float(np.var(g))


def simulate_run(N, D, rng_seed):
    truth = {k: np.float64(v) for k, v in bs.datasets.EXAMPLE_TRUTH.items()}
    clean = float(np.asarray(bs.chinchilla_loss(truth, N, D)))
    eps = np.random.default_rng(rng_seed).standard_t(5)
    return clean * np.exp(0.01 * eps)


def add_run(data, N, D, loss):
    return bs.ScalingData.from_arrays(N=np.append(data.N, N), D=np.append(data.D, D), loss=np.append(data.loss, loss))


def replicate(r: int) -> dict:
    data = bs.datasets.example(seed=r, budgets=BUDGETS, sizes_per_budget=SIZES)
    base = bs.fit(data, seed=r, **SETTINGS)
    w0, v0 = spread(base)
    c_max = float(data.C.max())
    c_next = c_max * (c_max / float(data.C.min())) ** (1.0 / (BUDGETS - 1))
    n_mid = float(base.frontier(C=c_next).N_opt_median.iloc[0])
    sizes = n_mid * np.geomspace(1 / 16, 16, 17)
    cand = (sizes, c_next / (6 * sizes))
    table = bs.plan(base, target_compute=TARGET_C, candidates=cand, seed=r)
    best = table.iloc[0]
    naive_row = table.loc[np.isclose(table.N, n_mid, rtol=1e-9)].iloc[0]
    out = {"replicate": r, "C_next": c_next, "width_before": w0, "var_before": v0,
           "naive_N": n_mid, "planned_N": float(best.N), "planned_ratio": float(best.N / n_mid),
           "predicted_rel_reduction_planned": float(best.relative_reduction),
           "predicted_rel_reduction_naive": float(naive_row.relative_reduction),
           "min_ess_planned": float(best.ess_min), "method_planned": str(best.method)}
    for name, N in (("planned", float(best.N)), ("naive", n_mid)):
        D = c_next / (6 * N)
        loss = simulate_run(N, D, rng_seed=10_000 + r)
        refit = bs.fit(add_run(data, N, D, loss), seed=r, **SETTINGS)
        w, v = spread(refit)
        out[f"width_after_{name}"], out[f"var_after_{name}"] = w, v
        out[f"converged_{name}"] = bool(refit.converged)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=12)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    t0 = time.time()
    rows = []
    for r in range(args.replicates):
        rows.append(replicate(r))
        x = rows[-1]
        print(f"rep {r:2d}: width {x['width_before']:.3f} -> planned {x['width_after_planned']:.3f} "
              f"(N x{x['planned_ratio']:.3g}) | naive {x['width_after_naive']:.3f}; predicted var reduction "
              f"{x['predicted_rel_reduction_planned']:.1%} vs {x['predicted_rel_reduction_naive']:.1%}", flush=True)
    wp = np.array([x["width_after_planned"] / x["width_before"] for x in rows])
    wn = np.array([x["width_after_naive"] / x["width_before"] for x in rows])
    vp = np.array([x["var_after_planned"] / x["var_before"] for x in rows])
    vn = np.array([x["var_after_naive"] / x["var_before"] for x in rows])
    summary = {
        "replicates": len(rows),
        "mean_width_ratio_planned": float(wp.mean()), "mean_width_ratio_naive": float(wn.mean()),
        "mean_var_ratio_planned": float(vp.mean()), "mean_var_ratio_naive": float(vn.mean()),
        "planned_narrower_in": int(np.sum(wp < wn)),
        "paired_width_diff_mean": float((wp - wn).mean()),
        "paired_width_diff_se": float((wp - wn).std(ddof=1) / np.sqrt(len(rows))),
        "mean_predicted_var_reduction_planned": float(np.mean([x["predicted_rel_reduction_planned"] for x in rows])),
        "mean_predicted_var_reduction_naive": float(np.mean([x["predicted_rel_reduction_naive"] for x in rows])),
        "wall_s": time.time() - t0,
        "machine": platform.platform(), "python": platform.python_version(),
        "versions": {"bayescale": bs.__version__, "jax": __import__("jax").__version__,
                     "numpyro": __import__("numpyro").__version__},
    }
    print(json.dumps(summary, indent=2))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"summary": summary, "replicates": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
