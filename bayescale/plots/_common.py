"""What every plot shares: axes, bands, the data's compute range."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from bayescale.analyses.common import quantiles
from bayescale.checks import check_prob, positive_values
from bayescale.errors import ConfigError, MissingDependencyError

__all__ = ["CHINCHILLA_REFERENCE", "BANDS"]

#: Chinchilla (Hoffmann et al. 2022): 70B parameters trained on 1.4T tokens with 5.88e23 FLOPs.
CHINCHILLA_REFERENCE = {"label": "Chinchilla 70B / 1.4T", "C": 5.88e23, "N": 7.0e10, "D": 1.4e12}

#: Central intervals drawn as bands by default.
BANDS = (0.5, 0.9)


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
    bands = tuple(sorted(check_prob(b) for b in bands))
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
        return np.sort(positive_values("C", C))
    hi = float(fit.data.C.max()) * hi_factor
    if at_least is not None:
        hi = max(hi, float(at_least))
    return np.geomspace(float(fit.data.C.min()) * lo_factor, hi, num)


def _shade_data_range(ax, fit):
    ax.axvspan(float(fit.data.C.min()), float(fit.data.C.max()), color="0.85", alpha=0.5, lw=0, zorder=0,
               label="compute range of the data")


