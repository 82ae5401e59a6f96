"""Checks of user input at the public boundary, on concrete NumPy arrays: one named error per mistake."""

from __future__ import annotations

from typing import Any

import numpy as np

from bayescale.errors import DataError, NonFiniteError, NonNumericError, NonPositiveError

__all__ = ["as_float_column", "check_finite_positive"]

_MAX_LISTED = 5


def _rows(idx: np.ndarray) -> str:
    idx = [int(i) for i in idx]
    shown = ", ".join(str(i) for i in idx[:_MAX_LISTED])
    more = f" and {len(idx) - _MAX_LISTED} more" if len(idx) > _MAX_LISTED else ""
    return f"row{'s' if len(idx) > 1 else ''} {shown}{more}"


def as_float_column(name: str, values: Any) -> np.ndarray:
    """Convert one column to a 1-D float64 array, or raise a named error."""
    if values is None:
        raise DataError(f"column {name!r} is missing: pass {name}=... (an array of positive numbers)")
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise DataError(
            f"column {name!r} must be one-dimensional, got shape {arr.shape}; pass a flat array "
            "with one value per training run"
        )
    if arr.dtype.kind == "b":
        raise NonNumericError(
            f"column {name!r} holds booleans, not numbers; pass the numeric column (did you pass a mask?)"
        )
    if arr.dtype.kind in "iuf":
        return arr.astype(np.float64)
    # Object or string data: find the entries that are not numbers and name them.
    out = np.empty(arr.shape[0], dtype=np.float64)
    bad: list[int] = []
    items = arr.tolist()
    for i, v in enumerate(items):
        if isinstance(v, bool):
            bad.append(i)
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            bad.append(i)
    if bad:
        examples = ", ".join(repr(items[i]) for i in bad[:_MAX_LISTED])
        raise NonNumericError(
            f"column {name!r} holds {len(bad)} value(s) that are not numbers ({examples} at "
            f"{_rows(np.array(bad))}); convert the column to numbers (e.g. pandas.to_numeric) "
            "and fix or remove those rows"
        )
    return out


def check_finite_positive(name: str, arr: np.ndarray) -> None:
    nonfinite = ~np.isfinite(arr)
    if nonfinite.any():
        idx = np.flatnonzero(nonfinite)
        vals = ", ".join(str(arr[i]) for i in idx[:_MAX_LISTED])
        raise NonFiniteError(
            f"column {name!r} has {idx.size} non-finite value(s) ({vals} at {_rows(idx)}); "
            "fix or remove those rows before fitting: bayescale never drops data silently"
        )
    nonpos = arr <= 0
    if nonpos.any():
        idx = np.flatnonzero(nonpos)
        vals = ", ".join(f"{arr[i]:g}" for i in idx[:_MAX_LISTED])
        raise NonPositiveError(
            f"column {name!r} has {idx.size} value(s) <= 0 ({vals} at {_rows(idx)}); {name} must "
            "be positive (the law is fitted in log space): fix or remove those rows"
        )
