"""The closed-form frontier equals a numerical minimisation of L along 6 N D = C."""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import bayescale as bs

PARAMS = [
    dict(E=1.817, A=477.8, B=2143.0, alpha=0.347, beta=0.367),
    dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28),
    dict(E=0.5, A=50.0, B=8000.0, alpha=0.2, beta=0.55),
]


def numerical_optimum(p, C):
    def loss(logN):
        N = np.exp(logN)
        D = C / (6 * N)
        return p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]

    res = minimize_scalar(loss, bounds=(np.log(1e3), np.log(C / 6 / 1e3)), method="bounded",
                          options={"xatol": 1e-10})
    return np.exp(res.x), res.fun


@pytest.mark.parametrize("p", PARAMS)
@pytest.mark.parametrize("C", [1e18, 5.88e23, 1e27])
def test_closed_form_matches_numerical_minimum(p, C):
    f = bs.chinchilla_frontier(p, C)
    n_num, l_num = numerical_optimum(p, C)
    # float32 closed form vs float64 numerical optimum: 1e-3 relative on N_opt
    # (the loss is flat at the optimum, so N is the sensitive quantity).
    assert float(f["N_opt"]) == pytest.approx(n_num, rel=1e-3)
    assert float(f["loss"]) == pytest.approx(l_num, rel=1e-5)
    assert float(f["N_opt"] * f["D_opt"]) * 6 == pytest.approx(C, rel=1e-5)
    assert float(f["tokens_per_param"]) == pytest.approx(float(f["D_opt"] / f["N_opt"]), rel=1e-5)


def test_exponents_and_broadcasting():
    draws = {k: np.full(7, v) for k, v in PARAMS[0].items()}
    f = bs.chinchilla_frontier(draws, np.array([1e20, 1e22, 1e24]))
    assert f["N_opt"].shape == (7, 3) and f["a"].shape == (7,)
    slope = np.diff(np.log(f["N_opt"][0])) / np.diff(np.log([1e20, 1e22, 1e24]))
    np.testing.assert_allclose(slope, f["a"][0], rtol=1e-4)
    assert float(f["a"][0] + f["b"][0]) == pytest.approx(1.0)


def test_compute_for_loss_by_bisection_matches_the_closed_form():
    """A law without a closed-form compute-for-loss (e.g. Kaplan's) bisects on its numerical frontier:
    on Chinchilla's law it must agree with the closed form (float32 frontier: within 1%)."""
    import dataclasses

    import numpy as np

    from bayescale.model.chinchilla import CHINCHILLA

    numerical = dataclasses.replace(CHINCHILLA, compute_for_loss_fn=None)
    p = {"E": np.array([1.817, 1.9]), "A": np.array([477.8, 400.0]), "B": np.array([2143.0, 1800.0]),
         "alpha": np.array([0.347, 0.33]), "beta": np.array([0.367, 0.35])}
    exact = CHINCHILLA.compute_for_loss(p, [2.0, 1.85])
    approx = numerical.compute_for_loss(p, [2.0, 1.85])
    np.testing.assert_array_equal(approx["reachable"], exact["reachable"])  # E = 1.9 cannot reach 1.85
    ok = exact["reachable"]
    for k in ("C", "N_opt", "D_opt"):
        np.testing.assert_allclose(approx[k][ok], exact[k][ok], rtol=1e-2)
        assert np.all(np.isinf(approx[k][~ok]))
