"""Benchmark 3: cost against data size. Synthetic Chinchilla data with n = 250, 2,500, 25,000 points.

Per n: the time of one compiled value-and-gradient of the model's log density (the unit of
NUTS work), and of a whole posterior (warm ``bs.fit``: compile excluded), with the sampler's
cost per leapfrog step. Run: ``python benchmarks/bench_data_size.py [--quick]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import synthetic, table, write_json  # noqa: E402


def gradient_time(data, repeats: int) -> float:
    import jax
    from jax.flatten_util import ravel_pytree
    from numpyro.infer.util import initialize_model

    import bayescale as bs

    spec = bs.ScalingModel()
    args, _ = spec.args(data)
    info = initialize_model(jax.random.PRNGKey(0), spec.program(), model_args=args, dynamic_args=True)
    z0, unravel = ravel_pytree(info.param_info.z)
    vg = jax.jit(jax.value_and_grad(lambda z, a: info.potential_fn(*a)(unravel(z))))
    jax.block_until_ready(vg(z0, args))
    # Many gradients inside one compiled loop (as NUTS calls them), so dispatch overhead is excluded.
    loop = jax.jit(lambda z, a: jax.lax.fori_loop(0, repeats, lambda i, zz: zz + 1e-9 * vg(zz, a)[1], z))
    jax.block_until_ready(loop(z0, args))
    t0 = time.perf_counter()
    jax.block_until_ready(loop(z0, args))
    return (time.perf_counter() - t0) / repeats


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--ns", default=None, help="default 250,2500,25000 (quick 50,200)")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=None, help="default 1000 (quick 30)")
    p.add_argument("--draws", type=int, default=None, help="default 1000 (quick 30)")
    p.add_argument("--out", default=None)
    cfg = p.parse_args(argv)
    ns = [int(n) for n in (cfg.ns or ("50,200" if cfg.quick else "250,2500,25000")).split(",")]
    warmup = cfg.warmup or (30 if cfg.quick else 1000)
    draws = cfg.draws or (30 if cfg.quick else 1000)
    import bayescale as bs

    rows = []
    for n in ns:
        data = synthetic(n, seed=n)
        g = gradient_time(data, 200 if cfg.quick else 2000)
        kw = dict(num_chains=cfg.chains, num_warmup=warmup, num_samples=draws, progress_bar=False, warn=False)
        t0 = time.perf_counter()
        bs.fit(data, seed=0, **kw)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        fit = bs.fit(data, seed=1, **kw)
        warm = time.perf_counter() - t0
        ss = fit.idata.sample_stats
        grads = float(ss.attrs["warmup_leapfrog_steps"] + np.asarray(ss["n_steps"]).sum())
        rows.append({
            "n": n, "gradient_us": g * 1e6, "first_s": first, "posterior_s": warm, "gradients": grads,
            "sampler_us_per_gradient": warm / grads * 1e6, "steps_per_draw": fit.diagnostics.mean_steps,
            "min_ess_bulk": min(fit.diagnostics.ess_bulk.values()), "max_rhat": max(fit.diagnostics.rhat.values()),
            "divergences": fit.diagnostics.n_divergent,
        })
        print(f"  n={n}: {g * 1e6:.1f} us/gradient, {warm:.1f} s/posterior", file=sys.stderr)
    base = rows[0]
    for r in rows:
        r["gradient_cost_ratio"] = r["gradient_us"] / base["gradient_us"]
        r["posterior_cost_ratio"] = r["posterior_s"] / base["posterior_s"]
        r["n_ratio"] = r["n"] / base["n"]
    cols = [("n", "n", "d"), ("gradient_us", "us/gradient", ".1f"), ("gradient_cost_ratio", "x", ".1f"),
            ("posterior_s", "s/posterior (warm)", ".2f"), ("posterior_cost_ratio", "x", ".1f"), ("first_s", "first fit s", ".1f"),
            ("sampler_us_per_gradient", "sampler us/gradient", ".1f"), ("steps_per_draw", "steps/draw", ".1f"),
            ("min_ess_bulk", "min ESS", ".0f"), ("max_rhat", "max R-hat", ".3f"), ("divergences", "div", "d")]
    print(f"\nData size: synthetic Chinchilla data, {cfg.chains} chains x ({warmup} + {draws})\n")
    print(table(rows, cols))
    payload = {"settings": {"chains": cfg.chains, "warmup": warmup, "draws": draws, "ns": ns, "quick": cfg.quick}, "results": rows}
    path = write_json("data_size" + ("_quick" if cfg.quick else ""), payload, cfg.out)
    print(f"\nwrote {path}")
    return payload


if __name__ == "__main__":
    main()
