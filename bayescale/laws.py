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
import functools
from typing import Callable, Mapping, NamedTuple

import jax.numpy as jnp
import numpy as np
import jax

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
    "power_law",
    "broken_power_law",
    "custom_law",
    "POWER_LAW",
    "KAPLAN",
    "DATA_CONSTRAINED",
    "BROKEN_POWER_LAW",
    "kaplan_log_loss",
    "data_constrained_log_loss",
    "broken_power_law_log_loss",
    "power_law_log_loss",
]


def _logsumexp_terms(*terms):
    """``log(sum(exp(t) for t in terms))`` elementwise over broadcast terms: the result (and gradient)
    of ``jax.scipy.special.logsumexp(jnp.stack(terms), axis=0)`` (max subtracted, its gradient stopped).

    Written elementwise rather than as a reduction over a stacked axis: XLA:CPU (jaxlib 0.10) hands
    ``reduce(stack(terms), axis=0)`` to a YNNPACK fusion, which is 10-25x slower once the stacked
    array passes 128 KiB (float32 Chinchilla: above 10,922 points), so one gradient cost 2.4-3.2x more
    per point at 25,000 points than at 10,000 (``benchmarks/bench_data_size.py``).
    """
    terms = jnp.broadcast_arrays(*terms)
    m = functools.reduce(jnp.maximum, terms)
    m = jax.lax.stop_gradient(jnp.where(jnp.isfinite(m), m, jnp.zeros_like(m)))
    return m + jnp.log(functools.reduce(jnp.add, [jnp.exp(t - m) for t in terms]))


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
    return _logsumexp_terms(jnp.log(p["E"]), jnp.log(p["A"]) - p["alpha"] * logN, jnp.log(p["B"]) - p["beta"] * logD)


def chinchilla_loss(params: ChinchillaParams | Mapping, N, D):
    """``L(N, D) = E + A / N**alpha + B / D**beta``."""
    return jnp.exp(chinchilla_log_loss(params, N, D))


def _chinchilla_centred_log_loss(s: Mapping, ref: Mapping, logN, logD):
    """log L from the sampled (centred) parameters; ``ref`` holds log N0 and log D0."""
    return _logsumexp_terms(
        jnp.log(s["E"]),
        jnp.log(s["A_ref"]) - s["alpha"] * (logN - ref["logN0"]),
        jnp.log(s["B_ref"]) - s["beta"] * (logD - ref["logD0"]),
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

    The built-in laws are in :data:`LAWS`; build your own with :func:`custom_law`
    (any JAX function of parameters and covariates plus a dict of priors).

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
        Pure ``log_loss(params, *covariates)`` on natural parameters, covariates
        in the order of ``covariates`` (``log_loss(params, N, D)`` for Chinchilla).
    sampled_log_loss : callable
        ``f(sampled, ref, *log_covariates)``: the same law written in the sampled
        parameters, taking the logs of the covariates.
    derived : callable
        ``f(sampled, ref) -> dict`` of natural parameters not sampled directly.
    covariates : tuple of str
        Data columns the law depends on, from ``"N"``, ``"D"``, ``"C"`` (= 6ND) and
        ``"U"`` (unique tokens); each needs more than one distinct value.
    positive : frozenset of str
        Sampled parameters that must be positive.
    has_frontier : bool
        Whether the law answers the compute-optimal frontier along ``6 N D = C``
        (laws in N and D only).
    frontier_fn : callable, optional
        Closed-form frontier ``f(natural_params, C) -> dict``; without it a law
        with a frontier is minimised numerically along ``6 N D = C``.
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
    frontier_fn: Callable | None = None

    def __post_init__(self) -> None:
        bad = [c for c in self.covariates if c not in COVARIATES]
        if bad or not self.covariates:
            raise ConfigError(f"law {self.name!r}: covariates must be a non-empty tuple from {COVARIATES}, got {self.covariates!r}")
        if self.has_frontier and tuple(self.covariates) != ("N", "D"):
            raise ConfigError(
                f"law {self.name!r} depends on {self.covariates}: only laws of (N, D) alone have a "
                "compute-optimal frontier along 6ND = C; set has_frontier=False"
            )
        missing = set(self.sampled_names) - set(self.default_priors)
        if missing:
            raise ConfigError(f"law {self.name!r}: no default prior for {sorted(missing)}")

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    def reference(self, N: np.ndarray, D: np.ndarray, U: np.ndarray | None = None) -> dict[str, float]:
        """Reference scales for centring: geometric means in the data of each covariate the law uses."""
        values = covariate_values(self.covariates, N=N, D=D, U=U)
        return {f"log{c}0": float(np.mean(np.log(v))) for c, v in values.items()}

    def __repr__(self) -> str:
        return f"Law({self.name!r}: {self.formula})"


#: Covariates a law can depend on: parameters, tokens, compute (6ND) and unique tokens.
COVARIATES = ("N", "D", "C", "U")


def covariate_values(covariates, *, N=None, D=None, U=None) -> dict[str, np.ndarray]:
    """The arrays of the named covariates (``C = 6 N D``) from N, D and U."""
    out = {}
    for c in covariates:
        if c == "C":
            out[c] = 6.0 * np.asarray(N, dtype=np.float64) * np.asarray(D, dtype=np.float64)
        else:
            v = {"N": N, "D": D, "U": U}[c]
            if v is None:
                raise ConfigError(f"this law needs the covariate {c!r}, which was not given")
            out[c] = np.asarray(v, dtype=np.float64)
    return out


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
    frontier_fn=lambda params, C: __import__("bayescale.frontier", fromlist=["x"]).chinchilla_frontier(params, C),
)

