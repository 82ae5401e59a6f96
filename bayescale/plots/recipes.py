"""The effective compute multiplier of one recipe over another against compute, with bands."""

from __future__ import annotations

import numpy as np

from bayescale.analyses.recipes import _pair, multiplier_draws
from bayescale.plots._common import BANDS, _check_bands, _compute_range, _draw_bands, _mpl, _new_axes, _shade_data_range

__all__ = ["plot_multiplier"]


def plot_multiplier(fit, baseline, candidate, C=None, *, bands=BANDS, ax=None):
    """The candidate recipe's effective compute multiplier over the baseline against compute (log axes).

    Per posterior draw, the compute the baseline needs on its frontier to reach the candidate's
    frontier loss at ``C``, over ``C`` (:func:`~bayescale.analyses.recipes.compare_recipes`); median
    line and central bands. A dashed line marks 1 (no difference). ``C`` defaults to the data's compute
    range up to 10,000x beyond it (grey: the data's range). Draws where the baseline never reaches
    the candidate's loss are infinite: a band that leaves the top of the axes says so.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> import bayescale as bs
    >>> fit = bs.fit(bs.datasets.recipes(), pooling="partial", seed=0, num_warmup=500, num_samples=500)
    >>> ax = bs.plots.plot_multiplier(fit, "g0", "g1", ax=Figure().add_subplot())
    >>> ax.get_xscale(), ax.get_yscale(), len(ax.lines)
    ('log', 'log', 2)
    """
    _mpl()
    bands = _check_bands(bands)
    ax = _new_axes(ax)
    Cs = _compute_range(fit, C)
    pa, pb = _pair(fit, baseline, candidate)
    m = multiplier_draws(pa, pb, Cs, law=fit.law)["multiplier"]
    _shade_data_range(ax, fit)
    _draw_bands(ax, Cs, m, bands, "C2", label=f"{candidate} over {baseline}")
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    finite = m[np.isfinite(m)]
    if finite.size:
        lo, hi = np.quantile(finite, [0.01, 0.99])
        ax.set_ylim(min(lo, 1.0) / 1.5, max(hi, 1.0) * 1.5)
    ax.set_xlabel("training compute C (FLOPs)")
    ax.set_ylabel("effective compute multiplier")
    ax.legend(loc="best", fontsize="small")
    return ax
