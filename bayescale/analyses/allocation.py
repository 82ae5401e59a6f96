"""Inference-aware compute-optimal allocation of the Chinchilla law (Sardana et al. 2023).

"Beyond Chinchilla-Optimal": the ``(N, D)`` minimising training (``6 N D``) plus
inference (``2 N`` per token) FLOPs at a target loss, or the loss-minimising
``(N, D)`` for a total (training + inference) compute budget. The bisection
brackets below use the Chinchilla form, so these tools take Chinchilla fits.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from bayescale.analyses.common import as_params, law_params, summarise
from bayescale.analyses.decisions import compute_for_loss_draws
from bayescale.checks import check_prob, nonnegative_values, positive_values
from bayescale.data import FLOPS_PER_PARAM_TOKEN
from bayescale.errors import ConfigError, LawCapabilityError
from bayescale.model.chinchilla import CHINCHILLA, chinchilla_compute_for_loss, chinchilla_frontier, chinchilla_loss
from bayescale.model.law import evaluate64

__all__ = ["INFERENCE_FLOPS_PER_PARAM_TOKEN", "inference_optimal_draws", "inference_optimal"]

#: Inference compute per parameter per token (a forward pass), Sardana et al. (2023).
INFERENCE_FLOPS_PER_PARAM_TOKEN = 2.0

_BISECTION_STEPS = 200


def _loss(p: Mapping, N, D) -> np.ndarray:
    """Chinchilla ``L(N, D)`` in float64, params broadcast as given."""
    return evaluate64(chinchilla_loss, p, N, D)


def _bisect(sign_fn, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Root of an increasing function on [lo, hi] (elementwise), by bisection to float64 resolution."""
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        up = sign_fn(mid) > 0
        hi = np.where(up, mid, hi)
        lo = np.where(up, lo, mid)
    return 0.5 * (lo + hi)


def inference_optimal_draws(params: Mapping, inference_tokens, *, loss=None,
                            total_compute=None) -> dict[str, np.ndarray]:
    """Per draw, the ``(N, D)`` minimising training plus inference FLOPs (Sardana et al. 2023).

    Training costs ``6 N D`` FLOPs and serving ``T`` inference tokens costs
    ``2 N T``. Give exactly one of

    - ``loss``: minimise ``6 N D + 2 N T`` subject to ``L(N, D) = loss``;
    - ``total_compute``: minimise ``L(N, D)`` subject to ``6 N D + 2 N T = total_compute``
      (the lifetime compute, training and inference together).

    Both problems are convex in ``log N`` (the cost is a sum of log-convex terms
    along the loss constraint; the loss is convex along the cost constraint), so
    the first-order condition has one root, found per draw by vectorised
    bisection in float64 between closed-form brackets. With ``T = 0`` the answer
    is the Chinchilla frontier (:func:`compute_for_loss_draws`,
    :func:`bayescale.chinchilla_frontier`).

    Parameters
    ----------
    params : mapping
        ``E, A, B, alpha, beta``, arrays of shape ``(S,)``.
    inference_tokens : array_like
        Expected lifetime inference tokens ``T``, shape ``(K,)``; ``0`` allowed.
    loss, total_compute : float
        The target loss, or the total (training + inference) compute in FLOPs.

    Returns
    -------
    dict
        ``N``, ``D``, ``tokens_per_param``, ``training_flops``,
        ``inference_flops``, ``total_flops``, ``loss`` and ``reachable``, each
        ``(S, K)``. In ``loss`` mode a draw with ``E >= loss`` is unreachable
        (``inf`` sizes and compute, ``nan`` tokens per parameter).

    Examples
    --------
    >>> from bayescale.analyses.allocation import inference_optimal_draws
    >>> p = dict(E=1.817, A=477.8, B=2143.0, alpha=0.347, beta=0.367)
    >>> out = inference_optimal_draws(p, [0.0, 1e13], loss=2.0)
    >>> [f"{x:.3g}" for x in out["N"][0]], bool(out["total_flops"][0, 1] > out["total_flops"][0, 0])
    (['4.78e+10', '2.04e+10'], True)
    """
    if (loss is None) == (total_compute is None):
        raise ConfigError("give exactly one of loss= (a target loss) or total_compute= (FLOPs for training + "
                          "inference)")
    p = {k: v[:, None] for k, v in as_params(params, CHINCHILLA).items()}
    T = nonnegative_values("inference_tokens", inference_tokens)[None, :]
    if loss is not None:
        return _cheapest_for_loss(p, T, _one("loss", loss))
    return _best_loss_for_compute(p, T, _one("total_compute", total_compute))


