"""Calibration harness: do bayescale's intervals mean what they say?

:func:`calibration` simulates ``M`` datasets at a design (the built-in IsoFLOP
design by default) with NumPyro's ``Predictive`` on the very model that is
fitted (same law, priors and likelihood), fits them all, and reports

- the empirical coverage of central posterior intervals of several probabilities for
  ``E``, ``alpha``, ``beta``, and the compute-optimal ``N_opt`` and tokens per
  parameter at budgets 10x and 100x beyond the design's largest run, each with
  a Clopper-Pearson interval and an exact two-sided binomial test of the
  nominal level;
- when the true parameters are drawn from the prior, simulation-based
  calibration (SBC) rank statistics (Talts et al. 2018, arXiv:1804.06788): the
  rank of each true parameter among thinned posterior draws is uniform on
  ``0..L`` for every dataset size if and only if the sampler computes the
  posterior correctly, so a chi-square test of uniformity checks it.

Coverage averaged over truths drawn from the prior is exactly the nominal level
for a correct sampler, whatever the data; at fixed true parameters a Bayesian
interval need not cover at its nominal rate (the prior pulls), so treat fixed-truth
coverage as a description, not a test.
"""

from __future__ import annotations

import dataclasses
import numbers
import warnings
from typing import Any, Mapping, Sequence

import numpy as np

from bayescale.analyses.simulation import design_runs, natural_and_frontier, sampled_truth, simulate, simulation_key
from bayescale.checks import check_prob, check_probs, check_seed
from bayescale.data import FLOPS_PER_PARAM_TOKEN, ScalingData
from bayescale.errors import ConfigError, ConvergenceWarning
from bayescale.fitting.batch import check_pointwise, fit_all
from bayescale.fitting.settings import REFIT_DIVERGENT, resolve, shared
from bayescale.model.program import OBS
from bayescale.model.spec import ScalingModel

__all__ = ["calibration", "Calibration", "clopper_pearson"]

#: Budgets at which frontier coverage is scored, as multiples of the design's largest compute.
BUDGET_FACTORS = (10.0, 100.0)


