"""Benchmark 1: one posterior of the Chinchilla law, bayescale vs named baselines, side by side.

Every sampler runs in a fresh Python process (so "cold" includes import and compilation)
on the same data, with the same chains and draws, and is then run a second time in the
same process (warm: compiled code reused). Reported per sampler: import, cold
time-to-posterior, compile (cold minus warm sampling), warm sampling time, min bulk ESS
over E, A, B, alpha, beta (ArviZ), ESS/s (warm), ESS per gradient evaluation, leapfrog
steps per draw, max R-hat, divergences; and ratios of bayescale against each baseline.

Samplers: ``bayescale`` (bs.fit), ``numpyro_textbook`` (baseline B: a, b, e, alpha, beta sampled directly, diagonal mass),
``nutpie`` (baseline C: PyMC model, numba backend, low-rank mass matrix), ``blackjax``
(NUTS with window adaptation, dense mass, on bayescale's centred model) and
``scipy_grid`` (baseline A: L-BFGS-B on summed Huber loss over 4,500 starts, analytic
gradient, plus its bootstrap). A peer that is not installed is reported as skipped.

The two samplers that keep compiled code on disk, bayescale (JAX's persistent compilation cache) and
nutpie (PyTensor's compile directory and numba's cache), each run three times in fresh processes:
cold (every cache empty), ``_cached`` (the same data again, caches kept) and ``_new_data`` (caches
kept, another dataset: the same runs less the last, a model neither has compiled).

With ``--baseline CHECKOUT`` bayescale's three rows run again with another checkout's bayescale (e.g. a
worktree of main), as ``bayescale_baseline*``, alternating with this checkout's runs, and the ratios say how
much faster this one is. The CLI rows: ``bayescale fit runs.csv`` (the same data as a CSV, the same settings)
in fresh processes, end to end, first with empty caches, then again (``--cli-repeats`` times, median) with
the caches the first left, this checkout's and the baseline's runs alternating. Every process's CPU time
(user + system) is recorded beside its wall time: on a shared machine the wall time says little. bayescale's ``import_s`` is ``import bayescale`` alone and ``first_s`` everything after it up
to the posterior (the fit's own imports, compiling or reading the cached programs, sampling).

Run: ``python benchmarks/bench_single_fit.py [--quick]`` (``--quick``: tiny settings, a smoke test).
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()  # process start (before any import): cold time-to-posterior counts from here

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import LAW_PARAMS, _children_cpu, _grid_fit, _huber_objective, classic_grid, ess_rhat, load_data, run_child, table, write_json  # noqa: E402


class _Data:
    """The data as plain arrays (children read them from .npz, so a baseline never imports bayescale)."""

    def __init__(self, path):
        z = np.load(path)
        self.N, self.D, self.loss = z["N"], z["D"], z["loss"]
        self.n = len(self.N)


def _posterior_ready() -> float:
    return time.perf_counter() - _T0

HERE = Path(__file__).resolve()
PEERS = ("numpyro_textbook", "nutpie", "blackjax")
#: Samplers with an on-disk compile cache, and the environment that points it at an empty folder: bayescale's
#: JAX cache; nutpie's PyTensor compile directory and numba's cache (both are reused by a later process, so a
#: second run of the same model is not cold).
COMPILE_CACHES = {
    "bayescale": lambda d: {"BAYESCALE_CACHE_DIR": d},
    "nutpie": lambda d: {"PYTENSOR_FLAGS": f"base_compiledir={d}/pytensor", "NUMBA_CACHE_DIR": f"{d}/numba"},
}


# ---------------------------------------------------------------- children (one sampler per process)
def _summary(draws: dict, n_steps: np.ndarray, warm_steps: float, n_div: int, sample_s: float, num_draws: int) -> dict:
    ess, rhat = ess_rhat(draws)
    grads = float(warm_steps + np.sum(n_steps))
    return {
        "min_ess_bulk": ess,
        "max_rhat": rhat,
        "divergences": int(n_div),
        "steps_per_draw": float(np.mean(n_steps)),
        "gradients": grads,
        "warmup_gradient_share": float(warm_steps / grads) if grads else None,
        "ess_per_s": ess / sample_s,
        "ess_per_gradient": ess / grads if grads else None,
        "draws": num_draws,
    }


def child_bayescale(data, cfg) -> dict:
    t0 = time.perf_counter()
    import bayescale as bs

    t_import = time.perf_counter() - t0  # ``import bayescale`` alone: the fit's modules load on first use
    t0 = time.perf_counter()
    data = bs.ScalingData.from_arrays(N=data.N, D=data.D, loss=data.loss)
    kw = dict(num_chains=cfg.chains, num_warmup=cfg.warmup, num_samples=cfg.draws, progress_bar=False, warn=False)
    bs.fit(data, seed=0, **kw)
    t_first = time.perf_counter() - t0  # after import: the fit's own imports, compile or cache reads, sampling
    cold = _posterior_ready()
    from bayescale.inference.nuts import TRACE_COUNTS

    traces = sum(TRACE_COUNTS.values())
    try:  # the executable cache (issue 30); absent from older checkouts (--baseline)
        from bayescale.inference.executable_cache import COUNTS as exe_counts
    except ImportError:
        exe_counts = None
    exe_counts = dict(exe_counts) if exe_counts is not None else None
    t0 = time.perf_counter()
    fit = bs.fit(data, seed=1, **kw)
    t_warm = time.perf_counter() - t0
    post, ss = fit.idata.posterior, fit.idata.sample_stats
    out = _summary(
        {k: np.asarray(post[k]) for k in LAW_PARAMS},
        np.asarray(ss["n_steps"]),
        ss.attrs["warmup_leapfrog_steps"],
        int(np.asarray(ss["diverging"]).sum()),
        t_warm,
        fit.diagnostics.n_draws,
    )
    out.update(import_s=t_import, first_s=t_first, warm_s=t_warm, cold_s=cold, retraced=sum(TRACE_COUNTS.values()) != traces,
               traces_first_fit=traces, executable_cache=exe_counts,
               compile_cache=bs.compile_cache_dir(), medians={k: float(np.median(post[k])) for k in LAW_PARAMS})
    return out


def child_numpyro_textbook(data, cfg) -> dict:
    """Baseline B: the law written as in a tutorial: a, b, e, alpha, beta sampled directly (no centring),
    diagonal mass matrix, NumPyro's MCMC with default initialisation; same priors on alpha, beta, sigma and
    the same Student-t likelihood on log loss as bayescale."""
    t0 = time.perf_counter()
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from jax.scipy.special import logsumexp
    from numpyro.infer import MCMC, NUTS

    t_import = time.perf_counter() - t0

    def model(logN, logD, logL=None):
        e = numpyro.sample("e", dist.Normal(0.0, 1.0))
        a = numpyro.sample("a", dist.Normal(5.0, 5.0))
        b = numpyro.sample("b", dist.Normal(5.0, 5.0))
        alpha = numpyro.sample("alpha", dist.LogNormal(-1.2, 0.75))
        beta = numpyro.sample("beta", dist.LogNormal(-1.2, 0.75))
        sigma = numpyro.sample("sigma", dist.HalfNormal(0.1))
        mu = logsumexp(jnp.stack(jnp.broadcast_arrays(e, a - alpha * logN, b - beta * logD)), axis=0)
        with numpyro.plate("runs", logN.shape[0]):
            numpyro.sample("obs", dist.StudentT(4.0, mu, sigma), obs=logL)

    args = [jnp.asarray(np.log(x), jnp.float32) for x in (data.N, data.D, data.loss)]
    mcmc = MCMC(NUTS(model, dense_mass=False), num_warmup=cfg.warmup, num_samples=cfg.draws, num_chains=cfg.chains,
                chain_method="vectorized", progress_bar=False, jit_model_args=True)
    fields = ("num_steps", "diverging")
    t0 = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(0), *args, extra_fields=fields)
    jax.block_until_ready(mcmc.get_samples())
    t_first = time.perf_counter() - t0
    cold = _posterior_ready()
    # Warm: the same MCMC object, warmup and sampling again (jit_model_args: no recompilation).
    t0 = time.perf_counter()
    mcmc.warmup(jax.random.PRNGKey(1), *args, extra_fields=("num_steps",), collect_warmup=True)
    warm_steps = float(np.sum(mcmc.get_extra_fields()["num_steps"]))
    mcmc.run(mcmc.post_warmup_state.rng_key, *args, extra_fields=fields)
    s = mcmc.get_samples(group_by_chain=True)
    jax.block_until_ready(s)
    t_warm = time.perf_counter() - t0
    ef = mcmc.get_extra_fields(group_by_chain=True)
    draws = {"E": np.exp(s["e"]), "A": np.exp(s["a"]), "B": np.exp(s["b"]), "alpha": s["alpha"], "beta": s["beta"]}
    out = _summary(draws, np.asarray(ef["num_steps"]), warm_steps, int(np.sum(ef["diverging"])), t_warm,
                   cfg.chains * cfg.draws)
    out.update(import_s=t_import, first_s=t_first, warm_s=t_warm, cold_s=cold, medians={k: float(np.median(v)) for k, v in draws.items()})
    return out


def child_nutpie(data, cfg) -> dict:
    """Baseline C: nutpie (numba backend) on a PyMC model identical to bayescale's (centred, same priors),
    with nutpie's low-rank modified mass-matrix adaptation."""
    t0 = time.perf_counter()
    try:
        import nutpie
        import pymc as pm
        import pytensor.tensor as pt
    except ImportError as err:
        return {"status": "skipped", "reason": f"not installed: {err.name}"}
    t_import = time.perf_counter() - t0
    # bayescale's reference scales (geometric means of N and D), computed here without importing it.
    ref = {"logN0": float(np.mean(np.log(data.N))), "logD0": float(np.mean(np.log(data.D)))}
    logN, logD, logL = np.log(data.N), np.log(data.D), np.log(data.loss)
    t0 = time.perf_counter()
    with pm.Model() as m:
        E = pm.LogNormal("E", 0.0, 1.0)
        A_ref = pm.LogNormal("A_ref", -1.0, 1.5)
        B_ref = pm.LogNormal("B_ref", -1.0, 1.5)
        alpha = pm.LogNormal("alpha", -1.2, 0.75)
        beta = pm.LogNormal("beta", -1.2, 0.75)
        sigma = pm.HalfNormal("sigma", 0.1)
        pm.Deterministic("A", A_ref * pt.exp(alpha * ref["logN0"]))
        pm.Deterministic("B", B_ref * pt.exp(beta * ref["logD0"]))
        terms = pt.stack([pt.log(E) + 0.0 * logN, pt.log(A_ref) - alpha * (logN - ref["logN0"]),
                          pt.log(B_ref) - beta * (logD - ref["logD0"])])
        mu = pt.log(pt.sum(pt.exp(terms), axis=0))
        pm.StudentT("obs", nu=4.0, mu=mu, sigma=sigma, observed=logL)
    compiled = nutpie.compile_pymc_model(m, backend="numba")
    kw = dict(draws=cfg.draws, tune=cfg.warmup, chains=cfg.chains, progress_bar=False, low_rank_modified_mass_matrix=True,
              save_warmup=True)
    trace = nutpie.sample(compiled, seed=0, **kw)
    t_first = time.perf_counter() - t0
    cold = _posterior_ready()
    t0 = time.perf_counter()
    trace = nutpie.sample(compiled, seed=1, **kw)
    t_warm = time.perf_counter() - t0
    post, ss = trace.posterior, trace.sample_stats
    wss = getattr(trace, "warmup_sample_stats", None)
    warm_steps = float(np.asarray(wss["n_steps"]).sum()) if wss is not None and "n_steps" in wss else 0.0
    out = _summary({k: np.asarray(post[k]) for k in LAW_PARAMS}, np.asarray(ss["n_steps"]), warm_steps,
                   int(np.asarray(ss["diverging"]).sum()), t_warm, cfg.chains * cfg.draws)
    out.update(import_s=t_import, first_s=t_first, warm_s=t_warm, cold_s=cold,
               medians={k: float(np.median(post[k])) for k in LAW_PARAMS})
    return out


