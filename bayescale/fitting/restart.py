"""Chains whose step size collapsed in warmup, and the one restart a fit gets for them.

NUTS adapts each chain's step size in warmup. Now and then one chain ends warmup in a corner
where the posterior is far narrower than elsewhere (a group spread near zero in a hierarchical
fit) and adapts a step size orders of magnitude below the others': it then takes the maximum
tree (1,023 leapfrog steps at depth 10) at every draw and barely moves, R-hat flags the fit,
and continuing its draws (``until_converged``) cannot help, since the step size stays fixed
after warmup. Measured on the 6-recipe simulated design (``bs.datasets.recipes(seed=10)``,
partial pooling, 4 x (500 + 500) draws): one chain adapted 2.2e-6 where the others adapted
0.26-0.28, R-hat 1.56, 268 leapfrog steps per draw, and three extensions did not help.

A fit that fails its checks with such a chain (:func:`stuck_chains`) is run once more from
the start with fresh chains (another random stream of the same seed, :func:`restart_key`;
the compiled programs are reused) and the better of the two is kept (fewer chains that
disagree, then fewer divergences). The one given up is listed in ``fit.refits`` with the
chains that were stuck (:func:`restart_record`). A fit that converged is never restarted,
so restarts change nothing where the sampler worked.
"""

from __future__ import annotations

from typing import Callable

import jax
import numpy as np

__all__ = ["STUCK_STEP_RATIO", "stuck_chains", "restart_key", "restart_if_stuck", "worse_than", "restart_record",
           "describe_restarts", "median_step_size", "is_restart", "count_refits"]

#: A chain is stuck when its adapted step size is below this fraction of the median chain's.
#: Chains of a healthy fit adapt step sizes within a factor of about 2 of each other; the stuck
#: chain measured (module docs) was 1e-5 of the median.
STUCK_STEP_RATIO = 1e-2


def stuck_chains(step_size) -> dict[int, float]:
    """``{chain: its step size}`` of the chains whose step size (``(chains, draws)``, the sampler's
    ``step_size`` statistic, constant after warmup) is below :data:`STUCK_STEP_RATIO` times the median
    chain's, or not finite.

    Examples
    --------
    >>> import numpy as np
    >>> steps = np.array([[0.26] * 3, [0.27] * 3, [2.2e-6] * 3, [0.25] * 3])
    >>> stuck_chains(steps)
    {2: 2.2e-06}
    >>> stuck_chains(steps[:2])
    {}
    """
    final = np.asarray(step_size, dtype=float)[:, -1]
    stuck = ~(final >= STUCK_STEP_RATIO * median_step_size(step_size))
    return {int(c): float(final[c]) for c in np.flatnonzero(stuck)}


def median_step_size(step_size) -> float:
    """The median of the chains' finite step sizes after warmup (``nan`` when none is finite)."""
    final = np.asarray(step_size, dtype=float)[:, -1]
    return float(np.median(final[np.isfinite(final)])) if np.isfinite(final).any() else float("nan")


def restart_key(seed: int) -> jax.Array:
    """The random key of a restart of the fit with ``seed``: a stream of its own, the same on every run.

    Examples
    --------
    >>> import jax
    >>> bool((restart_key(0) != jax.random.PRNGKey(0)).any())
    True
    """
    return jax.random.fold_in(jax.random.PRNGKey(seed), 1)


def restart_record(fit, stuck: dict[int, float], median_step: float, kept_restart: bool) -> dict:
    """What ``fit.refits`` says of the fit given up around a restart: its sampler, target and divergences (as for
    refits after divergences), which of the two was kept, and the first fit's stuck chains (``{chain: step size}``)
    and median step size, which called for the restart."""
    return {"sampler": fit.sampler, "target_accept": float(fit.config.target_accept),
            "divergences": int(fit.diagnostics.n_divergent), "restart": "kept" if kept_restart else "given up",
            "stuck_chains": {str(c): s for c, s in stuck.items()}, "median_step_size": float(median_step)}


def is_restart(record: dict) -> bool:
    """Whether a record of ``fit.refits`` is a restart's (:func:`restart_record`), not a refit's after divergences."""
    return "restart" in record


def count_refits(refits) -> dict[str, int]:
    """``{"refits": ..., "restarts": ...}``: how many fits were given up after divergences, and around restarts.

    Examples
    --------
    >>> count_refits([{"target_accept": 0.9, "divergences": 2}, {"target_accept": 0.95, "restart": "kept"}])
    {'refits': 1, 'restarts': 1}
    """
    restarts = sum(is_restart(r) for r in refits)
    return {"refits": len(refits) - restarts, "restarts": restarts}


def describe_restarts(refits) -> str:
    """What a convergence warning says of the restarts behind a fit (empty when none).

    Examples
    --------
    >>> describe_restarts([{"restart": "kept", "stuck_chains": {"3": 2.2e-06}, "median_step_size": 0.26}])
    "restarted after chain 3's step size collapsed in warmup (2.2e-06 against the chains' median 0.26); kept the restart"
    """
    notes = []
    for r in refits:
        if is_restart(r):
            chains = ", ".join(f"{c}" for c in r["stuck_chains"])
            sizes = ", ".join(f"{s:.2g}" for s in r["stuck_chains"].values())
            which = "the restart" if r["restart"] == "kept" else "the first fit (the restart was no better)"
            notes.append(f"restarted after chain {chains}'s step size collapsed in warmup ({sizes} against the "
                         f"chains' median {r['median_step_size']:.2g}); kept {which}")
    return "; ".join(notes)


def restart_if_stuck(result, draws, carry, again: Callable[[], tuple]):
    """``(fit, draws, carry)``: ``result``'s, or when it failed its checks with a stuck chain
    (:func:`stuck_chains`) the better of it and ``again()`` (a run from the
    restart's key), the one given up listed in the kept fit's ``refits``."""
    stuck = {} if result.converged else stuck_chains(draws.stats["step_size"])
    if not stuck:
        return result, draws, carry
    median = median_step_size(draws.stats["step_size"])
    new, new_draws, new_carry = again()
    if worse_than(new.diagnostics, result.diagnostics):
        result.refits = (*result.refits, restart_record(new, stuck, median, kept_restart=False))
        return result, draws, carry
    new.refits = (*result.refits, restart_record(result, stuck, median, kept_restart=True))
    return new, new_draws, new_carry


def worse_than(refit, kept) -> bool:
    """Whether a refit (after divergences, or a restart) is worse than the fit kept: chains that disagree (R-hat)
    where the kept fit's agree, or else more divergences. Measured on Gadre's squad link (C4): 9 divergent draws at 0.95, none
    at 0.99, where the step size collapsed (961 leapfrog steps per draw, R-hat 1.53, bulk ESS 20)."""
    return (not refit.chains_agree, refit.n_divergent) > (not kept.chains_agree, kept.n_divergent)
