"""Where each chain starts: the posterior mode by L-BFGS (optax) and the Laplace approximation there."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax
from jax import lax

__all__ = ["lbfgs", "laplace_factor", "hessian", "WHITE_VARIANCE"]

#: NumPyro (as Stan) regularises the covariance estimated from each mass-matrix adaptation window's ``n`` draws
#: as ``n / (n + 5) cov + SHRINK_TARGET * 5 / (n + 5) I`` (``numpyro.infer.hmc_util.welford_covariance``).
SHRINK_TARGET = 1e-3
#: Draws in the first of those windows (``numpyro.infer.hmc_util.build_adaptation_schedule``, Stan's schedule).
FIRST_WINDOW = 25
#: The posterior's variance per direction in the coordinates NUTS runs in, whitened by the Laplace
#: approximation (``z = mode + L u / sqrt(WHITE_VARIANCE)``): what the first window's regularisation gives the
#: directions its 25 draws cannot estimate. A pooled fit has 41-86 coordinates, so those estimates are
#: rank-deficient; at unit variance the missing directions got 1/6000 of the posterior's variance and the
#: trees ran deep through warmup (83-87% of the leapfrog steps of a pooled fit, 72 steps per warmup draw
#: against 15 per draw after it on the 6-recipe design).
WHITE_VARIANCE = SHRINK_TARGET * 5 / (FIRST_WINDOW + 5)


def lbfgs(f: Callable, x0: jnp.ndarray, steps: int) -> jnp.ndarray:
    """Minimise ``f`` from ``x0`` with optax's L-BFGS (zoom line search), ``steps`` iterations."""
    opt = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(f)

    def body(carry, _):
        x, state = carry
        value, grad = value_and_grad(x, state=state)
        updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=f)
        x_new = optax.apply_updates(x, updates)
        ok = jnp.all(jnp.isfinite(x_new))
        return (jnp.where(ok, x_new, x), state), None

    (x, _), _ = lax.scan(body, (x0, opt.init(x0)), None, length=steps)
    return x


def hessian(f: Callable, x: jnp.ndarray) -> jnp.ndarray:
    """The Hessian of ``f`` at ``x``, one Hessian-vector product (forward over reverse) per coordinate in a loop.

    The same numbers as ``jax.hessian`` (to float rounding), in a program that holds one product instead of
    ``jax.hessian``'s batch of them: on the 6-recipe hierarchical model (41 coordinates) XLA compiled the Hessian
    in 9.0 s instead of 17.3 s. It runs once per chain's start, where the loop's cost is negligible.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> f = lambda x: x[0] ** 2 * x[1] + jnp.sin(x[1])
    >>> x = jnp.array([1.0, 0.5])
    >>> bool(jnp.allclose(hessian(f, x), jax.hessian(f)(x)))
    True
    """
    grad = jax.grad(f)
    return lax.map(lambda v: jax.jvp(grad, (x,), (v,))[1], jnp.eye(x.shape[0], dtype=x.dtype))


def laplace_factor(f: Callable, x: jnp.ndarray) -> jnp.ndarray:
    """A square root ``L`` of the inverse Hessian of ``f`` at ``x`` (``L L^T = H^-1``), regularised.

    Curvatures are taken in absolute value and floored at 1e-3 (at a kink, as with Huber-like
    likelihoods, the Hessian can be indefinite; its magnitudes still give sensible scales), and
    the identity is used where the Hessian is not finite. ``L`` only sets the coordinates NUTS
    works in (any invertible ``L`` leaves the target unchanged), never the answer.
    """
    dim = x.shape[0]
    hess = hessian(f, x)
    hess = 0.5 * (hess + hess.T)
    eigval, eigvec = jnp.linalg.eigh(hess)
    ok = jnp.all(jnp.isfinite(eigval)) & jnp.all(jnp.isfinite(eigvec))
    eigval = jnp.clip(jnp.abs(eigval), 1e-3, None)
    chol = eigvec / jnp.sqrt(eigval)
    return jnp.where(ok, chol, jnp.eye(dim, dtype=x.dtype))
