"""Benchmark 3: cost against data size. Synthetic Chinchilla data with n = 250 ... 25,000 points.

Per n: the time of one compiled value-and-gradient of the model's log density (the unit of
NUTS work), and of a whole posterior (warm ``bs.fit``: compile excluded), with the sampler's
cost per leapfrog step. In the same run, the same model with the law in its previous form
(``logsumexp(jnp.stack(terms), axis=0)``) is the baseline, and a minimal pure-JAX reproducer
times the XLA:CPU reduction behind the difference. Run: ``python benchmarks/bench_data_size.py [--quick]``.

Per-point ratios are ``(us per gradient / n) / (us per gradient / n at the smallest n)``: 1 is
linear, above 1 superlinear. ``cpu_per_wall`` above 1 means XLA ran part of a gradient on a second
thread (it did, at a loss, in the baseline above 10,922 points).
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import synthetic, table, write_json  # noqa: E402

#: Baseline name, recorded in the JSON.
BASELINE = "stack_logsumexp"


def _stack_centred_log_loss(s, ref, logN, logD):
    """The Chinchilla law as bayescale wrote it before: logsumexp over a stacked (3, n) array."""
    import jax.numpy as jnp
    from jax.scipy.special import logsumexp

    terms = jnp.broadcast_arrays(
        jnp.log(s["E"]),
        jnp.log(s["A_ref"]) - s["alpha"] * (logN - ref["logN0"]),
        jnp.log(s["B_ref"]) - s["beta"] * (logD - ref["logD0"]),
    )
    return logsumexp(jnp.stack(terms, axis=0), axis=0)


def baseline_law():
    import bayescale as bs

    return dataclasses.replace(bs.CHINCHILLA, sampled_log_loss=_stack_centred_log_loss)


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed(fn, arg, reps: int) -> tuple[float, float]:
    """Seconds per inner repetition of ``fn(arg)`` (a compiled loop of ``reps``), and process CPU / wall."""
    import jax

    c0, t0 = _cpu_s(), time.perf_counter()
    jax.block_until_ready(fn(*arg))
    wall = time.perf_counter() - t0
    return wall / reps, (_cpu_s() - c0) / wall


def gradient_loops(data, laws: dict, repeats: int) -> dict:
    """Per law, a compiled loop of ``repeats`` value-and-gradients of the model's potential."""
    import jax
    from jax.flatten_util import ravel_pytree
    from numpyro.infer.util import initialize_model

    import bayescale as bs

    out = {}
    for name, law in laws.items():
        spec = bs.ScalingModel(law)
        args, _ = spec.args(data)
        info = initialize_model(jax.random.PRNGKey(0), spec.program(), model_args=args, dynamic_args=True)
        z0, unravel = ravel_pytree(info.param_info.z)
        vg = jax.value_and_grad(lambda z, a, info=info, unravel=unravel: info.potential_fn(*a)(unravel(z)))
        # Many gradients inside one compiled loop (as NUTS calls them), so dispatch overhead is excluded.
        loop = jax.jit(lambda z, a, vg=vg: jax.lax.fori_loop(0, repeats, lambda i, zz: zz + 1e-9 * vg(zz, a)[1], z))
        jax.block_until_ready(loop(z0, args))
        out[name] = (loop, (z0, args))
    return out


def time_interleaved(loops: dict, repeats: int, rounds: int) -> dict:
    """Median over ``rounds`` of each loop's us per gradient and CPU/wall, the loops alternating."""
    samples = {k: [] for k in loops}
    for _ in range(rounds):
        for k, (fn, arg) in loops.items():
            samples[k].append(_timed(fn, arg, repeats))
    return {k: (statistics.median(s[0] for s in v) * 1e6, statistics.median(s[1] for s in v)) for k, v in samples.items()}


