"""The scale of the coordinates NUTS runs in (:data:`bayescale.inference.start.WHITE_VARIANCE`) is derived from
two facts of NumPyro's warmup: how it regularises a window's covariance estimate, and how many draws its first
window has. These tests pin both, so a NumPyro release that changes them fails here, not as pooled fits that
quietly take 4x the leapfrog steps in warmup (their tree depths are checked in tests/test_hierarchical.py)."""

import jax.numpy as jnp
import numpy as np
from numpyro.infer.hmc_util import build_adaptation_schedule, welford_covariance

from bayescale.inference.start import FIRST_WINDOW, SHRINK_TARGET, WHITE_VARIANCE


def test_a_window_estimate_is_shrunk_toward_white_variance_where_its_draws_do_not_reach():
    """Draws with no spread: what is left of the regularised estimate is the shrinkage alone, which for the first
    window's draws is the variance the whitened posterior has per direction."""
    init, update, final = welford_covariance(diagonal=False)
    state = init(3)
    for _ in range(FIRST_WINDOW):
        state = update(jnp.ones(3), state)
    cov, _, _ = final(state, regularize=True)
    np.testing.assert_allclose(np.asarray(cov), WHITE_VARIANCE * np.eye(3), rtol=1e-5)
    assert WHITE_VARIANCE == SHRINK_TARGET * 5 / (FIRST_WINDOW + 5)


def test_the_first_mass_matrix_window_has_first_window_draws():
    for num_warmup in (500, 1000, 4000):
        fast, first = build_adaptation_schedule(num_warmup)[:2]
        assert (fast.end + 1, first.end - first.start + 1) == (75, FIRST_WINDOW), num_warmup
