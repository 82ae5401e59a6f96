"""Built-in data: a synthetic IsoFLOP example and four published sets of real runs.

:func:`example` is deterministic and needs nothing outside the package: it is
what ``bayescale demo`` fits. The real data are read from a local copy or a
user cache, or downloaded once from the authors' repositories pinned to a
commit; every file is checked against a pinned SHA-256:

- :func:`load_chinchilla`: the 245 points Epoch AI read off Hoffmann et al.
  (2022), Figure 4 (Besiroglu et al. 2024, arXiv:2404.10102).
- :func:`load_porian`: 1,745 IsoFLOP points of Porian et al. (2024,
  arXiv:2406.19146), 15 training configurations x 12 compute budgets
  (local copy or cache only: see there).
- :func:`load_li`: 261 open_lm runs of Li, Kudugunta & Zettlemoyer (2025,
  arXiv:2502.18969), five peak learning rates per (N, D).
- :func:`load_gadre`, :func:`load_gadre_evals`: Gadre et al. (2024, arXiv:2403.08540)'s 104
  over-training runs, their losses on 8 validation sets and accuracies on 46 tasks
  (local copy or cache only; :mod:`bayescale.gadre`).

Each loader looks, in order, at its ``path`` argument, at its environment
variable (a file, or a folder holding it), at the cache
(``$XDG_CACHE_HOME/bayescale`` or ``~/.cache/bayescale``), and finally
downloads the pinned file where one is published.
"""

from __future__ import annotations

import os

import numpy as np

from bayescale._fetch import _Source, _locate
from bayescale.data import FLOPS_PER_PARAM_TOKEN, ScalingData
from bayescale.errors import ConfigError
from bayescale.simulated_recipes import RECIPE_POPULATION, RECIPE_SPREAD, recipe_truths, recipes  # noqa: F401
from bayescale.gadre import (  # noqa: F401  (re-exported: bs.datasets.load_gadre, ...)
    GADRE_ENV, GADRE_EVALS_FILE, GADRE_EVALS_SHA256, GADRE_LOSSES_FILE, GADRE_LOSSES_SHA256, GADRE_TRAINING_SETS,
    GADRE_VAL_SETS, load_gadre, load_gadre_evals, load_gadre_tasks, GADRE_17_TASKS,
)
from bayescale.task_data import DOWNSTREAM_TRUTH, downstream_example  # noqa: F401  (re-exported)

__all__ = [
    "example", "EXAMPLE_TRUTH", "overtraining", "GADRE_TRUTH", "recipes", "recipe_truths", "RECIPE_POPULATION",
    "RECIPE_SPREAD",
    "load_chinchilla", "CHINCHILLA_URL", "CHINCHILLA_SHA256", "CHINCHILLA_ENV",
    "load_porian", "porian_configs", "PORIAN_SHA256", "PORIAN_ENV", "PORIAN_FILE", "PORIAN_CONFIG_COLUMNS",
    "load_li", "LI_URL", "LI_SHA256", "LI_ENV",
    "load_gadre", "load_gadre_evals", "GADRE_LOSSES_FILE", "GADRE_EVALS_FILE", "GADRE_LOSSES_SHA256",
    "GADRE_EVALS_SHA256", "GADRE_ENV", "GADRE_VAL_SETS", "GADRE_TRAINING_SETS",
    "load_gadre_tasks", "GADRE_17_TASKS", "downstream_example", "DOWNSTREAM_TRUTH",
]

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

#: Li et al. (2025): hadasah/scaling_laws ``data/scaling_results_last_ckpt_only.csv`` at commit 1f3708c.
LI_URL = (
    "https://raw.githubusercontent.com/hadasah/scaling_laws/"
    "1f3708c0a12df0effb0ee906b1da5f9f0ff4f4f1/data/scaling_results_last_ckpt_only.csv"
)
LI_SHA256 = "cd96b9eb8e5b2adc80e6739a642dd8554590edc96234d36859ab6ed0f5c30562"
#: Environment variable naming a local copy (file or folder) of Li et al.'s CSV.
LI_ENV = "BAYESCALE_LI_PATH"

