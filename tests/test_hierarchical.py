"""Hierarchical fits: the per-parameter pooling choices, and what a calibrated hierarchical posterior does.

The statistical tests fit three simulated 6-recipe designs (``bs.datasets.recipes``: five 30-run sweeps and
one of 8 runs, each recipe's parameters drawn around a population) at the test suite's budget and bs.fit's
default sampler settings, and check that 90% intervals cover the truths about as often as they should,
over datasets (not that each group lands within k sd of its truth: a shrunken group estimate does not
promise that).
"""

import numpy as np
import pytest

import bayescale as bs
from bayescale import errors
from bayescale.analyses.recipes import multiplier_draws

from conftest import SEED, FAST

#: Data seeds of the coverage designs (offset by BAYESCALE_TEST_SEED, like every seed of the suite).
DESIGN_SEEDS = tuple(3 * SEED + k for k in range(3))
#: The recipe with 8 runs (the others have 30).
SMALL = "g5"


def test_pooling_validation(example_data):
    with pytest.raises(errors.ConfigError, match="pooling must be one of"):
        bs.fit(example_data, pooling="some")
    with pytest.raises(errors.ConfigError, match="needs a group column"):
        bs.fit(example_data, pooling="partial")
    assert "tau_alpha" in bs.PartialPooling().priors(bs.CHINCHILLA)


def test_pooling_choices_are_checked_and_saved():
    with pytest.raises(errors.ConfigError, match=r"does not sample.*'E', 'A_ref', 'B_ref', 'alpha', 'beta'"):
        bs.ScalingModel(pooling=bs.PartialPooling(shared=("A",)))
    with pytest.raises(errors.ConfigError, match="both shared and independent"):
        bs.PartialPooling(shared=("E",), independent=("E",))
    with pytest.raises(errors.ConfigError, match="pools no parameter"):
        bs.ScalingModel(pooling=bs.PartialPooling(shared=("E", "A_ref", "B_ref", "alpha", "beta")))
    with pytest.raises(errors.ConfigError, match="parameter names"):
        bs.PartialPooling(shared=(1,))
    p = bs.PartialPooling(shared="E", independent=("A_ref", "B_ref"))
    assert p.shared == ("E",) and p == "partial" and p != bs.PartialPooling()
    assert bs.pooling.get_pooling(p.to_dict()) == p and p.label == "partial(shared E; independent A_ref,B_ref)"
    # Different choices are different compiled programs; the same choices share one.
    assert bs.ScalingModel(pooling=p).cache_key != bs.ScalingModel(pooling="partial").cache_key
    assert bs.ScalingModel(pooling=p).cache_key == bs.ScalingModel(pooling=bs.PartialPooling(("E",), ("A_ref", "B_ref"))).cache_key


def test_shared_independent_and_pooled_parameters_have_their_layouts(example_data):
    """Shared: one value; independent: one per group with the law's prior; pooled: one per group around mu."""
    grouped = bs.ScalingData.from_arrays(N=example_data.N, D=example_data.D, loss=example_data.loss,
                                         group=np.arange(example_data.n) % 3)
    p = bs.PartialPooling(shared=("E",), independent=("A_ref",))
    prior = bs.prior_predictive(grouped, pooling=p, num_samples=4000, seed=SEED).prior
    assert prior["E"].shape == (1, 4000) and prior["A_ref"].shape == (1, 4000, 3) and prior["A"].shape == (1, 4000, 3)
    assert "tau_E" not in prior and "tau_A_ref" not in prior and {"mu_alpha", "tau_alpha"} <= set(prior.data_vars)
    # Independent: each group's log A_ref ~ Normal(-1, 1.5) (the law's prior). The sd of 4,000 draws has sd
    # 0.017: within 0.07 (4 sd) of 1.5, false-failure rate 2e-4 for the three groups.
    assert np.std(np.log(np.asarray(prior["A_ref"])), axis=1)[0] == pytest.approx([1.5] * 3, abs=0.07)


def test_partial_pooling_works_for_any_law_and_prior(example_data):
    """Pooling is not tied to the Chinchilla object: each parameter is pooled on its unconstrained scale."""
    grouped = bs.ScalingData.from_arrays(N=example_data.N, D=example_data.D, loss=example_data.loss,
                                         group=np.arange(example_data.n) % 2)
    kaplan = bs.prior_predictive(grouped, law="kaplan", pooling="partial", num_samples=50, seed=SEED)
    f_N = np.asarray(kaplan.prior["f_N"])  # Beta prior: pooled on the logit scale, stays in (0, 1)
    assert f_N.shape == (1, 50, 2) and np.all((f_N > 0) & (f_N < 1))
    assert {"mu_f_N", "tau_f_N"} <= set(kaplan.prior.data_vars)
    gamma = bs.prior_predictive(grouped, pooling="partial", num_samples=2000, seed=SEED,
                                priors={"alpha": bs.Prior("Gamma", concentration=2.0, rate=6.0)})
    # mu_alpha is the Gamma prior pushed to log scale: exp(mu_alpha) ~ Gamma(2, 6), mean 1/3; MC sd 0.005.
    assert np.mean(np.exp(np.asarray(gamma.prior["mu_alpha"]))) == pytest.approx(1 / 3, abs=0.02)


