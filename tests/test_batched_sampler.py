"""``fit_many(method="chees")``: pooled ChEES-HMC over datasets (bayescale/inference/chees.py).

Same shapes as tests/test_batch.py (2 datasets of the example's 180 rows, 4 x (500 + 500)),
so the ChEES program compiles once for this file.
"""

import arviz as az
import numpy as np
import pytest

import bayescale as bs
from bayescale import errors
from bayescale.fitting.batch_chees import pools
from bayescale.inference.nuts import TRACE_COUNTS
from bayescale.model.spec import padded_runs

from conftest import SEED, FAST

# ArviZ 0.23's numba path of mcse(method='sd') raises TypeError under numba 0.65 (not a dependency of
# bayescale; nutpie, a benchmark peer, installs it): these comparisons use ArviZ's NumPy path.
az.Numba.disable_numba()

LAW_PARAMS = ("E", "A", "B", "alpha", "beta")
#: Monte-Carlo tolerance: posterior means and standard deviations of the two samplers agree within
#: this many combined Monte-Carlo standard errors (ArviZ's ``mcse``, from each fit's own ESS).
MC_SIGMAS = 4.5


@pytest.fixture(scope="module")
def other_data(example_data):
    return bs.ScalingData.from_arrays(N=example_data.N * 1.5, D=example_data.D, loss=example_data.loss * 1.01)


@pytest.fixture(scope="module")
def chees_fits(example_data, other_data):
    return bs.fit_many([example_data, other_data], seed=SEED, method="chees", **FAST)


def test_chees_agrees_with_nuts(chees_fits, example_fit):
    """The ChEES posterior of a dataset is bs.fit's (NUTS) within Monte-Carlo error: means and sds of
    every law parameter and sigma."""
    a, b = chees_fits[0].idata.posterior, example_fit.idata.posterior
    for k in LAW_PARAMS + ("sigma",):
        for stat, f in (("mean", np.mean), ("sd", np.std)):
            se = np.hypot(float(az.mcse(a, var_names=[k], method=stat)[k]), float(az.mcse(b, var_names=[k], method=stat)[k]))
            diff = abs(float(f(a[k].values)) - float(f(b[k].values)))
            assert diff <= MC_SIGMAS * se, f"{k} {stat}: ChEES vs NUTS differ by {diff:.3g} > {MC_SIGMAS} x {se:.3g}"


def test_chees_fits_keep_per_dataset_diagnostics(chees_fits, example_fit):
    assert len(chees_fits) == 2
    for f, seed in zip(chees_fits, (SEED, SEED + 1)):
        assert isinstance(f, bs.ScalingFit) and f.seed == seed
        assert set(f.idata.groups()) == set(example_fit.idata.groups())
        assert f.idata.sample_stats.attrs["sampler"] == "chees"
        assert f.idata.sample_stats["diverging"].shape[0] == 4
        assert f.idata.posterior["alpha"].shape[0] == 4
        assert f.idata.posterior["alpha"].shape[1] == 500 + f.extra_draws_per_chain
        d = f.diagnostics
        assert set(d.ess_bulk) >= set(LAW_PARAMS) and set(d.rhat) >= set(LAW_PARAMS)
        assert d.n_divergent == int(f.idata.sample_stats["diverging"].sum())
        assert f.converged, str(d)
    # Each dataset has its own posterior (N scaled by 1.5 multiplies A by 1.5**alpha ~ 1.15).
    assert np.median(chees_fits[1].draws()["A"]) > 1.08 * np.median(chees_fits[0].draws()["A"])


def test_chees_same_shape_does_not_retrace(chees_fits, example_data, other_data):
    before = sum(TRACE_COUNTS.values())
    again = bs.fit_many([other_data, example_data], seed=[5, 6], method="chees", until_converged=0, **FAST)
    assert sum(TRACE_COUNTS.values()) == before
    assert [f.seed for f in again] == [5, 6]


def test_bad_methods_raise_before_compiling(example_data):
    before = sum(TRACE_COUNTS.values())
    with pytest.raises(errors.ConfigError, match=r"method must be one of \('auto', 'nuts', 'chees'\), got 'ChEES-HMC'"):
        bs.fit_many([example_data], method="ChEES-HMC", **FAST)
    with pytest.raises(errors.ConfigError, match="dense_mass must be True"):
        bs.fit_many([example_data], method="chees", dense_mass=False, **FAST)
    with pytest.raises(errors.ConfigError, match="target_accept"):
        bs.fit_many([example_data], method="chees", target_accept=1.5, **FAST)
    with pytest.raises(errors.ConfigError, match="until_converged"):
        bs.fit_many([example_data], method="chees", until_converged=-1, **FAST)
    with pytest.raises(errors.ConfigError, match="error models without learned scales"):
        bs.fit_many([example_data], method="chees", model=bs.ScalingModel(error_model="offsets"), **FAST)
    assert sum(TRACE_COUNTS.values()) == before


def test_pools_split_evenly():
    from bayescale.fitting.batch_chees import MAX_POOL

    for k in (1, 2, 3, 16, 17, 20, 64, 255, 256):
        for devices in (1, 2, 4):
            size, n = pools(k, devices)
            assert size <= MAX_POOL and size * n >= k and size * (n - 1) < k