def clopper_pearson(hits, n, prob: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Clopper-Pearson) central interval for a binomial proportion.

    Examples
    --------
    >>> from bayescale.analyses.calibration import clopper_pearson
    >>> lo, hi = clopper_pearson(90, 100)
    >>> round(float(lo), 3), round(float(hi), 3)
    (0.824, 0.951)
    """
    from scipy import stats

    hits, n = np.asarray(hits, dtype=float), np.asarray(n, dtype=float)
    a = (1.0 - prob) / 2.0
    lo = np.where(hits > 0, stats.beta.ppf(a, np.maximum(hits, 1e-12), n - hits + 1), 0.0)
    hi = np.where(hits < n, stats.beta.ppf(1 - a, hits + 1, np.maximum(n - hits, 1e-12)), 1.0)
    return lo, hi


@dataclasses.dataclass(eq=False)
class Calibration:
    """The result of :func:`calibration`.

    Attributes
    ----------
    coverage : pandas.DataFrame
        One row per (quantity, prob): ``hits`` of ``M``, ``coverage``, the
        Clopper-Pearson interval ``ci_lower``/``ci_upper`` and ``p_value`` of the
        exact two-sided binomial test of ``coverage == prob``.
    sbc : pandas.DataFrame or None
        One row per parameter: chi-square statistic and p-value of the uniformity
        of its SBC ranks (``None`` at fixed true parameters).
    ranks : pandas.DataFrame or None
        SBC rank of each true parameter among ``L`` thinned posterior draws (0..L),
        one row per dataset.
    truths : pandas.DataFrame
        True parameters (and frontier quantities) of each simulated dataset.
    converged : numpy.ndarray of bool
        Whether each fit passed the convergence checks (all fits are counted).
    diagnostics : pandas.DataFrame
        One row per fit: divergences, max R-hat, min bulk ESS, leapfrog steps per draw,
        extra draws per chain (``until_converged``), refits after divergences (or of ChEES with NUTS) and the
        ``target_accept`` kept (``refit_divergent``), restarts after a stuck chain
        (:mod:`bayescale.fitting.restart`), converged.
    budgets : numpy.ndarray
        Compute budgets of the frontier quantities (FLOPs).
    """

    coverage: Any
    sbc: Any
    ranks: Any
    truths: Any
    converged: np.ndarray
    budgets: np.ndarray
    M: int
    rank_draws: int
    model: ScalingModel | None = None
    diagnostics: Any = None

    def __repr__(self) -> str:
        wide = self.coverage.pivot(index="quantity", columns="prob", values="coverage")
        out = [f"Calibration(M={self.M}, converged {int(self.converged.sum())}/{self.M})", "coverage:", wide.to_string()]
        if self.sbc is not None:
            out += ["SBC rank uniformity:", self.sbc.to_string()]
        return "\n".join(out)


def _check_int(name: str, v, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def calibration(
    M: int = 100,
    *,
    design=None,
    truth: Mapping[str, float] | None = None,
    prob: float | Sequence[float] = (0.5, 0.8, 0.9),
    law=None,
    model: ScalingModel | None = None,
    likelihood=None,
    priors: Mapping | None = None,
    pooling=None,
    error_model=None,
    seed: int = 0,
    num_chains: int = 4,
    num_warmup: int = 1000,
    num_samples: int = 1000,
    target_accept: float = 0.9,
    max_tree_depth: int = 10,
    dense_mass: bool = True,
    chain_method: str = "auto",
    progress_bar: bool | None = None,
    until_converged: int = 3,
    refit_divergent=REFIT_DIVERGENT,
    warn: bool = True,
    pointwise: bool = True,
    method: str = "auto",
    rank_draws: int = 99,
    rank_bins: int = 10,
    ci: float = 0.95,
) -> Calibration:
    """Simulate ``M`` datasets from the model, fit each, and check the intervals' coverage.

    Parameters
    ----------
    M : int
        Number of simulated datasets (100 or more for a useful test).
    design : ScalingData or mapping, optional
        The runs' ``N`` and ``D`` (losses ignored). Default: the built-in IsoFLOP
        design of :func:`bayescale.datasets.example` (180 runs, 9 budgets).
    truth : mapping, optional
        Fixed true parameters (``E, A, B, alpha, beta`` and ``sigma``, and ``df`` for a
        learned Student-t). Default
        ``None`` draws a new truth from the prior for each dataset, which makes
        coverage exact for a correct sampler and enables the SBC rank check.
    prob : float or sequence of float
        Central interval probabilities to score.
    law, model, likelihood, priors, pooling, error_model
        The model, as in :func:`bayescale.fit` (complete pooling); data are simulated from exactly it (its
        resolved priors, noise model and any extra noise parameter).
    seed : int
        Seeds the simulation (an independent stream: :func:`simulation_key`) and the fits (dataset ``m``:
        ``seed + m``): the same seed gives the same table.
    num_chains, num_warmup, num_samples, target_accept, max_tree_depth, dense_mass, chain_method, progress_bar, until_converged, refit_divergent, pointwise, method
        As in :func:`bayescale.fit_many`, with the same defaults (``pointwise=False`` saves memory at large ``M``).
    warn : bool
        One :class:`~bayescale.errors.ConvergenceWarning` when fits did not pass the checks (they are counted).
    rank_draws : int
        ``L``: posterior draws (evenly thinned) the SBC ranks are computed among;
        ranks take values ``0..L``.
    rank_bins : int
        Bins of the chi-square uniformity test; must divide ``L + 1``.
    ci : float
        Probability of the Clopper-Pearson intervals on the coverages.

    Returns
    -------
    Calibration

    Examples
    --------
    >>> import bayescale as bs
    >>> truth = dict(bs.datasets.EXAMPLE_TRUTH, sigma=0.01)
    >>> cal = bs.calibration(M=2, truth=truth, seed=0, num_warmup=500, num_samples=500)
    >>> cal.coverage.columns.tolist()
    ['quantity', 'prob', 'hits', 'M', 'coverage', 'ci_lower', 'ci_upper', 'p_value']
    >>> sorted(set(cal.coverage.quantity))[:3]
    ['E', 'N_opt@100x', 'N_opt@10x']
    """
    M, rank_draws, rank_bins = _check_int("M", M, 2), _check_int("rank_draws", rank_draws, 1), _check_int(
        "rank_bins", rank_bins, 2)
    if (rank_draws + 1) % rank_bins:
        raise ConfigError(f"rank_bins={rank_bins} must divide rank_draws + 1 = {rank_draws + 1} (equal-width bins)")
    probs, seed, ci = check_probs(prob), check_seed(seed), check_prob(ci, "ci")
    settings = resolve(**shared(locals()))
    model = settings.model
    design_data, ref, fixed = _setup(model, design, truth)
    sim = simulate(model, design_data, fixed, M, simulation_key(seed))
    datasets = [ScalingData.from_arrays(N=design_data.N, D=design_data.D, loss=row) for row in np.exp(sim[OBS])]
    fits = fit_all(datasets, settings, [seed + m for m in range(M)], pointwise=check_pointwise(pointwise),
                   method=method)
    budgets = np.asarray(BUDGET_FACTORS) * float(np.max(FLOPS_PER_PARAM_TOKEN * design_data.N * design_data.D))
    scores = _Scores(model, ref, budgets, probs, rank_draws)
    truths = scores.with_frontier(sim)
    hits, ranks = scores.tally(fits, truths)
    converged = np.array([f.converged for f in fits])
    if warn and not converged.all():
        warnings.warn(
            f"{int((~converged).sum())} of {M} calibration fits did not pass the convergence checks; they are "
            "counted (dropping them would bias coverage); see Calibration.converged and Calibration.diagnostics. "
            "More warmup and draws (num_warmup, num_samples) reduce low-ESS flags; divergences left after the "
            "refits (refit_divergent) point at the prior or the design.",
            ConvergenceWarning,
            stacklevel=2,
        )
    import pandas as pd

    sbc, rank_table = (None, None) if fixed is not None else _sbc(ranks, rank_draws, rank_bins)
    return Calibration(coverage=_coverage_table(hits, M, ci), sbc=sbc, ranks=rank_table, truths=pd.DataFrame(truths),
                       converged=converged, budgets=budgets, M=M, rank_draws=rank_draws, model=model,
                       diagnostics=_health(fits))


def _setup(model: ScalingModel, design, truth) -> tuple[ScalingData, dict, dict | None]:
    """The design as data (losses 1), its reference scales and the fixed truth in the sampled parametrisation
    (``None``: drawn from the prior), each checked before anything is simulated."""
    if not model.law.has_frontier:
        raise ConfigError(f"law {model.law.name!r} has no compute-optimal frontier; calibration scores N_opt and "
                          "needs one")
    if model.pooling.grouped:
        raise ConfigError("calibration simulates ungrouped designs; use a complete-pooling model")
    N, D = design_runs(design)
    design_data = ScalingData.from_arrays(N=N, D=D, loss=np.ones_like(N))
    model.check_data(design_data)
    ref = model.reference(design_data)
    return design_data, ref, None if truth is None else sampled_truth(model, truth, ref)


class _Scores:
    """Coverage hits and SBC ranks of fits against their simulated truths (float64 frontier quantities)."""

    def __init__(self, model: ScalingModel, ref, budgets: np.ndarray, probs: tuple[float, ...], rank_draws: int):
        self.model, self.ref, self.budgets, self.probs, self.rank_draws = model, ref, budgets, probs, rank_draws
        self.params = (*model.law.param_names, *model.noise_sites)
        self.sampled = (*model.law.sampled_names, *model.noise_sites)
        self.quantities = ["E", "alpha", "beta"] + [f"{q}@{f:g}x" for q in ("N_opt", "tokens_per_param")
                                                    for f in BUDGET_FACTORS]

    def with_frontier(self, values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The natural parameters and the frontier quantities at the budgets, from sampled ``values``."""
        full = natural_and_frontier(self.model, {k: values[k] for k in self.sampled}, self.ref, self.budgets)
        front = full.pop("_front")
        out = {k: full[k] for k in self.params}
        for j, f in enumerate(BUDGET_FACTORS):
            out[f"N_opt@{f:g}x"] = front["N_opt"][..., j]
            out[f"tokens_per_param@{f:g}x"] = front["tokens_per_param"][..., j]
        return out

    def tally(self, fits, truths) -> tuple[dict, dict]:
        """Hits per (quantity, prob) over the fits, and each fit's SBC rank of every parameter."""
        hits = {(q, p): 0 for q in self.quantities for p in self.probs}
        ranks = {k: np.zeros(len(fits), dtype=int) for k in self.params}
        for m, fit in enumerate(fits):
            draws = self.with_frontier(fit.draws(self.sampled))
            for q in self.quantities:
                for p in self.probs:
                    lo, hi = np.quantile(draws[q], [(1 - p) / 2, (1 + p) / 2])
                    hits[(q, p)] += int(lo <= truths[q][m] <= hi)
            idx = np.linspace(0, draws[self.params[0]].size - 1, self.rank_draws).round().astype(int)
            for k in self.params:
                ranks[k][m] = int(np.sum(draws[k][idx] < truths[k][m]))
        return hits, ranks