#: Laws available by name in ``bs.fit(data, law=...)``; the registry is filled at the end of this module.
LAWS: dict[str, Law] = {"chinchilla": CHINCHILLA}


def get_law(law: str | Law) -> Law:
    """Look a law up by name (or pass a :class:`Law` through)."""
    if isinstance(law, Law):
        return law
    if isinstance(law, str) and law in LAWS:
        return LAWS[law]
    raise ConfigError(
        f"unknown law {law!r}; choose one of {sorted(LAWS)}, or build one with bayescale.custom_law(fn, priors=...)"
    )


# --------------------------------------------------------------------------- shared priors
#: Irreducible loss in nats/token: median 1, 90% in [0.19, 5.2].
_E_PRIOR = Prior("LogNormal", loc=0.0, scale=1.0)
#: Reducible loss at the data's reference scale: median 0.37, 90% in [0.03, 4.3] nats.
_REF_PRIOR = Prior("LogNormal", loc=-1.0, scale=1.5)
#: Exponent: median 0.3, 90% in [0.087, 1.03].
_EXP_PRIOR = Prior("LogNormal", loc=-1.2, scale=0.75)


# --------------------------------------------------------------------------- power law in one variable
def power_law_log_loss(params: Mapping, x):
    """``log L(x)`` for ``L = E + A / x**alpha`` (x is N, D or C).

    Examples
    --------
    >>> from bayescale.laws import power_law_log_loss
    >>> import math
    >>> round(math.exp(float(power_law_log_loss(dict(E=1.7, A=50.0, alpha=0.1), 1e20))), 4)
    2.2
    """
    return _logsumexp_terms(jnp.log(params["E"]), jnp.log(params["A"]) - params["alpha"] * jnp.log(x))


