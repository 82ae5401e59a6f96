"""The learned extrapolation discrepancy's math (:class:`~bayescale.model.error_models.LearnedExtrapolation`).

Beyond the training range of compute, a forecast of log loss is the law's plus a discrepancy
``delta(s) = (mu + eta) * s + tau * W(s)``: ``s`` the signed distance in decades beyond the range,
``mu`` the sweep's drift per decade, ``eta ~ Normal(0, drift_jitter**2)`` how the drift of one
forecast differs from the sweep's, and ``W`` a standard Brownian motion started at the edge (scale
``tau`` per sqrt(decade)). ``(tau, mu)`` differ between sweeps: their prior (:class:`DiscrepancyPrior`)
is what a hierarchical model over a corpus of real sweeps says of a new one
(``benchmarks/discrepancy_prior.py``). A sweep's own data update it: rolling-origin forecasts inside
the training runs (:func:`rolling_origin_folds`; fit below each cutoff, forecast the next block) each
give a Gaussian likelihood of ``(tau, mu)`` (:func:`evidence_grid`), and the posterior is computed on a
grid (:data:`SCALE_GRID` x :data:`DRIFT_GRID`). Everything here is NumPy on arrays; the fits are the
caller's.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bayescale.errors import ConfigError
from bayescale.model.levels import DEFAULT_RESOLUTION, SLACK, brownian_fill, levels
from bayescale.model.priors import Prior

__all__ = ["rolling_origin_folds", "signed_decades", "brownian_cov", "noise_variance", "forecast_evidence",
           "evidence_grid", "DiscrepancyPrior", "posterior_grid", "sample_grid", "distance_beyond", "discrepancy_draws", "SCALE_GRID",
           "DRIFT_GRID"]


def rolling_origin_folds(x, *, n_min: int, max_folds: int = 4, min_fraction: float = 0.5,
                         resolution: float = DEFAULT_RESOLUTION) -> list[tuple[np.ndarray, np.ndarray]]:
    """Rolling-origin folds inside training data: ``(train, scored)`` boolean masks per fold.

    ``x`` is the log10 of the discrepancy's axis (compute) of every training run. Cutoffs are the
    starts of its levels (:func:`~bayescale.model.levels.levels`) that leave at least
    ``max(n_min, min_fraction * n)`` runs below them; of those, at most ``max_folds``, spread evenly
    in log10 between the first and the last. Fold ``k`` fits the runs below cutoff ``k`` and scores
    the runs from cutoff ``k`` up to the next cutoff (the last fold: every run above its cutoff), so
    the scored blocks are disjoint and the product of their predictive densities is a prequential
    likelihood (Dawid 1984): each block forecast from everything below it.

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.model.discrepancy import rolling_origin_folds
    >>> x = np.repeat(np.arange(10) * 0.3, 5)          # 10 budgets, 0.3 decades apart, 5 runs each
    >>> folds = rolling_origin_folds(x, n_min=7, max_folds=3)
    >>> [(int(t.sum()), int(s.sum())) for t, s in folds]
    [(25, 10), (35, 10), (45, 5)]
    """
    x = np.asarray(x, dtype=np.float64)
    _, anchors, _ = levels(10.0**x, resolution)
    need = max(int(n_min), int(np.ceil(min_fraction * x.size)))
    below = np.array([int(np.sum(x < a - SLACK)) for a in anchors])
    cand = anchors[(below >= need) & (np.arange(anchors.size) > 0)]
    if cand.size == 0 or max_folds < 1:
        return []
    if cand.size > max_folds:
        targets = np.linspace(cand[0], cand[-1], max_folds)
        cand = np.unique(cand[[int(np.argmin(np.abs(cand - t))) for t in targets]])
    edges = np.append(cand, np.inf)
    return [(x < lo - SLACK, (x >= lo - SLACK) & (x < hi - SLACK)) for lo, hi in zip(edges[:-1], edges[1:])]


#: Grid of the discrepancy's scale ``tau`` (log loss per sqrt(decade); 61 log steps, 14% apart) and drift ``mu``
#: (log loss per decade; steps of 0.0025) on which its evidence and posterior are computed.
SCALE_GRID = np.geomspace(1e-4, 0.3, 61)
DRIFT_GRID = np.linspace(-0.15, 0.15, 121)
#: Width of the central interval of the noise matched by :func:`noise_variance` (the widest interval scored).
_MATCHED = 0.9


def brownian_cov(s: np.ndarray) -> np.ndarray:
    """Covariance of a Brownian motion (unit scale per sqrt(decade)) at signed distances ``s`` beyond a range:
    ``min(|s_i|, |s_j|)`` on the same side, 0 across sides or inside (``s == 0``)."""
    s = np.asarray(s, dtype=np.float64)
    same = np.sign(s)[:, None] * np.sign(s)[None, :] > 0
    return np.where(same, np.minimum(np.abs(s)[:, None], np.abs(s)[None, :]), 0.0)


def signed_decades(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Signed distance of log10 values beyond ``[lo, hi]``: positive above ``hi``, negative below ``lo``, else 0."""
    x = np.asarray(x, dtype=np.float64)
    return np.maximum(x - hi, 0.0) - np.maximum(lo - x, 0.0)