def child_blackjax(data, cfg) -> dict:
    """BlackJAX NUTS with Stan-style window adaptation (dense mass) on bayescale's own centred model
    (log density from NumPyro), chains vmapped, the whole run jitted once."""
    t0 = time.perf_counter()
    try:
        import blackjax
    except ImportError as err:
        return {"status": "skipped", "reason": f"not installed: {err.name}"}
    import jax
    from jax.flatten_util import ravel_pytree
    from numpyro.infer.util import initialize_model

    import bayescale as bs

    t_import = time.perf_counter() - t0
    data = bs.ScalingData.from_arrays(N=data.N, D=data.D, loss=data.loss)
    spec = bs.ScalingModel()
    model = spec.program()
    args, _ = spec.args(data)

    def build():
        info = initialize_model(jax.random.PRNGKey(0), model, model_args=args)
        z0, unravel = ravel_pytree(info.param_info.z)

        def logdensity(zf):
            return -info.potential_fn(unravel(zf))

        def one_chain(key):
            k_init, k_adapt, k_sample = jax.random.split(key, 3)
            # NumPyro's default init_to_uniform: uniform(-2, 2) in the unconstrained space.
            init = jax.random.uniform(k_init, z0.shape, minval=-2.0, maxval=2.0)
            adapt = blackjax.window_adaptation(blackjax.nuts, logdensity, is_mass_matrix_diagonal=False,
                                               target_acceptance_rate=0.8)
            (state, params), ainfo = adapt.run(k_adapt, init, num_steps=cfg.warmup)
            kernel = blackjax.nuts(logdensity, **params)

            def step(st, k):
                st, inf = kernel.step(k, st)
                return st, (st.position, inf.num_integration_steps, inf.is_divergent)

            _, (zs, nsteps, div) = jax.lax.scan(step, state, jax.random.split(k_sample, cfg.draws))
            return zs, nsteps, div, jax.numpy.sum(ainfo.info.num_integration_steps)

        def run(key):
            zs, nsteps, div, wsteps = jax.vmap(one_chain)(jax.random.split(key, cfg.chains))
            post = jax.vmap(jax.vmap(lambda zf: info.postprocess_fn(unravel(zf))))(zs)
            return post, nsteps, div, wsteps

        return jax.jit(run)

    t0 = time.perf_counter()
    run = build()
    jax.block_until_ready(run(jax.random.PRNGKey(0)))
    t_first = time.perf_counter() - t0
    cold = _posterior_ready()
    t0 = time.perf_counter()
    post, nsteps, div, wsteps = jax.block_until_ready(run(jax.random.PRNGKey(1)))
    t_warm = time.perf_counter() - t0
    out = _summary({k: np.asarray(post[k]) for k in LAW_PARAMS}, np.asarray(nsteps), float(np.sum(wsteps)),
                   int(np.sum(div)), t_warm, cfg.chains * cfg.draws)
    out.update(import_s=t_import, first_s=t_first, warm_s=t_warm, cold_s=cold, medians={k: float(np.median(post[k])) for k in LAW_PARAMS})
    return out


