"""Backtesting: fit on the small runs, score the forecasts of the large ones.

:func:`backtest` is the honest test of a scaling law: hide every run at or
above a compute (or parameter-count) cutoff, fit on the rest, and score the
posterior predictive distribution at the hidden runs with

- the relative error of the predictive median, ``(median - loss) / loss``;
- the coverage of central predictive intervals (50% and 90% by default): the
  fraction of held-out losses inside them;
- the log predictive density of each held-out ``log(loss)``,
  ``log mean_s p(log loss | theta_s)``, computed exactly from the likelihood
  (higher is better);
- the continuous ranked probability score of the loss in nats (lower is
  better), estimated from the predictive draws (:func:`crps_from_draws`).

Several cutoffs give one table row each. The fits run through :func:`bayescale.fitting.batch.fit_all`,
which batches same-shaped datasets into one compiled call.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any, Sequence

import numpy as np

from bayescale.checks import check_probs, check_seed
from bayescale.data import ScalingData
from bayescale.errors import ConfigError, CutoffError, DataError
from bayescale.fitting.batch import check_pointwise, warn_many, fit_all
from bayescale.fitting.settings import REFIT_DIVERGENT, resolve, shared
from bayescale.model.spec import ScalingModel

__all__ = ["backtest", "Backtest", "crps_from_draws"]

#: Points within this relative distance below a cutoff count as at the cutoff (held out),
#: so that a cutoff equal to an IsoFLOP budget holds out that whole budget despite rounding.
CUTOFF_RTOL = 1e-6

_BY = ("C", "N")


def crps_from_draws(draws: Any, y: Any) -> np.ndarray:
    """Continuous ranked probability score of observations ``y`` under sample draws.

    The energy form ``CRPS(F, y) = E|X - y| - E|X - X'| / 2`` with ``X, X' ~ F``
    independent (Gneiting & Raftery 2007, eq. 21), both expectations taken over
    the empirical distribution of the draws. ``E|X - X'|`` is computed in
    ``O(S log S)`` from the sorted draws: ``2 / S**2 * sum_i (2 i - S - 1) x_(i)``.
    This is the exact CRPS of the empirical distribution; it converges to the
    CRPS of ``F`` as the number of draws grows (error ``O(1/S)`` in bias).

    Parameters
    ----------
    draws : array_like, shape (S,) or (S, m)
        Draws from the predictive distribution of each of ``m`` observations.
    y : array_like, shape () or (m,)
        The observations.

    Returns
    -------
    numpy.ndarray, shape (m,) (or a 0-d array for one observation)

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.analyses.backtest import crps_from_draws
    >>> x = np.random.default_rng(0).standard_normal(200_000)
    >>> round(float(crps_from_draws(x, 0.0)), 3)   # closed form: (sqrt(2) - 1) / sqrt(pi) = 0.234
    0.234
    """
    x = np.asarray(draws, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    S = x.shape[0]
    term1 = np.mean(np.abs(x - y), axis=0)
    xs = np.sort(x, axis=0)
    w = (2.0 * np.arange(1, S + 1) - S - 1.0)[:, None]
    mean_abs_diff = 2.0 / S**2 * np.sum(w * xs, axis=0)
    out = term1 - 0.5 * mean_abs_diff
    return out.reshape(y.shape) if y.ndim == 0 else out


def _coverage_name(prob: float) -> str:
    return f"coverage_{100.0 * prob:g}"


def _check_cutoffs(data: ScalingData, cutoff, by: str, min_train: int) -> list[tuple[float, np.ndarray]]:
    """Validate every cutoff before any fit: return ``(cutoff, train_mask)`` pairs."""
    if by not in _BY:
        raise ConfigError(f"by must be 'C' (training compute) or 'N' (parameters), got {by!r}")
    raw = np.atleast_1d(np.asarray(cutoff, dtype=object)).ravel()
    if raw.size == 0:
        raise CutoffError("no cutoff given: pass cutoff=1e20 or several, cutoff=[1e20, 1e21]")
    values = data.C if by == "C" else data.N
    unit = "FLOPs" if by == "C" else "parameters"
    out = []
    for c in raw:
        if isinstance(c, bool) or not isinstance(c, (numbers.Real, np.number)) or not np.isfinite(float(c)) or c <= 0:
            raise CutoffError(f"cutoff must be a positive finite number of {unit}, got {c!r}")
        c = float(c)
        train = values < c * (1.0 - CUTOFF_RTOL)
        n_train, n_test = int(train.sum()), int((~train).sum())
        span = f"the data's {by} runs from {values.min():.3g} to {values.max():.3g}"
        if n_test == 0:
            raise CutoffError(
                f"cutoff {by}={c:.4g} holds out no runs ({span}): choose a cutoff at or below the largest "
                f"{by} so that some runs are left to score"
            )
        if n_train < min_train:
            raise CutoffError(
                f"cutoff {by}={c:.4g} leaves {n_train} training run(s) below it, but the law needs at least "
                f"{min_train} ({span}): raise the cutoff"
            )
        out.append((c, train))
    return out


@dataclasses.dataclass(eq=False)
class Backtest:
    """The result of :func:`backtest`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per cutoff (index ``cutoff``): ``n_train``, ``n_test``,
        ``extrapolation`` (largest held-out C over largest training C),
        ``rel_error`` (mean absolute relative error of the predictive median),
        ``rel_bias`` (its signed mean), ``coverage_<100 prob>`` per interval probability, ``lpd``
        (mean log predictive density of held-out log losses), ``crps`` (mean CRPS
        of the loss, nats) and ``converged``.
    points : pandas.DataFrame
        One row per held-out run per cutoff, with the same scores per run and the
        predictive median and interval bounds.
    fits : list of ScalingFit
        The fit at each cutoff, in the order of ``table``.
    by : {"C", "N"}
    prob : tuple of float
        The central interval probabilities scored.
    """

    table: Any
    points: Any
    fits: list
    by: str
    prob: tuple

    def plot(self, ax=None, prob: float | None = None):
        """See :func:`bayescale.plots.plot_backtest`."""
        from bayescale.plots.backtest import plot_backtest

        return plot_backtest(self, ax=ax, prob=prob)

    def __repr__(self) -> str:
        return f"Backtest(by={self.by!r}, cutoffs={len(self.fits)})\n{self.table.to_string()}"


def _score(fit, test: ScalingData, probs: tuple[float, ...], seed: int) -> dict[str, np.ndarray]:
    import jax.numpy as jnp

    y = test.loss
    cov = {c: getattr(test, c) for c in ("N", "D", "U") if getattr(test, c) is not None}
    pred = fit.predict_draws(**cov, seed=seed)["pred"]
    mu = fit.predictive_location(fit._covariates(**cov, C=None), seed=seed)  # law + shared errors, (S, m)
    noise = {k: jnp.asarray(v)[:, None] for k, v in fit.noise_draws().items()}
    sigma = noise.pop("sigma")
    # Log density of each held-out log loss under every draw, averaged over draws in log space.
    logp = np.asarray(fit.likelihood.dist(jnp.asarray(mu), sigma, **noise).log_prob(jnp.log(jnp.asarray(y))),
                      dtype=np.float64)
    lpd = np.logaddexp.reduce(logp, axis=0) - np.log(logp.shape[0])
    med = np.median(pred, axis=0)
    out = {
        "N": test.N, "D": test.D, "C": test.C, "loss": y,
        "pred_median": med,
        "rel_error": (med - y) / y,
        "lpd": lpd,
        "crps": crps_from_draws(pred, y),
        "pit": np.mean(pred <= y, axis=0),
    }
    for p in probs:
        lo, hi = np.quantile(pred, [(1 - p) / 2, (1 + p) / 2], axis=0)
        out[f"lower_{100 * p:g}"] = lo
        out[f"upper_{100 * p:g}"] = hi
        out[_coverage_name(p)] = (lo <= y) & (y <= hi)
    return out


def backtest(
    data: ScalingData,
    cutoff,
    law=None,
    *,
    by: str = "C",
    prob: float | Sequence[float] = (0.5, 0.9),
    model: ScalingModel | None = None,
    likelihood=None,
    priors=None,
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
) -> Backtest:
    """Fit on the runs below each cutoff and score the forecasts of the held-out larger runs.

    Parameters
    ----------
    data : ScalingData
        All runs.
    cutoff : float or sequence of float
        Compute (FLOPs, ``by="C"``) or parameter count (``by="N"``) cutoffs. Runs
        below a cutoff are fitted; runs at or above it are held out and scored.
        A run within a relative ``1e-6`` below the cutoff counts as at it, so a
        cutoff equal to an IsoFLOP budget holds out that whole budget.
    law, model, likelihood, priors, pooling, error_model
        The model fitted at every cutoff, as in :func:`bayescale.fit`.
    by : {"C", "N"}
        The column the cutoff applies to.
    prob : float or sequence of float
        Central predictive interval probabilities whose coverage is reported.
    seed : int
        The fit at cutoff ``j`` (in the order given) uses seed ``seed + j``; the predictive draws use ``seed``.
    num_chains, num_warmup, num_samples, target_accept, max_tree_depth, dense_mass, chain_method, progress_bar, until_converged, refit_divergent, warn, pointwise, method
        As in :func:`bayescale.fit_many`, with the same defaults (``warn``: one warning for every
        fit that failed a check).

    Returns
    -------
    Backtest
        ``.table`` (one row per cutoff), ``.points`` (one row per held-out run),
        ``.fits`` and ``.plot()``.

    Raises
    ------
    CutoffError
        A cutoff leaves fewer training runs than the law needs, or none to score.
        Every cutoff is checked before the first fit.

    Examples
    --------
    >>> import bayescale as bs
    >>> data = bs.datasets.example()          # budgets 6e18 ... 3e21 FLOPs
    >>> bt = bs.backtest(data, cutoff=1e21, seed=0, num_warmup=500, num_samples=500)
    >>> int(bt.table.n_train.iloc[0]), int(bt.table.n_test.iloc[0])
    (140, 40)
    >>> list(bt.table.columns)[3:7]
    ['rel_error', 'rel_bias', 'coverage_50', 'coverage_90']
    """
    if not isinstance(data, ScalingData):
        raise ConfigError(
            f"data must be a bayescale.ScalingData, got {type(data).__name__}; build one with "
            "ScalingData.from_frame(df, N=..., D=..., loss=...)"
        )
    probs, seed = check_probs(prob), check_seed(seed)
    settings = resolve(**shared(locals()), data=data)
    splits = _training_splits(data, cutoff, by, settings.model)
    trains = [data.subset(mask) for _, mask in splits]
    fits = fit_all(trains, settings, [seed + j for j in range(len(trains))], pointwise=check_pointwise(pointwise),
                   method=method)
    if warn:
        warn_many(fits)
    return _scored(data, splits, trains, fits, by, probs, seed)


def _training_splits(data: ScalingData, cutoff, by: str, model: ScalingModel) -> list[tuple[float, np.ndarray]]:
    """``(cutoff, training mask)`` per cutoff, each checked (enough runs, fittable by the law) before any fit."""
    law = model.law
    splits = _check_cutoffs(data, cutoff, by, min_train=law.n_params + 2)
    for c, mask in splits:
        try:
            data.subset(mask).require(n_params=law.n_params, covariates=law.covariates)
        except DataError as err:
            raise CutoffError(f"cutoff {by}={c:.4g}: the training runs below it cannot be fitted: {err}") from None
    return splits


def _scored(data: ScalingData, splits, trains, fits, by: str, probs: tuple[float, ...], seed: int) -> Backtest:
    """The :class:`Backtest` of ``fits``: each fit's held-out runs scored, one table row per cutoff."""
    import pandas as pd

    rows, points = [], []
    for (c, mask), train, fit in zip(splits, trains, fits):
        test = data.subset(~mask)
        s = _score(fit, test, probs, seed)
        pts = pd.DataFrame(s)
        pts.insert(0, "cutoff", c)
        points.append(pts)
        rows.append(_row(c, train, test, s, probs, fit))
    table = pd.DataFrame(rows).set_index("cutoff")
    return Backtest(table=table, points=pd.concat(points, ignore_index=True), fits=fits, by=by, prob=probs)


def _row(cutoff: float, train: ScalingData, test: ScalingData, s: dict, probs: tuple[float, ...], fit) -> dict:
    row = {
        "cutoff": cutoff,
        "n_train": train.n,
        "n_test": test.n,
        "extrapolation": float(test.C.max() / train.C.max()),
        "rel_error": float(np.mean(np.abs(s["rel_error"]))),
        "rel_bias": float(np.mean(s["rel_error"])),
    }
    for p in probs:
        row[_coverage_name(p)] = float(np.mean(s[_coverage_name(p)]))
    row["lpd"] = float(np.mean(s["lpd"]))
    row["crps"] = float(np.mean(s["crps"]))
    row["converged"] = bool(fit.converged)
    return row
