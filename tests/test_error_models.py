"""Error models (bayescale.model.error_models): levels, priors and sites, checks before compiling,
predictive draws at training and new levels, saving, and small fits that converge."""

from __future__ import annotations

import types

import numpy as np
import pytest
from conftest import FAST, SEED
from numpyro.handlers import seed as nseed
from numpyro.handlers import trace

import bayescale as bs
from bayescale.errors import BatchError, ConfigError
from bayescale.inference import nuts
from bayescale.model.error_models import DEFAULT_EXTRAPOLATION_PER_DECADE, Extrapolation, Independent, Offsets
from bayescale.model.error_models import RandomWalk, get_error_model
from bayescale.model.levels import assign_levels, levels


# ----------------------------------------------------------------- levels
def test_levels_group_values_within_the_resolution():
    # Two budgets written with rounding (1e19 and 1.02e19, 0.99e19), one at 3e19, one at 1e20.
    idx, anchors, centres = levels([1e19, 1.02e19, 3e19, 0.99e19, 1e20])
    assert idx.tolist() == [0, 0, 1, 0, 2]
    assert np.allclose(anchors, np.log10([0.99e19, 3e19, 1e20]))
    assert np.isclose(centres[0], np.mean(np.log10([1e19, 1.02e19, 0.99e19])))
    # A level spans `resolution` decades from its smallest value, no more (no chaining).
    idx, _, _ = levels(10.0 ** np.array([0.0, 0.015, 0.03, 0.045]), resolution=0.02)
    assert idx.tolist() == [0, 0, 1, 1]
    # Resolution 0: every distinct value is a level.
    assert levels([1.0, 1.0, 2.0], resolution=0.0)[1].size == 2


def test_assign_levels_finds_training_levels_and_marks_new_ones():
    _, anchors, _ = levels([1e19, 3e19, 1e20])
    k = assign_levels(np.log10([1.01e19, 1e20, 5e19, 1e21, 1e18]), anchors, 0.02)
    assert k.tolist() == [0, 2, -1, -1, -1]


# ----------------------------------------------------------------- priors, sites, checks
def test_priors_and_registry():
    m = bs.ScalingModel(error_model="offsets")
    assert m.error_model == Offsets(by=("C", "N"))
    assert m.priors["err_sd_C"] == bs.Prior("HalfNormal", scale=0.05) == m.priors["err_sd_N"]
    w = bs.ScalingModel(error_model="random_walk")
    assert {k for k in w.priors if k.startswith("err_")} == {"err_sd_C", "err_sd_N", "err_walk_C"}
    assert w.error_model.scale_sites == ("err_sd_C", "err_sd_N", "err_walk_C")
    w2 = RandomWalk(by=("N", "D"), offsets=("C", "N"))
    assert w2.scale_sites == ("err_sd_C", "err_sd_N", "err_walk_N", "err_walk_D")
    # The default: independent inside the data, the measured fixed-scale discrepancy beyond (docs/guide/error-models.md,
    # "Which is the default"); the learned one is selectable by name.
    assert bs.ScalingModel().error_model == Extrapolation() == get_error_model("extrapolation")
    assert Extrapolation().per_decade == DEFAULT_EXTRAPOLATION_PER_DECADE and bs.ScalingModel().label == "chinchilla/student_t"
    assert get_error_model("learned_extrapolation") == bs.LearnedExtrapolation()
    # Their program is the independent one (one compiled sampler), but the models differ in their forecasts.
    ind = bs.ScalingModel(error_model="independent")
    learned = bs.ScalingModel(error_model="learned_extrapolation")
    assert bs.ScalingModel().cache_key == ind.cache_key == bs.ScalingModel(error_model=Extrapolation(0.05)).cache_key
    assert learned.cache_key == ind.cache_key
    assert bs.ScalingModel() != ind and bs.ScalingModel() == bs.ScalingModel(error_model=Extrapolation())
    assert bs.ScalingModel() != learned
    # The user's priors override the error model's.
    p = bs.Prior("HalfNormal", scale=0.01)
    assert bs.ScalingModel(error_model="offsets", priors={"err_sd_C": p}).priors["err_sd_C"] == p
    # Whitening: on for offsets, off for the walk (its model says why).
    assert bs.ScalingModel(error_model="offsets").whiten and not w.whiten
    # Different error models compile different programs.
    assert m.cache_key != bs.ScalingModel(error_model=Offsets(by="C")).cache_key