def noise_variance(noise_draws: np.ndarray) -> float:
    """The variance of a Gaussian with the same central 90% interval as the noise draws (heavy-tailed noise,
    Student-t's, would be overstated by its variance)."""
    from scipy.stats import norm

    lo, hi = np.quantile(np.asarray(noise_draws, dtype=np.float64), [(1 - _MATCHED) / 2, (1 + _MATCHED) / 2])
    return float(((hi - lo) / (2.0 * norm.ppf((1 + _MATCHED) / 2))) ** 2)


def forecast_evidence(y: np.ndarray, law_draws: np.ndarray, noise_var: float, s: np.ndarray) -> dict:
    """What one forecast says about the discrepancy: residuals of observed log losses ``y`` from the mean of
    the law's draws ``(S, m)``, their covariance under the law's posterior plus the noise (``noise_var`` on the
    diagonal), and the signed decades ``s`` of the runs beyond the fitted range."""
    law = np.asarray(law_draws, dtype=np.float64)
    mean = law.mean(axis=0)
    cov = np.atleast_2d(np.cov(law, rowvar=False)) + noise_var * np.eye(law.shape[1])
    return {"resid": np.asarray(y, dtype=np.float64) - mean, "cov": cov, "s": np.asarray(s, dtype=np.float64)}


def evidence_grid(ev: dict, drift_jitter: float = 0.0, scales: np.ndarray = SCALE_GRID,
                  drifts: np.ndarray = DRIFT_GRID) -> np.ndarray:
    """Gaussian log likelihood ``(len(scales), len(drifts))`` of one forecast's residuals under the discrepancy:
    ``resid ~ Normal(mu * s, cov + drift_jitter**2 s s^T + tau**2 K)``, ``K`` the Brownian covariance
    (:func:`brownian_cov`).

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.model.discrepancy import evidence_grid, SCALE_GRID, DRIFT_GRID
    >>> s = np.linspace(0.1, 1.0, 10)
    >>> ev = {"resid": 0.02 * s, "cov": 1e-6 * np.eye(10), "s": s}       # a clean drift of 0.02 per decade
    >>> ll = evidence_grid(ev)
    >>> i, j = np.unravel_index(np.argmax(ll), ll.shape)
    >>> round(float(DRIFT_GRID[j]), 3), bool(SCALE_GRID[i] < 0.005)
    (0.02, True)
    """
    r, s = ev["resid"], ev["s"]
    V0 = ev["cov"] + drift_jitter**2 * np.outer(s, s)
    K = brownian_cov(s)
    out = np.empty((scales.size, drifts.size))
    for i, t in enumerate(scales):
        L = np.linalg.cholesky(V0 + t**2 * K)
        zr, zs = np.linalg.solve(L, r), np.linalg.solve(L, s)
        a, b, c = zr @ zr, zr @ zs, zs @ zs
        logdet = 2.0 * np.sum(np.log(np.diag(L)))
        out[i] = -0.5 * (logdet + a - 2.0 * drifts * b + drifts**2 * c + r.size * np.log(2.0 * np.pi))
    return out


def _check_prior(name: str, prior) -> Prior:
    if isinstance(prior, dict):
        prior = Prior.from_dict(prior)
    if not isinstance(prior, Prior):
        raise ConfigError(f"{name} must be a bayescale.Prior (e.g. Prior('Normal', loc=0.0, scale=0.03)), got {prior!r}")
    return prior


@dataclasses.dataclass(frozen=True)
class DiscrepancyPrior:
    """What is known of a new sweep's discrepancy before its own data: priors on ``log(tau)`` (the Brownian
    scale per sqrt(decade)) and on ``mu`` (the drift per decade), and ``drift_jitter``, the standard deviation
    of one forecast's drift about the sweep's.

    The default (:data:`bayescale.model.corpus_prior.CORPUS_PRIOR`) is learned from real sweeps by
    ``benchmarks/discrepancy_prior.py``; any :class:`~bayescale.Prior` of a real variable serves.

    Examples
    --------
    >>> import bayescale as bs
    >>> p = bs.DiscrepancyPrior(log_scale=bs.Prior("Normal", loc=-4.6, scale=1.0),
    ...                         drift=bs.Prior("Normal", loc=0.0, scale=0.03), drift_jitter=0.01)
    >>> p.log_density().shape
    (61, 121)
    """

    log_scale: Prior
    drift: Prior
    drift_jitter: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "log_scale", _check_prior("log_scale", self.log_scale))
        object.__setattr__(self, "drift", _check_prior("drift", self.drift))
        j = self.drift_jitter
        if isinstance(j, bool) or not isinstance(j, (int, float)) or not 0.0 <= float(j) < 1.0:
            raise ConfigError(f"drift_jitter must be a standard deviation of log loss per decade in [0, 1), e.g. "
                              f"0.01; got drift_jitter={j!r}")
        object.__setattr__(self, "drift_jitter", float(j))

    def log_density(self) -> np.ndarray:
        """The prior on the grid (:data:`SCALE_GRID` x :data:`DRIFT_GRID`), normalised to sum to 1 there."""
        lt = np.asarray(self.log_scale.to_numpyro().log_prob(np.log(SCALE_GRID)), dtype=np.float64)
        lm = np.asarray(self.drift.to_numpyro().log_prob(DRIFT_GRID), dtype=np.float64)
        out = lt[:, None] + lm[None, :]
        return out - np.logaddexp.reduce(out.ravel())

    def to_dict(self) -> dict:
        return {"log_scale": self.log_scale.to_dict(), "drift": self.drift.to_dict(), "drift_jitter": self.drift_jitter}

    @classmethod
    def from_dict(cls, d) -> "DiscrepancyPrior":
        return cls(**dict(d))