def test_chees_extends_then_flags_unconverged_fits(chees_fits, example_data, other_data, monkeypatch):
    """A fit failing the ESS check has its chains continued (``until_converged`` rounds); one still failing
    is returned flagged and counted in the warning, never dropped. (The check is made unpassable here.)"""
    from bayescale.posterior import diagnostics

    monkeypatch.setattr(diagnostics, "ESS_MIN", 10**9)
    with pytest.warns(errors.ConvergenceWarning, match="2 of 2 fits did not converge"):
        fits = bs.fit_many([example_data, other_data], seed=SEED, method="chees", until_converged=1, **FAST)
    for f, first in zip(fits, chees_fits):
        assert not f.converged and "bulk ESS below" in " ".join(f.diagnostics.problems)
        assert f.extra_draws_per_chain == 500 and f.idata.posterior["alpha"].shape == (4, 1000)
        # The same chains, continued: the first 500 draws are those of the unextended fit.
        if first.extra_draws_per_chain == 0:
            np.testing.assert_array_equal(f.idata.posterior["alpha"].values[:, :500], first.idata.posterior["alpha"].values)


def test_auto_refits_unconverged_chees_fits_with_nuts(chees_fits, example_data, other_data, monkeypatch):
    """``method="auto"`` picks ChEES for two datasets; a ChEES fit failing its checks after its extensions is
    refitted alone by NUTS, exactly as ``bs.fit`` fits it (same seed, same draws), the ChEES fit named in
    ``refits``; ``method="chees"`` keeps ChEES's (test above). Deterministic: the ESS check is made unpassable."""
    from bayescale.posterior import diagnostics

    monkeypatch.setattr(diagnostics, "ESS_MIN", 10**9)
    with pytest.warns(errors.ConvergenceWarning, match="ChEES did not converge .*refitted with NUTS"):
        fits = bs.fit_many([example_data, other_data], seed=SEED, until_converged=0, **FAST)
    alone = bs.fit(other_data, seed=SEED + 1, until_converged=0, warn=False, **FAST)
    for f in fits:
        assert f.sampler == "nuts" and [r["sampler"] for r in f.refits] == ["chees"] and not f.converged
    np.testing.assert_array_equal(fits[1].idata.posterior["alpha"].values, alone.idata.posterior["alpha"].values)

def test_chees_pointwise_values_are_the_samplers(chees_fits, example_fit):
    """ChEES fits compute their pointwise log-likelihood when their InferenceData is first read, not while
    sampling (bayescale/inference/pointwise.py). Applied to a NUTS fit's draws, that computation gives the
    values NUTS's own program returned (to float32 rounding: the location, log loss ~1, differs by a few
    ulps, ~1e-7, between the two compiled programs, times d loglik / d loc <= ~1/sigma ~ 100-300 here, so an
    absolute 2e-4), and a ChEES fit's PSIS-LOO matches
    the NUTS fit's of the same data. Tolerance: elpd_loo's Monte-Carlo error from 2,000 draws of 180
    points is ~0.1 nat; 1 nat is ~10 of them (deterministic given the draws: no false-failure rate beyond
    that of the two posteriors agreeing, as in test_chees_agrees_with_nuts)."""
    from bayescale.inference.pointwise import pointwise
    from bayescale.model.program import OBS

    fit = example_fit
    args, _ = fit.model.args(fit.data, fit.ref)
    draws = {k: v.values for k, v in fit.idata.posterior.data_vars.items()}
    loglik, pp = pointwise(fit.model.program(None), OBS, (fit.model.cache_key, None), args, draws)
    # The program's arrays are padded to a shared length (ScalingModel.args); the padding is masked out.
    n = fit.data.n
    assert loglik.shape[-1] == padded_runs(n) > n and np.all(loglik[..., n:] == 0.0)
    loglik, loc = loglik[..., :n], pp["loc"][..., :n]
    np.testing.assert_allclose(loglik, fit.idata.log_likelihood[OBS].values, rtol=0, atol=2e-4)
    assert loc.shape == loglik.shape
    # The predictive draws scatter around that location with the noise's scale.
    scale = np.asarray(pp["scale"])
    resid = (fit.idata.posterior_predictive[OBS].values - loc) / scale.reshape(scale.shape[:2] + (-1,))
    assert abs(float(np.median(resid))) < 0.05

    ch = chees_fits[0]
    assert ch.idata.log_likelihood[OBS].shape == (4, 500 + ch.extra_draws_per_chain, fit.data.n)
    a, b = bs.loo(ch), bs.loo(fit)
    assert abs(a["elpd_loo"] - b["elpd_loo"]) < 1.0, (a, b)
    # Without them: the same compiled sampler (nothing traced), no per-point groups.
    before = sum(TRACE_COUNTS.values())
    # (Not extended, so not always converged at this budget: its convergence is not what this checks.)
    none = bs.fit_many([fit.data, fit.data], seed=SEED, method="chees", pointwise=False, until_converged=0, warn=False,
                       **FAST)[0]
    assert sum(TRACE_COUNTS.values()) == before
    assert "log_likelihood" not in none.idata.groups() and "posterior_predictive" not in none.idata.groups()
