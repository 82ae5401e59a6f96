"""``fit_many(..., method="chees")``: many datasets in lockstep with ChEES-HMC (:mod:`bayescale.inference.chees`).

Datasets are sampled in chunks of at most :data:`CHUNK` (one compiled shape for any number
of datasets; chunks are dispatched together and each chunk's fits are built on the host while
the next samples), each split into pools of at most :data:`MAX_POOL` (a multiple of the host
devices when there are enough datasets, so pools run in parallel); the last chunk is filled
with copies of earlier datasets, whose fits are dropped. A fit
that fails only the R-hat or bulk-ESS check (no divergences) has its chains continued by
``num_samples`` draws, :data:`BLOCK` datasets per compiled call, up to ``until_converged``
times, as :func:`bayescale.fit` does; a fit still failing is returned flagged
(``fit.converged`` False, counted in ``fit_many``'s warning), never dropped. A fit's pointwise
log-likelihood and predictive location are computed on first read of its InferenceData
(:mod:`bayescale.inference.pointwise`), not by the sampler.
"""

from __future__ import annotations

import math

import jax
import numpy as np

from bayescale.fitting.fit import Draws, _concat_draws, make_fit
from bayescale.inference.chees import get_chees_runner
from bayescale.model.program import OBS
from bayescale.posterior import idata as _idata

__all__ = ["fit_many_chees", "MAX_POOL", "CHUNK", "BLOCK"]

#: Most datasets whose chains share one ChEES adaptation. Measured at K=256 (Epoch resamples, 500 + 500,
#: 2 cores, 2026-12-03): chunks of 64 in pools of 32 29.1-33.3 posteriors/s with 16 fits extended, chunks of
#: 32 in pools of 16 29.1-29.6/s with 25 extended, 128 in pools of 64 25.0/s.
MAX_POOL = 32
#: Most datasets sampled by one call of the compiled runner (larger batches are cut into chunks of this
#: many, the last one filled with copies): one compiled shape for any K above it.
CHUNK = 64
#: Datasets continued together by one call of the extender.
BLOCK = 4


def pools(k: int, devices: int) -> tuple[int, int]:
    """``(pool size, number of pools)`` for ``k`` datasets: pools of at most :data:`MAX_POOL`, their number
    a multiple of ``devices`` when every pool can still hold 4 datasets.

    Examples
    --------
    >>> pools(256, 2), pools(20, 2), pools(3, 2)
    ((32, 8), (10, 2), (3, 1))
    """
    g = math.ceil(k / MAX_POOL)
    if devices > 1 and k >= 4 * devices:
        g = devices * math.ceil(g / devices)
    return math.ceil(k / g), g


def _take(tree, idx):
    return jax.tree_util.tree_map(lambda a: a[idx], tree)


def _padded(idx: list[int], size: int) -> np.ndarray:
    return np.resize(np.asarray(idx), math.ceil(len(idx) / size) * size)


def fit_many_chees(datasets, model, config, seeds, refs, args, pointwise: bool, until_converged: int):
    """The fits of ``datasets`` (arguments ``args`` stacked on a leading axis) by pooled ChEES-HMC."""
    k = len(datasets)
    pool, groups = pools(min(k, CHUNK), len(jax.local_devices()))
    size = pool * groups
    order = _padded(list(range(k)), size)
    runner, extender = get_chees_runner(model.program(None), config, args, (model.cache_key, None), pool=pool,
                                        block=BLOCK, coords=model.sampler_coords)
    site = OBS if pointwise else None
    keys = np.stack([np.asarray(jax.random.PRNGKey(seeds[i])) for i in order])
    # Every chunk is dispatched at once (JAX runs them in turn, asynchronously); each chunk's fits are
    # built on the host while the later chunks sample.
    pending = [runner(keys[s:s + size], _take(args, order[s:s + size])) for s in range(0, len(order), size)]
    draws, fits, carries = [], [], []
    for c, result in enumerate(pending):
        n = min(size, k - c * size)
        *out, carry = jax.device_get(result)
        samples, stats, warm = _take(tuple(out), slice(0, n))
        carries.append(_take(carry, slice(0, n)))
        ess, rhat = _idata.ess_rhat_arrays({p: samples[p] for p in model.law.param_names})
        for j in range(n):
            i = c * size + j
            draws.append(Draws(samples=_take(samples, j), stats=_take(stats, j), warm=_take(warm, j), loglik=None,
                               pp=None))
            fits.append(_fit(datasets[i], model, config, refs[i], seeds[i], draws[i], 0, site, _take(ess, j),
                             _take(rhat, j)))
    # Writable: extensions update it.
    carry = jax.tree_util.tree_map(lambda *parts: np.concatenate(parts), *carries)

    for extension in range(1, until_converged + 1):
        todo = [i for i, f in enumerate(fits) if f.diagnostics.n_divergent == 0 and not f.converged]
        if not todo:
            break
        first = config.num_warmup + extension * config.num_samples  # the iteration the chains are at
        done = set()
        for block in _padded(todo, BLOCK).reshape(-1, BLOCK):
            *more, new = jax.device_get(extender(_take(carry, block), _take(args, block), first))
            for j, i in enumerate(block.tolist()):
                if i in done:
                    continue  # a filler copy of a dataset of this round
                done.add(i)
                draws[i] = _concat_draws(draws[i], Draws(*_take(tuple(more), j), loglik=None, pp=None))
                for a, b in zip(jax.tree_util.tree_leaves(carry), jax.tree_util.tree_leaves(_take(new, j))):
                    a[i] = b
                fits[i] = _fit(datasets[i], model, config, refs[i], seeds[i], draws[i], extension, site)
    return fits


def _fit(data, model, config, ref, seed, draws: Draws, extensions: int, site, ess=None, rhat=None):
    return make_fit(data, model, config, ref, seed, draws, ess=None if ess is None else {k: float(v) for k, v in ess.items()},
                    rhat=None if rhat is None else {k: float(v) for k, v in rhat.items()},
                    extra_draws_per_chain=extensions * config.num_samples, sampler="chees", pointwise_site=site)
