"""The beta-binomial likelihood of correct answers, accurate in float32 for any over-dispersion.

A benchmark of ``n`` items scored ``k`` right: ``k ~ BetaBinomial(n, p phi, (1 - p) phi)``, with ``p`` the
expected accuracy and ``phi = 1 / tau**2`` the concentration. ``tau`` is the over-dispersion: the spread of a
run's accuracy beyond the items' binomial noise (its variance is ``p (1 - p) (1/n + tau**2 / (1 + tau**2))``,
about ``tau * sqrt(p (1 - p))`` in standard deviation for small ``tau``); ``tau -> 0`` is the binomial.

Why not ``numpyro.distributions.BetaBinomial``: its log mass is a difference of ``betaln`` terms of size
``phi log 2`` (``~1e7`` at ``phi = 1e7``), which float32, bayescale's precision, cancels to an error of 0.07 nats
at ``phi = 1e5`` and 0.4 at ``1e7`` (measured against SciPy in float64), enough to bias NUTS toward the
binomial limit. Here the log mass is written as the binomial's plus a correction that vanishes as
``phi -> infinity``, each log rising factorial ``lgamma(x + m) - lgamma(x) - m log x`` computed by Stirling's
series with ``log1p`` after shifting ``x`` by :data:`SHIFT` (:func:`log_rising_excess`), so no term is larger
than the answer. Counts may be fractional (an accuracy times ``n`` that is not a whole number): the mass is a
smooth function of ``k``.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax.scipy.special import gammaln

__all__ = ["BetaBinomialCorrect", "beta_binomial_logpmf", "log_rising_excess", "sample_correct", "SHIFT"]

#: ``x`` is shifted by this many units before Stirling's series (its error there is below 1e-11).
SHIFT = 10

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _stirling_tail(z):
    """Stirling's series of ``lgamma(z)`` beyond ``(z - 1/2) log z - z + log(2 pi)/2``, for ``z >= SHIFT``."""
    inv = 1.0 / z
    inv2 = inv * inv
    return inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 / 1260.0))


def log_rising_excess(x, m):
    """``lgamma(x + m) - lgamma(x) - m log(x)`` for ``x > 0``, ``m >= 0``, without cancellation.

    The log rising factorial ``log[x (x+1) ... (x+m-1)]`` less its leading term ``m log x``: 0 at ``m = 0``,
    about ``m (m - 1) / (2 x)`` for ``x >> m``.

    Examples
    --------
    >>> from math import lgamma, log
    >>> from bayescale.model.beta_binomial import log_rising_excess
    >>> x, m = 3.5, 40.0
    >>> exact = lgamma(x + m) - lgamma(x) - m * log(x)
    >>> bool(abs(float(log_rising_excess(x, m)) - exact) < 1e-5 * abs(exact))
    True
    """
    x = jnp.asarray(x)
    m = jnp.asarray(m)
    y = x + SHIFT
    # Stirling at y: lgamma(y + m) - lgamma(y) - m log y.
    at_y = (y + m - 0.5) * jnp.log1p(m / y) - m + _stirling_tail(y + m) - _stirling_tail(y)
    # Back from y to x: Gamma(x + m) / Gamma(x) = Gamma(y + m) / Gamma(y) * prod_j (x + j) / (x + m + j).
    shift = sum(jnp.log1p(m / (x + j)) for j in range(SHIFT))
    return at_y + m * jnp.log1p(SHIFT / x) - shift


def _log_choose(n, k):
    return gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0)


