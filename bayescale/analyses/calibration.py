"""Calibration harness: do bayescale's intervals mean what they say?

:func:`calibration` simulates ``M`` datasets at a design (the built-in IsoFLOP
design by default) with NumPyro's ``Predictive`` on the very model that is
fitted (same law, priors and likelihood), fits them all, and reports

- the empirical coverage of central posterior intervals at several levels for
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

from bayescale.analyses.backtest import check_levels, fit_all
from bayescale.data import FLOPS_PER_PARAM_TOKEN, ScalingData
from bayescale.errors import ConfigError, ConvergenceWarning
from bayescale.fitting.fit import check_seed
from bayescale.model.law import evaluate64
from bayescale.model.program import OBS
from bayescale.model.spec import ScalingModel, resolve_model

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
        One row per (quantity, level): ``hits`` of ``M``, ``coverage``, the
        Clopper-Pearson interval ``ci_lower``/``ci_upper`` and ``p_value`` of the
        exact two-sided binomial test of ``coverage == level``.
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
        extra draws per chain (``until_converged``), refits after divergences and the
        ``target_accept`` kept (``refit_divergent``), converged.
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
        wide = self.coverage.pivot(index="quantity", columns="level", values="coverage")
        out = [f"Calibration(M={self.M}, converged {int(self.converged.sum())}/{self.M})", "coverage:", wide.to_string()]
        if self.sbc is not None:
            out += ["SBC rank uniformity:", self.sbc.to_string()]
        return "\n".join(out)


def _check_int(name: str, v, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def _design(design) -> tuple[np.ndarray, np.ndarray]:
    if design is None:
        from bayescale.datasets import example

        design = example()
    if isinstance(design, ScalingData):
        return np.asarray(design.N), np.asarray(design.D)
    if isinstance(design, Mapping) and "N" in design and "D" in design:
        d = ScalingData.from_arrays(N=design["N"], D=design["D"], loss=np.ones(np.size(design["N"])))
        return np.asarray(d.N), np.asarray(d.D)
    raise ConfigError(
        f"design must be None (the built-in IsoFLOP design), a ScalingData or a mapping with 'N' and 'D'; got "
        f"{type(design).__name__}"
    )


def _sampled_truth(model: ScalingModel, truth: Mapping[str, float], ref: Mapping[str, float]) -> dict[str, float]:
    """Fixed true parameters in the law's sampled parametrisation, plus the noise parameters."""
    law = model.law
    truth = {k: float(v) for k, v in truth.items()}
    missing_noise = [k for k in model.noise_sites if k not in truth]
    if missing_noise:
        raise ConfigError(f"truth must give the noise scale 'sigma' (e.g. sigma=0.01) and any other noise "
                          f"parameter {list(model.noise_sites)} as well as the law's parameters; missing {missing_noise}")
    out = {k: truth[k] for k in model.noise_sites}
    if all(n in truth for n in law.sampled_names):
        out.update({n: truth[n] for n in law.sampled_names})
    elif law.to_sampled is not None and all(n in truth for n in law.param_names):
        out.update({k: float(v) for k, v in evaluate64(law.to_sampled, {n: np.float64(truth[n]) for n in law.param_names},
                                                      ref).items()})
    else:
        raise ConfigError(
            f"truth must give every parameter of law {law.name!r}: {list(law.param_names)} (or the sampled "
            f"{list(law.sampled_names)}) and {list(model.noise_sites)}; got {sorted(truth)}"
        )
    bad = [k for k, v in out.items() if not np.isfinite(v) or (k in law.positive | set(model.noise_sites) and v <= 0)]
    if bad:
        raise ConfigError(f"true parameter(s) {bad} must be finite and positive; got {truth}")
    return out


#: Folded into the seed's key for the simulation (``jax.random.fold_in``): its stream is independent of the
#: fits', which use the keys of seeds ``seed, seed + 1, ...`` (sharing one would start a fit's chains at the
#: simulated truths).
SIMULATION_STREAM = 0x51D


def simulation_key(seed: int):
    """The key of a calibration's simulation: independent of every fit's (:data:`SIMULATION_STREAM`)."""
    import jax

    return jax.random.fold_in(jax.random.PRNGKey(seed), SIMULATION_STREAM)