def _sites(model, data):
    args, _ = model.args(data, model.reference(data))
    return trace(nseed(model.program(), 0)).get_trace(*args)


def test_program_sites_and_shapes(example_data):
    nC, nN = levels(example_data.C)[1].size, levels(example_data.N)[1].size
    tr = _sites(bs.ScalingModel(error_model=Offsets(by=("C", "N"))), example_data)
    assert tr["err_z_C"]["value"].shape == (nC,) and tr["err_z_N"]["value"].shape == (nN,)
    assert np.allclose(tr["err_C"]["value"], tr["err_sd_C"]["value"] * tr["err_z_C"]["value"])
    walk = RandomWalk()
    tr = _sites(bs.ScalingModel(error_model=walk), example_data)
    nodes = walk._nodes(example_data, "C")
    assert nodes[0] == np.log10(example_data.C).min() and nodes[-1] >= np.log10(example_data.C).max()
    assert tr["err_wz_C"]["value"].shape == (nodes.size - 1,)
    path = np.asarray(tr["err_path_C"]["value"])
    assert path[0] == 0.0 and path.shape == (nodes.size,)
    steps = np.diff(path) / np.sqrt(np.diff(nodes))
    assert np.allclose(steps, tr["err_walk_C"]["value"] * tr["err_wz_C"]["value"], atol=1e-6)
    # The sampler's share coordinates still apply and leave the error model's sites alone.
    coords = bs.ScalingModel(error_model=walk).sampler_coords
    assert coords is not None
    u = {"E": 0.5, "A_ref": -1.0, "B_ref": -2.0, "err_walk_C": -3.0, "err_wz_C": np.arange(3.0)}
    x = coords.from_model(u)
    assert x["err_walk_C"] == -3.0 and np.array_equal(x["err_wz_C"], u["err_wz_C"])
    assert all(np.allclose(coords.to_model(x)[k], v, atol=1e-6) for k, v in u.items())


@pytest.mark.parametrize("bad", [
    lambda: Offsets(by="X"), lambda: Offsets(by=("C", "C")), lambda: Offsets(resolution=-0.1),
    lambda: Offsets(resolution=1.5), lambda: Offsets(resolution=True), lambda: RandomWalk(by=()),
    lambda: RandomWalk(step=0.0), lambda: RandomWalk(step=2.0), lambda: RandomWalk(offsets=("Q",)),
    lambda: get_error_model("gaussian_process"), lambda: bs.ScalingModel(error_model=3),
    lambda: Extrapolation(per_decade=-0.01), lambda: Extrapolation(per_decade=True), lambda: Extrapolation(per_decade="0.02"),
    lambda: Extrapolation(per_decade=1.5), lambda: Extrapolation(by="X"), lambda: Extrapolation(by=("C", "N")),
])
def test_bad_settings_are_config_errors(bad):
    with pytest.raises(ConfigError):
        bad()


def _one_budget_data(budgets):
    """Runs at the given compute budgets, 8 model sizes each."""
    N = np.concatenate([np.geomspace(1e8, 1e9, 8) for _ in budgets])
    C = np.repeat(budgets, 8)
    D = C / (6.0 * N)
    return bs.ScalingData.from_arrays(N=N, D=D, loss=1.8 + 400 / N**0.34 + 4e3 / D**0.28)


