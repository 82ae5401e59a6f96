"""Comparing recipes (the groups of one pooled fit): effective compute multipliers, crossovers, P(better).

Each recipe is a group of a fit with ``pooling="partial"`` (or ``"none"``); its law parameters are read per
posterior draw (:meth:`ScalingFit.natural_draws(group) <bayescale.ScalingFit.natural_draws>`), and the two
recipes' draws are paired (the same joint posterior draw), so what the recipes share (a pooled exponent,
a shared ``E``) cancels where it should. Every answer is per draw, then summarised (median, central
interval):

- **effective compute multiplier** of a candidate over a baseline at compute ``C``: the compute the
  baseline needs, on its own compute-optimal frontier, to reach the loss the candidate reaches on its
  frontier at ``C``, divided by ``C``. Above 1 the candidate is better (it is worth that many times the
  compute); ``inf`` where the baseline never reaches that loss (its ``E`` is above it). At a fixed run
  ``(N, D)`` instead: the baseline's compute-optimal compute to reach the candidate's loss at ``(N, D)``,
  divided by ``6 N D``.
- **P(candidate beats baseline)**: on the frontier (the law's expected losses at ``C``), and for single runs
  (each recipe one new run at its posterior-median compute-optimal size, with the fitted noise and the
  error model's errors, drawn independently for the two runs).
- **crossover**: where the two frontiers' losses cross in a range of compute; its posterior among the
  draws that cross, and the probability that they do not.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from bayescale.analyses.common import as_params, law_params, log_loss_draws, summarise
from bayescale.checks import check_prob, positive_values
from bayescale.data import FLOPS_PER_PARAM_TOKEN
from bayescale.errors import ConfigError
from bayescale.model.chinchilla import CHINCHILLA
from bayescale.model.law import Law, evaluate64

__all__ = ["multiplier_draws", "crossover_draws", "compare_recipes", "recipe_crossover"]


def _frontier64(law: Law, p: Mapping, C: np.ndarray) -> dict:
    return evaluate64(law.frontier, p, np.asarray(C, dtype=np.float64))


def multiplier_draws(baseline: Mapping, candidate: Mapping, C=None, *, N=None, D=None,
                     law: Law = CHINCHILLA) -> dict[str, np.ndarray]:
    """Per paired draw, the candidate's loss and the baseline's compute-optimal compute to reach it.

    Parameters
    ----------
    baseline, candidate : mapping
        Natural law parameters of the two recipes, arrays of paired draws ``(S,)`` (or scalars).
    C : array_like, optional
        Compute budgets ``(K,)``: the candidate on its compute-optimal frontier at ``C``.
    N, D : array_like, optional
        Instead of ``C``: the candidate's runs ``(K,)`` at these sizes and tokens (``C = 6 N D``).
    law : Law
        A law with a frontier (default Chinchilla).

    Returns
    -------
    dict
        ``C`` ``(K,)``; ``loss_candidate``, ``loss_baseline`` (the baseline's loss on its frontier at ``C``),
        ``compute_baseline`` (``inf`` where unreachable) and ``multiplier`` (``compute_baseline / C``),
        each ``(S, K)``.

    Examples
    --------
    >>> from bayescale.analyses.recipes import multiplier_draws
    >>> a = dict(E=1.8, A=480.0, B=2100.0, alpha=0.34, beta=0.37)
    >>> b = dict(a, A=480.0 * 2.0 ** -0.34, B=2100.0 * 2.0 ** -0.37)  # a's loss at (2N, 2D): 4x compute
    >>> [round(float(m), 6) for m in multiplier_draws(a, b, C=[1e20, 1e23])["multiplier"][0]]
    [4.0, 4.0]
    """
    pa, pb = as_params(baseline, law), as_params(candidate, law)
    law.require_frontier()
    if (C is None) == (N is None or D is None) or (C is not None and (N is not None or D is not None)):
        raise ConfigError("give either C= (budgets: the candidate on its frontier) or both N= and D= (its runs)")
    if C is not None:
        Cv = positive_values("C", C)
        loss_b = _frontier64(law, pb, Cv)["loss"]
    else:
        Nv, Dv = np.broadcast_arrays(positive_values("N", N), positive_values("D", D))
        Cv = FLOPS_PER_PARAM_TOKEN * Nv * Dv
        loss_b = np.exp(log_loss_draws(law, pb, Nv, Dv))
    loss_a = _frontier64(law, pa, Cv)["loss"]
    S = max(loss_a.shape[0], loss_b.shape[0])
    loss_a, loss_b = np.broadcast_to(loss_a, (S, Cv.size)), np.broadcast_to(loss_b, (S, Cv.size))
    pa = {k: np.broadcast_to(v, (S,)) for k, v in pa.items()}
    compute = np.asarray(law.compute_for_loss(pa, loss_b)["C"], dtype=np.float64)  # draw s against its row
    return {"C": Cv, "loss_candidate": loss_b, "loss_baseline": loss_a, "compute_baseline": compute,
            "multiplier": compute / Cv[None, :]}


def crossover_draws(baseline: Mapping, candidate: Mapping, C_min: float, C_max: float, *, num: int = 256,
                    law: Law = CHINCHILLA) -> dict[str, np.ndarray]:
    """Per paired draw, the first budget in ``[C_min, C_max]`` where the two frontiers' losses cross.

    The frontiers' log-loss difference is evaluated at ``num`` budgets log-spaced over the range; a
    crossing is a change of sign between neighbours, located by linear interpolation in ``log C``.

    Returns
    -------
    dict
        ``C`` (``(S,)``, ``nan`` where the draw does not cross in the range), ``crossings`` (how many
        times, ``(S,)``), ``candidate_better_at_min``, ``candidate_better_at_max`` (booleans ``(S,)``).

    Examples
    --------
    >>> from bayescale.analyses.recipes import crossover_draws
    >>> a = dict(E=1.8, A=480.0, B=2100.0, alpha=0.34, beta=0.37)
    >>> b = dict(E=1.7, A=900.0, B=2100.0, alpha=0.34, beta=0.37)  # worse when small, better when large
    >>> out = crossover_draws(a, b, 1e15, 1e25)
    >>> int(out["crossings"][0]), 1e15 < float(out["C"][0]) < 1e25, bool(out["candidate_better_at_max"][0])
    (1, True, True)
    """
    if not (float(C_min) > 0 and float(C_max) > float(C_min)):
        raise ConfigError(f"need 0 < C_min < C_max, got C_min={C_min!r}, C_max={C_max!r}")
    if not isinstance(num, int) or isinstance(num, bool) or num < 2:
        raise ConfigError(f"num must be an integer >= 2 (budgets on the grid), got {num!r}")
    pa, pb = as_params(baseline, law), as_params(candidate, law)
    law.require_frontier()
    grid = np.geomspace(float(C_min), float(C_max), num)
    diff = np.log(_frontier64(law, pb, grid)["loss"]) - np.log(_frontier64(law, pa, grid)["loss"])
    S = diff.shape[0]
    sign = np.sign(diff)
    change = sign[:, 1:] * sign[:, :-1] < 0
    first = np.argmax(change, axis=1)
    crosses = change.any(axis=1)
    rows = np.arange(S)
    d0, d1 = diff[rows, first], diff[rows, first + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        # Where the draw crosses, between its grid points (d0, d1 of opposite signs); elsewhere d0 - d1 may be ~0.
        t = np.where(crosses, d0 / (d0 - d1), 0.0)
    logC = np.log(grid)
    at = np.exp(logC[first] + t * (logC[first + 1] - logC[first]))
    return {"C": np.where(crosses, at, np.nan), "crossings": change.sum(axis=1),
            "candidate_better_at_min": diff[:, 0] < 0, "candidate_better_at_max": diff[:, -1] < 0}


def _pair(fit, baseline, candidate) -> tuple[dict, dict]:
    if str(baseline) == str(candidate):
        raise ConfigError(f"baseline and candidate are the same recipe ({baseline!r}); name two groups of the fit")
    return law_params(fit, baseline), law_params(fit, candidate)


def _single_runs_better(fit, baseline, candidate, C: np.ndarray, pa, pb, seed: int) -> np.ndarray:
    """P(a new run of the candidate ends below a new run of the baseline) at each budget: each run at its
    recipe's posterior-median compute-optimal size, with the error model's errors and the noise, drawn
    independently for the two runs (seeds ``seed`` and ``seed + 1``)."""
    log_runs = []
    for i, (group, p) in enumerate(((baseline, pa), (candidate, pb))):
        N = np.median(_frontier64(fit.law, p, C)["N_opt"], axis=0)
        cov = {"N": N, "D": C / (FLOPS_PER_PARAM_TOKEN * N), "C": C}
        loc = fit.predictive_location(cov, seed=seed + i, group=group)
        noise = {k: np.asarray(v, dtype=np.float64)[:, None] for k, v in fit.noise_draws().items()}
        sigma = noise.pop("sigma")
        rng = np.random.default_rng([int(seed), i, 0x5EC])
        log_runs.append(loc + sigma * fit.likelihood.standard_noise(rng, loc.shape, **noise))
    return np.mean(log_runs[1] < log_runs[0], axis=0)


def compare_recipes(fit, baseline, candidate, C=None, *, N=None, D=None, prob: float = 0.9, seed: int = 0):
    """How much compute the candidate recipe is worth over the baseline, with intervals, from one pooled fit.

    Parameters
    ----------
    fit : ScalingFit
        A fit with groups (``pooling="partial"`` or ``"none"``) of a law with a frontier.
    baseline, candidate : str
        Group labels (or ``"population"``: a new recipe drawn from the population).
    C : array_like, optional
        Compute budgets (FLOPs): both recipes on their compute-optimal frontiers.
    N, D : array_like, optional
        Instead of ``C``: the candidate's runs at these sizes and tokens.
    prob : float
        Central interval probability (default 0.9).
    seed : int
        Seed of the single-run noise draws (``p_better_run``).

    Returns
    -------
    pandas.DataFrame
        One row per budget (index ``C``; with ``N``, ``D`` also columns ``N``, ``D``):
        ``multiplier_median``, ``multiplier_lower``, ``multiplier_upper`` (the baseline's compute to
        reach the candidate's loss, over ``C``; ``inf`` where unreachable), ``p_reachable`` (the share of
        draws where the baseline reaches it at all), ``p_better`` (P(candidate's loss below the
        baseline's): on the frontiers at ``C``, or, with ``N``, ``D``, the candidate's run against the
        baseline's run at the same ``(N, D)``), ``loss_baseline_*``, ``loss_candidate_*`` (medians and
        intervals), and with ``C`` also ``p_better_run`` (two single new runs, noise included).

    Examples
    --------
    Six simulated recipes (:func:`bayescale.datasets.recipes`), one fit; is ``g1`` worth more compute than ``g0``?

    >>> import bayescale as bs
    >>> fit = bs.fit(bs.datasets.recipes(), pooling="partial", seed=0, num_warmup=500, num_samples=500)
    >>> t = bs.compare_recipes(fit, "g0", "g1", C=[1e21, 1e23])
    >>> list(t.columns[:4])
    ['multiplier_median', 'multiplier_lower', 'multiplier_upper', 'p_reachable']
    >>> bool((t.multiplier_lower < t.multiplier_median).all() and (t.multiplier_median < t.multiplier_upper).all())
    True
    >>> x = bs.recipe_crossover(fit, "g0", "g1", 1e18, 1e26)
    >>> 0.0 <= float(x.p_crossover[0]) <= 1.0
    True
    """
    import pandas as pd

    prob = check_prob(prob)
    pa, pb = _pair(fit, baseline, candidate)
    out = multiplier_draws(pa, pb, C, N=N, D=D, law=fit.law)
    Cv = out["C"]
    cols = {} if C is not None else dict(zip("ND", np.broadcast_arrays(positive_values("N", N), positive_values("D", D))))
    summarise(cols, "multiplier", out["multiplier"], prob)
    cols["p_reachable"] = np.mean(np.isfinite(out["compute_baseline"]), axis=0)
    if C is not None:
        cols["p_better"] = np.mean(out["loss_candidate"] < out["loss_baseline"], axis=0)
        cols["p_better_run"] = _single_runs_better(fit, baseline, candidate, Cv, pa, pb, int(seed))
        loss_base = out["loss_baseline"]
    else:
        loss_base = np.exp(log_loss_draws(fit.law, pa, cols["N"], cols["D"]))
        cols["p_better"] = np.mean(out["loss_candidate"] < loss_base, axis=0)
    summarise(cols, "loss_baseline", loss_base, prob)
    summarise(cols, "loss_candidate", out["loss_candidate"], prob)
    return pd.DataFrame(cols, index=pd.Index(Cv, name="C"))


def recipe_crossover(fit, baseline, candidate, C_min: float, C_max: float, *, prob: float = 0.9, num: int = 256):
    """Where the two recipes' compute-optimal frontiers cross between ``C_min`` and ``C_max``: its posterior.

    Returns
    -------
    pandas.DataFrame
        One row: ``p_crossover`` (the share of draws whose frontiers cross in the range),
        ``C_median``, ``C_lower``, ``C_upper`` (the first crossing, among the draws that cross; ``nan``
        when none does), ``p_multiple`` (draws crossing more than once), ``p_candidate_better_at_min``,
        ``p_candidate_better_at_max``; ``C_min``, ``C_max``.

    Examples
    --------
    A fit's recipes are compared in :func:`compare_recipes`'s example; per draw, this is :func:`crossover_draws`:

    >>> from bayescale.analyses.recipes import crossover_draws
    >>> a = dict(E=1.8, A=480.0, B=2100.0, alpha=0.34, beta=0.37)
    >>> draws = {k: [v, v] for k, v in a.items()}
    >>> later = dict(draws, E=[1.7, 1.8], A=[900.0, 480.0])  # draw 1 crosses, draw 2 is the same recipe
    >>> [int(n) for n in crossover_draws(draws, later, 1e15, 1e25)["crossings"]]
    [1, 0]
    """
    import pandas as pd

    prob = check_prob(prob)
    pa, pb = _pair(fit, baseline, candidate)
    out = crossover_draws(pa, pb, C_min, C_max, num=num, law=fit.law)
    crossed = out["C"][np.isfinite(out["C"])]
    cols = {"C_min": [float(C_min)], "C_max": [float(C_max)], "p_crossover": [float(np.mean(out["crossings"] > 0))]}
    if crossed.size:
        summarise(cols, "C", crossed[:, None], prob)
    else:
        cols.update({"C_median": [np.nan], "C_lower": [np.nan], "C_upper": [np.nan]})
    cols["p_multiple"] = [float(np.mean(out["crossings"] > 1))]
    cols["p_candidate_better_at_min"] = [float(np.mean(out["candidate_better_at_min"]))]
    cols["p_candidate_better_at_max"] = [float(np.mean(out["candidate_better_at_max"]))]
    return pd.DataFrame(cols)
