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

__all__ = ["chinchilla_frontier", "numerical_frontier"]


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


def numerical_frontier(log_loss, params: Mapping, C, *, iterations: int = 60) -> dict:
    """Compute-optimal ``N_opt``, ``D_opt``, tokens per parameter and ``L*`` by minimising along ``6 N D = C``.

    For laws without a closed form (Kaplan's, user-defined laws in N and D):
    bisection on the sign of ``d log L / d log N`` over ``log N`` in ``[0, log(C/6)]``
    (every N from 1 to C/6 parameters), vectorised over posterior draws and budgets.
    The law must be unimodal along each compute line (true of sums of power laws).

    Parameters
    ----------
    log_loss : callable
        ``log_loss(params, N, D)`` on natural parameters (``Law.log_loss``).
    params : mapping
        Natural parameters, each an array of draws (shape ``(S,)``) or scalars.
    C : array_like
        Budgets in FLOPs, shape ``(K,)`` or scalar.
    iterations : int
        Bisection steps; 60 shrink the bracket (at most ~60 in log N) below float32 precision.

    Examples
    --------
    >>> from bayescale.frontier import chinchilla_frontier, numerical_frontier
    >>> from bayescale.laws import chinchilla_log_loss
    >>> p = dict(E=1.817, A=477.8, B=2143.0, alpha=0.347, beta=0.367)
    >>> num = numerical_frontier(chinchilla_log_loss, p, 5.88e23)
    >>> round(float(num["N_opt"]) / float(chinchilla_frontier(p, 5.88e23)["N_opt"]), 3)
    1.0
    """
    import jax
    from jax import lax

    C = jnp.asarray(C, dtype=jnp.float32)
    scalar_C = C.ndim == 0
    logC6 = jnp.log(jnp.atleast_1d(C)) - jnp.log(FLOPS_PER_PARAM_TOKEN)
    p = {k: jnp.asarray(v, dtype=jnp.float32)[..., None] for k, v in params.items()}
    shape = jnp.broadcast_shapes(*(v.shape for v in p.values()), logC6.shape)

    def f(logN):
        return log_loss(p, jnp.exp(logN), jnp.exp(logC6 - logN))

    # Bisection on the sign of d log L / d log N (elementwise, so the gradient of the sum):
    # the derivative is accurate to float32 where L itself is too flat to compare.
    slope = jax.grad(lambda logN: jnp.sum(f(logN)))
    lo = jnp.zeros(shape)
    hi = jnp.broadcast_to(logC6, shape)

    def body(_, carry):
        lo, hi = carry
        mid = 0.5 * (lo + hi)
        rising = slope(mid) > 0
        return jnp.where(rising, lo, mid), jnp.where(rising, mid, hi)

    lo, hi = lax.fori_loop(0, iterations, body, (lo, hi))
    logN = 0.5 * (lo + hi)
    logD = logC6 - logN
    out = {
        "N_opt": jnp.exp(logN),
        "D_opt": jnp.exp(logD),
        "tokens_per_param": jnp.exp(logD - logN),
        "loss": jnp.exp(f(logN)),
    }
    if scalar_C:
        out = {k: v[..., 0] for k, v in out.items()}
    return out
