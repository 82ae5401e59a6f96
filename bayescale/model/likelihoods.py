"""Observation models for log loss: one class per noise model, each owning all that depends on it.

bayescale compares the law's ``log L`` with ``log(observed loss)``: the noise is
multiplicative, and one noise scale ``sigma`` serves losses of any size.

- :class:`StudentT` (``"student_t"``, default): Student-t with ``df`` degrees of
  freedom, fixed (default 4) or learned (``df="learn"``, prior ``Gamma(2, 0.1)``
  after Juárez and Steel 2010). A few bad runs cannot pull the exponents far.
- :class:`Normal` (``"normal"``): Gaussian noise on log loss.
- :class:`Huber` (``"huber"``): Epoch AI's normalised Huber density on log residuals
  (:class:`~bayescale.model.huber.HuberLogResidual`); its maximum is the classic
  Huber fit with ``delta = 1e-3``.

A likelihood owns its distribution (:meth:`Likelihood.dist`), its extra sampled
sites (``df`` when learned), their default priors, its noise draws on the host
(:meth:`Likelihood.standard_noise`, and scaled by draws of sigma: :meth:`Likelihood.noise`), its unit
log density and its Gaussian-equivalent variance: no caller branches on which one
it holds. ``bs.Likelihood("student_t", df="learn")`` builds the class by name.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from typing import ClassVar, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from bayescale.errors import ConfigError
from bayescale.model.priors import Prior

__all__ = [
    "Likelihood",
    "Normal",
    "StudentT",
    "Huber",
    "get_likelihood",
    "LIKELIHOODS",
    "NOISE",
    "DF",
    "DEFAULT_SIGMA_PRIOR",
    "DEFAULT_DF_PRIOR",
    "predictive_draws",
]

#: Epoch AI's Huber threshold on log residuals (:class:`Huber`'s default ``delta``).
DEFAULT_HUBER_DELTA = 1e-3

#: Site name of the noise scale on log loss.
NOISE = "sigma"
#: Site name of learned Student-t degrees of freedom.
DF = "df"
#: The stream of a seed that :meth:`Likelihood.noise` draws from (``default_rng([seed, NOISE_STREAM])``).
NOISE_STREAM = 0x5E1F
#: Noise scale on log loss: half-normal with scale 0.1 (a 10% relative error is large).
DEFAULT_SIGMA_PRIOR = Prior._builtin("HalfNormal", scale=0.1)
#: Prior on learned Student-t degrees of freedom (Juárez and Steel 2010): mean 20,
#: 90% in [3.6, 47]; light enough tails to let the data choose between t and normal.
DEFAULT_DF_PRIOR = Prior._builtin("Gamma", concentration=2.0, rate=0.1)


class _ByName(abc.ABCMeta):
    """``Likelihood("student_t", df=...)`` builds the subclass registered under that name."""

    def __call__(cls, *args, **kwargs):
        if cls is Likelihood:
            return _from_name(*args, **kwargs)
        return super().__call__(*args, **kwargs)


class Likelihood(metaclass=_ByName):
    """Noise model on log loss (abstract); build one by name or from its class.

    Examples
    --------
    >>> from bayescale import Likelihood
    >>> Likelihood("normal")
    Normal()
    >>> Likelihood("student_t", df="learn").extra_sites
    ('df',)
    >>> Likelihood("huber").default_priors()["sigma"]
    Prior('HalfNormal', scale=0.0001)
    """

    #: Registry name (``bs.fit(..., likelihood=kind)``), saved with a fit.
    kind: ClassVar[str]

    # ----------------------------------------------------------------- model
    @property
    def extra_sites(self) -> tuple[str, ...]:
        """Sampled noise parameters besides ``sigma`` (their names in the posterior)."""
        return ()

    def default_priors(self) -> dict[str, Prior]:
        """Priors of the noise parameters: ``sigma`` (and any extra site)."""
        return {NOISE: DEFAULT_SIGMA_PRIOR}

    def positive_sites(self) -> set[str]:
        """Noise parameters that must be positive (their priors are checked)."""
        return {NOISE, *self.extra_sites}

    def sample_extra(self, priors: Mapping[str, Prior]) -> dict:
        """Inside a NumPyro model: sample the extra sites, ``{name: value}``."""
        import numpyro

        return {k: numpyro.sample(k, priors[k].to_numpyro()) for k in self.extra_sites}

    @abc.abstractmethod
    def dist(self, loc, scale, **extra) -> "numpyro.distributions.Distribution":  # noqa: F821
        """The distribution of log(observed loss) given the law's log loss and ``sigma``.

        ``extra`` holds the values of :attr:`extra_sites` (e.g. a sampled ``df``).
        """

    # ----------------------------------------------------------------- noise
    @abc.abstractmethod
    def standard_noise(self, rng: np.random.Generator, shape: tuple, **extra) -> np.ndarray:
        """NumPy draws of the unit-scale noise (location 0, ``sigma`` = 1); ``extra`` broadcast to ``shape``."""

    def noise(self, seed: int, sigma, shape: tuple = (), **extra) -> np.ndarray:
        """Draws of the observation noise on log loss, one row per draw of ``sigma`` (float64).

        ``sigma`` (and each extra) has shape ``(S,)``; the result has shape ``(S,) + shape``. Drawn with
        NumPy (:meth:`standard_noise`) from its own stream of ``seed`` (independent of the error models'
        streams): JAX's Student-t sampler compiled a gamma rejection loop for every new shape (2-3 s each).
        """
        sigma = np.asarray(sigma, dtype=np.float64).reshape((-1,) + (1,) * len(shape))
        full = np.broadcast_shapes(sigma.shape, (1,) + tuple(shape))
        extra = {k: np.broadcast_to(np.asarray(v, dtype=np.float64).reshape(sigma.shape), full) for k, v in extra.items()}
        rng = np.random.default_rng([int(seed), NOISE_STREAM])
        return sigma * self.standard_noise(rng, full, **extra)

    def unit_logpdf(self, z, **extra) -> np.ndarray:
        """Log density (normalised, float64) of the unit-scale noise at ``z``."""
        from bayescale.model.law import evaluate64

        return evaluate64(lambda z, **e: self.dist(0.0, 1.0, **e).log_prob(z), np.asarray(z, dtype=np.float64),
                          **{k: np.asarray(v, dtype=np.float64) for k, v in extra.items()})

    @abc.abstractmethod
    def gaussian_variance(self, **extra):
        """Inverse Fisher information of the unit noise: one observation informs like a Gaussian one
        of this variance (times ``sigma**2``)."""

    # ----------------------------------------------------------------- naming
    @property
    def label(self) -> str:
        """Short label for tables (``"student_t"``, ``"student_t(df=learn)"``, ...)."""
        return self.kind

    def to_dict(self) -> dict:
        return {"kind": self.kind, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Likelihood":
        """Inverse of :meth:`to_dict`; also reads files that stored every setting of every likelihood."""
        d = dict(d)
        sub = _kind_class(d.pop("kind"))
        fields = {f.name for f in dataclasses.fields(sub)}
        return sub(**{k: v for k, v in d.items() if k in fields})


def _positive_float(name: str, value, example: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a positive number, e.g. {example}; got {name}={value!r}") from None
    if not v > 0 or not math.isfinite(v):
        raise ConfigError(f"{name} must be > 0 and finite, e.g. {example}; got {name}={value!r}")
    return v


@dataclasses.dataclass(frozen=True)
class Normal(Likelihood):
    """Gaussian noise on log loss."""

    kind: ClassVar[str] = "normal"

    def dist(self, loc, scale, **extra):
        import numpyro.distributions as dist

        return dist.Normal(loc, scale)

    def standard_noise(self, rng, shape, **extra):
        return rng.standard_normal(shape)

    def gaussian_variance(self, **extra):
        return 1.0


@dataclasses.dataclass(frozen=True)
class StudentT(Likelihood):
    """Student-t noise on log loss with ``df`` degrees of freedom.

    Parameters
    ----------
    df : float or "learn"
        The default 4 has finite variance but tails heavy enough that a 5-sigma
        outlier costs little. ``"learn"`` samples ``df`` with the prior ``priors["df"]``
        (default :data:`DEFAULT_DF_PRIOR`, Gamma(2, 0.1)).
    """

    kind: ClassVar[str] = "student_t"
    df: float | str = 4.0

    def __post_init__(self) -> None:
        if self.df != "learn":
            object.__setattr__(self, "df", _positive_float("Student-t df", self.df, "4 or 'learn'"))

    @property
    def learns_df(self) -> bool:
        """Whether ``df`` is a sampled parameter."""
        return self.df == "learn"

    @property
    def extra_sites(self) -> tuple[str, ...]:
        return (DF,) if self.learns_df else ()

    def default_priors(self) -> dict[str, Prior]:
        return {NOISE: DEFAULT_SIGMA_PRIOR, **({DF: DEFAULT_DF_PRIOR} if self.learns_df else {})}

    def _df(self, extra):
        if not self.learns_df:
            return self.df
        if DF not in extra:
            raise ConfigError("this likelihood learns df: pass the sampled df (df=...)")
        return extra[DF]

    def dist(self, loc, scale, **extra):
        import numpyro.distributions as dist

        return dist.StudentT(self._df(extra), loc, scale)

    def standard_noise(self, rng, shape, **extra):
        df = np.broadcast_to(np.asarray(self._df(extra), dtype=np.float64), shape)
        return rng.standard_t(df)

    def gaussian_variance(self, **extra):
        df = np.asarray(self._df(extra), dtype=np.float64)
        return (df + 3.0) / (df + 1.0)

    @property
    def label(self) -> str:
        return "student_t(df=learn)" if self.learns_df else self.kind


@dataclasses.dataclass(frozen=True)
class Huber(Likelihood):
    """Epoch AI's normalised Huber density on log residuals, threshold ``delta`` (default 1e-3).

    Its effective residual scale is ``sigma / delta``, so the default ``sigma`` prior
    is HalfNormal(0.1 * delta): the same statement ("a 10% relative error is large")
    as for the other likelihoods.
    """

    kind: ClassVar[str] = "huber"
    delta: float = DEFAULT_HUBER_DELTA

    def __post_init__(self) -> None:
        object.__setattr__(self, "delta", _positive_float("Huber delta", self.delta, "1e-3"))

    def default_priors(self) -> dict[str, Prior]:
        return {NOISE: Prior("HalfNormal", scale=0.1 * self.delta)}

    def dist(self, loc, scale, **extra):
        from bayescale.model.huber import HuberLogResidual

        return HuberLogResidual(loc, scale, delta=self.delta)

    def standard_noise(self, rng, shape, **extra):
        from bayescale.model.huber import HuberLogResidual

        key = jax.random.PRNGKey(int(rng.integers(2**31)))
        return np.asarray(HuberLogResidual(0.0, 1.0, delta=self.delta).sample(key, tuple(shape)), dtype=np.float64)

    def gaussian_variance(self, **extra):
        # Fisher information of the unit density: E[psi(r)^2] = sqrt(2 pi) erf(delta / sqrt 2) / Z.
        from bayescale.model.huber import huber_normaliser

        d = self.delta
        return huber_normaliser(d) / (math.sqrt(2.0 * math.pi) * math.erf(d / math.sqrt(2.0)))


#: Likelihoods by name.
LIKELIHOODS: dict[str, type[Likelihood]] = {c.kind: c for c in (StudentT, Normal, Huber)}


def _kind_class(kind) -> type[Likelihood]:
    if kind not in LIKELIHOODS:
        raise ConfigError(f"unknown likelihood {kind!r}; choose one of {list(LIKELIHOODS)}")
    return LIKELIHOODS[kind]


def _from_name(kind: str = "student_t", **settings) -> Likelihood:
    sub = _kind_class(kind)
    fields = {f.name for f in dataclasses.fields(sub)}
    unknown = sorted(set(settings) - fields)
    if unknown:
        raise ConfigError(
            f"likelihood {kind!r} takes {sorted(fields) or 'no settings'}, not {unknown}; e.g. "
            "Likelihood('student_t', df=4), Likelihood('huber', delta=1e-3), Likelihood('normal')"
        )
    return sub(**settings)


def get_likelihood(likelihood: str | Likelihood) -> Likelihood:
    """A :class:`Likelihood` from a name (default settings) or passed through.

    Examples
    --------
    >>> from bayescale.model.likelihoods import get_likelihood
    >>> get_likelihood("huber").delta
    0.001
    """
    if isinstance(likelihood, Likelihood):
        return likelihood
    if isinstance(likelihood, str):
        return _from_name(likelihood)
    raise ConfigError(f"likelihood must be one of {list(LIKELIHOODS)} or a bayescale.Likelihood, got {likelihood!r}")


def predictive_draws(likelihood: Likelihood, params: dict, seed: int):
    """Posterior predictive draws ``loc + scale * noise`` of log loss (numpy, float32).

    ``params`` holds the observation distribution's ``loc`` (shape ``(chain, draw, n)``),
    ``scale`` and any extra site (per draw, with or without the run axis), as the
    compiled sampler returns them. Same ``seed``, same draws.
    """
    loc = np.asarray(params["loc"], dtype=np.float64)

    def full(a):
        a = np.asarray(a, dtype=np.float64)
        a = a.reshape(a.shape[:2] + (1,) * (loc.ndim - a.ndim) + a.shape[2:])
        return np.broadcast_to(a, loc.shape)

    rng = np.random.default_rng([int(seed), 0x9E3779B9])
    extra = {k: full(params[k]) for k in likelihood.extra_sites}
    noise = likelihood.standard_noise(rng, loc.shape, **extra)
    return (loc + full(params["scale"]) * noise).astype(np.float32)
