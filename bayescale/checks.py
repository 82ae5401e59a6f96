"""Checks of user input at the public boundary, on concrete NumPy arrays: one named error per mistake.

Two rules. A bad value in a column of data (:class:`~bayescale.ScalingData`) is a
:class:`~bayescale.errors.DataError` naming the column and the rows (:func:`as_float_column`,
:func:`check_finite_positive`). A bad value in an argument of a call (a forecast's ``N``, a decision's
``loss``, an interval probability, a seed) is a :class:`~bayescale.errors.ConfigError` naming the argument
(:func:`positive_values`, :func:`nonnegative_values`, :func:`check_prob`, :func:`check_probs`,
:func:`check_seed`); every analysis imports these from here.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from bayescale.errors import ConfigError, DataError, NonFiniteError, NonNumericError, NonPositiveError

__all__ = ["as_float_column", "check_finite_positive", "positive_values", "nonnegative_values", "check_prob",
           "check_probs", "check_seed"]

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


def _float_values(name: str, values, what: str) -> np.ndarray:
    try:
        arr = np.atleast_1d(np.asarray(values, dtype=np.float64)).ravel()
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be {what}, got {values!r}") from None
    if arr.size == 0:
        raise ConfigError(f"{name} must be {what}, got none ({values!r})")
    return arr


def positive_values(name: str, values) -> np.ndarray:
    """An argument as a flat float64 array of finite numbers > 0, or a :class:`ConfigError` naming it.

    Examples
    --------
    >>> from bayescale.checks import positive_values
    >>> positive_values("C", 1e21)
    array([1.e+21])
    """
    arr = _float_values(name, values, "positive numbers")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ConfigError(f"{name} must be finite and > 0, got {values!r}")
    return arr


def nonnegative_values(name: str, values) -> np.ndarray:
    """An argument as a flat float64 array of finite numbers >= 0, or a :class:`ConfigError` naming it."""
    arr = _float_values(name, values, "non-negative numbers")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ConfigError(f"{name} must be finite and >= 0 (0 means training cost only), got {values!r}")
    return arr


def check_prob(prob, name: str = "prob") -> float:
    """One interval probability in (0, 1), or a :class:`ConfigError`."""
    if isinstance(prob, bool) or not isinstance(prob, numbers.Real) or not 0.0 < float(prob) < 1.0:
        raise ConfigError(f"{name} must be in (0, 1), e.g. 0.9 for a 90% interval; got {prob!r}")
    return float(prob)


def check_probs(prob, name: str = "prob") -> tuple[float, ...]:
    """One interval probability or a sequence of them (each in (0, 1)), as a tuple, or a :class:`ConfigError`.

    Examples
    --------
    >>> from bayescale.checks import check_probs
    >>> check_probs(0.9), check_probs((0.5, 0.9))
    ((0.9,), (0.5, 0.9))
    """
    values = list(prob) if isinstance(prob, (list, tuple, np.ndarray)) else [prob]
    if not values:
        raise ConfigError(f"{name} must be a probability in (0, 1) or a sequence of them, e.g. (0.5, 0.9); got {prob!r}")
    try:
        return tuple(check_prob(v, name) for v in values)
    except ConfigError:
        raise ConfigError(f"{name} must be a probability in (0, 1) or a sequence of them, e.g. (0.5, 0.9); "
                          f"got {prob!r}") from None


def check_seed(seed) -> int:
    """A non-negative integer seed, or a :class:`ConfigError` naming the value."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)
