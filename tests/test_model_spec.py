"""The model spec (ScalingModel), the likelihood classes, and the bugs the old scatter caused.

Each ``test_*_bug`` failed before the redesign (one model object) and passes now; the docstring
says how it failed.
"""

import warnings

import numpy as np
import pytest

import bayescale as bs
from bayescale import cli, errors
from bayescale.analyses.simulation import simulate, simulation_key

from conftest import SEED, FAST


# ----------------------------------------------------------------- the spec
def test_every_built_in_prior_passes_the_check_a_users_prior_gets():
    """bayescale's own priors are made without the check (``Prior._builtin``: checking imports NumPyro, which a
    process that loads its compiled programs never needs); each passes it, and has the support its site needs."""
    import bayescale.model.corpus_prior  # noqa: F401 - each module's priors are made at import
    import bayescale.model.downstream  # noqa: F401
    import bayescale.model.links  # noqa: F401
    from bayescale.model.priors import BUILTIN

    for law in bs.LAWS.values():
        law.default_priors, [law.spread_prior(k) for k in law.sampled_names]
    bs.laws.power_law("N"), bs.laws.broken_power_law("N")
    assert len(BUILTIN) >= 20, sorted(BUILTIN)
    for prior in BUILTIN.values():
        assert bs.Prior(prior.dist, **prior.params) == prior
    for law in bs.LAWS.values():
        assert all(law.default_priors[k].positive for k in law.positive if k in law.default_priors), law.name


def test_spec_resolves_every_prior_once():
    m = bs.ScalingModel("chinchilla", likelihood=bs.Likelihood("student_t", df="learn"), pooling="partial")
    assert m.priors["df"] == bs.Prior("Gamma", concentration=2.0, rate=0.1)
    assert m.priors["tau_alpha"] == bs.Prior("HalfNormal", scale=0.2)
    assert m.priors["sigma"] == bs.Prior("HalfNormal", scale=0.1)
    assert bs.ScalingModel(likelihood="huber").priors["sigma"] == bs.Prior("HalfNormal", scale=1e-4)
    with pytest.raises(errors.PriorError, match="no parameter 'gamma'"):
        bs.ScalingModel(priors={"gamma": bs.Prior("Normal", loc=0.0, scale=1.0)})
    with pytest.raises(errors.PriorError, match="sigma must be positive"):
        bs.ScalingModel(priors={"sigma": bs.Prior("Normal", loc=0.0, scale=1.0)})
    assert bs.ScalingModel() == bs.ScalingModel("chinchilla", "student_t", "complete")
    assert bs.ScalingModel().cache_key != bs.ScalingModel(likelihood="normal").cache_key


def test_fit_takes_the_spec_or_the_shortcuts_not_both(example_data, example_fit):
    with pytest.raises(errors.ConfigError, match="either model=ScalingModel"):
        bs.fit(example_data, model=bs.ScalingModel(), likelihood="normal")
    again = bs.fit(example_data, model=bs.ScalingModel(), seed=SEED, **FAST)
    # Same model, same seed, same compiled program: the same draws as the keyword form.
    np.testing.assert_array_equal(again.idata.posterior["alpha"], example_fit.idata.posterior["alpha"])
    assert again.model == example_fit.model


def test_likelihood_classes_by_name_and_class():
    assert bs.Likelihood("student_t", df="learn") == bs.StudentT(df="learn")
    assert isinstance(bs.Likelihood("huber", delta=0.01), bs.Huber)
    with pytest.raises(errors.ConfigError, match="takes \\[\\] not|takes no settings, not \\['df'\\]"):
        bs.Likelihood("normal", df=3)
    # Old files stored every setting of every likelihood; they still load.
    assert bs.Likelihood.from_dict({"kind": "normal", "df": 4.0, "delta": 0.001}) == bs.Normal()
    # Gaussian-equivalent variance: Huber's is about 1/delta^2 (its scale is sigma/delta).
    assert bs.Normal().gaussian_variance() == 1.0
    assert bs.StudentT(df=4.0).gaussian_variance() == pytest.approx(7 / 5)
    assert bs.Huber(delta=1e-3).gaussian_variance() == pytest.approx(1e6, rel=1e-3)
    z = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(np.exp(bs.Normal().unit_logpdf(z)), np.exp(-z**2 / 2) / np.sqrt(2 * np.pi), rtol=1e-12)