def power_law(x: str = "C") -> Law:
    """The one-variable power law with a floor, ``L = E + A / x**alpha``, in ``x`` = ``"N"``, ``"D"`` or ``"C"``.

    Sampled as ``E``, ``A_ref = A / x0**alpha`` (the reducible loss at the data's
    geometric-mean ``x0``) and ``alpha``, with the Chinchilla law's priors. It
    answers ``predict`` only.

    Examples
    --------
    >>> import bayescale as bs
    >>> bs.laws.power_law("N").name, bs.LAWS["power_law"].covariates
    ('power_law_N', ('C',))
    """
    if x not in ("N", "D", "C"):
        raise ConfigError(f"power_law(x=...) takes 'N', 'D' or 'C', got {x!r}")
    key = f"log{x}0"

    def sampled(s, ref, lx):
        return _logsumexp_terms(jnp.log(s["E"]), jnp.log(s["A_ref"]) - s["alpha"] * (lx - ref[key]))

    def derived(s, ref):
        return {"A": jnp.exp(jnp.log(s["A_ref"]) + s["alpha"] * ref[key])}

    return Law(
        name="power_law" if x == "C" else f"power_law_{x}",
        formula=f"L({x}) = E + A / {x}^alpha",
        param_names=("E", "A", "alpha"),
        sampled_names=("E", "A_ref", "alpha"),
        default_priors={"E": _E_PRIOR, "A_ref": _REF_PRIOR, "alpha": _EXP_PRIOR},
        log_loss=power_law_log_loss,
        sampled_log_loss=sampled,
        derived=derived,
        covariates=(x,),
        positive=frozenset({"E", "A_ref", "alpha"}),
    )


POWER_LAW = power_law("C")


# --------------------------------------------------------------------------- Kaplan et al. 2020
def kaplan_log_loss(params: Mapping, N, D):
    """``log L`` of Kaplan et al. (2020): ``L = [(N_c / N)**(alpha_N / alpha_D) + D_c / D]**alpha_D``.

    Examples
    --------
    >>> from bayescale.laws import kaplan_log_loss
    >>> import math
    >>> p = dict(N_c=8.8e13, D_c=5.4e13, alpha_N=0.076, alpha_D=0.095)
    >>> round(math.exp(float(kaplan_log_loss(p, 1e9, 1e11))), 3)
    2.389
    """
    r = params["alpha_N"] / params["alpha_D"]
    return params["alpha_D"] * _logsumexp_terms(
        r * (jnp.log(params["N_c"]) - jnp.log(N)), jnp.log(params["D_c"]) - jnp.log(D)
    )


def _kaplan_sampled(s, ref, logN, logD):
    # At the reference (N0, D0): the bracket is L_ref**(1/alpha_D), a share f_N of it from N.
    lse_ref = jnp.log(s["L_ref"]) / s["alpha_D"]
    u = lse_ref + jnp.log(s["f_N"])
    v = lse_ref + jnp.log1p(-s["f_N"])
    r = s["alpha_N"] / s["alpha_D"]
    return s["alpha_D"] * _logsumexp_terms(u - r * (logN - ref["logN0"]), v - (logD - ref["logD0"]))


def _kaplan_natural(s, ref):
    lse_ref = jnp.log(s["L_ref"]) / s["alpha_D"]
    u = lse_ref + jnp.log(s["f_N"])
    v = lse_ref + jnp.log1p(-s["f_N"])
    return {
        "N_c": jnp.exp(ref["logN0"] + u * s["alpha_D"] / s["alpha_N"]),
        "D_c": jnp.exp(ref["logD0"] + v),
    }


KAPLAN = Law(
    name="kaplan",
    formula="L(N, D) = [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D",
    param_names=("N_c", "D_c", "alpha_N", "alpha_D"),
    sampled_names=("L_ref", "f_N", "alpha_N", "alpha_D"),
    default_priors={
        # Loss at the data's geometric-mean (N0, D0): median 2.7, 90% in [0.53, 14] nats.
        "L_ref": Prior("LogNormal", loc=1.0, scale=1.0),
        # Share of the bracket due to finite N at (N0, D0): uniform on (0, 1) would do; Beta(2, 2)
        # keeps away from the edges where one term vanishes and the other exponent is unidentified.
        "f_N": Prior("Beta", concentration1=2.0, concentration0=2.0),
        # Exponents: median 0.2, 90% in [0.039, 1.04]; covers Kaplan's 0.076 / 0.095.
        "alpha_N": Prior("LogNormal", loc=-1.6, scale=1.0),
        "alpha_D": Prior("LogNormal", loc=-1.6, scale=1.0),
    },
    log_loss=kaplan_log_loss,
    sampled_log_loss=_kaplan_sampled,
    derived=_kaplan_natural,
    covariates=("N", "D"),
    positive=frozenset({"L_ref", "f_N", "alpha_N", "alpha_D"}),
    has_frontier=True,  # no closed form: numerical minimisation along 6ND = C
)


