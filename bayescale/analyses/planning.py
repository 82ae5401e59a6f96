"""Planning the next training run: which run buys the most certainty per FLOP.

Given a fit and candidate runs ``(N, D)``, :func:`plan` estimates for each
candidate how much one more run there would shrink the posterior uncertainty of
a target quantity, by default ``log N_opt`` at a target compute ``C*`` (the
size of the model one is about to train), and ranks candidates by that expected
reduction per FLOP spent (``6 N D``).

The approximation, stated plainly
---------------------------------
An exact answer refits the posterior for every possible outcome of every
candidate. Instead, for each candidate ``k``:

1. *Simulate outcomes from the posterior predictive.* Draw ``M`` posterior
   draws ``j_1..j_M`` (shared by all candidates: common random numbers) and
   noise ``eps_m`` from the fitted noise model, giving
   ``y_km = log L(N_k, D_k; theta_jm) + u_k,jm + sigma_jm * eps_m``, where ``u_k,s`` is
   draw ``s``'s shared error of the error model at the candidate (its level's offset, or the
   discrepancy beyond the data: :meth:`~bayescale.ScalingFit.predictive_location`; 0 for
   independent runs).
2. *Update by importance reweighting.* The posterior after also observing
   ``y_km`` is the current posterior times the likelihood of ``y_km``, so each
   existing draw ``s`` (with its ``u_k,s``) gets weight
   ``w_s ∝ p(y_km | theta_s, u_k,s)``. The draw that
   generated ``y_km`` gets weight 0 (leave-one-out), so a draw does not
   confirm itself.
3. *Measure.* The target's weighted variance (or weighted central-interval
   width) is the uncertainty after the run; averaging over ``m`` gives the
   expected uncertainty after, and its difference to the current one the
   expected reduction (never negative in expectation: law of total variance).

Reweighting is accurate while the new likelihood is broad compared with the
posterior predictive at the candidate, and degenerates when one observation
would pin the curve down far more tightly than the current draws resolve (a
far extrapolation). Each candidate therefore reports the effective sample size
``ESS = 1 / sum w_s**2`` of its weights (median and minimum over ``m``). When
the median ESS falls below ``min_ess`` the candidate is flagged (``ess_low``)
and its estimate falls back to the linear-Gaussian (ensemble-Kalman) update,
which needs no weights::

    Var_after = Var(g) - Cov(g, h)**2 / (Var(h) + E[sigma**2] * v)

with ``g`` the target and ``h`` the candidate's log-loss location (law plus shared error) across draws and
``v`` the inverse Fisher information of the unit noise model
(:meth:`~bayescale.Likelihood.gaussian_variance`: 1 for a Normal,
``(df + 3) / (df + 1)`` for a Student-t, ``~1/delta**2`` for Huber: one observation
informs like a Gaussian one of that variance). This
estimate (``linear_reduction``) is reported for every candidate as a
cross-check. Both are *one-step* estimates: the value of one extra run given the
current posterior, not of a sequence of runs.
"""

from __future__ import annotations

import numpy as np

from bayescale.analyses.common import law_params
from bayescale.analyses.decisions import isoflop_draws
from bayescale.checks import check_prob, check_seed, positive_values
from bayescale.data import FLOPS_PER_PARAM_TOKEN
from bayescale.errors import ConfigError
from bayescale.model.chinchilla import CHINCHILLA
from bayescale.model.law import Law, evaluate64

__all__ = ["CRITERIA", "target_log_n_opt", "candidate_grid", "plan"]

#: Measures of uncertainty :func:`plan` can reduce.
CRITERIA = ("variance", "width")


def target_log_n_opt(params, target_compute: float, law: Law = CHINCHILLA) -> np.ndarray:
    """``log N_opt(C*)`` per draw (float64, from the law's frontier), the default planning target.

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.analyses.planning import target_log_n_opt
    >>> p = dict(E=1.817, A=477.8, B=2143.0, alpha=0.347, beta=0.367)
    >>> round(float(np.exp(target_log_n_opt(p, 5.88e23))[0]) / 1e10, 2)
    7.42
    """
    p = {k: np.atleast_1d(np.asarray(params[k], dtype=np.float64)) for k in law.param_names}
    return np.log(evaluate64(law.frontier, p, np.float64(target_compute))["N_opt"])


