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
EPOCH_DIR = ROOT.parent / "shared" / "data"
LAW_PARAMS = ("E", "A", "B", "alpha", "beta")
SCHEMA_VERSION = 1


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


def run_child(script: Path, args: list[str], env: dict | None = None, timeout: float = 1800) -> dict:
    """Run ``python script args`` in a fresh process; it prints one JSON object on its last stdout line."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), full_env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=full_env, timeout=timeout)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"status": "error", "error": (proc.stderr or proc.stdout)[-2000:], "process_wall_s": wall}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_wall_s"] = wall
    return out


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
