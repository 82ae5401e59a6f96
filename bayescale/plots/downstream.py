"""Pictures of a downstream fit: accuracy against compute with bands, and the link from loss to accuracy."""

from __future__ import annotations

import numpy as np

from bayescale.plots._common import BANDS, _check_bands, _draw_bands, _new_axes

__all__ = ["plot_accuracy", "plot_link"]


def _unit_rows(fit, task, group):
    """The fitted unit and the rows of its training runs."""
    unit = fit.units[fit.unit_index(task, group)]
    return unit, unit.rows


def plot_accuracy(fit, task: str, *, group: str | None = None, C=None, bands=BANDS, ax=None, seed: int = 0):
    """A task's accuracy against training compute: the training runs, and the forecast along the loss fit's
    compute-optimal frontier (expected accuracy: median and bands; the dotted lines: the widest band of the
    score a run would get, with the benchmark's noise). ``C``: the budgets (default: from the data's smallest
    compute to 100x its largest). Needs matplotlib.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> import bayescale as bs
    >>> tasks = bs.datasets.downstream_example()
    >>> ds = bs.fit_downstream(tasks, method="one_step", seed=0, num_chains=4, num_warmup=300, num_samples=300,
    ...                        warn=False)
    >>> ax = bs.plots.plot_accuracy(ds, "arc", ax=Figure().add_subplot())
    >>> ax.get_xscale(), ax.get_ylabel()
    ('log', 'accuracy')
    """
    bands = _check_bands(bands)
    ax = _new_axes(ax)
    unit, rows = _unit_rows(fit, task, group)
    data = fit.data
    Cs = np.geomspace(data.C[rows].min(), 100.0 * data.C[rows].max(), 40) if C is None else np.sort(np.ravel(C))
    if fit.method == "one_step":
        N = np.sqrt(Cs / 120.0)  # the one-step link reads C alone
    else:
        loss_fit, g = fit.loss_source(unit, group)
        N = np.median(loss_fit.frontier_draws(Cs, group=g)["N_opt"], axis=0)
    draws = fit.predict_draws(N=N, C=Cs, task=task, group=group, seed=seed)
    acc, pred = draws["acc"], draws["pred"]
    _draw_bands(ax, Cs, acc, bands, "C0", label="expected accuracy, median")
    widest = max(bands)
    lo, hi = np.quantile(pred, [(1 - widest) / 2, (1 + widest) / 2], axis=0)
    ax.plot(Cs, lo, ":", color="C0", lw=1)
    ax.plot(Cs, hi, ":", color="C0", lw=1, label=f"{widest:.0%} interval of the score (benchmark noise)")
    ax.scatter(data.C[rows], data.accuracy[rows], s=14, color="k", zorder=3, label="training runs")
    ax.axhline(unit.chance, color="0.5", ls="--", lw=1, label="chance")
    ax.axvspan(data.C[rows].min(), data.C[rows].max(), color="0.85", alpha=0.5, lw=0, zorder=0)
    ax.set_xscale("log")
    ax.set_xlabel("training compute C = 6ND (FLOPs)" + ("" if fit.method == "one_step" else ", compute-optimal runs"))
    ax.set_ylabel("accuracy")
    ax.set_title(f"{unit.label}: accuracy vs compute" + (" (at chance in training)" if unit.at_chance else ""))
    ax.legend(fontsize="small")
    return ax


def plot_link(fit, task: str, *, group: str | None = None, bands=BANDS, ax=None, seed: int = 0):
    """A task's link: the training runs' accuracy against their loss, and the fitted link's expected accuracy
    (median and bands) from the worst training loss to half a nat below the best. Needs matplotlib.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> import bayescale as bs
    >>> tasks = bs.datasets.downstream_example()
    >>> ds = bs.fit_downstream(tasks, seed=0, num_chains=4, num_warmup=300, num_samples=300,
    ...                        warn=False)
    >>> ax = bs.plots.plot_link(ds, "lambada", ax=Figure().add_subplot())
    >>> ax.get_xlabel()
    'loss (nats/token)'
    """
    bands = _check_bands(bands)
    ax = _new_axes(ax)
    unit, rows = _unit_rows(fit, task, group)
    data = fit.data
    x = -np.log10(data.C[rows]) if fit.method == "one_step" else data.loss[rows]
    grid = np.linspace(x.min() - 0.5, x.max(), 60)
    acc = fit.at_loss(task, grid, group=group, seed=seed)["acc"]
    _draw_bands(ax, grid, acc, bands, "C1", label=f"{fit.model.link.name} link, median")
    ax.scatter(x, data.accuracy[rows], s=14, color="k", zorder=3, label="training runs")
    ax.axhline(unit.chance, color="0.5", ls="--", lw=1, label="chance")
    ax.invert_xaxis()  # lower loss (better model) to the right
    ax.set_xlabel("-log10 C" if fit.method == "one_step" else "loss (nats/token)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{unit.label}: {fit.model.link.formula}")
    ax.legend(fontsize="small")
    return ax
