"""Sampler coordinates of a hierarchical model: each group's parameters drawn given the population.

A pooled parameter block ``theta_g`` (the ``p`` pooled parameters of group ``g``, on their unconstrained
scale) has the population prior ``Normal(mu, T)``, ``T = diag(tau**2)``, and a likelihood that, near
the data's answer, is Gaussian with precision ``Lam_g`` and location ``m_g``. Given the population,
``theta_g`` is then ``Normal(c_g, P_g^-1)`` with ``P_g = Lam_g + T^-1`` and
``c_g = P_g^-1 (Lam_g m_g + T^-1 mu)``. NUTS moves in ``eps_g``,

    theta_g = c_g(mu, tau) + chol(P_g(tau))^-T eps_g,

which for a Gaussian likelihood is standard normal and independent of ``(mu, tau)`` whatever the
spreads: the funnel of the centred parametrisation (groups squeezed as ``tau`` shrinks) and the
banana of the non-centred one (groups whose data pin them) are both gone. A group whose data
are strong has ``theta_g ~ m_g + Lam_g^-1/2 eps_g`` (centred); one whose data say little has
``theta_g ~ mu + tau eps_g`` (non-centred); each group and parameter gets what suits it.

``Lam_g`` and ``Lam_g m_g`` are constants of each chain, read off the Hessian and gradient of the
potential at the chain's start (:attr:`SamplerCoords.adapt <bayescale.model.coords.SamplerCoords>`):
any constants give a bijection with a known Jacobian, so the posterior is exactly the model's; they
decide only how well NUTS moves. The start itself is the mode of the non-centred density (``mode_penalty``):
the centred density grows without bound as a spread shrinks to 0, the funnel's neck.

The ``p x p`` factorisations are written out (:func:`_cholesky`): jaxlib's batched LAPACK kernels
(one matrix per group) wait on XLA:CPU's thread pool from inside it and deadlocked the two host
devices' chains (measured: every thread idle in ``ParallelBatchMap``); ``p`` is a handful.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import jax.numpy as jnp
from jax import lax

from bayescale.model.coords import SamplerCoords

__all__ = ["conditional_coords"]


def _cholesky(P):
    """Lower Cholesky factor of ``(..., p, p)`` positive-definite matrices, as nested lists ``L[i][j]``
    of ``(...)`` arrays (``j <= i``)."""
    p = P.shape[-1]
    L = [[None] * p for _ in range(p)]
    for j in range(p):
        d = jnp.sqrt(P[..., j, j] - sum((L[j][k] ** 2 for k in range(j)), jnp.zeros_like(P[..., j, j])))
        L[j][j] = d
        for i in range(j + 1, p):
            L[i][j] = (P[..., i, j] - sum((L[i][k] * L[j][k] for k in range(j)), jnp.zeros_like(d))) / d
    return L


def _solve_lower(L, b):
    """``y`` with ``L y = b`` (``b``: list of ``p`` arrays)."""
    y = []
    for i in range(len(b)):
        y.append((b[i] - sum((L[i][k] * y[k] for k in range(i)), jnp.zeros_like(b[i]))) / L[i][i])
    return y


def _solve_upper_t(L, b):
    """``y`` with ``L^T y = b``."""
    p = len(b)
    y = [None] * p
    for i in reversed(range(p)):
        y[i] = (b[i] - sum((L[k][i] * y[k] for k in range(i + 1, p)), jnp.zeros_like(b[i]))) / L[i][i]
    return y


def _conditional(x: Mapping, state, block: Sequence[str], links: Mapping[str, Callable]):
    """Cholesky factor of ``P_g`` and the conditional location ``c_g`` (lists over the block)."""
    lam, lam_m = state
    tau = [links[k](x[f"tau_{k}"]) for k in block]
    prec = [1.0 / t**2 for t in tau]
    P = lam + jnp.stack([jnp.stack([jnp.where(i == j, prec[i], 0.0) for j in range(len(block))]) for i in range(len(block))])
    L = _cholesky(P)
    rhs = [lam_m[..., j] + x[f"mu_{k}"] * prec[j] for j, k in enumerate(block)]
    c = _solve_upper_t(L, _solve_lower(L, rhs))
    return L, c


def conditional_coords(block: Sequence[str], spread_links: Mapping[str, Callable], inner: SamplerCoords | None = None,
                       ) -> SamplerCoords:
    """The adaptive coordinates of a pooled block (see the module): sites ``block`` (one value per group,
    centred), ``mu_<k>``, ``tau_<k>`` (``spread_links[k]`` maps tau's unconstrained value to tau).

    ``inner``: a non-adaptive map of other sites (e.g. a law's, on parameters outside the block),
    applied after this one.
    """
    block = tuple(block)
    p = len(block)

    def base_to(x):
        return dict(x) if inner is None else inner.to_model(x)

    def base_from(u):
        return dict(u) if inner is None else inner.from_model(u)

    def to_model(x, state=None):
        if state is None:
            return base_to(x)
        L, c = _conditional(x, state, block, spread_links)
        v = _solve_upper_t(L, [x[k] for k in block])
        u = dict(x)
        for j, k in enumerate(block):
            u[k] = c[j] + v[j]
        return base_to(u)

    def from_model(u, state=None):
        x = base_from(u)
        if state is None:
            return x
        L, c = _conditional(x, state, block, spread_links)
        d = [x[k] - c[j] for j, k in enumerate(block)]
        for j, k in enumerate(block):
            x[k] = sum((L[i][j] * d[i] for i in range(j, p)), jnp.zeros_like(d[j]))  # L^T (theta - c)
        return x

    def log_det(x, state=None):
        inner_ld = 0.0 if inner is None or inner.log_det is None else inner.log_det(x)
        if state is None:
            return inner_ld
        L, _ = _conditional(x, state, block, spread_links)
        return inner_ld - sum(jnp.sum(jnp.log(L[j][j])) for j in range(p))

    def mode_penalty(x):
        # The non-centred density is the centred one times tau**G per parameter (the Jacobian of
        # theta_g = mu + tau z_g): its mode is proper where the centred density's is not.
        return -sum(jnp.shape(x[k])[0] * jnp.log(spread_links[k](x[f"tau_{k}"])) for k in block)

    def adapt(x, grad, hess, unravel):
        """``(Lam, Lam m)`` per group: the Hessian's group block less the population's precision, made
        positive semi-definite, and the likelihood's gradient there."""
        index = unravel(jnp.arange(grad.shape[0], dtype=jnp.float32))
        idx = jnp.stack([index[k] for k in block], axis=-1).astype(jnp.int32)  # (G, p)
        prec = jnp.stack([1.0 / spread_links[k](x[f"tau_{k}"]) ** 2 for k in block])
        theta = jnp.stack([x[k] for k in block], axis=-1)
        mu = jnp.stack([x[f"mu_{k}"] for k in block])
        lam = hess[idx[:, :, None], idx[:, None, :]] - jnp.diag(prec)[None]
        lam = 0.5 * (lam + jnp.swapaxes(lam, -1, -2))

        def project(m):  # one matrix at a time (see the module on batched LAPACK)
            w, v = jnp.linalg.eigh(m)
            return (v * jnp.clip(w, 0.0, None)) @ v.T

        lam = lax.map(project, lam)
        lam = jnp.where(jnp.all(jnp.isfinite(lam)), lam, jnp.zeros_like(lam))
        loglik_grad = -grad[idx] + (theta - mu) * prec
        lam_m = jnp.einsum("gij,gj->gi", lam, theta) + jnp.where(jnp.isfinite(loglik_grad), loglik_grad, 0.0)
        return lam, lam_m

    sites = tuple(block) + tuple(f"{s}_{k}" for s in ("mu", "tau") for k in block)
    return SamplerCoords(to_model=to_model, from_model=from_model, log_det=log_det, sites=sites,
                         mode_penalty=mode_penalty, adapt=adapt)
