"""Ahead-of-time compilation of the sampler, so other work can overlap XLA's compile.

A first fit spends most of its time in XLA compiling the sampler, a stretch of C++
that releases Python's GIL. :class:`AheadOfTime` wraps a jitted function and compiles it
explicitly (``trace`` -> ``lower`` -> ``compile``, JAX's AOT API) once per argument
signature, calling ``meanwhile`` between lowering and compiling: ``bs.fit`` starts the
import of ArviZ there (:func:`bayescale.posterior.idata.preload_arviz`), which then costs
a first fit nothing. The program is the one ``jax.jit`` would compile (same HLO, same
options, JAX's persistent compilation cache included), so the draws are the same.
"""

from __future__ import annotations

from typing import Any, Callable

import jax

__all__ = ["AheadOfTime"]


def _signature(args: tuple) -> Any:
    """What a compiled executable is specialised to: the tree of arguments and each leaf's abstract type
    (shape, dtype, weak type)."""
    leaves, tree = jax.tree_util.tree_flatten(args)
    return tree, tuple(jax.typeof(x) for x in leaves)


class AheadOfTime:
    """A jitted function, compiled ahead of time per argument signature and kept.

    Calling it compiles on first use of a signature (like ``jax.jit``) and runs the executable;
    :meth:`compile` compiles without running and takes a ``meanwhile`` callable.
    """

    def __init__(self, jitted: Callable) -> None:
        self.jitted = jitted
        self._executables: dict[Any, Any] = {}

    def compile(self, *args, meanwhile: Callable[[], None] | None = None):
        """The executable for arguments shaped like ``args`` (traced, lowered and compiled on first use).
        ``meanwhile`` runs after lowering, just before XLA compiles (not when already compiled)."""
        sig = _signature(args)
        executable = self._executables.get(sig)
        if executable is None:
            lowered = self.jitted.trace(*args).lower()
            if meanwhile is not None:
                meanwhile()
            executable = self._executables[sig] = lowered.compile()
        return executable

    def __call__(self, *args):
        return self.compile(*args)(*args)