@pytest.fixture(scope="module")
def design_fits():
    """One hierarchical fit per design seed, at bs.fit's defaults but the suite's 500 + 500 draws."""
    out = []
    for s in DESIGN_SEEDS:
        data = bs.datasets.recipes(seed=s)
        out.append((bs.fit(data, pooling="partial", seed=s, warn=False, **FAST), bs.datasets.recipe_truths(seed=s)))
    return out


@pytest.fixture(scope="module")
def partial_fit(design_fits):
    return design_fits[0][0]


@pytest.mark.slow
def test_hierarchical_fits_sample_like_independent_ones(design_fits):
    """At bs.fit's default settings (target_accept 0.9, then the refit ladder after divergences and the
    until_converged extensions) but the suite's 500 warmup draws: a fit converges (no divergences, R-hat <= 1.01,
    bulk ESS >= 400 for every law parameter and population mean and spread) in a few dozen leapfrog steps per
    draw (730-980 at target_accept 0.99 with the previous non-centred sampler), and its warmup's trees are about
    as deep as its draws'.

    Design seeds 0-17 at this budget: 18 of 18 converge (15-19 steps per draw; seed 0 38, after refits at 0.95
    and 0.99; seed 13 after one extension), none restarted (bayescale.fitting.restart). Warmup took 1.1-1.4x the
    leapfrog steps per draw of the draws (17.7-23.4 per warmup draw); before the whitened coordinates were scaled
    to NumPyro's shrinkage (bayescale.inference.start.WHITE_VARIANCE) it took 7-8x (designs 1-3: 126-144 per
    warmup draw against 16-19 per draw; the fits 6x slower), which the bound of 2 catches. At least 2 of the 3 designs must converge: with no
    failure in 18 a design's failure rate is uncertain (Jeffreys mean 2.6%, 95% upper bound 10%); the test then
    fails 0.2% of the time (3 p**2), 2.8% at the bound. The two step bounds lie far above every design measured
    (64 against 38; 2 against 1.4)."""
    converged = [fit for fit, _ in design_fits if fit.converged]
    assert len(converged) >= 2, "\n\n".join(str(fit.diagnostics) for fit, _ in design_fits)
    for fit in converged:
        assert fit.diagnostics.mean_steps < 64, str(fit.diagnostics)
        warmup_steps = fit.idata.sample_stats.attrs["warmup_leapfrog_steps"] / (FAST["num_chains"] * FAST["num_warmup"])
        assert warmup_steps < 2 * fit.diagnostics.mean_steps, (warmup_steps, str(fit.diagnostics))


@pytest.mark.slow
def test_hierarchical_intervals_cover_the_truth(design_fits):
    """Over the three designs, the 90% intervals of what a hierarchical fit answers cover the truth as often as
    measured over 18 designs (seeds 0-17, these settings): each recipe's exponents (36 checks here; 184 of 216 =
    85% there), the population's median exponents and spreads (12; 67 of 72 = 93%: the recipes were drawn around
    alpha 0.34, beta 0.37 with log-sd 0.08), and the effective compute multiplier of recipes g1 and g5 (8 runs)
    over g0 at the largest training budget and 10x beyond (12; 64 of 72 = 89%).

    The recipes' coverage is below 90% because their truths are fixed draws around one population, not draws
    from the priors (where a correct posterior covers 90% exactly): the posterior sits low along the E-exponent
    ridge of a 3-budget sweep (mean of (truth - posterior mean) / sd: +0.31) and shrinks an outlying recipe
    toward the others (design 3: g1's beta 0.483, 3.3 population sds out, posterior 0.377 +- 0.027; plain
    NumPyro NUTS on the centred model, 2 x 2,000 draws at target_accept 0.99: 0.378 +- 0.029, so it is the
    posterior, not the sampler). Per design (of 12, 4 and 4) the hits spread with sd 1.6, 0.5 and 0.7 over the 18
    designs, so the three families' thresholds (23 of 36, 7 of 12, 7 of 12) lie 3.0, 5.9 and 3.4 sds below
    their measured means: false-failure rates about 0.15%, below 1e-8 and 0.03% (0.2% for the test; normal
    approximations with a continuity correction). The earlier 26 of 36 assumed 90% coverage; it failed at seed
    offset 1 (25: designs 3-5). (Measured with the sampler of bayescale.inference.start.WHITE_VARIANCE; with the
    one before it, whose draws differ but whose posterior is the same: 179, 63 and 62.)"""
    groups, population, multipliers = [], [], []
    for fit, truths in design_fits:
        for g in fit.group_labels:
            p = fit.natural_draws(g)
            groups += [_covers(p[k], truths[g][k]) for k in ("alpha", "beta")]
        d = fit.draws(("mu_alpha", "mu_beta", "tau_alpha", "tau_beta"))
        pop = bs.datasets.RECIPE_POPULATION
        population += [_covers(np.exp(d["mu_alpha"]), pop["alpha"]), _covers(np.exp(d["mu_beta"]), pop["beta"]),
                       _covers(d["tau_alpha"], 0.08), _covers(d["tau_beta"], 0.08)]
        for g in ("g1", SMALL):
            t = bs.compare_recipes(fit, "g0", g, C=[3e21, 3e22])
            true = multiplier_draws(truths["g0"], truths[g], C=[3e21, 3e22])["multiplier"][0]
            multipliers += list((t.multiplier_lower <= true) & (true <= t.multiplier_upper))
    assert sum(groups) >= 23, f"{sum(groups)} of {len(groups)} recipe exponents covered"
    assert sum(population) >= 7, f"{sum(population)} of {len(population)} population values covered"
    assert sum(multipliers) >= 7, f"{sum(multipliers)} of {len(multipliers)} multipliers covered"


