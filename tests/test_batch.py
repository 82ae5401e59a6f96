"""Many fits at once (fit_many, bootstrap), vectorised diagnostics and the compilation cache.

Every batched fit here has the shape of the doctests in bayescale/batch.py (2 datasets of the
built-in example's 180 rows, 4 x (500 + 500)), so the batched program compiles once per session.
"""

import os

import jax
import numpy as np
import pytest

import bayescale as bs
from bayescale import errors
from bayescale.posterior import idata as _idata
from bayescale.inference.nuts import TRACE_COUNTS

from conftest import SEED, FAST

LAW_PARAMS = ("E", "A", "B", "alpha", "beta")


@pytest.fixture(scope="module")
def other_data(example_data):
    """Same design as the example, other losses (so the batch holds two different posteriors)."""
    return bs.ScalingData.from_arrays(N=example_data.N * 1.5, D=example_data.D, loss=example_data.loss * 1.01)


@pytest.fixture(scope="module")
def batch_fits(example_data, other_data):
    return bs.fit_many([example_data, other_data], seed=SEED, method="nuts", **FAST)  # draws == a loop of fit


def test_fit_many_returns_ordinary_fits(batch_fits, example_fit):
    assert len(batch_fits) == 2
    for f, seed in zip(batch_fits, (SEED, SEED + 1)):
        assert isinstance(f, bs.ScalingFit) and f.seed == seed
        assert set(f.idata.groups()) == set(example_fit.idata.groups())
        assert f.idata.posterior["alpha"].shape == (4, 500)
        assert f.idata.log_likelihood["log_loss"].shape == (4, 500, 180)
        assert f.converged, str(f.diagnostics)
        assert f.frontier(C=1e21).shape == (1, 12)


def test_batch_equals_loop(batch_fits, example_fit, example_data, other_data):
    """fit_many(ds, seed=s)[i] runs the very computation of fit(ds[i], seed=s + i) (the single-fit program
    mapped over datasets inside one compiled call), so the draws are identical, not merely equivalent."""
    loop = [example_fit, bs.fit(other_data, seed=SEED + 1, **FAST)]
    for b, l in zip(batch_fits, loop):
        for k in LAW_PARAMS + ("sigma",):
            np.testing.assert_array_equal(b.idata.posterior[k], l.idata.posterior[k])
        np.testing.assert_array_equal(b.idata.sample_stats["n_steps"], l.idata.sample_stats["n_steps"])
        np.testing.assert_array_equal(b.idata.posterior_predictive["log_loss"], l.idata.posterior_predictive["log_loss"])
        assert b.diagnostics == l.diagnostics
    # The two datasets really are different posteriors: fits are not mixed up across the batch.
    # (N scaled by 1.5 multiplies A by 1.5**alpha ~ 1.15.)
    assert np.median(batch_fits[1].draws()["A"]) > 1.08 * np.median(batch_fits[0].draws()["A"])


def test_same_shape_batch_does_not_retrace(batch_fits, example_data, other_data):
    # Neither extended nor refitted: a fit that needs more draws compiles the extender (a program of its own, not
    # a retrace of the batch's), which at some seeds one of these fits does.
    once = dict(method="nuts", until_converged=0, refit_divergent=(), warn=False, **FAST)
    bs.fit_many([example_data, other_data], seed=[3, 4], **once)  # compiled again if dropped since (MAX_RUNNERS)
    before = sum(TRACE_COUNTS.values())
    again = bs.fit_many([other_data, example_data], seed=[5, 6], **once)
    assert sum(TRACE_COUNTS.values()) == before
    assert [f.seed for f in again] == [5, 6]


def test_lengths_of_one_padded_size_share_the_program(batch_fits, example_data, example_fit):
    """180 and 170 runs are both padded to 192 (ScalingModel.args, masked): the batch reuses batch_fits'
    program, each fit keeps its own runs, and the 170-run fit is bs.fit's (the same computation)."""
    trimmed = example_data.subset(np.arange(170))
    before = sum(TRACE_COUNTS.values())
    fits = bs.fit_many([example_data, trimmed], seed=SEED, method="nuts", **FAST)
    alone = bs.fit(trimmed, seed=SEED + 1, **FAST)
    assert sum(TRACE_COUNTS.values()) == before
    assert [f.idata.log_likelihood["log_loss"].shape[-1] for f in fits] == [180, 170]
    assert fits[1].idata.observed_data["log_loss"].shape == (170,)
    for k in LAW_PARAMS + ("sigma",):
        np.testing.assert_array_equal(fits[0].idata.posterior[k], example_fit.idata.posterior[k])
        np.testing.assert_array_equal(fits[1].idata.posterior[k], alone.idata.posterior[k])
    np.testing.assert_array_equal(fits[1].idata.log_likelihood["log_loss"], alone.idata.log_likelihood["log_loss"])


