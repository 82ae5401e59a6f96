"""Ahead-of-time compilation of the sampler: two programs, other work while XLA compiles them.

A first fit spends most of its time in XLA compiling the sampler, C++ that releases
Python's GIL. :class:`TwoStage` holds the sampler as two jitted programs, the chains'
starts (L-BFGS, Laplace factor) and their NUTS runs, and compiles them with JAX's AOT API
(``trace`` -> ``lower`` -> ``compile``), once per argument signature; ``meanwhile`` runs in
the caller's thread just before XLA starts (``bs.fit`` starts importing ArviZ in a background
thread there: :func:`bayescale.posterior.idata.preload_arviz`; ``before_load`` when the programs are
read from disk instead). :class:`Program` is one such program (the extender of a fit's chains, a
law's frontier); :class:`BoundLast` binds a program's last argument (NUTS's ``target_accept``, so that one
compiled program serves every value).

Given a ``disk_key`` (what determines the program besides its arguments' signature), both read
the executables from bayescale's executable cache (:mod:`bayescale.inference.executable_cache`)
before building anything, so a later process neither traces nor compiles; what they compile they
store there, one process at a time (:mod:`bayescale.inference.compile_lock`: another process that
needs the same program waits, then reads it). Without one (a custom law), JAX's persistent
compilation cache serves them as it would ``jax.jit``. The jitted functions themselves are built
on first need (``build``): a program read from disk needs no model tracing at all.

The two programs are compiled one after the other. Compiling them in two threads at once was
tried (2026-11-25) and removed: on a quiet 2-core machine it saved nothing measurable (cold fit
9.2-9.4 s against 9.2-9.5 s compiled in turn, 2026-12-03), since XLA:CPU already spreads a
compile over the cores.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

import jax

from bayescale.inference import compile_lock, executable_cache

__all__ = ["TwoStage", "Program", "BoundLast"]


def _signature(args: tuple) -> Any:
    """What a compiled executable is specialised to: the tree of arguments and each leaf's abstract type
    (shape, dtype, weak type)."""
    leaves, tree = jax.tree_util.tree_flatten(args)
    return tree, tuple(jax.typeof(x) for x in leaves)


def _abstract(info) -> Any:
    """Shape and dtype of a program's outputs (as host arrays: the second program gets them from the host)."""
    return jax.tree_util.tree_map(lambda o: jax.ShapeDtypeStruct(o.shape, o.dtype), info)


class _Executable:
    """A compiled program and whether it was read from disk (its arguments are then placed on the devices
    as it expects: a deserialized executable does not shard host arrays itself)."""

    def __init__(self, compiled, loaded: bool) -> None:
        self.compiled, self.loaded = compiled, loaded

    def __call__(self, *args):
        if self.loaded:
            args = jax.device_put(args, self.compiled.input_shardings[0])
        return self.compiled(*args)


class _Cached:
    """What :class:`TwoStage` and :class:`Program` share: a lazily built function and the disk cache."""

    def __init__(self, build: Callable[[], Any], disk_key: Any = None, compiler_options: dict | None = None) -> None:
        self._build, self._built = build, None
        self.compiler_options = compiler_options
        self.disk_key = None if disk_key is None else (disk_key, tuple(sorted((compiler_options or {}).items())))
        self._executables: dict[Any, tuple] = {}

    def built(self):
        if self._built is None:
            self._built = self._build()
        return self._built

    def _disk(self, sig, part: str):
        """The key of one program in the executable cache, or ``None`` when it is not to be stored."""
        if self.disk_key is None or executable_cache.cache_dir() is None or jax.process_count() > 1:
            return None
        return (self.disk_key, part, repr(sig))

    def _on_disk(self, sig, parts: tuple[str, ...]) -> bool:
        keys = [self._disk(sig, p) for p in parts]
        return keys[0] is not None and all(executable_cache.stored(key) for key in keys)

    def _load(self, sig, parts: tuple[str, ...]):
        keys = [self._disk(sig, p) for p in parts]
        if keys[0] is None:
            return None
        loaded = executable_cache.load_many(keys)
        if any(compiled is None for compiled in loaded):
            return None
        return tuple(_Executable(compiled, True) for compiled in loaded)

    def _compile_lock(self, sig):
        """Held while this process reads or compiles the programs of ``sig`` that go to disk
        (:mod:`bayescale.inference.compile_lock`); nothing to hold for programs not stored."""
        key = self._disk(sig, "")
        return contextlib.nullcontext(False) if key is None else compile_lock.held(key)

    def _fresh(self, sig):
        """JAX's own cache is bypassed while compiling what the executable cache is to store."""
        if self._disk(sig, "") is None:
            return contextlib.nullcontext(lambda: True)
        return executable_cache.compiling_fresh()

    def _store(self, sig, parts: tuple[str, ...], compiled: tuple, served_by_jax: bool) -> None:
        if self._disk(sig, "") is None:
            return
        if served_by_jax:
            executable_cache.COUNTS["skipped"] += len(parts)
            return
        for part, exe in zip(parts, compiled):
            executable_cache.store(self._disk(sig, part), exe)


