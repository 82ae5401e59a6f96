"""The :class:`Law` object: a scaling law's parameters, priors, parametrisation and algebra.

Tier two of the library (tier one is the pure functions of arrays beside each
law). A law owns everything that depends on its formula:

- its loss, ``log_loss(params, *covariates)`` on natural parameters, and the same
  law in the parametrisation the sampler sees (``sampled_log_loss``, ``derived``);
- its default priors (and how far groups may spread in a hierarchical fit);
- its compute-optimal frontier along ``6 N D = C`` (closed form when given,
  else :func:`~bayescale.model.frontier.numerical_frontier`);
- the least compute that reaches a target loss (closed form when given, else
  bisection on the frontier's loss).

Callers never branch on which law they hold: they ask the law.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from bayescale.data import FLOPS_PER_PARAM_TOKEN
from bayescale.errors import ConfigError, LawCapabilityError
from bayescale.model.frontier import numerical_frontier
from bayescale.model.priors import Prior

__all__ = [
    "Law",
    "COVARIATES",
    "covariate_values",
    "evaluate64",
    "stack_logsumexp",
    "E_PRIOR",
    "REF_PRIOR",
    "EXPONENT_PRIOR",
    "DEFAULT_SPREAD_PRIOR",
]

#: Covariates a law can depend on: parameters, tokens, compute (6ND) and unique tokens.
COVARIATES = ("N", "D", "C", "U")

#: Irreducible loss in nats/token: median 1, 90% in [0.19, 5.2].
E_PRIOR = Prior._builtin("LogNormal", loc=0.0, scale=1.0)
#: Reducible loss at the data's reference scale: median 0.37, 90% in [0.03, 4.3] nats.
REF_PRIOR = Prior._builtin("LogNormal", loc=-1.0, scale=1.5)
#: Exponent: median 0.3, 90% in [0.087, 1.03].
EXPONENT_PRIOR = Prior._builtin("LogNormal", loc=-1.2, scale=0.75)
#: Spread across groups (sd on the unconstrained scale) of a parameter a law gives no spread prior for.
DEFAULT_SPREAD_PRIOR = Prior._builtin("HalfNormal", scale=0.5)


def stack_logsumexp(*terms):
    """``log(sum(exp(t) for t in terms))`` elementwise over broadcast terms: the result (and gradient)
    of ``jax.scipy.special.logsumexp(jnp.stack(terms), axis=0)`` (max subtracted, its gradient stopped).

    Written elementwise rather than as a reduction over a stacked axis: XLA:CPU (jaxlib 0.10) hands
    ``reduce(stack(terms), axis=0)`` to a YNNPACK fusion, which is 10-25x slower once the stacked
    array passes 128 KiB (float32 Chinchilla: above 10,922 points), so one gradient cost 3-8x more
    per point at 25,000 points than at 10,000 (``benchmarks/bench_data_size.py``). Same values and
    gradients bit for bit.
    """
    terms = jnp.broadcast_arrays(*terms)
    m = functools.reduce(jnp.maximum, terms)
    m = jax.lax.stop_gradient(jnp.where(jnp.isfinite(m), m, jnp.zeros_like(m)))
    return m + jnp.log(functools.reduce(jnp.add, [jnp.exp(t - m) for t in terms]))


def evaluate64(fn: Callable, *args, **kwargs):
    """Call a pure JAX function in double precision and return NumPy float64 arrays.

    The sampler works in float32; decisions (bisection to machine precision, compute
    of 1e25 FLOPs) need float64. Arguments should already be float64 NumPy arrays.
    """
    with jax.enable_x64(True):
        out = fn(*args, **kwargs)
        return jax.tree_util.tree_map(lambda a: np.asarray(a, dtype=np.float64), out)


def covariate_values(covariates, *, N=None, D=None, U=None) -> dict[str, np.ndarray]:
    """The arrays of the named covariates (``C = 6 N D``) from N, D and U."""
    out = {}
    for c in covariates:
        if c == "C":
            out[c] = FLOPS_PER_PARAM_TOKEN * np.asarray(N, dtype=np.float64) * np.asarray(D, dtype=np.float64)
        else:
            v = {"N": N, "D": D, "U": U}[c]
            if v is None:
                raise ConfigError(f"this law needs the covariate {c!r}, which was not given")
            out[c] = np.asarray(v, dtype=np.float64)
    return out


@dataclasses.dataclass(frozen=True)
class Law:
    """A scaling law bayescale can fit.

    The built-in laws are in :data:`bayescale.LAWS`; build your own with
    :func:`bayescale.custom_law` (any JAX function of parameters and covariates
    plus a dict of priors).

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
    compute_for_loss_fn : callable, optional
        Closed-form ``f(natural_params, loss) -> dict`` of the least compute reaching
        a loss (see :meth:`compute_for_loss`); without it, bisection on the frontier.
    to_sampled : callable, optional
        ``f(natural, ref) -> dict`` of the sampled parameters not among the natural ones
        (the inverse of ``derived``), so a truth can be given on the natural scale.
    spread_priors : mapping, optional
        Priors on how far each sampled parameter spreads across groups in a partially
        pooled fit (sd on its unconstrained scale); default :data:`DEFAULT_SPREAD_PRIOR`.
    sampler_coords : SamplerCoords, optional
        Coordinates NUTS moves in for an ungrouped fit (:mod:`bayescale.model.coords`);
        ``None``: the model's own unconstrained coordinates. Never changes the posterior.
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
    compute_for_loss_fn: Callable | None = None
    to_sampled: Callable | None = None
    spread_priors: Mapping[str, Prior] = dataclasses.field(default_factory=dict)
    sampler_coords: object | None = None

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

    def spread_prior(self, name: str) -> Prior:
        """The prior on the across-group spread of sampled parameter ``name`` (partial pooling)."""
        return self.spread_priors.get(name, DEFAULT_SPREAD_PRIOR)

    # ----------------------------------------------------------------- algebra
    def require_frontier(self) -> None:
        """Raise :class:`~bayescale.errors.LawCapabilityError` unless the law has a frontier."""
        if not self.has_frontier:
            raise LawCapabilityError(
                f"law {self.name!r} ({self.formula}) depends on {', '.join(self.covariates)} only and "
                "has no compute-optimal frontier along 6ND = C; it answers predict only. Fit a law of (N, D) "
                "(e.g. 'chinchilla' or 'kaplan') for frontier questions"
            )

    def frontier(self, params: Mapping, C) -> dict:
        """Compute-optimal ``N_opt``, ``D_opt``, ``tokens_per_param`` and ``loss`` at budgets ``C``.

        ``params``: natural parameters, arrays of draws ``(S,)``; results ``(S, K)``
        for ``K`` budgets (``(S,)`` for a scalar ``C``). Closed form where the law
        has one (Chinchilla adds the exponents ``a``, ``b``), else numerical.
        """
        self.require_frontier()
        if self.frontier_fn is not None:
            return self.frontier_fn(params, C)
        return numerical_frontier(self.log_loss, params, C)

    def compute_for_loss(self, params: Mapping, loss) -> dict:
        """Per draw, the least training compute that reaches each target ``loss``, and its ``N``, ``D``.

        Returns ``C``, ``N_opt``, ``D_opt`` (``inf`` where the draw cannot reach the
        target), ``tokens_per_param`` (``nan`` there) and ``reachable``, each ``(S, K)``.
        A 2-D ``loss`` of shape ``(S, K)`` pairs draw ``s`` with its own row of targets.
        """
        self.require_frontier()
        if self.compute_for_loss_fn is not None:
            return self.compute_for_loss_fn(params, loss)
        return _compute_for_loss_by_bisection(self, params, loss)

    def __repr__(self) -> str:
        return f"Law({self.name!r}: {self.formula})"


