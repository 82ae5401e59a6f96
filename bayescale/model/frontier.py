"""The compute-optimal frontier of any law of (N, D), by minimisation along ``6 N D = C``.

Laws with a closed form (Chinchilla: :func:`bayescale.model.chinchilla.chinchilla_frontier`)
use it; every other law of ``N`` and ``D`` is minimised here. Pure JAX, vectorised over
posterior draws and budgets.
"""

from __future__ import annotations

from typing import Mapping

import jax.numpy as jnp

from bayescale.data import FLOPS_PER_PARAM_TOKEN

__all__ = ["numerical_frontier"]


def numerical_frontier(log_loss, params: Mapping, C, *, iterations: int = 60, paired: bool = False) -> dict:
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
    paired : bool
        ``C`` holds one budget per draw (same shape as the params) instead of budgets
        shared by all draws; results then have the params' shape.

    Examples
    --------
    >>> from bayescale.model.frontier import numerical_frontier
    >>> from bayescale.model.chinchilla import chinchilla_frontier, chinchilla_log_loss
    >>> p = dict(E=1.817, A=477.8, B=2143.0, alpha=0.347, beta=0.367)
    >>> num = numerical_frontier(chinchilla_log_loss, p, 5.88e23)
    >>> round(float(num["N_opt"]) / float(chinchilla_frontier(p, 5.88e23)["N_opt"]), 3)
    1.0
    """
    import jax
    from jax import lax

    # The default float (float32, or float64 inside ``jax.enable_x64``) throughout, so the
    # bisection's carry keeps one dtype.
    dtype = jax.dtypes.canonicalize_dtype(jnp.float64)
    C = jnp.asarray(C, dtype=dtype)
    scalar_C = C.ndim == 0 and not paired
    logC6 = jnp.log(C if paired else jnp.atleast_1d(C)) - jnp.log(FLOPS_PER_PARAM_TOKEN)
    p = {k: jnp.asarray(v, dtype=dtype) if paired else jnp.asarray(v, dtype=dtype)[..., None]
         for k, v in params.items()}
    shape = jnp.broadcast_shapes(*(v.shape for v in p.values()), logC6.shape)

    def f(logN):
        return log_loss(p, jnp.exp(logN), jnp.exp(logC6 - logN))

    # Bisection on the sign of d log L / d log N (elementwise, so the gradient of the sum):
    # the derivative is accurate to float32 where L itself is too flat to compare.
    slope = jax.grad(lambda logN: jnp.sum(f(logN)))
    lo = jnp.zeros(shape, dtype)
    hi = jnp.broadcast_to(logC6, shape).astype(dtype)

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
