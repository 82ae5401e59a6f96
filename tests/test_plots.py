"""Plots render headless and draw what they should (lines, bands, points, labels, scales)."""

import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.figure import Figure

import bayescale as bs
from bayescale import errors, plots


def new_ax():
    return Figure().add_subplot()


def bands_of(ax):
    """fill_between bands (PolyCollection; axvspan/axhspan are patches, not collections)."""
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def scatters_of(ax):
    return [c for c in ax.collections if isinstance(c, PathCollection)]


def frontier_median(fit, C, q):
    return np.median(fit.frontier_draws(C)[q], axis=0)


def test_plot_law_vs_compute(example_fit):
    ax = plots.plot_law(example_fit, ax=new_ax())
    assert ax.get_xscale() == "log" and ax.get_ylabel() == "loss (nats/token)"
    assert len(bands_of(ax)) == 2  # 50% and 90%
    (sc,) = scatters_of(ax)
    assert len(sc.get_offsets()) == example_fit.data.n
    np.testing.assert_allclose(np.asarray(sc.get_offsets())[:, 0], example_fit.data.C)
    (median,) = ax.lines
    x, y = median.get_data()
    np.testing.assert_allclose(y, frontier_median(example_fit, x, "loss"), rtol=1e-6)
    assert len(ax.figure.axes) == 2  # the colour bar for N
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "90% interval" in labels and "50% interval" in labels


def test_plot_law_vs_n(example_fit):
    ax = plots.plot_law(example_fit, x="N", bands=(0.9,), ax=new_ax())
    assert len(ax.lines) == 4 and len(bands_of(ax)) == 4  # four token counts, one band each
    assert ax.get_xlabel() == "parameters N"
    assert len(scatters_of(ax)[0].get_offsets()) == example_fit.data.n
    with pytest.raises(errors.ConfigError, match="x must be"):
        plots.plot_law(example_fit, x="D", ax=new_ax())


def test_plot_residuals(example_fit):
    ax = plots.plot_residuals(example_fit, prob=0.9, ax=new_ax())
    pts = sum(len(s.get_offsets()) for s in scatters_of(ax))
    assert pts == example_fit.data.n
    inside, outside = scatters_of(ax)
    # About 10% of runs outside a 90% noise band: 180 runs, binomial 99.9% bounds [5, 33].
    assert 5 <= len(outside.get_offsets()) <= 33
    assert ax.lines[0].get_ydata()[0] == 0.0


def test_plot_frontier(example_fit):
    ax = plots.plot_frontier(example_fit, ax=new_ax())
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert len(bands_of(ax)) == 4  # N and D, 50% and 90% each
    n_line, d_line, n_ref, d_ref = ax.lines
    x, y = n_line.get_data()
    np.testing.assert_allclose(y, frontier_median(example_fit, x, "N_opt"), rtol=1e-6)
    np.testing.assert_allclose(d_line.get_ydata(), frontier_median(example_fit, x, "D_opt"), rtol=1e-6)
    assert x.max() >= 5.88e23  # extends to the reference point
    assert n_ref.get_xydata().tolist() == [[5.88e23, 7e10]] and d_ref.get_xydata().tolist() == [[5.88e23, 1.4e12]]
    assert any("Chinchilla" in t.get_text() for t in ax.get_legend().get_texts())
    ax = plots.plot_frontier(example_fit, C=[1e20, 1e22], reference=None, ax=new_ax())
    assert len(ax.lines) == 2


def test_plot_tokens_per_param(example_fit):
    ax = plots.plot_tokens_per_param(example_fit, ax=new_ax())
    line, rule = ax.lines
    x, y = line.get_data()
    np.testing.assert_allclose(y, frontier_median(example_fit, x, "tokens_per_param"), rtol=1e-6)
    assert rule.get_ydata()[0] == 20.0 and len(bands_of(ax)) == 2
    assert ax.get_xscale() == ax.get_yscale() == "log"


def test_plot_isoflop(example_fit):
    ax = plots.plot_isoflop(example_fit, ax=new_ax())
    from bayescale.plots.frontier import _data_budgets

    budgets = _data_budgets(example_fit)
    assert budgets is not None and len(budgets) == 9  # the example's IsoFLOP design
    assert len(ax.containers) == 9 and len(bands_of(ax)) == 18
    # Each diamond sits at the posterior-median argmin, its bar spans the 90% interval.
    f = example_fit.frontier(C=budgets, prob=0.9)
    xs = sorted(float(c.lines[0].get_xdata()[0]) for c in ax.containers)
    np.testing.assert_allclose(xs, np.sort(f.N_opt_median.to_numpy()), rtol=1e-5)
    # Every run of the design is drawn against its curve.
    assert sum(len(s.get_offsets()) for s in scatters_of(ax)) == example_fit.data.n
    ax = plots.plot_isoflop(example_fit, C=[1e22], ax=new_ax())
    assert len(ax.containers) == 1 and not scatters_of(ax)


def test_plot_pairs(example_fit):
    axes = plots.plot_pairs(example_fit, ax=Figure().subplots(3, 3))
    assert axes.shape == (3, 3)
    assert [a.get_xlabel() for a in axes[-1]] == ["E", "alpha", "beta"]
    assert axes[1, 0].get_ylabel() == "alpha"
    with pytest.raises(errors.ConfigError, match="var_names"):
        plots.plot_pairs(example_fit, ["E", "gamma"])


def test_plot_plan(example_fit):
    t = bs.plan(example_fit, target_compute=1e24, budget=1e21, num_sims=16)
    ax = plots.plot_plan(t, ax=new_ax())
    assert len(ax.lines) == 4  # three compute levels and the star
    star = ax.lines[-1]
    assert star.get_xdata()[0] == t.N.iloc[0]
    assert sum(len(s.get_offsets()) for s in scatters_of(ax)) == len(t)
    with pytest.raises(errors.ConfigError, match="plot_plan takes"):
        plots.plot_plan(t[["N"]])


def test_pyplot_path_returns_axes(example_fit):
    import matplotlib.pyplot as plt

    try:
        ax = plots.plot_tokens_per_param(example_fit)
        assert ax.figure is plt.gcf()
    finally:
        plt.close("all")


def test_missing_matplotlib_names_the_extra(example_fit, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(errors.MissingDependencyError, match=r"pip install bayescale\[plot\]"):
        plots.plot_frontier(example_fit)
