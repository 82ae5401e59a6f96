"""The Chinchilla law ``L(N, D) = E + A / N**alpha + B / D**beta`` and its algebra, in one place.

Tier one: pure, shape-polymorphic JAX functions of arrays that never jit inside
and work under ``jax.vmap`` over posterior draws and datasets:
:func:`chinchilla_log_loss` (the stable logsumexp form), :func:`chinchilla_frontier`
(the closed-form compute-optimal frontier, SCIENCE.md) and
:func:`chinchilla_compute_for_loss` (the least compute reaching a loss).

Tier two: :data:`CHINCHILLA`, the :class:`~bayescale.model.law.Law` that fits it.
It is sampled in centred form (SCIENCE.md): instead of ``A`` the sampler sees
``A_ref = A / N0**alpha``, the reducible loss due to finite N at a reference size
``N0`` inside the data (likewise ``B_ref``). That removes the near-collinearity of
``log A`` and ``alpha`` and makes the default priors independent of the units and
scale of N and D. ``A`` and ``B`` are recorded as deterministic sites.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple

import jax.numpy as jnp
import numpy as np

from bayescale.data import FLOPS_PER_PARAM_TOKEN
from bayescale.model.coords import share_coords
from bayescale.model.law import EXPONENT_PRIOR, E_PRIOR, REF_PRIOR, Law, stack_logsumexp
from bayescale.model.priors import Prior

__all__ = [
    "ChinchillaParams",
    "chinchilla_log_loss",
    "chinchilla_loss",
    "chinchilla_frontier",
    "chinchilla_compute_for_loss",
    "CHINCHILLA",
    "NAMES",
]

#: The natural parameters of the Chinchilla law.
NAMES = ("E", "A", "B", "alpha", "beta")


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
    >>> from bayescale.model.chinchilla import ChinchillaParams, chinchilla_loss
    >>> p = ChinchillaParams(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    >>> round(float(chinchilla_loss(p, 7e10, 1.4e12)), 3)
    1.937
    """
    p = params._asdict() if isinstance(params, ChinchillaParams) else params
    logN, logD = jnp.log(N), jnp.log(D)
    return stack_logsumexp(jnp.log(p["E"]), jnp.log(p["A"]) - p["alpha"] * logN, jnp.log(p["B"]) - p["beta"] * logD)


def chinchilla_loss(params: ChinchillaParams | Mapping, N, D):
    """``L(N, D) = E + A / N**alpha + B / D**beta``."""
    return jnp.exp(chinchilla_log_loss(params, N, D))


