"""Backtests: splits, scores (CRPS, log predictive density, coverage), errors, plot and CLI.

Compilation budget: the example's 140-run (cutoff 1e21) and 160-run (cutoff 2e21)
training sets at FAST settings, shared by the doctests, these tests and the CLI test.
"""

import numpy as np
import pytest
from scipy import stats

import bayescale as bs
from bayescale import cli, errors
from bayescale.analyses.backtest import crps_from_draws
from bayescale.inference.nuts import TRACE_COUNTS

from conftest import SEED, FAST

CUTOFFS = [1e21, 2e21]


@pytest.fixture(scope="module")
def bt(example_data):
    return bs.backtest(example_data, cutoff=CUTOFFS, seed=SEED, **FAST)


def normal_crps(mu, s, y):
    """Closed form (Gneiting & Raftery 2007): s [z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi)]."""
    z = (y - mu) / s
    return s * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))


def test_crps_matches_normal_closed_form():
    """200,000 draws: the Monte Carlo sd of E|X - y| is below 0.002 * s here, so 0.01 * s is > 5 sd."""
    mu, s = 2.0, 0.5
    x = np.random.default_rng(1).normal(mu, s, size=200_000)
    y = np.array([2.0, 2.3, 1.1, 4.0])
    np.testing.assert_allclose(crps_from_draws(x, y), normal_crps(mu, s, y), atol=0.01 * s)


def test_crps_sorted_formula_equals_pairwise_definition():
    rng = np.random.default_rng(2)
    x = rng.gamma(2.0, size=(300, 3))
    y = np.array([0.5, 2.0, 7.0])
    brute = np.mean(np.abs(x - y), 0) - 0.5 * np.mean(np.abs(x[:, None, :] - x[None, :, :]), axis=(0, 1))
    np.testing.assert_allclose(crps_from_draws(x, y), brute, rtol=1e-12)
    assert crps_from_draws(x[:, 0], 0.5).shape == ()


def test_table_and_points(bt, example_data):
    t = bt.table
    assert list(t.index) == CUTOFFS
    assert list(t.n_train) == [140, 160] and list(t.n_test) == [40, 20]
    assert list(t.columns) == ["n_train", "n_test", "extrapolation", "rel_error", "rel_bias", "coverage_50",
                               "coverage_90", "lpd", "crps", "converged"]
    assert t.converged.all()
    assert len(bt.points) == 60 and set(bt.points.cutoff) == set(CUTOFFS)
    # Held out = at or above the cutoff; every budget is either wholly in or out.
    for c, fit in zip(CUTOFFS, bt.fits):
        assert fit.data.C.max() < c <= bt.points.loc[bt.points.cutoff == c, "C"].min()
    # The table aggregates the per-run scores.
    for c in CUTOFFS:
        p = bt.points[bt.points.cutoff == c]
        assert t.loc[c, "coverage_90"] == pytest.approx(p.coverage_90.mean())
        assert t.loc[c, "rel_error"] == pytest.approx(np.abs(p.rel_error).mean())
        assert t.loc[c, "crps"] == pytest.approx(p.crps.mean())
        assert np.all((p.lower_90 <= p.lower_50) & (p.lower_50 <= p.pred_median) & (p.pred_median <= p.upper_50)
                      & (p.upper_50 <= p.upper_90))


def test_scores_are_sensible_on_the_example(bt):
    """The example is drawn from the Chinchilla law with ~1.3% noise (t5, scale 0.01), so a correct
    fit forecasts held-out runs within a few percent: mean |relative error| < 2% (the noise alone
    gives ~0.9%), and the 90% intervals cover at least half of the runs (they are correlated
    through the shared posterior, so no binomial bound applies to 20-40 runs)."""
    t = bt.table
    assert np.all(t.rel_error < 0.02)
    assert np.all(t.coverage_90 >= 0.5) and np.all(t.coverage_90 >= t.coverage_50)
    assert np.all(t.crps > 0) and np.all(t.crps < 0.05)
    assert np.all(np.isfinite(t.lpd))