def test_too_few_levels_fail_before_compiling():
    before = sum(nuts.TRACE_COUNTS.values())
    with pytest.raises(ConfigError, match="at least 2 levels of C"):
        bs.fit(_one_budget_data([1e19]), error_model=Offsets(by="C"))
    with pytest.raises(ConfigError, match="at least 3 levels of C"):
        bs.fit(_one_budget_data([1e19, 1e20]), error_model=RandomWalk(offsets=()))
    with pytest.raises(ConfigError, match="error_model"):
        bs.fit(_one_budget_data([1e19, 1e20]), model=bs.ScalingModel(), error_model="offsets")
    # Same length, different numbers of levels: not one compiled program.
    with pytest.raises(BatchError, match="levels"):
        bs.fit_many([_one_budget_data([1e19, 1e20]), bs.ScalingData.from_arrays(
            N=np.geomspace(1e8, 1e9, 16), D=np.geomspace(1e10, 1e11, 16), loss=np.linspace(3.0, 2.5, 16))],
            model=bs.ScalingModel(error_model=Offsets(by="C")))
    assert sum(nuts.TRACE_COUNTS.values()) == before


def test_round_trip_of_settings():
    for em in (Independent(), Offsets(by="N", resolution=0.05), RandomWalk(by=("N", "D"), offsets=("C",), step=0.2),
               Extrapolation(), Extrapolation(per_decade=0.0, by="N", resolution=0.05)):
        assert type(em).from_dict(em.to_dict()) == em
        assert get_error_model(em) is em
    assert bs.ErrorModel.from_dict(None) == Independent()  # files saved before error models


# ----------------------------------------------------------------- predictive draws (exact posteriors)
def _fake_fit(data, posterior):
    return types.SimpleNamespace(data=data, posterior_array=lambda name: np.asarray(posterior[name]))


def _cov(C):
    C = np.asarray(C, dtype=float)
    return {"C": C, "N": np.full(C.shape, 1e9), "D": C / 6e9}