def posterior_grid(prior: DiscrepancyPrior, evidence: list[dict]) -> np.ndarray:
    """Log posterior of ``(tau, mu)`` on the grid, normalised: the prior times each forecast's likelihood."""
    out = prior.log_density() + sum((evidence_grid(ev, prior.drift_jitter) for ev in evidence), 0.0)
    return out - np.logaddexp.reduce(out.ravel())


def sample_grid(log_post: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` draws of ``(tau, mu)`` from a log density on the grid (uniform within each cell)."""
    p = np.exp(log_post - log_post.max()).ravel()
    i, j = np.unravel_index(rng.choice(p.size, n, p=p / p.sum()), log_post.shape)
    step_t = np.log(SCALE_GRID[1] / SCALE_GRID[0])
    step_m = DRIFT_GRID[1] - DRIFT_GRID[0]
    return (SCALE_GRID[i] * np.exp(step_t * (rng.random(n) - 0.5)), DRIFT_GRID[j] + step_m * (rng.random(n) - 0.5))


def distance_beyond(new: dict, train: dict, axes: tuple[str, ...]) -> np.ndarray:
    """Signed decades of new runs beyond the training range: per run, over ``axes`` (e.g. ``("C", "N")``), the
    distance (:func:`signed_decades` of the log10 values) largest in magnitude, so a run extrapolates as far as
    its furthest axis takes it (a 3x larger model at a compute inside the range is 0.48 decades out).

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.model.discrepancy import distance_beyond
    >>> train = {"C": np.array([1e18, 1e20]), "N": np.array([1e7, 1e8])}
    >>> distance_beyond({"C": np.array([1e19, 1e21, 1e19]), "N": np.array([1e8, 1e8, 1e9])}, train, ("C", "N")).tolist()
    [0.0, 1.0, 1.0]
    """
    per_axis = []
    for a in axes:
        t = np.log10(np.asarray(train[a], dtype=np.float64))
        per_axis.append(signed_decades(np.log10(np.asarray(new[a], dtype=np.float64)), t.min(), t.max()))
    stacked = np.stack(per_axis)
    return stacked[np.argmax(np.abs(stacked), axis=0), np.arange(stacked.shape[1])]


def discrepancy_draws(log_post: np.ndarray, drift_jitter: float, s: np.ndarray, n_draws: int,
                      rng: np.random.Generator, resolution: float = DEFAULT_RESOLUTION) -> np.ndarray:
    """Draws ``(n_draws, len(s))`` of the discrepancy at signed distances ``s`` (decades) beyond the fitted range:
    0 inside; beyond, ``(mu + eta) * s + tau * W(|s|)`` with ``(tau, mu)`` from ``log_post``, ``eta`` of sd
    ``drift_jitter``, and one Brownian motion per side started at the edge, one draw per level of distance (runs
    within ``resolution`` decades).

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.model.discrepancy import DiscrepancyPrior, discrepancy_draws
    >>> import bayescale as bs
    >>> prior = DiscrepancyPrior(bs.Prior("Normal", loc=-4.0, scale=0.1), bs.Prior("Normal", loc=0.0, scale=0.02))
    >>> d = discrepancy_draws(prior.log_density(), 0.0, np.array([0.0, 0.0, 1.0]), 20000, np.random.default_rng(0))
    >>> d[:, :2].std(axis=0).tolist(), round(float(d[:, 2].std()), 3)   # sqrt(0.02**2 + exp(-4)**2) = 0.027
    ([0.0, 0.0], 0.027)
    """
    s = np.asarray(s, dtype=np.float64)
    out = np.zeros((n_draws, s.size))
    if not np.any(s != 0):
        return out
    tau, mu = sample_grid(log_post, n_draws, rng)
    mu = mu + drift_jitter * rng.standard_normal(n_draws)
    out += mu[:, None] * s[None, :]
    for side in (s > 0, s < 0):
        if side.any():
            j, _, pos = levels(10.0 ** np.abs(s[side]), resolution)
            out[:, side] += brownian_fill([0.0], [np.zeros(n_draws)], pos, tau, rng)[:, j]
    return out
