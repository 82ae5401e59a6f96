"""A law's frontier and log loss at posterior draws as compiled programs, kept in the executable cache.

Run op by op, ``law.frontier`` compiles a small XLA program for each JAX operation the first time a
process meets its shape (about a dozen for Chinchilla's closed form: most of the frontier table of a
cached ``bayescale fit``). Compiled as one program per shape instead, a registry law's program is kept
on disk (:mod:`bayescale.inference.executable_cache`) and read by later processes. A custom law, whose
function has no stable key, is compiled in this process only.

The programs run in float64 on the (float32) posterior draws: compiled, XLA fuses the operations and
rounds differently from the op-by-op float32 evaluation (2e-6 relative on the Chinchilla frontier at
1e21 FLOPs, whose exponents multiply log C ~ 48); in float64 the results are the closed forms' to ~1e-12.
"""

from __future__ import annotations

from typing import Callable, Mapping

import jax
import numpy as np

from bayescale.inference.aot import Program

__all__ = ["frontier", "log_loss"]

_PROGRAMS: dict = {}


def _program(law, what: str, fn: Callable) -> Program:
    from bayescale.model.law_registry import LAWS

    stable = LAWS.get(law.name) is law
    key = (law.name, what) if stable else (id(law), what)
    if key not in _PROGRAMS:
        _PROGRAMS[key] = Program(lambda: jax.jit(fn), disk_key=("law", law.name, what, "float64") if stable else None)
    return _PROGRAMS[key]


def _run(law, what: str, fn: Callable, params: Mapping, *arrays):
    as64 = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
    with jax.enable_x64(True):
        out = _program(law, what, fn)({k: as64(v) for k, v in params.items()}, *map(as64, arrays))
        return jax.device_get(out)


def frontier(law, params: Mapping, C) -> dict:
    """``law.frontier(params, C)``, compiled, in float64 (see module docs): numpy arrays."""
    return _run(law, "frontier", law.frontier, params, C)


def log_loss(law, params: Mapping, *covariates) -> np.ndarray:
    """``law.log_loss(params, *covariates)``, compiled, in float64 (see module docs)."""
    return _run(law, "log_loss", law.log_loss, params, *covariates)
