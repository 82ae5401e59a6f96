"""Laws: recovery from data simulated from each, user-defined laws, what each law can answer, frontiers."""

import jax.numpy as jnp
import numpy as np
import pytest

import bayescale as bs
from bayescale import errors
from bayescale.model.law_registry import chinchilla_frontier
from bayescale.model.frontier import numerical_frontier
from bayescale.model.law_registry import CHINCHILLA, KAPLAN

from conftest import SEED, FAST
from lawsim import TRUTH, simulate

SCALE_PARAMS = {"A", "B", "N_c", "D_c", "x_b"}  # compared on the log scale


def check_recovery(fit, truth):
    """Each parameter's posterior median within 3 posterior sds of the truth (log scale for
    scale parameters): for a calibrated, near-normal posterior a check fails with probability
    0.3%, and the seeds are fixed."""
    assert fit.converged, str(fit.diagnostics)
    draws = fit.draws()
    for name, value in truth.items():
        d = np.asarray(draws[name], dtype=np.float64)
        if name in SCALE_PARAMS:
            d, value = np.log(d), np.log(value)
        z = (np.median(d) - value) / np.std(d)
        assert abs(z) < 3, f"{name}: median {np.median(d):.4g} is {z:.1f} sd from the truth {value:.4g}"


def test_registry_lists_laws():
    assert {"chinchilla", "power_law", "kaplan", "data_constrained", "broken_power_law"} <= set(bs.LAWS)
    for law in bs.LAWS.values():
        assert set(law.sampled_names) <= set(law.default_priors)
        assert law.has_frontier == (law.covariates == ("N", "D"))
    with pytest.raises(errors.ConfigError, match="unknown law 'chinchila'.*custom_law"):
        bs.fit(bs.datasets.example(), law="chinchila")


def test_power_law_recovery_and_capabilities(tmp_path):
    data = simulate("power_law", seed=SEED)
    fit = bs.fit(data, law="power_law", seed=SEED, **FAST)
    check_recovery(fit, TRUTH["power_law"])
    # A one-variable law in C answers predict from C alone (or two of N, D, C) ...
    by_c = fit.predict(C=1e22)
    by_nd = fit.predict(N=1e9, D=1e22 / 6e9)
    assert by_c.loss_median[0] == pytest.approx(by_nd.loss_median[0], rel=1e-6)
    # The truth inside the 99.7% interval (3 sd, as check_recovery): a calibrated interval misses it at 0.3% of
    # seeds (the 90% one missed by 0.0004 at BAYESCALE_TEST_SEED=4, as it will at 1 seed in 10). With the three
    # 3-sd parameter checks, the test fails falsely at about 1.2% of seeds.
    truth, wide = TRUTH["power_law"], fit.predict(C=1e22, prob=0.997)
    assert wide.loss_lower[0] < truth["E"] + truth["A"] * 1e22 ** -truth["alpha"] < wide.loss_upper[0]
    # ... but not from N alone, and it has no compute-optimal frontier.
    with pytest.raises(errors.ConfigError, match="needs C"):
        fit.predict(N=1e9)
    with pytest.raises(errors.LawCapabilityError, match="no compute-optimal frontier"):
        fit.frontier(C=1e22)
    path = tmp_path / "pl.nc"
    fit.save(path)
    back = bs.load(path)
    assert back.law is bs.LAWS["power_law"]
    assert back.predict(C=1e22).loss_median[0] == pytest.approx(by_c.loss_median[0])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["kaplan", "data_constrained", "broken_power_law"])
def test_law_recovery(name):
    # target_accept 0.9 for the broken power law: its break gave 1 divergence in 2000 draws at 0.8.
    fit = bs.fit(simulate(name, seed=SEED), law=name, seed=SEED, **{**FAST, "target_accept": 0.9 if name == "broken_power_law" else 0.8})
    check_recovery(fit, TRUTH[name])
    if name == "kaplan":
        f = fit.frontier(C=[1e21, 1e23])
        assert np.all(f.N_opt_lower < f.N_opt_median) and np.all(f.N_opt_median < f.N_opt_upper)


def test_data_constrained_needs_unique_tokens():
    data = bs.datasets.example()
    with pytest.raises(errors.MissingColumnError, match="'U'"):
        bs.fit(data, law="data_constrained")
    with pytest.raises(errors.UniqueTokensError, match="exceeds"):
        bs.ScalingData.from_arrays(N=data.N, D=data.D, loss=data.loss, U=data.D * 1.5)
    d = simulate("data_constrained")
    assert d.U is not None and np.all(d.U <= d.D)
    assert d.subset(np.arange(10)).U.shape == (10,)


