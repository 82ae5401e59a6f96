"""Model comparison by PSIS-LOO, and robustness of the likelihoods to corrupted runs."""

import copy
import warnings

import numpy as np
import pytest

import bayescale as bs
from bayescale import errors

from conftest import SEED, FAST


def test_compare_prefers_chinchilla_over_power_law_in_C(example_data, example_fit):
    """The example is drawn from the Chinchilla law on an IsoFLOP grid: a law in C alone cannot
    see the loss rise on either side of each IsoFLOP minimum, so it must lose by many standard errors: more than
    4, where a difference is well past the normal approximation's noise (Sivula et al. 2020). Measured at seed
    offsets 0-6: 9.7-13.0 standard errors (elpd difference 146-180); 4 is far outside that spread."""
    # The misspecified power law mixes poorly here (a few divergences, R-hat ~1.015): its elpd
    # is off by far more than that could move it, so the ranking does not depend on it.
    pl = bs.fit(example_data, law="power_law", seed=SEED, warn=False, **FAST)
    with warnings.catch_warnings():
        # The misspecified power law may have influential points; the ranking is the point here.
        warnings.simplefilter("ignore", bs.ParetoKWarning)
        table = bs.compare({"chinchilla": example_fit, "power_law": pl})
    assert list(table.index) == ["chinchilla", "power_law"]
    assert table.loc["power_law", "elpd_diff"] > 4 * table.loc["power_law", "dse"]
    assert {"elpd_loo", "se", "p_loo", "n_high_k", "max_k"} <= set(table.columns)


def test_compare_after_save_load(example_fit, normal_fit, huber_fit, tmp_path):
    fits = {"student_t": example_fit, "normal": normal_fit, "huber": huber_fit}
    before = bs.compare(fits, warn=False)
    loaded = {}
    for name, f in fits.items():
        f.save(tmp_path / f"{name}.nc")
        loaded[name] = bs.load(tmp_path / f"{name}.nc")
    after = bs.compare(loaded, warn=False)
    np.testing.assert_allclose(after.loc[before.index, "elpd_loo"], before["elpd_loo"], rtol=1e-6)
    # A list is labelled law/likelihood.
    listed = bs.compare([example_fit, normal_fit], warn=False)
    assert set(listed.index) == {"chinchilla/student_t", "chinchilla/normal"}


def test_compare_errors(example_fit, example_data):
    with pytest.raises(errors.ComparisonError, match="at least two"):
        bs.compare({"a": example_fit})
    with pytest.raises(errors.ComparisonError, match="not a bayescale fit"):
        bs.compare({"a": example_fit, "b": 3})
    # Same posterior, other observations: the check is on the data, before any LOO.
    other = copy.copy(example_fit)
    other.data = example_data.subset(np.arange(example_data.n) != 0)
    with pytest.raises(errors.ComparisonError, match="different data"):
        bs.compare({"a": example_fit, "b": other})


def corrupt(data, fraction=0.05, factor=1.5, seed=SEED):
    """Multiply the loss of 5% of the runs (9 of 180, chosen at random) by 1.5: diverged or mislogged runs."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(data.n, size=int(round(fraction * data.n)), replace=False)
    loss = data.loss.copy()
    loss[idx] *= factor
    return bs.ScalingData.from_arrays(N=data.N, D=data.D, loss=loss)


@pytest.mark.slow
def test_robust_likelihoods_resist_corruption(example_data, example_fit, normal_fit, huber_fit):
    """With 5% of runs corrupted, Student-t and Huber keep the medians of alpha and beta inside
    their clean-data 90% intervals; the Normal fit's median leaves its clean interval for at
    least one exponent, and LOO ranks it last."""
    bad = corrupt(example_data)
    clean = {"student_t": example_fit, "normal": normal_fit, "huber": huber_fit}
    moved = {}
    fits = {}
    for lik, clean_fit in clean.items():
        fit = bs.fit(bad, likelihood=lik, seed=SEED, warn=False, **FAST)
        fits[lik] = fit
        c, d = clean_fit.draws(), fit.draws()
        moved[lik] = {}
        for k in ("alpha", "beta"):
            lo, hi = np.quantile(c[k], [0.05, 0.95])
            moved[lik][k] = not (lo <= np.median(d[k]) <= hi)
    assert not any(moved["student_t"].values()), moved
    assert not any(moved["huber"].values()), moved
    assert any(moved["normal"].values()), moved
    # Pareto k of the Normal fit's corrupted points is high but, since the whitened sampler, under
    # 0.7 at these seeds (max 0.44-0.64 over seeds 0-2): a ParetoKWarning may or may not be raised.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.ParetoKWarning)
        table = bs.compare(fits)
    # The robust likelihoods predict held-out runs better than the Normal.
    assert table.index[-1] == "normal"
