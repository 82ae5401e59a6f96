"""Built-in data: a synthetic IsoFLOP example and Epoch AI's Chinchilla points.

:func:`example` is deterministic and needs nothing outside the package: it is
what ``bayescale demo`` fits. :func:`load_chinchilla` returns the 245 points
Epoch AI read off Hoffmann et al. (2022), Figure 4, downloading them once
(checked against a pinned SHA-256) or reading a local copy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from bayescale.data import FLOPS_PER_PARAM_TOKEN, ScalingData
from bayescale.errors import DatasetError

__all__ = ["example", "EXAMPLE_TRUTH", "load_chinchilla", "CHINCHILLA_URL", "CHINCHILLA_SHA256", "CHINCHILLA_ENV"]

#: Parameters the built-in example is drawn from: Epoch AI's replication of
#: Chinchilla Approach 3 (Besiroglu et al. 2024), see SCIENCE.md.
EXAMPLE_TRUTH = {"E": 1.817, "A": 477.8, "B": 2143.0, "alpha": 0.347, "beta": 0.367}

CHINCHILLA_URL = (
    "https://raw.githubusercontent.com/epoch-research/analyzing-chinchilla/"
    "92258837425e1b5f2851d624287f0120583a3d0e/data/svg_extracted_data.csv"
)
CHINCHILLA_SHA256 = "193478df4e90f040016431996c45682659306840ecdadf83cfb9cd5ca0aa1b30"
#: Environment variable naming a local copy (file or folder) of Epoch's CSV.
CHINCHILLA_ENV = "BAYESCALE_CHINCHILLA_PATH"
_CHINCHILLA_NAMES = ("svg_extracted_data.csv", "epoch_chinchilla_svg_extracted_data.csv")


def example(*, seed: int = 0, noise: float = 0.01, budgets: int = 9, sizes_per_budget: int = 20) -> ScalingData:
    """A synthetic IsoFLOP design like Chinchilla's, drawn from :data:`EXAMPLE_TRUTH`.

    ``budgets`` compute budgets, log-spaced from 6e18 to 3e21 FLOPs; at each,
    ``sizes_per_budget`` model sizes log-spaced from 1/8 to 8 times the true
    compute-optimal N, with D = C / (6 N). Losses carry multiplicative noise:
    Student-t with 5 degrees of freedom and scale ``noise`` on log loss, which
    gives the occasional outlying run real sweeps have. Deterministic for a seed.

    Examples
    --------
    >>> import bayescale as bs
    >>> data = bs.datasets.example()
    >>> data.n, f"{data.C.min():.2g}", f"{data.C.max():.2g}"
    (180, '6e+18', '3e+21')
    """
    from bayescale.model.chinchilla import chinchilla_frontier, chinchilla_loss

    rng = np.random.default_rng(seed)
    C = np.geomspace(6e18, 3e21, budgets)
    n_opt = np.asarray(chinchilla_frontier(EXAMPLE_TRUTH, C)["N_opt"], dtype=np.float64)
    ratios = np.geomspace(1 / 8, 8, sizes_per_budget)
    N = (n_opt[:, None] * ratios[None, :]).ravel()
    CC = np.repeat(C, sizes_per_budget)
    D = CC / (FLOPS_PER_PARAM_TOKEN * N)
    clean = np.asarray(chinchilla_loss({k: np.float64(v) for k, v in EXAMPLE_TRUTH.items()}, N, D), dtype=np.float64)
    loss = clean * np.exp(noise * rng.standard_t(5, size=N.shape))
    return ScalingData.from_arrays(N=N, D=D, loss=loss)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bayescale"


def _resolve_local(path: str | os.PathLike) -> Path:
    p = Path(path).expanduser()
    if p.is_dir():
        for name in _CHINCHILLA_NAMES:
            if (p / name).is_file():
                return p / name
        raise DatasetError(f"folder {str(p)!r} has none of {list(_CHINCHILLA_NAMES)}; pass the CSV file itself")
    if not p.is_file():
        raise DatasetError(f"no file at {str(p)!r}; pass the path of Epoch AI's svg_extracted_data.csv")
    return p


def _download(dest: Path, timeout: float) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(CHINCHILLA_URL, timeout=timeout) as resp:
            with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
                shutil.copyfileobj(resp, tmp)
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        raise DatasetError(
            f"could not download Epoch AI's Chinchilla data ({err}). Without network access, fetch "
            f"{CHINCHILLA_URL} by hand and pass load_chinchilla(path=...) or set {CHINCHILLA_ENV}"
        ) from None
    got = _sha256(Path(tmp.name))
    if got != CHINCHILLA_SHA256:
        os.unlink(tmp.name)
        raise DatasetError(f"downloaded file has SHA-256 {got}, expected {CHINCHILLA_SHA256}; not cached")
    os.replace(tmp.name, dest)


def load_chinchilla(
    path: str | os.PathLike | None = None,
    *,
    drop_outliers: bool = False,
    verify: bool = True,
    download: bool = True,
    timeout: float = 30.0,
) -> ScalingData:
    """Epoch AI's 245 Chinchilla points (Hoffmann et al. 2022, Figure 4).

    Looks, in order, at ``path``, at the environment variable
    ``BAYESCALE_CHINCHILLA_PATH`` (a file, or a folder holding it), at the cache
    (``$XDG_CACHE_HOME/bayescale`` or ``~/.cache/bayescale``), and finally
    downloads the file pinned to a commit of epoch-research/analyzing-chinchilla.
    The file's SHA-256 is checked. ``D = C / (6 N)``: the file has no token column.

    Parameters
    ----------
    path : path-like, optional
        Local copy of ``svg_extracted_data.csv`` (or a folder holding it).
    drop_outliers : bool
        Drop the 5 highest-loss points, as Epoch AI does (245 -> 240 points).
    verify : bool
        Check the SHA-256 of a local file too (always checked for downloads).
    download : bool
        Allow the download when no local copy is found.

    Examples
    --------
    >>> import os, bayescale as bs
    >>> if os.path.exists("../shared/data"):
    ...     assert bs.datasets.load_chinchilla("../shared/data", drop_outliers=True).n == 240
    """
    import pandas as pd

    source = path if path is not None else os.environ.get(CHINCHILLA_ENV) or None
    if source is not None:
        file = _resolve_local(source)
        if verify and (got := _sha256(file)) != CHINCHILLA_SHA256:
            raise DatasetError(
                f"{str(file)!r} has SHA-256 {got}, not the pinned {CHINCHILLA_SHA256}: it is not Epoch AI's "
                "file (or was edited); pass verify=False to load it anyway"
            )
    else:
        file = _cache_dir() / _CHINCHILLA_NAMES[0]
        if not file.is_file():
            if not download:
                raise DatasetError(
                    f"no local copy of Epoch AI's Chinchilla data at {str(file)!r} and download=False; "
                    f"pass path=... or set {CHINCHILLA_ENV}"
                )
            _download(file, timeout)
        elif _sha256(file) != CHINCHILLA_SHA256:
            raise DatasetError(f"cached file {str(file)!r} is corrupt (SHA-256 mismatch); delete it and retry")
    df = pd.read_csv(file)
    if drop_outliers:
        df = df.drop(index=df["loss"].nlargest(5).index)
    return ScalingData.from_frame(df, N="Model Size", C="Training FLOP", loss="loss")
