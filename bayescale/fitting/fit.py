"""``bayescale.fit``: the one entry point from data to posterior."""

from __future__ import annotations

import dataclasses
import json
from typing import Mapping, NamedTuple

import jax
import numpy as np

from bayescale.checks import check_seed
from bayescale.data import ScalingData
from bayescale.fitting.restart import describe_restarts, is_restart, restart_if_stuck, restart_key, worse_than
from bayescale.fitting.settings import (
    REFIT_DIVERGENT, check_refit_divergent, check_until_converged, resolve, shared,
)
from bayescale.inference import progress
from bayescale.inference.config import SamplerConfig
from bayescale.inference.nuts import get_extender, get_runner
from bayescale.inference.pointwise import pointwise
from bayescale.model.law import Law
from bayescale.model.likelihoods import Likelihood, predictive_draws
from bayescale.model.priors import Prior
from bayescale.model.program import OBS
from bayescale.model.spec import ScalingModel
from bayescale.posterior import idata as _idata
from bayescale.posterior.diagnostics import Diagnostics
from bayescale.posterior.io import diagnostics_of
from bayescale.posterior.result import ScalingFit, metadata

__all__ = ["fit", "default_priors", "check_seed", "sampler_config", "extend_until_converged", "refit_divergent_fit",
           "nuts_if_unconverged", "worse_than",
           "REFIT_DIVERGENT", "check_until_converged", "check_refit_divergent", "fit_one"]


def default_priors(law: str | Law = "chinchilla", likelihood: str | Likelihood = "student_t") -> dict[str, Prior]:
    """The default priors of a law, plus the likelihood's: the noise scale ``sigma`` (and ``df`` when learned).

    Examples
    --------
    >>> import bayescale as bs
    >>> bs.default_priors("chinchilla")["alpha"]
    Prior('LogNormal', loc=-1.2, scale=0.75)
    >>> bs.default_priors("chinchilla", bs.Likelihood("student_t", df="learn"))["df"]
    Prior('Gamma', concentration=2, rate=0.1)
    """
    return dict(ScalingModel(law, likelihood).priors)


def sampler_config(model: ScalingModel, **settings) -> SamplerConfig:
    """The NUTS settings of a fit of ``model``: the user's, plus what the model's pooling needs."""
    return SamplerConfig(**settings, whiten=model.whiten)


