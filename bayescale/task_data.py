"""The validated container of benchmark scores: :class:`TaskData`, one row per (training run, task).

Each row is a run (parameters ``N``, tokens ``D``, optionally its ``loss`` and a ``group`` label such as the
training set) scored on one task: ``accuracy`` in [0, 1] over the task's ``n_items`` items, whose chance
accuracy is ``chance``. Every check runs on construction, on NumPy arrays, before anything is compiled; each
mistake raises its own :class:`~bayescale.errors.DataError` subclass naming the column, the bad values and the
fix (as :class:`~bayescale.ScalingData`). Nothing is dropped.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import numpy as np

from bayescale.checks import _rows, as_float_column, check_finite_positive
from bayescale.data import FLOPS_PER_PARAM_TOKEN, ScalingData, _columns, _has_column
from bayescale.errors import (
    AccuracyRangeError, ChanceError, DataError, InconsistentTaskError, ItemCountError, LengthMismatchError,
    MissingColumnError, NonFiniteError, TooFewPointsError,
)

__all__ = ["TaskData", "AT_CHANCE_Z", "AT_CHANCE_MARGIN", "downstream_example", "DOWNSTREAM_TRUTH",
           "EXAMPLE_LOSS_TRUTH"]

#: A unit is at chance when its lowest-loss quarter of runs averages within this many binomial standard errors ...
AT_CHANCE_Z = 3.0
#: ... or within this many accuracy points (as a fraction) of chance, whichever is larger.
AT_CHANCE_MARGIN = 0.01


def _column(df, key: str, name) -> np.ndarray:
    if not _has_column(df, name):
        raise MissingColumnError(f"no column {name!r} (asked for as {key}); the table has {_columns(df)}: "
                                 f"pass {key}='<column name>'")
    return np.asarray(df[name])


def _per_row(df, key: str, spec, n: int) -> tuple[Any, str]:
    """A column by name, or one number for every row: ``(values, name used in messages)``."""
    if isinstance(spec, str):
        return _column(df, key, spec), spec
    return np.full(n, spec), key


@dataclasses.dataclass(frozen=True, eq=False)
class TaskData:
    """Benchmark scores of training runs: one row per (run, task).

    Build it with :meth:`from_frame` or :meth:`from_arrays`; the constructor checks everything.

    Parameters
    ----------
    N, D : array_like
        Parameters and training tokens of each row's run (positive, finite).
    accuracy : array_like
        Fraction of the task's items answered correctly, in [0, 1].
    n_items : array_like
        Items in the task (positive whole numbers; one value per task).
    chance : array_like
        Accuracy of random guessing, in [0, 1) (one value per task; 0 for open-ended tasks).
    task : array_like, optional
        Task name of each row (default: one task, ``"task"``).
    loss : array_like, optional
        The run's loss the link maps to accuracy (validation loss, or the task's own loss); needed by the
        two-step forecast, not by the one-step one.
    group : array_like, optional
        A label per row (e.g. the training set); links are fitted per (task, group) by default.
    names : mapping, optional
        The user's column names, used in messages.

    Examples
    --------
    >>> import bayescale as bs
    >>> td = bs.TaskData.from_arrays(N=[1e8, 4e8, 1e9], D=[2e9, 8e9, 2e10], loss=[3.4, 3.0, 2.8],
    ...                              accuracy=[0.30, 0.41, 0.50], n_items=1000, chance=0.25, task="arc")
    >>> td.n, td.tasks
    (3, ('arc',))
    """

    N: np.ndarray
    D: np.ndarray
    accuracy: np.ndarray
    n_items: np.ndarray
    chance: np.ndarray
    task: np.ndarray | None = None
    loss: np.ndarray | None = None
    group: np.ndarray | None = None
    names: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        names = {k: k for k in ("N", "D", "loss", "accuracy", "n_items", "chance", "task", "group")}
        names.update(dict(self.names))
        cols = {k: as_float_column(names[k], getattr(self, k)) for k in ("N", "D", "accuracy", "n_items", "chance")}
        if self.loss is not None:
            cols["loss"] = as_float_column(names["loss"], self.loss)
        n = cols["N"].shape[0]
        labels = {}
        for key in ("task", "group"):
            value = getattr(self, key)
            if value is None and key == "task":
                value = np.full(n, "task", dtype=object)
            if value is not None:
                labels[key] = np.asarray(value).astype(str) if np.ndim(value) else np.full(n, str(value))
        lengths = {names[k]: v.shape[0] for k, v in {**cols, **labels}.items()}
        if len(set(lengths.values())) > 1:
            raise LengthMismatchError(
                f"columns have different lengths ({', '.join(f'{k}: {v}' for k, v in lengths.items())}); "
                "pass one value per (run, task) row in every column")
        if n == 0:
            raise TooFewPointsError("no data: every column is empty; pass one row per (run, task)")
        for key in ("N", "D", *(("loss",) if "loss" in cols else ())):
            check_finite_positive(names[key], cols[key])
        _check_accuracy(names["accuracy"], cols["accuracy"])
        _check_items(names["n_items"], cols["n_items"])
        _check_chance(names["chance"], cols["chance"])
        for key in ("n_items", "chance"):
            _check_constant_per_task(names[key], cols[key], labels["task"], names["task"])
        for key, value in {**cols, **labels}.items():
            value.setflags(write=False)
            object.__setattr__(self, key, value)
        if "group" not in labels:
            object.__setattr__(self, "group", None)
        object.__setattr__(self, "names", names)

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_arrays(cls, N: Any, D: Any = None, *, accuracy: Any, n_items: Any, chance: Any, C: Any = None,
                    task: Any = None, loss: Any = None, group: Any = None,
                    names: Mapping[str, str] | None = None) -> "TaskData":
        """Build from arrays (``n_items``, ``chance`` and ``task`` may be one value for every row); give ``D`` or
        compute ``C`` (then ``D = C / (6 N)``)."""
        names = dict(names or {})
        Narr = as_float_column(names.get("N", "N"), N)
        if D is None:
            if C is None:
                raise DataError("neither tokens nor compute given: pass D=... (training tokens per run) or C=... "
                                "(training FLOPs per run, from which D = C / (6 N))")
            Carr = as_float_column(names.get("C", "C"), C)
            if Carr.shape != Narr.shape:
                raise LengthMismatchError(f"columns have different lengths (N: {Narr.shape[0]}, C: {Carr.shape[0]}); "
                                          "pass one value per row in every column")
            check_finite_positive(names.get("N", "N"), Narr)
            check_finite_positive(names.get("C", "C"), Carr)
            D = Carr / (FLOPS_PER_PARAM_TOKEN * Narr)
        n = Narr.shape[0]
        fill = lambda v: np.full(n, v) if np.ndim(v) == 0 else v  # noqa: E731
        return cls(N=Narr, D=D, accuracy=accuracy, n_items=fill(n_items), chance=fill(chance),
                   task=None if task is None else fill(task), loss=loss, group=group, names=names)

    @classmethod
    def from_frame(cls, df: Any, *, N: str = "N", D: str | None = "D", accuracy: str = "accuracy",
                   n_items: str | int = "n_items", chance: str | float = "chance", task: str | None = "task",
                   loss: str | None = None, group: str | None = None, C: str | None = None) -> "TaskData":
        """Build from a table by column name; ``n_items`` and ``chance`` may be a column or one number for every
        row, ``task=None`` makes one task. Give ``D`` or ``C`` (``D=None, C="flops"``).

        Examples
        --------
        >>> import pandas as pd, bayescale as bs
        >>> df = pd.DataFrame({"params": [1e8, 4e8, 1e8, 4e8], "tokens": [2e9, 8e9, 2e9, 8e9],
        ...                    "c4_loss": [3.4, 3.0, 3.4, 3.0], "task": ["piqa", "piqa", "arc", "arc"],
        ...                    "acc": [0.60, 0.66, 0.30, 0.38], "items": [1838, 1838, 2376, 2376],
        ...                    "chance": [0.5, 0.5, 0.25, 0.25]})
        >>> td = bs.TaskData.from_frame(df, N="params", D="tokens", loss="c4_loss", accuracy="acc",
        ...                             task="task", n_items="items", chance="chance")
        >>> td.tasks
        ('piqa', 'arc')
        """
        n = len(_column(df, "N", N))
        wanted = {"N": N, "D": D, "C": C, "accuracy": accuracy, "task": task, "loss": loss, "group": group}
        cols = {k: _column(df, k, v) for k, v in wanted.items() if v is not None}
        items, items_name = _per_row(df, "n_items", n_items, n)
        chances, chance_name = _per_row(df, "chance", chance, n)
        names = {**{k: v for k, v in wanted.items() if v is not None}, "n_items": items_name, "chance": chance_name}
        return cls.from_arrays(cols["N"], cols.get("D"), C=cols.get("C"), accuracy=cols["accuracy"], n_items=items,
                               chance=chances, task=cols.get("task"), loss=cols.get("loss"), group=cols.get("group"),
                               names=names)

    # ------------------------------------------------------------------ views
    @property
    def n(self) -> int:
        """Number of (run, task) rows."""
        return int(self.N.shape[0])

    @property
    def C(self) -> np.ndarray:
        """Training compute of each row's run, 6 N D FLOPs."""
        return FLOPS_PER_PARAM_TOKEN * self.N * self.D

    @property
    def correct(self) -> np.ndarray:
        """Items answered correctly, ``accuracy * n_items`` (fractional where the benchmark averages subsets)."""
        return self.accuracy * self.n_items

    @property
    def tasks(self) -> tuple[str, ...]:
        """Task names in order of first appearance."""
        return _first_seen(self.task)

    @property
    def groups(self) -> tuple[str, ...] | None:
        """Group labels in order of first appearance, or ``None``."""
        return None if self.group is None else _first_seen(self.group)

    def units(self, per_group: bool = True) -> list[tuple[str, str | None, np.ndarray]]:
        """The fits a downstream model makes: ``(task, group, row indices)``, one per task (and per group when
        ``per_group`` and the data have groups)."""
        out = []
        for t in self.tasks:
            in_task = self.task == t
            if per_group and self.group is not None:
                out += [(t, g, np.flatnonzero(in_task & (self.group == g))) for g in self.groups
                        if np.any(in_task & (self.group == g))]
            else:
                out.append((t, None, np.flatnonzero(in_task)))
        return out

    def at_chance(self, rows: np.ndarray) -> tuple[bool, str]:
        """Whether the rows (one task) show no accuracy above chance, and a sentence saying why.

        The quarter of the rows with the lowest loss (largest compute without a loss column; at least 3)
        is at chance when its mean accuracy exceeds ``chance`` by no more than :data:`AT_CHANCE_Z` binomial
        standard errors of that mean or :data:`AT_CHANCE_MARGIN`, whichever is larger.
        """
        order = np.argsort(self.loss[rows]) if self.loss is not None else np.argsort(-self.C[rows])
        best = rows[order[: max(3, math.ceil(rows.size / 4))]]
        chance, items = float(self.chance[rows[0]]), float(self.n_items[rows[0]])
        mean = float(np.mean(self.accuracy[best]))
        se = math.sqrt(chance * (1.0 - chance) / (items * best.size))
        margin = max(AT_CHANCE_Z * se, AT_CHANCE_MARGIN)
        why = (f"its {best.size} best runs (lowest {'loss' if self.loss is not None else 'compute'}) average "
               f"{mean:.3f} against chance {chance:.3g} (margin {margin:.3f})")
        return mean - chance <= margin, why

    def loss_data(self) -> ScalingData:
        """The distinct runs (by N, D and group) with their loss, as :class:`~bayescale.ScalingData` for the loss
        fit of a two-step forecast; a :class:`~bayescale.errors.DataError` when one run has several losses
        (task losses: fit each task's loss on its own rows)."""
        if self.loss is None:
            raise MissingColumnError("this TaskData has no loss column: build it with loss='<column>'")
        group = self.group if self.group is not None else np.full(self.n, "")
        keys = list(zip(self.N, self.D, group))
        first: dict = {}
        for i, key in enumerate(keys):
            j = first.setdefault(key, i)
            if self.loss[j] != self.loss[i]:
                raise DataError(f"rows {j} and {i} are one run (N={self.N[i]:.4g}, D={self.D[i]:.4g}) with different "
                                f"losses ({self.loss[j]:.4g}, {self.loss[i]:.4g}): task losses? fit each task's loss "
                                "on its own rows (TaskData.subset) and pass loss_fit={task: fit, ...}")
        idx = np.array(sorted(first.values()))
        return ScalingData(N=self.N[idx], D=self.D[idx], loss=self.loss[idx],
                           group=None if self.group is None else self.group[idx])

    def subset(self, mask: Any) -> "TaskData":
        """A new container with the rows selected by a boolean mask or index array."""
        mask = np.asarray(mask)
        opt = lambda v: None if v is None else v[mask]  # noqa: E731
        return TaskData(N=self.N[mask], D=self.D[mask], accuracy=self.accuracy[mask], n_items=self.n_items[mask],
                        chance=self.chance[mask], task=self.task[mask], loss=opt(self.loss), group=opt(self.group),
                        names=self.names)

    def to_frame(self):
        """The rows as a pandas DataFrame (columns task, [group], N, D, C, [loss], accuracy, n_items, chance)."""
        import pandas as pd

        out = {"task": self.task, **({"group": self.group} if self.group is not None else {}), "N": self.N,
               "D": self.D, "C": self.C, **({"loss": self.loss} if self.loss is not None else {}),
               "accuracy": self.accuracy, "n_items": self.n_items, "chance": self.chance}
        return pd.DataFrame(out)

    def __repr__(self) -> str:
        return (f"TaskData(n={self.n}, tasks={len(self.tasks)}, "
                + (f"groups={len(self.groups)}, " if self.group is not None else "")
                + f"C=[{self.C.min():.3g}, {self.C.max():.3g}], accuracy=[{self.accuracy.min():.3g}, "
                + f"{self.accuracy.max():.3g}]" + (", with loss" if self.loss is not None else "") + ")")