#: Porian et al. (2024): the IsoFLOP points of formll/resolving-scaling-law-discrepancies
#: (``data/summary_df*.pickle.xz`` at commit 0dc60d9), flattened to one CSV row per point.
#: Upstream publishes pickles, not this CSV, so there is nothing to download.
PORIAN_FILE = "porian2024_isoflop_points.csv"
PORIAN_SHA256 = "8eef79f38ef32d2ff83bba7e3dd7fed5ba21df92e50474d4d46d68b7b147b317"
#: Environment variable naming a local copy (file or folder) of the flattened Porian CSV.
PORIAN_ENV = "BAYESCALE_PORIAN_PATH"
#: Columns of the Porian CSV that describe a training configuration (with ``source_file`` and ``row``).
PORIAN_CONFIG_COLUMNS = ("dataset", "hparams", "warmup", "decay", "param_count", "loss_split")


_CHINCHILLA = _Source(
    "Epoch AI's Chinchilla data", "load_chinchilla",
    ("svg_extracted_data.csv", "epoch_chinchilla_svg_extracted_data.csv"),
    CHINCHILLA_SHA256, CHINCHILLA_ENV, CHINCHILLA_URL,
)
_LI = _Source(
    "Li et al. (2025)'s scaling runs", "load_li",
    ("scaling_results_last_ckpt_only.csv", "li2025_misfitting_scaling_results_last_ckpt_only.csv"),
    LI_SHA256, LI_ENV, LI_URL,
)
_PORIAN = _Source(
    "Porian et al. (2024)'s IsoFLOP points", "load_porian", (PORIAN_FILE,), PORIAN_SHA256, PORIAN_ENV, None,
    no_url=(
        f"the file {PORIAN_FILE} is flattened from the pickles data/summary_df*.pickle.xz of "
        "formll/resolving-scaling-law-discrepancies (commit 0dc60d9); upstream publishes no CSV, so bayescale "
        "cannot download it"
    ),
)


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


#: A Gadre et al. (2024)-like truth for :func:`overtraining`: the law with E = 1.2 through four C4
#: validation losses of their RedPajama runs (mlfoundations/scaling ``exp_data/models/rpj-*.json``).
GADRE_TRUTH = {"E": 1.2, "A": 98.8, "B": 86.5, "alpha": 0.2186, "beta": 0.2186}


def overtraining(*, seed: int = 0, truth=None, noise: float = 0.01, size_offset: float = 0.0) -> ScalingData:
    """A synthetic over-training sweep like Gadre et al. (2024): few model sizes, many token budgets.

    Four model sizes log-spaced from 10M to 400M parameters, each trained on 0.25x to 32x
    of 20 tokens per parameter (8 doublings): 32 runs. Four sizes pin down ``L`` along
    ``D`` well and along ``N`` poorly, so ``E``, ``A`` and ``alpha`` trade off along a curved
    ridge: the hard case for a sampler. Noise as in :func:`example` (Student-t(5), scale
    ``noise`` on log loss); ``size_offset`` adds one normal offset (that sd) per model size
    on log loss, a misfit real sizes have (different shapes) and the law cannot absorb.
    ``truth``: Chinchilla parameters (default :data:`EXAMPLE_TRUTH`; :data:`GADRE_TRUTH`).

    Examples
    --------
    >>> import bayescale as bs
    >>> data = bs.datasets.overtraining(truth=bs.datasets.GADRE_TRUTH, seed=1)
    >>> data.n, len(set(data.N)), f"{(data.D / data.N).min():.0f}-{(data.D / data.N).max():.0f}"
    (32, 4, '5-640')
    """
    from bayescale.model.chinchilla import chinchilla_loss

    truth = EXAMPLE_TRUTH if truth is None else truth
    rng = np.random.default_rng(seed)
    sizes = np.geomspace(1e7, 4e8, 4)
    multiples = 2.0 ** np.arange(-2, 6)
    N = np.repeat(sizes, multiples.size)
    D = np.tile(multiples, sizes.size) * 20.0 * N
    clean = np.asarray(chinchilla_loss({k: np.float64(v) for k, v in truth.items()}, N, D), dtype=np.float64)
    log_noise = noise * rng.standard_t(5, size=N.shape)
    if size_offset:
        log_noise = log_noise + np.repeat(size_offset * rng.standard_normal(sizes.size), multiples.size)
    return ScalingData.from_arrays(N=N, D=D, loss=clean * np.exp(log_noise))


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

    file = _locate(_CHINCHILLA, path, verify=verify, download=download, timeout=timeout)
    df = pd.read_csv(file)
    if drop_outliers:
        df = df.drop(index=df["loss"].nlargest(5).index)
    return ScalingData.from_frame(df, N="Model Size", C="Training FLOP", loss="loss")


