"""Noise models: the Huber density is a proper, correctly sampled density; every likelihood fits and round-trips."""

import jax
import numpy as np
import pytest
from scipy import integrate, stats

import bayescale as bs
from bayescale import errors
from bayescale.model.huber import HuberLogResidual, huber_normaliser

from conftest import SEED


@pytest.mark.parametrize("delta", [1e-3, 0.1, 1.345])
@pytest.mark.parametrize("scale", [1e-5, 0.3])
def test_huber_density_integrates_to_one(delta, scale):
    """Trapezoid rule on the distribution's own (float32) log_prob over the core and 60 tail
    scales either side; the rule's error here is < 1e-6 and float32 rounding ~1e-6."""
    loc = 0.7 * scale  # exact in float32 relative to the grid
    d = HuberLogResidual(loc, scale, delta=delta)
    b = scale / delta  # tail scale
    core = np.linspace(-scale * delta, scale * delta, 2001)
    tail = np.linspace(scale * delta, scale * delta + 60 * max(b, scale), 400001)
    total = 0.0
    for u in (core, tail, -tail[::-1]):
        p = np.exp(np.asarray(d.log_prob(loc + u), dtype=np.float64))
        total += np.trapezoid(p, u)
    assert total == pytest.approx(1.0, abs=1e-4)


def test_huber_normaliser_closed_form():
    for delta in (1e-3, 0.5, 2.0):
        rho = lambda r: 0.5 * r * r if abs(r) <= delta else delta * (abs(r) - 0.5 * delta)
        numeric = 2 * (integrate.quad(lambda r: np.exp(-rho(r)), 0, delta)[0]
                       + integrate.quad(lambda r: np.exp(-rho(r)), delta, np.inf)[0])
        assert huber_normaliser(delta) == pytest.approx(numeric, rel=1e-8)


@pytest.mark.parametrize("delta", [1e-3, 1.0])
def test_huber_samples_follow_the_density(delta):
    """Kolmogorov-Smirnov test of 20,000 draws against the numerically integrated CDF; at level
    0.001 a correct sampler fails with probability 0.001 (fixed key: deterministic)."""
    d = HuberLogResidual(0.0, 1.0, delta=delta)
    y = np.asarray(d.sample(jax.random.PRNGKey(1), (20000,)), dtype=np.float64)
    z = huber_normaliser(delta)

    def cdf(x):
        x = np.asarray(x, dtype=np.float64)
        core = lambda t: np.sqrt(2 * np.pi) * (stats.norm.cdf(t) - 0.5) / z  # mass in [0, t] for 0 <= t <= delta
        tail = lambda t: np.sqrt(2 * np.pi) * (stats.norm.cdf(delta) - 0.5) / z + (
            np.exp(-0.5 * delta**2) - np.exp(-delta * (t - 0.5 * delta))) / (delta * z)
        a = np.abs(x)
        half = np.where(a <= delta, core(np.minimum(a, delta)), tail(np.maximum(a, delta)))
        return 0.5 + np.sign(x) * half

    assert stats.kstest(y, cdf).pvalue > 1e-3
    # The closed-form variance agrees with the draws (sd of the sample variance ~ 2.6% here; 6 sd).
    assert np.var(y) == pytest.approx(float(d.variance), rel=0.15)


def test_likelihood_validation():
    with pytest.raises(errors.ConfigError, match="unknown likelihood 'cauchy'"):
        bs.Likelihood("cauchy")
    with pytest.raises(errors.ConfigError, match="df=-1"):
        bs.Likelihood("student_t", df=-1)
    with pytest.raises(errors.ConfigError, match="'learn'"):
        bs.Likelihood("student_t", df="guess")
    with pytest.raises(errors.ConfigError, match="delta"):
        bs.Likelihood("huber", delta=0)
    with pytest.raises(errors.ConfigError, match="unknown likelihood"):
        bs.fit(bs.datasets.example(), likelihood="laplace")
    # A df prior only exists when df is learned.
    with pytest.raises(errors.PriorError, match="no parameter 'df'"):
        bs.fit(bs.datasets.example(), priors={"df": bs.Prior("Gamma", concentration=2.0, rate=0.1)})


def test_default_noise_priors():
    assert bs.default_priors(likelihood="huber")["sigma"] == bs.Prior("HalfNormal", scale=1e-4)
    assert "df" not in bs.default_priors(likelihood="student_t")
    assert bs.default_priors(likelihood=bs.Likelihood("student_t", df="learn"))["df"].dist == "Gamma"