def xla_reproducer(ns: list[int], rounds: int) -> list[dict]:
    """Pure JAX, no bayescale: a (3, n) float32 array summed over its leading axis (what ``logsumexp(stack)``
    does), against the same sum written elementwise (``x[0] + x[1] + x[2]``), in a compiled loop."""
    import jax
    import jax.numpy as jnp

    forms = {
        "reduce_axis0_us": lambda x: jnp.sum(x, axis=0)[None, :],
        "elementwise_us": lambda x: (x[0] + x[1] + x[2])[None, :],
    }
    rows = []
    for n in ns:
        reps = max(200, int(2e6 / n))
        x = jnp.asarray(np.random.default_rng(n).normal(size=(3, n)), jnp.float32)
        loops = {}
        for k, f in forms.items():
            loop = jax.jit(lambda x, f=f: jax.lax.fori_loop(0, reps, lambda i, xx: xx + 1e-9 * f(xx), x))
            jax.block_until_ready(loop(x))
            loops[k] = (loop, (x,))
        t = time_interleaved(loops, reps, rounds)
        row = {"n": n, "stacked_bytes": 3 * n * 4}
        for k, (us, cw) in t.items():
            row[k] = us
            row[k.replace("_us", "_cpu_per_wall")] = cw
        row["slowdown"] = row["reduce_axis0_us"] / row["elementwise_us"]
        rows.append(row)
        print(f"  repro n={n}: reduce(axis=0) {row['reduce_axis0_us']:.1f} us, elementwise {row['elementwise_us']:.1f} us",
              file=sys.stderr)
    return rows


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--ns", default=None, help="default 250,2500,5000,10000,25000 (quick 50,200)")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=None, help="default 1000 (quick 30)")
    p.add_argument("--draws", type=int, default=None, help="default 1000 (quick 30)")
    p.add_argument("--rounds", type=int, default=None, help="timing rounds per gradient figure, median kept (default 7, quick 2)")
    p.add_argument("--no-baseline-posterior", action="store_true", help="time the baseline's gradient only, not its posterior")
    p.add_argument("--out", default=None)
    cfg = p.parse_args(argv)
    ns = [int(n) for n in (cfg.ns or ("50,200" if cfg.quick else "250,2500,5000,10000,25000")).split(",")]
    warmup = cfg.warmup or (30 if cfg.quick else 1000)
    draws = cfg.draws or (30 if cfg.quick else 1000)
    rounds = cfg.rounds or (2 if cfg.quick else 7)
    import bayescale as bs

    laws = {"library": bs.CHINCHILLA, "baseline": baseline_law()}
    kw = dict(num_chains=cfg.chains, num_warmup=warmup, num_samples=draws, progress_bar=False, warn=False)
    rows = []
    for n in ns:
        data = synthetic(n, seed=n)
        repeats = 200 if cfg.quick else max(500, int(5e6 / n))
        g = time_interleaved(gradient_loops(data, laws, repeats), repeats, rounds)
        row = {"n": n, "gradient_us": g["library"][0], "gradient_cpu_per_wall": g["library"][1],
               "baseline_gradient_us": g["baseline"][0], "baseline_gradient_cpu_per_wall": g["baseline"][1]}
        t0 = time.perf_counter()
        bs.fit(data, seed=0, **kw)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        fit = bs.fit(data, seed=1, **kw)
        warm = time.perf_counter() - t0
        ss = fit.idata.sample_stats
        grads = float(ss.attrs["warmup_leapfrog_steps"] + np.asarray(ss["n_steps"]).sum())
        row.update({
            "first_s": first, "posterior_s": warm, "gradients": grads,
            "sampler_us_per_gradient": warm / grads * 1e6, "steps_per_draw": fit.diagnostics.mean_steps,
            "min_ess_bulk": min(fit.diagnostics.ess_bulk.values()), "max_rhat": max(fit.diagnostics.rhat.values()),
            "divergences": fit.diagnostics.n_divergent,
        })
        if not cfg.no_baseline_posterior:
            bs.fit(data, law=laws["baseline"], seed=0, **kw)
            t0 = time.perf_counter()
            bfit = bs.fit(data, law=laws["baseline"], seed=1, **kw)
            row["baseline_posterior_s"] = time.perf_counter() - t0
            bss = bfit.idata.sample_stats
            bgrads = float(bss.attrs["warmup_leapfrog_steps"] + np.asarray(bss["n_steps"]).sum())
            row["baseline_sampler_us_per_gradient"] = row["baseline_posterior_s"] / bgrads * 1e6
        rows.append(row)
        print(f"  n={n}: {row['gradient_us']:.1f} us/gradient (baseline {row['baseline_gradient_us']:.1f}), "
              f"{warm:.2f} s/posterior" + (f" (baseline {row['baseline_posterior_s']:.2f})" if "baseline_posterior_s" in row else ""),
              file=sys.stderr)
    base = rows[0]
    for r in rows:
        r["n_ratio"] = r["n"] / base["n"]
        r["gradient_cost_ratio"] = r["gradient_us"] / base["gradient_us"]
        r["gradient_per_point_ratio"] = r["gradient_cost_ratio"] / r["n_ratio"]
        r["baseline_gradient_cost_ratio"] = r["baseline_gradient_us"] / base["baseline_gradient_us"]
        r["baseline_gradient_per_point_ratio"] = r["baseline_gradient_cost_ratio"] / r["n_ratio"]
        r["posterior_cost_ratio"] = r["posterior_s"] / base["posterior_s"]
        if "baseline_posterior_s" in r:
            r["baseline_posterior_cost_ratio"] = r["baseline_posterior_s"] / base["baseline_posterior_s"]
    repro_ns = [50, 200] if cfg.quick else [2500, 10922, 10923, 25000, 50000]
    repro = xla_reproducer(repro_ns, rounds)
    linear = max(r["gradient_per_point_ratio"] for r in rows)

    cols = [("n", "n", "d"), ("gradient_us", "us/gradient", ".1f"), ("gradient_per_point_ratio", "per point", ".2f"),
            ("gradient_cpu_per_wall", "cpu/wall", ".2f"), ("baseline_gradient_us", "baseline us/gradient", ".1f"),
            ("baseline_gradient_per_point_ratio", "per point", ".2f"), ("baseline_gradient_cpu_per_wall", "cpu/wall", ".2f"),
            ("posterior_s", "s/posterior (warm)", ".2f"), ("posterior_cost_ratio", "x", ".1f"),
            ("baseline_posterior_s", "baseline s/posterior", ".2f"), ("baseline_posterior_cost_ratio", "x", ".1f"),
            ("sampler_us_per_gradient", "sampler us/gradient", ".1f"), ("first_s", "first fit s", ".1f"),
            ("steps_per_draw", "steps/draw", ".1f"), ("min_ess_bulk", "min ESS", ".0f"), ("max_rhat", "max R-hat", ".3f"),
            ("divergences", "div", "d")]
    print(f"\nData size: synthetic Chinchilla data, {cfg.chains} chains x ({warmup} + {draws}); "
          f"baseline = the law as logsumexp(jnp.stack(terms), axis=0); gradient figures are medians of {rounds} interleaved rounds\n")
    print(table(rows, cols))
    print(f"\nlibrary: per-gradient cost per point, largest over smallest-n normalisation: {linear:.2f} (linear within 1.5x: {linear <= 1.5})")
    print("\nXLA:CPU reproducer (pure JAX): sum of a float32 (3, n) array over axis 0, vs x[0] + x[1] + x[2]\n")
    print(table(repro, [("n", "n", "d"), ("stacked_bytes", "bytes", "d"), ("reduce_axis0_us", "reduce(axis=0) us", ".1f"),
                        ("reduce_axis0_cpu_per_wall", "cpu/wall", ".2f"), ("elementwise_us", "elementwise us", ".1f"),
                        ("slowdown", "x", ".1f")]))
    payload = {"settings": {"chains": cfg.chains, "warmup": warmup, "draws": draws, "ns": ns, "quick": cfg.quick,
                            "rounds": rounds, "baseline": BASELINE},
               "library_per_point_ratio_max": linear, "results": rows, "xla_reproducer": repro}
    path = write_json("data_size" + ("_quick" if cfg.quick else ""), payload, cfg.out)
    print(f"\nwrote {path}")
    return payload


if __name__ == "__main__":
    main()