def candidate_grid(fit, budget: float, *, levels: int = 3, decades: float = 1.0, sizes: int = 9,
                   span: float = 8.0, group=None):
    """Candidate runs for a compute budget: IsoFLOP slices at and below it.

    ``levels`` compute levels log-spaced from ``budget / 10**decades`` to
    ``budget``; at each, ``sizes`` model sizes log-spaced from ``1/span`` to
    ``span`` times the posterior-median compute-optimal size there. Every run
    costs at most ``budget``.

    Returns
    -------
    pandas.DataFrame
        Columns ``N``, ``D``, ``C``.

    Examples
    --------
    >>> import bayescale as bs
    >>> from bayescale.analyses.planning import candidate_grid
    >>> fit = bs.fit(bs.datasets.example(), seed=0, num_warmup=500, num_samples=500)
    >>> g = candidate_grid(fit, 1e21)
    >>> len(g), float(g.C.max())
    (27, 1e+21)
    """
    import pandas as pd

    b = positive_values("budget", budget)
    if b.size != 1:
        raise ConfigError(f"budget must be one number of FLOPs, got {budget!r}")
    for name, v, lo in (("levels", levels, 1), ("sizes", sizes, 1)):
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise ConfigError(f"{name} must be an integer >= {lo}, got {v!r}")
    if not float(span) >= 1.0 or not float(decades) >= 0.0:
        raise ConfigError(f"span must be >= 1 and decades >= 0, got span={span!r}, decades={decades!r}")
    p = law_params(fit, group)
    Cs = np.geomspace(float(b[0]) / 10.0 ** float(decades), float(b[0]), levels) if levels > 1 else b
    rows = []
    for c in Cs:
        n_mid = float(np.median(isoflop_draws(p, c, [1.0], fit.law)["N_opt"]))
        for n in n_mid * np.geomspace(1.0 / span, span, sizes):
            rows.append((n, c / (FLOPS_PER_PARAM_TOKEN * n), c))
    return pd.DataFrame(rows, columns=["N", "D", "C"])


def _candidates(fit, candidates, budget, group=None):
    import pandas as pd

    if candidates is None:
        if budget is None:
            raise ConfigError("give candidates= (a table with columns N and D) or budget= (FLOPs per run)")
        return candidate_grid(fit, budget, group=group)
    if isinstance(candidates, pd.DataFrame):
        missing = [c for c in ("N", "D") if c not in candidates.columns]
        if missing:
            raise ConfigError(f"candidates lacks column(s) {missing}; give a table with columns N and D")
        N, D = candidates["N"].to_numpy(), candidates["D"].to_numpy()
    else:
        try:
            N, D = candidates
        except (TypeError, ValueError):
            raise ConfigError("candidates must be a DataFrame with columns N and D or a pair (N, D) of arrays") from None
    N, D = positive_values("candidate N", N), positive_values("candidate D", D)
    if N.shape != D.shape:
        raise ConfigError(f"candidate N and D differ in length: {N.size} and {D.size}")
    if budget is not None:
        b = float(positive_values("budget", budget)[0])
        over = FLOPS_PER_PARAM_TOKEN * N * D > b * (1 + 1e-9)
        if np.any(over):
            raise ConfigError(f"{int(over.sum())} candidate(s) cost more than the budget {b:.3g} FLOPs (6ND)")
    return pd.DataFrame({"N": N, "D": D, "C": FLOPS_PER_PARAM_TOKEN * N * D})


def _weighted_width(g_sorted: np.ndarray, w_sorted: np.ndarray, prob: float) -> np.ndarray:
    """Central ``prob`` interval width of ``g`` under weights (last axis), by the weighted CDF."""
    cw = np.cumsum(w_sorted, axis=-1)
    lo, hi = (1 - prob) / 2, 1 - (1 - prob) / 2
    i_lo = np.minimum((cw < lo).sum(axis=-1), g_sorted.size - 1)
    i_hi = np.minimum((cw < hi).sum(axis=-1), g_sorted.size - 1)
    return g_sorted[i_hi] - g_sorted[i_lo]