# ---------------------------------------------------------------------- Li et al. 2025
def load_li(
    path: str | os.PathLike | None = None,
    *,
    best_lr: bool = False,
    N_column: str = "N",
    as_frame: bool = False,
    verify: bool = True,
    download: bool = True,
    timeout: float = 30.0,
):
    """Li, Kudugunta & Zettlemoyer (2025)'s 261 open_lm runs (arXiv:2502.18969).

    Models ``misfitting_12m`` .. ``misfitting_1b`` (N = 5.7e7 .. 1.18e9 parameters
    in all, 1.2e7 .. 1.0e9 without embeddings) trained on D = 1.05e8 .. 2.1e10
    tokens at up to five peak learning rates (``peak_lr``) per (N, D): 81 distinct
    (N, D) pairs. ``loss`` is the final-checkpoint loss. N, D and C are read as
    floats (C overflows int64).

    The file is ``data/scaling_results_last_ckpt_only.csv`` of hadasah/scaling_laws,
    pinned to commit 1f3708c (:data:`LI_URL`), found like :func:`load_chinchilla`'s:
    ``path``, then ``BAYESCALE_LI_PATH`` (a file or a folder), then the cache, then
    the download; its SHA-256 is checked.

    Parameters
    ----------
    path : path-like, optional
        Local copy of the CSV (or a folder holding it).
    best_lr : bool
        Keep, per (N, D), only the run with the lowest loss over ``peak_lr``: the
        paper's "law of the best run" (261 -> 81 rows). Without it every run is
        kept, and :class:`~bayescale.ScalingData` warns (``DataWarning``) that 21
        rows repeat an earlier (N, D, loss) row exactly, as the file has them.
    N_column : {"N", "N_no_emb"}
        Count parameters with embeddings (``"N"``) or without (``"N_no_emb"``).
    as_frame : bool
        Return the selected rows as a pandas DataFrame with every column of the file
        (``peak_lr``, ``model``, ...) instead of a :class:`~bayescale.ScalingData`.
    verify, download, timeout
        As in :func:`load_chinchilla`.

    Returns
    -------
    ScalingData or pandas.DataFrame

    Examples
    --------
    >>> import os, bayescale as bs
    >>> if os.path.exists("../shared/data"):
    ...     best = bs.datasets.load_li("../shared/data", best_lr=True)
    ...     assert best.n == 81 and best.N.max() > 1e9
    """
    import pandas as pd

    if N_column not in ("N", "N_no_emb"):
        raise ConfigError(f"N_column must be 'N' (all parameters) or 'N_no_emb' (without embeddings), got {N_column!r}")
    file = _locate(_LI, path, verify=verify, download=download, timeout=timeout)
    floats = ("N", "N_no_emb", "D", "C", "C_no_emb", "C_6ND", "C_6ND_no_emb")
    df = pd.read_csv(file, dtype={c: np.float64 for c in floats})
    if best_lr:
        df = df.loc[np.sort(df.groupby(["N", "D"], sort=False)["loss"].idxmin().to_numpy())]
    if as_frame:
        return df
    return ScalingData.from_frame(df, N=N_column, D="D", loss="loss")


# ---------------------------------------------------------------------- Porian et al. 2024
def _porian_frame(path, verify: bool):
    import pandas as pd

    file = _locate(_PORIAN, path, verify=verify, download=False, timeout=0.0)
    df = pd.read_csv(file)
    source = df["source_file"].astype(str) + ":" + df["row"].astype(str)
    label = (df["dataset"] + "/" + df["hparams"] + "/warmup=" + df["warmup"] + "/decay=" + df["decay"]
             + "/N=" + df["param_count"] + "/" + df["loss_split"])
    if label.groupby(source).nunique().max() > 1 or source.groupby(label).nunique().max() > 1:
        label = source  # the descriptive columns do not name configurations one to one
    df.insert(0, "config", label)
    df.insert(1, "source", source)
    return df


def porian_configs(path: str | os.PathLike | None = None, *, verify: bool = True) -> list[str]:
    """The 15 configuration labels of :func:`load_porian`, in the file's order.

    A label reads ``dataset/hparams/warmup=.../decay=.../N=.../loss_split``, from the
    columns :data:`PORIAN_CONFIG_COLUMNS`: e.g. ``"rw/base/warmup=long/decay=kaplan/N=kaplan/train"``
    is Kaplan et al.'s setup on RefinedWeb. Same lookup as :func:`load_porian`.

    Examples
    --------
    >>> import os, bayescale as bs
    >>> if os.path.exists("../shared/data"):
    ...     assert len(bs.datasets.porian_configs("../shared/data")) == 15
    """
    return list(dict.fromkeys(_porian_frame(path, verify)["config"]))


