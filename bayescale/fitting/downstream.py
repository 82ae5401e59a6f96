"""``bayescale.fit_downstream``: from benchmark scores to links from loss to accuracy, every task in one call.

Each unit (a task, or a (task, group) pair when the data have groups) gets its own link posterior, sampled by
bayescale's compiled NUTS driver (:mod:`bayescale.inference.nuts`, L-BFGS starts and Laplace whitening
included) with the units stacked on a leading axis: one compiled program for chunks of up to :data:`CHUNK`
units (fewer units: the next power of two), run in turn for any number of units, so 3 tasks and 138
(task, training set) pairs share one compile per padded length (:func:`~bayescale.model.spec.padded_runs`).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Mapping

import jax
import numpy as np

from bayescale.errors import AtChanceWarning, ConfigError, ConvergenceWarning, MissingColumnError, TooFewPointsError
from bayescale.fitting.fit import attempts, check_seed, worse_than
from bayescale.fitting.settings import REFIT_DIVERGENT, check_refit_divergent
from bayescale.inference.config import SamplerConfig
from bayescale.inference.nuts import get_runner
from bayescale.model.downstream import DownstreamModel, downstream_args, unit_reference
from bayescale.model.links import Link
from bayescale.model.priors import Prior
from bayescale.model.spec import padded_runs
from bayescale.posterior import idata as _idata
from bayescale.posterior.diagnostics import Diagnostics
from bayescale.posterior.downstream import METHODS, DownstreamFit, Unit
from bayescale.posterior.result import ScalingFit
from bayescale.task_data import TaskData

__all__ = ["fit_downstream", "downstream_prior_predictive", "CHUNK", "MIN_RUNS", "TARGET_ACCEPT"]

#: Units sampled by one compiled call (more are run in chunks of this size).
CHUNK = 32
#: Default NUTS target acceptance of the links: bs.fit's, with its refit ladder (``refit_divergent``) for units
#: that diverge. The sigmoid's ceiling meets the data at a steep wall (a ceiling below an observed accuracy): at
#: 0.9, 4 x (1000 + 1000) draws left 4-38 divergent draws of 4,000 on Gadre et al.'s hardest links (hellaswag on
#: RedPajama, piqa on C4, BIG-bench operators on C4), refitted at 0.95 or 0.99. Every unit at 0.99 was tried as
#: the default and dropped: on BIG-bench QA-Wikidata's links (seeds 15-17) the step size collapsed in warmup,
#: every draw took 1,023 leapfrog steps and the chains did not move (R-hat 2.3-3.6); at 0.9 they converge.
TARGET_ACCEPT = 0.9
#: Fewest runs a unit (task, or task and group) needs.
MIN_RUNS = 4


def fit_downstream(
    task_data: TaskData,
    loss_fit: ScalingFit | Mapping[str, ScalingFit] | None = None,
    *,
    link: str | Link = "sigmoid",
    priors: Mapping[str, Prior] | None = None,
    method: str = "two_step",
    per_group: bool = True,
    seed: int = 0,
    num_chains: int = 4,
    num_warmup: int = 1000,
    num_samples: int = 1000,
    target_accept: float = TARGET_ACCEPT,
    max_tree_depth: int = 10,
    dense_mass: bool = True,
    progress_bar: bool | None = None,
    chain_method: str = "auto",
    refit_divergent=REFIT_DIVERGENT,
    warn: bool = True,
) -> DownstreamFit:
    """Fit links from loss to benchmark accuracy, one per task (and group), and chain them to a loss fit.

    Parameters
    ----------
    task_data : TaskData
        Scores of the training runs (:class:`~bayescale.TaskData`); the two-step method needs its ``loss``.
    loss_fit : ScalingFit or mapping of ScalingFit
        What forecasts at new ``(N, D)`` go through (``method="two_step"``): one fit of the loss the
        links read (e.g. C4 validation loss, as Gadre et al. 2024; a pooled fit is asked for each unit's
        group), or a mapping from task name to that task's own loss fit (task loss, as the OLMo ladder), or
        from group label to the group's fit. Without one the links are fitted all the same and answer at
        given losses (:meth:`~bayescale.DownstreamFit.at_loss`), not at new ``(N, D)``.
    link : str or Link
        ``"sigmoid"`` (default), ``"exponential"`` (Gadre et al.'s), or :func:`bayescale.custom_link`.
    priors : mapping, optional
        Overrides of the link's default priors and of the over-dispersion ``tau``'s
        (:mod:`bayescale.model.links`, :mod:`bayescale.model.downstream`).
    method : {"two_step", "one_step"}
        ``"two_step"`` (default): compute -> loss -> accuracy. ``"one_step"``: the link applied to
        ``-log10 C`` directly (compute -> accuracy, for comparison); needs no loss.
    per_group : bool
        With a ``group`` column, fit one link per (task, group) (default), or one per task over all groups.
    seed : int
        Unit ``i`` samples with seed ``seed + i``.
    num_chains, num_warmup, num_samples, max_tree_depth, dense_mass, progress_bar, chain_method
        NUTS settings, as :func:`bayescale.fit`.
    target_accept : float
        Default :data:`TARGET_ACCEPT` (0.9, as :func:`bayescale.fit`).
    refit_divergent : sequence of float
        As in :func:`bayescale.fit`: units with divergences are sampled again (same seeds, together) at each of
        these ``target_accept`` values in turn until they have none; ``fit.summary()`` shows each unit's
        ``target_accept`` and ``fit.refits[i]`` the attempts given up. ``()`` never refits.
    warn : bool
        Emit an :class:`~bayescale.errors.AtChanceWarning` for units that never leave chance and a
        :class:`~bayescale.errors.ConvergenceWarning` for units whose sampler failed a check.

    Returns
    -------
    DownstreamFit

    Examples
    --------
    >>> import bayescale as bs
    >>> runs = bs.datasets.downstream_example()
    >>> loss_fit = bs.fit(runs.loss_data(), seed=0)
    >>> ds = bs.fit_downstream(runs, loss_fit=loss_fit, seed=0, num_chains=4, num_warmup=300, num_samples=300,
    ...                        warn=False)  # a doctest's budget: use the defaults (4 x (1000 + 1000)) for real
    >>> ds.tasks
    ('arc', 'piqa', 'lambada')
    >>> table = ds.predict(N=2e9, D=4e10, prob=0.9)
    >>> bool((table.pred_lower <= table.acc_median).all() and (table.acc_median <= table.pred_upper).all())
    True
    """
    model = DownstreamModel.build(link, priors)
    units, covariate = _check(task_data, loss_fit, method, per_group)
    config = SamplerConfig(num_chains=num_chains, num_warmup=num_warmup, num_samples=num_samples,
                           target_accept=target_accept, max_tree_depth=max_tree_depth, dense_mass=dense_mass,
                           progress_bar=progress_bar, chain_method=chain_method)
    seed, ladder = check_seed(seed), check_refit_divergent(refit_divergent)
    built = [Unit(t, g, rows, task_data, unit_reference(covariate[rows], task_data.accuracy[rows], task_data.chance[rows[0]]),
                  task_data.at_chance(rows)) for t, g, rows in units]
    if warn:
        _warn_at_chance(built)
    size = padded_runs(max(rows.size for _, _, rows in units))
    args = [downstream_args(covariate[u.rows], task_data.n_items[u.rows], task_data.correct[u.rows], u.ref, size)
            for u in built]
    samples, diagnostics, targets, refits = _sample_refitting(model, config, args, [seed + i for i in range(len(args))],
                                                              ladder)
    result = DownstreamFit(data=task_data, model=model, method=method, loss_fit=loss_fit if method == "two_step" else None,
                           units=built, draws=samples, diagnostics=diagnostics, config=config, seed=seed,
                           target_accept=targets, refits=refits)
    if warn:
        _warn_unconverged(result)
    return result


def downstream_prior_predictive(task_data: TaskData, *, link: str | Link = "sigmoid",
                                priors: Mapping[str, Prior] | None = None, method: str = "two_step",
                                per_group: bool = True, num_samples: int = 500, seed: int = 0) -> dict:
    """Scores the priors predict at each unit's training runs, before seeing their accuracies.

    Returns ``{(task, group): accuracy draws (num_samples, runs)}``, the runs in the order of
    ``task_data.units(per_group)``: expected accuracy from a prior draw of the link, then a beta-binomial draw
    of correct answers over the task's items (NumPyro's ``Predictive`` on the program :func:`fit_downstream`
    samples). The midpoint's prior is centred as the fit centres it (``L_mid``, where the unit's observed
    accuracy changes most).

    Examples
    --------
    >>> import bayescale as bs
    >>> draws = bs.downstream_prior_predictive(bs.datasets.downstream_example(), num_samples=200)
    >>> sorted(draws)[0], draws[("arc", None)].shape
    (('arc', None), (200, 32))
    >>> bool(((draws[("arc", None)] >= 0) & (draws[("arc", None)] <= 1)).all())
    True
    """
    from numpyro.infer import Predictive

    from bayescale.model.downstream import OBS

    model = DownstreamModel.build(link, priors)
    units, covariate = _check(task_data, None, method, per_group)
    seed = check_seed(seed)
    out = {}
    for i, (task, group, rows) in enumerate(units):
        ref = unit_reference(covariate[rows], task_data.accuracy[rows], task_data.chance[rows[0]])
        X, r, _ = downstream_args(covariate[rows], task_data.n_items[rows], task_data.correct[rows], ref, rows.size)
        draws = Predictive(model.program, num_samples=int(num_samples))(jax.random.PRNGKey(seed + i), X, r)[OBS]
        out[(task, group)] = np.asarray(draws, dtype=np.float64) / task_data.n_items[rows]
    return out


def _check(task_data, loss_fit, method, per_group):
    """The units to fit and the covariate the links read, or a clear error (before compiling)."""
    if not isinstance(task_data, TaskData):
        raise ConfigError(f"task_data must be a bayescale.TaskData, got {type(task_data).__name__}; build one with "
                          "bs.TaskData.from_frame(df, N=..., D=..., loss=..., accuracy=..., task=..., n_items=..., chance=...)")
    if method not in METHODS:
        raise ConfigError(f"method must be one of {METHODS}, got {method!r}")
    if not isinstance(per_group, bool):
        raise ConfigError(f"per_group must be True or False, got {per_group!r}")
    units = task_data.units(per_group)
    small = [(t, g, rows.size) for t, g, rows in units if rows.size < MIN_RUNS]
    if small:
        t, g, n = small[0]
        raise TooFewPointsError(f"{len(small)} unit(s) have fewer than {MIN_RUNS} runs, e.g. task {t!r}"
                                + (f" in group {g!r}" if g is not None else "") + f" ({n}); a link needs at least "
                                f"{MIN_RUNS} scored runs: add runs" + (", or fit per_group=False" if g is not None else ""))
    if method == "one_step":
        return units, -np.log10(task_data.C)
    if task_data.loss is None:
        raise MissingColumnError("the two-step method maps each run's loss to accuracy, but the TaskData has no loss "
                                 "column: build it with loss='<column>', or fit method='one_step'")
    if loss_fit is not None:
        _check_loss_fit(loss_fit, task_data, units)
    return units, task_data.loss


def _check_loss_fit(loss_fit, task_data: TaskData, units) -> None:
    if isinstance(loss_fit, ScalingFit):
        fits = {None: loss_fit}
    elif isinstance(loss_fit, Mapping) and loss_fit and all(isinstance(f, ScalingFit) for f in loss_fit.values()):
        keys = set(loss_fit)
        need_tasks, need_groups = set(task_data.tasks), set(task_data.groups or ())
        if not (need_tasks <= keys or (need_groups and need_groups <= keys)):
            raise ConfigError(f"loss_fit's keys {sorted(keys)} must cover every task {sorted(need_tasks)} (a loss fit per "
                              f"task) or every group {sorted(need_groups)} (one per group)")
        fits = dict(loss_fit)
    else:
        raise ConfigError(f"loss_fit must be a bs.fit(...) result of the loss the links read, or a dict of them by task "
                          f"or by group; got {type(loss_fit).__name__}")
    for key, fit in fits.items():
        if not fit.law.has_frontier or set(fit.law.covariates) - {"N", "D"}:
            raise ConfigError(f"loss_fit{'' if key is None else f'[{key!r}]'} has law {fit.law.name!r}; forecasts at "
                              "new (N, D) need a law of N and D (e.g. 'chinchilla')")
        labels = fit.group_labels
        if labels is not None:
            missing = sorted({g for _, g, _ in units if g is not None} - set(labels)) if key is None else []
            if task_data.group is None or missing:
                raise ConfigError(f"loss_fit is pooled over groups {list(labels)}; the task data's groups must be among "
                                  f"them (missing: {missing or 'no group column'})")


def _chunks(n: int, at_least: int = 1) -> list[tuple[int, int, int]]:
    """``(start, stop, size)`` of each compiled call: chunks of :data:`CHUNK`, fewer units padded to a power of 2
    (and to ``at_least``, a size already compiled)."""
    size = min(CHUNK, max(at_least, 1 << max(0, math.ceil(math.log2(n)))))
    return [(s, min(s + size, n), size) for s in range(0, n, size)]


def _refit_size(first: int, n: int) -> int:
    """The chunk size of a refit of ``n`` units after a first pass in chunks of ``first``: that size again (its
    program is compiled; sampling the padding costs less than compiling another) unless it is over 4 times ``n``."""
    return first if first <= 4 * n else 1


def _sample(model: DownstreamModel, config: SamplerConfig, args: list[tuple], seeds: list[int], at_least: int = 1):
    """Every unit's draws and sampler statistics, ``(unit, chain, draw)``, one compiled call per chunk (of at
    least ``at_least`` units, padded)."""
    samples, stats = [], []
    for start, stop, size in _chunks(len(args), at_least):
        members = list(range(start, stop)) + [start] * (size - (stop - start))  # padding units repeat the first
        stacked = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *[args[i] for i in members])
        keys = np.stack([np.asarray(jax.random.PRNGKey(seeds[i])) for i in members])
        runner, _ = get_runner(model.program, config, stacked, model.cache_key, batched=True,
                               coords=model.link.sampler_coords, disk_key=model.program_key)
        runner.compile(keys, stacked, meanwhile=_idata.preload_arviz)
        out = jax.device_get(runner(keys, stacked)[:2])
        keep = stop - start
        samples.append({k: np.asarray(v[:keep]) for k, v in out[0].items()})
        stats.append({k: np.asarray(v[:keep]) for k, v in out[1].items()})
    join = lambda parts: {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}  # noqa: E731
    return join(samples), join(stats)


def _sample_refitting(model: DownstreamModel, config: SamplerConfig, args: list[tuple], seeds: list[int],
                      ladder: tuple[float, ...]):
    """Every unit's draws and diagnostics, units with divergences sampled again (same seeds, together) at each
    higher ``target_accept`` of ``ladder`` in turn, as :func:`bayescale.fit` refits (``target_accept`` is an
    argument of the compiled programs, and a refit reuses the first pass's chunk size: see :func:`_refit_size`); a
    refit worse than the draws kept (:func:`~bayescale.fitting.fit.worse_than`) is given up, as there. Also each
    unit's kept ``target_accept`` and the attempts it gave up."""
    samples, stats = _sample(model, config, args, seeds)
    diagnostics = _diagnose(samples, stats, model)
    targets, refits = [float(config.target_accept)] * len(args), [[] for _ in args]
    first_size = _chunks(len(args))[0][2]
    for target in ladder:
        redo = [i for i, d in enumerate(diagnostics) if d.n_divergent > 0 and target > config.target_accept]
        if not redo:
            continue
        again, again_stats = _sample(model, dataclasses.replace(config, target_accept=target), [args[i] for i in redo],
                                     [seeds[i] for i in redo], _refit_size(first_size, len(redo)))
        for j, (i, d) in enumerate(zip(redo, _diagnose(again, again_stats, model))):
            if worse_than(d, diagnostics[i]):
                refits[i].append({"target_accept": target, "divergences": d.n_divergent})
                continue
            refits[i].append({"target_accept": targets[i], "divergences": diagnostics[i].n_divergent})
            for k in samples:
                samples[k][i] = again[k][j]
            diagnostics[i], targets[i] = d, target
    return samples, diagnostics, targets, [tuple(sorted(r, key=lambda a: a["target_accept"])) for r in refits]


def _diagnose(samples: dict, stats: dict, model: DownstreamModel) -> list[Diagnostics]:
    ess, rhat = _idata.ess_rhat_arrays({k: samples[k] for k in model.sampled_names})
    out = []
    for i in range(stats["diverging"].shape[0]):
        out.append(Diagnostics.from_numbers(
            n_divergent=int(stats["diverging"][i].sum()), n_draws=int(stats["diverging"][i].size),
            rhat={k: float(v[i]) for k, v in rhat.items()}, ess_bulk={k: float(v[i]) for k, v in ess.items()},
            mean_steps=float(stats["n_steps"][i].mean())))
    return out


def _warn_at_chance(units: list[Unit]) -> None:
    flat = [u for u in units if u.at_chance]
    if flat:
        listed = "; ".join(f"{u.label}: {u.at_chance_reason}" for u in flat[:8]) + ("; ..." if len(flat) > 8 else "")
        warnings.warn(f"{len(flat)} of {len(units)} task(s) score at chance in every training run ({listed}): the data "
                      "say nothing about where they leave chance, so their links (midpoint, ceiling) stay as unknown as the "
                      "priors and their forecasts follow the priors, not a fitted curve; the predict() column at_chance "
                      "flags them", AtChanceWarning,
                      stacklevel=3)


def _warn_unconverged(result: DownstreamFit) -> None:
    bad = [i for i, d in enumerate(result.diagnostics) if not d.converged]
    if bad:
        first, tried = result.diagnostics[bad[0]], result.refits[bad[0]]
        refitted = f" (kept target_accept {result.target_accept[bad[0]]:g}; gave up {attempts(tried)})" if tried else ""
        warnings.warn(f"{len(bad)} of {len(result.units)} links did not converge ({', '.join(result.units[i].label for i in bad[:8])}"
                      f"{', ...' if len(bad) > 8 else ''}); {result.units[bad[0]].label}{refitted}: " + " | ".join(first.problems)
                      + "; see fit.diagnostics[i] and fit.summary()", ConvergenceWarning, stacklevel=3)
