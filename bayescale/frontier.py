"""The compute-optimal frontier of the Chinchilla law, in closed form.

Minimising ``L(N, D) = E + A/N**alpha + B/D**beta`` subject to ``6 N D = C``
gives (SCIENCE.md), for every posterior draw::

    G     = (alpha A / (beta B)) ** (1 / (alpha + beta))
    N_opt = G (C/6) ** (beta / (alpha + beta))
    D_opt = (C/6) ** (alpha / (alpha + beta)) / G

Pure JAX, computed in log space, broadcasting draws against budgets.
"""

from __future__ import annotations

from typing import Mapping

import jax.numpy as jnp

from bayescale.data import FLOPS_PER_PARAM_TOKEN
from bayescale.laws import chinchilla_log_loss

__all__ = ["chinchilla_frontier"]


def chinchilla_frontier(params: Mapping, C) -> dict:
    """Compute-optimal ``N_opt``, ``D_opt``, tokens per parameter and ``L*`` at budget(s) ``C``.

    Parameters
    ----------
    params : mapping
        ``E, A, B, alpha, beta``, each an array of draws (shape ``(S,)``) or scalars.
    C : array_like
        Compute budgets in FLOPs, shape ``(K,)`` or scalar.

    Returns
    -------
    dict
        ``N_opt``, ``D_opt``, ``tokens_per_param``, ``loss`` with shape
        ``params.shape + C.shape``; ``a`` and ``b`` (the exponents of
        ``N_opt ∝ C**a``, ``D_opt ∝ C**b``) with the shape of the params.

    Examples
    --------
    >>> from bayescale.frontier import chinchilla_frontier
    >>> p = dict(E=1.817, A=477.8, B=2143.0, alpha=0.347, beta=0.367)
    >>> f = chinchilla_frontier(p, 5.88e23)
    >>> round(float(f["tokens_per_param"]), 1), round(float(f["N_opt"]) / 1e10, 2)
    (17.8, 7.42)
    """
    alpha = jnp.asarray(params["alpha"])[..., None]
    beta = jnp.asarray(params["beta"])[..., None]
    logA = jnp.log(jnp.asarray(params["A"]))[..., None]
    logB = jnp.log(jnp.asarray(params["B"]))[..., None]
    C = jnp.asarray(C)
    scalar_C = C.ndim == 0
    logC6 = jnp.log(jnp.atleast_1d(C)) - jnp.log(FLOPS_PER_PARAM_TOKEN)
    s = alpha + beta
    logG = (jnp.log(alpha) + logA - jnp.log(beta) - logB) / s
    logN = logG + (beta / s) * logC6
    logD = logC6 - logN
    N_opt, D_opt = jnp.exp(logN), jnp.exp(logD)
    nat = {k: jnp.asarray(params[k])[..., None] for k in ("E", "A", "B", "alpha", "beta")}
    loss = jnp.exp(chinchilla_log_loss(nat, N_opt, D_opt))
    out = {"N_opt": N_opt, "D_opt": D_opt, "tokens_per_param": jnp.exp(logD - logN), "loss": loss}
    if scalar_C:
        out = {k: v[..., 0] for k, v in out.items()}
    out["a"] = (beta / s)[..., 0]
    out["b"] = (alpha / s)[..., 0]
    return out