def test_one_dataset_is_bs_fit(example_data, example_fit):
    """fit_many of one dataset (and so a backtest's lone cutoff) runs bs.fit's own program: nothing traced, the same
    draws bit for bit (deterministic: the example_fit fixture compiled that program)."""
    before = sum(TRACE_COUNTS.values())
    (one,) = bs.fit_many([example_data], seed=SEED, **FAST)  # method="auto": NUTS for one dataset
    assert sum(TRACE_COUNTS.values()) == before
    assert one.sampler == example_fit.sampler
    for k in LAW_PARAMS + ("sigma",):
        np.testing.assert_array_equal(one.idata.posterior[k], example_fit.idata.posterior[k])
    assert one.diagnostics == example_fit.diagnostics


def test_vectorised_diagnostics_match_arviz_per_fit(batch_fits):
    for f in batch_fits:
        ess, rhat = _idata.ess_rhat(f.idata, list(LAW_PARAMS))
        for k in LAW_PARAMS:
            assert f.diagnostics.ess_bulk[k] == pytest.approx(ess[k], rel=1e-9)
            assert f.diagnostics.rhat[k] == pytest.approx(rhat[k], rel=1e-9)


def test_fit_many_errors_before_compiling(example_data):
    before = sum(TRACE_COUNTS.values())
    short = example_data.subset(np.arange(100))
    with pytest.raises(errors.BatchError, match=r"one compiled size.*\[128, 192\].*datasets\[0\] has 180 rows and "
                                                r"datasets\[1\] has 100"):
        bs.fit_many([example_data, short], **FAST)
    with pytest.raises(errors.BatchError, match="no datasets"):
        bs.fit_many([], **FAST)
    with pytest.raises(errors.BatchError, match="sequence of ScalingData"):
        bs.fit_many(example_data, **FAST)
    with pytest.raises(errors.BatchError, match=r"datasets\[1\] is a dict"):
        bs.fit_many([example_data, {"N": 1}], **FAST)
    with pytest.raises(errors.ConfigError, match="seed has 3 entries for 2 datasets"):
        bs.fit_many([example_data, example_data], seed=[0, 1, 2], **FAST)
    with pytest.raises(errors.ConfigError, match="num_warmup"):
        bs.fit_many([example_data], num_warmup=-1)
    with pytest.raises(errors.ConfigError, match="n_resamples must be a positive integer"):
        bs.bootstrap(example_data, 0)
    assert isinstance(errors.BatchError("x"), ValueError)
    assert sum(TRACE_COUNTS.values()) == before


def test_bootstrap_resamples_rows(example_data):
    fits = bs.bootstrap(example_data, 2, seed=SEED + 3, **FAST)
    idx = bs.batch.bootstrap_indices(example_data.n, 2, seed=SEED + 3)
    assert [f.seed for f in fits] == [SEED + 3, SEED + 4]
    for f, rows in zip(fits, idx):
        np.testing.assert_array_equal(f.data.loss, example_data.loss[rows])
        np.testing.assert_array_equal(f.data.N, example_data.N[rows])
        assert len(np.unique(rows)) < example_data.n  # with replacement: some rows repeat
    # Deterministic resampling for a seed; different seeds, different resamples.
    np.testing.assert_array_equal(idx, bs.batch.bootstrap_indices(example_data.n, 2, seed=SEED + 3))
    assert not np.array_equal(idx, bs.batch.bootstrap_indices(example_data.n, 2, seed=SEED + 4))


def test_compile_cache_settings(tmp_path, monkeypatch):
    before = jax.config.jax_compilation_cache_dir
    try:
        target = tmp_path / "jaxcache"
        assert bs.enable_compile_cache(target) == os.fspath(target)
        assert bs.compile_cache_dir() == os.fspath(target) and target.is_dir()
        # The opt-out leaves JAX's configuration alone.
        monkeypatch.setenv(bs.compile_cache.NO_CACHE_ENV, "1")
        assert bs.compile_cache._enable_on_import() is None
        assert bs.compile_cache_dir() == os.fspath(target)
        # The environment variable picks the directory.
        monkeypatch.delenv(bs.compile_cache.NO_CACHE_ENV)
        monkeypatch.setenv(bs.compile_cache.CACHE_DIR_ENV, os.fspath(tmp_path / "other"))
        assert bs.compile_cache._default_dir() == tmp_path / "other"
        # An unwritable location leaves the cache as it was instead of failing.
        blocker = tmp_path / "file"
        blocker.write_text("x")
        assert bs.enable_compile_cache(blocker / "sub") is None
        assert bs.compile_cache_dir() == os.fspath(target)
    finally:
        if before:
            bs.enable_compile_cache(before)
        else:
            jax.config.update("jax_compilation_cache_dir", None)
            bs.compile_cache._reset_jax_cache_state()
