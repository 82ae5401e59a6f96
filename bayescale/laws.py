"""Scaling laws as pure JAX functions, and the :class:`Law` objects that fit them.

Tier one of the library: ``chinchilla_log_loss(params, N, D)`` is a pure,
shape-polymorphic function of arrays that never jits inside and works under
``jax.vmap`` over posterior draws and over datasets.

Tier two is :class:`Law`: a law's parameter names, its default priors, and the
parametrisation it is *sampled* in. The Chinchilla law is sampled in centred
form (SCIENCE.md): instead of ``A`` the sampler sees ``A_ref = A / N0**alpha``,
the reducible loss due to finite N at a reference size ``N0`` inside the data
(likewise ``B_ref``). That removes the near-collinearity of ``log A`` and
``alpha`` and makes the default priors independent of the units and scale of N
and D. ``A`` and ``B`` are recorded as deterministic sites on the natural scale.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, NamedTuple

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from bayescale.errors import ConfigError
from bayescale.priors import Prior

__all__ = [
    "ChinchillaParams",
    "chinchilla_log_loss",
    "chinchilla_loss",
    "Law",
    "CHINCHILLA",
    "LAWS",
    "get_law",
]


class ChinchillaParams(NamedTuple):
    """Parameters of ``L(N, D) = E + A / N**alpha + B / D**beta`` on the natural scale."""

    E: jnp.ndarray
    A: jnp.ndarray
    B: jnp.ndarray
    alpha: jnp.ndarray
    beta: jnp.ndarray


def chinchilla_log_loss(params: ChinchillaParams | Mapping, N, D):
    """``log L(N, D)`` in the numerically stable logsumexp form.

    ``params`` entries broadcast against ``N`` and ``D``: give them a trailing
    axis (``p[..., None]``) to evaluate many draws at many points.

    Examples
    --------
    >>> from bayescale.laws import ChinchillaParams, chinchilla_loss
    >>> p = ChinchillaParams(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    >>> round(float(chinchilla_loss(p, 7e10, 1.4e12)), 3)
    1.937
    """
    p = params._asdict() if isinstance(params, ChinchillaParams) else params
    logN, logD = jnp.log(N), jnp.log(D)
    terms = jnp.stack(
        jnp.broadcast_arrays(
            jnp.log(p["E"]),
            jnp.log(p["A"]) - p["alpha"] * logN,
            jnp.log(p["B"]) - p["beta"] * logD,
        ),
        axis=0,
    )
    return logsumexp(terms, axis=0)


def chinchilla_loss(params: ChinchillaParams | Mapping, N, D):
    """``L(N, D) = E + A / N**alpha + B / D**beta``."""
    return jnp.exp(chinchilla_log_loss(params, N, D))


def _chinchilla_centred_log_loss(s: Mapping, ref: Mapping, logN, logD):
    """log L from the sampled (centred) parameters; ``ref`` holds log N0 and log D0."""
    return logsumexp(
        jnp.stack(
            jnp.broadcast_arrays(
                jnp.log(s["E"]),
                jnp.log(s["A_ref"]) - s["alpha"] * (logN - ref["logN0"]),
                jnp.log(s["B_ref"]) - s["beta"] * (logD - ref["logD0"]),
            ),
            axis=0,
        ),
        axis=0,
    )


def _chinchilla_natural(s: Mapping, ref: Mapping) -> dict:
    """Natural-scale A and B from the centred ``A_ref``, ``B_ref``."""
    return {
        "A": jnp.exp(jnp.log(s["A_ref"]) + s["alpha"] * ref["logN0"]),
        "B": jnp.exp(jnp.log(s["B_ref"]) + s["beta"] * ref["logD0"]),
    }


@dataclasses.dataclass(frozen=True)
class Law:
    """A scaling law bayescale can fit.

    Parameters
    ----------
    name : str
        Registry name (``bs.fit(data, law=name)``).
    formula : str
        Human-readable form, shown in summaries.
    param_names : tuple of str
        Parameters on the natural scale, as named in ``fit.idata.posterior``.
    sampled_names : tuple of str
        The parameters the priors are placed on and the sampler sees.
    default_priors : mapping
        One :class:`~bayescale.Prior` per sampled parameter.
    log_loss : callable
        Pure ``log_loss(params, N, D)`` on natural parameters.
    sampled_log_loss : callable
        ``f(sampled, ref, logN, logD)``: the same law written in the sampled parameters.
    derived : callable
        ``f(sampled, ref) -> dict`` of natural parameters not sampled directly.
    covariates : tuple of str
        Data columns the law depends on (each needs more than one distinct value).
    positive : frozenset of str
        Sampled parameters that must be positive.
    has_frontier : bool
        Whether the compute-optimal frontier along ``6 N D = C`` exists in closed form.
    """

    name: str
    formula: str
    param_names: tuple[str, ...]
    sampled_names: tuple[str, ...]
    default_priors: Mapping[str, Prior]
    log_loss: Callable
    sampled_log_loss: Callable
    derived: Callable
    covariates: tuple[str, ...] = ("N", "D")
    positive: frozenset = frozenset()
    has_frontier: bool = False

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    def reference(self, N: np.ndarray, D: np.ndarray) -> dict[str, float]:
        """Reference scales for centring: geometric means of N and D in the data."""
        return {"logN0": float(np.mean(np.log(N))), "logD0": float(np.mean(np.log(D)))}

    def __repr__(self) -> str:
        return f"Law({self.name!r}: {self.formula})"


CHINCHILLA = Law(
    name="chinchilla",
    formula="L(N, D) = E + A / N^alpha + B / D^beta",
    param_names=("E", "A", "B", "alpha", "beta"),
    sampled_names=("E", "A_ref", "B_ref", "alpha", "beta"),
    default_priors={
        # Irreducible loss in nats/token: median 1, 90% in [0.19, 5.2].
        "E": Prior("LogNormal", loc=0.0, scale=1.0),
        # Reducible loss from finite N (D) at the data's geometric-mean N0 (D0):
        # median 0.37, 90% in [0.03, 4.3] nats; scale-free in N and D by construction.
        "A_ref": Prior("LogNormal", loc=-1.0, scale=1.5),
        "B_ref": Prior("LogNormal", loc=-1.0, scale=1.5),
        # Exponents: median 0.3, 90% in [0.087, 1.03]; covers Kaplan (0.076-0.095) to
        # Chinchilla (0.28-0.37) and beyond without favouring either.
        "alpha": Prior("LogNormal", loc=-1.2, scale=0.75),
        "beta": Prior("LogNormal", loc=-1.2, scale=0.75),
    },
    log_loss=chinchilla_log_loss,
    sampled_log_loss=_chinchilla_centred_log_loss,
    derived=_chinchilla_natural,
    covariates=("N", "D"),
    positive=frozenset({"E", "A_ref", "B_ref", "alpha", "beta"}),
    has_frontier=True,
)

#: Laws available by name in ``bs.fit(data, law=...)``.
LAWS: dict[str, Law] = {"chinchilla": CHINCHILLA}


def get_law(law: str | Law) -> Law:
    """Look a law up by name (or pass a :class:`Law` through)."""
    if isinstance(law, Law):
        return law
    if isinstance(law, str) and law in LAWS:
        return LAWS[law]
    raise ConfigError(f"unknown law {law!r}; choose one of {sorted(LAWS)} or pass a bayescale.Law")
