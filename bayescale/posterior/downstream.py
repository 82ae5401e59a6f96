"""The result of a downstream fit: links from loss to accuracy per task, and forecasts that carry every
uncertainty through.

A forecast of a task's accuracy at a new run ``(N, D)`` pairs each posterior predictive draw of the run's loss
(``loss_fit.predict_draws(N, D)["pred"]``: the law, the error model's discrepancy beyond the data and the
run-to-run noise) with a draw of the task's link (a random permutation of the link's draws, cycled when the
two counts differ), so both posteriors' uncertainty reaches the accuracy. ``acc_*`` is the expected accuracy
of such a run; ``pred_*`` adds the benchmark's own noise, a beta-binomial draw of correct answers out of
``n_items`` with the learned over-dispersion: where the run's score would land. A shared loss fit (e.g. C4
loss) gives every task the same loss draws for a run (same ``seed``), so averages over tasks keep their
correlation; per-task loss fits are independent.
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping

import numpy as np

from bayescale.checks import as_float_column, check_finite_positive
from bayescale.data import FLOPS_PER_PARAM_TOKEN
from bayescale.errors import ConfigError, ExtrapolationWarning
from bayescale.model.beta_binomial import sample_correct
from bayescale.model.downstream import TAU, DownstreamModel
from bayescale.posterior.diagnostics import Diagnostics
from bayescale.checks import check_prob
from bayescale.posterior.result import ScalingFit, _interval
from bayescale.task_data import TaskData

__all__ = ["DownstreamFit", "Unit", "METHODS", "covariates"]

#: ``"two_step"``: compute -> loss (a scaling-law fit) -> accuracy (the link); ``"one_step"``: the link applied to
#: ``-log10 C`` directly.
METHODS = ("two_step", "one_step")


class Unit:
    """One fitted link: a task (and group), its rows, items, reference values (``ref``: ``chance``, ``L_ref``,
    ``L_mid``, :func:`~bayescale.model.downstream.unit_reference`) and at-chance verdict."""

    def __init__(self, task: str, group: str | None, rows: np.ndarray, data: TaskData, ref: Mapping[str, float],
                 at_chance: tuple[bool, str]):
        self.task, self.group, self.rows, self.ref = task, group, rows, dict(ref)
        self.chance = float(data.chance[rows[0]])
        self.n_items = float(data.n_items[rows[0]])
        self.at_chance, self.at_chance_reason = at_chance

    @property
    def label(self) -> str:
        return self.task if self.group is None else f"{self.task} [{self.group}]"


def covariates(N=None, D=None, C=None) -> dict[str, np.ndarray]:
    """Broadcast, validated ``N``, ``D``, ``C`` from exactly two of them (``C = 6 N D``)."""
    given = {k: v for k, v in (("N", N), ("D", D), ("C", C)) if v is not None}
    if len(given) != 2:
        raise ConfigError(f"give exactly two of N, D and C (C = 6 N D); got {sorted(given) or 'none'}")
    arrs = {}
    for k, v in given.items():
        arrs[k] = as_float_column(k, np.atleast_1d(np.asarray(v, dtype=object)).ravel())
        check_finite_positive(k, arrs[k])
    try:
        arrs = dict(zip(arrs, np.broadcast_arrays(*arrs.values())))
    except ValueError:
        raise ConfigError("the arrays given do not broadcast: "
                          + ", ".join(f"{k} has shape {v.shape}" for k, v in arrs.items())) from None
    if "C" not in arrs:
        arrs["C"] = FLOPS_PER_PARAM_TOKEN * arrs["N"] * arrs["D"]
    elif "N" in arrs:
        arrs["D"] = arrs["C"] / (FLOPS_PER_PARAM_TOKEN * arrs["N"])
    else:
        arrs["N"] = arrs["C"] / (FLOPS_PER_PARAM_TOKEN * arrs["D"])
    return {k: arrs[k] for k in ("N", "D", "C")}


class DownstreamFit:
    """Posterior of the links from loss to accuracy of one or many tasks, with chained forecasts.

    Built by :func:`bayescale.fit_downstream`. ``units`` lists the fitted links (one per task, or per
    (task, group)); ``diagnostics[i]`` is unit ``i``'s sampler health; ``loss_fit`` the loss fit(s)
    forecasts go through (``None`` for the one-step method).
    """

    def __init__(self, *, data: TaskData, model: DownstreamModel, method: str, loss_fit, units: list[Unit],
                 draws: Mapping[str, np.ndarray], diagnostics: list[Diagnostics], config, seed: int,
                 target_accept: list[float] | None = None, refits: list[tuple] | None = None):
        self.data, self.model, self.method, self.loss_fit = data, model, method, loss_fit
        self.units, self.diagnostics, self.config, self.seed = units, diagnostics, config, seed
        #: Each unit's final ``target_accept`` and the fits it gave up after divergences (``refit_divergent``).
        self.target_accept = list(target_accept or [float(config.target_accept)] * len(units))
        self.refits = list(refits or [() for _ in units])
        self._draws = {k: np.asarray(v) for k, v in draws.items()}  # (unit, chain, draw)

    # ------------------------------------------------------------------ posterior
    @property
    def converged(self) -> bool:
        """True when every unit's sampler passed its checks (no divergences, R-hat, bulk ESS)."""
        return all(d.converged for d in self.diagnostics)

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(u.task for u in self.units))

    def unit_index(self, task: str, group: str | None = None) -> int:
        """Index of the unit fitted for ``task`` (and ``group`` when links are per group)."""
        matches = [i for i, u in enumerate(self.units) if u.task == task]
        if not matches:
            raise ConfigError(f"no task {task!r} in this fit; its tasks are {list(self.tasks)}")
        if len(matches) == 1 and self.units[matches[0]].group in (None, group):
            return matches[0]
        for i in matches:
            if self.units[i].group == group:
                return i
        groups = [self.units[i].group for i in matches]
        raise ConfigError(f"task {task!r} has one link per group ({groups}); pass group= one of them, got {group!r}")

    def link_draws(self, task: str, group: str | None = None) -> dict[str, np.ndarray]:
        """Flattened draws ``(chains * draws,)`` of the link's parameters, derived quantities and ``tau``."""
        i = self.unit_index(task, group)
        return {k: v[i].reshape(-1) for k, v in self._draws.items()}

    def summary(self, prob: float = 0.9):
        """One row per unit: its parameters' posterior medians and central intervals, and sampler health."""
        import pandas as pd

        prob = check_prob(prob)
        rows = []
        for i, u in enumerate(self.units):
            row = {"task": u.task, "group": u.group, "n_runs": u.rows.size, "chance": u.chance, "at_chance": u.at_chance}
            for k, v in self._draws.items():
                m, lo, hi = _interval(v[i].reshape(-1), prob)
                row.update({f"{k}_median": float(m), f"{k}_lower": float(lo), f"{k}_upper": float(hi)})
            d = self.diagnostics[i]
            row.update(divergences=d.n_divergent, max_rhat=max(d.rhat.values()), min_ess=min(d.ess_bulk.values()),
                       target_accept=self.target_accept[i], converged=d.converged)
            rows.append(row)
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ forecasts
    def loss_source(self, unit: Unit, group: str | None = None) -> tuple[ScalingFit, str | None]:
        """The loss fit a unit's forecasts go through, and the group to ask it for (the unit's, else ``group``)."""
        fit, group = self.loss_fit, unit.group if unit.group is not None else group
        if isinstance(fit, Mapping):
            if unit.task not in fit and group not in fit:
                raise ConfigError(f"no loss fit for task {unit.task!r} or group {group!r}; loss_fit has {sorted(fit)}: "
                                  "pass group=")
            fit = fit[unit.task] if unit.task in fit else fit[group]
        return fit, (group if fit.group_labels is not None else None)

    def loss_draws(self, unit: Unit, cov: Mapping[str, np.ndarray], seed: int, group: str | None = None) -> np.ndarray:
        """Draws ``(S_L, m)`` of the link's covariate at new runs: the loss (two-step) or ``-log10 C`` (one-step)."""
        if self.method == "one_step":
            return -np.log10(cov["C"])[None, :]
        if self.loss_fit is None:
            raise ConfigError("this fit has no loss_fit, so it forecasts at given losses only (fit.at_loss(task, "
                              "loss)); pass loss_fit= to bs.fit_downstream for forecasts at new (N, D)")
        fit, group = self.loss_source(unit, group)
        return fit.predict_draws(cov["N"], cov["D"], seed=seed, group=group)["pred"]

    def accuracy_draws(self, unit_i: int, L: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        """Expected accuracy (``acc``) and predicted score (``pred``) draws ``(S, m)`` at covariate draws ``L`` ``(S_L, m)``, each
        paired with a link draw (``S = max(S_L, link draws)``)."""
        unit = self.units[unit_i]
        draws = {k: v[unit_i].reshape(-1) for k, v in self._draws.items()}
        n_link = draws[TAU].shape[0]
        S = max(L.shape[0], n_link)
        rng = np.random.default_rng([seed, unit_i])
        pick = np.resize(rng.permutation(n_link), S)
        L = L[np.arange(S) % L.shape[0]]
        acc = self.model.expected({k: v[pick] for k, v in draws.items()}, L, unit.ref)
        outside = (acc < 0.0) | (acc > 1.0)
        if outside.any():
            warnings.warn(f"the {self.model.link.name} link leaves [0, 1] in {outside.mean():.1%} of the draws of "
                          f"{unit.label}'s forecast (it has no ceiling); those draws are clipped to [0, 1]",
                          ExtrapolationWarning, stacklevel=3)
            acc = np.clip(acc, 0.0, 1.0)
        pred = sample_correct(rng, acc, draws[TAU][pick][:, None], unit.n_items) / unit.n_items
        return {"acc": acc, "pred": pred}

    def at_loss(self, task: str, loss, *, group: str | None = None, seed: int = 0) -> dict[str, np.ndarray]:
        """Expected accuracy (``acc``) and predicted score (``pred``) draws ``(S, m)`` of ``task`` at given losses (the link alone;
        for the one-step method, ``loss`` is ``-log10 C``)."""
        L = as_float_column("loss", np.atleast_1d(np.asarray(loss, dtype=object)).ravel())
        return self.accuracy_draws(self.unit_index(task, group), L[None, :], seed)

    def predict_draws(self, N=None, D=None, *, C=None, task: str, group: str | None = None,
                      seed: int = 0) -> dict[str, np.ndarray]:
        """Expected accuracy (``acc``) and predicted score (``pred``) draws ``(S, m)`` of ``task`` at new runs (two of N, D, C)."""
        i = self.unit_index(task, group)
        cov = covariates(N, D, C)
        return self.accuracy_draws(i, self.loss_draws(self.units[i], cov, seed, group), seed)

    def _units_for(self, tasks, group) -> list[int]:
        tasks = self.tasks if tasks is None else ((tasks,) if isinstance(tasks, str) else tuple(tasks))
        return [self.unit_index(t, group) for t in tasks]

    def predict(self, N=None, D=None, *, C=None, tasks=None, group: str | None = None, prob: float = 0.9,
                seed: int = 0):
        """Forecast accuracy at new runs: one row per (task, run), medians and central intervals.

        Give two of ``N``, ``D``, ``C``. ``acc_*``: the expected accuracy of such a run (loss and link
        uncertainty); ``pred_*``: its score on the benchmark (adding the items' beta-binomial noise).
        ``loss_median`` is the run's forecast loss (two-step), ``at_chance`` flags tasks whose training runs
        never left chance (their forecast follows the priors). Links fitted per group take ``group=``.
        :func:`bayescale.fit_downstream`'s example calls it.
        """
        import pandas as pd

        prob = check_prob(prob)
        cov = covariates(N, D, C)
        frames = []
        for i in self._units_for(tasks, group):
            u = self.units[i]
            L = self.loss_draws(u, cov, seed, group)
            draws = self.accuracy_draws(i, L, seed)
            cols = {"task": u.task, "group": u.group if u.group is not None else group, **cov}
            if self.method == "two_step":
                cols["loss_median"] = np.median(L, axis=0)
            for name, d in draws.items():
                m, lo, hi = _interval(d, prob)
                cols.update({f"{name}_median": m, f"{name}_lower": lo, f"{name}_upper": hi})
            frames.append(pd.DataFrame({**cols, "at_chance": u.at_chance}))
        return pd.concat(frames, ignore_index=True)

    def mean_draws(self, N=None, D=None, *, C=None, tasks=None, group: str | None = None,
                   seed: int = 0) -> dict[str, np.ndarray]:
        """Draws ``(S, m)`` of the mean over ``tasks`` (default all) of expected accuracy (``acc``) and of the
        predicted scores (``pred``), e.g. Gadre et al.'s 17-task average (1 minus it is the average top-1 error)."""
        cov = covariates(N, D, C)
        acc, pred = [], []
        for i in self._units_for(tasks, group):
            d = self.accuracy_draws(i, self.loss_draws(self.units[i], cov, seed, group), seed)
            acc.append(d["acc"])
            pred.append(d["pred"])
        S = min(a.shape[0] for a in acc)
        return {"acc": np.mean([a[:S] for a in acc], axis=0), "pred": np.mean([p[:S] for p in pred], axis=0)}

    def frontier(self, C, *, tasks=None, group: str | None = None, prob: float = 0.9, seed: int = 0):
        """Accuracy forecasts along the compute-optimal frontier of the loss fit, at budgets ``C``.

        Each budget's run is the posterior-median compute-optimal allocation of the loss fit (``N`` =
        median ``N_opt``, ``D = C / 6N``; near the optimum the loss is flat in ``N``, so the allocation's own
        uncertainty adds little), then :meth:`predict`. The one-step method depends on ``C`` only.
        """
        Cc = as_float_column("C", np.atleast_1d(np.asarray(C, dtype=object)).ravel())
        check_finite_positive("C", Cc)
        if self.method == "one_step":
            N = np.sqrt(Cc / (FLOPS_PER_PARAM_TOKEN * 20.0))  # any split: the one-step link reads C alone
            return self.predict(N=N, C=Cc, tasks=tasks, group=group, prob=prob, seed=seed).assign(N=np.nan, D=np.nan)
        frames = []
        for i in self._units_for(tasks, group):
            u = self.units[i]
            fit, g = self.loss_source(u, group)
            N = np.median(fit.frontier_draws(Cc, group=g)["N_opt"], axis=0)
            frames.append(self.predict(N=N, C=Cc, tasks=u.task, group=u.group if u.group is not None else group,
                                       prob=prob, seed=seed))
        import pandas as pd

        return pd.concat(frames, ignore_index=True)

    def __repr__(self) -> str:
        bad = sum(not d.converged for d in self.diagnostics)
        chance = sum(u.at_chance for u in self.units)
        return (f"DownstreamFit({self.model.link.formula}; {self.method}; {len(self.units)} links over "
                f"{len(self.tasks)} tasks; {self.config.num_chains} chains x {self.config.num_samples} draws; "
                f"{'converged' if not bad else f'{bad} not converged'}; {chance} at chance)")
