"""Epoch AI's normalised Huber density on log residuals (Besiroglu et al. 2024), as a NumPyro distribution."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from jax.scipy.special import ndtr, ndtri
from numpyro.distributions import constraints
from numpyro.distributions.util import promote_shapes

from bayescale.errors import ConfigError

__all__ = ["HuberLogResidual", "huber_normaliser"]


def huber_normaliser(delta: float) -> float:
    """``Z(delta) = ∫ exp(-huber_delta(r)) dr`` over the real line.

    ``huber_delta(r) = r**2 / 2`` for ``|r| <= delta`` and ``delta * (|r| - delta / 2)``
    beyond, so ``Z = sqrt(2 pi) erf(delta / sqrt 2) + 2 exp(-delta**2 / 2) / delta``.

    Examples
    --------
    >>> from bayescale.model.huber import huber_normaliser
    >>> round(huber_normaliser(1e-3), 3)
    2000.001
    """
    return math.sqrt(2.0 * math.pi) * math.erf(delta / math.sqrt(2.0)) + 2.0 * math.exp(-0.5 * delta**2) / delta


class HuberLogResidual(dist.Distribution):
    """Normalised Huber density: ``p(y) = exp(-huber_delta((y - loc) / scale)) / (scale Z(delta))``.

    Epoch AI's replication of Chinchilla (Besiroglu et al. 2024) fits log loss
    with this density; its maximum-likelihood point is the Huber-loss fit. For
    small ``delta`` it is Laplace-like with effective scale ``scale / delta``.

    Parameters
    ----------
    loc, scale : array_like
        Location and scale (``scale > 0``).
    delta : float
        Huber threshold on the standardised residual, a Python float (the ``huber`` likelihood's default is
        :data:`~bayescale.model.likelihoods.DEFAULT_HUBER_DELTA`, 1e-3).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from bayescale.model.huber import HuberLogResidual
    >>> d = HuberLogResidual(0.0, 1e-5, delta=1e-3)
    >>> y = d.sample(jax.random.PRNGKey(0), (20000,))
    >>> round(float(jnp.mean(jnp.abs(y))) / 1e-2, 1)   # mean |y| is about scale / delta
    1.0
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    reparametrized_params = ["loc", "scale"]

    def __init__(self, loc=0.0, scale=1.0, *, delta: float, validate_args=None):
        delta = float(delta)
        if not delta > 0:
            raise ConfigError(f"Huber delta must be > 0, got delta={delta!r}")
        self.delta = delta
        self.log_z = math.log(huber_normaliser(delta))
        self.loc, self.scale = promote_shapes(loc, scale)
        batch_shape = jax.lax.broadcast_shapes(jnp.shape(loc), jnp.shape(scale))
        super().__init__(batch_shape=batch_shape, validate_args=validate_args)

    def log_prob(self, value):
        r = jnp.abs((value - self.loc) / self.scale)
        d = self.delta
        rho = jnp.where(r <= d, 0.5 * r**2, d * (r - 0.5 * d))
        return -rho - self.log_z - jnp.log(self.scale)

    def sample(self, key, sample_shape=()):
        """Exact draws: a normal truncated to ``[-delta, delta]`` or an exponential tail beyond, by their masses."""
        shape = sample_shape + self.batch_shape
        d = self.delta
        k_part, k_core, k_tail, k_sign = jax.random.split(key, 4)
        core_mass = math.sqrt(2.0 * math.pi) * math.erf(d / math.sqrt(2.0)) / huber_normaliser(d)
        in_core = jax.random.uniform(k_part, shape) < core_mass
        lo, hi = ndtr(-d), ndtr(d)
        core = ndtri(lo + (hi - lo) * jax.random.uniform(k_core, shape, minval=1e-6, maxval=1 - 1e-6))
        core = jnp.clip(core, -d, d)
        tail = d + jax.random.exponential(k_tail, shape) / d
        sign = jnp.where(jax.random.bernoulli(k_sign, 0.5, shape), 1.0, -1.0)
        z = jnp.where(in_core, core, sign * tail)
        return self.loc + self.scale * z

    @property
    def mean(self):
        return jnp.broadcast_to(self.loc, self.batch_shape)

    @property
    def variance(self):
        d = self.delta
        z = huber_normaliser(d)
        # Core: ∫_{-d}^{d} r^2 e^{-r^2/2} dr; tails: 2 ∫_d^inf r^2 e^{-d(r - d/2)} dr.
        core = math.sqrt(2 * math.pi) * math.erf(d / math.sqrt(2)) - 2 * d * math.exp(-0.5 * d * d)
        tail = 2 * math.exp(-0.5 * d * d) * (d * d / d + 2 * d / d**2 + 2 / d**3)
        return jnp.broadcast_to((core + tail) / z * self.scale**2, self.batch_shape)
