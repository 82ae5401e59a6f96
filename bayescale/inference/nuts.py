"""Compiled NUTS: two XLA programs per (model, settings, data shape), reused. Knows no scaling law.

The sampler is NumPyro's NUTS kernel (``numpyro.infer.hmc.hmc``) with its
windowed step-size and mass-matrix adaptation. What this module adds is the
driver around it, written so the whole fit is a jitted function of the data, in two
programs compiled ahead of time (:mod:`bayescale.inference.aot`): steps 1-2's starts, then NUTS:

1. each chain starts from a prior draw and runs L-BFGS (optax) to the posterior
   mode in the unconstrained space; a chain whose mode is far worse than the best
   chain's (:data:`MODE_SLACK`) takes the best one instead;
2. NUTS runs in coordinates whitened by the Laplace approximation there,
   ``z = z_map + L u / c`` with ``L L^T`` the inverse Hessian, so the posterior NumPyro
   adapts to has no correlation and the variance ``c^2`` per direction
   (:data:`~bayescale.inference.start.WHITE_VARIANCE`); warmup starts from a
   draw of that approximation (so chains are dispersed). This matters: NumPyro's
   (Stan's) mass-matrix estimate shrinks toward ``1e-3 I``; on the raw scaling-law
   posterior (log-scale variances ~1e-5 along the ``A``-``alpha`` ridge) that distorts the
   metric and cut the step size 4x (22 vs 6 leapfrog steps per draw on Epoch's data), and
   in a pooled fit's 41-86 coordinates the first windows' estimates are rank-deficient, so
   the directions they miss get the shrinkage alone: ``c^2`` is what it gives them. A model
   may also give the sampler other coordinates than its own (``coords``,
   :mod:`bayescale.model.coords`: a bijection with known Jacobian): the Chinchilla law's
   straighten the curved ``E``-``A``-``alpha`` ridge that a linear whitening cannot;
3. warmup and sampling run as one ``lax.scan`` over NumPyro's ``sample_kernel``
   (one compiled copy of the kernel); on CPU chains are split across host devices
   (one per core, :mod:`bayescale.inference.devices`) and run in turn on each, on GPU/TPU they
   are vectorised with ``vmap``. The single-dataset runner also returns the chains'
   final states, and :func:`get_extender` continues them by ``num_samples`` draws (one
   more compiled program, reused for every extension) when the convergence checks ask
   for more draws.

Because data are arguments, a refit of same-shaped data (lengths padded to shared sizes by
:meth:`ScalingModel.args <bayescale.model.spec.ScalingModel.args>`) reuses the compiled
program (:data:`TRACE_COUNTS` counts traces; the tests check it), as does a refit at another
``target_accept`` (an argument of the programs); :func:`bayescale.fit_many` maps the same program over
datasets, and :mod:`bayescale.inference.executable_cache` keeps the programs across processes.
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree

from bayescale.inference.aot import BoundLast, Program, TwoStage
from bayescale.inference.common import LatentSpace, map_leading, plausible_jitter
from bayescale.inference.chain_state import hmc_state, nuts_stats, plain_chain
from bayescale.inference.config import SamplerConfig
from bayescale.inference.pointwise import observation
from bayescale.inference.progress import scan_with_progress
from bayescale.inference.runner_cache import RunnerCache

__all__ = ["TRACE_COUNTS", "MODE_SLACK", "MAX_RUNNERS", "get_runner", "get_extender", "clear_cache"]

#: How many times each compiled runner was traced (keyed by cache key). A refit of
#: same-shaped data must not add to it.
TRACE_COUNTS: Counter = Counter()

#: A chain whose L-BFGS mode has a potential more than this (nats) above the best chain's
#: whitens at the best chain's mode instead of its own (see ``start_all``).
MODE_SLACK = 10.0

#: Rounds of (L-BFGS in the adapted coordinates, adapt again there) for coordinates that adapt to the start
#: (``SamplerCoords.adapt``): measured on the 6-recipe simulated design (data seed 1, chain seed 101), one
#: round of 100 iterations left the start short of the mode and NUTS took 72 leapfrog steps per draw; 400
#: iterations, 16.
ADAPT_ROUNDS = 3

#: Most compiled samplers kept (each holds ~1,600 memory mappings: :mod:`bayescale.inference.runner_cache`).
MAX_RUNNERS = 12

_RUNNERS = RunnerCache(MAX_RUNNERS)  # key -> (runner, extender)


def clear_cache() -> None:
    """Forget every compiled sampler (the next fit compiles again)."""
    _RUNNERS.clear()


def _build_programs(
    model, config: SamplerConfig, example_args: tuple, key: Any, batched: bool = False, obs_site: str | None = None,
    coords=None,
) -> tuple[Callable, Callable, Callable | None]:
    """Trace the model once to learn its latent structure, then build the runner's two jitted programs
    and, for one dataset, the jitted extender of its chains (:func:`get_extender`).

    ``batched=True`` builds the runner of many same-shaped datasets at once: its
    arguments carry a leading dataset axis (keys ``(K, 2)``, arrays ``(K, n)``).
    ``coords`` (:class:`~bayescale.model.coords.SamplerCoords`): the coordinates the sampler
    moves in, mapped onto the model's unconstrained ones (``None``: those).
    """
    if batched:
        example_args = jax.tree_util.tree_map(lambda a: a[0], example_args)
    chains = _Chains(LatentSpace(model, example_args, coords), config, obs_site)
    return _batched_programs(chains, key) if batched else _single_programs(chains, key)


def _single_programs(chains: "_Chains", key: Any) -> tuple[Callable, Callable, Callable]:
    """The jitted ``(start, sample, extend)`` of one dataset; its chains split across host devices."""

    def start(rng_key, args, target):  # the starts do not depend on target_accept
        TRACE_COUNTS[key] += 1
        return chains.start_all(rng_key, args, True)

    def sample(starts, args, target):
        return chains.sample_all(starts, args, target, True)

    def extend(carry, args, target):
        TRACE_COUNTS[(key, "extend")] += 1
        z, stats, carry = map_leading(lambda c: chains.extend_chain(c, args, target), carry,
                                      vectorize=chains.vectorize)
        return (*chains.finish(z, stats, {}, args), carry)

    # The extender is traced and compiled (or read from disk) only when a fit first needs more draws.
    return jax.jit(start), jax.jit(sample), jax.jit(extend)


def _batched_programs(chains: "_Chains", key: Any) -> tuple[Callable, Callable, None]:
    """The jitted ``(start, sample)`` of many datasets (a leading dataset axis), and no extender.

    Each program runs the single-fit one for each dataset in turn (``lax.map``), blocks of datasets in
    parallel across host devices. Not a vmap over datasets: vmapped NUTS advances all lanes in lockstep,
    so each iteration costs the longest tree of any chain of any dataset (measured ~10x slower than a
    loop at K=16). The chains' final states are returned as by the single-dataset runner (unused by
    fit_many): dropping them let XLA fuse the chains differently, and fit_many's draws then differed
    from fit's.
    """

    def start_many(rng_keys, args, target):
        TRACE_COUNTS[key] += 1
        return map_leading(lambda ka: chains.start_all(*ka, False), (rng_keys, args), vectorize=False)

    def sample_many(starts, args, target):
        return map_leading(lambda sa: chains.sample_all(*sa, target, False), (starts, args), vectorize=False)

    return jax.jit(start_many), jax.jit(sample_many), None


class _Chains:
    """The steps of a NUTS fit of one dataset, traced into the programs of :func:`_build_programs`:
    every chain's mode (:meth:`start_all`), its whitened start (:meth:`start_chain`), its warmup and
    draws (:meth:`sample_chain`), their continuation (:meth:`extend_chain`) and the constrained
    values (:meth:`finish`). Two programs, compiled ahead of time
    (:class:`~bayescale.inference.aot.TwoStage`): the chains' starts (L-BFGS, Laplace factor: about
    40% of the compile) and their NUTS runs."""

    def __init__(self, space: LatentSpace, config: SamplerConfig, obs_site: str | None):
        self.space, self.config, self.obs_site = space, config, obs_site
        self.vectorize = config.vectorized_chains()

    def potential_white_gen(self, args, shift, scale, state=None):
        """Potential of the whitened coordinates ``u``, ``z = shift + scale @ u`` (constant Jacobian)."""
        pe = self.space.potential(args, state)
        return lambda u: pe(shift + scale @ u)

    def find_mode(self, rng_key, args):
        """L-BFGS from a prior draw: the mode reached and its potential (``inf`` where not finite); the
        potential plus the coordinates' ``mode_penalty`` where they have one (the start only)."""
        from bayescale.inference.start import lbfgs  # optax: only when a program is built

        k_prior, _, _ = jax.random.split(rng_key, 3)
        pe = self.space.potential(args)
        penalty = getattr(self.space.coords, "mode_penalty", None)
        if penalty is not None:
            pe = (lambda f: lambda xf: f(xf) + penalty(self.space.unravel(xf)))(pe)
        z_map = lbfgs(pe, self.space.prior_start(k_prior, args), self.config.map_steps)
        value = pe(z_map)
        return z_map, jnp.where(jnp.isfinite(value), value, jnp.inf)

    def adapt_at(self, args, z):
        """``(state, z in the adapted coordinates)``: the coordinates' ``adapt`` from the potential's gradient
        and Hessian at ``z`` (base coordinates)."""
        from bayescale.inference.start import hessian  # optax: only when a program is built
        coords, unravel = self.space.coords, self.space.unravel
        pe = self.space.potential(args)
        state = coords.adapt(unravel(z), jax.grad(pe)(z), hessian(pe, z), unravel)
        return state, ravel_pytree(coords.from_model(coords.to_model(unravel(z)), state))[0]

    def adapt_coords(self, args, z):
        """``(state, z in the adapted coordinates)`` of a chain starting at ``z`` (base coordinates;
        ``(None, z)`` when the coordinates do not adapt): adapted there, then (with ``map_steps``) at the
        mode of the density in those coordinates (L-BFGS), nearer the posterior's bulk than the penalised
        start (:attr:`SamplerCoords.mode_penalty <bayescale.model.coords.SamplerCoords>`)."""
        from bayescale.inference.start import lbfgs  # optax: only when a program is built

        if not self.space.adaptive:
            return None, z
        coords, unravel = self.space.coords, self.space.unravel

        def round_(_, carry):
            state, z = carry
            z = lbfgs(self.space.potential(args, state), z, self.config.map_steps)
            return self.adapt_at(args, ravel_pytree(coords.from_model(coords.to_model(unravel(z), state)))[0])

        # A loop, not a Python for: one traced copy of L-BFGS and of the Hessian whatever the rounds.
        rounds = ADAPT_ROUNDS if self.config.map_steps > 0 else 0
        return lax.fori_loop(0, rounds, round_, self.adapt_at(args, z))

    def nuts(self, args, shift, scale, state, target):
        """NumPyro's NUTS ``(init, step)`` on the coordinates whitened by ``(shift, scale)`` (adapted by
        ``state``), its step size adapted to the acceptance rate ``target`` (an argument of the program, not a
        constant of it: a refit at a higher ``target_accept`` runs the same compiled programs)."""
        from numpyro.infer.hmc import hmc

        init_kernel, sample_kernel = hmc(potential_fn_gen=self.potential_white_gen, algo="NUTS")
        white_args, config = (args, shift, scale, state), self.config

        def init(u_start, inv_mass, rng_key, find_step_size=True):
            return init_kernel(
                u_start,
                config.num_warmup,
                inverse_mass_matrix=inv_mass,
                dense_mass=config.dense_mass,
                target_accept_prob=target,
                max_tree_depth=config.max_tree_depth,
                find_heuristic_step_size=find_step_size,
                model_args=white_args,
                rng_key=rng_key,
            )

        def step(state, _):
            state = sample_kernel(state, model_args=white_args)
            return state, (shift + scale @ state.z, nuts_stats(state))

        return init, step

    def start_chain(self, rng_key, args, own, best):
        """Where one chain starts, ``(k_nuts, u_start, shift, scale, inv_mass, state)``. ``own``, ``best``:
        ``(mode, potential)`` this chain's L-BFGS reached and the best of all chains'; the chain whitens at its
        own mode unless that is far worse than the best (without L-BFGS: at a prior draw, unwhitened).
        ``state``: the adapted coordinates' (``None`` where they do not adapt)."""
        k_prior, k_jitter, k_nuts = jax.random.split(rng_key, 3)
        if self.config.map_steps > 0:
            return (k_nuts, *self.laplace_start(k_jitter, args, own, best))
        state, z0 = self.adapt_coords(args, self.space.prior_start(k_prior, args))
        return k_nuts, jnp.zeros_like(z0), z0, jnp.eye(z0.shape[0], dtype=z0.dtype), None, state

    def laplace_start(self, k_jitter, args, own, best):
        """``(u_start, shift, scale, inv_mass, state)`` of a chain started from a Laplace draw at its mode."""
        from bayescale.inference.start import WHITE_VARIANCE, laplace_factor  # optax: only when a program is built

        state, z_map = self.adapt_coords(args, jnp.where(own[1] <= best[1] + MODE_SLACK, own[0], best[0]))
        pe = self.space.potential(args, state)
        chol = laplace_factor(pe, z_map)
        dim = z_map.shape[0]
        u_start = plausible_jitter(pe, z_map, chol, jax.random.normal(k_jitter, z_map.shape, z_map.dtype))
        if self.config.whiten:  # u = c L^-1 (z - z_map): the posterior's variance is c^2 = WHITE_VARIANCE in each u
            c = jnp.sqrt(jnp.asarray(WHITE_VARIANCE, z_map.dtype))
            return u_start * c, z_map, chol / c, None, state
        # Raw coordinates: the Laplace covariance only starts the mass-matrix adaptation.
        u_start, shift, scale = chol @ u_start, z_map, jnp.eye(dim, dtype=z_map.dtype)
        inv_mass = chol @ chol.T if self.config.dense_mass else jnp.sum(chol**2, axis=1)
        return u_start, shift, scale, inv_mass, state

    def sample_chain(self, start, args, target):
        """One chain's warmup and draws from its start (:meth:`start_chain`)."""
        k_nuts, u_start, shift, scale, inv_mass, state = start
        num_warmup, num_samples = self.config.num_warmup, self.config.num_samples
        init, step = self.nuts(args, shift, scale, state, target)
        chain = init(u_start, inv_mass, k_nuts)
        # One scan over warmup and draws: NumPyro's kernel switches from adapting to
        # sampling by its iteration counter, so one copy of the kernel is compiled.
        chain, (z, stats) = scan_with_progress(
            step, chain, num_warmup + num_samples, enabled=bool(self.config.progress_bar)
        )
        warm = {"diverging": jnp.sum(stats["diverging"][:num_warmup]), "n_steps": jnp.sum(stats["n_steps"][:num_warmup])}
        z = jax.vmap(lambda zf: self.space.to_model(zf, state))(z[num_warmup:])
        stats = {k: v[num_warmup:] for k, v in stats.items()}
        return z, stats, warm, (plain_chain(chain), shift, scale, state)

    def extend_chain(self, carry, args, target):
        """``num_samples`` more draws from a chain's final state (its adapted step size and metric, no
        further adaptation): the same Markov chain, continued."""
        chain, shift, scale, state = carry
        chain = hmc_state(chain)
        init, step = self.nuts(args, shift, scale, state, target)
        # Only configures NumPyro's kernel (tree depth, warmup length, adaptation); its state is discarded.
        init(chain.z, chain.adapt_state.inverse_mass_matrix, chain.rng_key, find_step_size=False)
        chain, (z, stats) = scan_with_progress(step, chain, self.config.num_samples,
                                               enabled=bool(self.config.progress_bar))
        return jax.vmap(lambda zf: self.space.to_model(zf, state))(z), stats, (plain_chain(chain), shift, scale, state)

    def finish(self, z, stats, warm, args):
        """Constrained draws and, with ``obs_site``, that site's pointwise log-likelihood and the
        location and scale of its distribution at every draw (the observations are the last model
        argument). The posterior predictive is drawn from these (and any other parameter of the
        distribution, which is a posterior variable) on the host
        (:func:`bayescale.model.likelihoods.predictive_draws`): JAX's Student-t sampler (a gamma
        rejection loop) took as long as all of NUTS."""
        samples = jax.vmap(jax.vmap(self.space.constrain(args)))(z)
        if self.obs_site is None:
            return samples, stats, warm, None, None
        loglik, params = jax.vmap(jax.vmap(observation(self.space.model, self.obs_site, args)))(samples)
        return samples, stats, warm, loglik, params

    def start_all(self, rng_key, args, shard_chains):
        """Every chain's start (:meth:`start_chain`), from its own L-BFGS mode or the best chain's."""
        keys = jax.random.split(rng_key, self.config.num_chains)
        # On CPU chains run one after another on each device (``lax.map``), split across host
        # devices (bayescale asks for one per core: ``bayescale.inference.devices``). Not ``vmap``: batching
        # NUTS's while loops tripled tracing and added a third to compile time, and vmapped
        # chains advance in lockstep, each step costing the longest tree of any chain. On GPU and
        # TPU chains are vmapped, which is what their width is for.
        if self.config.map_steps > 0:
            # Every chain runs L-BFGS from its own prior draw. A chain whose mode is far worse than the
            # best chain's (its L-BFGS stopped short, or ran off to sigma ~ 1e3) takes the best one
            # instead: whitened at its own, such a chain sampled in a useless metric for good (R-hat
            # 1.5 on a 32-run design). Chains at comparable modes keep their own (diverse starts are
            # what lets R-hat see several modes; all chains at the best mode converged less often).
            modes, values = map_leading(lambda k: self.find_mode(k, args), keys, vectorize=self.vectorize,
                                        shard=shard_chains)
            i = jnp.argmin(values)
            best = (modes[i], values[i])
        else:
            modes = values = jnp.zeros((self.config.num_chains,))
            best = (jnp.zeros(()), jnp.zeros(()))
        return map_leading(lambda kmv: self.start_chain(kmv[0], args, (kmv[1], kmv[2]), best), (keys, modes, values),
                           vectorize=self.vectorize, shard=shard_chains)

    def sample_all(self, starts, args, target, shard_chains):
        """Every chain's warmup and draws, and their constrained values (:meth:`finish`)."""
        z, stats, warm, carry = map_leading(lambda st: self.sample_chain(st, args, target), starts,
                                            vectorize=self.vectorize, shard=shard_chains)
        return (*self.finish(z, stats, warm, args), carry)


