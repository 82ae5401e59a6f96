"""The accelerator path on CPU: ``chain_method="vectorized"`` runs a fit's chains side by side (``vmap``), the
program a GPU or TPU runs by default (``"auto"``), here beside the CPU's mapped chains.

The two orders of work round differently, so the draws differ; the posterior must not. Means and standard
deviations of every law parameter and sigma agree within :data:`MC_SIGMAS` combined Monte-Carlo standard
errors (ArviZ's ``mcse``). With 12 such comparisons and roughly normal errors, a false failure needs a
4.5-sigma deviation: about 1e-4 per run. Checked at seed offsets 0, 1 and 2 (``BAYESCALE_TEST_SEED``).
"""

import arviz as az
import numpy as np
import pytest

import bayescale as bs
from bayescale import errors

from conftest import FAST, SEED

# ArviZ 0.23's numba path of mcse(method='sd') raises TypeError under numba 0.65 (not a dependency of
# bayescale; nutpie, a benchmark peer, installs it): these comparisons use ArviZ's NumPy path.
az.Numba.disable_numba()

MC_SIGMAS = 4.5


@pytest.mark.slow
def test_vectorized_chains_give_the_mapped_posterior(example_data, example_fit):
    vec = bs.fit(example_data, seed=SEED, chain_method="vectorized", **FAST)
    assert vec.config.chain_method == "vectorized" and vec.converged
    a, b = vec.idata.posterior, example_fit.idata.posterior
    for k in ("E", "A", "B", "alpha", "beta", "sigma"):
        for stat, f in (("mean", np.mean), ("sd", np.std)):
            se = np.hypot(float(az.mcse(a, var_names=[k], method=stat)[k]), float(az.mcse(b, var_names=[k], method=stat)[k]))
            diff = abs(float(f(a[k].values)) - float(f(b[k].values)))
            assert diff <= MC_SIGMAS * se, f"{k} {stat}: vectorized vs mapped differ by {diff:.3g} > {MC_SIGMAS} x {se:.3g}"


def test_unknown_chain_method_is_refused_before_compiling(example_data):
    with pytest.raises(errors.ConfigError, match="chain_method"):
        bs.fit(example_data, chain_method="parallel")
