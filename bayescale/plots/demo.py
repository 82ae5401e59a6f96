"""The figure of ``bayescale demo``: the fit, the forecasts of the held-out runs, the frontier.

Most of the time a figure takes is JAX compiling the eager operations of a prediction for each new shape, so
every curve has as many points as there are held-out runs (the shape of the demo's forecast table) and the
frontier is evaluated once, at the table's budgets and the figure's together (:func:`frontier_budgets`).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from bayescale.plots._common import _draw_bands, _mpl

__all__ = ["demo_figure", "frontier_budgets", "budgets"]

def budgets(C: np.ndarray) -> np.ndarray:
    """The distinct compute budgets of IsoFLOP runs (equal within a relative 1e-6), ascending."""
    c = np.sort(np.asarray(C, dtype=float))
    return c[np.concatenate([[True], c[1:] > c[:-1] * (1 + 1e-6)])]


def frontier_budgets(fit, held_out, compute: Sequence[float]) -> np.ndarray:
    """``compute`` followed by the figure's grid of budgets: one array, so the table and the figure share the
    frontier's compiled operations."""
    top = max([float(held_out.C.max()), *map(float, compute or [])]) * 2
    return np.concatenate([np.asarray(compute or [], dtype=float), np.geomspace(float(fit.data.C.min()), top, 80)])


def _isoflop_grid(data, budget: float, points: int) -> np.ndarray:
    """N from below the smallest run of ``data`` at ``budget`` to above its largest."""
    at = np.isclose(data.C, budget, rtol=1e-6)
    return np.geomspace(data.N[at].min() / 1.3, data.N[at].max() * 1.3, points)


def _plot_fit(ax, fit, color, points: int) -> None:
    data = fit.data
    for budget in budgets(data.C):
        N = _isoflop_grid(data, budget, points)
        _draw_bands(ax, N, fit.predict_draws(N=N, C=budget), (0.9,), color(budget), band_labels=False)
    ax.scatter(data.N, data.loss, c=[color(c) for c in data.C], s=10, edgecolors="none", zorder=3)
    ax.set_title(f"Fit: the {data.n} runs below the cutoff,\nthe law's median and 90% band per compute budget",
                 fontsize=9)


def _plot_forecasts(ax, fit, held_out, inside: np.ndarray, color, prob: float, seed: int) -> None:
    for budget in budgets(held_out.C):
        N = _isoflop_grid(held_out, budget, held_out.n)
        draws = fit.predict_draws(N=N, C=budget, noise=True, seed=seed)
        _draw_bands(ax, N, draws, (prob,), color(budget), label=f"{budget:.3g} FLOPs", band_labels=False)
        at = np.isclose(held_out.C, budget, rtol=1e-6)
        ax.scatter(held_out.N[at & inside], held_out.loss[at & inside], color=color(budget), edgecolors="k",
                   linewidths=0.5, s=18, zorder=3)
    if (~inside).any():
        ax.scatter(held_out.N[~inside], held_out.loss[~inside], color="red", marker="x", s=30, zorder=4,
                   label="outside its interval")
    ax.set_title(f"Forecasts of the {held_out.n} held-out runs: {int(inside.sum())} inside\n"
                 f"their {prob:.0%} predictive interval (band)", fontsize=9)
    ax.legend(fontsize=7, title="held-out budget", title_fontsize=7)


def _plot_frontier(ax, fit, held_out, truth: Mapping, C: np.ndarray, n_table: int, prob: float) -> None:
    from bayescale.model.chinchilla import chinchilla_frontier

    Cs = C[n_table:]
    ax.axvspan(float(fit.data.C.min()), float(fit.data.C.max()), color="0.85", alpha=0.6, lw=0, zorder=0,
               label="compute range of the fit")
    _draw_bands(ax, Cs, fit.frontier_draws(C)["tokens_per_param"][:, n_table:], (0.5, prob), "C0",
                label="posterior median")
    exact = np.asarray(chinchilla_frontier(truth, C)["tokens_per_param"], dtype=float)[n_table:]
    ax.plot(Cs, exact, "k--", lw=1.2, label="the simulated truth")
    for budget in budgets(held_out.C):
        ax.axvline(budget, color="0.5", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("training compute C (FLOPs)")
    ax.set_ylabel("compute-optimal tokens per parameter D_opt / N_opt")
    ax.set_title("Compute-optimal frontier: D_opt / N_opt\n(dotted: the held-out budgets)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")


def demo_figure(fit, held_out, truth: Mapping, *, inside=None, prob: float = 0.9, compute: Sequence[float] = (),
                cutoff=None, seed: int = 0):
    """One figure of three panels: the fit below the cutoff (loss against N per compute budget, the law's
    median and 90% band), the held-out runs against their predictive bands (``inside``: which runs fell inside
    their ``prob`` interval, as the demo's table counted them; computed here when not given), and the
    compute-optimal tokens per parameter ``D_opt / N_opt`` against compute, with 50% and ``prob`` bands,
    beside the simulated ``truth``'s.

    Returns a :class:`matplotlib.figure.Figure` (not registered with pyplot: save it with ``savefig``).

    Examples
    --------
    >>> import bayescale as bs
    >>> data = bs.datasets.example()
    >>> below = data.C < 1e21
    >>> fit = bs.fit(data.subset(below), seed=0, num_warmup=500, num_samples=500)
    >>> fig = demo_figure(fit, data.subset(~below), bs.datasets.EXAMPLE_TRUTH)
    >>> [ax.get_xscale() for ax in fig.axes]
    ['log', 'log', 'log']
    """
    colors = _mpl()
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    if inside is None:
        table = fit.predict(N=held_out.N, D=held_out.D, prob=prob, seed=seed)
        inside = (table.pred_lower.to_numpy() <= held_out.loss) & (held_out.loss <= table.pred_upper.to_numpy())
    every = np.concatenate([fit.data.C, held_out.C])
    norm = colors.LogNorm(every.min(), every.max())
    cmap = colormaps["viridis"]

    def color(c):
        return cmap(0.9 * norm(c))

    fig = Figure(figsize=(15, 4.6), layout="constrained")
    ax_fit, ax_pred, ax_front = fig.subplots(1, 3)
    _plot_fit(ax_fit, fit, color, held_out.n)
    _plot_forecasts(ax_pred, fit, held_out, np.asarray(inside, dtype=bool), color, prob, seed)
    for ax in (ax_fit, ax_pred):
        ax.set_xscale("log")
        ax.set_xlabel("parameters N")
        ax.set_ylabel("final loss (nats/token)")
    _plot_frontier(ax_front, fit, held_out, truth, frontier_budgets(fit, held_out, compute), len(compute or ()), prob)
    where = "" if cutoff is None else f" below {cutoff:.3g} FLOPs"
    fig.suptitle(f"bayescale demo: the built-in example (simulated from a known law), fitted{where}", fontsize=11)
    return fig
