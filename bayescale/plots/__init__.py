"""Pictures of a fit, with the posterior's uncertainty drawn as bands.

Every function takes a :class:`~bayescale.ScalingFit` (or a :func:`~bayescale.plan`
table, or a :class:`~bayescale.Backtest`), draws on ``ax`` (a new figure when
omitted) and returns the Axes; the pair plot returns ArviZ's array of Axes. Bands
are central posterior intervals (50% dark, 90% light by default) of the law's
curve, computed per draw. Plots of a pooled fit take ``group=``.

matplotlib is an optional dependency (``pip install bayescale[plot]``) imported
only when a plot is drawn.
"""

from bayescale.plots._common import CHINCHILLA_REFERENCE
from bayescale.plots.backtest import plot_backtest
from bayescale.plots.downstream import plot_accuracy, plot_link
from bayescale.plots.frontier import plot_frontier, plot_isoflop, plot_tokens_per_param
from bayescale.plots.law import plot_law, plot_pairs, plot_residuals
from bayescale.plots.planning import plot_plan, save_fit_figures
from bayescale.plots.recipes import plot_multiplier

__all__ = [
    "CHINCHILLA_REFERENCE",
    "plot_law",
    "plot_residuals",
    "plot_frontier",
    "plot_tokens_per_param",
    "plot_isoflop",
    "plot_pairs",
    "plot_plan",
    "plot_backtest",
    "plot_accuracy",
    "plot_link",
    "plot_multiplier",
    "save_fit_figures",
]
