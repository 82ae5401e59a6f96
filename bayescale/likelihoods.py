"""Observation models for log loss.

bayescale compares the law's ``log L`` with ``log(observed loss)``: the noise is
multiplicative, and one noise scale ``sigma`` serves losses of any size. The
Student-t default is the Bayesian analogue of the Huber fits in the literature: a
few bad runs cannot pull the exponents far.
"""

from __future__ import annotations

import dataclasses

import numpyro.distributions as dist

from bayescale.errors import ConfigError
from bayescale.priors import Prior

__all__ = ["Likelihood", "get_likelihood", "LIKELIHOODS", "DEFAULT_SIGMA_PRIOR"]

#: Noise scale on log loss: half-normal with scale 0.1 (a 10% relative error is large).
DEFAULT_SIGMA_PRIOR = Prior("HalfNormal", scale=0.1)

LIKELIHOODS = ("student_t", "normal")


@dataclasses.dataclass(frozen=True)
class Likelihood:
    """Noise model on log loss.

    Parameters
    ----------
    kind : {"student_t", "normal"}
    df : float
        Degrees of freedom of the Student-t (ignored for ``"normal"``). The
        default 4 has finite variance but tails heavy enough that a 5-sigma
        outlier costs little.

    Examples
    --------
    >>> from bayescale import Likelihood
    >>> Likelihood("normal")
    Likelihood(kind='normal', df=4.0)
    """

    kind: str = "student_t"
    df: float = 4.0

    def __post_init__(self) -> None:
        if self.kind not in LIKELIHOODS:
            raise ConfigError(f"unknown likelihood {self.kind!r}; choose one of {list(LIKELIHOODS)}")
        df = float(self.df)
        if not df > 0:
            raise ConfigError(f"Student-t degrees of freedom must be > 0, got df={self.df!r}")
        object.__setattr__(self, "df", df)

    def dist(self, loc, scale) -> dist.Distribution:
        """The distribution of log(observed loss) given the law's log loss and sigma."""
        if self.kind == "normal":
            return dist.Normal(loc, scale)
        return dist.StudentT(self.df, loc, scale)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "df": self.df}


def get_likelihood(likelihood: str | Likelihood) -> Likelihood:
    if isinstance(likelihood, Likelihood):
        return likelihood
    if isinstance(likelihood, str):
        return Likelihood(likelihood)
    raise ConfigError(f"likelihood must be one of {list(LIKELIHOODS)} or a bayescale.Likelihood, got {likelihood!r}")