def _one(name: str, value) -> float:
    v = positive_values(name, value)
    if v.size != 1:
        raise ConfigError(f"{name} must be one number, got {v.size}; loop over them")
    return float(v[0])


def _allocation(N, D, T, L, ok) -> dict[str, np.ndarray]:
    """The result dict of :func:`inference_optimal_draws` from the sizes chosen (``inf`` where not ``ok``)."""
    train = np.where(ok, FLOPS_PER_PARAM_TOKEN * N * D, np.inf)
    infer = np.where(ok, INFERENCE_FLOPS_PER_PARAM_TOKEN * N * T, np.inf)
    with np.errstate(invalid="ignore"):
        tpp = np.where(ok, D / N, np.nan)
    return {"N": N, "D": D, "tokens_per_param": tpp, "training_flops": train, "inference_flops": infer,
            "total_flops": train + infer, "loss": L, "reachable": ok}


def _cheapest_for_loss(p: Mapping, T: np.ndarray, ell: float) -> dict[str, np.ndarray]:
    """Minimise ``6 N D + 2 N T`` along ``L(N, D) = ell``, per draw, by bisection on ``u = log N``."""
    alpha, beta, A, B, E = p["alpha"], p["beta"], p["A"], p["B"], p["E"]
    zeros = np.zeros(np.broadcast_shapes(E.shape, T.shape))
    K = ell - E + zeros
    ok = K > 0
    Ks = np.where(ok, K, 1.0)
    # Bracket in u = log N: N_min (D -> inf) and the Chinchilla optimum N* (T = 0), model/chinchilla.py's.
    u_lo = np.log(A / Ks) / alpha + zeros
    n_star = chinchilla_compute_for_loss({k: v[:, 0] for k, v in p.items()}, ell)["N_opt"]
    u_hi = np.log(np.where(ok, n_star, 1.0)) + zeros
    logT = np.log(np.where(T > 0, T, 1.0)) + zeros

    def logD_of(u):
        s = A * np.exp(-alpha * u)
        return (np.log(B) - np.log(np.maximum(Ks - s, 1e-300))) / beta, s

    def slope_sign(u):
        # d cost / d log N is 6 N D (1 - alpha s / (beta (K - s))) + 2 N T, increasing in u;
        # it is > 0 exactly when 3 D (alpha s / (beta (K - s)) - 1) < T.
        logD, s = logD_of(u)
        g = alpha * s / (beta * np.maximum(Ks - s, 1e-300)) - 1.0
        with np.errstate(divide="ignore"):
            lhs = np.log(3.0) + logD + np.log(np.maximum(g, 0.0))
        return np.where(g <= 0, 1.0, np.where(T > 0, logT - lhs, -1.0))

    u = np.where(T > 0, _bisect(slope_sign, u_lo, u_hi), u_hi)
    logD, _ = logD_of(u)
    N, D = np.where(ok, np.exp(u), np.inf), np.where(ok, np.exp(logD), np.inf)
    return _allocation(N, D, T, np.where(ok, ell, np.nan) + zeros, ok)