def _first_seen(labels: np.ndarray) -> tuple[str, ...]:
    _, idx = np.unique(labels, return_index=True)
    return tuple(str(v) for v in labels[np.sort(idx)])


def _bad(name: str, arr: np.ndarray, bad: np.ndarray) -> str:
    idx = np.flatnonzero(bad)
    vals = ", ".join(f"{arr[i]:g}" for i in idx[:5])
    return f"column {name!r} has {idx.size} value(s) {{}} ({vals} at {_rows(idx)})"


def _check_finite(name: str, arr: np.ndarray) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = np.flatnonzero(bad)
        raise NonFiniteError(f"column {name!r} has {idx.size} non-finite value(s) ({', '.join(str(arr[i]) for i in idx[:5])} "
                             f"at {_rows(idx)}); fix or remove those rows: bayescale never drops data silently")


def _check_accuracy(name: str, acc: np.ndarray) -> None:
    _check_finite(name, acc)
    bad = (acc < 0.0) | (acc > 1.0)
    if bad.any():
        hint = " (percentages? divide by 100)" if acc.max() > 1.0 else ""
        raise AccuracyRangeError(_bad(name, acc, bad).format("outside [0, 1]")
                                 + f"; accuracy is the fraction of items right{hint}: fix those rows")


def _check_items(name: str, items: np.ndarray) -> None:
    _check_finite(name, items)
    bad = (items < 1.0) | (np.round(items) != items)
    if bad.any():
        raise ItemCountError(_bad(name, items, bad).format("that are not positive whole numbers")
                             + "; n_items is how many items the benchmark has (its accuracy's denominator)")