def fit(
    data: ScalingData,
    law: str | Law | None = None,
    *,
    model: ScalingModel | None = None,
    likelihood: str | Likelihood | None = None,
    priors: Mapping[str, Prior] | None = None,
    pooling: str | None = None,
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
) -> ScalingFit:
    """Fit a scaling law with NUTS and return its posterior.

    Parameters
    ----------
    data : ScalingData
        The training runs (see :class:`~bayescale.ScalingData`).
    law : str or Law
        ``"chinchilla"`` (default): ``L = E + A/N**alpha + B/D**beta``; any name in
        :data:`bayescale.LAWS` (``"power_law"``, ``"kaplan"``, ``"data_constrained"``,
        ``"broken_power_law"``, ...), or a law built with :func:`bayescale.custom_law`.
    model : ScalingModel, optional
        The whole model in one object (law, likelihood, pooling, priors); instead of
        the four shortcuts ``law``, ``likelihood``, ``priors``, ``pooling``.
    likelihood : str or Likelihood
        Noise model on log loss: ``"student_t"`` (robust, default; ``bs.Likelihood("student_t",
        df="learn")`` learns its degrees of freedom), ``"normal"``, or ``"huber"`` (Epoch AI's
        normalised Huber density, delta = 1e-3). See :class:`~bayescale.Likelihood`.
    priors : mapping, optional
        Per-parameter overrides of :func:`default_priors`, e.g.
        ``{"alpha": bs.Prior("LogNormal", loc=-1.0, scale=0.3)}``.
    pooling : {"complete", "partial", "none"} or Pooling
        How a ``group`` column is used: ``"complete"`` (default) ignores groups;
        ``"partial"`` fits a hierarchical model with a population distribution for every
        parameter; ``bs.PartialPooling(shared=("E",), independent=(...))`` chooses per parameter
        (pooled, shared by every group, or independent); ``"none"`` gives each group its own
        parameters. See :mod:`bayescale.model.pooling`.
    error_model : str or ErrorModel
        Errors runs share beyond the noise: ``"extrapolation"`` (default: none inside the data's
        compute range, a discrepancy growing with the distance beyond it, measured on real
        backtests), ``"independent"``, ``"offsets"`` (per compute budget and model size),
        ``"random_walk"``, or e.g. ``bs.Offsets(by="C")``; see :mod:`bayescale.model.error_models`.
    seed : int
        Same seed, same data, same machine: identical draws.
    num_chains, num_warmup, num_samples, target_accept, max_tree_depth, dense_mass, chain_method, progress_bar
        NUTS settings (:class:`~bayescale.SamplerConfig`); ``chain_method="vectorized"`` runs the chains
        side by side as on a GPU, ``"mapped"`` one after another on each CPU core (default ``"auto"``:
        vectorized on an accelerator, mapped on CPU). Every entry point that fits takes these and the
        model keywords with the same names and defaults (:mod:`bayescale.fitting.settings`).
    until_converged : int
        When the draws fail only the R-hat or bulk-ESS check (no divergences), continue every
        chain from where it stopped by another ``num_samples`` draws, with the step size and
        metric adapted in warmup, up to this many times or until the checks pass; ``0`` never
        extends. ``fit.extra_draws_per_chain`` says how many draws were added. Divergences are
        never extended away: they call for a higher ``target_accept`` (``refit_divergent``). The
        extension is one compiled program, reused for every round and refit. Nor is a chain whose
        step size collapsed in warmup (below 1/100 of the chains' median): a fit failing its checks
        with one is first run again from the start with fresh chains (the same programs, a random
        stream of its own; the better of the two kept, the other listed in ``fit.refits``; see
        :mod:`bayescale.fitting.restart`).
    refit_divergent : sequence of float
        When the draws have divergences, refit from the start with each of these ``target_accept``
        values in turn (smaller steps), until a fit has none; values not above ``target_accept``
        are skipped, ``()`` never refits. Default (0.95, 0.99). Each is a full fit (its own
        warmup, then ``until_converged``) with the programs already compiled for this data shape
        (``target_accept`` is an argument of them, not a constant).
        ``fit.refits`` lists the fits given up (their ``target_accept`` and divergences) and
        ``fit.config.target_accept`` is the one kept. A fit still divergent at the last value is
        returned flagged (``fit.converged`` False), never hidden.
    warn : bool
        Emit a :class:`~bayescale.errors.ConvergenceWarning` when a check fails
        (the diagnostics are on the result either way).

    Returns
    -------
    ScalingFit

    Examples
    --------
    >>> import bayescale as bs
    >>> fit = bs.fit(bs.datasets.example(), seed=0, num_warmup=500, num_samples=500)
    >>> sorted(fit.idata.groups())[:3]
    ['constant_data', 'log_likelihood', 'observed_data']
    >>> 0.3 < float(fit.idata.posterior["alpha"].median()) < 0.4
    True
    """
    settings = resolve(**shared(locals()))  # the one argument surface: bayescale.fitting.settings
    result = fit_one(data, settings, check_seed(seed))
    if warn:
        result.diagnostics.warn(stacklevel=2, note=refit_note(result))
    return result


def fit_one(data: ScalingData, settings, seed: int, pointwise: bool = True) -> ScalingFit:
    """:func:`fit` of resolved :class:`~bayescale.fitting.settings.Settings`, without the warning: sample,
    extend while only R-hat or ESS fail, refit while divergent."""
    model = settings.model
    model.check_data(data)
    _idata.preload_arviz()  # the result's checks need ArviZ (1.6 s to import on 2 cores): start now, in a thread
    result = sample(data, model, settings.config, model.reference(data), seed, settings.until_converged,
                    pointwise=pointwise)
    return refit_divergent_fit(result, settings.refit_divergent, settings.until_converged, pointwise)