def _best_loss_for_compute(p: Mapping, T: np.ndarray, total: float) -> dict[str, np.ndarray]:
    """Minimise ``L(N, D)`` along ``6 N D + 2 N T = total``, per draw, by bisection on ``u = log N``."""
    alpha, beta, A, B = p["alpha"], p["beta"], p["A"], p["B"]
    zeros = np.zeros(np.broadcast_shapes(p["E"].shape, T.shape))
    # The Chinchilla optimum at this compute (T = 0), model/chinchilla.py's frontier.
    u_chin = np.log(evaluate64(chinchilla_frontier, {k: v[:, 0] for k, v in p.items()}, np.float64(total))["N_opt"])
    u_chin = u_chin[:, None] + zeros
    with np.errstate(divide="ignore"):
        u_cap = np.where(T > 0, np.log(total / (INFERENCE_FLOPS_PER_PARAM_TOKEN * np.where(T > 0, T, 1.0))), np.inf)
    u_hi = np.minimum(u_chin, u_cap)
    u_lo = u_hi - 80.0 / alpha

    def logD_b(u):
        return np.log(np.maximum(total * np.exp(-u) - INFERENCE_FLOPS_PER_PARAM_TOKEN * T, 1e-300)) - np.log(
            FLOPS_PER_PARAM_TOKEN)

    def slope_sign(u):
        # dL/dlog N = -alpha A N^-alpha + beta B D^-beta C / (6 N D), increasing in u.
        logD = logD_b(u)
        rhs = np.log(beta * B) - beta * logD + np.log(total) - np.log(FLOPS_PER_PARAM_TOKEN) - u - logD
        return rhs - (np.log(alpha * A) - alpha * u)

    u = np.where(T > 0, _bisect(slope_sign, u_lo, u_hi), u_chin)
    N, D = np.exp(u), np.exp(logD_b(u))
    return _allocation(N, D, T, _loss(p, N, D), np.ones(zeros.shape, dtype=bool))


def inference_optimal(fit, inference_tokens, *, loss=None, total_compute=None, prob: float = 0.9, group=None):
    """Inference-aware compute-optimal allocation (Sardana et al. 2023), with its posterior.

    One row per value of ``inference_tokens``. With ``loss=`` the columns are the
    ``N``, ``D``, tokens per parameter and training / inference / total FLOPs of
    the cheapest way to reach that loss and then serve the tokens, plus
    ``chinchilla_total_flops_*`` (the total if one trained the Chinchilla-optimal
    model for that loss instead) and ``saving_*`` (the fraction of total FLOPs the
    inference-aware choice saves, per draw). ``p_reachable`` is the posterior
    probability that ``E < loss``; unreachable draws count as infinite compute.
    With ``total_compute=`` (the lifetime FLOPs, training and inference together) the
    columns are ``N``, ``D``, tokens per parameter and the ``loss`` reached. (``plan``'s
    ``budget`` is another idea: the most one run may cost.)

    Examples
    --------
    >>> import bayescale as bs
    >>> fit = bs.fit(bs.datasets.example(), seed=0, num_warmup=500, num_samples=500)
    >>> t = bs.inference_optimal(fit, [0.0, 2e12], loss=2.0)
    >>> bool(t.N_median.iloc[1] < t.N_median.iloc[0]), bool(t.saving_median.iloc[1] > 0)
    (True, True)
    """
    import pandas as pd

    prob = check_prob(prob)
    T = nonnegative_values("inference_tokens", inference_tokens)
    if fit.law.name != CHINCHILLA.name:
        raise LawCapabilityError(
            f"inference_optimal solves the Chinchilla form's allocation; this fit's law is {fit.law.name!r}: "
            "fit law='chinchilla'"
        )
    params = law_params(fit, group)
    out = inference_optimal_draws(params, T, loss=loss, total_compute=total_compute)
    cols: dict = {}
    if loss is not None:
        cols["p_reachable"] = out["reachable"].mean(axis=0)
    names = ["N", "D", "tokens_per_param"]
    names += ["training_flops", "inference_flops", "total_flops"] if loss is not None else ["loss"]
    for q in names:
        summarise(cols, q, out[q], prob)
    if loss is not None:
        chin = compute_for_loss_draws(params, loss)
        chin_total = chin["C"] + INFERENCE_FLOPS_PER_PARAM_TOKEN * chin["N_opt"] * T[None, :]
        summarise(cols, "chinchilla_total_flops", chin_total, prob)
        with np.errstate(invalid="ignore"):
            saving = np.where(out["reachable"], 1.0 - out["total_flops"] / chin_total, np.nan)
        summarise(cols, "saving", saving, prob)
    return pd.DataFrame(cols, index=pd.Index(T, name="inference_tokens"))
