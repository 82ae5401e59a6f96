"""Simulated recipes: several IsoFLOP sweeps whose Chinchilla parameters differ by known amounts.

What the hierarchical model (:class:`~bayescale.PartialPooling`) and the recipe comparisons
(:func:`~bayescale.compare_recipes`) are checked against: each recipe's law is drawn around a population,
so every multiplier and crossover has a known true value. Re-exported as ``bs.datasets.recipes`` and
``bs.datasets.recipe_truths``.
"""

from __future__ import annotations

import numpy as np

from bayescale.data import FLOPS_PER_PARAM_TOKEN, ScalingData

__all__ = ["RECIPE_POPULATION", "RECIPE_SPREAD", "recipe_truths", "recipes"]

#: Population medians the recipes' parameters are drawn around (Epoch AI's Chinchilla fit, rounded).
RECIPE_POPULATION = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.34, "beta": 0.37}
#: Spread of each parameter across recipes: sd of its log.
RECIPE_SPREAD = {"E": 0.05, "A": 0.3, "B": 0.3, "alpha": 0.08, "beta": 0.08}


def recipe_truths(*, seed: int = 0, n_recipes: int = 6) -> dict[str, dict[str, float]]:
    """The true Chinchilla parameters of recipes ``g0``, ``g1``, ...: each ``POPULATION * exp(SPREAD * z)``.

    Examples
    --------
    >>> from bayescale.simulated_recipes import recipe_truths
    >>> t = recipe_truths(seed=0)
    >>> sorted(t), round(t["g0"]["alpha"], 4)
    (['g0', 'g1', 'g2', 'g3', 'g4', 'g5'], 0.3429)
    """
    rng = np.random.default_rng(seed)
    return {f"g{i}": {k: float(v * np.exp(RECIPE_SPREAD[k] * rng.standard_normal())) for k, v in RECIPE_POPULATION.items()}
            for i in range(n_recipes)}


def _sweep(truth: dict, budgets: np.ndarray, sizes: int) -> tuple[np.ndarray, np.ndarray]:
    from bayescale.model.chinchilla import chinchilla_frontier

    N, D = [], []
    for C in budgets:
        n_opt = float(chinchilla_frontier(truth, C)["N_opt"])
        for n in n_opt * np.geomspace(1 / 8, 8, sizes):
            N.append(n)
            D.append(C / (FLOPS_PER_PARAM_TOKEN * n))
    return np.asarray(N), np.asarray(D)


def recipes(*, seed: int = 0, n_recipes: int = 6, noise: float = 0.01, sparse: int = 1) -> ScalingData:
    """Sweeps of ``n_recipes`` recipes (group ``g0``, ``g1``, ...) drawn from :func:`recipe_truths`.

    Each recipe is an IsoFLOP sweep of 3 budgets log-spaced from 6e18 to 3e21 FLOPs with 10 model sizes
    from 1/8 to 8 times its own compute-optimal N (30 runs); the last ``sparse`` recipes have only 2
    budgets x 4 sizes (8 runs). Normal noise with sd ``noise`` on log loss. Deterministic for a seed.

    Examples
    --------
    >>> import bayescale as bs
    >>> data = bs.datasets.recipes(seed=0)
    >>> data.n, list(data.groups)[-1], int((data.group == "g5").sum())
    (158, 'g5', 8)
    """
    import pandas as pd

    from bayescale.model.chinchilla import chinchilla_loss

    truths = recipe_truths(seed=seed, n_recipes=n_recipes)
    rng = np.random.default_rng(seed + 1)
    frames = []
    for i, (name, truth) in enumerate(truths.items()):
        few = i >= n_recipes - sparse
        N, D = _sweep(truth, np.geomspace(6e18, 3e21, 2 if few else 3), 4 if few else 10)
        clean = np.asarray(chinchilla_loss({k: np.float64(v) for k, v in truth.items()}, N, D), dtype=np.float64)
        frames.append(pd.DataFrame({"N": N, "D": D, "loss": clean * np.exp(noise * rng.standard_normal(N.size)),
                                    "recipe": name}))
    return ScalingData.from_frame(pd.concat(frames, ignore_index=True), N="N", D="D", loss="loss", group="recipe")