def sample(data: ScalingData, model: ScalingModel, config: SamplerConfig, ref, seed: int, until_converged: int,
           refits: tuple = (), pointwise: bool = True) -> ScalingFit:
    """One NUTS fit of ``data`` (compiled on first use of its shape and settings), run once more when a chain's
    step size collapsed (:mod:`bayescale.fitting.restart`), continued ``until_converged`` times while it fails
    only R-hat or ESS; ``refits``: the attempts before it; ``pointwise``: keep the pointwise log-likelihood and
    posterior predictive."""
    run = lambda rng_key: run_sampler(data, model, config, ref, seed, rng_key, refits, pointwise)  # noqa: E731
    result, draws, carry, args, key = run(jax.random.PRNGKey(seed))
    result, draws, carry = restart_if_stuck(result, draws, carry, lambda: run(restart_key(seed))[:3])
    return extend_until_converged(result, draws, carry, get_extender(key, config.target_accept), args, until_converged)


def run_sampler(data: ScalingData, model: ScalingModel, config: SamplerConfig, ref, seed: int, rng_key,
                refits: tuple = (), pointwise: bool = True):
    """``(fit, draws, carry, args, key)``: one run of the compiled sampler of ``data`` from ``rng_key`` (the fit
    records ``seed``), the chains' final states (``carry``), the program's arguments and its cache key."""
    args, group_labels = model.args(data, ref)
    runner, key = compiled_runner(model, config, args, group_labels, pointwise=pointwise)
    # ArviZ (for the convergence checks and the result) is imported in a background thread while XLA compiles
    # the sampler, or, when the compiled sampler is read from disk, while it is read and runs.
    runner.compile(rng_key, args, meanwhile=_idata.preload_arviz, before_load=_idata.preload_arviz)
    total = config.num_chains * (config.num_warmup + config.num_samples)  # iterations of all chains
    with progress.progress_bar(total, bool(config.progress_bar), desc=f"sampling {config.num_chains} chains"):
        *out, carry = jax.device_get(runner(rng_key, args))
    draws = Draws(*out)
    result = make_fit(data, model, config, ref, seed, draws, group_labels=group_labels, refits=refits)
    return result, draws, carry, args, key


def refit_divergent_fit(result: ScalingFit, ladder: tuple[float, ...], until_converged: int,
                        pointwise: bool = True) -> ScalingFit:
    """``result``, or while the fit kept has divergences a refit at each ``target_accept`` of ``ladder`` above
    the last one tried (NUTS, as :func:`fit`). A refit replaces the fit kept unless it is worse
    (:func:`worse_than`): a higher target can collapse a chain's step size in warmup (measured: a 3-recipe
    partial-pooling fit with 1 divergence at 0.9 had a chain stuck at 0.99, every draw divergent). The fits given
    up, in the order tried, are the result's ``refits``."""
    kept, last, given_up = result, float(result.config.target_accept), []
    for target in ladder:
        if kept.diagnostics.n_divergent == 0:
            break
        if target <= last:
            continue
        config = dataclasses.replace(kept.config, target_accept=target)
        refit = sample(kept.data, kept.model, config, kept.ref, kept.seed, until_converged, pointwise=pointwise)
        last = target
        worse = worse_than(refit.diagnostics, kept.diagnostics)
        given_up.append(refit if worse else kept)
        kept = kept if worse else refit
    given_up.sort(key=lambda f: f.config.target_accept)  # the ladder rises: this is the order tried
    own = () if kept is result else kept.refits  # a refit kept keeps the record of its own restart, if any
    kept.refits = (*result.refits, *({"sampler": f.sampler, "target_accept": float(f.config.target_accept),
                                      "divergences": int(f.diagnostics.n_divergent)} for f in given_up), *own)
    return kept


def nuts_if_unconverged(result: ScalingFit, settings, pointwise: bool = True) -> ScalingFit:
    """``result``, or when ChEES failed its R-hat or bulk-ESS check even after its extensions, the dataset
    refitted alone as :func:`bayescale.fit` fits it (NUTS, same seed; the ChEES fit listed in ``refits``).

    ``method="auto"`` promises the fastest *correct* sampler: ChEES's one trajectory length per pool can mix
    slowly along a posterior's curved ridge (measured: Gadre et al.'s RedPajama runs below 1e9 parameters,
    bulk ESS of E 21 and R-hat 1.13 after 3 extensions, where NUTS gives 966 and 1.007).
    """
    if result.sampler != "chees" or result.diagnostics.converged:
        return result
    given_up = {"sampler": "chees", "target_accept": float(result.config.target_accept),
                "divergences": int(result.diagnostics.n_divergent), "problems": list(result.diagnostics.problems)}
    refit = sample(result.data, result.model, settings.config, result.ref, result.seed, settings.until_converged,
                   refits=(*result.refits, given_up), pointwise=pointwise)
    return refit_divergent_fit(refit, settings.refit_divergent, settings.until_converged, pointwise)