def get_runner(
    model,
    config: SamplerConfig,
    example_args: tuple,
    cache_key: Any,
    *,
    batched: bool = False,
    obs_site: str | None = None,
    coords=None,
    disk_key: Any = None,
) -> tuple[Callable, Any]:
    """The compiled runner for this model, settings and data shape (built on first use), and its key.

    ``batched=True``: the runner of many datasets, arguments stacked on a leading axis.
    ``obs_site``: the observed site whose pointwise log-likelihood and posterior
    predictive the runner also returns (``None``: neither).
    ``coords``: the coordinates the sampler moves in (:mod:`bayescale.model.coords`); it must
    be the same object for the same model (it is part of the cache key by identity).
    ``disk_key``: what determines the model's program across processes (``None``: not kept on disk); the
    programs are then read from, or stored in, :mod:`bayescale.inference.executable_cache`.

    The runner maps ``(rng_key, args)`` to ``(samples, stats, warmup, loglik, pp, carry)``
    with ``(chains, draws, ...)`` leading axes (plus a dataset axis when batched); ``carry``
    holds the chains' final states, which :func:`get_extender` continues.
    """
    shapes = tuple(jnp.shape(a) for a in jax.tree_util.tree_leaves(example_args))
    key = (cache_key, config.program_key(), shapes, batched, obs_site, len(jax.local_devices()),
           None if coords is None else id(coords))
    _RUNNERS.max_size = MAX_RUNNERS
    runner, _ = _RUNNERS.get(key, lambda: _lazy_runner(model, config, example_args, key, batched, obs_site, coords,
                                                       disk_key))
    return BoundLast(runner, np.float32(config.target_accept)), key


