"""``fit_many(..., method="nuts")``: many datasets of one compiled shape through NUTS in one compiled call.

The sampler of :func:`bayescale.fit` is one jitted function of the data, so many datasets of the same
padded length (:func:`~bayescale.model.spec.padded_runs`) are fitted by mapping it over a leading dataset
axis inside one compiled program (``lax.map``; reused for every later batch of the same shape), with
blocks of datasets in parallel across host devices (one per core on CPU: :mod:`bayescale.inference.devices`).
Datasets are mapped, not ``vmap``-ed: vmapped NUTS advances every chain in lockstep, so each step costs
the longest tree of any chain of any dataset (measured 10x slower than a loop at K=16 with the old
raw-scale metric, and still 1.3x slower with the whitened one). Each dataset keeps its own chains,
L-BFGS start, Laplace whitening and NumPyro warmup; the diagnostics (bulk ESS, R-hat) of all fits are
computed in one ArviZ call. A fit that failed with a stuck chain is run again alone
(:mod:`bayescale.fitting.restart`); one failing only R-hat or ESS is continued alone from where the batch left
its chains (the single-dataset extender); a divergent one is refitted alone (:func:`bayescale.fit`'s ladder).
"""

from __future__ import annotations

import jax
import numpy as np

from bayescale.fitting.fit import (
    Draws, compiled_runner, extend_until_converged, make_fit, refit_divergent_fit, run_sampler,
)
from bayescale.fitting.restart import restart_if_stuck, restart_key
from bayescale.inference.nuts import get_extender
from bayescale.posterior import idata as _idata

__all__ = ["fit_many_nuts"]


def fit_many_nuts(datasets: list, settings, seeds: list[int], refs: list, args, pointwise: bool) -> list:
    """The NUTS fits of ``datasets`` (arguments ``args`` stacked on a leading axis), as a loop of
    :func:`bayescale.fit` would give them."""
    model, config = settings.model, settings.config
    out, carry = _run(model, config, seeds, args, pointwise)
    samples = out[0]
    ess, rhat = _idata.ess_rhat_arrays({k: samples[k] for k in model.diagnostic_names})
    fits = []
    for i, data in enumerate(datasets):
        draws = _draws_of(out, i)
        one = make_fit(data, model, config, refs[i], seeds[i], draws,
                       {k: float(v[i]) for k, v in ess.items()}, {k: float(v[i]) for k, v in rhat.items()})
        one = _continue(one, draws, carry, i, settings, pointwise)
        fits.append(refit_divergent_fit(one, settings.refit_divergent, settings.until_converged, pointwise))
    return fits


def _run(model, config, seeds: list[int], args, pointwise: bool):
    """One call of the batched runner (compiled on first use): the draws on the host, the chains' final
    states (``carry``) left on the device."""
    runner, _ = compiled_runner(model, config, args, batched=True, pointwise=pointwise)
    keys = np.stack([np.asarray(jax.random.PRNGKey(s)) for s in seeds])
    runner.compile(keys, args, meanwhile=_idata.preload_arviz)  # ArviZ imports while XLA compiles
    *out, carry = runner(keys, args)
    return jax.device_get(tuple(out)), carry


def _draws_of(out, i: int) -> Draws:
    """Dataset ``i``'s draws of the batched runner's output ``(samples, stats, warm, loglik, pp)``."""
    samples, stats, warm, loglik, pp = out
    return Draws(
        samples={k: v[i] for k, v in samples.items()},
        stats={k: v[i] for k, v in stats.items()},
        warm={k: v[i] for k, v in warm.items()},
        loglik=None if loglik is None else loglik[i],
        pp=None if pp is None else {k: v[i] for k, v in pp.items()},
    )


def _continue(fit, draws: Draws, carry, i: int, settings, pointwise: bool):
    """``fit`` as :func:`bayescale.fit` goes on from its first run: run again alone from the restart's key when
    it failed with a stuck chain (:func:`~bayescale.fitting.restart.restart_if_stuck`, the single-dataset
    program), then continued with the single-dataset extender (compiled once, on first need) while it fails
    only R-hat or ESS, up to ``settings.until_converged`` times."""
    if fit.converged:
        return fit
    carry_i = jax.tree_util.tree_map(lambda a: a[i], carry)
    again = lambda: run_sampler(fit.data, fit.model, settings.config, fit.ref, fit.seed,  # noqa: E731
                                restart_key(fit.seed), (), pointwise)[:3]
    fit, draws, carry_i = restart_if_stuck(fit, draws, carry_i, again)
    if not settings.until_converged or fit.diagnostics.n_divergent > 0 or fit.converged:
        return fit
    args_i, _ = fit.model.args(fit.data, fit.ref)
    _, key = compiled_runner(fit.model, settings.config, args_i, pointwise=pointwise)
    return extend_until_converged(fit, draws, carry_i, get_extender(key, settings.config.target_accept), args_i,
                                  settings.until_converged)
