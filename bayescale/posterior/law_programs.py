"""A law's frontier and log loss at posterior draws as compiled programs, kept in the executable cache.

Run op by op, ``law.frontier`` compiles a small XLA program for each JAX operation the first time a
process meets its shape (about a dozen for Chinchilla's closed form: most of the frontier table of a
cached ``bayescale fit``). Compiled as one program per shape instead, a registry law's program is kept
on disk (:mod:`bayescale.inference.executable_cache`) and read by later processes. A custom law, whose
function has no stable key, runs as before: jitted in this process only.
"""

from __future__ import annotations

from typing import Callable, Mapping

import jax

from bayescale.inference.aot import Program

__all__ = ["frontier", "log_loss"]

_PROGRAMS: dict = {}


def _program(law, what: str, fn: Callable) -> Program:
    from bayescale.model.laws import LAWS

    stable = LAWS.get(law.name) is law
    key = (law.name, what) if stable else (id(law), what)
    if key not in _PROGRAMS:
        _PROGRAMS[key] = Program(lambda: jax.jit(fn), disk_key=("law", law.name, what) if stable else None)
    return _PROGRAMS[key]


def frontier(law, params: Mapping, C) -> dict:
    """``law.frontier(params, C)``, compiled (see module docs)."""
    return _program(law, "frontier", law.frontier)(dict(params), C)


def log_loss(law, params: Mapping, *covariates) -> jax.Array:
    """``law.log_loss(params, *covariates)``, compiled (see module docs)."""
    return _program(law, "log_loss", law.log_loss)(dict(params), *covariates)
