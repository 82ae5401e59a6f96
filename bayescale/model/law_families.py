"""The other built-in laws: a power law in one variable, Kaplan et al. (2020), the data-constrained
law of Muennighoff et al. (2023) and the smoothly broken power law of Caballero et al. (2022).

Each is a pure JAX ``*_log_loss(params, *covariates)`` (tier one) and a
:class:`~bayescale.model.law.Law` (tier two) sampled in a centred parametrisation.
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp

from bayescale.errors import ConfigError
from bayescale.model.chinchilla import CHINCHILLA, _chinchilla_natural
from bayescale.model.law import EXPONENT_PRIOR, E_PRIOR, REF_PRIOR, Law, stack_logsumexp
from bayescale.model.priors import Prior

__all__ = [
    "power_law",
    "power_law_log_loss",
    "POWER_LAW",
    "kaplan_log_loss",
    "KAPLAN",
    "data_constrained_log_loss",
    "DATA_CONSTRAINED",
    "broken_power_law",
    "broken_power_law_log_loss",
    "BROKEN_POWER_LAW",
]


# --------------------------------------------------------------------------- power law in one variable
def power_law_log_loss(params: Mapping, x):
    """``log L(x)`` for ``L = E + A / x**alpha`` (x is N, D or C).

    Examples
    --------
    >>> from bayescale.model.law_registry import power_law_log_loss
    >>> import math
    >>> round(math.exp(float(power_law_log_loss(dict(E=1.7, A=50.0, alpha=0.1), 1e20))), 4)
    2.2
    """
    return stack_logsumexp(jnp.log(params["E"]), jnp.log(params["A"]) - params["alpha"] * jnp.log(x))


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
        return stack_logsumexp(jnp.log(s["E"]), jnp.log(s["A_ref"]) - s["alpha"] * (lx - ref[key]))

    def derived(s, ref):
        return {"A": jnp.exp(jnp.log(s["A_ref"]) + s["alpha"] * ref[key])}

    return Law(
        name="power_law" if x == "C" else f"power_law_{x}",
        formula=f"L({x}) = E + A / {x}^alpha",
        param_names=("E", "A", "alpha"),
        sampled_names=("E", "A_ref", "alpha"),
        default_priors={"E": E_PRIOR, "A_ref": REF_PRIOR, "alpha": EXPONENT_PRIOR},
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
    >>> from bayescale.model.law_registry import kaplan_log_loss
    >>> import math
    >>> p = dict(N_c=8.8e13, D_c=5.4e13, alpha_N=0.076, alpha_D=0.095)
    >>> round(math.exp(float(kaplan_log_loss(p, 1e9, 1e11))), 3)
    2.389
    """
    r = params["alpha_N"] / params["alpha_D"]
    return params["alpha_D"] * stack_logsumexp(
        r * (jnp.log(params["N_c"]) - jnp.log(N)), jnp.log(params["D_c"]) - jnp.log(D)
    )


def _kaplan_sampled(s, ref, logN, logD):
    # At the reference (N0, D0): the bracket is L_ref**(1/alpha_D), a share f_N of it from N.
    lse_ref = jnp.log(s["L_ref"]) / s["alpha_D"]
    u = lse_ref + jnp.log(s["f_N"])
    v = lse_ref + jnp.log1p(-s["f_N"])
    r = s["alpha_N"] / s["alpha_D"]
    return s["alpha_D"] * stack_logsumexp(u - r * (logN - ref["logN0"]), v - (logD - ref["logD0"]))


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
        "L_ref": Prior._builtin("LogNormal", loc=1.0, scale=1.0),
        # Share of the bracket due to finite N at (N0, D0): uniform on (0, 1) would do; Beta(2, 2)
        # keeps away from the edges where one term vanishes and the other exponent is unidentified.
        "f_N": Prior._builtin("Beta", concentration1=2.0, concentration0=2.0),
        # Exponents: median 0.2, 90% in [0.039, 1.04]; covers Kaplan's 0.076 / 0.095.
        "alpha_N": Prior._builtin("LogNormal", loc=-1.6, scale=1.0),
        "alpha_D": Prior._builtin("LogNormal", loc=-1.6, scale=1.0),
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
    return stack_logsumexp(logE, logA - alpha * log_N_eff, logB - beta * log_D_eff)


def data_constrained_log_loss(params: Mapping, N, D, U):
    """``log L`` of the data-constrained law (Muennighoff et al. 2023).

    ``L = E + A / N'**alpha + B / D'**beta`` with effective tokens
    ``D' = U + U R_D (1 - exp(-(D/U - 1) / R_D))`` (repeated epochs are worth less and
    less) and effective parameters ``N' = U_N + U_N R_N (1 - exp(-(N/U_N - 1) / R_N))``,
    ``U_N = min(N, N*(U))`` with ``N*(U)`` the compute-optimal size for ``U`` tokens.
    With ``D = U`` (one epoch) and ``N <= N*(U)`` it is the Chinchilla law.

    Examples
    --------
    >>> from bayescale.model.law_registry import data_constrained_log_loss, chinchilla_log_loss
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
        "R_D": Prior._builtin("LogNormal", loc=2.5, scale=1.0),
        "R_N": Prior._builtin("LogNormal", loc=1.5, scale=1.0),
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
    >>> from bayescale.model.law_registry import broken_power_law_log_loss
    >>> import math
    >>> p = dict(E=1.5, A=30.0, alpha=0.1, delta_alpha=0.2, x_b=1e20, f=0.5)
    >>> round(math.exp(float(broken_power_law_log_loss(p, 1e18))), 4)
    1.9755
    """
    lx = jnp.log(x)
    return stack_logsumexp(
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
        return stack_logsumexp(
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
            "E": E_PRIOR,
            "A_ref": REF_PRIOR,
            "alpha": EXPONENT_PRIOR,
            # Change of exponent at the break, either sign: 90% in [-0.49, 0.49].
            "delta_alpha": Prior._builtin("Normal", loc=0.0, scale=0.3),
            # Break within a few e-folds of the data's centre: 90% within a factor e^3.3 = 27.
            "log_break": Prior._builtin("Normal", loc=0.0, scale=2.0),
            # Sharpness: median 0.5 e-folds, 90% in [0.22, 1.1].
            "f": Prior._builtin("LogNormal", loc=-0.7, scale=0.5),
        },
        log_loss=broken_power_law_log_loss,
        sampled_log_loss=sampled,
        derived=derived,
        covariates=(x,),
        positive=frozenset({"E", "A_ref", "alpha", "f"}),
    )


BROKEN_POWER_LAW = broken_power_law("C")


