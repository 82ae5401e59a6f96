"""Plots of the compute-optimal frontier: N_opt and D_opt, tokens per parameter, IsoFLOP curves.

Each takes ``group=`` for a pooled fit (a label, or ``"population"`` for partial pooling).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from bayescale.analyses.common import law_params
from bayescale.analyses.decisions import isoflop_draws
from bayescale.checks import check_prob, positive_values
from bayescale.plots._common import (
    BANDS,
    CHINCHILLA_REFERENCE,
    _check_bands,
    _compute_range,
    _draw_bands,
    _mpl,
    _new_axes,
    _shade_data_range,
)

__all__ = ["plot_frontier", "plot_tokens_per_param", "plot_isoflop"]


def plot_frontier(fit, C=None, *, bands=BANDS, reference: Mapping | None = CHINCHILLA_REFERENCE, ax=None, group=None):
    """Compute-optimal ``N_opt(C)`` and ``D_opt(C)`` on log axes, with posterior bands.

    ``reference`` adds a labelled point pair (default Chinchilla's 70B parameters
    and 1.4T tokens at 5.88e23 FLOPs; ``None`` for none). The grey span is the
    data's compute range: right of it the bands are an extrapolation.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> import bayescale as bs
    >>> fit = bs.fit(bs.datasets.example(), seed=0, num_warmup=500, num_samples=500)
    >>> ax = bs.plots.plot_frontier(fit, ax=Figure().add_subplot())
    >>> ax.get_xscale(), ax.get_yscale(), len(ax.lines)
    ('log', 'log', 4)
    """
    _mpl()
    bands = _check_bands(bands)
    ax = _new_axes(ax)
    Cs = _compute_range(fit, C, at_least=None if reference is None else 3 * reference["C"])
    f = fit.frontier_draws(Cs, group=group)
    _shade_data_range(ax, fit)
    _draw_bands(ax, Cs, f["N_opt"], bands, "C0", label="N_opt (parameters)")
    _draw_bands(ax, Cs, f["D_opt"], bands, "C1", label="D_opt (tokens)", band_labels=False)
    if reference is not None:
        ax.plot([reference["C"]], [reference["N"]], "o", color="C0", mec="k", ms=7,
                label=f"{reference['label']}: N")
        ax.plot([reference["C"]], [reference["D"]], "s", color="C1", mec="k", ms=7,
                label=f"{reference['label']}: D")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training compute C (FLOPs)")
    ax.set_ylabel("compute-optimal N and D")
    a = np.median(f["a"])
    ax.set_title(f"Compute-optimal frontier (N_opt ∝ C^{a:.3f}, D_opt ∝ C^{1 - a:.3f})")
    ax.legend(fontsize=7, loc="upper left")
    return ax


def plot_tokens_per_param(fit, C=None, *, bands=BANDS, rule_of_thumb: float | None = 20.0, ax=None, group=None):
    """Compute-optimal tokens per parameter ``D_opt / N_opt`` against compute, with bands.

    ``rule_of_thumb`` draws a dashed reference line (Chinchilla's "20 tokens per
    parameter"; ``None`` for none).

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> import bayescale as bs
    >>> fit = bs.fit(bs.datasets.example(), seed=0, num_warmup=500, num_samples=500)
    >>> ax = bs.plots.plot_tokens_per_param(fit, ax=Figure().add_subplot())
    >>> ax.get_ylabel()
    'tokens per parameter'
    """
    _mpl()
    bands = _check_bands(bands)
    ax = _new_axes(ax)
    Cs = _compute_range(fit, C)
    f = fit.frontier_draws(Cs, group=group)
    _shade_data_range(ax, fit)
    _draw_bands(ax, Cs, f["tokens_per_param"], bands, "C2", label="D_opt / N_opt, median")
    if rule_of_thumb is not None:
        ax.axhline(rule_of_thumb, color="0.4", ls="--", lw=1, label=f"{rule_of_thumb:g} tokens per parameter")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training compute C (FLOPs)")
    from matplotlib import ticker

    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}" if str(f"{v:g}")[0] in "1235" else ""))
    ax.set_ylabel("tokens per parameter")
    ax.set_title("Compute-optimal tokens per parameter")
    ax.legend(fontsize=7)
    return ax


def _data_budgets(fit, max_levels: int = 12) -> np.ndarray | None:
    """The distinct compute levels of an IsoFLOP design (to 1%), or None when the data are not one."""
    logC = np.sort(np.log(fit.data.C))
    groups = np.split(logC, np.nonzero(np.diff(logC) > 0.01)[0] + 1)
    if len(groups) > max_levels or len(groups) == len(logC):
        return None
    return np.exp([g.mean() for g in groups])


def plot_isoflop(fit, C=None, *, bands=BANDS, prob: float = 0.9, span: float = 10.0, ax=None, group=None):
    """IsoFLOP curves (loss against ``N`` at fixed compute) with bands and the argmin's interval.

    One curve per budget in ``C`` (default: the data's IsoFLOP budgets when
    the data are an IsoFLOP design, else six log-spaced budgets), with the runs
    at that budget as points. The error bar under each curve's minimum is the
    posterior median and central ``prob`` interval of the argmin ``N_opt(C)``.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> import bayescale as bs
    >>> fit = bs.fit(bs.datasets.example(), seed=0, num_warmup=500, num_samples=500)
    >>> ax = bs.plots.plot_isoflop(fit, C=[1e19, 1e20, 1e21], ax=Figure().add_subplot())
    >>> len(ax.containers)   # one argmin error bar per budget
    3
    """
    colors = _mpl()
    import matplotlib

    bands = _check_bands(bands)
    prob = check_prob(prob)
    ax = _new_axes(ax)
    levels = _data_budgets(fit) if C is None else None
    Cs = levels if levels is not None else (
        np.geomspace(fit.data.C.min(), fit.data.C.max(), 6) if C is None else np.sort(positive_values("C", C)))
    p = law_params(fit, group)
    norm = colors.LogNorm(Cs.min(), Cs.max() if Cs.max() > Cs.min() else Cs.min() * 10)
    cmap = matplotlib.colormaps["viridis"]
    lo_q, hi_q = (1 - prob) / 2, 1 - (1 - prob) / 2
    for c in Cs:
        col = cmap(norm(c) * 0.9)
        n_mid = float(np.median(isoflop_draws(p, c, [1.0], fit.law)["N_opt"]))
        sizes = np.geomspace(n_mid / span, n_mid * span, 80)
        out = isoflop_draws(p, c, sizes, fit.law)
        _draw_bands(ax, sizes, out["loss"], bands, col, alpha_max=0.3, band_labels=False)
        near = np.abs(np.log(fit.data.C / c)) < 0.01
        if near.any():
            ax.scatter(fit.data.N[near], fit.data.loss[near], color=col, s=12, edgecolors="k", linewidths=0.3,
                       zorder=3)
        m, lo, hi = np.quantile(out["N_opt"], [0.5, lo_q, hi_q])
        y = float(np.median(out["loss_opt"]))
        ax.errorbar([m], [y], xerr=[[m - lo], [hi - m]], fmt="D", color=col, mec="k", ms=5, capsize=3, zorder=4)
    ax.set_xscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title(f"IsoFLOP curves; diamonds: argmin N_opt with {prob:.0%} interval")
    sm = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
    ax.figure.colorbar(sm, ax=ax, label="compute C (FLOPs)")
    return ax


# ----------------------------------------------------------------- posterior
