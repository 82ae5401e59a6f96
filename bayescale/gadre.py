"""Gadre et al. (2024)'s over-training runs: losses on 8 validation sets and accuracy on 46 tasks.

104 open_lm runs (arXiv:2403.08540, "Language models scale reliably with over-training and on
downstream tasks"): 3 training sets (``c4_original``, ``rpj`` = RedPajama, ``rw_original`` =
RefinedWeb) x sizes 10.6M .. 6.89B parameters x token multipliers 0.25 .. 32 (tokens = 20 x
multiplier x params), each a separately trained run. The paper fits the runs up to 411M parameters
and forecasts the 1.4B (up to 32x over-trained) and 6.9B runs.

**Local copy or cache only.** Upstream (mlfoundations/scaling, commit a003c49) publishes one JSON
per run (``exp_data/models/*.json``, ``exp_data/evals/*.json``), not these CSVs; the loaders read
the JSONs flattened to one row per (run, validation set) and per (run, task), and check each file
against its pinned SHA-256. They look at ``path`` (a file, or a folder holding both), then
``BAYESCALE_GADRE_PATH``, then the cache (``$XDG_CACHE_HOME/bayescale``); there is no download.
"""

from __future__ import annotations

import os

import numpy as np

from bayescale._fetch import _Source, _locate
from bayescale.data import ScalingData
from bayescale.errors import ConfigError
from bayescale.task_data import TaskData

__all__ = [
    "load_gadre", "load_gadre_evals", "GADRE_LOSSES_FILE", "GADRE_EVALS_FILE", "GADRE_LOSSES_SHA256",
    "GADRE_EVALS_SHA256", "GADRE_ENV", "GADRE_VAL_SETS", "GADRE_TRAINING_SETS", "load_gadre_tasks",
    "GADRE_17_TASKS",
]

GADRE_LOSSES_FILE = "gadre2024_overtraining_losses.csv"
GADRE_EVALS_FILE = "gadre2024_downstream_evals.csv"
GADRE_LOSSES_SHA256 = "964c453d18dd57f6a88ede8d594b8a5c63b82d4271ea0d22a22225f3cec0512b"
GADRE_EVALS_SHA256 = "cb8e6b055857cbc0960ed5b6c4a32f13cc3de996d53a9f2261ed2c97a9a572ea"
#: Environment variable naming a local copy (a file, or a folder holding both CSVs).
GADRE_ENV = "BAYESCALE_GADRE_PATH"
#: The validation sets every run was evaluated on (column ``val_set``).
GADRE_VAL_SETS = ("c4_val", "openlm_val", "paloma_c4_en", "paloma_dolma_100_programing_languages",
                  "paloma_falcon-refinedweb", "paloma_ptb", "paloma_redpajama", "de-en")
#: The training sets (column ``dataset``): C4, RedPajama, RefinedWeb.
GADRE_TRAINING_SETS = ("c4_original", "rpj", "rw_original")

#: The 17 tasks whose average top-1 error the paper forecasts from C4 loss (its "17-task split"):
#: mlfoundations/scaling ``scaling/constants.py`` ``SUBSET`` (commit 741b9ef), in that order.
GADRE_17_TASKS = (
    "bigbench_operators", "pubmed_qa_labeled", "hellaswag_zeroshot", "boolq", "arc_easy", "coqa",
    "bigbench_dyck_languages", "lambada_openai", "bigbench_novel_concepts", "winograd", "bigbench_cs_algorithms",
    "commonsense_qa", "bigbench_qa_wikidata", "hellaswag", "copa", "squad", "piqa",
)

_WHY = ("the file {} is flattened from the JSON files exp_data/{}/*.json of mlfoundations/scaling (commit "
        "a003c49); upstream publishes no CSV, so bayescale cannot download it")
_LOSSES = _Source("Gadre et al. (2024)'s validation losses", "load_gadre", (GADRE_LOSSES_FILE,),
                  GADRE_LOSSES_SHA256, GADRE_ENV, None, no_url=_WHY.format(GADRE_LOSSES_FILE, "models"))
_EVALS = _Source("Gadre et al. (2024)'s downstream evaluations", "load_gadre_evals", (GADRE_EVALS_FILE,),
                 GADRE_EVALS_SHA256, GADRE_ENV, None, no_url=_WHY.format(GADRE_EVALS_FILE, "models and evals"))


