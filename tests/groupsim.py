"""Simulated multi-group IsoFLOP sweeps for the hierarchical tests."""

import numpy as np

import bayescale as bs
from bayescale.model.laws import chinchilla_frontier

#: Population medians and log-scale spreads the groups are drawn from.
POPULATION = dict(E=1.8, A=480.0, B=2100.0, alpha=0.34, beta=0.37)
SPREAD = dict(E=0.05, A=0.3, B=0.3, alpha=0.08, beta=0.08)
N_GROUPS = 6
SMALL = "g5"  # the last group has 8 runs, the others 30


def group_truths(seed=0):
    rng = np.random.default_rng(seed)
    return {
        f"g{i}": {k: float(POPULATION[k] * np.exp(SPREAD[k] * rng.standard_normal())) for k in POPULATION}
        for i in range(N_GROUPS)
    }


def _sweep(truth, budgets, sizes):
    rows = []
    for C in budgets:
        n_opt = float(chinchilla_frontier(truth, C)["N_opt"])
        for N in n_opt * np.geomspace(1 / 8, 8, sizes):
            rows.append((N, C / (6 * N)))
    return np.asarray(rows)


def simulate_groups(seed=0, noise=0.01):
    truths = group_truths(seed)
    rng = np.random.default_rng(seed + 1)
    N, D, loss, group = [], [], [], []
    for name, truth in truths.items():
        nd = _sweep(truth, np.geomspace(6e18, 3e21, 2), 4) if name == SMALL else _sweep(
            truth, np.geomspace(6e18, 3e21, 3), 10)
        clean = np.asarray(bs.chinchilla_loss({k: np.float64(v) for k, v in truth.items()}, nd[:, 0], nd[:, 1]))
        N += list(nd[:, 0]); D += list(nd[:, 1]); group += [name] * len(nd)
        loss += list(clean * np.exp(noise * rng.standard_normal(len(nd))))
    import pandas as pd

    df = pd.DataFrame({"N": N, "D": D, "loss": loss, "setup": group})
    return bs.ScalingData.from_frame(df, N="N", D="D", loss="loss", group="setup"), truths
