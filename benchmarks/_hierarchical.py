"""Hierarchical designs of the benchmarks, and a pooled fit timed beside the independent fits of its groups.

- ``recipes/s<seed>``: ``bs.datasets.recipes(seed=s)``: 6 simulated recipes, five 30-run IsoFLOP sweeps and one of
  8 runs (the test suite's design);
- ``porian``: Porian et al. (2024)'s 15 configurations as groups, the runs with D / N >= 4 (as the real
  backtests fit: ``real_backtests.MIN_TOKENS_PER_PARAM``), every budget.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

MIN_TOKENS_PER_PARAM = 4.0


def porian_groups(data_dir: Path, min_tokens_per_param: float = MIN_TOKENS_PER_PARAM):
    """Porian's runs with ``D / N >= min_tokens_per_param``, grouped by configuration (a ScalingData)."""
    import bayescale as bs

    df = bs.datasets.load_porian(data_dir, as_frame=True)
    df = df[df["D"] / df["N"] >= min_tokens_per_param]
    return bs.ScalingData.from_frame(df, N="N", D="D", loss="loss", group="config")


def designs(bs, names: list[str], seeds: list[int], data_dir: Path) -> dict:
    """``label -> (data, seed)``: the simulated design at each seed (data and chains), Porian's at each seed
    (chains)."""
    out = {}
    for name in names:
        for s in seeds:
            if name == "recipes":
                out[f"recipes/s{s}"] = (bs.datasets.recipes(seed=s), s)
            elif name == "porian":
                if not data_dir.exists():
                    print(f"(porian skipped: {data_dir} not present)")
                    break
                out[f"porian/s{s}"] = (porian_groups(data_dir), s)
            else:
                raise SystemExit(f"unknown hierarchical design {name!r}: recipes or porian")
    return out


def diagnostics_row(fit) -> dict:
    """What the sampler did in one fit (a row of the convergence benchmark's tables)."""
    from bayescale.fitting.restart import count_refits

    d = fit.diagnostics
    return {"converged": bool(d.converged), "divergences": int(d.n_divergent), "max_rhat": float(max(d.rhat.values())),
            "min_ess": float(min(d.ess_bulk.values())), "steps_per_draw": float(d.mean_steps),
            "extra_draws_per_chain": fit.extra_draws_per_chain, **count_refits(fit.refits),
            "target_accept": float(fit.config.target_accept)}


def _fit(bs, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.errors.ConvergenceWarning)  # counted in the rows
        t0 = time.perf_counter()
        f = bs.fit(data, warn=False, progress_bar=False, **kw)
        return f, time.perf_counter() - t0


def independent_fits(bs, data, seed: int) -> tuple[list, float]:
    """Each group fitted alone (``bs.fit`` defaults), one after another: the fits and the seconds they took."""
    fits, total = [], 0.0
    for g in data.groups:
        part = data.subset(data.group == g)
        f, s = _fit(bs, bs.ScalingData.from_arrays(N=part.N, D=part.D, loss=part.loss), seed=seed)
        fits.append(f)
        total += s
    return fits, total


def warm_up(bs, data, pooling) -> None:
    """Compile the pooled program and every independent shape first (a full default fit of each, seed 1000:
    the compiled program depends on the draws per chain), so the timings after it are warm."""
    _fit(bs, data, pooling=pooling, seed=1000)
    shapes = {}
    for g in data.groups:
        part = data.subset(data.group == g)
        shapes.setdefault(bs.ScalingModel().batch_key(part), part)
    for part in shapes.values():
        _fit(bs, bs.ScalingData.from_arrays(N=part.N, D=part.D, loss=part.loss), seed=1000)


def pooled_beside_independent(bs, label: str, data, seed: int, pooling="partial") -> dict:
    """One pooled fit at bs.fit's defaults and the independent fits of its groups, timed side by side (warm:
    call :func:`warm_up` on a design of the same shapes first)."""
    pooled, t_pooled = _fit(bs, data, pooling=pooling, seed=seed)
    alone, t_alone = independent_fits(bs, data, seed)
    row = {"data": label, "seed": seed, "n": data.n, "groups": len(data.groups), **diagnostics_row(pooled),
           "seconds_pooled": t_pooled, "seconds_independent": t_alone, "ratio": t_pooled / t_alone,
           "independent_converged": int(sum(f.converged for f in alone)),
           "independent_steps_per_draw": float(np.mean([f.diagnostics.mean_steps for f in alone]))}
    print(f"{label:14s} seed {seed}: converged={row['converged']!s:5s} div={row['divergences']} "
          f"rhat={row['max_rhat']:.3f} ess={row['min_ess']:.0f} steps={row['steps_per_draw']:.1f} "
          f"extra={row['extra_draws_per_chain']} refits={row['refits']} | pooled {t_pooled:.1f} s, "
          f"{row['groups']} independent {t_alone:.1f} s (ratio {row['ratio']:.2f}; "
          f"{row['independent_converged']} converged, {row['independent_steps_per_draw']:.1f} steps/draw)", flush=True)
    return row