def child_scipy_grid(data, cfg) -> dict:
    """Baseline A: Chinchilla Approach 3 as Epoch AI replicated it (summed Huber, delta 1e-3, L-BFGS-B,
    4,500-start grid), and its bootstrap (refit of the full grid per resample) for intervals."""
    t0 = time.perf_counter()
    try:
        import scipy  # noqa: F401
    except ImportError as err:
        return {"status": "skipped", "reason": f"not installed: {err.name}"}
    t_import = time.perf_counter() - t0
    grid = classic_grid(small=cfg.quick)
    logN, logD, logL = np.log(data.N), np.log(data.D), np.log(data.loss)
    t0 = time.perf_counter()
    f = _huber_objective()
    best, val = _grid_fit(f, logN, logD, logL, grid)
    t_grid = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    # Bootstrap, two ways. (1) Each resample refits from the full-data optimum (one L-BFGS-B start):
    # the cheapest bootstrap a practitioner would run, measured on all resamples. (2) Each resample
    # reruns the whole 4,500-start grid (as the point fit itself): measured on a few resamples only.
    t0 = time.perf_counter()
    boots = []
    for _ in range(cfg.boot_resamples):
        i = rng.integers(0, data.n, data.n)
        boots.append(_grid_fit(f, logN[i], logD[i], logL[i], [best])[0])
    t_boot = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(cfg.boot_grid_resamples):
        i = rng.integers(0, data.n, data.n)
        _grid_fit(f, logN[i], logD[i], logL[i], grid)
    t_boot_grid = time.perf_counter() - t0
    a, b, e, alpha, beta = best
    point = {"E": float(np.exp(e)), "A": float(np.exp(a)), "B": float(np.exp(b)), "alpha": float(alpha), "beta": float(beta)}
    boots = np.asarray(boots)
    per = t_boot / max(cfg.boot_resamples, 1)
    per_grid = t_boot_grid / max(cfg.boot_grid_resamples, 1)
    return {
        "import_s": t_import, "starts": len(grid), "grid_s": t_grid, "point": point, "huber_sum": float(val),
        "boot_resamples": cfg.boot_resamples, "boot_s": t_boot, "boot_per_resample_s": per, "boot_4000_s": per * 4000,
        "boot_alpha_95": [float(v) for v in np.quantile(boots[:, 3], [0.025, 0.975])] if len(boots) > 1 else None,
        "boot_grid_resamples": cfg.boot_grid_resamples, "boot_grid_per_resample_s": per_grid,
        "boot_grid_4000_s": per_grid * 4000,
    }


