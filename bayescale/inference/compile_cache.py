"""JAX's persistent compilation cache, switched on by bayescale.

Compiling the sampler (L-BFGS start, Laplace step, NumPyro's NUTS) is most of the
wall time of a first fit. JAX can keep compiled XLA programs on disk and reuse
them in later processes; bayescale turns that on when it is imported, so running
the same fit (or the CLI) a second time skips most of the compile.

- Location: ``$BAYESCALE_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/bayescale/jax``
  (``~/.cache/bayescale/jax``).
- ``BAYESCALE_NO_COMPILE_CACHE=1`` leaves JAX's configuration untouched.
- A cache directory the user configured in JAX already
  (``jax_compilation_cache_dir``) is kept as it is.

The cache only skips XLA's compilation: Python still traces the model (about a
second), results are identical with or without it, and nothing depends on it
being there (a clean machine compiles as usual).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["enable_compile_cache", "compile_cache_dir", "CACHE_DIR_ENV", "NO_CACHE_ENV"]

#: Environment variable naming the cache directory.
CACHE_DIR_ENV = "BAYESCALE_CACHE_DIR"
#: Set to ``1`` to keep bayescale from enabling the cache.
NO_CACHE_ENV = "BAYESCALE_NO_COMPILE_CACHE"
#: Programs that compile faster than this are not worth a disk round trip.
MIN_COMPILE_SECONDS = 0.5


def _default_dir() -> Path:
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bayescale" / "jax"


def compile_cache_dir() -> str | None:
    """The directory JAX's persistent compilation cache uses now, or ``None`` when it is off.

    Examples
    --------
    >>> import bayescale as bs
    >>> d = bs.compile_cache_dir()
    >>> d is None or isinstance(d, str)
    True
    """
    import jax

    return jax.config.jax_compilation_cache_dir or None


def enable_compile_cache(directory: str | os.PathLike | None = None, *, min_compile_seconds: float = MIN_COMPILE_SECONDS) -> str | None:
    """Point JAX's persistent compilation cache at ``directory`` (default: see module docs).

    bayescale calls this on import (unless ``BAYESCALE_NO_COMPILE_CACHE=1``); call it
    yourself to choose another directory. Returns the directory in use, or ``None``
    when it cannot be created or written (the cache then stays off; fitting works
    the same, only slower to start).

    Examples
    --------
    >>> import bayescale as bs
    >>> d = bs.compile_cache_dir()       # on by default, unless BAYESCALE_NO_COMPILE_CACHE=1
    >>> d is None or bs.enable_compile_cache(d) == d
    True
    """
    import jax

    path = Path(directory).expanduser() if directory is not None else _default_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(path, os.W_OK):
        return None
    path_s = os.fspath(path)
    if jax.config.jax_compilation_cache_dir != path_s:
        jax.config.update("jax_compilation_cache_dir", path_s)
        _reset_jax_cache_state()
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_seconds))
    return path_s


def _reset_jax_cache_state() -> None:
    # JAX decides once per process whether the cache is in use (at its first
    # compilation); after a change of directory it must decide again.
    try:
        from jax._src import compilation_cache

        compilation_cache.reset_cache()
    except Exception:  # pragma: no cover - private API moved; the cache may stay off
        pass


def _enable_on_import() -> str | None:
    """What ``import bayescale`` does: enable the cache unless told not to or already configured."""
    import jax

    if os.environ.get(NO_CACHE_ENV, "").strip() not in ("", "0"):
        return None
    if jax.config.jax_compilation_cache_dir:
        return jax.config.jax_compilation_cache_dir
    return enable_compile_cache()


#: The directory enabled when bayescale was imported (``None`` when the cache was left off).
DEFAULT_AT_IMPORT: str | None = None