def test_kaplan_numerical_frontier_matches_closed_form():
    """Without a floor, minimising Kaplan's L along 6ND = C minimises (N_c/N)^r + D_c N / (C/6),
    r = alpha_N/alpha_D, so N_opt = (r N_c^r (C/6) / D_c)^(1/(r+1))."""
    rng = np.random.default_rng(0)
    p = {k: v * np.exp(0.1 * rng.standard_normal(50)) for k, v in TRUTH["kaplan"].items()}
    C = np.array([1e19, 1e22, 1e25])
    num = numerical_frontier(KAPLAN.log_loss, p, C)
    r = (p["alpha_N"] / p["alpha_D"])[:, None]
    exact = np.exp((np.log(r) + r * np.log(p["N_c"])[:, None] + np.log(C / 6) - np.log(p["D_c"])[:, None]) / (r + 1))
    # float32 bisection: log N to ~1e-6, so N_opt to 1e-4 relative.
    np.testing.assert_allclose(np.asarray(num["N_opt"]), exact, rtol=1e-4)


def test_chinchilla_numerical_frontier_matches_closed_form(example_fit):
    p = {k: jnp.asarray(v) for k, v in example_fit.draws(CHINCHILLA.param_names).items()}
    C = jnp.asarray([1e20, 5.88e23])
    closed = chinchilla_frontier(p, C)
    num = numerical_frontier(CHINCHILLA.log_loss, p, C)
    for k in ("N_opt", "D_opt", "loss"):
        np.testing.assert_allclose(np.asarray(num[k]), np.asarray(closed[k]), rtol=2e-4)


def shared_exponent_law():
    """A law bayescale does not ship: one exponent for N and D, centred by the user at 1e9 and 1e10."""
    return bs.custom_law(
        lambda p, x: p["E"] + p["A9"] * (x["N"] / 1e9) ** -p["alpha"] + p["B10"] * (x["D"] / 1e10) ** -p["alpha"],
        priors={
            "E": bs.Prior("LogNormal", loc=0.0, scale=1.0),
            "A9": bs.Prior("LogNormal", loc=-1.0, scale=1.5),
            "B10": bs.Prior("LogNormal", loc=-1.0, scale=1.5),
            "alpha": bs.Prior("LogNormal", loc=-1.2, scale=0.75),
        },
        name="shared_exponent",
        formula="E + A9 (N/1e9)^-alpha + B10 (D/1e10)^-alpha",
    )


def test_user_defined_law(tmp_path):
    law = shared_exponent_law()
    truth = dict(E=1.8, A9=0.35, B10=0.45, alpha=0.33)
    base = bs.datasets.example()
    clean = truth["E"] + truth["A9"] * (base.N / 1e9) ** -truth["alpha"] + truth["B10"] * (base.D / 1e10) ** -truth["alpha"]
    rng = np.random.default_rng(5)
    data = bs.ScalingData.from_arrays(N=base.N, D=base.D, loss=clean * np.exp(0.01 * rng.standard_normal(base.n)))
    fit = bs.fit(data, law=law, seed=SEED, **FAST)
    check_recovery(fit, truth)
    # Its frontier is numerical; with one exponent, D_opt / N_opt = (B' / A')^(1/alpha) per draw
    # (A' = A9 1e9^alpha, B' = B10 1e10^alpha).
    d = fit.draws()
    f = fit.frontier_draws([1e21])
    ratio = ((d["B10"] * 1e10 ** d["alpha"]) / (d["A9"] * 1e9 ** d["alpha"])) ** (1 / d["alpha"])
    np.testing.assert_allclose(f["tokens_per_param"][:, 0], ratio, rtol=5e-4)
    path = tmp_path / "custom.nc"
    fit.save(path)
    with pytest.raises(errors.FileFormatError, match="load\\(path, law=...\\)"):
        bs.load(path)
    back = bs.load(path, law=law)
    assert back.predict(N=1e9, D=2e10).loss_median[0] == pytest.approx(fit.predict(N=1e9, D=2e10).loss_median[0])


def test_custom_law_validation():
    with pytest.raises(errors.ConfigError, match="needs a function"):
        bs.custom_law(None, priors={"E": bs.Prior("LogNormal", loc=0.0, scale=1.0)})
    with pytest.raises(errors.ConfigError, match="bayescale.Prior"):
        bs.custom_law(lambda p, x: p["E"], priors={"E": 1.0})
    with pytest.raises(errors.ConfigError, match="covariates"):
        bs.custom_law(lambda p, x: p["E"], priors={"E": bs.Prior("LogNormal", loc=0.0, scale=1.0)}, covariates=("T",))