#: Bisection bracket of log10 C (FLOPs) for laws without a closed-form compute-for-loss. A draw whose answer
#: lies outside it has its bracket widened to :data:`_LOG10_C_LIMITS`, never its answer clipped.
_LOG10_C_BRACKET = (10.0, 35.0)
#: The widest bracket: one parameter trained on one token (6 FLOPs) to 1e300 FLOPs (float64 holds it).
_LOG10_C_LIMITS = (float(np.log10(FLOPS_PER_PARAM_TOKEN)), 300.0)


def _compute_for_loss_by_bisection(law: Law, params: Mapping, loss, iterations: int = 64) -> dict:
    """Least compute reaching ``loss``: bisection in log C on the frontier loss ``L*(C)`` (decreasing in C).

    The frontier is the numerical one of ``law.log_loss`` (valid for every law with a frontier), in float64.
    Each draw starts from :data:`_LOG10_C_BRACKET`, widened to :data:`_LOG10_C_LIMITS` where the answer lies
    outside. A draw whose ``L*`` at 1e300 FLOPs is still above the target is unreachable (``C = inf``); a
    target above the loss of a one-parameter, one-token run is refused (nothing to compute).
    """
    p = {k: np.atleast_1d(np.asarray(v, dtype=np.float64)) for k, v in params.items()}
    ell = np.asarray(loss, dtype=np.float64)
    S = next(iter(p.values())).shape[0]
    K = ell.shape[1] if ell.ndim == 2 else ell.size
    flat = {k: np.repeat(v, K) for k, v in p.items()}  # (S * K,): draw s, target k at s * K + k
    target = ell.reshape(-1) if ell.ndim == 2 else np.tile(np.atleast_1d(ell), S)

    with jax.enable_x64(True):  # one compiled program for every step of the bisection, in float64
        jitted = jax.jit(lambda q, log10C: numerical_frontier(law.log_loss, q, 10.0**log10C, paired=True))

    def frontier_at(log10C):
        out = evaluate64(jitted, flat, np.asarray(log10C, dtype=np.float64))
        return {k: out[k] for k in ("loss", "N_opt", "D_opt")}

    lo, hi = _bracket(frontier_at, target, law)
    reachable = frontier_at(hi)["loss"] < target
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        above = frontier_at(mid)["loss"] > target
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    front = frontier_at(hi)
    C = np.where(reachable, 10.0**hi, np.inf)
    N = np.where(reachable, front["N_opt"], np.inf)
    D = np.where(reachable, front["D_opt"], np.inf)
    with np.errstate(invalid="ignore"):
        tpp = np.where(reachable, D / N, np.nan)
    out = {"C": C, "N_opt": N, "D_opt": D, "tokens_per_param": tpp, "reachable": reachable}
    return {k: v.reshape(S, K) for k, v in out.items()}


