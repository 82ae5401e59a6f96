"""Shared helpers of the benchmark scripts: machine record, data, ESS, tables, JSON."""

from __future__ import annotations

import atexit
import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

def _fresh_compile_cache() -> None:
    """Benchmarks time compilation. Unless ``BAYESCALE_CACHE_DIR`` is set, point bayescale's persistent
    compile cache at a new empty directory for this process and its children, so that a "first call"
    compiles here instead of loading programs left in ``~/.cache`` by earlier runs."""
    if not os.environ.get("BAYESCALE_CACHE_DIR"):
        path = tempfile.mkdtemp(prefix="bayescale-bench-cache-")
        os.environ["BAYESCALE_CACHE_DIR"] = path
        atexit.register(shutil.rmtree, path, True)


_fresh_compile_cache()

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
#: Real data (Epoch, Porian, Li) live beside the project, never inside it.
SHARED_DATA = ROOT.parent / "shared" / "data"
EPOCH_DIR = SHARED_DATA
LAW_PARAMS = ("E", "A", "B", "alpha", "beta")
SCHEMA_VERSION = 1
HUBER_DELTA = 1e-3


def machine() -> dict:
    """Machine, device and library versions, recorded with every result."""
    import importlib.metadata as md

    import jax

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    versions = {}
    for pkg in ("bayescale", "jax", "jaxlib", "numpyro", "arviz", "optax", "numpy", "scipy", "blackjax", "nutpie", "pymc"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    try:
        import bayescale

        versions["bayescale"] = bayescale.__version__
    except Exception:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "load_average": list(load) if load else None,
        "jax_devices": [str(d) for d in jax.devices()],
        "jax_backend": jax.default_backend(),
        "versions": versions,
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def load_data(which: str = "auto"):
    """Epoch AI's 240 Chinchilla points when ``../shared/data`` has them (or ``which`` is a path), else the example."""
    import bayescale as bs

    if which in ("auto", "epoch"):
        env = os.environ.get(bs.datasets.CHINCHILLA_ENV)
        candidates = [Path(env) if env else None, EPOCH_DIR, ROOT.parent.parent / "shared" / "data"]
        path = next((c for c in candidates if c is not None and c.exists()), EPOCH_DIR)
        if path.is_dir():
            path = path / "epoch_chinchilla_svg_extracted_data.csv"
        if path.exists():
            return "epoch", bs.datasets.load_chinchilla(path, drop_outliers=True)
        if which == "epoch":
            raise SystemExit(f"Epoch data not found at {path}")
    if which not in ("auto", "example"):
        return Path(which).name, bs.datasets.load_chinchilla(which, drop_outliers=True)
    return "example", bs.datasets.example()


def synthetic(n: int, seed: int = 0):
    """``n`` runs of the Chinchilla law at Epoch's parameters, IsoFLOP-like design, 1% Student-t noise."""
    import bayescale as bs

    rng = np.random.default_rng(seed)
    C = np.exp(rng.uniform(np.log(6e18), np.log(3e21), n))
    N = np.exp(rng.uniform(np.log(7e7), np.log(1.6e10), n))
    N = np.minimum(N, C / 6 / 1e8)  # keep D >= 1e8 tokens
    D = C / (6 * N)
    truth = bs.datasets.EXAMPLE_TRUTH
    loss = np.asarray(bs.chinchilla_loss({k: np.float64(v) for k, v in truth.items()}, N, D))
    loss = loss * np.exp(0.01 * rng.standard_t(5, size=n))
    return bs.ScalingData.from_arrays(N=N, D=D, loss=loss)


def ess_rhat(draws: dict) -> tuple[float, float]:
    """Min bulk ESS and max R-hat over the law's parameters, from ``{name: (chain, draw)}`` arrays (ArviZ)."""
    from bayescale.posterior import idata as _idata

    ess, rhat = _idata.ess_rhat_arrays({k: np.asarray(draws[k], dtype=np.float64) for k in LAW_PARAMS})
    return float(min(ess.values())), float(max(rhat.values()))


def run_child(script: Path, args: list[str], env: dict | None = None, timeout: float = 1800,
              root: Path | None = None) -> dict:
    """Run ``python script args`` in a fresh process; it prints one JSON object on its last stdout line.
    ``root``: the checkout whose bayescale it imports (default this one)."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join([str(root or ROOT), full_env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    t0, cpu0 = time.perf_counter(), _children_cpu()
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=full_env, timeout=timeout)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    if proc.returncode != 0:
        return {"status": "error", "error": (proc.stderr or proc.stdout)[-2000:], "process_wall_s": wall}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_wall_s"], out["process_cpu_s"] = wall, cpu
    return out


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children: a child's share of a loaded machine
    inflates its wall time, not its CPU time."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """Markdown table: ``columns`` are (key, header, format)."""
    head = "| " + " | ".join(h for _, h, _ in columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    lines = [head, sep]
    for r in rows:
        cells = []
        for key, _, fmt in columns:
            v = r.get(key)
            if v is None or (isinstance(v, float) and not np.isfinite(v)):
                cells.append("-")
            elif isinstance(v, str):
                cells.append(v)
            else:
                cells.append(format(v, fmt))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_json(name: str, payload: dict, out_dir: Path | None = None) -> Path:
    out_dir = Path(out_dir or RESULTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    payload = {"benchmark": name, "schema_version": SCHEMA_VERSION, "machine": machine(), **payload}
    path.write_text(json.dumps(payload, indent=2, default=float))
    return path


# ---------------------------------------------------------------- the classic point fit (Hoffmann et al. Approach 3, Epoch AI)
def classic_grid(small: bool = False) -> list[np.ndarray]:
    """Starts in (a, b, e, alpha, beta): Epoch AI's 4,500 (a, b in {0, 5, .., 25}; e in {-1, -0.5, .., 1};
    alpha, beta in {0, 0.5, .., 2}), or 4 (``small``: a, b in {5, 10}; e, alpha, beta = 0.5) for smoke runs."""
    import itertools

    ab = np.arange(0, 30, 5.0) if not small else np.array([5.0, 10.0])
    ex = np.arange(-1, 1.5, 0.5) if not small else np.array([0.5])
    ex_ab = np.arange(0, 2.5, 0.5) if not small else np.array([0.5])
    return [np.array(p) for p in itertools.product(ab, ab, ex, ex_ab, ex_ab)]


def _huber_objective(delta=HUBER_DELTA):
    """Summed Huber loss of log residuals in (a, b, e, alpha, beta) and its analytic gradient (NumPy).

    (A jitted JAX value-and-gradient was measured slower here: per-call dispatch dominates at 240 points.)
    """

    def f(p, logN, logD, logL):
        a, b, e, alpha, beta = p
        t = np.stack([a - alpha * logN, b - beta * logD, np.full_like(logN, e)])
        m = t.max(axis=0)
        w = np.exp(t - m)
        s = w.sum(axis=0)
        r = m + np.log(s) - logL
        ar = np.abs(r)
        loss = np.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta)).sum()
        g = np.clip(r, -delta, delta) / s
        gw = g * w
        grad = np.array([gw[0].sum(), gw[1].sum(), gw[2].sum(), -(gw[0] @ logN), -(gw[1] @ logD)])
        return loss, grad

    return f


def _grid_fit(f, logN, logD, logL, grid, options: dict | None = None) -> tuple[np.ndarray, float]:
    """L-BFGS-B (SciPy) from every start in ``grid``; the lowest objective wins. ``options`` go to SciPy."""
    from scipy.optimize import minimize

    best, best_val = None, np.inf
    for x0 in grid:
        res = minimize(f, x0, args=(logN, logD, logL), jac=True, method="L-BFGS-B", options=options)
        if res.fun < best_val:
            best, best_val = res.x, res.fun
    return best, best_val
