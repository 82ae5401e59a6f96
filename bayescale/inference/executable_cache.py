"""Compiled programs kept on disk under bayescale's own key, loaded in a later process without tracing.

JAX's persistent compilation cache (:mod:`bayescale.inference.compile_cache`) is keyed on the
*lowered* program, so every process traces and lowers the sampler again (about 6 s of a second
``bayescale fit`` on 2 cores) only to find it there. This cache keys a compiled program by what
determines it, known before any tracing: the model's program key
(:attr:`ScalingModel.program_key <bayescale.model.spec.ScalingModel.program_key>`), the arguments'
shapes and dtypes, the sampler settings, the devices, and the software (:func:`environment`). It
stores the executable with JAX's own serialization (:mod:`jax.experimental.serialize_executable`)
and loads it without tracing.

- Location: ``executables/`` beside JAX's cache (``$BAYESCALE_CACHE_DIR/executables`` when that is
  set, else ``~/.cache/bayescale/executables``); ``BAYESCALE_NO_COMPILE_CACHE=1`` turns it off.
- One file per program, ``<sha256 of the key>.bsx``: a header (magic, :data:`FORMAT_VERSION`, the
  payload's SHA-256) and the pickled payload, which repeats the full key. A file with another
  format version, a wrong checksum, another key or that fails to load is stale: it is deleted with a
  :class:`~bayescale.errors.CacheWarning` and the program is compiled again, never loaded into a
  wrong program.
- Writes go to a temporary file renamed into place (``os.replace``), so concurrent processes never
  read a partial file; the last writer of an entry wins, each copy being complete.
- Bounded: beyond :data:`MAX_BYTES` the least recently used files (by modification time, touched on
  every load) are deleted.
- Programs that call back into Python (the progress bar) are not stored (the callback would not
  exist in a later process), nor programs whose model has no stable key (a custom law).

The payload is a pickle (as JAX's own cache is): only load caches you wrote yourself.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import platform
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

from bayescale.errors import CacheWarning

__all__ = ["FORMAT_VERSION", "MAX_BYTES", "COUNTS", "cache_dir", "environment", "entry_digest", "stored", "load", "load_many",
           "store", "clear", "compiling_fresh"]

#: Version of the file layout and payload; files of another version are rebuilt.
FORMAT_VERSION = 1
#: Most bytes of executables kept (a Chinchilla sampler's two programs take about 5 MB).
MAX_BYTES = 512 * 2**20
_MAGIC = b"BSXC"
_HEADER = len(_MAGIC) + 4 + 32
_SUFFIX = ".bsx"

#: What this process did: ``loads`` (programs read from disk), ``stores``, ``rebuilt`` (stale entries
#: replaced) and ``skipped`` (compiled programs that could not be stored). Tests and benchmarks read it.
COUNTS = {"loads": 0, "stores": 0, "rebuilt": 0, "skipped": 0}


_COUNTS_LOCK = threading.Lock()


def _count(what: str) -> None:
    with _COUNTS_LOCK:  # programs load side by side (load_many)
        COUNTS[what] += 1


def cache_dir() -> Path | None:
    """The folder of stored executables, or ``None`` when caching is off (``BAYESCALE_NO_COMPILE_CACHE``)."""
    from bayescale.inference.compile_cache import CACHE_DIR_ENV, NO_CACHE_ENV

    if os.environ.get(NO_CACHE_ENV, "").strip() not in ("", "0"):
        return None
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser() / "executables"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bayescale" / "executables"


_ENVIRONMENT: tuple | None = None


def environment() -> tuple:
    """What every stored program depends on besides its own key: this file format, bayescale's version
    and source, the versions of what is traced into the programs, Python, the backend and its devices,
    the CPU, XLA's flags and the JAX settings that change programs."""
    global _ENVIRONMENT
    if _ENVIRONMENT is None:
        import jax
        import jaxlib

        from bayescale._version import __version__

        versions = tuple((name, _version_of(name)) for name in ("numpyro", "optax", "blackjax", "numpy"))
        devices = jax.devices()
        flags = tuple((f, str(getattr(jax.config, f, None))) for f in (
            "jax_enable_x64", "jax_default_matmul_precision", "jax_threefry_partitionable", "jax_default_prng_impl"))
        _ENVIRONMENT = (
            FORMAT_VERSION, __version__, _source_digest(), jax.__version__, jaxlib.__version__, versions,
            sys.version, devices[0].client.platform, devices[0].client.platform_version,
            tuple(d.device_kind for d in devices), jax.process_count(), os.environ.get("XLA_FLAGS", ""), flags,
            _cpu_identity(),
        )
    return _ENVIRONMENT


