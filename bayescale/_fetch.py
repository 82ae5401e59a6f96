"""Finding a published data file: a local path, an environment variable, the user cache, or a pinned
download, each checked against a pinned SHA-256 (the machinery behind :mod:`bayescale.datasets`)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from bayescale.errors import DatasetError

__all__ = ["_Source", "_locate"]


@dataclasses.dataclass(frozen=True)
class _Source:
    """Where one dataset comes from and how to check it."""

    what: str                # "Epoch AI's Chinchilla data", for messages
    loader: str              # the public function, for messages
    names: tuple[str, ...]   # file names accepted in a folder; names[0] is the cache's
    sha256: str
    env: str
    url: str | None          # pinned download; None where upstream publishes no such file
    no_url: str = ""         # why there is no download, and where the file comes from


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bayescale"


def _resolve_local(src: _Source, path: str | os.PathLike) -> Path:
    p = Path(path).expanduser()
    if p.is_dir():
        for name in src.names:
            if (p / name).is_file():
                return p / name
        raise DatasetError(f"folder {str(p)!r} has none of {list(src.names)}; pass the CSV file itself")
    if not p.is_file():
        raise DatasetError(f"no file at {str(p)!r}; pass the path of {src.what} ({src.names[0]})")
    return p


def _download(src: _Source, dest: Path, timeout: float) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(src.url, timeout=timeout) as resp:
            with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
                shutil.copyfileobj(resp, tmp)
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        raise DatasetError(
            f"could not download {src.what} ({err}). Without network access, fetch "
            f"{src.url} by hand and pass {src.loader}(path=...) or set {src.env}"
        ) from None
    got = _sha256(Path(tmp.name))
    if got != src.sha256:
        os.unlink(tmp.name)
        raise DatasetError(f"downloaded file has SHA-256 {got}, expected {src.sha256}; not cached")
    os.replace(tmp.name, dest)


def _locate(src: _Source, path, *, verify: bool, download: bool, timeout: float) -> Path:
    """The verified local file of ``src``: from ``path``, its environment variable, the cache or a download."""
    source = path if path is not None else os.environ.get(src.env) or None
    if source is not None:
        file = _resolve_local(src, source)
        if verify and (got := _sha256(file)) != src.sha256:
            raise DatasetError(
                f"{str(file)!r} has SHA-256 {got}, not the pinned {src.sha256}: it is not {src.what} "
                "(or was edited); pass verify=False to load it anyway"
            )
        return file
    file = _cache_dir() / src.names[0]
    if not file.is_file():
        if src.url is None:
            raise DatasetError(
                f"no local copy of {src.what}: {src.no_url}. Pass {src.loader}(path=...) to a copy of "
                f"{src.names[0]} (or a folder holding it), set {src.env}, or put the file in {str(file.parent)!r}"
            )
        if not download:
            raise DatasetError(
                f"no local copy of {src.what} at {str(file)!r} and download=False; "
                f"pass path=... or set {src.env}"
            )
        _download(src, file, timeout)
    elif _sha256(file) != src.sha256:
        raise DatasetError(f"cached file {str(file)!r} is corrupt (SHA-256 mismatch); delete it and retry")
    return file
