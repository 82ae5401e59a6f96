"""Observation models for log loss.

bayescale compares the law's ``log L`` with ``log(observed loss)``: the noise is
multiplicative, and one noise scale ``sigma`` serves losses of any size.

Three noise models, selected with ``bs.fit(..., likelihood=...)``:

- ``"student_t"`` (default): Student-t with ``df`` degrees of freedom, fixed
  (default 4) or learned (``Likelihood("student_t", df="learn")``, prior
  ``Gamma(2, 0.1)`` on ``df`` after Juárez and Steel 2010). The Bayesian analogue
  of the robust fits in the literature: a few bad runs cannot pull the exponents far.
- ``"normal"``: Gaussian noise on log loss.
- ``"huber"``: Epoch AI's normalised Huber density on log residuals
  (Besiroglu et al. 2024), :class:`HuberLogResidual`: its maximum is the classic
  Huber fit with ``delta = 1e-3``.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from jax.scipy.special import erf, ndtr, ndtri
from numpyro.distributions import constraints
from numpyro.distributions.util import promote_shapes

from bayescale.errors import ConfigError
from bayescale.priors import Prior

__all__ = [
    "Likelihood",
    "get_likelihood",
    "LIKELIHOODS",
    "DEFAULT_SIGMA_PRIOR",
    "DEFAULT_DF_PRIOR",
    "HuberLogResidual",
    "huber_normaliser",
]

#: Noise scale on log loss: half-normal with scale 0.1 (a 10% relative error is large).
DEFAULT_SIGMA_PRIOR = Prior("HalfNormal", scale=0.1)
#: Prior on learned Student-t degrees of freedom (Juárez and Steel 2010): mean 20,
#: 90% in [3.6, 47]; light enough tails to let the data choose between t and normal.
DEFAULT_DF_PRIOR = Prior("Gamma", concentration=2.0, rate=0.1)
#: Epoch AI's Huber threshold on log residuals.
DEFAULT_HUBER_DELTA = 1e-3

LIKELIHOODS = ("student_t", "normal", "huber")

#: Site name of learned Student-t degrees of freedom.
DF = "df"


def huber_normaliser(delta: float) -> float:
    """``Z(delta) = ∫ exp(-huber_delta(r)) dr`` over the real line.

    ``huber_delta(r) = r**2 / 2`` for ``|r| <= delta`` and ``delta * (|r| - delta / 2)``
    beyond, so ``Z = sqrt(2 pi) erf(delta / sqrt 2) + 2 exp(-delta**2 / 2) / delta``.

    Examples
    --------
    >>> from bayescale.likelihoods import huber_normaliser
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
        Huber threshold on the standardised residual (default 1e-3), a Python float.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from bayescale.likelihoods import HuberLogResidual
    >>> d = HuberLogResidual(0.0, 1e-5, delta=1e-3)
    >>> y = d.sample(jax.random.PRNGKey(0), (20000,))
    >>> round(float(jnp.mean(jnp.abs(y))) / 1e-2, 1)   # mean |y| is about scale / delta
    1.0
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    reparametrized_params = ["loc", "scale"]

    def __init__(self, loc=0.0, scale=1.0, *, delta: float = DEFAULT_HUBER_DELTA, validate_args=None):
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


