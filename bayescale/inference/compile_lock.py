"""One process at a time compiles a program that goes into the executable cache; the others wait and read it.

Processes that start together on one machine (a job array, a notebook beside a script, pytest's workers)
often need the same sampler. Without coordination each compiles it (10-90 s of XLA on 2 cores) and stores the
same file. :func:`held` takes an exclusive lock on a file beside the program's entry in
:mod:`bayescale.inference.executable_cache` (``<digest>.lock``, POSIX ``flock``) while the holder compiles and
stores; a process that wants the same program waits for the lock, then finds the program stored and reads it
(:mod:`bayescale.inference.aot` looks again once it holds the lock). The operating system releases
the lock of a process that dies, so no lock outlives its holder. Where ``flock`` does not exist (Windows) or
the cache is off, nothing is locked and each process compiles as before. A program the cache cannot store (one
that calls back into Python, as a progress bar's does) is compiled by each waiting process in turn, after the
holder's.

This saves the duplicate compiles' processor time, not necessarily wall time: a process that waits is idle
(the 2-core test suite's wall time did not change measurably; CHANGELOG).
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any, Iterator

from bayescale.inference import executable_cache

__all__ = ["WAIT_S", "held"]

#: Longest wait (seconds) for another process's compile of the same program; past it this process compiles too.
WAIT_S = 900.0
_POLL_S = 0.1

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None  # type: ignore[assignment]


@contextlib.contextmanager
def held(key: Any, wait_s: float | None = None) -> Iterator[bool]:
    """Hold the compile lock of the program stored under ``key`` (an executable-cache key) for the block;
    yields whether it is held (``False``: no cache, no ``flock``, or another process kept it past ``wait_s``,
    default :data:`WAIT_S`).

    Examples
    --------
    >>> with held(("an example program", 1)) as locked:
    ...     isinstance(locked, bool)
    True
    """
    fd = _open_lock_file(key)
    if fd is None:
        yield False
        return
    try:
        locked = _acquire(fd, WAIT_S if wait_s is None else wait_s)
        try:
            yield locked
        finally:
            if locked:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open_lock_file(key: Any) -> int | None:
    folder = executable_cache.cache_dir()
    if folder is None or fcntl is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return os.open(folder / (executable_cache.entry_digest(key) + ".lock"), os.O_CREAT | os.O_RDWR, 0o644)
    except OSError:
        return None


def _acquire(fd: int, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_S)
        except OSError:  # a file system without locks: compile unlocked
            return False
