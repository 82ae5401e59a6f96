"""Designs and truths for the law-recovery tests (shared with the measurement script).

Every design has n = 180 rows, like the built-in example, so same-law refits share a compiled sampler.
"""

import numpy as np

import bayescale as bs

N_ROWS = 180


def _noisy(clean, seed, noise=0.01):
    rng = np.random.default_rng(seed)
    return clean * np.exp(noise * rng.standard_normal(clean.shape))


def one_variable_design():
    """180 runs, compute log-spaced over eight decades, 20 tokens per parameter."""
    C = np.geomspace(1e16, 1e24, N_ROWS)
    N = np.sqrt(C / (6 * 20.0))
    return N, C / (6 * N)


TRUTH = {
    "power_law": dict(E=1.8, A=60.0, alpha=0.11),
    "kaplan": dict(N_c=8.8e13, D_c=5.4e13, alpha_N=0.076, alpha_D=0.095),
    "data_constrained": dict(E=1.817, A=477.8, B=2143.0, alpha=0.347, beta=0.367, R_D=15.0, R_N=5.0),
    "broken_power_law": dict(E=1.7, A=40.0, alpha=0.09, delta_alpha=0.15, x_b=1e20, f=0.5),
}


def simulate(name, seed=0, noise=0.01):
    """ScalingData drawn from ``TRUTH[name]`` under the law ``name`` (log-normal noise ``noise``)."""
    law = bs.LAWS[name]
    truth = {k: np.float64(v) for k, v in TRUTH[name].items()}
    U = None
    if name in ("power_law", "broken_power_law"):
        N, D = one_variable_design()
    else:
        base = bs.datasets.example()
        N, D = base.N, base.D
    if name == "data_constrained":
        # 1 to 100 epochs over the unique tokens, log-uniform, in a fixed order.
        epochs = np.exp(np.random.default_rng(seed + 1).uniform(0.0, np.log(100.0), N_ROWS))
        epochs[::4] = 1.0  # a quarter of the runs see each token once
        U = D / epochs
    cov = {"N": N, "D": D, "C": 6 * N * D, "U": U}
    clean = np.exp(np.asarray(law.log_loss(truth, *(cov[c] for c in law.covariates)), dtype=np.float64))
    return bs.ScalingData.from_arrays(N=N, D=D, loss=_noisy(clean, seed, noise), U=U)