def attempts(refits) -> str:
    """The fits given up after divergences, as a warning names them: ``"0.9 (3 divergent), 0.95 (1 divergent)"``."""
    return ", ".join(f"{r['target_accept']:g} ({r['divergences']} divergent)" for r in refits)


def refit_note(result: ScalingFit) -> str:
    """What a convergence warning adds about the refits behind ``result`` (empty when none)."""
    if not result.refits:
        return ""
    notes = []
    chees = [r for r in result.refits if r.get("sampler") == "chees" and not r["divergences"]]
    if chees:
        notes.append(f"ChEES did not converge ({'; '.join(chees[0].get('problems', []))[:200]}); refitted with NUTS")
    tried = attempts([r for r in result.refits if r not in chees and not is_restart(r)])
    if tried:
        notes.append(f"refits after divergences gave up target_accept {tried}; kept target_accept "
                     f"{result.config.target_accept:g} (the best fit tried)")
    restarts = describe_restarts(result.refits)
    return "; ".join(notes + ([restarts] if restarts else []))


def extend_until_converged(result: ScalingFit, draws: "Draws", carry, extender, args: tuple,
                           rounds: int) -> ScalingFit:
    """``result`` with its chains continued from ``carry`` by ``num_samples`` draws at a time, up to
    ``rounds`` times, while it fails only the R-hat or bulk-ESS check (divergences are never extended away)."""
    config, extensions = result.config, 0
    while extensions < rounds and result.diagnostics.n_divergent == 0 and not result.diagnostics.converged:
        with progress.progress_bar(config.num_chains * config.num_samples, bool(config.progress_bar),
                                   desc=f"extending {config.num_chains} chains"):
            *more, carry = jax.device_get(extender(carry, args))
        draws = _concat_draws(draws, Draws(*more))
        extensions += 1
        result = make_fit(result.data, result.model, config, result.ref, result.seed, draws,
                          group_labels=result.group_labels, extra_draws_per_chain=extensions * config.num_samples,
                          refits=result.refits)
    return result


def _concat_draws(a: "Draws", b: "Draws") -> "Draws":
    """``b``'s draws appended to ``a``'s along the draw axis (axis 1); the warmup totals stay ``a``'s."""
    cat = lambda x, y: np.concatenate([x, y], axis=1)  # noqa: E731
    join = lambda x, y: None if x is None else {k: cat(x[k], y[k]) for k in x}  # noqa: E731
    loglik = None if a.loglik is None else cat(a.loglik, b.loglik)
    return Draws(samples=join(a.samples, b.samples), stats=join(a.stats, b.stats), warm=a.warm, loglik=loglik,
                 pp=join(a.pp, b.pp))


def compiled_runner(model: ScalingModel, config: SamplerConfig, args: tuple, group_labels=None, *,
                    batched: bool = False, pointwise: bool = True):
    """The compiled sampler of ``model`` for arguments shaped like ``args`` (built on first use) and
    its cache key (for :func:`~bayescale.inference.nuts.get_extender`)."""
    n_groups = None if group_labels is None else len(group_labels)
    disk_key = None if model.program_key is None else (model.program_key, n_groups)
    return get_runner(model.program(n_groups), config, args, (model.cache_key, n_groups), batched=batched,
                      obs_site=OBS if pointwise else None, coords=model.sampler_coords, disk_key=disk_key)


class Draws(NamedTuple):
    """What the compiled runner returns for one dataset (numpy arrays, ``(chain, draw, ...)``)."""

    samples: dict
    stats: dict
    warm: dict
    loglik: np.ndarray | None
    pp: dict | None  # loc and scale of the observation distribution: see likelihoods.predictive_draws


def _runs_only(loglik, pp: dict | None, n: int):
    """The pointwise values of the data's ``n`` runs (last axis), without the padding runs."""
    loglik = np.asarray(loglik)[..., :n]
    if pp is not None:
        pp = {k: (np.asarray(v)[..., :n] if np.ndim(v) == loglik.ndim else v) for k, v in pp.items()}
    return loglik, pp


