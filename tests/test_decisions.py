"""Decision tools against closed forms and numerical optima (scipy)."""

import numpy as np
import pytest
from scipy.optimize import brentq, minimize_scalar

import bayescale as bs
from bayescale import errors
from bayescale.analyses.allocation import inference_optimal_draws
from bayescale.analyses.decisions import compute_for_loss_draws, isoflop_draws, law_params, quantiles

from conftest import SEED

PARAMS = [
    dict(E=1.817, A=477.8, B=2143.0, alpha=0.347, beta=0.367),
    dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28),
    dict(E=0.5, A=50.0, B=8000.0, alpha=0.2, beta=0.55),
]


def L(p, N, D):
    return p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]


def frontier_loss(p, C):
    """L*(C) by numerical minimisation along 6ND = C (float64)."""
    res = minimize_scalar(lambda u: L(p, np.exp(u), C / (6 * np.exp(u))), bounds=(np.log(1e2), np.log(C / 6 / 1e2)),
                          method="bounded", options={"xatol": 1e-12})
    return res.fun


@pytest.mark.parametrize("p", PARAMS)
def test_compute_for_loss_inverts_the_numerical_frontier(p):
    targets = np.array([p["E"] + 0.5, p["E"] + 0.1, p["E"] + 0.02])
    out = compute_for_loss_draws(p, targets)
    for k, ell in enumerate(targets):
        # The least C with min_N L = ell, found by root-finding on the numerical frontier.
        C_num = np.exp(brentq(lambda logC: frontier_loss(p, np.exp(logC)) - ell, np.log(1e6), np.log(1e60),
                              xtol=1e-12))
        # Root on a function that is flat-ish in log C: 1e-5 relative is float64 bounded-search accuracy.
        assert out["C"][0, k] == pytest.approx(C_num, rel=1e-5)
        assert L(p, out["N_opt"][0, k], out["D_opt"][0, k]) == pytest.approx(ell, rel=1e-12)
        assert 6 * out["N_opt"][0, k] * out["D_opt"][0, k] == pytest.approx(out["C"][0, k], rel=1e-12)
        # ... and it is the frontier point at that compute.
        f = bs.chinchilla_frontier(p, out["C"][0, k])
        assert float(f["N_opt"]) == pytest.approx(out["N_opt"][0, k], rel=1e-3)  # float32 frontier


def test_unreachable_targets_are_counted_not_dropped(example_fit):
    p = law_params(example_fit)
    # A target inside the posterior of E: some draws can reach it, some cannot.
    ell = float(np.quantile(p["E"], 0.3))
    out = compute_for_loss_draws(p, [ell])
    frac = np.mean(p["E"] < ell)
    assert out["reachable"].mean() == pytest.approx(frac)
    assert np.all(np.isinf(out["C"][~out["reachable"]])) and np.all(np.isfinite(out["C"][out["reachable"]]))
    t = bs.compute_for_loss(example_fit, loss=[ell, 2.0], prob=0.9)
    assert t.p_reachable.iloc[0] == pytest.approx(frac) and t.p_reachable.iloc[1] == 1.0
    # 70% of draws are unreachable: the median and the upper bound are infinite, the lower bound finite.
    assert np.isinf(t.C_median.iloc[0]) and np.isinf(t.C_upper.iloc[0]) and np.isfinite(t.C_lower.iloc[0])
    assert t.C_lower.iloc[1] < t.C_median.iloc[1] < t.C_upper.iloc[1] < np.inf
    np.testing.assert_allclose(t.loc[2.0, "C_median"], np.quantile(compute_for_loss_draws(p, [2.0])["C"], 0.5))


def test_quantiles_match_numpy_on_finite_and_keep_inf():
    rng = np.random.default_rng(0)
    x = rng.lognormal(size=(101, 3))
    np.testing.assert_allclose(quantiles(x, [0.05, 0.5, 0.95]), np.quantile(x, [0.05, 0.5, 0.95], axis=0))
    x[:20, 0] = np.inf  # 20% infinite
    q = quantiles(x, [0.05, 0.5, 0.85])
    assert np.isfinite(q[1, 0]) and np.isinf(q[2, 0])
    assert np.isnan(quantiles(np.array([np.nan, np.nan]), [0.5])[0])


