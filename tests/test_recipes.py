"""Recipe comparisons: the multiplier's algebra against closed forms, and the answers of a pooled fit."""

import numpy as np
import pytest

import bayescale as bs
from bayescale import errors
from bayescale.analyses.recipes import crossover_draws, multiplier_draws
from bayescale.model.chinchilla import chinchilla_loss

from conftest import FAST, SEED

A = dict(E=1.8, A=480.0, B=2100.0, alpha=0.34, beta=0.37)


def test_multiplier_of_a_recipe_that_is_another_at_more_compute():
    """A recipe whose loss at (N, D) is the baseline's at (k_N N, k_D D) is worth exactly k_N k_D times the
    compute on the frontier, at every budget; at a fixed run it is worth what the baseline's frontier needs."""
    k_N, k_D = 3.0, 1.5
    b = dict(A, A=A["A"] * k_N ** -A["alpha"], B=A["B"] * k_D ** -A["beta"])
    C = np.geomspace(1e18, 1e25, 5)
    out = multiplier_draws(A, b, C=C)
    np.testing.assert_allclose(out["multiplier"][0], k_N * k_D, rtol=1e-9)
    # ... because its frontier loss at C is the baseline's at k_N k_D C.
    np.testing.assert_allclose(out["loss_candidate"][0], multiplier_draws(A, A, C=k_N * k_D * C)["loss_baseline"][0],
                               rtol=1e-9)
    # At a fixed run (N, D): the baseline reaches the candidate's loss there, L_A(k_N N, k_D D), at least at
    # 6 k_N k_D N D (more when that point is off its frontier); equality on the baseline's frontier.
    N, D = np.array([1e8, 1e9]), np.array([2e9, 5e10])
    runs = multiplier_draws(A, b, N=N, D=D)
    assert np.all(runs["multiplier"][0] <= k_N * k_D * (1 + 1e-9))
    np.testing.assert_allclose(runs["loss_candidate"][0], np.asarray(chinchilla_loss(A, k_N * N, k_D * D)), rtol=1e-6)
    unreachable = multiplier_draws(A, dict(A, E=1.7), C=[1e30])  # below the baseline's E: no compute reaches it
    assert np.isinf(unreachable["multiplier"][0, 0])
    with pytest.raises(errors.ConfigError, match="either C="):
        multiplier_draws(A, b, C=[1e20], N=[1e8], D=[1e9])
    with pytest.raises(errors.ConfigError, match="either C="):
        multiplier_draws(A, b)


def test_crossover_of_frontiers_that_cross_once():
    """A lower E but a larger A: worse when small, better when large; the crossing found agrees with a dense
    grid to the grid's spacing, and paired draws are handled one by one."""
    b = dict(E=1.7, A=900.0, B=2100.0, alpha=0.34, beta=0.37)
    two = {k: np.array([A[k], A[k]]) for k in A}
    other = {k: np.array([b[k], A[k]]) for k in A}  # draw 2: identical recipes, no crossing
    out = crossover_draws(two, other, 1e15, 1e27, num=512)
    C = np.geomspace(1e15, 1e27, 20001)
    dense = multiplier_draws(A, b, C=C)
    exact = C[np.argmax(dense["loss_candidate"][0] < dense["loss_baseline"][0])]
    assert out["C"][0] == pytest.approx(exact, rel=0.06)
    assert np.isnan(out["C"][1]) and list(out["crossings"]) == [1, 0]
    assert bool(out["candidate_better_at_max"][0]) and not bool(out["candidate_better_at_min"][0])
    with pytest.raises(errors.ConfigError, match="C_min < C_max"):
        crossover_draws(A, b, 1e20, 1e18)


def test_crossover_of_nearly_parallel_frontiers_is_none_without_overflow():
    """Regression (a pooled fit's draw at BAYESCALE_TEST_SEED=2): frontiers whose log-loss gap is nearly flat
    where they do not cross made the unused interpolation overflow (numpy's warning, an error in the CLI)."""
    a = dict(E=1.7456, A=91.16, B=1956.3, alpha=0.2562, beta=0.3663)
    b = dict(E=1.7461, A=300.8, B=637.7, alpha=0.3256, beta=0.3240)
    out = crossover_draws(a, b, 1e18, 1e26)  # the suite turns warnings into errors
    assert int(out["crossings"][0]) == 0 and np.isnan(out["C"][0])