def _chinchilla_centred_log_loss(s: Mapping, ref: Mapping, logN, logD):
    """log L from the sampled (centred) parameters; ``ref`` holds log N0 and log D0."""
    return stack_logsumexp(
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


def chinchilla_frontier(params: Mapping, C) -> dict:
    """Compute-optimal ``N_opt``, ``D_opt``, tokens per parameter and ``L*`` at budget(s) ``C``.

    Parameters
    ----------
    params : mapping
        ``E, A, B, alpha, beta``, each an array of draws (shape ``(S,)``) or scalars.
    C : array_like
        Compute budgets in FLOPs, shape ``(K,)`` or scalar.

    Returns
    -------
    dict
        ``N_opt``, ``D_opt``, ``tokens_per_param``, ``loss`` with shape
        ``params.shape + C.shape``; ``a`` and ``b`` (the exponents of
        ``N_opt ∝ C**a``, ``D_opt ∝ C**b``) with the shape of the params.

    Examples
    --------
    >>> from bayescale.model.chinchilla import chinchilla_frontier
    >>> p = dict(E=1.817, A=477.8, B=2143.0, alpha=0.347, beta=0.367)
    >>> f = chinchilla_frontier(p, 5.88e23)
    >>> round(float(f["tokens_per_param"]), 1), round(float(f["N_opt"]) / 1e10, 2)
    (17.8, 7.42)
    """
    alpha = jnp.asarray(params["alpha"])[..., None]
    beta = jnp.asarray(params["beta"])[..., None]
    logA = jnp.log(jnp.asarray(params["A"]))[..., None]
    logB = jnp.log(jnp.asarray(params["B"]))[..., None]
    C = jnp.asarray(C)
    scalar_C = C.ndim == 0
    logC6 = jnp.log(jnp.atleast_1d(C)) - jnp.log(FLOPS_PER_PARAM_TOKEN)
    s = alpha + beta
    logG = (jnp.log(alpha) + logA - jnp.log(beta) - logB) / s
    logN = logG + (beta / s) * logC6
    logD = logC6 - logN
    N_opt, D_opt = jnp.exp(logN), jnp.exp(logD)
    nat = {k: jnp.asarray(params[k])[..., None] for k in ("E", "A", "B", "alpha", "beta")}
    loss = jnp.exp(chinchilla_log_loss(nat, N_opt, D_opt))
    out = {"N_opt": N_opt, "D_opt": D_opt, "tokens_per_param": jnp.exp(logD - logN), "loss": loss}
    if scalar_C:
        out = {k: v[..., 0] for k, v in out.items()}
    out["a"] = (beta / s)[..., 0]
    out["b"] = (alpha / s)[..., 0]
    return out


def chinchilla_compute_for_loss(params: Mapping, loss) -> dict[str, np.ndarray]:
    """Per draw, the least training compute that reaches ``loss``, and the ``N``, ``D`` that do it.

    On the compute-optimal frontier the two reducible terms stand in the ratio
    ``A/N**alpha : B/D**beta = beta : alpha``, so reaching ``L = E + r``
    (``r > 0``) takes ``N = (A (alpha+beta) / (beta r))**(1/alpha)``,
    ``D = (B (alpha+beta) / (alpha r))**(1/beta)`` and ``C = 6 N D``.

    Parameters
    ----------
    params : mapping
        ``E, A, B, alpha, beta``: arrays of shape ``(S,)`` (or scalars).
    loss : array_like
        Target losses, shape ``(K,)`` (every draw against every target), or ``(S, K)``: draw ``s``
        against its own row of targets.

    Returns
    -------
    dict
        ``C``, ``N_opt``, ``D_opt`` (``inf`` where the draw cannot reach the
        target, i.e. ``E >= loss``), ``tokens_per_param`` (``nan`` there) and the
        boolean ``reachable``; each of shape ``(S, K)``.

    Examples
    --------
    >>> from bayescale.model.chinchilla import chinchilla_compute_for_loss
    >>> p = dict(E=1.817, A=477.8, B=2143.0, alpha=0.347, beta=0.367)
    >>> out = chinchilla_compute_for_loss(p, [1.9, 1.8])
    >>> f"{out['C'][0, 0]:.3g}", bool(out["reachable"][0, 1])
    ('2.1e+25', False)
    """
    p = {k: np.atleast_1d(np.asarray(params[k], dtype=np.float64))[:, None] for k in NAMES}
    ell = np.asarray(loss, dtype=np.float64)
    ell = ell if ell.ndim == 2 else np.atleast_1d(ell)[None, :]
    r = ell - p["E"]
    ok = r > 0
    s = p["alpha"] + p["beta"]
    with np.errstate(divide="ignore", invalid="ignore"):
        rr = np.where(ok, r, 1.0)
        logN = (np.log(p["A"] * s / p["beta"]) - np.log(rr)) / p["alpha"]
        logD = (np.log(p["B"] * s / p["alpha"]) - np.log(rr)) / p["beta"]
    N = np.where(ok, np.exp(logN), np.inf)
    D = np.where(ok, np.exp(logD), np.inf)
    tpp = np.where(ok, np.exp(logD - logN), np.nan)
    C = np.where(ok, FLOPS_PER_PARAM_TOKEN * np.exp(logN + logD), np.inf)
    return {"C": C, "N_opt": N, "D_opt": D, "tokens_per_param": tpp, "reachable": ok}




CHINCHILLA = Law(
    name="chinchilla",
    formula="L(N, D) = E + A / N^alpha + B / D^beta",
    param_names=NAMES,
    sampled_names=("E", "A_ref", "B_ref", "alpha", "beta"),
    default_priors={
        # Irreducible loss in nats/token: median 1, 90% in [0.19, 5.2].
        "E": E_PRIOR,
        # Reducible loss from finite N (D) at the data's geometric-mean N0 (D0):
        # median 0.37, 90% in [0.03, 4.3] nats; scale-free in N and D by construction.
        "A_ref": REF_PRIOR,
        "B_ref": REF_PRIOR,
        # Exponents: median 0.3, 90% in [0.087, 1.03]; covers Kaplan (0.076-0.095) to
        # Chinchilla (0.28-0.37) and beyond without favouring either.
        "alpha": EXPONENT_PRIOR,
        "beta": EXPONENT_PRIOR,
    },
    log_loss=chinchilla_log_loss,
    sampled_log_loss=_chinchilla_centred_log_loss,
    derived=_chinchilla_natural,
    to_sampled=lambda nat, ref: {
        "E": nat["E"], "alpha": nat["alpha"], "beta": nat["beta"],
        "A_ref": jnp.exp(jnp.log(nat["A"]) - nat["alpha"] * ref["logN0"]),
        "B_ref": jnp.exp(jnp.log(nat["B"]) - nat["beta"] * ref["logD0"]),
    },
    covariates=("N", "D"),
    positive=frozenset({"E", "A_ref", "B_ref", "alpha", "beta"}),
    has_frontier=True,
    frontier_fn=chinchilla_frontier,
    compute_for_loss_fn=chinchilla_compute_for_loss,
    # Across groups (sd of log theta): setups rarely differ by more than ~20% in an exponent or E,
    # while A and B are in effect per group.
    spread_priors={
        "E": Prior._builtin("HalfNormal", scale=0.2),
        "alpha": Prior._builtin("HalfNormal", scale=0.2),
        "beta": Prior._builtin("HalfNormal", scale=0.2),
        "A_ref": Prior._builtin("HalfNormal", scale=1.0),
        "B_ref": Prior._builtin("HalfNormal", scale=1.0),
    },
    # NUTS moves in log L_ref, log(A_ref / E), log(B_ref / E): the ridge few model sizes leave is an axis.
    sampler_coords=share_coords("E", ("A_ref", "B_ref")),
)
