"""Pictures of a fit, with the posterior's uncertainty drawn as bands.

Every function takes a :class:`~bayescale.ScalingFit` (or a :func:`~bayescale.plan`
table), draws on ``ax`` (a new figure when omitted) and returns the Axes; the
pair plot returns ArviZ's array of Axes. Bands are central posterior intervals
(50% dark, 90% light by default) of the law's curve, computed per draw.

matplotlib is an optional dependency (``pip install bayescale[plot]``) imported
only when a plot is drawn.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

from bayescale.data import FLOPS_PER_PARAM_TOKEN
from bayescale.decisions import _check_prob, _positive, isoflop_draws, law_params, quantiles
from bayescale.errors import ConfigError, MissingDependencyError

__all__ = [
    "CHINCHILLA_REFERENCE",
    "plot_law",
    "plot_residuals",
    "plot_frontier",
    "plot_tokens_per_param",
    "plot_isoflop",
    "plot_pairs",
    "plot_plan",
    "save_fit_figures",
]

#: Chinchilla (Hoffmann et al. 2022): 70B parameters trained on 1.4T tokens with 5.88e23 FLOPs.
CHINCHILLA_REFERENCE = {"label": "Chinchilla 70B / 1.4T", "C": 5.88e23, "N": 7.0e10, "D": 1.4e12}

_BANDS = (0.5, 0.9)


def _mpl():
    try:
        import matplotlib  # noqa: F401
        from matplotlib import colors
    except ImportError:
        raise MissingDependencyError(
            "plotting needs matplotlib, an optional dependency: pip install bayescale[plot]"
        ) from None
    return colors


def _new_axes(ax, figsize=(6.4, 4.4)):
    _mpl()
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _check_bands(bands: Sequence[float]) -> tuple[float, ...]:
    bands = tuple(sorted(_check_prob(b) for b in bands))
    if not bands:
        raise ConfigError("bands must name at least one interval probability, e.g. (0.5, 0.9)")
    return bands


def _draw_bands(ax, x, draws, bands, color, label=None, alpha_max=0.35, band_labels=True):
    """Median line and central-interval bands (widest lightest) of ``draws`` (S, K) over ``x``."""
    for i, b in enumerate(sorted(bands, reverse=True)):
        lo, hi = quantiles(draws, [(1 - b) / 2, 1 - (1 - b) / 2])
        ax.fill_between(x, lo, hi, color=color, alpha=alpha_max * (i + 1) / len(bands), linewidth=0,
                        label=f"{b:.0%} interval" if band_labels else None)
    med = quantiles(draws, [0.5])[0]
    (line,) = ax.plot(x, med, color=color, lw=1.8, label=label)
    return line


def _compute_range(fit, C, lo_factor=1.0, hi_factor=1e4, num=60, at_least=None):
    if C is not None:
        return np.sort(_positive("C", C))
    hi = float(fit.data.C.max()) * hi_factor
    if at_least is not None:
        hi = max(hi, float(at_least))
    return np.geomspace(float(fit.data.C.min()) * lo_factor, hi, num)


def _shade_data_range(ax, fit):
    ax.axvspan(float(fit.data.C.min()), float(fit.data.C.max()), color="0.85", alpha=0.5, lw=0, zorder=0,
               label="compute range of the data")


# ----------------------------------------------------------------- data and law
def plot_law(fit, *, x: str = "compute", C=None, bands=_BANDS, ax=None):
    """The data and the fitted law, with median and posterior bands.

    ``x="compute"``: loss against training compute, points coloured by ``N``,
    and the compute-optimal loss ``L*(C)`` (the lower envelope the law predicts)
    with its bands, extended beyond the data. ``x="N"``: loss against ``N``,
    points coloured by ``D``, and the law's curve at four token counts (the
    10/37/63/90% quantiles of the data's ``D``) in the same colours.

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
    p = law_params(fit)
    data = fit.data
    if x == "compute":
        Cs = _compute_range(fit, C, lo_factor=0.5, hi_factor=100.0)
        f = fit.frontier_draws(Cs)
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
        pc = {k: v[:, None] for k, v in p.items()}
        for j, Dj in enumerate(Dq):
            loss = pc["E"] + pc["A"] * Ns[None, :] ** -pc["alpha"] + pc["B"] * Dj ** -pc["beta"]
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

    The band is the central ``prob`` interval of the fitted noise (median
    ``sigma`` times the Student-t or Normal quantile): about ``1 - prob`` of the
    points should fall outside it.

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
    prob = _check_prob(prob)
    ax = _new_axes(ax)
    law = np.log(fit.predict_draws(N=fit.data.N, D=fit.data.D))
    fitted = np.median(law, axis=0)
    resid = np.log(fit.data.loss) - fitted
    sigma = float(np.median(fit.draws(("sigma",))["sigma"]))
    rng = np.random.default_rng(0)
    unit = rng.standard_normal(200_000) if fit.likelihood.kind == "normal" else rng.standard_t(fit.likelihood.df, 200_000)
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


# ----------------------------------------------------------------- frontier
def plot_frontier(fit, C=None, *, bands=_BANDS, reference: Mapping | None = CHINCHILLA_REFERENCE, ax=None):
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
    f = fit.frontier_draws(Cs)
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


def plot_tokens_per_param(fit, C=None, *, bands=_BANDS, rule_of_thumb: float | None = 20.0, ax=None):
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
    f = fit.frontier_draws(Cs)
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


def plot_isoflop(fit, C=None, *, bands=_BANDS, prob: float = 0.9, span: float = 10.0, ax=None):
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
    prob = _check_prob(prob)
    ax = _new_axes(ax)
    levels = _data_budgets(fit) if C is None else None
    Cs = levels if levels is not None else (
        np.geomspace(fit.data.C.min(), fit.data.C.max(), 6) if C is None else np.sort(_positive("C", C)))
    p = law_params(fit)
    norm = colors.LogNorm(Cs.min(), Cs.max() if Cs.max() > Cs.min() else Cs.min() * 10)
    cmap = matplotlib.colormaps["viridis"]
    lo_q, hi_q = (1 - prob) / 2, 1 - (1 - prob) / 2
    for c in Cs:
        col = cmap(norm(c) * 0.9)
        n_mid = float(np.median(isoflop_draws(p, c, [1.0])["N_opt"]))
        sizes = np.geomspace(n_mid / span, n_mid * span, 80)
        out = isoflop_draws(p, c, sizes)
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
    from bayescale import _idata

    _mpl()
    names = list(var_names)
    unknown = [v for v in names if v not in fit.idata.posterior]
    if unknown or len(names) < 2:
        raise ConfigError(f"var_names must name at least two posterior variables; unknown: {unknown}; "
                          f"available: {sorted(fit.idata.posterior.data_vars)}")
    return _idata.plot_pair(fit.idata, names, ax=ax, **kwargs)


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