def test_offsets_draws_use_training_levels_and_draw_new_ones():
    """At a training level the draw is that level's posterior offset (exactly); at a new level it is
    sd * Normal(0, 1), one draw shared by the new runs of that level."""
    train = _one_budget_data([1e19, 1e20, 1e21])
    S, sd = 20000, 0.02
    rng = np.random.default_rng(SEED)
    offsets = rng.normal(0.0, sd, (S, 3))
    post = {"err_C": offsets.reshape(4, S // 4, 3), "err_sd_C": np.full((4, S // 4), sd)}
    em = Offsets(by="C")
    out = em.draws(_fake_fit(train, post), _cov([1.01e20, 1e19, 3e21, 3.02e21, 3e22]), seed=SEED)
    assert np.array_equal(out[:, 0], offsets[:, 1]) and np.array_equal(out[:, 1], offsets[:, 0])
    assert np.array_equal(out[:, 2], out[:, 3])  # one new level, one draw
    # New levels: independent draws of sd * N(0, 1). With S = 20,000 the sample sd is within 3% of
    # sd (its relative standard error is 0.5%) and two levels' correlation within 0.04 of 0 (sd 0.007).
    assert np.std(out[:, 2]) == pytest.approx(sd, rel=0.03) and np.std(out[:, 4]) == pytest.approx(sd, rel=0.03)
    assert abs(np.corrcoef(out[:, 2], out[:, 4])[0, 1]) < 0.04
    # Same seed, same draws.
    assert np.array_equal(out, em.draws(_fake_fit(train, post), _cov([1.01e20, 1e19, 3e21, 3.02e21, 3e22]), SEED))


def test_walk_draws_grow_with_distance_beyond_the_data():
    """Beyond the last node the walk is a Brownian motion from the node's value: variance
    walk**2 * distance (decades); within the nodes it is the posterior path, interpolated."""
    train = _one_budget_data([1e19, 1e20, 1e21])
    walk = RandomWalk(offsets=())
    nodes = walk._nodes(train, "C")
    S, scale = 20000, 0.03
    rng = np.random.default_rng(SEED)
    path = np.cumsum(np.concatenate([np.zeros((S, 1)), rng.normal(0, scale * np.sqrt(0.1), (S, nodes.size - 1))],
                                    axis=1), axis=1)
    post = {"err_path_C": path.reshape(4, S // 4, -1), "err_walk_C": np.full((4, S // 4), scale)}
    dist = np.array([0.25, 1.0, 2.0])
    x = np.concatenate([[nodes[3], 0.5 * (nodes[3] + nodes[4])], nodes[-1] + dist])
    out = walk.draws(_fake_fit(train, post), _cov(10.0**x), seed=SEED)
    assert np.allclose(out[:, 0], path[:, 3]) and np.allclose(out[:, 1], 0.5 * (path[:, 3] + path[:, 4]))
    # Increments beyond the last node: variance scale**2 * distance. With S = 20,000 draws the sample
    # variance is within 6% of it (relative standard error 1%).
    inc = out[:, 2:] - path[:, -1:]
    assert np.var(inc, axis=0) / (scale**2 * dist) == pytest.approx(np.ones(3), rel=0.06)
    assert np.abs(inc.mean(axis=0)).max() < 4 * scale * np.sqrt(dist.max() / S)
    # Markov: the far draw continues the near one (their increments are independent).
    assert abs(np.corrcoef(inc[:, 0], inc[:, 2] - inc[:, 1])[0, 1]) < 0.04


def test_extrapolation_draws_are_zero_inside_and_brownian_beyond():
    """Inside the training range of C nothing is added (exactly); beyond either end a Brownian motion from
    0 at that end: variance per_decade**2 * distance, one draw per level, increments independent."""
    train = _one_budget_data([1e19, 1e20, 1e21])
    S, t = 20000, 0.03
    fit = _fake_fit(train, {"sigma": np.full((4, S // 4), 0.01)})
    em = Extrapolation(per_decade=t)
    dist = np.array([0.25, 1.0, 2.0])
    C = np.concatenate([[1e19, 3.3e19, 1e21, 0.995e21], 1e21 * 10.0**dist, [1e21 * 10.0**0.25 * 1.01],
                        [1e19 / 10.0]])
    out = em.draws(fit, _cov(C), seed=SEED)
    assert out.shape == (S, C.size) and np.array_equal(out[:, :4], np.zeros((S, 4)))
    # Beyond: with S = 20,000 the sample variance is within 6% of per_decade**2 * distance (relative
    # standard error 1%; a false failure is a 6-sigma event), below the range as above it.
    assert np.var(out[:, 4:7], axis=0) / (t**2 * dist) == pytest.approx(np.ones(3), rel=0.06)
    assert np.var(out[:, 8]) / t**2 == pytest.approx(1.0, rel=0.06)
    assert np.abs(out[:, 4:7].mean(axis=0)).max() < 4 * t * np.sqrt(dist.max() / S)
    assert np.array_equal(out[:, 7], out[:, 4])  # 1% apart: one level, one draw
    # Markov: the far draw continues the near one (independent increments; correlation sd 0.007).
    assert abs(np.corrcoef(out[:, 4], out[:, 6] - out[:, 5])[0, 1]) < 0.04
    # Same seed, same draws; per_decade = 0 adds nothing anywhere.
    assert np.array_equal(out, em.draws(fit, _cov(C), seed=SEED))
    assert not np.any(Extrapolation(per_decade=0.0).draws(fit, _cov(C), seed=SEED))


# ----------------------------------------------------------------- fits
#: The walk's settings: target_accept 0.95 as its docstring advises (at 0.9, 8 of 2,000 draws diverged
#: on the example at seed 0). Its convergence is not asserted (below), so it is neither extended nor
#: refitted after divergences (at seed offset 0 those took 163 s of the suite for draws no test judges), and it
#: samples 4 x (150 + 150): its program is its own whatever the budget, and its trees run to NumPyro's depth
#: limit (1,023 leapfrog steps per draw), so sampling is most of its time (10-34 s warm at 150, 27-47 s at 300).
#: What the tests judge of it holds with room at 150 (offsets 0-5: alpha within 0.013 of the truth against the
#: bound's 0.06, scale medians at most 0.0052 against 0.02).
SETTINGS = {"extrapolation": FAST, "offsets": FAST,
            "random_walk": {**FAST, "num_warmup": 150, "num_samples": 150, "target_accept": 0.95, "until_converged": 0,
                            "refit_divergent": ()}}


@pytest.fixture(scope="module", params=sorted(SETTINGS))
def error_fit(request, example_data):
    return bs.fit(example_data, error_model=request.param, seed=SEED, warn=False, **SETTINGS[request.param])


@pytest.mark.slow  # two compiled fits, minutes on a loaded 2-core machine
def test_offsets_fit_converges(error_fit):
    """Offsets (and the default, whose program is the independent one) converge at the default settings
    (seed offsets 0, 1, 2 checked). The walk's convergence is not asserted: at seed offset 2 it had 1
    divergent draw of 2,000 even at target_accept 0.95 (docs/guide/error-models.md: its sampling is not yet
    reliable), so a test of it would be seed luck."""
    if error_fit.model.error_model.name == "random_walk":
        pytest.skip("the random walk's convergence is a known open problem (docs/guide/error-models.md)")
    assert error_fit.diagnostics.converged, error_fit.diagnostics.problems


@pytest.mark.slow
def test_fit_predicts_and_saves(error_fit, example_data, tmp_path):
    # The example data share no errors: the scales stay small (log-loss noise is 0.01). Bound: the
    # posterior median of every scale below 0.02 (the prior's median is 0.034).
    for s in error_fit.model.error_model.scale_sites:
        assert float(np.median(error_fit.idata.posterior[s])) < 0.02, s
    # The law is still found: alpha within 0.06 of the truth the data were simulated from.
    assert abs(float(error_fit.idata.posterior["alpha"].median()) - bs.datasets.EXAMPLE_TRUTH["alpha"]) < 0.06
    # predict: at a training budget and far beyond; pred_* bands contain loss_* medians.
    N, D = np.array([example_data.N[0], 1e10]), np.array([example_data.D[0], 2e11])
    p = error_fit.predict(N=N, D=D, seed=SEED)
    assert np.all(p["pred_lower"] < p["loss_median"]) and np.all(p["loss_median"] < p["pred_upper"])
    # A new run's loss is the law's plus the shared errors and the noise, draw by draw: their log ratio spreads at
    # least as the observation noise alone (Student-t at df 4: sd sigma * sqrt(2); bound: half of sigma's median,
    # so a false failure needs 600-2,000 draws' sd below a third of its value: none). Comparing the two bands' widths
    # instead held by Monte Carlo luck where the law's own spread dominates (failed at 1e10 with the walk, offset 0).
    draws = error_fit.predict_draws(N=N, D=D, seed=SEED)
    added = np.log(draws["pred"]) - np.log(draws["loss"])
    assert np.all(added.std(axis=0) > 0.5 * float(error_fit.idata.posterior["sigma"].median()))
    # Two runs at one new budget share its offset: prob_better(noise=True) still answers, in (0, 1).
    pb = bs.prob_better(error_fit, 1e10, 2e11, 2e10, 1e11, noise=True, seed=SEED)
    assert 0.0 < pb < 1.0
    # Saved and loaded: the same error model, the same predictive draws.
    path = tmp_path / "fit.nc"
    error_fit.save(path)
    back = bs.load(path)
    assert back.model.error_model == error_fit.model.error_model
    assert np.allclose(back.predict_draws(N=N, D=D, seed=SEED)["pred"],
                       error_fit.predict_draws(N=N, D=D, seed=SEED)["pred"])