# --------------------------------------------------------------------------- Muennighoff et al. 2023
def _effective_log(log_unique, log_total, r_star):
    """log of ``U + U R* (1 - exp(-R / R*))`` with ``R = total / U - 1`` repetitions beyond the first."""
    R = jnp.expm1(jnp.maximum(log_total - log_unique, 0.0))
    return log_unique + jnp.log1p(r_star * -jnp.expm1(-R / r_star))


def _data_constrained_core(logE, logA, logB, alpha, beta, R_D, R_N, logN, logD, logU):
    log_D_eff = _effective_log(logU, logD, R_D)
    # Parameters worth training on U unique tokens: the compute-optimal N for D = U
    # (alpha A / N**alpha = beta B / U**beta), capped by N.
    log_UN = (jnp.log(alpha) + logA + beta * logU - jnp.log(beta) - logB) / alpha
    log_UN = jnp.minimum(logN, log_UN)
    log_N_eff = _effective_log(log_UN, logN, R_N)
    return _logsumexp_terms(logE, logA - alpha * log_N_eff, logB - beta * log_D_eff)


def data_constrained_log_loss(params: Mapping, N, D, U):
    """``log L`` of the data-constrained law (Muennighoff et al. 2023).

    ``L = E + A / N'**alpha + B / D'**beta`` with effective tokens
    ``D' = U + U R_D (1 - exp(-(D/U - 1) / R_D))`` (repeated epochs are worth less and
    less) and effective parameters ``N' = U_N + U_N R_N (1 - exp(-(N/U_N - 1) / R_N))``,
    ``U_N = min(N, N*(U))`` with ``N*(U)`` the compute-optimal size for ``U`` tokens.
    With ``D = U`` (one epoch) and ``N <= N*(U)`` it is the Chinchilla law.

    Examples
    --------
    >>> from bayescale.laws import data_constrained_log_loss, chinchilla_log_loss
    >>> p = dict(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37, R_D=15.0, R_N=5.0)
    >>> one_epoch = float(data_constrained_log_loss(p, 1e8, 1e10, 1e10))
    >>> round(one_epoch - float(chinchilla_log_loss(p, 1e8, 1e10)), 6)
    0.0
    >>> float(data_constrained_log_loss(p, 1e8, 1e10, 1e9)) > one_epoch   # 10 epochs of 1e9 tokens: worse
    True
    """
    return _data_constrained_core(
        jnp.log(params["E"]), jnp.log(params["A"]), jnp.log(params["B"]), params["alpha"], params["beta"],
        params["R_D"], params["R_N"], jnp.log(N), jnp.log(D), jnp.log(U),
    )


def _data_constrained_sampled(s, ref, logN, logD, logU):
    nat = _chinchilla_natural(s, ref)
    return _data_constrained_core(
        jnp.log(s["E"]), jnp.log(nat["A"]), jnp.log(nat["B"]), s["alpha"], s["beta"], s["R_D"], s["R_N"],
        logN, logD, logU,
    )