def test_huber_fit_is_epochs_fit(huber_fit, tmp_path):
    """The Huber posterior sits where the Huber point fit of the example data does: its scale
    sigma/delta is the mean absolute log residual (the Laplace-scale MLE), and it round-trips."""
    assert huber_fit.converged, str(huber_fit.diagnostics)
    d = huber_fit.draws()
    logmu = np.log(np.asarray(bs.chinchilla_loss({k: np.median(d[k]) for k in ("E", "A", "B", "alpha", "beta")},
                                                 huber_fit.data.N, huber_fit.data.D)))
    mean_abs = np.mean(np.abs(np.log(huber_fit.data.loss) - logmu))
    # Posterior of b = sigma/delta has relative sd ~ 1/sqrt(n) = 7.5%; 20% is > 2.5 sd.
    assert np.median(d["sigma"]) / 1e-3 == pytest.approx(mean_abs, rel=0.2)
    path = tmp_path / "huber.nc"
    huber_fit.save(path)
    back = bs.load(path)
    assert back.likelihood == bs.Likelihood("huber")
    table = back.predict(N=1e9, D=2e10)
    assert table.pred_lower[0] < table.loss_median[0] < table.pred_upper[0]


def test_learned_df(learned_df_fit, tmp_path):
    fit = learned_df_fit
    assert "df" in fit.summary().index
    assert fit.idata.posterior["df"].shape == (4, 500)
    # The example's noise is Student-t with 5 df: the posterior of df puts most mass on small values.
    assert np.median(fit.draws(("df",))["df"]) < 30
    path = tmp_path / "t.nc"
    fit.save(path)
    back = bs.load(path)
    assert back.likelihood.learns_df
    assert np.isfinite(back.predict(N=1e9, D=2e10).pred_upper[0])


@pytest.mark.parametrize(
    "likelihood, law",
    [
        (bs.Likelihood("normal"), stats.norm()),
        (bs.Likelihood("student_t", df=4.0), stats.t(4.0)),
        (bs.Likelihood("huber", delta=0.5), None),
    ],
)
def test_standard_noise_has_the_likelihoods_law(likelihood, law):
    """Host-side unit noise of the posterior predictive: a KS test against the exact law (Normal,
    Student-t) or the Huber density's CDF by quadrature; 20,000 draws, seed fixed, p > 0.001."""
    draws = likelihood.standard_noise(np.random.default_rng(0), (20_000,))
    if law is None:
        # CDF by the trapezoid rule on a fine grid (the tails beyond +-40 hold < 1e-8 of the mass).
        grid = np.linspace(-40, 40, 400_001)
        pdf = np.exp(np.asarray(HuberLogResidual(0.0, 1.0, delta=0.5).log_prob(grid), dtype=np.float64))
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(grid))])
        law_cdf = lambda x: np.interp(x, grid, cdf)  # noqa: E731
    else:
        law_cdf = law.cdf
    assert stats.kstest(draws, law_cdf).pvalue > 1e-3


def test_predictive_draws_location_scale_and_learned_df():
    from bayescale.model.likelihoods import predictive_draws

    loc = np.full((2, 5000, 3), 1.5)
    scale = np.full((2, 5000), 0.1)  # per draw, no run axis: broadcast over runs
    df = np.full((2, 5000), 5.0)
    pp = predictive_draws(bs.Likelihood("student_t", df="learn"), {"loc": loc, "scale": scale, "df": df}, seed=SEED + 3)
    assert pp.shape == loc.shape and pp.dtype == np.float32
    # Student-t(5) has variance 5/3: the sd of 30,000 draws is within 5% of 0.1 * sqrt(5/3).
    assert abs(pp.mean() - 1.5) < 0.01
    assert abs(pp.std() / (0.1 * np.sqrt(5 / 3)) - 1) < 0.05
    again = predictive_draws(bs.Likelihood("student_t", df="learn"), {"loc": loc, "scale": scale, "df": df}, seed=SEED + 3)
    np.testing.assert_array_equal(pp, again)
    with pytest.raises(errors.ConfigError, match="learns df"):
        bs.Likelihood("student_t", df="learn").standard_noise(np.random.default_rng(0), (3,))


def test_noise_scales_unit_draws_per_sigma_draw():
    """``Likelihood.noise`` (the ``pred_*`` columns' observation noise): one row per draw of sigma and df, drawn
    with NumPy (no JAX program). Rows with sigma 0.1 and 0.2, df 5 and 50, 20,000 draws each: every row's sd
    within 5% of sigma * sqrt(df / (df - 2)). A Student-t(5) sample sd strays that far in 2 of 4,000 simulated
    rows (heavy tails; df 50: never): false-failure rate about 1e-3 for the four rows."""
    sigma, df = np.array([0.1, 0.2, 0.1, 0.2]), np.array([5.0, 5.0, 50.0, 50.0])
    draws = bs.Likelihood("student_t", df="learn").noise(SEED, sigma, (20_000,), df=df)
    assert draws.shape == (4, 20_000) and draws.dtype == np.float64
    want = sigma * np.sqrt(df / (df - 2.0))
    np.testing.assert_allclose(draws.std(axis=1), want, rtol=0.05)
    np.testing.assert_array_equal(draws, bs.Likelihood("student_t", df="learn").noise(SEED, sigma, (20_000,), df=df))
    normal = bs.Likelihood("normal").noise(SEED, sigma[:2], (3, 4))
    assert normal.shape == (2, 3, 4)