def _check_chance(name: str, chance: np.ndarray) -> None:
    _check_finite(name, chance)
    bad = (chance < 0.0) | (chance >= 1.0)
    if bad.any():
        hint = " (percentages? divide by 100)" if chance.max() > 1.0 else ""
        raise ChanceError(_bad(name, chance, bad).format("outside [0, 1)")
                          + f"; chance is the accuracy of random guessing, e.g. 0.25 for 4 choices, 0 for open-ended "
                          f"answers{hint}")


def _check_constant_per_task(name: str, values: np.ndarray, task: np.ndarray, task_name: str) -> None:
    for t in _first_seen(task):
        distinct = np.unique(values[task == t])
        if distinct.size > 1:
            raise InconsistentTaskError(
                f"task {t!r} has {distinct.size} different values of {name!r} ({', '.join(f'{v:g}' for v in distinct[:5])}); "
                f"a task has one {name}: if these are different tasks give them different names in {task_name!r}, "
                "else fix the column")


#: The links :func:`downstream_example` scores its runs with (sigmoid parameters and over-dispersion ``tau``).
DOWNSTREAM_TRUTH = {
    "arc": {"chance": 0.25, "n_items": 2376, "k": 2.0, "L0": 2.7, "headroom": 0.9, "tau": 0.02},
    "piqa": {"chance": 0.5, "n_items": 1838, "k": 1.5, "L0": 3.3, "headroom": 0.7, "tau": 0.02},
    "lambada": {"chance": 0.0, "n_items": 5153, "k": 2.5, "L0": 3.0, "headroom": 0.85, "tau": 0.03},
}


