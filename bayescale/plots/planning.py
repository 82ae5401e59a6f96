"""The plan table as a picture, and every figure of a fit saved at once."""

from __future__ import annotations

import os

import numpy as np

from bayescale.errors import ConfigError
from bayescale.plots._common import _mpl, _new_axes
from bayescale.plots.frontier import plot_frontier, plot_isoflop, plot_tokens_per_param
from bayescale.plots.law import plot_law, plot_pairs, plot_residuals

__all__ = ["plot_plan", "save_fit_figures"]


def plot_plan(table, *, ax=None):
    """A :func:`~bayescale.plan` table: expected relative reduction against ``N``, one line per compute.

    Marker area grows with the reduction per FLOP; the top-ranked run is
    starred; candidates whose importance weights collapsed (linear-Gaussian
    fallback) are drawn hollow.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> import bayescale as bs
    >>> fit = bs.fit(bs.datasets.example(), seed=0, num_warmup=500, num_samples=500)
    >>> ax = bs.plots.plot_plan(bs.plan(fit, target_compute=1e24, budget=1e21, num_sims=16), ax=Figure().add_subplot())
    >>> ax.get_xscale(), len(ax.lines)
    ('log', 4)
    """
    colors = _mpl()
    import matplotlib

    need = {"N", "C", "relative_reduction", "reduction_per_flop", "ess_low"}
    if not need <= set(getattr(table, "columns", ())):
        raise ConfigError(f"plot_plan takes the table bs.plan returns; missing columns {sorted(need - set(table.columns))}")
    ax = _new_axes(ax)
    levels = np.unique(table.C.to_numpy())
    norm = colors.LogNorm(levels.min(), levels.max() if levels.max() > levels.min() else levels.min() * 10)
    cmap = matplotlib.colormaps["viridis"]
    rpf = table.reduction_per_flop.to_numpy()
    size = 20 + 180 * np.clip(rpf / max(rpf.max(), 1e-300), 0, 1)
    for c in levels:
        g = table[table.C == c].sort_values("N")
        col = cmap(norm(c) * 0.9)
        ax.plot(g.N, 100 * g.relative_reduction, color=col, lw=1, label=f"runs of {c:.2g} FLOPs")
        sel = (table.C == c).to_numpy()
        s = size[sel][np.argsort(table.N.to_numpy()[sel])]
        low = g.ess_low.to_numpy()
        ax.scatter(g.N[~low], 100 * g.relative_reduction[~low], s=s[~low], color=col, edgecolors="k",
                   linewidths=0.4, zorder=3)
        if low.any():
            ax.scatter(g.N[low], 100 * g.relative_reduction[low], s=s[low], facecolors="none", edgecolors=col,
                       zorder=3)
    best = table.iloc[0]
    ax.plot([best.N], [100 * best.relative_reduction], "*", color="C3", ms=16, mec="k", zorder=5,
            label=f"best per FLOP: N={best.N:.2g}, D={best.D:.2g}")
    ax.set_xscale("log")
    ax.set_xlabel("parameters N of the candidate run")
    ax.set_ylabel("expected reduction of uncertainty (%)")
    tc = table.attrs.get("target_compute")
    ax.set_title("Next-run plan" + (f": uncertainty of log N_opt at C* = {tc:.2g}" if tc else ""))
    ax.legend(fontsize=7)
    return ax


# ----------------------------------------------------------------- files
def save_fit_figures(fit, path: str | os.PathLike, *, compute=None, prob: float = 0.9, dpi: int = 120) -> list[str]:
    """Save every figure of a fit: ``path`` (data and law) and ``<stem>-residuals``,
    ``-frontier``, ``-tokens``, ``-isoflop``, ``-pairs`` beside it. Headless (no pyplot).

    ``compute`` budgets, when given, are marked on the frontier figure. Returns the paths written.
    """
    _mpl()
    from matplotlib.figure import Figure

    path = os.fspath(path)
    stem, ext = os.path.splitext(path)
    ext = ext or ".png"
    written = []

    def one(suffix, draw, size=(6.4, 4.4)):
        fig = Figure(figsize=size, layout="constrained")
        draw(fig.add_subplot())
        out = f"{stem}{suffix}{ext}"
        fig.savefig(out, dpi=dpi)
        written.append(out)

    if fit.law.has_frontier:
        one("", lambda ax: plot_law(fit, ax=ax))
    one("-residuals", lambda ax: plot_residuals(fit, prob=prob, ax=ax))
    if fit.law.has_frontier:
        def frontier(ax):
            plot_frontier(fit, ax=ax)
            if compute:
                for c in compute:
                    ax.axvline(c, color="0.5", lw=0.8, ls=":")

        one("-frontier", frontier)
        one("-tokens", lambda ax: plot_tokens_per_param(fit, ax=ax))
        one("-isoflop", lambda ax: plot_isoflop(fit, prob=prob, ax=ax))
    names = [n for n in ("E", "alpha", "beta") if n in fit.idata.posterior]
    if len(names) >= 2:
        fig = Figure(figsize=(7.0, 7.0), layout="constrained")
        axes = fig.subplots(len(names), len(names))
        plot_pairs(fit, names, ax=axes, textsize=9)
        out = f"{stem}-pairs{ext}"
        fig.savefig(out, dpi=dpi)
        written.append(out)
    return written