@dataclasses.dataclass(frozen=True)
class Likelihood:
    """Noise model on log loss.

    Parameters
    ----------
    kind : {"student_t", "normal", "huber"}
    df : float or "learn"
        Student-t degrees of freedom (ignored otherwise). The default 4 has
        finite variance but tails heavy enough that a 5-sigma outlier costs
        little. ``"learn"`` samples ``df`` with the prior ``priors["df"]``
        (default :data:`DEFAULT_DF_PRIOR`, Gamma(2, 0.1)).
    delta : float
        Huber threshold on the standardised log residual (``"huber"`` only;
        Epoch AI's 1e-3 by default).

    Examples
    --------
    >>> from bayescale import Likelihood
    >>> Likelihood("normal")
    Likelihood(kind='normal', df=4.0, delta=0.001)
    >>> Likelihood("student_t", df="learn").learns_df
    True
    """

    kind: str = "student_t"
    df: float | str = 4.0
    delta: float = DEFAULT_HUBER_DELTA

    def __post_init__(self) -> None:
        if self.kind not in LIKELIHOODS:
            raise ConfigError(f"unknown likelihood {self.kind!r}; choose one of {list(LIKELIHOODS)}")
        if self.df != "learn":
            try:
                df = float(self.df)
            except (TypeError, ValueError):
                raise ConfigError(f"Student-t df must be a positive number or 'learn', got df={self.df!r}") from None
            if not df > 0 or not math.isfinite(df):
                raise ConfigError(f"Student-t degrees of freedom must be > 0 (or 'learn'), got df={self.df!r}")
            object.__setattr__(self, "df", df)
        try:
            delta = float(self.delta)
        except (TypeError, ValueError):
            raise ConfigError(f"Huber delta must be a positive number, got delta={self.delta!r}") from None
        if not delta > 0 or not math.isfinite(delta):
            raise ConfigError(f"Huber delta must be > 0, e.g. 1e-3; got delta={self.delta!r}")
        object.__setattr__(self, "delta", delta)

    @property
    def learns_df(self) -> bool:
        """Whether ``df`` is a sampled parameter."""
        return self.kind == "student_t" and self.df == "learn"

    def default_priors(self) -> dict[str, Prior]:
        """Priors of the noise parameters: ``sigma`` (and ``df`` when learned).

        For ``"huber"`` the effective residual scale is ``sigma / delta``, so its
        ``sigma`` prior is HalfNormal(0.1 * delta): the same statement ("a 10%
        relative error is large") as for the other likelihoods.
        """
        out = {"sigma": DEFAULT_SIGMA_PRIOR}
        if self.kind == "huber":
            out["sigma"] = Prior("HalfNormal", scale=0.1 * self.delta)
        if self.learns_df:
            out[DF] = DEFAULT_DF_PRIOR
        return out

    def dist(self, loc, scale, df=None) -> dist.Distribution:
        """The distribution of log(observed loss) given the law's log loss and sigma.

        ``df`` is the sampled degrees of freedom when :attr:`learns_df`.
        """
        if self.kind == "normal":
            return dist.Normal(loc, scale)
        if self.kind == "huber":
            return HuberLogResidual(loc, scale, delta=self.delta)
        if self.learns_df:
            if df is None:
                raise ConfigError("this likelihood learns df: pass the sampled df")
            return dist.StudentT(df, loc, scale)
        return dist.StudentT(self.df, loc, scale)

    def noise(self, seed: int, sigma, df=None, shape: tuple = ()):
        """Draws of the observation noise on log loss (numpy), one per draw of ``sigma``.

        ``sigma`` (and ``df``) have shape ``(S,)``; the result has shape ``(S,) + shape``.
        """
        import numpy as np

        sigma = jnp.asarray(sigma).reshape((-1,) + (1,) * len(shape))
        if df is not None:
            df = jnp.asarray(df).reshape(sigma.shape)
        d = self.dist(jnp.zeros_like(sigma), sigma, df=df)
        out = d.expand(jnp.broadcast_shapes(sigma.shape, (1,) + tuple(shape))).sample(jax.random.PRNGKey(seed))
        return np.asarray(out, dtype=np.float64)

    def standard_noise(self, rng, shape: tuple, df=None):
        """Numpy draws of the unit-scale noise (location 0, scale 1) of this likelihood.

        ``rng`` is a :class:`numpy.random.Generator`; ``df`` (broadcastable to ``shape``) is
        needed when :attr:`learns_df`.
        """
        import numpy as np

        if self.kind == "normal":
            return rng.standard_normal(shape)
        if self.kind == "student_t":
            df = self.df if not self.learns_df else df
            if df is None:
                raise ConfigError("this likelihood learns df: pass the sampled df")
            return rng.standard_t(np.broadcast_to(np.asarray(df, dtype=np.float64), shape))
        key = jax.random.PRNGKey(int(rng.integers(2**31)))
        return np.asarray(HuberLogResidual(0.0, 1.0, delta=self.delta).sample(key, shape), dtype=np.float64)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "df": self.df, "delta": self.delta}


def predictive_draws(likelihood: Likelihood, params: dict, seed: int):
    """Posterior predictive draws ``loc + scale * noise`` of log loss (numpy, float32).

    ``params`` holds the observation distribution's ``loc`` (shape ``(chain, draw, n)``),
    ``scale`` and, for Student-t, ``df`` (per draw, with or without the run axis), as the
    compiled sampler returns them. Same ``seed``, same draws.
    """
    import numpy as np

    loc = np.asarray(params["loc"], dtype=np.float64)

    def full(a):
        a = np.asarray(a, dtype=np.float64)
        a = a.reshape(a.shape[:2] + (1,) * (loc.ndim - a.ndim) + a.shape[2:])
        return np.broadcast_to(a, loc.shape)

    rng = np.random.default_rng([int(seed), 0x9E3779B9])
    noise = likelihood.standard_noise(rng, loc.shape, df=full(params["df"]) if "df" in params else None)
    return (loc + full(params["scale"]) * noise).astype(np.float32)


def get_likelihood(likelihood: str | Likelihood) -> Likelihood:
    """A :class:`Likelihood` from a name (default settings) or passed through.

    Examples
    --------
    >>> from bayescale.likelihoods import get_likelihood
    >>> get_likelihood("huber").delta
    0.001
    """
    if isinstance(likelihood, Likelihood):
        return likelihood
    if isinstance(likelihood, str):
        return Likelihood(likelihood)
    raise ConfigError(f"likelihood must be one of {list(LIKELIHOODS)} or a bayescale.Likelihood, got {likelihood!r}")