def make_fit(data, model: ScalingModel, config, ref, seed, draws: Draws, ess: dict | None = None,
             rhat: dict | None = None, group_labels=None, extra_draws_per_chain: int = 0,
             sampler: str | None = None, refits: tuple = (), pointwise_site: str | None = None) -> ScalingFit:
    """A :class:`ScalingFit` from the runner's output for one dataset.

    ``ess`` and ``rhat`` per law parameter, when already computed (batched fits compute them for
    all datasets in one call); otherwise from the posterior arrays, for the variables the pooling
    names. The InferenceData (and the posterior predictive draws in it) is built on first read of
    ``fit.idata``, from these same arrays and ``seed``: the same result whenever it is read.
    ``sampler``: recorded in ``sample_stats.attrs["sampler"]`` when given (default NUTS). ``refits``: the
    fits given up before this one (:func:`refit_divergent_fit`). ``pointwise_site``: when ``draws`` holds no
    pointwise values (ChEES), the observed site whose log-likelihood and predictive location are computed
    from the posterior draws on first read (:func:`bayescale.inference.pointwise.pointwise`).
    """
    posterior = {k: np.asarray(v) for k, v in draws.samples.items()}
    sample_stats = {k: np.asarray(v) for k, v in draws.stats.items()}
    if ess is None and not model.pooling.grouped:
        ess, rhat = _idata.ess_rhat_arrays({k: posterior[k] for k in model.diagnostic_names})
    attrs = {"warmup_divergences": int(np.sum(draws.warm["diverging"])),
             "warmup_leapfrog_steps": int(np.sum(draws.warm["n_steps"])),
             "extra_draws_per_chain": int(extra_draws_per_chain)}
    if sampler is not None:
        attrs["sampler"] = sampler

    def build():
        constant = {"N": data.N, "D": data.D, "loss": data.loss}
        if data.group is not None:
            constant["group"] = data.group
        if data.U is not None:
            constant["U"] = data.U
        loglik, pp = draws.loglik, draws.pp
        if loglik is None and pointwise_site is not None:
            args, labels = model.args(data, ref)
            n_groups = None if labels is None else len(labels)
            loglik, pp = pointwise(model.program(n_groups), pointwise_site, (model.cache_key, n_groups), args,
                                   posterior)
        if loglik is not None:  # the sampler's arrays are padded to a shared size (ScalingModel.args)
            loglik, pp = _runs_only(loglik, pp, data.n)
        predictive = {}
        if pp is not None:
            params = {**pp, **{k: posterior[k] for k in model.likelihood.extra_sites}}
            predictive = {OBS: predictive_draws(model.likelihood, params, seed)}
        idata = _idata.build_idata(
            posterior=posterior,
            sample_stats=sample_stats,
            log_likelihood={} if loglik is None else {OBS: np.asarray(loglik)},
            posterior_predictive=predictive,
            observed_data={OBS: np.log(data.loss)},
            constant_data=constant,
            meta={},
            posterior_dims=model.posterior_dims,
            coords=None if group_labels is None else {"group": list(group_labels)},
        )
        idata.sample_stats.attrs.update(attrs)
        idata.posterior.attrs[_idata.META_KEY] = json.dumps(metadata(result))
        return idata

    if ess is None:  # pooled fits: ArviZ's diagnostics of the per-group variables need the InferenceData
        diagnostics = None
    else:
        diverging = sample_stats["diverging"]
        diagnostics = Diagnostics.from_numbers(
            n_divergent=int(diverging.sum()),
            n_draws=int(diverging.size),
            rhat=rhat,
            ess_bulk=ess,
            mean_steps=float(sample_stats["n_steps"].mean()),
        )
    result = ScalingFit(idata=build, model=model, config=config, ref=ref, seed=seed, data=data,
                        diagnostics=diagnostics, group_labels=group_labels, posterior=posterior,
                        extra_draws_per_chain=extra_draws_per_chain, sampler=sampler or "nuts", refits=refits)
    if diagnostics is None:
        result.diagnostics = diagnostics_of(result.idata, model)
    return result
