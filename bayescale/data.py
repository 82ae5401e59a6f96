"""The validated container for scaling-law observations.

:class:`ScalingData` holds one row per training run: parameters ``N``, training
tokens ``D`` and final ``loss`` (optionally a ``group`` label). Every check runs on
construction, on concrete NumPy arrays, before anything is compiled; each mistake
raises its own :class:`~bayescale.errors.DataError` subclass with a message that
names the column, the offending values and the fix. Nothing is ever dropped.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Any, Mapping, Sequence

import numpy as np

from bayescale.checks import _rows, as_float_column, check_finite_positive
from bayescale.errors import (
    ComputeMismatchError,
    DataError,
    DataWarning,
    LengthMismatchError,
    MissingColumnError,
    TooFewDistinctValuesError,
    TooFewPointsError,
    UniqueTokensError,
)

__all__ = ["ScalingData", "FLOPS_PER_PARAM_TOKEN"]

#: Training compute per parameter per token, C = 6 N D (Kaplan et al. 2020).
FLOPS_PER_PARAM_TOKEN = 6.0

#: Relative disagreement between a given compute column and 6 N D that is tolerated.
COMPUTE_TOLERANCE = 0.05

@dataclasses.dataclass(frozen=True, eq=False)
class ScalingData:
    """Training runs for a scaling-law fit: parameters, tokens and final loss.

    Build it with :meth:`from_arrays`, :meth:`from_frame` or :meth:`from_csv`; the
    constructor validates everything. Give either tokens ``D`` or compute ``C``
    (then ``D = C / (6 N)``); giving both checks that they agree within 5%.

    Parameters
    ----------
    N, D, loss : array_like
        Positive, finite, equal-length columns. ``loss`` is the final training or
        validation loss (nats per token) of each run.
    group : array_like, optional
        A label per row (training setup, data mixture, ...) for hierarchical fits.
    U : array_like, optional
        Unique tokens per run (``U <= D``; ``D / U`` epochs), for the
        data-constrained law.
    names : mapping, optional
        The user's column names, used in messages and summaries.

    Examples
    --------
    >>> import bayescale as bs
    >>> data = bs.ScalingData.from_arrays(
    ...     N=[1e8, 2e8, 4e8, 1e8, 2e8, 4e8, 8e8],
    ...     D=[2e9, 2e9, 2e9, 8e9, 8e9, 8e9, 8e9],
    ...     loss=[3.4, 3.2, 3.1, 3.2, 3.0, 2.9, 2.85])
    >>> data.n
    7
    >>> float(data.C[0])
    1.2e+18
    """

    N: np.ndarray
    D: np.ndarray
    loss: np.ndarray
    group: np.ndarray | None = None
    names: Mapping[str, str] = dataclasses.field(default_factory=dict)
    U: np.ndarray | None = None

    def __post_init__(self) -> None:
        names = {"N": "N", "D": "D", "loss": "loss", **dict(self.names)}
        cols = {}
        for key in ("N", "D", "loss"):
            cols[key] = as_float_column(names[key], getattr(self, key))
        lengths = {names[k]: v.shape[0] for k, v in cols.items()}
        group = None
        if self.group is not None:
            group = np.asarray(self.group)
            if group.ndim != 1:
                raise DataError(f"column {names.get('group', 'group')!r} must be one-dimensional")
            lengths[names.get("group", "group")] = group.shape[0]
        if self.U is not None:
            cols["U"] = as_float_column(names.get("U", "U"), self.U)
            lengths[names.get("U", "U")] = cols["U"].shape[0]
        if len(set(lengths.values())) > 1:
            raise LengthMismatchError(
                f"columns have different lengths ({', '.join(f'{k}: {v}' for k, v in lengths.items())}); "
                "pass one value per training run in every column"
            )
        for key in ("N", "D", "loss"):
            check_finite_positive(names[key], cols[key])
            cols[key].setflags(write=False)
        if "U" in cols:
            check_finite_positive(names.get("U", "U"), cols["U"])
            cols["U"].setflags(write=False)
            over = np.flatnonzero(cols["U"] > cols["D"] * (1.0 + 1e-9))
            if over.size:
                i = over[0]
                raise UniqueTokensError(
                    f"column {names.get('U', 'U')!r} (unique tokens) exceeds {names['D']!r} (tokens trained on) at "
                    f"{_rows(over)} (row {i}: U={cols['U'][i]:.4g} > D={cols['D'][i]:.4g}); a run cannot see more "
                    "unique tokens than it trains on: fix the columns (D counts repeated epochs)"
                )
        object.__setattr__(self, "U", cols.get("U"))
        if cols["N"].shape[0] == 0:
            raise TooFewPointsError("no data: every column is empty; pass at least one row per training run")
        object.__setattr__(self, "N", cols["N"])
        object.__setattr__(self, "D", cols["D"])
        object.__setattr__(self, "loss", cols["loss"])
        object.__setattr__(self, "group", group)
        object.__setattr__(self, "names", names)
        self._warn_if_suspicious()

    def _warn_if_suspicious(self) -> None:
        if self.n >= 3 and np.all(self.D < self.N):
            warnings.warn(
                f"D < N in every row (largest D/N = {np.max(self.D / self.N):.3g}): language models "
                "are trained on more tokens than they have parameters, so the N and D columns may be "
                f"swapped; check that {self.names['N']!r} holds parameters and {self.names['D']!r} tokens",
                DataWarning,
                stacklevel=4,
            )
        key = np.stack([self.N, self.D, self.loss], axis=1)
        _, first, counts = np.unique(key, axis=0, return_index=True, return_counts=True)
        if np.any(counts > 1):
            dup = np.setdiff1d(np.arange(self.n), first)
            warnings.warn(
                f"{dup.size} row(s) repeat an earlier (N, D, loss) row exactly ({_rows(dup)}); they are "
                "kept and counted as independent runs. Remove them if they are copies.",
                DataWarning,
                stacklevel=4,
            )

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_arrays(
        cls,
        N: Any,
        D: Any = None,
        loss: Any = None,
        *,
        C: Any = None,
        group: Any = None,
        names: Mapping[str, str] | None = None,
        U: Any = None,
    ) -> "ScalingData":
        """Build from arrays: ``N`` and ``loss`` with either ``D`` or ``C`` (or both).

        Examples
        --------
        >>> import bayescale as bs
        >>> d = bs.ScalingData.from_arrays(N=[1e8, 1e9, 1e8, 1e9, 3e8],
        ...                                C=[6e17, 6e18, 6e18, 6e19, 1.8e18],
        ...                                loss=[3.5, 3.2, 3.1, 2.8, 3.2])
        >>> float(d.D[0])
        1000000000.0
        """
        names = dict(names or {})
        n_name, d_name, c_name = names.get("N", "N"), names.get("D", "D"), names.get("C", "C")
        if loss is None:
            raise DataError(f"column {names.get('loss', 'loss')!r} is missing: pass loss=... (final loss per run)")
        if D is None and C is None:
            raise DataError(
                f"neither tokens nor compute given: pass D=... (training tokens per run) or C=... "
                "(training FLOPs per run, from which D = C / (6 N))"
            )
        if C is not None:
            Narr = as_float_column(n_name, N)
            Carr = as_float_column(c_name, C)
            if Carr.shape != Narr.shape:
                raise LengthMismatchError(
                    f"columns have different lengths ({n_name}: {Narr.shape[0]}, {c_name}: {Carr.shape[0]}); "
                    "pass one value per training run in every column"
                )
            check_finite_positive(n_name, Narr)
            check_finite_positive(c_name, Carr)
            D_from_C = Carr / (FLOPS_PER_PARAM_TOKEN * Narr)
            if D is not None:
                Darr = as_float_column(d_name, D)
                if Darr.shape != Narr.shape:
                    raise LengthMismatchError(
                        f"columns have different lengths ({n_name}: {Narr.shape[0]}, {d_name}: {Darr.shape[0]}); "
                        "pass one value per training run in every column"
                    )
                check_finite_positive(d_name, Darr)
                rel = np.abs(Carr / (FLOPS_PER_PARAM_TOKEN * Narr * Darr) - 1.0)
                bad = np.flatnonzero(rel > COMPUTE_TOLERANCE)
                if bad.size:
                    i = bad[0]
                    raise ComputeMismatchError(
                        f"column {c_name!r} disagrees with 6*{n_name}*{d_name} by more than "
                        f"{COMPUTE_TOLERANCE:.0%} at {_rows(bad)} (row {i}: {c_name}={Carr[i]:.4g}, "
                        f"6ND={FLOPS_PER_PARAM_TOKEN * Narr[i] * Darr[i]:.4g}, off by {rel[i]:.1%}); "
                        "pass only one of D and C, or fix the columns"
                    )
            else:
                D = D_from_C
                names.setdefault("D", "D")
        return cls(N=N, D=D, loss=loss, group=group, names=names, U=U)

    @classmethod
    def from_frame(
        cls,
        df: Any,
        *,
        N: str = "N",
        D: str | None = None,
        loss: str = "loss",
        C: str | None = None,
        group: str | None = None,
        U: str | None = None,
    ) -> "ScalingData":
        """Build from a table (pandas DataFrame or a mapping of columns) by column name.

        Examples
        --------
        >>> import pandas as pd, bayescale as bs
        >>> df = pd.DataFrame({"params": [1e8, 4e8, 1e8, 4e8, 2e8],
        ...                    "tokens": [2e9, 2e9, 8e9, 8e9, 4e9],
        ...                    "loss": [3.4, 3.1, 3.2, 2.9, 3.1]})
        >>> bs.ScalingData.from_frame(df, N="params", D="tokens", loss="loss").n
        5
        """
        if D is None and C is None:
            D = "D" if _has_column(df, "D") else None
            C = "C" if D is None and _has_column(df, "C") else None
            if D is None and C is None:
                raise DataError(
                    f"say which column holds tokens (D='...') or compute (C='...'); columns are {_columns(df)}"
                )
        wanted = {"N": N, "D": D, "loss": loss, "C": C, "group": group, "U": U}
        cols = {}
        for key, name in wanted.items():
            if name is None:
                continue
            if not _has_column(df, name):
                raise MissingColumnError(
                    f"no column {name!r} (asked for as {key}); the table has {_columns(df)}: "
                    f"pass {key}='<column name>'"
                )
            cols[key] = np.asarray(df[name])
        names = {k: v for k, v in wanted.items() if v is not None}
        return cls.from_arrays(
            cols["N"], cols.get("D"), cols["loss"], C=cols.get("C"), group=cols.get("group"), names=names,
            U=cols.get("U"),
        )

    @classmethod
    def from_csv(cls, path: str | os.PathLike, **columns: str | None) -> "ScalingData":
        """Read a CSV file and build from its columns (same keywords as :meth:`from_frame`).

        A file of numbers (a header row of distinct names, then a number in every cell) is read with NumPy;
        any other file, or one with a ``group`` column, with pandas (importing it takes 0.3 s of a
        ``bayescale fit``). Both give the same arrays for the same file.
        """
        if not os.path.exists(path):
            raise DataError(f"no such file: {os.fspath(path)!r}; check the path")
        table = None if columns.get("group") else numeric_csv(path)
        if table is None:
            import pandas as pd

            table = pd.read_csv(path)
        return cls.from_frame(table, **columns)

    # ------------------------------------------------------------------ views
    @property
    def n(self) -> int:
        """Number of training runs."""
        return int(self.N.shape[0])

    @property
    def C(self) -> np.ndarray:
        """Training compute of each run, 6 N D FLOPs."""
        return FLOPS_PER_PARAM_TOKEN * self.N * self.D

    @property
    def groups(self) -> np.ndarray | None:
        """Distinct group labels in order of first appearance, or ``None``."""
        if self.group is None:
            return None
        _, idx = np.unique(self.group, return_index=True)
        return self.group[np.sort(idx)]

    def require(self, *, n_params: int, covariates: Sequence[str] = ("N", "D")) -> None:
        """Check that the data can identify a law with ``n_params`` parameters.

        Raises :class:`~bayescale.errors.TooFewPointsError` when there are fewer than
        ``n_params + 2`` rows and :class:`~bayescale.errors.TooFewDistinctValuesError`
        when a covariate takes a single value.
        """
        if self.n < n_params + 2:
            raise TooFewPointsError(
                f"{self.n} data point(s) for a law with {n_params} parameters plus a noise scale; "
                f"at least {n_params + 2} are needed: add more training runs"
            )
        for cov in covariates:
            values = self.C if cov == "C" else getattr(self, cov)
            if values is None:
                raise MissingColumnError(
                    f"this law needs the column {cov!r} (unique tokens for 'U'); build the data with "
                    f"ScalingData.from_frame(df, ..., {cov}='<column>') or from_arrays(..., {cov}=...)"
                )
            distinct = np.unique(values)
            if distinct.size < 2:
                col = self.names.get(cov, cov)
                raise TooFewDistinctValuesError(
                    f"column {col!r} takes a single value ({distinct[0]:.4g}) in all {self.n} rows, so "
                    f"the exponent of {cov} cannot be estimated; add runs at other values of {cov} or "
                    "use a one-variable law"
                )

    def to_frame(self):
        """The data as a pandas DataFrame with columns N, D, C, loss (and group)."""
        import pandas as pd

        out = {"N": self.N, "D": self.D, "C": self.C, "loss": self.loss}
        if self.group is not None:
            out["group"] = self.group
        if self.U is not None:
            out["U"] = self.U
        return pd.DataFrame(out)

    def subset(self, mask: Any) -> "ScalingData":
        """A new container with the rows selected by a boolean mask or index array."""
        mask = np.asarray(mask)
        group = None if self.group is None else self.group[mask]
        U = None if self.U is None else self.U[mask]
        return ScalingData(N=self.N[mask], D=self.D[mask], loss=self.loss[mask], group=group, names=self.names, U=U)

    def __repr__(self) -> str:
        return (
            f"ScalingData(n={self.n}, N=[{self.N.min():.3g}, {self.N.max():.3g}], "
            f"D=[{self.D.min():.3g}, {self.D.max():.3g}], C=[{self.C.min():.3g}, {self.C.max():.3g}], "
            f"loss=[{self.loss.min():.4g}, {self.loss.max():.4g}]"
            + (f", groups={len(self.groups)}" if self.group is not None else "")
            + ")"
        )


def _has_column(df: Any, name: str) -> bool:
    try:
        return name in df
    except TypeError:
        return False


def _columns(df: Any) -> list[str]:
    try:
        return [str(c) for c in list(df.columns)]
    except AttributeError:
        return [str(c) for c in list(df.keys())]


def numeric_csv(path: str | os.PathLike) -> dict[str, np.ndarray] | None:
    """The columns of a CSV file whose header row names distinct, non-empty columns and whose every other cell
    is a number, as float arrays by name; ``None`` for any other file (empty or missing cells, text, quotes,
    comments, no rows), which pandas reads."""
    import csv
    import io

    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            header, rows = next(csv.reader(f)), f.read()
        if not rows.strip():
            return None
        values = np.loadtxt(io.StringIO(rows), delimiter=",", dtype=np.float64, comments=None, ndmin=2)
    except (ValueError, StopIteration, OSError, UnicodeDecodeError):
        return None
    if "" in header or len(set(header)) != len(header) or values.shape[1] != len(header):
        return None
    return {name: values[:, i] for i, name in enumerate(header)}