CHILDREN = {
    "bayescale": child_bayescale,
    "numpyro_textbook": child_numpyro_textbook,
    "nutpie": child_nutpie,
    "blackjax": child_blackjax,
    "scipy_grid": child_scipy_grid,
}


# ---------------------------------------------------------------- parent
def cli_runs(csv: Path, settings: list[str], roots: dict[str, Path], repeats: int) -> dict:
    """``bayescale fit runs.csv`` in fresh processes, end to end, for each checkout in ``roots``: a first run with
    empty caches, then ``repeats`` second runs with the caches it left (each a second run: nothing more is
    stored), the checkouts alternating so that they share the machine's load. Wall and CPU seconds (user +
    system) of each run; ``second_s`` is the median of the second runs."""
    import subprocess

    def once(root: Path, cache: str) -> tuple[float, float, str]:
        env = {**os.environ, "BAYESCALE_CACHE_DIR": cache,
               "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
        t0, cpu0 = time.perf_counter(), _children_cpu()
        # cwd: the CSV's folder, not a checkout (``python -m`` puts the working directory before PYTHONPATH).
        proc = subprocess.run([sys.executable, "-m", "bayescale.cli", "fit", str(csv), *settings], capture_output=True,
                              text=True, env=env, timeout=1800, cwd=csv.parent)
        error = "" if proc.returncode in (0, 3) else proc.stderr[-2000:]
        return time.perf_counter() - t0, _children_cpu() - cpu0, error

    out = {name: {"status": "ok", "second_runs_s": [], "second_runs_cpu_s": []} for name in roots}
    with contextlib.ExitStack() as stack:
        caches = {name: stack.enter_context(tempfile.TemporaryDirectory()) for name in roots}
        for run in range(1 + repeats):
            for name, root in roots.items():
                wall, cpu, error = once(root, caches[name])
                if error:
                    out[name] = {"status": "error", "error": error}
                elif out[name]["status"] == "ok" and run == 0:
                    out[name].update(first_s=wall, first_cpu_s=cpu)
                elif out[name]["status"] == "ok":
                    out[name]["second_runs_s"].append(wall)
                    out[name]["second_runs_cpu_s"].append(cpu)
    for r in out.values():
        if r["status"] == "ok":
            r["second_s"], r["second_cpu_s"] = float(np.median(r["second_runs_s"])), float(np.median(r["second_runs_cpu_s"]))
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny settings: a smoke test, not a measurement")
    p.add_argument("--data", default="auto", help="'auto' (Epoch if ../shared/data has it, else the example), 'example' or a CSV path")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--draws", type=int, default=None)
    p.add_argument("--boot-resamples", type=int, default=None, help="baseline A bootstrap resamples (default 200; quick 2)")
    p.add_argument("--boot-grid-resamples", type=int, default=None,
                   help="baseline A bootstrap resamples that rerun the full grid, timed and scaled (default 2; quick 1)")
    p.add_argument("--samplers", default="bayescale,scipy_grid," + ",".join(PEERS),
                   help="comma-separated subset of " + ",".join(CHILDREN))
    p.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    p.add_argument("--baseline", default=None, metavar="CHECKOUT",
                   help="also run bayescale's rows and the CLI rows with the bayescale of this checkout (e.g. a "
                        "worktree of main), as 'bayescale_baseline*', side by side in the same run")
    p.add_argument("--no-cli", action="store_true", help="skip the rows of `bayescale fit` run twice")
    p.add_argument("--cli-repeats", type=int, default=3, help="second CLI runs per checkout (median reported; default 3)")
    p.add_argument("--cli-only", action="store_true", help="only the CLI rows (written to single_fit_cli.json)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    cfg = p.parse_args(argv)
    cfg.warmup = cfg.warmup if cfg.warmup is not None else (50 if cfg.quick else 1000)
    cfg.draws = cfg.draws if cfg.draws is not None else (50 if cfg.quick else 1000)
    cfg.boot_resamples = cfg.boot_resamples if cfg.boot_resamples is not None else (2 if cfg.quick else 200)
    cfg.boot_grid_resamples = cfg.boot_grid_resamples if cfg.boot_grid_resamples is not None else (1 if cfg.quick else 2)

    if cfg.child:
        print(json.dumps({"status": "ok", **CHILDREN[cfg.child](_Data(cfg.data), cfg)}, default=float))
        return {}

    data_name, data = load_data(cfg.data)
    tmp = tempfile.TemporaryDirectory()
    npz = Path(tmp.name) / "data.npz"
    np.savez(npz, N=data.N, D=data.D, loss=data.loss)
    # Another dataset (the last run left out): a new model for every compiler, with library caches warm.
    npz_new = Path(tmp.name) / "data_new.npz"
    np.savez(npz_new, N=data.N[:-1], D=data.D[:-1], loss=data.loss[:-1])
    passthrough = ["--data", str(npz), "--chains", str(cfg.chains), "--warmup", str(cfg.warmup), "--draws", str(cfg.draws),
                   "--boot-resamples", str(cfg.boot_resamples), "--boot-grid-resamples", str(cfg.boot_grid_resamples)] + (["--quick"] if cfg.quick else [])
    results = {}
    names = [s.strip() for s in cfg.samplers.split(",") if s.strip()]
    if cfg.baseline and "bayescale" in names:
        names.insert(names.index("bayescale") + 1, "bayescale_baseline")
    new = [str(npz_new) if a == str(npz) else a for a in passthrough]
    for name in [] if cfg.cli_only else names:
        if name == "bayescale_baseline":
            continue  # run with bayescale's rows, interleaved
        if name not in CHILDREN:
            raise SystemExit(f"unknown sampler {name!r}; choose from {sorted(CHILDREN)}")
        if name in COMPILE_CACHES:
            # Cold: a fresh process with empty compile caches; cached: a second process reusing them (same
            # data); new_data: a third process, caches kept, fitting another dataset (one run fewer). With a
            # baseline, its runs alternate with bayescale's, so both see the same load on a shared machine.
            runs = [(name, None)] + ([("bayescale_baseline", Path(cfg.baseline).resolve())]
                                     if name == "bayescale" and cfg.baseline else [])
            with contextlib.ExitStack() as stack:
                envs = {row: COMPILE_CACHES[name](stack.enter_context(tempfile.TemporaryDirectory())) for row, _ in runs}
                for suffix, args in (("", passthrough), ("_cached", passthrough), ("_new_data", new)):
                    for row, root in runs:
                        results[row + suffix] = run_child(HERE, ["--child", name, *args], env=envs[row], root=root)
        else:
            results[name] = run_child(HERE, ["--child", name, *passthrough])
        print(f"  {name}: {results[name].get('status')}", file=sys.stderr)
    cli = {}
    if "bayescale" in names and not cfg.no_cli:
        csv = Path(tmp.name) / "runs.csv"
        np.savetxt(csv, np.column_stack([data.N, data.D, data.loss]), delimiter=",", header="N,D,loss", comments="")
        settings = ["--chains", str(cfg.chains), "--warmup", str(cfg.warmup), "--draws", str(cfg.draws)]
        roots = {"bayescale": HERE.parents[1], **({"bayescale_baseline": Path(cfg.baseline).resolve()} if cfg.baseline else {})}
        cli = cli_runs(csv, settings, roots, repeats=cfg.cli_repeats)

    rows = []
    for name, r in results.items():
        if r.get("status") != "ok" or name == "scipy_grid":
            rows.append({"sampler": name, "status": r.get("status") if name != "scipy_grid" else "point fit", "note": r.get("reason") or (r.get("error") or "")[-200:]})
            continue
        r["compile_s"] = r["first_s"] - r["warm_s"]
        rows.append({"sampler": name, "status": "ok", **{k: r.get(k) for k in (
            "import_s", "cold_s", "process_cpu_s", "compile_s", "warm_s", "steps_per_draw", "min_ess_bulk", "ess_per_s",
            "ess_per_gradient", "max_rhat", "divergences")}})
    cols = [("sampler", "sampler", ""), ("import_s", "import s", ".2f"), ("cold_s", "cold s (import+compile+sample)", ".1f"),
            ("process_cpu_s", "process CPU s", ".1f"),
            ("compile_s", "compile s", ".1f"), ("warm_s", "warm s", ".2f"), ("steps_per_draw", "steps/draw", ".1f"),
            ("min_ess_bulk", "min bulk ESS", ".0f"), ("ess_per_s", "ESS/s (warm)", ".0f"),
            ("ess_per_gradient", "ESS/grad", ".4f"), ("max_rhat", "max R-hat", ".3f"), ("divergences", "div", "d")]
    print(f"\nSingle fit on {data_name} ({data.n} points), {cfg.chains} chains x ({cfg.warmup} + {cfg.draws})\n")
    print(table([r for r in rows if r["status"] == "ok"], cols))
    for r in rows:
        if r["status"] != "ok" and r["sampler"] != "scipy_grid":
            print(f"  {r['sampler']}: {r['status']} {r['note']}")

    ratios = {}
    bsr = results.get("bayescale", {})
    if bsr.get("status") == "ok":
        for name, r in results.items():
            if name.startswith("bayescale") or name.endswith(("_cached", "_new_data")) or r.get("status") != "ok" \
                    or name == "scipy_grid":
                continue
            cached, new = results.get(f"{name}_cached", {}), results.get(f"{name}_new_data", {})
            ok = lambda r: r.get("status") == "ok"  # noqa: E731
            ratios[name] = {
                "warm_ess_per_s": bsr["ess_per_s"] / r["ess_per_s"],
                "ess_per_gradient": bsr["ess_per_gradient"] / r["ess_per_gradient"],
                "cold_time": r["cold_s"] / bsr["cold_s"],
                "cold_time_vs_bayescale_cached": r["cold_s"] / results["bayescale_cached"]["cold_s"]
                if results.get("bayescale_cached", {}).get("status") == "ok" else None,
                "cached_time_both_cached": cached["cold_s"] / results["bayescale_cached"]["cold_s"]
                if ok(cached) and ok(results.get("bayescale_cached", {})) else None,
                "new_data_time_both": new["cold_s"] / results["bayescale_new_data"]["cold_s"]
                if ok(new) and ok(results.get("bayescale_new_data", {})) else None,
            }
        sg = results.get("scipy_grid", {})
        if sg.get("status") == "ok":
            ratios["scipy_grid"] = {
                "grid_time_over_bayescale_cold": sg["grid_s"] / bsr["cold_s"],
                "bootstrap4000_over_bayescale_cold": sg["boot_4000_s"] / bsr["cold_s"],
                "grid_bootstrap4000_over_bayescale_cold": sg["boot_grid_4000_s"] / bsr["cold_s"],
            }
    sg = results.get("scipy_grid", {})
    if sg.get("status") == "ok":
        print(f"\nbaseline A (scipy L-BFGS-B, summed Huber, {sg['starts']} starts, analytic gradient): "
              f"grid {sg['grid_s']:.1f} s, point {', '.join(f'{k}={v:.4g}' for k, v in sg['point'].items())}; "
              f"bootstrap from the optimum: {sg['boot_resamples']} resamples {sg['boot_s']:.1f} s -> 4,000 resamples "
              f"{sg['boot_4000_s']:.0f} s; full-grid bootstrap {sg['boot_grid_per_resample_s']:.1f} s per resample "
              f"-> 4,000 resamples {sg['boot_grid_4000_s'] / 3600:.1f} h")
    if ratios:
        print("\nratios (>1: bayescale better): " + json.dumps(ratios, indent=1, default=lambda v: round(float(v), 3)))
    if cli:
        print("\n`bayescale fit runs.csv` twice, end to end (fresh processes; first with empty caches):")
        for name, r in cli.items():
            print(f"  {name}: " + (f"first {r['first_s']:.1f} s ({r['first_cpu_s']:.1f} s CPU), second {r['second_s']:.1f} s "
                                   f"({r['second_cpu_s']:.1f} s CPU; median of {len(r['second_runs_s'])})"
                                   if r["status"] == "ok" else f"error {r['error'][-300:]}"))
        if cli.get("bayescale_baseline", {}).get("status") == "ok" and cli["bayescale"]["status"] == "ok":
            base, mine = cli["bayescale_baseline"], cli["bayescale"]
            ratios["cli_vs_baseline"] = {k: base[k] / mine[k] for k in ("first_s", "first_cpu_s", "second_s", "second_cpu_s")}
    for name in ("bayescale_baseline", "bayescale_baseline_cached", "bayescale_baseline_new_data"):
        mine, base = results.get(name.replace("_baseline", ""), {}), results.get(name, {})
        if mine.get("status") == "ok" and base.get("status") == "ok":
            ratios[name.replace("bayescale_baseline", "vs_baseline")] = {
                k: base[k] / mine[k] for k in ("import_s", "first_s", "cold_s", "process_wall_s", "process_cpu_s")}
    payload = {"data": data_name, "n": data.n, "settings": {k: getattr(cfg, k) for k in ("chains", "warmup", "draws",
               "boot_resamples", "boot_grid_resamples", "quick")}, "results": results, "ratios": ratios, "cli": cli,
               "baseline": cfg.baseline, "load_average_end": os.getloadavg()}
    tmp.cleanup()
    path = write_json("single_fit" + ("_cli" if cfg.cli_only else "") + ("_quick" if cfg.quick else ""), payload, cfg.out)
    print(f"\nwrote {path}")
    return payload


if __name__ == "__main__":
    main()
