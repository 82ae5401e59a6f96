"""Levels of a covariate (runs that share a compute budget or a model size) and Brownian draws over them.

The error models (:mod:`bayescale.model.error_models`) share an error among the runs of one
level. Sorted by ``log10``, a level starts at the smallest value not yet grouped (its anchor)
and takes every value within ``resolution`` decades above it (default 0.02, a 4.7% span: the
tolerance the data allow between C and 6ND), so discrete budgets (Porian's doubling FLOPs) or
model sizes are one level each, whatever their rounding.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_RESOLUTION", "SLACK", "levels", "assign_levels", "brownian_fill"]

#: Width of a level, in decades of the axis (0.02 decades: values within 4.7% are one level).
DEFAULT_RESOLUTION = 0.02
SLACK = 1e-9  # decades: float rounding of one value written twice


def levels(values, resolution: float = DEFAULT_RESOLUTION) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group positive values into levels: ``(index per value, anchors, centres)``, in log10.

    Sorted by ``log10``, a level starts at the smallest value not yet grouped (its anchor)
    and takes every value up to ``resolution`` decades above it; ``centres`` are the mean
    ``log10`` of each level's members. Levels are numbered in increasing order.

    Examples
    --------
    >>> from bayescale.model.levels import levels
    >>> idx, anchors, centres = levels([1e19, 1.02e19, 3e19, 0.99e19, 1e20])
    >>> idx.tolist(), anchors.round(3).tolist()
    ([0, 0, 1, 0, 2], [18.996, 19.477, 20.0])
    """
    x = np.log10(np.asarray(values, dtype=np.float64))
    idx = np.empty(x.shape, dtype=np.int32)
    anchors: list[float] = []
    for i in np.argsort(x, kind="stable"):
        if not anchors or x[i] > anchors[-1] + resolution + SLACK:
            anchors.append(float(x[i]))
        idx[i] = len(anchors) - 1
    centres = np.bincount(idx, weights=x) / np.bincount(idx)
    return idx, np.asarray(anchors), centres


def assign_levels(x_new: np.ndarray, anchors: np.ndarray, resolution: float) -> np.ndarray:
    """Index of the training level of each new log10 value, or -1 for a value at no training level."""
    k = np.searchsorted(anchors, x_new + SLACK, side="right") - 1
    inside = (k >= 0) & (x_new <= anchors[np.maximum(k, 0)] + resolution + SLACK)
    return np.where(inside, k, -1)


def brownian_fill(pos: list, val: list, new_pos: np.ndarray, scale: np.ndarray, rng) -> np.ndarray:
    """Draw a Brownian motion (scale per sqrt unit) at ``new_pos`` given its draws ``val`` at ``pos``.

    New points are drawn in increasing order, each given its nearest drawn neighbours
    (Markov): a bridge between two, a free step beyond the last or before the first.
    Returns ``(S, len(new_pos))``.
    """
    out = np.empty((scale.size, new_pos.size))
    for i in np.argsort(new_pos):
        x = new_pos[i]
        r = int(np.searchsorted(pos, x))
        z = rng.standard_normal(scale.size)
        if 0 < r < len(pos):
            (xl, vl), (xr, vr) = (pos[r - 1], val[r - 1]), (pos[r], val[r])
            w = (x - xl) / (xr - xl)
            out[:, i] = vl + w * (vr - vl) + scale * np.sqrt((x - xl) * (xr - x) / (xr - xl)) * z
        else:
            xn, vn = (pos[-1], val[-1]) if r else (pos[0], val[0])
            out[:, i] = vn + scale * np.sqrt(abs(x - xn)) * z
        pos.insert(r, x)
        val.insert(r, out[:, i])
    return out
