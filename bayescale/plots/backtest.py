"""Plot of a backtest: the relative forecast error of every held-out run, with its interval."""

from __future__ import annotations

import numpy as np

from bayescale.errors import ConfigError

__all__ = ["plot_backtest"]


def plot_backtest(result, ax=None, prob: float | None = None):
    """Relative forecast error of every held-out run against its compute, one colour per cutoff.

    Each point is ``(predictive median - loss) / loss`` with error bars spanning
    the central predictive interval of probability ``prob`` (default: the widest the
    backtest scored), on the same relative scale. A calibrated forecast crosses 0
    about ``prob`` of the time. Needs matplotlib (``pip install bayescale[plot]``).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import bayescale as bs
    >>> bt = bs.backtest(bs.datasets.example(), cutoff=1e21, seed=0, num_warmup=500, num_samples=500)
    >>> ax = bt.plot()
    >>> ax.get_xscale()
    'log'
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - exercised only without matplotlib
        raise ConfigError("plotting needs matplotlib: pip install 'bayescale[plot]'") from None
    prob = max(result.prob) if prob is None else float(prob)
    if prob not in result.prob:
        raise ConfigError(f"prob {prob!r} was not scored; the backtest scored prob={list(result.prob)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    pts = result.points
    x = pts["C"] if result.by == "C" else pts["N"]
    lo, hi = pts[f"lower_{100 * prob:g}"], pts[f"upper_{100 * prob:g}"]
    for c in result.table.index:
        sel = pts["cutoff"] == c
        y = np.asarray(pts.loc[sel, "rel_error"])
        med = np.asarray(pts.loc[sel, "pred_median"])
        obs = np.asarray(pts.loc[sel, "loss"])
        yerr = np.vstack([(med - np.asarray(lo[sel])) / obs, (np.asarray(hi[sel]) - med) / obs])
        ax.errorbar(np.asarray(x[sel]), y, yerr=yerr, fmt="o", ms=3, capsize=2, label=f"cutoff {c:.3g}")
    ax.axhline(0.0, color="0.3", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("training compute C (FLOPs)" if result.by == "C" else "parameters N")
    ax.set_ylabel(f"(median - loss) / loss, {prob:.0%} interval")
    ax.legend(fontsize="small")
    return ax