DATA_CONSTRAINED = Law(
    name="data_constrained",
    formula="L = E + A / N'^alpha + B / D'^beta; D' = U + U R_D (1 - exp(-(D/U - 1)/R_D)), N' likewise (R_N)",
    param_names=("E", "A", "B", "alpha", "beta", "R_D", "R_N"),
    sampled_names=("E", "A_ref", "B_ref", "alpha", "beta", "R_D", "R_N"),
    default_priors={
        **CHINCHILLA.default_priors,
        # Epochs after which repeated data lose 1 - 1/e of their value: dimensionless.
        # R_D median 12, 90% in [2.4, 63] (Muennighoff et al.: 15.4); R_N median 4.5, 90% in [0.9, 23] (5.3).
        "R_D": Prior("LogNormal", loc=2.5, scale=1.0),
        "R_N": Prior("LogNormal", loc=1.5, scale=1.0),
    },
    log_loss=data_constrained_log_loss,
    sampled_log_loss=_data_constrained_sampled,
    derived=_chinchilla_natural,
    covariates=("N", "D", "U"),
    positive=frozenset({"E", "A_ref", "B_ref", "alpha", "beta", "R_D", "R_N"}),
)


# --------------------------------------------------------------------------- Caballero et al. 2022
def broken_power_law_log_loss(params: Mapping, x):
    """``log L`` of a smoothly broken power law with one break (Caballero et al. 2022).

    ``L = E + A x**(-alpha) (1 + (x / x_b)**(1/f))**(-delta_alpha f)``: exponent
    ``alpha`` well below the break ``x_b``, ``alpha + delta_alpha`` well above, the
    change spread over about ``f`` e-folds of ``x``.

    Examples
    --------
    >>> from bayescale.laws import broken_power_law_log_loss
    >>> import math
    >>> p = dict(E=1.5, A=30.0, alpha=0.1, delta_alpha=0.2, x_b=1e20, f=0.5)
    >>> round(math.exp(float(broken_power_law_log_loss(p, 1e18))), 4)
    1.9755
    """
    lx = jnp.log(x)
    return _logsumexp_terms(
        jnp.log(params["E"]),
        jnp.log(params["A"]) - params["alpha"] * lx
        - params["delta_alpha"] * params["f"] * jax.nn.softplus((lx - jnp.log(params["x_b"])) / params["f"]),
    )


def broken_power_law(x: str = "C") -> Law:
    """The smoothly broken power law (one break) in ``x`` = ``"N"``, ``"D"`` or ``"C"``; ``predict`` only.

    Sampled with ``A_ref = A / x0**alpha`` and the break as ``log_break = log(x_b / x0)``,
    with ``x0`` the data's geometric-mean ``x``.

    Examples
    --------
    >>> import bayescale as bs
    >>> bs.LAWS["broken_power_law"].param_names
    ('E', 'A', 'alpha', 'delta_alpha', 'x_b', 'f')
    """
    if x not in ("N", "D", "C"):
        raise ConfigError(f"broken_power_law(x=...) takes 'N', 'D' or 'C', got {x!r}")
    key = f"log{x}0"

    def sampled(s, ref, lx):
        t = lx - ref[key]
        return _logsumexp_terms(
            jnp.log(s["E"]),
            jnp.log(s["A_ref"]) - s["alpha"] * t - s["delta_alpha"] * s["f"] * jax.nn.softplus((t - s["log_break"]) / s["f"]),
        )

    def derived(s, ref):
        return {"A": jnp.exp(jnp.log(s["A_ref"]) + s["alpha"] * ref[key]), "x_b": jnp.exp(s["log_break"] + ref[key])}

    return Law(
        name="broken_power_law" if x == "C" else f"broken_power_law_{x}",
        formula=f"L({x}) = E + A {x}^-alpha (1 + ({x}/x_b)^(1/f))^(-delta_alpha f)",
        param_names=("E", "A", "alpha", "delta_alpha", "x_b", "f"),
        sampled_names=("E", "A_ref", "alpha", "delta_alpha", "log_break", "f"),
        default_priors={
            "E": _E_PRIOR,
            "A_ref": _REF_PRIOR,
            "alpha": _EXP_PRIOR,
            # Change of exponent at the break, either sign: 90% in [-0.49, 0.49].
            "delta_alpha": Prior("Normal", loc=0.0, scale=0.3),
            # Break within a few e-folds of the data's centre: 90% within a factor e^3.3 = 27.
            "log_break": Prior("Normal", loc=0.0, scale=2.0),
            # Sharpness: median 0.5 e-folds, 90% in [0.22, 1.1].
            "f": Prior("LogNormal", loc=-0.7, scale=0.5),
        },
        log_loss=broken_power_law_log_loss,
        sampled_log_loss=sampled,
        derived=derived,
        covariates=(x,),
        positive=frozenset({"E", "A_ref", "alpha", "f"}),
    )