def beta_binomial_logpmf(k, n, p, tau):
    """Log mass of ``k`` correct of ``n`` at expected accuracy ``p`` and over-dispersion ``tau`` (concentration
    ``1 / tau**2``); the binomial's log mass plus a correction that is 0 at ``tau = 0``.

    Examples
    --------
    >>> from math import lgamma
    >>> from bayescale.model.beta_binomial import beta_binomial_logpmf
    >>> n, k, a = 10042, 5000, 0.5e6                       # p = 0.5, tau = 1e-3: concentration 1e6
    >>> lbeta = lambda x, y: lgamma(x) + lgamma(y) - lgamma(x + y)
    >>> exact = lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1) + lbeta(k + a, n - k + a) - lbeta(a, a)
    >>> bool(abs(float(beta_binomial_logpmf(5000.0, 10042.0, 0.5, 1e-3)) - exact) < 0.03)  # float32: 3e-7 n log n
    True
    """
    phi = 1.0 / jnp.square(tau)
    binomial = _log_choose(n, k) + k * jnp.log(p) + (n - k) * jnp.log1p(-p)
    correction = (log_rising_excess(p * phi, k) + log_rising_excess((1.0 - p) * phi, n - k)
                  - log_rising_excess(phi, n))
    return binomial + correction


class BetaBinomialCorrect(dist.Distribution):
    """Correct answers out of ``n_items`` (a NumPyro distribution): beta-binomial with mean accuracy ``p`` and
    over-dispersion ``tau``, its log mass from :func:`beta_binomial_logpmf`. ``p`` outside (0, 1) has log mass
    ``-inf`` (with finite gradients), so a link that leaves the unit interval is a boundary the sampler does
    not cross. Sampling goes through NumPyro's Beta and Binomial."""

    arg_constraints = {"p": dist.constraints.real, "tau": dist.constraints.positive,
                       "n_items": dist.constraints.nonnegative}
    support = dist.constraints.real  # counts may be fractional (accuracy x items)
    pytree_data_fields = ("p", "tau", "n_items")

    def __init__(self, p, tau, n_items, *, validate_args=None):
        self.p, self.tau, self.n_items = jnp.asarray(p), jnp.asarray(tau), jnp.asarray(n_items)
        batch_shape = jnp.broadcast_shapes(jnp.shape(p), jnp.shape(tau), jnp.shape(n_items))
        super().__init__(batch_shape=batch_shape, validate_args=validate_args)

    def log_prob(self, value):
        valid = (self.p > 0.0) & (self.p < 1.0)
        safe_p = jnp.where(valid, self.p, 0.5)
        out = beta_binomial_logpmf(value, self.n_items, safe_p, self.tau)
        return jnp.where(valid, out, -jnp.inf)

    def sample(self, key, sample_shape=()):
        import jax

        shape = tuple(sample_shape) + self.batch_shape
        phi = 1.0 / jnp.square(self.tau)
        p = jnp.clip(self.p, 1e-6, 1.0 - 1e-6)
        k_beta, k_binom = jax.random.split(key)
        q = dist.Beta(p * phi, (1.0 - p) * phi).sample(k_beta, sample_shape)
        return dist.Binomial(jnp.broadcast_to(self.n_items, shape).astype(jnp.int32), q).sample(k_binom).astype(
            jnp.result_type(float))


def sample_correct(rng: np.random.Generator, p, tau, n_items) -> np.ndarray:
    """NumPy draws (float64) of correct answers: ``q ~ Beta(p phi, (1 - p) phi)``, ``k ~ Binomial(n_items, q)``,
    broadcast over ``p``, ``tau`` and ``n_items``; ``tau = 0`` gives the binomial."""
    p = np.asarray(p, dtype=np.float64)
    tau = np.asarray(tau, dtype=np.float64)
    p, tau, n = np.broadcast_arrays(p, tau, np.asarray(n_items))
    binomial = tau <= 0.0
    phi = 1.0 / np.square(np.where(binomial, 1.0, tau))
    inner = np.clip(p, 1e-12, 1.0 - 1e-12)  # Beta's parameters must be positive
    q = np.where(binomial, p, rng.beta(inner * phi, (1.0 - inner) * phi))
    return rng.binomial(n.astype(np.int64), np.clip(q, 0.0, 1.0)).astype(np.float64)