# ----------------------------------------------------------------- the bugs
def test_calibration_simulates_the_fitted_huber_model_bug():
    """calibration(likelihood="huber") simulated sigma from HalfNormal(0.1) but fitted HalfNormal(1e-4):
    the data came from another model than the one fitted."""
    model = bs.ScalingModel(likelihood="huber")
    sim = simulate(model, bs.datasets.example(), None, 500, simulation_key(SEED))
    # HalfNormal(1e-4): P(sigma > 5e-4) = P(|z| > 5) = 6e-7 per draw (before: ~99% of draws above it).
    assert np.all(sim["sigma"] < 5e-4)


def test_calibration_with_learned_df_bug():
    """calibration(likelihood=StudentT(df="learn")) raised KeyError: 'df' (no prior for df in the simulation)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.ConvergenceWarning)  # 2 prior-drawn truths at FAST: bookkeeping only
        cal = bs.calibration(M=2, likelihood=bs.Likelihood("student_t", df="learn"), seed=SEED, until_converged=0,
                             refit_divergent=(), **FAST)
    assert "df" in cal.truths and np.all(cal.truths["df"] > 0)
    assert cal.model.priors["df"] == bs.Prior("Gamma", concentration=2.0, rate=0.1)
    assert "df" in cal.ranks


def test_prob_better_uses_the_huber_noise_bug(huber_fit):
    """Noise draws for a Huber fit were Student-t(4) times sigma (~1e-5): 1000x too small, so two runs
    1% apart in N looked certain to differ. The Huber noise (scale sigma/delta ~ 1%) makes it a coin flip.
    Expected ~0.51 with Monte Carlo sd ~0.01 over 2,000 draws; the bound 0.7 is > 15 sd away."""
    N, D = 1e9, 2e10
    assert bs.prob_better(huber_fit, 1.01 * N, D, N, D) == 1.0  # the law alone: more parameters are better
    assert bs.prob_better(huber_fit, 1.01 * N, D, N, D, noise=True, seed=SEED) < 0.7


def test_learned_df_noise_in_decisions_planning_plots_bug(learned_df_fit):
    """With df="learn", decisions, planning and plots passed the string 'learn' to numpy's Student-t."""
    p = bs.prob_better(learned_df_fit, 2e9, 4e10, 1e9, 4e10, noise=True, seed=SEED)
    assert 0.5 < p <= 1.0
    t = bs.plan(learned_df_fit, target_compute=1e24, budget=1e21, num_sims=16)
    assert np.all(np.isfinite(t.expected_after))
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    ax = bs.plots.plot_residuals(learned_df_fit, ax=Figure().add_subplot())
    assert ax.get_xlabel() == "fitted loss (posterior median)"


def test_backtest_with_learned_df_bug(example_data):
    """backtest built the observation distribution without df: ConfigError for a learned-df fit."""
    bt = bs.backtest(example_data, cutoff=1e21, likelihood=bs.Likelihood("student_t", df="learn"), seed=SEED, **FAST)
    assert np.all(np.isfinite(bt.points.lpd)) and bt.table.n_test.iloc[0] == 40


def test_cli_backtest_accepts_every_likelihood_bug():
    """The backtest command declared its own sampler flags and left out huber (argparse refused it)."""
    args = cli._parser().parse_args(["backtest", "runs.csv", "--cutoff", "1e21", "--likelihood", "huber"])
    assert args.likelihood == "huber"
    fit_args = cli._parser().parse_args(["fit", "runs.csv", "--likelihood", "huber"])
    assert {k for k in vars(args) if k not in ("csv", "cutoff", "by", "points", "method", "N", "D", "C", "loss", "command")} \
        <= set(vars(fit_args))