def _version_of(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # noqa: BLE001 - not installed: part of the key as such
        return "absent"


def _source_digest() -> str:
    """SHA-256 of bayescale's own source files: an edited checkout never loads programs of its old code."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _cpu_identity() -> str:
    """The CPU the code was compiled for (XLA:CPU targets the host's instruction set)."""
    text = platform.machine() + platform.processor()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            info = [line for line in f if line.startswith(("model name", "flags"))]
        text += "".join(sorted(set(info)))
    return hashlib.sha256(text.encode()).hexdigest()


def entry_digest(key: Any) -> str:
    """The file name (without suffix) of a program's key: SHA-256 of the key and the environment."""
    return hashlib.sha256(_full_key(key).encode()).hexdigest()


def _full_key(key: Any) -> str:
    return repr((environment(), key))


# --------------------------------------------------------------------------- reading
def stored(key: Any) -> bool:
    """Whether a file is stored under ``key`` (not whether it loads: :func:`load` checks that)."""
    folder = cache_dir()
    return folder is not None and (folder / (entry_digest(key) + _SUFFIX)).exists()


def load_many(keys: list) -> list:
    """:func:`load` of each key, side by side in threads: XLA's deserialization releases the GIL, so two
    programs load in about the time of the bigger one (measured: a Chinchilla sampler's start and NUTS programs,
    2.5 and 2.9 MB, 0.79 s one after the other, 0.49 s side by side on 2 cores)."""
    if len(keys) < 2:
        return [load(key) for key in keys]
    from concurrent.futures import ThreadPoolExecutor

    environment(), _initialize_lapack()  # once, before the threads
    with ThreadPoolExecutor(max_workers=len(keys), thread_name_prefix="bayescale-load") as pool:
        return list(pool.map(load, keys))


def load(key: Any):
    """The compiled program stored under ``key`` (a :class:`jax.stages.Compiled`), or ``None``.

    A stale or damaged file is deleted with a :class:`~bayescale.errors.CacheWarning` and ``None``
    is returned (the caller compiles, and stores the new program).
    """
    folder = cache_dir()
    if folder is None:
        return None
    path = folder / (entry_digest(key) + _SUFFIX)
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    try:
        compiled = _decode(raw, _full_key(key))
    except _Stale as why:
        _discard(path, str(why))
        return None
    except Exception as err:  # noqa: BLE001 - anything a damaged file raises: rebuild, never crash
        _discard(path, f"it could not be loaded ({type(err).__name__}: {err})")
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # most recently used
    _count("loads")
    return compiled


class _Stale(Exception):
    """A stored file that must not be loaded (another format, a wrong checksum, another key)."""


def _decode(raw: bytes, full_key: str):
    if len(raw) < _HEADER or raw[:4] != _MAGIC:
        raise _Stale("it is not a bayescale executable file")
    version = int.from_bytes(raw[4:8], "little")
    if version != FORMAT_VERSION:
        raise _Stale(f"it has format version {version}, this bayescale writes {FORMAT_VERSION}")
    payload = raw[_HEADER:]
    if hashlib.sha256(payload).digest() != raw[8:_HEADER]:
        raise _Stale("its checksum does not match (a damaged or truncated file)")
    stored_key, serialized, in_tree, out_tree, device_ids = pickle.loads(payload)
    if stored_key != full_key:
        raise _Stale("it holds another program (its key differs)")
    return _deserialize(serialized, in_tree, out_tree, device_ids)


def _deserialize(serialized: bytes, in_tree, out_tree, device_ids: tuple[int, ...]):
    import jax
    from jax.experimental import serialize_executable

    _initialize_lapack()
    by_id = {d.id: d for d in jax.devices()}
    return serialize_executable.deserialize_and_load(serialized, in_tree, out_tree,
                                                     execution_devices=[by_id[i] for i in device_ids])


_LAPACK_READY = False


def _initialize_lapack() -> None:
    """Bind jaxlib's LAPACK kernels (Cholesky, triangular solves), as lowering a program would: a program
    loaded without lowering anything crashes on its first LAPACK call otherwise."""
    global _LAPACK_READY
    if _LAPACK_READY:
        return
    try:
        from jax._src.lax import linalg

        linalg.initialize_lapack()
    except Exception:  # noqa: BLE001 - private API moved: lower a Cholesky (public API), which initializes it
        import jax
        import numpy as np

        jax.jit(jax.numpy.linalg.cholesky).trace(np.eye(2, dtype=np.float32)).lower()
    _LAPACK_READY = True


def _discard(path: Path, why: str) -> None:
    warnings.warn(f"bayescale's executable cache: {path.name} was not loaded because {why}; it is deleted and "
                  f"the program compiled again", CacheWarning, stacklevel=4)
    _count("rebuilt")
    with contextlib.suppress(OSError):
        path.unlink()


# --------------------------------------------------------------------------- writing
def store(key: Any, compiled) -> bool:
    """Write ``compiled`` (a :class:`jax.stages.Compiled`) under ``key``; whether it was stored.

    Not stored: programs with host callbacks, and any program JAX cannot serialize. The file appears
    atomically; the least recently used files are then deleted beyond :data:`MAX_BYTES`.
    """
    folder = cache_dir()
    if folder is None:
        return False
    try:
        blob = _encode(_full_key(key), compiled)
    except Exception:  # noqa: BLE001 - not serializable (host callbacks, ...): the program still runs
        COUNTS["skipped"] += 1
        return False
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomically(folder / (entry_digest(key) + _SUFFIX), blob)
    except OSError:
        COUNTS["skipped"] += 1
        return False
    COUNTS["stores"] += 1
    _prune(folder, MAX_BYTES)
    return True


def _encode(full_key: str, compiled) -> bytes:
    from jax.experimental import serialize_executable

    unloaded = getattr(compiled._executable, "_unloaded_executable", None)
    if unloaded is None or getattr(unloaded, "host_callbacks", None):
        raise ValueError("this program calls back into Python")
    serialized, in_tree, out_tree = serialize_executable.serialize(compiled)
    device_ids = tuple(d.id for d in unloaded.device_list)  # the devices it runs on, in order
    payload = pickle.dumps((full_key, serialized, in_tree, out_tree, device_ids), protocol=pickle.HIGHEST_PROTOCOL)
    return _MAGIC + FORMAT_VERSION.to_bytes(4, "little") + hashlib.sha256(payload).digest() + payload


def _write_atomically(path: Path, blob: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _prune(folder: Path, max_bytes: int) -> None:
    """Delete the least recently used files until the folder holds at most ``max_bytes``."""
    entries = []
    for path in folder.glob("*" + _SUFFIX):
        with contextlib.suppress(OSError):
            st = path.stat()
            entries.append((st.st_mtime_ns, st.st_size, path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):
        if total <= max_bytes:
            break
        with contextlib.suppress(OSError):
            path.unlink()
        total -= size


def clear() -> int:
    """Delete every stored executable; the number of files deleted."""
    folder = cache_dir()
    if folder is None or not folder.exists():
        return 0
    n = 0
    for path in folder.glob("*" + _SUFFIX):
        with contextlib.suppress(OSError):
            path.unlink()
            n += 1
    for path in folder.glob("*.lock"):  # empty files of bayescale.inference.compile_lock
        with contextlib.suppress(OSError):
            path.unlink()
    return n


# --------------------------------------------------------------------------- compiling what is stored
@contextlib.contextmanager
def compiling_fresh():
    """JAX's persistent cache off while compiling a program this cache is to store.

    An executable JAX itself read from its persistent cache serializes incompletely on XLA:CPU
    (jaxlib 0.10.2: stored again and loaded, it fails with "Function ... not found"), so the programs
    stored here are compiled, never read from JAX's cache. Yields a function telling whether JAX's
    cache served a program anyway (then it must not be stored). Threads may nest it: the last one
    out turns JAX's cache back on.
    """
    from jax import monitoring

    hits = []

    def listener(event, **kwargs):
        if event == "/jax/compilation_cache/cache_hits":
            hits.append(event)

    _pause_jax_cache(+1)
    monitoring.register_event_listener(listener)
    try:
        yield lambda: bool(hits)
    finally:
        monitoring.unregister_event_listener(listener)
        _pause_jax_cache(-1)


_PAUSE = {"depth": 0, "was_on": False}
_PAUSE_LOCK = threading.Lock()


def _pause_jax_cache(step: int) -> None:
    import jax

    with _PAUSE_LOCK:
        if step > 0 and _PAUSE["depth"] == 0:
            _PAUSE["was_on"] = bool(jax.config.jax_enable_compilation_cache)
            _set_jax_cache(False)
        _PAUSE["depth"] += step
        if step < 0 and _PAUSE["depth"] == 0:
            _set_jax_cache(_PAUSE["was_on"])


def _set_jax_cache(on: bool) -> None:
    import jax

    if bool(jax.config.jax_enable_compilation_cache) == on:
        return
    jax.config.update("jax_enable_compilation_cache", on)
    from bayescale.inference.compile_cache import _reset_jax_cache_state

    _reset_jax_cache_state()  # JAX decides once per process whether its cache is used