def _simulate(model: ScalingModel, design: ScalingData, fixed: Mapping[str, float] | None, M: int, key) -> dict:
    """``M`` datasets from exactly the fitted model (NumPyro's ``Predictive`` on its program).

    With ``fixed=None`` every site, parameters included, is drawn from the prior;
    otherwise the sampled parameters are held at ``fixed`` and only the
    observations are drawn. Returns every site (and deterministic) as float64 arrays
    with a leading axis of length ``M``; ``log_loss`` has shape ``(M, len(N))``.
    """
    import jax.numpy as jnp
    from numpyro.infer import Predictive

    args, _ = model.args(design, observed=False, pad=False)
    program = model.program()
    if fixed is None:
        sim = Predictive(program, num_samples=M)(key, *args)
    else:
        tiled = {k: jnp.full((M,), v, dtype=jnp.float32) for k, v in fixed.items()}
        sim = {**tiled, **Predictive(program, posterior_samples=tiled)(key, *args)}
    return {k: np.asarray(v, dtype=np.float64) for k, v in sim.items()}


def _natural_and_frontier(model: ScalingModel, sampled: Mapping[str, np.ndarray], ref: Mapping[str, float],
                          budgets) -> dict:
    """Natural parameters and frontier from sampled ones, in float64.

    The sampler works in float32, where ``A = A_ref * N0**alpha`` overflows for
    large prior draws of ``alpha``; here it is recomputed in double precision.
    """
    law = model.law

    def natural_and_front(s64):
        nat = {**{k: s64[k] for k in law.param_names if k in s64}, **law.derived(s64, ref)}
        return nat, law.frontier(nat, budgets)

    s64 = {k: np.asarray(v, dtype=np.float64) for k, v in sampled.items()}
    nat, front = evaluate64(natural_and_front, s64)
    return {**nat, **{k: v for k, v in s64.items() if k not in nat}, "_front": front}