def _check_choice(name: str, value, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """``value`` (one name or several) as a tuple of names from ``allowed``, or a ConfigError naming it."""
    values = (value,) if isinstance(value, str) else tuple(value)
    bad = [v for v in values if v not in allowed]
    if bad or not values:
        raise ConfigError(f"{name} must be one or more of {list(allowed)}, got {value!r}")
    return values


def _check_n_column(N_column: str) -> None:
    if N_column not in ("params", "params_no_embed"):
        raise ConfigError(f"N_column must be 'params' (all parameters) or 'params_no_embed' (without embeddings), "
                          f"got {N_column!r}")


def load_gadre(
    path: str | os.PathLike | None = None,
    *,
    val_set: str = "c4_val",
    training_set: str | tuple[str, ...] | None = None,
    N_column: str = "params",
    as_frame: bool = False,
    verify: bool = True,
):
    """Gadre et al. (2024)'s 104 runs and their loss on one validation set.

    Parameters
    ----------
    path : path-like, optional
        ``gadre2024_overtraining_losses.csv`` or a folder holding it (else ``BAYESCALE_GADRE_PATH``, else the cache).
    val_set : str
        One of :data:`GADRE_VAL_SETS` (default ``"c4_val"``, the loss the paper forecasts).
    training_set : str or tuple of str, optional
        Keep only these of :data:`GADRE_TRAINING_SETS` (default: all three).
    N_column : {"params", "params_no_embed"}
        Count parameters with embeddings (default) or without.
    as_frame : bool
        Return the selected rows as a pandas DataFrame with every column of the file
        (``name``, ``chinchilla_multiplier``, the loss's 95% interval, ...).
    verify : bool
        Check the file's SHA-256.

    Returns
    -------
    ScalingData or pandas.DataFrame
        ``N`` = parameters, ``D`` = tokens, ``loss``, and ``group`` = training set.

    Examples
    --------
    >>> import os, bayescale as bs
    >>> if os.path.exists("../shared/data"):
    ...     data = bs.datasets.load_gadre("../shared/data")
    ...     assert data.n == 104 and len(data.groups) == 3
    ...     small = bs.datasets.load_gadre("../shared/data", training_set="rpj", as_frame=True)
    ...     assert small["params"].max() > 6e9 and len(small) == 35
    """
    import pandas as pd

    (val_set,) = _check_choice("val_set", val_set, GADRE_VAL_SETS)
    sets = GADRE_TRAINING_SETS if training_set is None else _check_choice("training_set", training_set,
                                                                          GADRE_TRAINING_SETS)
    _check_n_column(N_column)
    df = pd.read_csv(_locate(_LOSSES, path, verify=verify, download=False, timeout=0.0),
                     dtype={"params": np.float64, "params_no_embed": np.float64, "tokens": np.float64})
    df = df[(df["val_set"] == val_set) & df["dataset"].isin(sets)].reset_index(drop=True)
    if as_frame:
        return df
    return ScalingData.from_frame(df, N=N_column, D="tokens", loss="loss", group="dataset")


def load_gadre_evals(path: str | os.PathLike | None = None, *, verify: bool = True):
    """Gadre et al. (2024)'s downstream evaluations: the 104 runs on 46 tasks, one row per (run, task).

    Columns: ``name`` (the run; join to :func:`load_gadre` ``(as_frame=True)`` on it), ``dataset``,
    ``params``, ``params_no_embed``, ``tokens``, ``chinchilla_multiplier``, ``task``, ``accuracy`` in
    [0, 1], ``category``, ``task_type``, ``shots``, ``n_items`` (items in the benchmark) and
    ``random_baseline_pct`` (chance accuracy, percent). Same lookup as :func:`load_gadre`.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> import os, bayescale as bs
    >>> if os.path.exists("../shared/data"):
    ...     evals = bs.datasets.load_gadre_evals("../shared/data")
    ...     assert len(evals) == 4784 and evals["task"].nunique() == 46
    """
    import pandas as pd

    file = _locate(_EVALS, path, verify=verify, download=False, timeout=0.0)
    return pd.read_csv(file, dtype={"params": np.float64, "params_no_embed": np.float64, "tokens": np.float64})


def load_gadre_tasks(
    path: str | os.PathLike | None = None,
    *,
    val_set: str = "c4_val",
    tasks: str | tuple[str, ...] | None = None,
    training_set: str | tuple[str, ...] | None = None,
    N_column: str = "params",
    verify: bool = True,
) -> TaskData:
    """Gadre et al. (2024)'s runs scored on their tasks, each row with its run's loss on ``val_set``.

    :func:`load_gadre_evals` joined on ``name`` to :func:`load_gadre` ``(val_set=...)``: a
    :class:`~bayescale.TaskData` for :func:`bayescale.fit_downstream`, ``group`` = training set, ``chance`` =
    the random baseline (``random_baseline_pct / 100``). ``tasks``: keep these (default all 46;
    :data:`GADRE_17_TASKS` is the paper's 17-task split).

    Examples
    --------
    >>> import os, bayescale as bs
    >>> if os.path.exists("../shared/data"):
    ...     td = bs.datasets.load_gadre_tasks("../shared/data", tasks=bs.datasets.GADRE_17_TASKS)
    ...     assert td.n == 17 * 104 and len(td.tasks) == 17 and td.groups == ("c4_original", "rpj", "rw_original")
    """
    evals = load_gadre_evals(path, verify=verify)
    known = tuple(dict.fromkeys(evals["task"]))
    keep = known if tasks is None else _check_choice("tasks", tasks, known)
    losses = load_gadre(path, val_set=val_set, training_set=training_set, N_column=N_column, as_frame=True,
                        verify=verify)
    df = evals[evals["task"].isin(keep)].drop(columns=["params", "params_no_embed", "tokens"])
    df = df.merge(losses[["name", "params", "params_no_embed", "tokens", "loss"]], on="name", how="inner")
    df["chance"] = df["random_baseline_pct"] / 100.0
    return TaskData.from_frame(df, N=N_column, D="tokens", loss="loss", accuracy="accuracy", task="task",
                               n_items="n_items", chance="chance", group="dataset")