def plan(
    fit,
    *,
    target_compute: float,
    candidates=None,
    budget: float | None = None,
    criterion: str = "variance",
    prob: float = 0.9,
    num_sims: int = 128,
    min_ess: float | None = None,
    seed: int = 0,
    group=None,
):
    """Rank candidate runs by the expected reduction in uncertainty of ``log N_opt(C*)`` per FLOP.

    Parameters
    ----------
    fit : ScalingFit
    target_compute : float
        ``C*``: the compute at which the optimal size ``N_opt`` matters.
    candidates : DataFrame or (N, D), optional
        Candidate runs (columns ``N`` and ``D``). Default: :func:`candidate_grid`
        of ``budget``.
    budget : float, optional
        The most FLOPs one run may cost (required without ``candidates``).
    criterion : {"variance", "width"}
        Uncertainty measure: the posterior variance of ``log N_opt(C*)`` or the
        width of its central ``prob`` interval (in log units).
    num_sims : int
        Simulated outcomes per candidate (shared across candidates).
    min_ess : float, optional
        Median effective sample size below which a candidate is flagged and its
        estimate falls back to the linear-Gaussian update (default: 5% of the
        draws, at least 100).
    seed : int
        Seed of the simulation.
    group : str, optional
        For a pooled fit: the group whose next run is planned (``"population"``: a new group).

    Returns
    -------
    pandas.DataFrame
        One row per candidate, best first: ``N``, ``D``, ``C`` (the run's
        FLOPs), ``uncertainty_now``, ``expected_after``, ``expected_reduction``
        with its Monte Carlo standard error ``reduction_se`` (over the simulated
        outcomes), ``relative_reduction``, ``reduction_per_flop``,
        ``ess_median``, ``ess_min``, ``ess_low``, ``linear_reduction`` and
        ``method`` (``"reweighting"`` or ``"linear-gaussian"``). The module
        docstring states the approximation.

    Examples
    --------
    >>> import bayescale as bs
    >>> fit = bs.fit(bs.datasets.example(), seed=0, num_warmup=500, num_samples=500)
    >>> t = bs.plan(fit, target_compute=1e24, budget=1e21, num_sims=32)
    >>> len(t), list(t.method.unique()), bool(t.expected_reduction.iloc[0] > 0)  # rank 1: best per FLOP
    (27, ['reweighting'], True)
    >>> bool(t.reduction_per_flop.is_monotonic_decreasing)
    True
    """
    prob, tc, seed = check_prob(prob), _check_plan(criterion, target_compute, num_sims), check_seed(seed)
    cand = _candidates(fit, candidates, budget, group)
    p = law_params(fit, group, seed=seed)
    noise = {k: np.asarray(v, dtype=np.float64) for k, v in fit.noise_draws().items()}
    sigma = noise.pop("sigma")  # what remains: the likelihood's extra sites per draw (a learned df)
    measure = _Uncertainty(target_log_n_opt(p, tc, fit.law), criterion, prob)
    # Each draw's location of a candidate's outcome: the law plus the error model's shared errors there (the
    # reweighting is of the joint posterior of theta and those errors, whose theta-margin is the target's), so
    # an outcome the law may miss beyond the data teaches what it should.
    locations = fit.predictive_location(fit._covariates(cand.N.to_numpy(), cand.D.to_numpy(), None), seed=seed,
                                        group=group)
    rng = np.random.default_rng(seed)
    src = rng.choice(sigma.size, size=min(num_sims, sigma.size), replace=False)  # the draws that generate outcomes
    eps = fit.likelihood.standard_noise(rng, (src.size,), **{k: v[src] for k, v in noise.items()})
    cols = [_after_one_run(measure, locations[:, k], sigma, noise, fit.likelihood, src, eps) for k in range(len(cand))]
    min_ess = max(100.0, 0.05 * sigma.size) if min_ess is None else float(min_ess)
    out = _ranked(cand, measure.now, {k: np.asarray([c[k] for c in cols]) for k in cols[0]}, min_ess)
    out.attrs.update(criterion=criterion, target_compute=tc, num_sims=int(src.size), draws=int(sigma.size),
                     min_ess=min_ess)
    return out