@pytest.mark.parametrize("p", PARAMS)
def test_isoflop_argmin_is_the_numerical_minimum(p):
    C = 5.88e23
    sizes = np.geomspace(1e8, 1e15, 5601)
    out = isoflop_draws(p, C, sizes)
    k = np.argmin(out["loss"][0])
    # The grid has 5601 points over 7 decades: spacing 0.29% in N.
    assert out["N_opt"][0] == pytest.approx(sizes[k], rel=3e-3)
    res = minimize_scalar(lambda u: L(p, np.exp(u), C / (6 * np.exp(u))), bounds=(np.log(1e6), np.log(1e15)),
                          method="bounded", options={"xatol": 1e-10})
    assert out["N_opt"][0] == pytest.approx(np.exp(res.x), rel=1e-4)
    assert out["loss_opt"][0] == pytest.approx(res.fun, rel=1e-10)
    np.testing.assert_allclose(out["loss"][0], L(p, sizes, C / (6 * sizes)), rtol=1e-12)


def test_isoflop_table(example_fit):
    t = bs.isoflop(example_fit, C=[1e20, 1e21], num=31, prob=0.9)
    assert t.shape == (62, 7)
    for c, g in t.groupby("C"):
        assert g.p_argmin.sum() == pytest.approx(1.0)
        assert np.all(g.loss_lower <= g.loss_median) and np.all(g.loss_median <= g.loss_upper)
        np.testing.assert_allclose(6 * g.N * g.D, c)
        # The most probable argmin bin holds the posterior-median optimum from the frontier.
        n_med = float(example_fit.frontier(C=c).N_opt_median.iloc[0])
        best = g.N.iloc[int(np.argmax(g.p_argmin.to_numpy()))]
        assert abs(np.log(best / n_med)) < np.log(16) * 2 / 30 + 1e-9  # within one grid step
        # The median curve is lowest near there too.
        assert abs(np.log(g.N.iloc[int(np.argmin(g.loss_median.to_numpy()))] / n_med)) < np.log(16) * 2 / 30 * 2
    with pytest.raises(errors.ConfigError, match="num must be"):
        bs.isoflop(example_fit, C=1e21, num=1)
    with pytest.raises(errors.ConfigError, match="C must be"):
        bs.isoflop(example_fit, C=-1.0)


def _tokens_for_an_even_comparison(p, run, N2, lo=1e9, hi=1e14):
    """``D2`` at which the median over draws of ``L(run) - L(N2, D2)`` is zero (it rises with ``D2``)."""
    diff = lambda log_D2: np.median(L(p, *run) - L(p, N2, np.exp(log_D2)))  # noqa: E731
    assert diff(np.log(lo)) < 0 < diff(np.log(hi)), "the bracket must hold the root"
    return float(np.exp(brentq(diff, np.log(lo), np.log(hi))))


def test_prob_better(example_fit):
    # Dominance: more parameters and more tokens is better in every draw.
    assert bs.prob_better(example_fit, 2e9, 4e10, 1e9, 4e10) == 1.0
    assert bs.prob_better(example_fit, 1e9, 4e10, 1e9, 8e10) == 0.0
    assert bs.prob_better(example_fit, 1e9, 4e10, 1e9, 4e10) == 0.0  # a tie is not "better"
    # Equals the fraction of draws computed by hand, at a comparison the posterior cannot settle whatever the
    # seed: the second run's tokens D2 put the median of the loss difference at zero (a root in log D2), so
    # half the draws favour each run (a fixed pair of runs was certain one way at BAYESCALE_TEST_SEED=4).
    p = law_params(example_fit)
    D2 = _tokens_for_an_even_comparison(p, (3e9, 1e10), 5e8)
    by_hand = np.mean(L(p, 3e9, 1e10) < L(p, 5e8, D2))
    assert bs.prob_better(example_fit, 3e9, 1e10, 5e8, D2) == pytest.approx(by_hand)
    assert abs(by_hand - 0.5) <= 0.01
    # Vectorised; with noise the answer moves towards 1/2.
    v = bs.prob_better(example_fit, [2e9, 3e9], 4e10, 1e9, 4e10)
    assert v.shape == (2,) and np.all(v == 1.0)
    noisy = bs.prob_better(example_fit, 1.05e9, 4e10, 1e9, 4e10, noise=True, seed=SEED + 1)
    assert 0.5 < noisy < 1.0
    # P(1 beats 2) + P(2 beats 1) = 1 when ties have probability zero.
    assert bs.prob_better(example_fit, 5e8, D2, 3e9, 1e10) == pytest.approx(1 - by_hand)