def _lazy_runner(model, config: SamplerConfig, example_args: tuple, key: Any, batched: bool, obs_site, coords,
                 disk_key: Any) -> tuple[TwoStage, Program | None]:
    """The runner and extender of :func:`get_runner`, their programs built (the model traced) only when
    one has to be compiled, not when the executable cache has them."""
    programs = functools.cache(lambda: _build_programs(model, config, example_args, key, batched=batched,
                                                       obs_site=obs_site, coords=coords))
    on_disk = None if disk_key is None else (disk_key, config.program_key(), config.vectorized_chains(), batched,
                                              obs_site)
    runner = TwoStage(lambda: tuple(programs()[:2]), disk_key=on_disk)
    extender = None if batched else Program(lambda: programs()[2], disk_key=on_disk)
    return runner, extender


def get_extender(key: Any, target_accept: float) -> Callable:
    """The compiled extender of the single-dataset runner :func:`get_runner` returned with ``key``.

    It maps ``(carry, args)`` to ``(samples, stats, {}, loglik, pp, carry)`` for
    ``num_samples`` more draws of every chain, continued from ``carry`` (the final states
    the runner or a previous extension returned) with the step size and metric adapted
    in warmup. One program per runner, compiled on first use and reused; ``target_accept`` is the fit's
    (an argument of the program, as of the runner's).
    """
    if key not in _RUNNERS:
        raise KeyError("this runner's compiled programs were dropped (more than MAX_RUNNERS samplers compiled "
                       "since); get the runner again with get_runner before its extender")
    extender = _RUNNERS[key][1]
    if extender is None:
        raise ValueError("batched runners have no extender; extend one dataset's fit at a time")
    return BoundLast(extender, np.float32(target_accept))
