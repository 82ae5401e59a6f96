"""Ahead-of-time compilation of the sampler: two programs, other work while XLA compiles them.

A first fit spends most of its time in XLA compiling the sampler, C++ that releases
Python's GIL. :class:`TwoStage` holds the sampler as two jitted programs, the chains'
starts (L-BFGS, Laplace factor) and their NUTS runs, and compiles them with JAX's AOT API
(``trace`` -> ``lower`` -> ``compile``), once per argument signature; ``meanwhile`` runs in
the caller's thread just before XLA starts (``bs.fit`` starts importing ArviZ in a background
thread there: :func:`bayescale.posterior.idata.preload_arviz`). JAX's persistent compilation
cache serves both programs as it would ``jax.jit``.

The two programs are compiled one after the other. Compiling them in two threads at once was
tried (2026-11-25) and removed: on a quiet 2-core machine it saved nothing measurable (cold fit
9.2-9.4 s against 9.2-9.5 s compiled in turn, 2026-12-03), since XLA:CPU already spreads a
compile over the cores.
"""

from __future__ import annotations

from typing import Any, Callable

import jax

__all__ = ["TwoStage"]


def _signature(args: tuple) -> Any:
    """What a compiled executable is specialised to: the tree of arguments and each leaf's abstract type
    (shape, dtype, weak type)."""
    leaves, tree = jax.tree_util.tree_flatten(args)
    return tree, tuple(jax.typeof(x) for x in leaves)


def _abstract(info) -> Any:
    """Shape and dtype of a program's outputs (as host arrays: the second program gets them from the host)."""
    return jax.tree_util.tree_map(lambda o: jax.ShapeDtypeStruct(o.shape, o.dtype), info)


class TwoStage:
    """``second(first(a, *rest), *rest)`` for two jitted functions, compiled ahead of time.

    Calling it compiles on first use of an argument signature (as ``jax.jit`` would) and runs
    both executables, the first's outputs passing through the host (a few small arrays). Results
    are those of the two jitted functions called in turn. :meth:`compile` compiles without running.
    """

    def __init__(self, first: Callable, second: Callable) -> None:
        self.first, self.second = first, second
        self._executables: dict[Any, tuple] = {}

    def compile(self, *args, meanwhile: Callable[[], None] | None = None) -> tuple:
        """The two executables for arguments shaped like ``args`` (traced, lowered and compiled on first use).
        ``meanwhile`` runs just before XLA starts (not when already compiled)."""
        sig = _signature(args)
        if sig in self._executables:
            return self._executables[sig]
        first = self.first.trace(*args).lower()
        second = self.second.trace(_abstract(first.out_info), *args[1:]).lower()
        if meanwhile is not None:
            meanwhile()
        self._executables[sig] = (first.compile(), second.compile())
        return self._executables[sig]

    def __call__(self, *args):
        first, second = self.compile(*args)
        return second(jax.device_get(first(*args)), *args[1:])