def _bracket(frontier_at, target: np.ndarray, law: Law) -> tuple[np.ndarray, np.ndarray]:
    """Per draw and target, the bracket of log10 C holding the answer: :data:`_LOG10_C_BRACKET`, or the part of
    :data:`_LOG10_C_LIMITS` below or above it where the answer lies there."""
    (lo0, hi0), (lo_min, hi_max) = _LOG10_C_BRACKET, _LOG10_C_LIMITS
    lo, hi = np.full(target.shape, lo0), np.full(target.shape, hi0)
    below = frontier_at(lo)["loss"] <= target  # reached with less compute than the bracket's start
    above = frontier_at(hi)["loss"] >= target  # not reached within it
    lo, hi = np.where(below, lo_min, np.where(above, hi0, lo)), np.where(below, lo0, np.where(above, hi_max, hi))
    smallest = frontier_at(lo)["loss"]
    tiny = below & (smallest <= target)
    if tiny.any():
        i = int(np.flatnonzero(tiny)[0])
        raise ConfigError(
            f"loss {target[i]:g} is at or above the loss of the smallest run (one parameter, one token: "
            f"{smallest[i]:.4g} under law {law.name!r}) for {int(tiny.sum())} of {tiny.size} draws and targets: "
            "no compute is needed to reach it; choose a lower target loss"
        )
    return lo, hi
