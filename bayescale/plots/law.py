"""Plots of the data and the fitted law: the law with bands, residuals, posterior pairs."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from bayescale.checks import check_prob
from bayescale.errors import ConfigError
from bayescale.plots._common import (
    BANDS,
    _check_bands,
    _compute_range,
    _draw_bands,
    _mpl,
    _new_axes,
)

__all__ = ["plot_law", "plot_residuals", "plot_pairs"]


def plot_law(fit, *, x: str = "compute", C=None, bands=BANDS, ax=None, group=None):
    """The data and the fitted law, with median and posterior bands.

    ``x="compute"``: loss against training compute, points coloured by ``N``,
    and the compute-optimal loss ``L*(C)`` (the lower envelope the law predicts)
    with its bands, extended beyond the data. ``x="N"``: loss against ``N``,
    points coloured by ``D``, and the law's curve at four token counts (the
    10/37/63/90% quantiles of the data's ``D``) in the same colours. A pooled fit
    takes ``group=`` (the law of that group; the data of all groups are drawn).

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> import bayescale as bs
    >>> fit = bs.fit(bs.datasets.example(), seed=0, num_warmup=500, num_samples=500)
    >>> ax = bs.plots.plot_law(fit, ax=Figure().add_subplot())
    >>> ax.get_xscale(), ax.get_ylabel()
    ('log', 'loss (nats/token)')
    """
    colors = _mpl()
    bands = _check_bands(bands)
    if x not in ("compute", "N"):
        raise ConfigError(f"x must be 'compute' or 'N', got {x!r}")
    ax = _new_axes(ax)
    data = fit.data
    if x == "compute":
        Cs = _compute_range(fit, C, lo_factor=0.5, hi_factor=100.0)
        f = fit.frontier_draws(Cs, group=group)
        _draw_bands(ax, Cs, f["loss"], bands, "C3", label="compute-optimal loss L*(C), median")
        norm = colors.LogNorm(data.N.min(), data.N.max())
        sc = ax.scatter(data.C, data.loss, c=data.N, norm=norm, cmap="viridis", s=14, edgecolors="none",
                        label="runs", zorder=3)
        ax.figure.colorbar(sc, ax=ax, label="parameters N")
        ax.set_xlabel("training compute C = 6ND (FLOPs)")
        ax.set_title("Data and fitted law: loss vs compute")
    else:
        norm = colors.LogNorm(data.D.min(), data.D.max())
        import matplotlib

        cmap = matplotlib.colormaps["plasma"]
        Ns = np.geomspace(data.N.min() / 1.5, data.N.max() * 1.5, 60)
        Dq = np.quantile(data.D, [0.1, 0.37, 0.63, 0.9])
        for j, Dj in enumerate(Dq):
            loss = fit.predict_draws(N=Ns, D=Dj, group=group)["loss"]
            _draw_bands(ax, Ns, loss, bands, cmap(norm(Dj) * 0.9), label=f"law at D = {Dj:.2g}", band_labels=j == 0)
        sc = ax.scatter(data.N, data.loss, c=data.D, norm=norm, cmap="plasma", s=14, edgecolors="none",
                        label="runs", zorder=3)
        ax.figure.colorbar(sc, ax=ax, label="training tokens D")
        ax.set_xlabel("parameters N")
        ax.set_title("Data and fitted law: loss vs N")
    ax.set_xscale("log")
    ax.set_ylabel("loss (nats/token)")
    ax.legend(fontsize=7, loc="upper right")
    return ax


def plot_residuals(fit, *, prob: float = 0.9, ax=None):
    """Residuals of log loss (observed minus posterior-median law) against the fitted loss.

    The band is the central ``prob`` interval of the fitted noise (the likelihood's
    unit noise at the posterior-median noise parameters, times the median ``sigma``):
    about ``1 - prob`` of the points should fall outside it. A pooled fit's residuals
    are each run's against its own group's law.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> import bayescale as bs
    >>> fit = bs.fit(bs.datasets.example(), seed=0, num_warmup=500, num_samples=500)
    >>> ax = bs.plots.plot_residuals(fit, ax=Figure().add_subplot())
    >>> len(ax.collections) >= 2, ax.get_xlabel()
    (True, 'fitted loss (posterior median)')
    """
    _mpl()
    prob = check_prob(prob)
    ax = _new_axes(ax)
    fitted = _fittedlog_loss_draws(fit)
    resid = np.log(fit.data.loss) - fitted
    noise = {k: float(np.median(v)) for k, v in fit.noise_draws().items()}
    sigma = noise.pop("sigma")
    unit = fit.likelihood.standard_noise(np.random.default_rng(0), (200_000,), **noise)
    half = sigma * float(np.quantile(np.abs(unit), prob))
    xs = np.exp(fitted)
    ax.axhspan(-half, half, color="C0", alpha=0.15, lw=0, label=f"{prob:.0%} noise interval (median sigma)")
    ax.axhline(0.0, color="0.3", lw=1)
    outside = np.abs(resid) > half
    ax.scatter(xs[~outside], resid[~outside], s=14, color="C0", edgecolors="none", label="runs")
    ax.scatter(xs[outside], resid[outside], s=22, color="C3", edgecolors="none",
               label=f"outside the band ({outside.sum()} of {resid.size})")
    ax.set_xlabel("fitted loss (posterior median)")
    ax.set_ylabel("residual of log loss")
    ax.set_title("Residuals vs fitted")
    ax.legend(fontsize=7)
    return ax


def _fittedlog_loss_draws(fit) -> np.ndarray:
    """Posterior-median law log loss at every run (each run's own group for a pooled fit)."""
    data = fit.data
    cov = {c: getattr(data, c) for c in ("N", "D", "U") if getattr(data, c) is not None}
    if fit.group_labels is None:
        return np.median(np.log(fit.predict_draws(**cov)["loss"]), axis=0)
    out = np.empty(data.n)
    labels = np.asarray([str(g) for g in data.group])
    for g in fit.group_labels:
        rows = labels == g
        out[rows] = np.median(np.log(fit.predict_draws(**{c: v[rows] for c, v in cov.items()}, group=g)["loss"]), axis=0)
    return out


def plot_pairs(fit, var_names: Sequence[str] = ("E", "alpha", "beta"), *, ax=None, **kwargs):
    """Posterior pair plot (ArviZ ``plot_pair``, KDE contours and marginals) of the named parameters.

    Returns ArviZ's 2-D array of Axes.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> import bayescale as bs
    >>> fit = bs.fit(bs.datasets.example(), seed=0, num_warmup=500, num_samples=500)
    >>> bs.plots.plot_pairs(fit, ax=Figure().subplots(3, 3)).shape
    (3, 3)
    """
    from bayescale.posterior import idata as _idata

    _mpl()
    names = list(var_names)
    unknown = [v for v in names if v not in fit.idata.posterior]
    if unknown or len(names) < 2:
        raise ConfigError(f"var_names must name at least two posterior variables; unknown: {unknown}; "
                          f"available: {sorted(fit.idata.posterior.data_vars)}")
    return _idata.plot_pair(fit.idata, names, ax=ax, **kwargs)
