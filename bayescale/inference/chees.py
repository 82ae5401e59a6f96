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

from bayescale.inference.common import LatentSpace, map_leading, plausible_jitter
from bayescale.inference.config import SamplerConfig
from bayescale.inference.nuts import TRACE_COUNTS
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
    """The jitted ``(runner, extender)`` of :func:`get_chees_runner` (the model traced here, once)."""
    one = jax.tree_util.tree_map(lambda a: a[0], example_args)
    chains = _PooledChains(LatentSpace(model, one, coords), config)

    def run(rng_keys, args):
        TRACE_COUNTS[key] += 1
        K = rng_keys.shape[0]
        grouped = jax.tree_util.tree_map(lambda a: a.reshape((K // pool, pool) + a.shape[1:]), (rng_keys, args))
        out = map_leading(lambda ka: chains.run_pool(*ka), grouped, vectorize=False)
        return jax.tree_util.tree_map(lambda a: a.reshape((K,) + a.shape[2:]), out)

    def extend(carry, args, first):
        TRACE_COUNTS[(key, "extend")] += 1
        z, stats, carry = chains.draws(carry, args, first)
        return (*jax.vmap(chains.finish)(z, stats, {}, args), carry)

    return jax.jit(run), jax.jit(extend)


def _chees_stats(new, info, step_size) -> dict:
    """What each ChEES transition records (its ``sample_stats``), leading axes ``(P, C)``."""
    return {"diverging": info.is_divergent, "n_steps": info.num_integration_steps,
            "acceptance_rate": info.acceptance_rate, "lp": new.logdensity, "energy": info.energy,
            "step_size": jnp.broadcast_to(step_size[:, None], info.energy.shape)}


class _PooledChains:
    """The steps of ChEES over a pool of ``P`` datasets x ``C`` chains, traced into :func:`_build`'s programs:
    each dataset's start (:meth:`dataset_start`), the pooled warmup (:meth:`warmup`), the draws
    (:meth:`draws`) and the constrained values (:meth:`finish`)."""

    def __init__(self, space: LatentSpace, config: SamplerConfig):
        import blackjax.mcmc.dynamic_hmc as dynamic_hmc
        from blackjax.adaptation.chees_adaptation import base as chees_base

        self.space, self.config, self.dynamic_hmc = space, config, dynamic_hmc
        self.max_steps = 2 ** config.max_tree_depth
        # Halton index bits: warmup, draws and extensions.
        self.max_bits = int(np.ceil(np.log2(config.num_warmup + config.num_samples * 64 + 1)))
        self.kernel = dynamic_hmc.build_kernel(next_random_arg_fn=lambda i: i + 1, integration_steps_fn=self.steps)
        self.adapt_init, self.adapt_update = chees_base(self.jitter, lambda i: i + 1, optax.adam(LEARNING_RATE),
                                                        TARGET_ACCEPT, 0.5, self.max_steps)

    def jitter(self, i):
        """The trajectory-length jitter of iteration ``i`` (a Halton sequence in (0, 1))."""
        return self.dynamic_hmc.halton_sequence(i, self.max_bits)

    def steps(self, i, n_leapfrog):
        """Leapfrog steps of iteration ``i`` for a mean of ``n_leapfrog``."""
        return jnp.clip(jnp.ceil(self.jitter(i) * n_leapfrog), 1, self.max_steps).astype(jnp.int32)

    def logdensity_of(self, args, shift, scale):
        """Log density of the whitened coordinates ``u``, ``z = shift + scale @ u``."""
        pe = self.space.potential(args)
        return lambda u: -pe(shift + scale @ u)

    def dataset_start(self, rng_key, args):
        """L-BFGS from each chain's prior draw; whitening at the best mode; dispersed Laplace starts."""
        k_prior, k_jit = jax.random.split(rng_key)
        pe = self.space.potential(args)
        x0 = jax.vmap(lambda k: self.space.prior_start(k, args))(jax.random.split(k_prior, self.config.num_chains))
        modes = jax.vmap(lambda x: lbfgs(pe, x, self.config.map_steps))(x0)
        values = jax.vmap(pe)(modes)
        best = modes[jnp.argmin(jnp.where(jnp.isfinite(values), values, jnp.inf))]
        chol = laplace_factor(pe, best)
        u = jax.random.normal(k_jit, modes.shape, modes.dtype)
        return best, chol, jax.vmap(lambda uu: plausible_jitter(pe, best, chol, uu))(u)

    def move(self, i, states, step_size, n_leapfrog, shift, scale, chain_keys, args):
        """One transition of every chain of every dataset (leading axes ``(P, C)``); per-dataset
        ``step_size`` and ``n_leapfrog`` ``(P,)``."""
        ones = jnp.ones(shift.shape[-1], shift.dtype)

        def one(k, st, eps, n, s, L, a):
            return self.kernel(jax.random.fold_in(k, i), st, self.logdensity_of(a, s, L), eps, ones, (n,))

        per_chain = jax.vmap(one, (0, 0, None, None, None, None, None))
        return jax.vmap(per_chain)(chain_keys, states, step_size, n_leapfrog, shift, scale, args)

    def draws(self, carry, args, first):
        """``S`` draws of every chain from ``carry``, iterations ``first, first + 1, ...``."""
        states, step_size, n_leapfrog, shift, scale, chain_keys = carry

        def step(states, i):
            new, info = self.move(i, states, step_size, n_leapfrog, shift, scale, chain_keys, args)
            z = jnp.einsum("pij,pcj->pci", scale, new.position) + shift[:, None, :]
            return new, (z, _chees_stats(new, info, step_size))

        states, (z, stats) = lax.scan(step, states, first + jnp.arange(self.config.num_samples))
        z = jnp.moveaxis(z, 0, 2)  # (S, P, C, ...) -> (P, C, S, ...)
        stats = {k: jnp.moveaxis(v, 0, 2) for k, v in stats.items()}
        return z, stats, (states, step_size, n_leapfrog, shift, scale, chain_keys)

    def warmup(self, states, shift, scale, chain_keys, args):
        """``num_warmup`` transitions adapting one step size and trajectory length from all ``P x C`` chains:
        the final states, the adapted ``(step_size, n_leapfrog)`` (each ``(P,)``) and the warmup totals."""
        P, dim = shift.shape
        flat = lambda x: x.reshape((P * self.config.num_chains,) + x.shape[2:])  # noqa: E731
        ones = jnp.ones(dim, shift.dtype)

        def warm_step(carry, i):
            states, ad = carry
            eps = jnp.broadcast_to(ad.step_size, (P,))
            n = jnp.broadcast_to(ad.trajectory_length / ad.step_size, (P,))
            new, info = self.move(i, states, eps, n, shift, scale, chain_keys, args)
            ad = self.adapt_update(ad, flat(info.proposal.position), flat(info.proposal.momentum),
                                   flat(states.position), flat(info.acceptance_rate), flat(info.is_divergent), ones)
            return (new, ad), (info.is_divergent, info.num_integration_steps)

        ad0 = self.adapt_init(jnp.int32(0), jnp.asarray(0.5, shift.dtype))
        (states, ad), (wdiv, wsteps) = lax.scan(warm_step, (states, ad0), jnp.arange(self.config.num_warmup))
        step_size = jnp.broadcast_to(jnp.exp(ad.log_step_size_moving_average), (P,))
        n_leapfrog = jnp.broadcast_to(
            jnp.exp(ad.log_trajectory_length_moving_average - ad.log_step_size_moving_average), (P,))
        warm = {"diverging": jnp.sum(wdiv, axis=0), "n_steps": jnp.sum(wsteps, axis=0)}
        return states, step_size, n_leapfrog, warm

    def run_pool(self, keys, args):
        """``keys (P, 2)``, args with a leading ``P`` axis: one adaptation pooled over the P datasets' chains."""
        C = self.config.num_chains
        k_start, k_run = jax.vmap(lambda k: jax.random.split(k))(keys).transpose(1, 0, 2)
        shift, scale, u0 = jax.vmap(self.dataset_start)(k_start, args)  # (P, d), (P, d, d), (P, C, d)
        chain_keys = jax.vmap(lambda k: jax.random.split(k, C))(k_run)  # (P, C, 2)
        init_one = lambda u, a, s, L: self.dynamic_hmc.init(u, self.logdensity_of(a, s, L), jnp.int32(0))  # noqa: E731
        states = jax.vmap(jax.vmap(init_one, (0, None, None, None)))(u0, args, shift, scale)
        states, step_size, n_leapfrog, warm = self.warmup(states, shift, scale, chain_keys, args)
        z, stats, carry = self.draws((states, step_size, n_leapfrog, shift, scale, chain_keys), args,
                                     self.config.num_warmup)
        return (*jax.vmap(self.finish)(z, stats, warm, args), carry)

    def finish(self, z, stats, warm, args):
        """Constrained draws (as NUTS's ``_Chains.finish``; the pointwise values are computed on first read of a
        fit's InferenceData: :func:`bayescale.inference.pointwise.pointwise`)."""
        constrain, to_model = self.space.constrain(args), self.space.to_model
        samples = jax.vmap(jax.vmap(lambda xf: constrain(to_model(xf))))(z)
        return samples, stats, warm