def calibration(
    M: int = 100,
    *,
    design=None,
    truth: Mapping[str, float] | None = None,
    levels: Sequence[float] = (0.5, 0.8, 0.9),
    seed: int = 0,
    law=None,
    likelihood=None,
    priors: Mapping | None = None,
    model: ScalingModel | None = None,
    rank_draws: int = 99,
    rank_bins: int = 10,
    ci: float = 0.95,
    **fit_kwargs,
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
    levels : sequence of float
        Central interval probabilities to score.
    seed : int
        Seeds the simulation and the fits: the same seed gives the same table.
    law, likelihood, priors, model
        The model, as in :func:`bayescale.fit`; data are simulated from exactly it (its
        resolved priors, noise model and any extra noise parameter).
    rank_draws : int
        ``L``: posterior draws (evenly thinned) the SBC ranks are computed among;
        ranks take values ``0..L``.
    rank_bins : int
        Bins of the chi-square uniformity test; must divide ``L + 1``.
    ci : float
        Probability of the Clopper-Pearson intervals on the coverages.
    **fit_kwargs
        Sampler settings passed to :func:`bayescale.fit` (``num_warmup``, ...).

    Returns
    -------
    Calibration

    Examples
    --------
    >>> import bayescale as bs
    >>> truth = dict(bs.datasets.EXAMPLE_TRUTH, sigma=0.01)
    >>> cal = bs.calibration(M=2, truth=truth, seed=0, num_warmup=500, num_samples=500)
    >>> cal.coverage.columns.tolist()
    ['quantity', 'level', 'hits', 'M', 'coverage', 'ci_lower', 'ci_upper', 'p_value']
    >>> sorted(set(cal.coverage.quantity))[:3]
    ['E', 'N_opt@100x', 'N_opt@10x']
    """
    import pandas as pd
    from scipy import stats

    M = _check_int("M", M, 2)
    rank_draws = _check_int("rank_draws", rank_draws, 1)
    rank_bins = _check_int("rank_bins", rank_bins, 2)
    if (rank_draws + 1) % rank_bins:
        raise ConfigError(f"rank_bins={rank_bins} must divide rank_draws + 1 = {rank_draws + 1} (equal-width bins)")
    levels = check_levels(levels)
    seed = check_seed(seed)
    if not (isinstance(ci, (int, float)) and 0 < ci < 1):
        raise ConfigError(f"ci must be in (0, 1), got {ci!r}")
    model = resolve_model(law, model=model, likelihood=likelihood, priors=priors)
    law = model.law
    if not law.has_frontier:
        raise ConfigError(f"law {law.name!r} has no compute-optimal frontier; calibration scores N_opt and needs one")
    if model.pooling.grouped:
        raise ConfigError("calibration simulates ungrouped designs; use a complete-pooling model")
    N, D = _design(design)
    design_data = ScalingData.from_arrays(N=N, D=D, loss=np.ones_like(N))
    model.check_data(design_data)
    ref = model.reference(design_data)
    fixed = None if truth is None else _sampled_truth(model, truth, ref)

    sim = _simulate(model, design_data, fixed, M, simulation_key(seed))
    losses = np.exp(sim[OBS])
    datasets = [ScalingData.from_arrays(N=N, D=D, loss=losses[m]) for m in range(M)]

    fit_kwargs.setdefault("warn", False)
    fit_kwargs.setdefault("progress_bar", False)
    fits = fit_all(datasets, model, seed=seed, **fit_kwargs)

    budgets = np.asarray(BUDGET_FACTORS) * float(np.max(FLOPS_PER_PARAM_TOKEN * N * D))
    params = (*law.param_names, *model.noise_sites)
    sampled = (*law.sampled_names, *model.noise_sites)

    def with_frontier(values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        full = _natural_and_frontier(model, {k: values[k] for k in sampled}, ref, budgets)
        front = full.pop("_front")
        out = {k: full[k] for k in params}
        for j, f in enumerate(BUDGET_FACTORS):
            out[f"N_opt@{f:g}x"] = front["N_opt"][..., j]
            out[f"tokens_per_param@{f:g}x"] = front["tokens_per_param"][..., j]
        return out

    truths = with_frontier(sim)
    quantities = ["E", "alpha", "beta"] + [f"{q}@{f:g}x" for q in ("N_opt", "tokens_per_param") for f in BUDGET_FACTORS]

    hits = {(q, lv): 0 for q in quantities for lv in levels}
    ranks = {k: np.zeros(M, dtype=int) for k in params}
    converged = np.zeros(M, dtype=bool)
    health = []
    for m, fit in enumerate(fits):
        converged[m] = fit.converged
        d = fit.diagnostics
        health.append({"divergences": d.n_divergent, "max_rhat": max(d.rhat.values()),
                       "min_ess_bulk": min(d.ess_bulk.values()), "steps_per_draw": d.mean_steps,
                       "extra_draws_per_chain": fit.extra_draws_per_chain, "refits": len(fit.refits),
                       "target_accept": float(fit.config.target_accept), "converged": fit.converged})
        draws = with_frontier(fit.draws(sampled))
        for q in quantities:
            t = truths[q][m]
            for lv in levels:
                lo, hi = np.quantile(draws[q], [(1 - lv) / 2, (1 + lv) / 2])
                hits[(q, lv)] += int(lo <= t <= hi)
        S = draws[params[0]].size
        idx = np.linspace(0, S - 1, rank_draws).round().astype(int)
        for k in params:
            ranks[k][m] = int(np.sum(draws[k][idx] < truths[k][m]))

    rows = []
    for (q, lv), h in hits.items():
        lo, hi = clopper_pearson(h, M, ci)
        rows.append({"quantity": q, "level": lv, "hits": h, "M": M, "coverage": h / M,
                     "ci_lower": float(lo), "ci_upper": float(hi),
                     "p_value": float(stats.binomtest(h, M, lv).pvalue)})
    coverage = pd.DataFrame(rows)

    sbc = rank_table = None
    if fixed is None:
        rank_table = pd.DataFrame(ranks)
        sbc_rows = []
        width = (rank_draws + 1) // rank_bins
        for k in params:
            counts = np.bincount(ranks[k] // width, minlength=rank_bins)
            chi2, p = stats.chisquare(counts)
            sbc_rows.append({"parameter": k, "chi2": float(chi2), "df": rank_bins - 1, "p_value": float(p)})
        sbc = pd.DataFrame(sbc_rows).set_index("parameter")

    if not converged.all():
        warnings.warn(
            f"{int((~converged).sum())} of {M} calibration fits did not pass the convergence checks; they are "
            "counted (dropping them would bias coverage); see Calibration.converged and Calibration.diagnostics. "
            "More warmup and draws (num_warmup, num_samples) reduce low-ESS flags; divergences left after the "
            "refits (refit_divergent) point at the prior or the design.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return Calibration(coverage=coverage, sbc=sbc, ranks=rank_table, truths=pd.DataFrame(truths),
                       converged=converged, budgets=budgets, M=M, rank_draws=rank_draws, model=model,
                       diagnostics=pd.DataFrame(health))
