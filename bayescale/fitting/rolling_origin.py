"""Rolling-origin forecasts inside a fit's own data: what its sweep says about the law's drift beyond the data.

:class:`~bayescale.LearnedExtrapolation` updates its corpus prior with them: the fit's model is fitted
again below each cutoff of :func:`~bayescale.model.discrepancy.rolling_origin_folds` (same settings and
seed), and its law's forecast of the next block of runs is compared with their losses
(:func:`~bayescale.model.discrepancy.forecast_evidence`). :meth:`ScalingFit.discrepancy_evidence
<bayescale.posterior.result.ScalingFit.discrepancy_evidence>` calls this once per fit and keeps the result.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from bayescale.errors import ConvergenceWarning
from bayescale.fitting.fit import fit as fit_one
from bayescale.model import discrepancy as dm

__all__ = ["rolling_origin_evidence"]

#: Fewest training runs a rolling-origin fit may have beyond the law's parameters.
MIN_EXTRA_RUNS = 2


def _fold_fit(fit, train):
    """``train`` fitted as ``fit`` was: its model, seed and sampler settings, no warnings (reported together)."""
    settings = {k: v for k, v in dataclasses.asdict(fit.config).items() if k not in ("map_steps", "whiten")}
    settings["progress_bar"] = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_one(train, model=fit.model, seed=fit.seed, warn=False, **settings)


def rolling_origin_evidence(fit, *, by: tuple[str, ...] = ("C", "N"), max_folds: int = 4,
                            resolution: float = 0.02) -> list[dict]:
    """Evidence on the discrepancy from rolling-origin forecasts inside ``fit``'s data (one dict per fold).

    Each fold refits ``fit``'s model on the runs below a cutoff of ``by[0]`` and forecasts the runs from
    the cutoff to the next (their distance beyond the fold's training runs: the largest over the axes ``by``,
    :func:`~bayescale.model.discrepancy.distance_beyond`) (:func:`~bayescale.model.discrepancy.rolling_origin_folds`; at least the law's
    parameters + 2 runs and half the data below each cutoff, at most ``max_folds`` folds). A fit whose
    data allow no fold gives ``[]`` (the prior alone). Folds whose fit did not converge are kept and
    named in one :class:`~bayescale.errors.ConvergenceWarning`.
    """
    data = fit.data
    x = np.log10(np.asarray(getattr(data, by[0]), dtype=np.float64))
    folds = dm.rolling_origin_folds(x, n_min=fit.law.n_params + MIN_EXTRA_RUNS, max_folds=max_folds,
                                    resolution=resolution)
    out, failed = [], []
    for k, (train_mask, block) in enumerate(folds):
        train = data.subset(train_mask)
        try:
            train.require(n_params=fit.law.n_params, covariates=fit.law.covariates)
        except ValueError:
            continue  # too few distinct sizes below this cutoff: no forecast from it
        sub = _fold_fit(fit, train)
        if not sub.converged:
            failed.append(f"fold {k + 1} ({train.n} runs): " + "; ".join(sub.diagnostics.problems))
        test = data.subset(block)
        cov = sub._covariates(test.N, test.D, None, test.U)
        law = sub._law_log_loss(cov, None)
        noise_params = sub.noise_draws()
        noise = sub.likelihood.noise(fit.seed, noise_params.pop("sigma"), (test.n,), **noise_params)
        s = dm.distance_beyond({a: getattr(test, a) for a in by}, {a: getattr(train, a) for a in by}, by)
        out.append(dm.forecast_evidence(np.log(test.loss), law, dm.noise_variance(noise), s))
    if failed:
        warnings.warn("rolling-origin fits for the learned discrepancy did not converge (their forecasts are used "
                      "all the same): " + " | ".join(failed), ConvergenceWarning, stacklevel=3)
    return out