def _check_plan(criterion: str, target_compute, num_sims) -> float:
    """The target compute as a float, after checking ``criterion`` and ``num_sims``."""
    if criterion not in CRITERIA:
        raise ConfigError(f"criterion must be one of {list(CRITERIA)}, got {criterion!r}")
    tc = positive_values("target_compute", target_compute)
    if tc.size != 1:
        raise ConfigError(f"target_compute must be one number of FLOPs, got {target_compute!r}")
    if not isinstance(num_sims, int) or isinstance(num_sims, bool) or num_sims < 2:
        raise ConfigError(f"num_sims must be an integer >= 2, got {num_sims!r}")
    return float(tc[0])


class _Uncertainty:
    """The planning target's uncertainty under weights over its draws ``g``: variance or interval width."""

    def __init__(self, g: np.ndarray, criterion: str, prob: float):
        self.g, self.criterion, self.prob = g, criterion, prob
        self.order = np.argsort(g)
        self.g_sorted = g[self.order]
        self.now = float(self(np.full(g.size, 1.0 / g.size)))

    def __call__(self, w: np.ndarray) -> np.ndarray:
        """``w``: normalised weights ``(..., S)``."""
        if self.criterion == "variance":
            m = w @ self.g
            return w @ (self.g * self.g) - m * m
        return _weighted_width(self.g_sorted, w[..., self.order], self.prob)


def _after_one_run(measure: _Uncertainty, h: np.ndarray, sigma: np.ndarray, noise: dict, lik, src: np.ndarray,
                   eps: np.ndarray) -> dict:
    """The expected uncertainty after one run whose log loss is located at ``h`` (per draw): by reweighting the
    draws for outcomes simulated from draws ``src`` (noise ``eps``), and by the linear-Gaussian update."""
    M = src.size
    y = h[src] + sigma[src] * eps  # (M,)
    z = (y[:, None] - h[None, :]) / sigma[None, :]
    logw = lik.unit_logpdf(z, **{k: v[None, :] for k, v in noise.items()}) - np.log(sigma)[None, :]
    logw[np.arange(M), src] = -np.inf  # leave-one-out
    logw -= logw.max(axis=1, keepdims=True)
    w = np.exp(logw)
    w /= w.sum(axis=1, keepdims=True)
    ess = 1.0 / np.sum(w * w, axis=1)
    u_after = measure(w)
    # Linear-Gaussian (ensemble Kalman) update of the target's variance; the unit noise's inverse Fisher
    # information is its Gaussian-equivalent variance.
    cov = np.cov(measure.g, h)
    var_after = cov[0, 0] - cov[0, 1] ** 2 / (cov[1, 1] + np.mean(sigma**2) * np.mean(lik.gaussian_variance(**noise)))
    ratio = var_after / cov[0, 0]
    return {"expected_after": float(np.mean(u_after)), "after_se": float(np.std(u_after, ddof=1) / np.sqrt(M)),
            "ess_median": float(np.median(ess)), "ess_min": float(np.min(ess)),
            "linear_after": float(measure.now * (ratio if measure.criterion == "variance" else np.sqrt(ratio)))}


def _ranked(cand, u_now: float, cols: dict, min_ess: float):
    """The plan's table, best reduction per FLOP first; the linear-Gaussian estimate where the ESS is low."""
    import pandas as pd

    out = cand.copy()
    out["uncertainty_now"] = u_now
    low = cols["ess_median"] < min_ess
    after = np.where(low, cols["linear_after"], cols["expected_after"])
    out["expected_after"] = after
    out["expected_reduction"] = u_now - after
    out["reduction_se"] = np.where(low, np.nan, cols["after_se"])
    out["relative_reduction"] = (u_now - after) / u_now
    out["reduction_per_flop"] = (u_now - after) / out["C"]
    out["ess_median"] = cols["ess_median"]
    out["ess_min"] = cols["ess_min"]
    out["ess_low"] = low
    out["linear_reduction"] = u_now - cols["linear_after"]
    out["method"] = np.where(low, "linear-gaussian", "reweighting")
    out = out.sort_values("reduction_per_flop", ascending=False, kind="stable").reset_index(drop=True)
    out.index = pd.RangeIndex(1, len(out) + 1, name="rank")
    return out
