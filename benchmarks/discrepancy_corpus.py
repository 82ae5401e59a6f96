"""The corpus's evidence on the extrapolation discrepancy: forecasts of every real sweep, cached per fit.

Twenty sweeps from four datasets (``real_backtests.py``'s splits, training runs with D / N >= 4): Epoch's
Chinchilla runs, Porian et al.'s 15 configurations, Li et al.'s best-learning-rate runs and Gadre et al.'s
three training sets (loss on C4). For each sweep, in one record per fold:

- **outer**: the benchmark's split (fit the training runs, forecast the held-out larger runs);
- **inner k**: rolling-origin folds inside the training runs
  (:func:`bayescale.model.discrepancy.rolling_origin_folds`: fit below cutoff k, forecast the runs above it).

Each fold is one ``bs.fit`` (library defaults, seed 0) whose law draws at the forecast runs are cached on
disk (``--cache``), keyed by the data, the seed and :data:`VERSION`, so that the discrepancy can be studied
without refitting: it is added at prediction time, after the fit. ``discrepancy_prior.py`` reads these records.

    PYTHONPATH=$PWD python benchmarks/discrepancy_corpus.py            # fits what the cache lacks (~10 min)
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA  # noqa: E402
from real_backtests import MIN_TOKENS_PER_PARAM, make_splits, trained_only  # noqa: E402

#: Bump to invalidate the cached fits (a change of the sampler or of the default model).
VERSION = 1
SPLITS = ["epoch", "porian", "li", "gadre"]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bayescale-bench" / "discrepancy"


@dataclasses.dataclass
class Fold:
    """One forecast: fit ``train``, score ``scored`` (its runs with ``block`` are the fold's prequential block)."""

    sweep: str
    dataset: str
    kind: str  # "outer" or "inner"
    index: int
    train: object  # ScalingData
    scored: object  # ScalingData
    block: np.ndarray  # bool per scored run


def sweeps(data_dir: Path = SHARED_DATA, names: list[str] | None = None):
    return trained_only(make_splits(Path(data_dir), names or SPLITS), MIN_TOKENS_PER_PARAM)


def folds_of(split, max_folds: int = 4) -> list[Fold]:
    """The outer fold and the rolling-origin folds of one split (inner folds score every run above their
    cutoff; ``block`` marks those up to the next cutoff)."""
    from bayescale.model.discrepancy import rolling_origin_folds

    out = [Fold(split.name, split.dataset, "outer", 0, split.train, split.test, np.ones(split.test.n, bool))]
    x = np.log10(split.train.C)
    for k, (train, block) in enumerate(rolling_origin_folds(x, n_min=7, max_folds=max_folds)):
        above = ~train
        out.append(Fold(split.name, split.dataset, "inner", k + 1, split.train.subset(train),
                        split.train.subset(above), block[above]))
    return out


def _key(fold: Fold, seed: int) -> str:
    h = hashlib.sha256(f"v{VERSION} seed{seed}".encode())
    for d in (fold.train, fold.scored):
        for a in (d.N, d.D, d.loss):
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()[:20]


def fit_fold(fold: Fold, seed: int = 0, cache: Path = CACHE) -> dict:
    """Law log-loss draws at the scored runs (``(S, m)``), noise draws and diagnostics; cached."""
    import bayescale as bs

    path = Path(cache) / f"{_key(fold, seed)}.npz"
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bs.fit(fold.train, seed=seed, warn=False)
    wall = time.perf_counter() - t0
    s = fold.scored
    out = {
        "law": np.log(fit.predict_draws(N=s.N, D=s.D)["loss"]).astype(np.float32),
        "sigma": fit.noise_draws()["sigma"].astype(np.float64),
        "law_train": np.log(fit.predict_draws(N=fold.train.N, D=fold.train.D)["loss"]).astype(np.float32),
        "loglik_train": np.asarray(fit.idata.log_likelihood["log_loss"]).reshape(-1, fold.train.n).astype(np.float32)
        if fold.kind == "outer" else np.zeros((0,), np.float32),
        "converged": np.asarray(bool(fit.converged)), "wall_s": np.asarray(wall),
        "divergences": np.asarray(int(fit.diagnostics.n_divergent)),
    }
    Path(cache).mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **out)
    os.replace(tmp, path)
    return out


def records(seed: int = 0, data_dir: Path = SHARED_DATA, names: list[str] | None = None, cache: Path = CACHE,
            verbose: bool = True) -> list[dict]:
    """Every fold of every sweep with its cached fit: the corpus the discrepancy is learned from."""
    out = []
    for split in sweeps(data_dir, names):
        for fold in folds_of(split):
            t0 = time.perf_counter()
            res = fit_fold(fold, seed, cache)
            s = fold.scored
            out.append({"sweep": fold.sweep, "dataset": fold.dataset, "kind": fold.kind, "index": fold.index,
                        "y": np.log(s.loss), "x": np.log10(s.C), "N": s.N, "D": s.D, "block": fold.block,
                        "lo": float(np.log10(fold.train.C).min()), "hi": float(np.log10(fold.train.C).max()),
                        "n_train": fold.train.n, "train_x": np.log10(fold.train.C), "train_y": np.log(fold.train.loss),
                        "train_N": fold.train.N, "train_D": fold.train.D, "D": s.D,
                        **res})
            if verbose:
                print(f"  {fold.sweep[:32]:32s} {fold.kind} {fold.index}: train {fold.train.n:3d} scored {s.n:3d} "
                      f"(block {int(fold.block.sum())}) converged {bool(res['converged'])} "
                      f"{time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--splits", nargs="+", default=None, help=f"default: {' '.join(SPLITS)}")
    p.add_argument("--data-dir", default=str(SHARED_DATA))
    p.add_argument("--cache", default=str(CACHE))
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    recs = records(args.seed, Path(args.data_dir), args.splits, Path(args.cache))
    print(f"{len(recs)} folds of {len({r['sweep'] for r in recs})} sweeps, {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