def test_lpd_matches_scipy(bt):
    """Log predictive density of one held-out run, recomputed with scipy's Student-t around the law plus
    the default error model's discrepancy draws (beyond the cutoff), which the backtest adds."""
    fit, held = bt.fits[0], bt.points[bt.points.cutoff == CUTOFFS[0]]
    p = held.iloc[3]
    d = fit.draws()
    law = np.log(fit.predict_draws(N=p.N, D=p.D))[:, 0]
    extra = fit.model.error_model.draws(fit, {"N": held.N.to_numpy(), "D": held.D.to_numpy(),
                                              "C": 6.0 * held.N.to_numpy() * held.D.to_numpy()}, SEED)[:, 3]
    assert fit.model.error_model == bs.Extrapolation() and np.std(extra) > 0  # held-out C lies beyond the data
    mu = law + extra
    logp = stats.t.logpdf(np.log(p.loss), df=fit.likelihood.df, loc=mu, scale=d["sigma"])
    expected = np.logaddexp.reduce(logp) - np.log(logp.size)
    assert p.lpd == pytest.approx(expected, abs=1e-3)  # float32 law evaluation


def test_by_N(example_data):
    cut = float(np.sort(example_data.N)[159]) * 1.001  # 160 runs strictly below: reuses that program
    bt = bs.backtest(example_data, cutoff=cut, by="N", seed=SEED, **FAST)
    assert int(bt.table.n_train.iloc[0]) == 160
    assert bt.points.N.min() >= cut and bt.fits[0].data.N.max() < cut


def test_cutoff_errors_before_any_compilation(example_data):
    before = sum(TRACE_COUNTS.values())
    with pytest.raises(errors.CutoffError, match=r"holds out no runs.*largest C"):
        bs.backtest(example_data, cutoff=1e22, **FAST)
    with pytest.raises(errors.CutoffError, match=r"leaves 0 training run\(s\).*at least 7.*raise the cutoff"):
        bs.backtest(example_data, cutoff=1e18, **FAST)
    # A bad second cutoff stops everything before the first fit.
    with pytest.raises(errors.CutoffError, match="holds out no runs"):
        bs.backtest(example_data, cutoff=[1e21, 5e21], **FAST)
    for bad in (-1.0, float("nan"), "1e20", True):
        with pytest.raises(errors.CutoffError, match="positive finite number"):
            bs.backtest(example_data, cutoff=bad, **FAST)
    with pytest.raises(errors.CutoffError, match="no cutoff given"):
        bs.backtest(example_data, cutoff=[], **FAST)
    with pytest.raises(errors.ConfigError, match="seed must be"):
        bs.backtest(example_data, cutoff=1e21, seed="0")
    with pytest.raises(errors.ConfigError, match="by must be 'C'"):
        bs.backtest(example_data, cutoff=1e21, by="D")
    with pytest.raises(errors.ConfigError, match="levels must be"):
        bs.backtest(example_data, cutoff=1e21, levels=(0.5, 90))
    with pytest.raises(errors.ConfigError, match="ScalingData"):
        bs.backtest({"N": [1]}, cutoff=1e21)
    # Enough runs below the cutoff, but all at one budget with one model size: N is not identified.
    one_n = bs.ScalingData.from_arrays(N=[1e8] * 8 + [2e8, 4e8], D=np.geomspace(1e9, 1e10, 8).tolist() + [1e11, 1e11],
                                       loss=np.linspace(3.5, 3.0, 8).tolist() + [2.5, 2.4])
    with pytest.raises(errors.CutoffError, match="cannot be fitted.*single value"):
        bs.backtest(one_n, cutoff=1e20, **FAST)
    assert sum(TRACE_COUNTS.values()) == before


def test_plot(bt):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = bt.plot()
    assert ax.get_xscale() == "log"
    assert len(ax.get_legend().get_texts()) == len(CUTOFFS)
    with pytest.raises(errors.ConfigError, match="was not scored"):
        bt.plot(level=0.8)
    plt.close("all")


def test_cli_backtest(tmp_path, example_data, capsys):
    csv = tmp_path / "runs.csv"
    example_data.to_frame().to_csv(csv, index=False)
    points = tmp_path / "points.csv"
    rc = cli.main(["backtest", str(csv), "--cutoff", "1e21", "--D", "D", "--warmup", "500", "--draws", "500",
                   "--points", str(points), "--strict"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "coverage_90" in out and "crps" in out and "1e+21" in out
    assert points.exists()
    rc = cli.main(["backtest", str(csv), "--cutoff", "1e25", "--D", "D"])
    err = capsys.readouterr().err
    assert rc == 2 and "CutoffError" in err and "holds out no runs" in err