def _covers(draws, truth, prob=0.9) -> bool:
    lo, hi = np.quantile(np.asarray(draws), [(1 - prob) / 2, (1 + prob) / 2])
    return bool(lo <= truth <= hi)


@pytest.mark.slow
def test_partial_pooling_answers_per_group_and_for_a_new_group(partial_fit, tmp_path):
    fit = partial_fit
    # Per-group and population answers; the population is wider than any one group.
    one = fit.predict(N=1e9, D=2e10, group=SMALL)
    pop = fit.predict(N=1e9, D=2e10, group="population")
    assert (pop.loss_upper[0] - pop.loss_lower[0]) > (one.loss_upper[0] - one.loss_lower[0])
    assert fit.frontier(C=1e22, group="g0").shape == (1, 12)
    with pytest.raises(errors.ConfigError, match="unknown group"):
        fit.predict(N=1e9, D=2e10, group="nope")
    with pytest.raises(errors.ConfigError, match="pass group="):
        fit.frontier(C=1e22)
    path = tmp_path / "h.nc"
    fit.save(path)
    back = bs.load(path)
    assert back.pooling == "partial" and back.group_labels == fit.group_labels
    assert back.predict(N=1e9, D=2e10, group=SMALL).loss_median[0] == pytest.approx(one.loss_median[0])


@pytest.mark.slow
def test_small_group_borrows_strength(partial_fit):
    """The 8-run group fitted alone has wide exponent intervals; pooled with the other groups its 90%
    interval is at most as wide as the two sources of information combined by precision -- the alone fit's
    width w_a and the width w_p of the population's distribution for a new group (exp(mu + tau z)):
    1 / sqrt(1 / w_a**2 + 1 / w_p**2) -- and its median stays inside the alone fit's 90% interval
    (pooling adds the population's information; it does not overrule the group's own data). Without
    pooling the interval would be w_a, above that bound whatever the data.

    False-failure rate: the pooled median leaves the alone 90% interval only if the population pulls it
    by more than ~1.6 alone-sds (< 1% for groups drawn from the population).
    """
    data = bs.datasets.recipes(seed=DESIGN_SEEDS[0])
    small = data.subset(data.group == SMALL)
    alone = bs.fit(bs.ScalingData.from_arrays(N=small.N, D=small.D, loss=small.loss), seed=SEED, warn=False, **FAST)
    i = partial_fit.group_labels.index(SMALL)
    d = partial_fit.draws(("alpha", "mu_alpha", "tau_alpha"))
    pooled = d["alpha"][:, i]
    new_group = np.exp(d["mu_alpha"] + d["tau_alpha"] * np.random.default_rng(SEED).standard_normal(pooled.size))
    a_alone = alone.draws(("alpha",))["alpha"]
    lo, hi = np.quantile(a_alone, [0.05, 0.95])
    width = lambda x: float(np.subtract(*np.quantile(x, [0.95, 0.05])))  # noqa: E731
    bound = 1 / np.sqrt(1 / (hi - lo) ** 2 + 1 / width(new_group) ** 2)
    assert width(pooled) <= bound, (width(pooled), hi - lo, width(new_group))
    assert lo <= np.median(pooled) <= hi, (np.median(pooled), lo, hi)


@pytest.mark.slow
def test_no_pooling_has_no_population():
    fit = bs.fit(bs.datasets.recipes(seed=DESIGN_SEEDS[0]), pooling="none", seed=SEED, warn=False, **FAST)
    assert fit.idata.posterior["alpha"].dims == ("chain", "draw", "group")
    assert np.isfinite(fit.predict(N=1e9, D=2e10, group="g0").loss_median[0])
    with pytest.raises(errors.LawCapabilityError, match="no population"):
        fit.predict(N=1e9, D=2e10, group="population")