def load_porian(
    path: str | os.PathLike | None = None,
    *,
    config: str | int | None = None,
    as_frame: bool = False,
    verify: bool = True,
):
    """Porian et al. (2024)'s IsoFLOP points: 15 configurations x 12 budgets (arXiv:2406.19146).

    1,745 points from "Resolving Discrepancies in Compute-Optimal Scaling of
    Language Models": 15 experimental configurations, from a Kaplan-like setup to
    a Chinchilla-like one (dataset RefinedWeb ``rw`` or OpenWebText2 ``owt2``;
    base or tuned hyperparameters; long or short warmup; Kaplan, Chinchilla or
    constant learning-rate decay; parameters counted the Kaplan way, the standard
    way or with attention FLOPs; train or validation loss). ``flops`` is one of 12
    doubling budgets 1.25e16 .. 2.56e19 (the three configurations that count N
    the Kaplan way stop at 1.28e19: 11 budgets); ``D = flops / (6 N)`` exactly, with N
    counted under that configuration's convention; ``loss`` is the authors'
    smoothed loss at that budget.

    **Local copy or cache only.** Upstream (formll/resolving-scaling-law-discrepancies,
    commit 0dc60d9) publishes pandas pickles (``data/summary_df*.pickle.xz``), not a
    CSV; this loader reads ``porian2024_isoflop_points.csv``, those pickles
    flattened to one row per IsoFLOP point, and checks it against the pinned
    :data:`PORIAN_SHA256`. It looks at ``path``, then ``BAYESCALE_PORIAN_PATH``
    (a file or a folder holding it), then the cache
    (``$XDG_CACHE_HOME/bayescale/porian2024_isoflop_points.csv``); there is no download.

    Parameters
    ----------
    path : path-like, optional
        ``porian2024_isoflop_points.csv`` or a folder holding it.
    config : str or int, optional
        One configuration: its label (see :func:`porian_configs`), its source
        ``"<source_file>:<row>"`` (e.g. ``"summary_df.pickle.xz:0"``) or its
        position in :func:`porian_configs`. ``None`` (default): all 15.
    as_frame : bool
        Return a pandas DataFrame (columns ``config``, ``source``, the columns of
        :data:`PORIAN_CONFIG_COLUMNS`, ``flops``, ``N``, ``D``, ``loss``) instead of
        a :class:`~bayescale.ScalingData`: the budget of every row, to split on.
    verify : bool
        Check the file's SHA-256.

    Returns
    -------
    ScalingData or pandas.DataFrame
        The ``ScalingData`` has ``group`` = configuration label (one group when a
        ``config`` is selected), ready for ``bs.fit(..., pooling="partial")``.

    Raises
    ------
    DatasetError
        No local copy found (the message names the file and ``BAYESCALE_PORIAN_PATH``), or SHA-256 mismatch.
    ConfigError
        ``config`` names no configuration (the message lists them).

    Examples
    --------
    >>> import os, bayescale as bs
    >>> if os.path.exists("../shared/data"):
    ...     data = bs.datasets.load_porian("../shared/data")
    ...     assert data.n == 1745 and len(data.groups) == 15
    ...     one = bs.datasets.load_porian("../shared/data", config=1, as_frame=True)
    ...     assert one["flops"].nunique() == 12 and one["flops"].max() == 2.56e19
    """
    df = _porian_frame(path, verify)
    if config is not None:
        df = _porian_config(df, config)
    if as_frame:
        return df
    return ScalingData.from_frame(df, N="N", D="D", loss="loss", group="config")


def _porian_config(df, config):
    """The rows of one Porian configuration: by label, ``"<source_file>:<row>"`` or position."""
    labels = list(dict.fromkeys(df["config"]))
    sources = list(dict.fromkeys(df["source"]))
    if isinstance(config, (int, np.integer)) and not isinstance(config, bool):
        if not 0 <= config < len(labels):
            raise ConfigError(f"config={config} is out of range: there are {len(labels)} configurations (0 .. {len(labels) - 1})")
        config = labels[int(config)]
    if config in labels:
        return df[df["config"] == config].reset_index(drop=True)
    if config in sources:
        return df[df["source"] == config].reset_index(drop=True)
    raise ConfigError(
        f"no Porian configuration {config!r}; pass a label, a '<source_file>:<row>' or a position: "
        + ", ".join(f"{i}: {lab!r}" for i, lab in enumerate(labels))
    )
