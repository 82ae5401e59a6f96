"""Planning the next run: the reweighting estimate, its ESS checks and fallback, the table contract."""

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale import errors
from bayescale.analyses.decisions import law_params
from bayescale.analyses.planning import candidate_grid, target_log_n_opt

from conftest import SEED


@pytest.fixture(scope="module")
def plan_table(example_fit):
    return bs.plan(example_fit, target_compute=1e24, budget=1e21, num_sims=64, seed=SEED)


def test_plan_table_contract(example_fit, plan_table):
    t = plan_table
    assert len(t) == 27 and list(t.index) == list(range(1, 28))
    assert t.reduction_per_flop.is_monotonic_decreasing
    np.testing.assert_allclose(t.C, 6 * t.N * t.D)
    assert t.C.max() == pytest.approx(1e21) and (t.C <= 1e21 * (1 + 1e-12)).all()
    g = target_log_n_opt(law_params(example_fit), 1e24)
    assert t.uncertainty_now.iloc[0] == pytest.approx(np.var(g), rel=1e-12)
    # In-range candidates: weights stay healthy, no fallback.
    assert (t.method == "reweighting").all() and not t.ess_low.any()
    assert (t.ess_min > 0.5 * g.size).all()
    # The expected reduction is never negative beyond Monte Carlo error (law of total variance).
    assert (t.expected_reduction > -4 * t.reduction_se).all()
    # Same seed, same table.
    again = bs.plan(example_fit, target_compute=1e24, budget=1e21, num_sims=64, seed=SEED)
    pd.testing.assert_frame_equal(t, again)


def test_reweighting_agrees_with_linear_gaussian_update(plan_table):
    # With ESS close to the number of draws and a near-Gaussian posterior, the reweighting
    # estimate and the first-order (Kalman) update estimate the same quantity: they must agree
    # to within Monte Carlo error (4 s.e.) plus 25% for the linearisation.
    t = plan_table
    diff = np.abs(t.expected_reduction - t.linear_reduction)
    assert (diff < 4 * t.reduction_se + 0.25 * t.linear_reduction.abs()).all(), t[["expected_reduction",
                                                                                    "linear_reduction", "reduction_se"]]
    # On an IsoFLOP slice the most informative runs are the extreme sizes (they separate alpha from
    # beta), the least informative the centre (the frontier there is already pinned by the data).
    top = t[t.C == t.C.max()].sort_values("N").expected_reduction.to_numpy()
    assert int(np.argmax(top)) in (0, len(top) - 1)
    assert int(np.argmin(top)) in (len(top) // 2 - 1, len(top) // 2, len(top) // 2 + 1)


def test_ess_collapse_is_flagged_and_falls_back(example_fit):
    # A run far outside the data (N = 100, D = 1000): the law's spread there is many noise scales
    # wide, so one observation concentrates the weights on few draws (with Student-t noise the
    # ESS falls to ~10% of the draws rather than to ~1); inside the data it stays near all draws.
    cands = pd.DataFrame({"N": [1e9, 1e2], "D": [2e10, 1e3]})
    t = bs.plan(example_fit, target_compute=1e24, candidates=cands, num_sims=32, min_ess=500)
    far = t[t.N == 1e2].iloc[0]
    near = t[t.N == 1e9].iloc[0]
    assert far.ess_median < 0.25 * t.attrs["draws"] and near.ess_median > 0.9 * t.attrs["draws"]
    assert far.ess_low and far.method == "linear-gaussian" and far.ess_median < t.attrs["min_ess"]
    assert far.expected_reduction == pytest.approx(far.linear_reduction) and np.isnan(far.reduction_se)
    assert not near.ess_low and near.method == "reweighting"
    # Forcing the threshold above the number of draws makes every estimate the linear one.
    t2 = bs.plan(example_fit, target_compute=1e24, candidates=cands, num_sims=32, min_ess=1e9)
    assert t2.ess_low.all()
    np.testing.assert_allclose(t2.expected_reduction, t2.linear_reduction)


def test_width_criterion(example_fit):
    t = bs.plan(example_fit, target_compute=1e24, budget=1e21, criterion="width", prob=0.9, num_sims=16)
    g = target_log_n_opt(law_params(example_fit), 1e24)
    lo, hi = np.quantile(g, [0.05, 0.95], method="inverted_cdf")
    # Weighted-CDF quantiles with uniform weights are the inverted-CDF quantiles (to one draw).
    assert t.uncertainty_now.iloc[0] == pytest.approx(hi - lo, rel=0.02)
    assert t.attrs["criterion"] == "width"


def test_candidate_grid_and_errors(example_fit):
    g = candidate_grid(example_fit, 1e21, levels=2, sizes=5, span=4.0, decades=2.0)
    assert len(g) == 10 and sorted(set(g.C)) == pytest.approx([1e19, 1e21])
    with pytest.raises(errors.ConfigError, match="give candidates="):
        bs.plan(example_fit, target_compute=1e24)
    with pytest.raises(errors.ConfigError, match="cost more than the budget"):
        bs.plan(example_fit, target_compute=1e24, candidates=([1e10], [1e12]), budget=1e21)
    with pytest.raises(errors.ConfigError, match="criterion must be"):
        bs.plan(example_fit, target_compute=1e24, budget=1e21, criterion="entropy")
    with pytest.raises(errors.ConfigError, match="target_compute must be"):
        bs.plan(example_fit, target_compute=-1, budget=1e21)
    with pytest.raises(errors.ConfigError, match="lacks column"):
        bs.plan(example_fit, target_compute=1e24, candidates=pd.DataFrame({"N": [1e9]}))
    with pytest.raises(errors.ConfigError, match="num_sims"):
        bs.plan(example_fit, target_compute=1e24, budget=1e21, num_sims=1)