BROKEN_POWER_LAW = broken_power_law("C")


# --------------------------------------------------------------------------- user-defined laws
def custom_law(
    fn: Callable,
    *,
    priors: Mapping[str, Prior],
    covariates: tuple[str, ...] = ("N", "D"),
    name: str = "custom",
    formula: str | None = None,
    frontier: bool | None = None,
) -> Law:
    """A law from any JAX function ``fn(params, covariates) -> loss``, with no change to the library.

    Parameters
    ----------
    fn : callable
        Pure JAX: ``params`` is a dict of arrays (one per prior), ``covariates`` a
        dict of arrays on the natural scale (``"N"``, ``"D"``, ``"C"``, ``"U"`` as
        listed); returns the (positive) loss, broadcasting like its inputs.
    priors : dict of Prior
        One prior per parameter; these are sampled directly (choose them on the
        scale of your data).
    covariates : tuple of str
        What ``fn`` reads, from ``("N", "D", "C", "U")``.
    name, formula : str
        How the law is labelled (the name is saved with a fit; pass the law back
        to :func:`bayescale.load`).
    frontier : bool, optional
        Whether the law has a compute-optimal frontier (numerical, along 6ND = C);
        default: when ``covariates == ("N", "D")``.

    Examples
    --------
    >>> import jax.numpy as jnp, bayescale as bs
    >>> law = bs.custom_law(
    ...     lambda p, x: p["E"] + p["A"] * jnp.exp(-p["k"] * jnp.log(x["C"])),
    ...     priors={"E": bs.Prior("LogNormal", loc=0.0, scale=1.0),
    ...             "A": bs.Prior("LogNormal", loc=3.0, scale=2.0),
    ...             "k": bs.Prior("LogNormal", loc=-2.0, scale=1.0)},
    ...     covariates=("C",), name="my_law")
    >>> law.param_names, law.has_frontier
    (('E', 'A', 'k'), False)
    """
    if not callable(fn):
        raise ConfigError(f"custom_law needs a function fn(params, covariates) -> loss, got {fn!r}")
    if not isinstance(priors, Mapping) or not priors:
        raise ConfigError("custom_law needs priors={'name': bs.Prior(...), ...}, one per parameter of fn")
    for k, p in priors.items():
        if not isinstance(p, Prior):
            raise ConfigError(f"prior for {k!r} must be a bayescale.Prior, e.g. Prior('LogNormal', loc=0, scale=1); got {p!r}")
    covariates = tuple(covariates)
    names = tuple(priors)

    def log_loss(params, *xs):
        return jnp.log(fn(dict(params), dict(zip(covariates, xs))))

    def sampled(s, ref, *log_xs):
        return jnp.log(fn({k: s[k] for k in names}, {c: jnp.exp(v) for c, v in zip(covariates, log_xs)}))

    if frontier is None:
        frontier = covariates == ("N", "D")
    return Law(
        name=name,
        formula=formula or f"{name}({', '.join(covariates)}; {', '.join(names)})",
        param_names=names,
        sampled_names=names,
        default_priors=dict(priors),
        log_loss=log_loss,
        sampled_log_loss=sampled,
        derived=lambda s, ref: {},
        covariates=covariates,
        positive=frozenset(k for k, p in priors.items() if p.positive),
        has_frontier=bool(frontier),
    )


for _law in (
    POWER_LAW, power_law("N"), power_law("D"), KAPLAN, DATA_CONSTRAINED,
    BROKEN_POWER_LAW, broken_power_law("N"), broken_power_law("D"),
):
    LAWS[_law.name] = _law
del _law
