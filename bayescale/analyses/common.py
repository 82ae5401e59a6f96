"""What every analysis reads off a fit and how it summarises draws: public helpers the analyses share.

Decisions, allocation, planning and the plots import these from here (not from each other's privates);
argument checks (``positive_values``, ``check_prob``, ...) are in :mod:`bayescale.checks`.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from bayescale.errors import ConfigError
from bayescale.model.law import Law, evaluate64

__all__ = ["law_params", "as_params", "log_loss_draws", "quantiles", "summarise"]


def law_params(fit, group=None, *, seed: int = 0) -> dict[str, np.ndarray]:
    """Posterior draws of the fit's natural law parameters as float64 arrays of shape ``(S,)``.

    A pooled fit takes ``group=`` (a label, or ``"population"`` for a new group of a
    partially pooled fit, drawn with ``seed``). Raises :class:`~bayescale.errors.LawCapabilityError`
    when the fit's law has no compute-optimal frontier (the decision tools need it).
    """
    fit.law.require_frontier()
    return {k: np.asarray(v, dtype=np.float64) for k, v in fit.natural_draws(group, seed=seed).items()}


def as_params(params: Mapping, law: Law) -> dict[str, np.ndarray]:
    """The law's natural parameters from ``params`` as float64 arrays of at least one dimension."""
    missing = [k for k in law.param_names if k not in params]
    if missing:
        raise ConfigError(f"params lacks {missing}; give {', '.join(law.param_names)} (arrays of draws or scalars)")
    return {k: np.atleast_1d(np.asarray(params[k], dtype=np.float64)) for k in law.param_names}


def log_loss_draws(law: Law, p: Mapping, N, D) -> np.ndarray:
    """``log L(N, D)`` per draw (rows) and point (columns), float64."""
    return evaluate64(law.log_loss, {k: v[:, None] for k, v in p.items()}, np.asarray(N)[None, :],
                      np.asarray(D)[None, :])


def quantiles(draws: np.ndarray, levels, axis: int = 0) -> np.ndarray:
    """Quantiles along ``axis`` that keep ``+inf`` draws honest.

    Equal to ``np.quantile(..., method="linear")`` on finite draws; a quantile
    that falls on or next to an infinite draw is ``inf`` (not ``nan``). NaN draws
    (undefined quantities, e.g. tokens per parameter of an unreachable target)
    are left out.

    Examples
    --------
    >>> from bayescale.analyses.common import quantiles
    >>> quantiles([1.0, 2.0, 3.0, float("inf")], [0.5, 0.95]).tolist()
    [2.5, inf]
    """
    x = np.moveaxis(np.asarray(draws, dtype=np.float64), axis, 0)
    x = np.sort(x, axis=0)  # NaN sorts last
    n_valid = np.sum(~np.isnan(x), axis=0)
    out = []
    for p in np.atleast_1d(levels):
        h = (np.maximum(n_valid, 1) - 1) * float(p)
        lo = np.floor(h).astype(int)
        hi = np.minimum(lo + 1, np.maximum(n_valid - 1, 0))
        t = h - lo
        a = np.take_along_axis(x, lo[None, ...], axis=0)[0]
        b = np.take_along_axis(x, hi[None, ...], axis=0)[0]
        with np.errstate(invalid="ignore"):
            v = np.where(np.isinf(b), b, a + (b - a) * t)
        out.append(np.where(n_valid > 0, v, np.nan))
    return np.stack(out)


def summarise(cols: dict, name: str, draws: np.ndarray, prob: float) -> None:
    """Add ``<name>_median``, ``<name>_lower`` and ``<name>_upper`` (the central ``prob`` interval) to ``cols``."""
    lo = (1.0 - prob) / 2.0
    m, l, u = quantiles(draws, [0.5, lo, 1.0 - lo])
    cols[f"{name}_median"], cols[f"{name}_lower"], cols[f"{name}_upper"] = m, l, u