@pytest.fixture(scope="module")
def recipes_fit():
    """The suite's 6-recipe layout (:func:`bs.datasets.recipes`: five 30-run IsoFLOP sweeps, one of 8 runs, so
    the compiled sampler is the one tests/test_hierarchical.py and the docs fit), its first three recipes
    replaced by known ones: "base"; "better", worth 2 x 2 = 4 times base's compute (its loss at (N, D) is
    base's at (2N, 2D)); "late", a lower-E, larger-A recipe that crosses base. The other three keep their
    drawn truths. 1% noise on log loss, as the layout's."""
    layout = bs.datasets.recipes(seed=SEED)
    names = {"g0": "base", "g1": "better", "g2": "late"}
    truths = {**bs.datasets.recipe_truths(seed=SEED), "g0": A,
              "g1": dict(A, A=A["A"] * 2 ** -A["alpha"], B=A["B"] * 2 ** -A["beta"]),
              "g2": dict(E=1.72, A=700.0, B=2100.0, alpha=0.34, beta=0.37)}
    rng = np.random.default_rng(SEED)
    loss = np.empty(layout.n)
    for g, truth in truths.items():
        runs = layout.group == g
        loss[runs] = np.asarray(chinchilla_loss(truth, layout.N[runs], layout.D[runs])) * np.exp(
            0.01 * rng.standard_normal(int(runs.sum())))
    recipe = np.asarray([names.get(g, g) for g in layout.group])
    data = bs.ScalingData.from_arrays(N=layout.N, D=layout.D, loss=loss, group=recipe)
    return bs.fit(data, pooling="partial", seed=SEED, warn=False, **FAST)


@pytest.mark.slow
def test_compare_recipes_from_one_fit(recipes_fit, tmp_path, capsys):
    fit = recipes_fit
    t = bs.compare_recipes(fit, "base", "better", C=[1e20, 3e21, 1e23], prob=0.9)
    assert list(t.index) == [1e20, 3e21, 1e23] and t.index.name == "C"
    assert {"multiplier_median", "multiplier_lower", "multiplier_upper", "p_better", "p_better_run",
            "p_reachable", "loss_baseline_median", "loss_candidate_median"} <= set(t.columns)
    assert np.all(t.multiplier_lower <= t.multiplier_median) and np.all(t.multiplier_median <= t.multiplier_upper)
    # A 4x recipe with 1% noise on 30 runs each: clearly better on the frontier within the data's budgets (the
    # largest is 3e21), better more likely than not 33x beyond them, where the interval widens (P(better)
    # 0.79-1.00 at offsets 0-6); a single run of it beats a single run of the baseline less surely than the
    # frontier does (each run carries its noise). False-failure rate: P(better) <= 0.95 within the data or
    # <= 0.5 at 1e23 would put the posterior far from a 4x truth, < 1% for a calibrated fit.
    assert np.all(t.p_better.loc[[1e20, 3e21]] > 0.95) and t.p_better.loc[1e23] > 0.5
    assert np.all(t.p_better_run <= t.p_better + 1e-9) and np.all(t.p_better_run > 0.5)
    runs = bs.compare_recipes(fit, "base", "better", N=[1e9], D=[2e10])
    assert list(runs.columns[:2]) == ["N", "D"] and "p_better_run" not in runs
    x = bs.recipe_crossover(fit, "base", "late", 1e18, 1e26)
    assert x.shape == (1, 9) and 0.0 <= float(x.p_crossover[0]) <= 1.0
    with pytest.raises(errors.ConfigError, match="same recipe"):
        bs.compare_recipes(fit, "base", "base", C=[1e21])
    with pytest.raises(errors.ConfigError, match="unknown group"):
        bs.compare_recipes(fit, "base", "nope", C=[1e21])
    from matplotlib.figure import Figure

    ax = bs.plots.plot_multiplier(fit, "base", "better", ax=Figure().add_subplot())
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log" and len(ax.lines) == 2
    path = tmp_path / "recipes.nc"
    fit.save(path)
    from bayescale.cli import main

    assert main(["compare-recipes", str(path), "--baseline", "base", "--candidate", "better", "--compute",
                 "1e20,1e22", "--crossover", "1e18,1e26", "--plot", str(tmp_path / "m.png")]) == 0
    out = capsys.readouterr().out
    assert "better over base" in out and "frontiers cross" in out and (tmp_path / "m.png").exists()