def _coverage_table(hits: dict, M: int, ci: float):
    import pandas as pd
    from scipy import stats

    rows = []
    for (q, p), h in hits.items():
        lo, hi = clopper_pearson(h, M, ci)
        rows.append({"quantity": q, "prob": p, "hits": h, "M": M, "coverage": h / M, "ci_lower": float(lo),
                     "ci_upper": float(hi), "p_value": float(stats.binomtest(h, M, p).pvalue)})
    return pd.DataFrame(rows)


def _sbc(ranks: dict, rank_draws: int, rank_bins: int):
    """Chi-square test of the uniformity of each parameter's SBC ranks, and the ranks as a table."""
    import pandas as pd
    from scipy import stats

    rows = []
    width = (rank_draws + 1) // rank_bins
    for k, r in ranks.items():
        chi2, p = stats.chisquare(np.bincount(r // width, minlength=rank_bins))
        rows.append({"parameter": k, "chi2": float(chi2), "df": rank_bins - 1, "p_value": float(p)})
    return pd.DataFrame(rows).set_index("parameter"), pd.DataFrame(ranks)


def _health(fits):
    """One row per fit: what the sampler did and whether it passed the checks."""
    import pandas as pd

    from bayescale.fitting.restart import count_refits

    return pd.DataFrame([{"divergences": f.diagnostics.n_divergent, "max_rhat": max(f.diagnostics.rhat.values()),
                          "min_ess_bulk": min(f.diagnostics.ess_bulk.values()), "steps_per_draw": f.diagnostics.mean_steps,
                          "extra_draws_per_chain": f.extra_draws_per_chain,
                          **count_refits(f.refits),
                          "target_accept": float(f.config.target_accept), "converged": f.converged} for f in fits])
