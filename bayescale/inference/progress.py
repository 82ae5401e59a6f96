"""A terminal progress bar for the compiled sampler.

The whole fit is one XLA program, so progress is reported from inside it with
``jax.debug.callback`` once per chunk of iterations. The callback looks up the
bar that :func:`progress_bar` opened, so one compiled program serves every fit.
"""

from __future__ import annotations

import contextlib

import jax
import numpy as np
from jax import lax

__all__ = ["progress_bar", "scan_with_progress"]

_BAR = None


def _chunk(length: int) -> int:
    """Largest divisor of ``length`` not above length/20: about 20 updates per phase."""
    target = max(1, length // 20)
    return max(d for d in range(1, target + 1) if length % d == 0)


def _tick(steps) -> None:
    # Called once per chunk of each chain (chains run one after another per device on CPU);
    # the bar counts chain-iterations. Under vmap (GPU) ``steps`` may arrive batched.
    bar = _BAR
    if bar is not None:
        bar.update(int(np.sum(np.asarray(steps))))


@contextlib.contextmanager
def progress_bar(total: int, enabled: bool, desc: str = "sampling"):
    """Open a tqdm bar of ``total`` iterations (per chain) while the block runs."""
    global _BAR
    if not enabled:
        yield
        return
    from tqdm.auto import tqdm

    _BAR = tqdm(total=total, desc=desc, unit="it", leave=False)
    try:
        yield
    finally:
        _BAR.close()
        _BAR = None


def scan_with_progress(step, state, length: int, *, enabled: bool):
    """``lax.scan(step, state, None, length)`` that ticks the bar every chunk when enabled."""
    if not enabled or length == 0:
        return lax.scan(step, state, None, length=length)
    chunk = _chunk(length)

    def outer(carry, _):
        carry, ys = lax.scan(step, carry, None, length=chunk)
        jax.debug.callback(_tick, np.int32(chunk))
        return carry, ys

    state, ys = lax.scan(outer, state, None, length=length // chunk)
    ys = jax.tree_util.tree_map(lambda y: y.reshape((length,) + y.shape[2:]), ys)
    return state, ys
