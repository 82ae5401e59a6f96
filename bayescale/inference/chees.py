"""Many posteriors in lockstep: ChEES-HMC (BlackJAX) over datasets x chains, one compiled program. Knows no law.

What ``bs.fit_many(..., method="chees")`` runs. NUTS vmapped over datasets advances
every lane in lockstep, so each step costs the longest tree of any chain of any
dataset; that is why :mod:`bayescale.inference.nuts` maps datasets one after another.
ChEES-HMC (Hoffman, Radul & Sountsov 2021) has no trees: every chain makes the same
number of leapfrog steps per draw (a jittered trajectory length shared by all chains),
so many chains in lockstep waste nothing. It adapts the step size (dual averaging to a
harmonic-mean acceptance of :data:`TARGET_ACCEPT`) and the trajectory length (Adam on
the ChEES criterion) from *many* chains at once; here, from all chains of a *pool* of
datasets.

Per dataset, as in :mod:`bayescale.inference.nuts`: every chain runs L-BFGS from a
prior draw in the sampler coordinates (``coords``, :mod:`bayescale.model.coords`), and the
dataset is whitened by the Laplace approximation at its best mode (``z = shift + L u``),
chains starting from dispersed Laplace draws. Whitening gives every dataset of a pool
roughly unit scale, which is what lets them share one step size and trajectory length.
The metric is the identity in the whitened coordinates.

Because adaptation is pooled, a dataset's draws depend on the other datasets of its
pool as well as on its seed (unlike NUTS in ``fit_many``, whose fits equal ``bs.fit``'s).
Every dataset keeps its own chains and draws, and its diagnostics are computed from them.
The extender continues chosen datasets' chains by ``num_samples`` draws with the adapted
step size and trajectory length (``until_converged``).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jax.flatten_util import ravel_pytree
from numpyro.handlers import seed, trace
from numpyro.infer.util import unconstrain_fn

from bayescale.inference.config import SamplerConfig
from bayescale.inference.nuts import TRACE_COUNTS, _map_leading, _model_structure
from bayescale.inference.runner_cache import RunnerCache
from bayescale.inference.start import laplace_factor, lbfgs

__all__ = ["TARGET_ACCEPT", "LEARNING_RATE", "get_chees_runner", "clear_cache"]

#: Harmonic-mean acceptance the step size is adapted to (the ChEES paper's and BlackJAX's default).
TARGET_ACCEPT = 0.651
#: Adam's learning rate for the log trajectory length (BlackJAX's default).
LEARNING_RATE = 0.025

#: Most compiled ChEES samplers kept (see :mod:`bayescale.inference.runner_cache`).
MAX_RUNNERS = 4

_RUNNERS = RunnerCache(MAX_RUNNERS)


def clear_cache() -> None:
    """Forget every compiled ChEES sampler."""
    _RUNNERS.clear()


def get_chees_runner(model, config: SamplerConfig, example_args: tuple, cache_key: Any, *, pool: int, block: int,
                     coords=None) -> tuple[Callable, Callable]:
    """The compiled ``(runner, extender)`` of ChEES over datasets, built on first use.

    ``runner(keys, args)``: keys ``(K, 2)`` and arguments stacked on a leading axis of ``K``
    datasets, ``K`` a multiple of ``pool`` (datasets ``pool * g ... pool * g + pool - 1`` share one
    adaptation). ``extender(carry, args)``: ``block`` datasets' chains continued by ``num_samples``
    draws. Both return ``(samples, stats, warm, carry)`` with leading axes ``(dataset, chain, draw)``,
    as the NUTS runner of :mod:`bayescale.inference.nuts` without its pointwise values (a fit computes
    them when first read: :mod:`bayescale.inference.pointwise`).
    """
    shapes = tuple(jnp.shape(a)[1:] for a in jax.tree_util.tree_leaves(example_args))
    key = ("chees", cache_key, config.compile_key(), shapes, pool, block, len(jax.local_devices()),
           None if coords is None else id(coords))
    _RUNNERS.max_size = MAX_RUNNERS
    return _RUNNERS.get(key, lambda: _build(model, config, example_args, key, pool, coords))


def _build(model, config: SamplerConfig, example_args: tuple, key: Any, pool: int, coords):
    import blackjax.mcmc.dynamic_hmc as dynamic_hmc
    from blackjax.adaptation.chees_adaptation import base as chees_base

    one = jax.tree_util.tree_map(lambda a: a[0], example_args)
    potential_fn_gen, postprocess_fn_gen, unravel, latent_names = _model_structure(model, one)
    C, W, S = config.num_chains, config.num_warmup, config.num_samples
    max_steps = 2 ** config.max_tree_depth
    max_bits = int(np.ceil(np.log2(W + S * 64 + 1)))  # Halton index bits: warmup, draws and extensions

    def to_model(xf):
        return xf if coords is None else ravel_pytree(coords.to_model(unravel(xf)))[0]

    def potential(args, xf):
        pe = potential_fn_gen(*args)
        if coords is None:
            return pe(unravel(xf))
        out = pe(coords.to_model(unravel(xf)))
        return out if coords.log_det is None else out - coords.log_det(unravel(xf))

    def prior_start(rng_key, args):
        tr = trace(seed(model, rng_key)).get_trace(*args)
        z = unconstrain_fn(model, args, {}, {k: tr[k]["value"] for k in latent_names})
        z = {k: z[k] for k in latent_names}
        return ravel_pytree(z if coords is None else coords.from_model(z))[0]

    def dataset_start(rng_key, args):
        """L-BFGS from each chain's prior draw; whitening at the best mode; dispersed Laplace starts."""
        k_prior, k_jit = jax.random.split(rng_key)
        pe = lambda xf: potential(args, xf)  # noqa: E731
        x0 = jax.vmap(lambda k: prior_start(k, args))(jax.random.split(k_prior, C))
        modes = jax.vmap(lambda x: lbfgs(pe, x, config.map_steps))(x0)
        values = jax.vmap(pe)(modes)
        best = modes[jnp.argmin(jnp.where(jnp.isfinite(values), values, jnp.inf))]
        chol = laplace_factor(pe, best)
        u = jax.random.normal(k_jit, modes.shape, modes.dtype)
        excess = jax.vmap(lambda uu: pe(best + chol @ uu) - pe(best))(u)
        plausible = jnp.isfinite(excess) & (excess < modes.shape[1] + 10.0)  # as in nuts.py's start_chain
        return best, chol, jnp.where(plausible[:, None], u, 0.0)

    def jitter(i):
        return dynamic_hmc.halton_sequence(i, max_bits)

    def steps_fn(i, n_leapfrog):
        return jnp.clip(jnp.ceil(jitter(i) * n_leapfrog), 1, max_steps).astype(jnp.int32)

    kernel = dynamic_hmc.build_kernel(next_random_arg_fn=lambda i: i + 1, integration_steps_fn=steps_fn)
    ch_init, ch_update = chees_base(jitter, lambda i: i + 1, optax.adam(LEARNING_RATE), TARGET_ACCEPT, 0.5, max_steps)

    def logdensity_of(args, shift, scale):
        return lambda u: -potential(args, shift + scale @ u)

    def move(i, states, step_size, n_leapfrog, shift, scale, chain_keys, args):
        """One transition of every chain of every dataset (leading axes ``(P, C)``); per-dataset
        ``step_size`` and ``n_leapfrog`` ``(P,)``."""
        ones = jnp.ones(shift.shape[-1], shift.dtype)

        def one(k, st, eps, n, s, L, a):
            return kernel(jax.random.fold_in(k, i), st, logdensity_of(a, s, L), eps, ones, (n,))

        per_chain = jax.vmap(one, (0, 0, None, None, None, None, None))
        return jax.vmap(per_chain)(chain_keys, states, step_size, n_leapfrog, shift, scale, args)

    def draws(carry, args, first):
        """``S`` draws of every chain from ``carry``, iterations ``first, first + 1, ...``."""
        states, step_size, n_leapfrog, shift, scale, chain_keys = carry

        def step(states, i):
            new, info = move(i, states, step_size, n_leapfrog, shift, scale, chain_keys, args)
            z = jnp.einsum("pij,pcj->pci", scale, new.position) + shift[:, None, :]
            stats = {"diverging": info.is_divergent, "n_steps": info.num_integration_steps,
                     "acceptance_rate": info.acceptance_rate, "lp": new.logdensity, "energy": info.energy,
                     "step_size": jnp.broadcast_to(step_size[:, None], info.energy.shape)}
            return new, (z, stats)

        states, (z, stats) = lax.scan(step, states, first + jnp.arange(S))
        z = jnp.moveaxis(z, 0, 2)  # (S, P, C, ...) -> (P, C, S, ...)
        stats = {k: jnp.moveaxis(v, 0, 2) for k, v in stats.items()}
        return z, stats, (states, step_size, n_leapfrog, shift, scale, chain_keys)

    def run_pool(keys, args):
        """``keys (P, 2)``, args with a leading ``P`` axis: one adaptation pooled over the P datasets' chains."""
        P = keys.shape[0]
        k_start, k_run = jax.vmap(lambda k: jax.random.split(k))(keys).transpose(1, 0, 2)
        shift, scale, u0 = jax.vmap(dataset_start)(k_start, args)  # (P, d), (P, d, d), (P, C, d)
        chain_keys = jax.vmap(lambda k: jax.random.split(k, C))(k_run)  # (P, C, 2)
        init_one = lambda u, a, s, L: dynamic_hmc.init(u, logdensity_of(a, s, L), jnp.int32(0))  # noqa: E731
        states = jax.vmap(jax.vmap(init_one, (0, None, None, None)))(u0, args, shift, scale)
        flat = lambda x: x.reshape((P * C,) + x.shape[2:])  # noqa: E731
        ones = jnp.ones(u0.shape[-1], u0.dtype)

        def warm_step(carry, i):
            states, ad = carry
            eps = jnp.broadcast_to(ad.step_size, (P,))
            n = jnp.broadcast_to(ad.trajectory_length / ad.step_size, (P,))
            new, info = move(i, states, eps, n, shift, scale, chain_keys, args)
            ad = ch_update(ad, flat(info.proposal.position), flat(info.proposal.momentum), flat(states.position),
                           flat(info.acceptance_rate), flat(info.is_divergent), ones)
            return (new, ad), (info.is_divergent, info.num_integration_steps)

        ad0 = ch_init(jnp.int32(0), jnp.asarray(0.5, u0.dtype))
        (states, ad), (wdiv, wsteps) = lax.scan(warm_step, (states, ad0), jnp.arange(W))
        step_size = jnp.broadcast_to(jnp.exp(ad.log_step_size_moving_average), (P,))
        n_leapfrog = jnp.broadcast_to(
            jnp.exp(ad.log_trajectory_length_moving_average - ad.log_step_size_moving_average), (P,))
        z, stats, carry = draws((states, step_size, n_leapfrog, shift, scale, chain_keys), args, W)
        warm = {"diverging": jnp.sum(wdiv, axis=0), "n_steps": jnp.sum(wsteps, axis=0)}
        return (*jax.vmap(finish)(z, stats, warm, args), carry)

    def finish(z, stats, warm, args):
        """Constrained draws (as ``nuts.finish``; the pointwise values are computed on first read of a
        fit's InferenceData: :func:`bayescale.inference.pointwise.pointwise`)."""
        constrain = postprocess_fn_gen(*args)
        samples = jax.vmap(jax.vmap(lambda xf: constrain(unravel(to_model(xf)))))(z)
        return samples, stats, warm

    def run(rng_keys, args):
        TRACE_COUNTS[key] += 1
        K = rng_keys.shape[0]
        grouped = jax.tree_util.tree_map(lambda a: a.reshape((K // pool, pool) + a.shape[1:]), (rng_keys, args))
        out = _map_leading(lambda ka: run_pool(*ka), grouped, vectorize=False)
        return jax.tree_util.tree_map(lambda a: a.reshape((K,) + a.shape[2:]), out)

    def extend(carry, args, first):
        TRACE_COUNTS[(key, "extend")] += 1
        z, stats, carry = draws(carry, args, first)
        return (*jax.vmap(finish)(z, stats, {}, args), carry)

    return jax.jit(run), jax.jit(extend)