def total_flops_numerical(p, T, ell):
    """argmin over log N of 6ND(N) + 2NT with D(N) from L(N, D) = ell (float64, scipy)."""
    K = ell - p["E"]
    u_lo = np.log(p["A"] / K) / p["alpha"]

    def cost(u):
        N = np.exp(u)
        r = K - p["A"] / N ** p["alpha"]
        D = (p["B"] / r) ** (1 / p["beta"])
        return np.log(6 * N * D + 2 * N * T)

    res = minimize_scalar(cost, bounds=(u_lo + 1e-9, u_lo + 40), method="bounded", options={"xatol": 1e-12})
    return np.exp(res.x), np.exp(res.fun)


@pytest.mark.parametrize("p", PARAMS)
@pytest.mark.parametrize("T", [0.0, 1e10, 1e13, 1e16])
def test_inference_optimal_at_target_loss_matches_scipy(p, T):
    ell = p["E"] + 0.15
    out = inference_optimal_draws(p, [T], loss=ell)
    N_num, cost_num = total_flops_numerical(p, T, ell)
    # The total cost is flat at the optimum: compare it tightly and N to 1e-4 (scipy's xatol on log N).
    assert out["total_flops"][0, 0] == pytest.approx(cost_num, rel=1e-9)
    assert out["N"][0, 0] == pytest.approx(N_num, rel=1e-4)
    assert L(p, out["N"][0, 0], out["D"][0, 0]) == pytest.approx(ell, rel=1e-10)
    if T == 0:
        chin = compute_for_loss_draws(p, [ell])
        assert out["N"][0, 0] == pytest.approx(chin["N_opt"][0, 0], rel=1e-12)
        assert out["total_flops"][0, 0] == pytest.approx(chin["C"][0, 0], rel=1e-12)


@pytest.mark.parametrize("p", PARAMS)
@pytest.mark.parametrize("T", [0.0, 1e11, 1e13])
def test_inference_optimal_at_budget_matches_scipy(p, T):
    C = 1e23
    out = inference_optimal_draws(p, [T], total_compute=C)
    u_cap = np.log(C / (2 * T)) if T > 0 else np.log(C / 6 / 1e2)

    def loss(u):
        N = np.exp(u)
        return L(p, N, (C - 2 * N * T) / (6 * N))

    res = minimize_scalar(loss, bounds=(np.log(1e2), u_cap - 1e-9), method="bounded", options={"xatol": 1e-12})
    assert out["N"][0, 0] == pytest.approx(np.exp(res.x), rel=1e-4)
    assert out["loss"][0, 0] == pytest.approx(res.fun, rel=1e-10)
    assert out["total_flops"][0, 0] == pytest.approx(C, rel=1e-10)
    if T == 0:
        f = bs.chinchilla_frontier(p, C)
        assert out["N"][0, 0] == pytest.approx(float(f["N_opt"]), rel=1e-3)  # float32 frontier


def test_inference_optimal_table(example_fit):
    T = [0.0, 1e11, 1e13]
    t = bs.inference_optimal(example_fit, T, loss=2.0)
    # T = 0 is the Chinchilla answer: no saving, the same compute as compute_for_loss.
    assert t.saving_median.iloc[0] == pytest.approx(0.0, abs=1e-12)
    c = bs.compute_for_loss(example_fit, loss=2.0)
    assert t.total_flops_median.iloc[0] == pytest.approx(c.C_median.iloc[0], rel=1e-9)
    # More inference: smaller models trained longer, and a growing saving over Chinchilla.
    assert np.all(np.diff(t.N_median) < 0) and np.all(np.diff(t.tokens_per_param_median) > 0)
    assert np.all(np.diff(t.saving_median) > 0)
    assert np.all(t.total_flops_median <= t.chinchilla_total_flops_median * (1 + 1e-12))
    tb = bs.inference_optimal(example_fit, T, total_compute=1e22)
    assert np.all(np.diff(tb.loss_median) > 0)  # serving eats into the budget
    with pytest.raises(errors.ConfigError, match="exactly one of"):
        bs.inference_optimal(example_fit, T)
    with pytest.raises(errors.ConfigError, match="inference_tokens must be"):
        bs.inference_optimal(example_fit, [-1.0], loss=2.0)
    with pytest.raises(errors.ConfigError, match="loss must be"):
        bs.compute_for_loss(example_fit, loss=0.0)