#: The loss of :func:`downstream_example`'s runs: the Chinchilla law at :data:`bayescale.datasets.GADRE_TRUTH`.
EXAMPLE_LOSS_TRUTH = {"E": 1.2, "A": 98.8, "B": 86.5, "alpha": 0.2186, "beta": 0.2186}


def downstream_example(*, seed: int = 0, truth: Mapping[str, Mapping[str, float]] | None = None) -> TaskData:
    """Synthetic benchmark scores of a ladder of runs: three tasks (:data:`DOWNSTREAM_TRUTH`) scored by the
    sigmoid link of each run's loss, with beta-binomial noise over each task's items.

    The runs are :func:`bayescale.datasets.overtraining`'s design (4 sizes from 10M to 400M parameters, each
    0.25x to 32x over-trained: 32 runs) with C4-like losses from :data:`EXAMPLE_LOSS_TRUTH` (2.8 to 5.9
    nats, 1% Student-t(5) noise on log loss). Deterministic for a seed.

    Examples
    --------
    >>> import bayescale as bs
    >>> tasks = bs.datasets.downstream_example()
    >>> tasks.n, tasks.tasks, tasks.loss_data().n
    (96, ('arc', 'piqa', 'lambada'), 32)
    """
    truth = DOWNSTREAM_TRUTH if truth is None else truth
    rng = np.random.default_rng([seed, 27])
    sizes, multiples = np.geomspace(1e7, 4e8, 4), 2.0 ** np.arange(-2, 6)
    N = np.repeat(sizes, multiples.size)
    D = np.tile(multiples, sizes.size) * 20.0 * N
    t = EXAMPLE_LOSS_TRUTH
    loss = (t["E"] + t["A"] / N ** t["alpha"] + t["B"] / D ** t["beta"]) * np.exp(0.01 * rng.standard_t(5, N.size))
    cols: dict[str, list] = {k: [] for k in ("N", "D", "loss", "accuracy", "n_items", "chance", "task")}
    for name, t in truth.items():
        p = t["chance"] + (1 - t["chance"]) * t["headroom"] / (1 + np.exp(t["k"] * (loss - t["L0"])))
        phi = 1.0 / t["tau"] ** 2
        correct = rng.binomial(int(t["n_items"]), rng.beta(p * phi, (1 - p) * phi))
        for key, value in (("N", N), ("D", D), ("loss", loss), ("accuracy", correct / t["n_items"]),
                           ("n_items", np.full(N.size, t["n_items"])), ("chance", np.full(N.size, t["chance"])),
                           ("task", np.full(N.size, name))):
            cols[key].append(value)
    return TaskData(**{k: np.concatenate(v) for k, v in cols.items()})
