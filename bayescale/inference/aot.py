"""Ahead-of-time compilation of the sampler: two programs compiled side by side, other work meanwhile.

A first fit spends most of its time in XLA compiling the sampler, C++ that releases
Python's GIL and (for the larger part) runs on one core. :class:`TwoStage` holds the
sampler as two jitted programs, the chains' starts (L-BFGS, Laplace factor) and their
NUTS runs, and compiles them with JAX's AOT API (``trace`` -> ``lower`` -> ``compile``)
in two threads at once, once per argument signature; ``meanwhile`` runs as they compile
(``bs.fit`` starts importing ArviZ there: :func:`bayescale.posterior.idata.preload_arviz`).
JAX's persistent compilation cache serves both programs as it would ``jax.jit``.
"""

from __future__ import annotations

import threading
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
    """``second(first(a, *rest), *rest)`` for two jitted functions, compiled ahead of time side by side.

    Calling it compiles on first use of an argument signature (as ``jax.jit`` would) and runs
    both executables, the first's outputs passing through the host (a few small arrays). Results
    are those of the two jitted functions called in turn. :meth:`compile` compiles without running.
    """

    def __init__(self, first: Callable, second: Callable) -> None:
        self.first, self.second = first, second
        self._executables: dict[Any, tuple] = {}

    def compile(self, *args, meanwhile: Callable[[], None] | None = None) -> tuple:
        """The two executables for arguments shaped like ``args`` (traced, lowered and compiled on first use:
        the first in a helper thread while this one compiles the second). ``meanwhile`` runs just before
        XLA starts (not when already compiled)."""
        sig = _signature(args)
        if sig in self._executables:
            return self._executables[sig]
        first = self.first.trace(*args).lower()
        second = self.second.trace(_abstract(first.out_info), *args[1:]).lower()
        if meanwhile is not None:
            meanwhile()
        box: dict[str, Any] = {}

        def compile_first():
            try:
                box["first"] = first.compile()
            except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
                box["error"] = err

        helper = threading.Thread(target=compile_first, name="bayescale-compile", daemon=True)
        helper.start()
        try:
            compiled_second = second.compile()
        finally:
            helper.join()
        if "error" in box:
            raise box["error"]
        self._executables[sig] = (box["first"], compiled_second)
        return self._executables[sig]

    def __call__(self, *args):
        first, second = self.compile(*args)
        return second(jax.device_get(first(*args)), *args[1:])