class TwoStage(_Cached):
    """``second(first(a, *rest), *rest)`` for two jitted functions, compiled ahead of time.

    ``build()`` returns the two jitted functions (called on first need). Calling it compiles on
    first use of an argument signature (as ``jax.jit`` would), or reads both executables from the
    executable cache under ``disk_key``, and runs them, the first's outputs passing through the host
    (a few small arrays). Results are those of the two jitted functions called in turn.
    :meth:`compile` compiles without running.
    """

    _PARTS = ("start", "sample")

    def compile(self, *args, meanwhile: Callable[[], None] | None = None,
                before_load: Callable[[], None] | None = None) -> tuple:
        """The two executables for arguments shaped like ``args`` (read from disk, or traced, lowered and
        compiled, on first use). ``meanwhile`` runs just before XLA starts compiling, ``before_load`` just before
        they are read from disk (neither when already at hand)."""
        sig = _signature(args)
        if sig in self._executables:
            return self._executables[sig]
        if before_load is not None and self._on_disk(sig, self._PARTS):
            before_load()
        with self._compile_lock(sig):  # another process compiling them: wait, then read them
            loaded = self._load(sig, self._PARTS)
            if loaded is None:
                loaded = self._compile_both(sig, args, meanwhile)
        self._executables[sig] = loaded
        return loaded

    def _compile_both(self, sig, args: tuple, meanwhile: Callable[[], None] | None) -> tuple:
        first_fn, second_fn = self.built()
        with self._fresh(sig) as served_by_jax:
            first = first_fn.trace(*args).lower()
            second = second_fn.trace(_abstract(first.out_info), *args[1:]).lower()
            if meanwhile is not None:
                meanwhile()
            compiled = (first.compile(), second.compile())
        self._store(sig, self._PARTS, compiled, served_by_jax())
        return tuple(_Executable(c, False) for c in compiled)

    def __call__(self, *args):
        first, second = self.compile(*args)
        return second(jax.device_get(first(*args)), *args[1:])


class Program(_Cached):
    """``fn(*args)`` for a jitted ``fn = build()``, compiled ahead of time once per argument signature
    (or read from the executable cache under ``disk_key``), with XLA's ``compiler_options`` if given."""

    def compile(self, *args):
        sig = _signature(args)
        if sig in self._executables:
            return self._executables[sig][0]
        with self._compile_lock(sig):
            loaded = self._load(sig, ("program",))
            if loaded is None:
                with self._fresh(sig) as served_by_jax:
                    compiled = self.built().trace(*args).lower().compile(self.compiler_options)
                self._store(sig, ("program",), (compiled,), served_by_jax())
                loaded = (_Executable(compiled, False),)
        self._executables[sig] = loaded
        return loaded[0]

    def __call__(self, *args):
        return self.compile(*args)(*args)


class BoundLast:
    """A :class:`TwoStage` or :class:`Program` with its last argument bound: ``bound(*args)`` is
    ``program(*args, last)``. NUTS takes ``target_accept`` so (:mod:`bayescale.inference.nuts`): one
    compiled program serves every value."""

    def __init__(self, program: TwoStage | Program, last: Any) -> None:
        self.program, self.last = program, last

    def compile(self, *args, **kwargs):
        return self.program.compile(*args, self.last, **kwargs)

    def __call__(self, *args):
        return self.program(*args, self.last)
