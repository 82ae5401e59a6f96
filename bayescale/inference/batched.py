"""Many posteriors in lockstep: ChEES-HMC (BlackJAX) over datasets x chains, one compiled program.

Prototype (issue 13). See :func:`build_chees_runner`.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jax.flatten_util import ravel_pytree
from numpyro.handlers import seed, substitute, trace
from numpyro.infer.util import unconstrain_fn

from bayescale.inference.config import SamplerConfig
from bayescale.inference.nuts import TRACE_COUNTS, _map_leading, _model_structure
from bayescale.inference.start import laplace_factor, lbfgs

__all__ = ["build_chees_runner"]


def build_chees_runner(model, config: SamplerConfig, example_args: tuple, key: Any, obs_site: str | None = None, *,
                       pool: int = 16, learning_rate: float = 0.025, target: float = 0.651,
                       shared_mode: bool = True, jitter_amount: float = 1.0, rewhiten: tuple = (),
                       burn: int = 50) -> Callable:
    import blackjax.mcmc.dynamic_hmc as dynamic_hmc
    from blackjax.adaptation.chees_adaptation import base as chees_base

    one = jax.tree_util.tree_map(lambda a: a[0], example_args)
    potential_fn_gen, postprocess_fn_gen, unravel, latent_names = _model_structure(model, one)
    C, W, S = config.num_chains, config.num_warmup, config.num_samples
    max_steps = 2 ** config.max_tree_depth
    max_bits = int(np.ceil(np.log2(W + S + 1)))

    def potential(args, zf):
        return potential_fn_gen(*args)(unravel(zf))

    def prior_start(rng_key, args):
        tr = trace(seed(model, rng_key)).get_trace(*args)
        params = {k: tr[k]["value"] for k in latent_names}
        z = unconstrain_fn(model, args, {}, params)
        return ravel_pytree({k: z[k] for k in latent_names})[0]

    def dataset_start(rng_key, args):
        """L-BFGS from each chain's prior draw; Laplace factor at the mode(s); dispersed starts."""
        k_prior, k_jit = jax.random.split(rng_key)
        pe = lambda zf: potential(args, zf)  # noqa: E731
        z0 = jax.vmap(lambda k: prior_start(k, args))(jax.random.split(k_prior, C))
        modes = jax.vmap(lambda z: lbfgs(pe, z, config.map_steps))(z0)
        if shared_mode:
            values = jax.vmap(pe)(modes)
            values = jnp.where(jnp.isfinite(values), values, jnp.inf)
            best = modes[jnp.argmin(values)]
            chol = laplace_factor(pe, best)
            shift = jnp.broadcast_to(best, modes.shape)
            scale = jnp.broadcast_to(chol, (C,) + chol.shape)
        else:
            shift = modes
            scale = jax.vmap(lambda z: laplace_factor(pe, z))(modes)
        u = jax.random.normal(k_jit, modes.shape, modes.dtype)
        excess = jax.vmap(lambda s, L, uu: pe(s + L @ uu) - pe(s))(shift, scale, u)
        ok = jnp.isfinite(excess) & (excess < modes.shape[1] + 10.0)
        u = jnp.where(ok[:, None], u, 0.0)
        return shift, scale, u

    def jitter(i):
        return dynamic_hmc.halton_sequence(i, max_bits) * jitter_amount + (1.0 - jitter_amount)

    def steps_fn(i, n_leapfrog):
        return jnp.clip(jnp.ceil(jitter(i) * n_leapfrog), 1, max_steps).astype(jnp.int32)

    kernel = dynamic_hmc.build_kernel(next_random_arg_fn=lambda i: i + 1, integration_steps_fn=steps_fn)
    ch_init, ch_update = chees_base(jitter, lambda i: i + 1, optax.adam(learning_rate), target, 0.5, max_steps)

    def run_pool(keys, args):
        """``keys (P, 2)``, args with a leading ``P`` axis: one adaptation pooled over the P datasets' chains."""
        P = keys.shape[0]
        k_start, k_run = jax.vmap(lambda k: jax.random.split(k))(keys).transpose(1, 0, 2)
        shift, scale, u0 = jax.vmap(dataset_start)(k_start, args)  # (P, C, d), (P, C, d, d), (P, C, d)
        chain_keys = jax.vmap(lambda k: jax.random.split(k, C))(k_run)  # (P, C, 2)
        dim = u0.shape[-1]

        def logdensity_of(a, s, L):
            return lambda u: -potential(a, s + L @ u)

        def init_one(u, a, s, L):
            return dynamic_hmc.init(u, logdensity_of(a, s, L), jnp.int32(0))

        per_chain = lambda f: jax.vmap(jax.vmap(f, (0, None, 0, 0)), (0, 0, 0, 0))  # noqa: E731
        states = per_chain(init_one)(u0, args, shift, scale)
        ones = jnp.ones(dim, u0.dtype)

        def move(i, states, step_size, n_leapfrog, shift, scale):
            def one(k, st, a, s, L):
                return kernel(jax.random.fold_in(k, i), st, logdensity_of(a, s, L), step_size, ones, (n_leapfrog,))

            return jax.vmap(jax.vmap(one, (0, 0, None, 0, 0)), (0, 0, 0, 0, 0))(chain_keys, states, args, shift, scale)

        flat = lambda x: x.reshape((P * C,) + x.shape[2:])  # noqa: E731

        # Re-whitening: at each iteration in ``rewhiten``, the draws of each dataset's chains since the
        # window began (``burn`` iterations after the previous event) give a dense covariance in the
        # current coordinates; the coordinates are changed so that it becomes the identity.
        in_window = np.zeros(W, bool)
        fire = np.zeros(W, bool)
        begin = burn
        for r in sorted(rewhiten):
            in_window[begin:r + 1] = True
            fire[r] = True
            begin = r + 1 + burn

        def rewhiten_now(states, shift, scale, mom):
            n, s1, s2 = mom
            mean = s1 / n[:, None]
            cov = s2 / n[:, None, None] - mean[:, :, None] * mean[:, None, :]
            cov = cov * n[:, None, None] / (n[:, None, None] - 1.0)
            w = (n / (n + 5.0))[:, None, None]
            cov = w * cov + (1.0 - w) * jnp.eye(dim, dtype=cov.dtype)
            chol = jnp.linalg.cholesky(cov)
            good = jnp.all(jnp.isfinite(chol), axis=(1, 2))
            chol = jnp.where(good[:, None, None], chol, jnp.eye(dim, dtype=cov.dtype))
            mean = jnp.where(good[:, None], mean, 0.0)
            new_shift = shift + jnp.einsum("pcij,pj->pci", scale, mean)
            new_scale = jnp.einsum("pcij,pjk->pcik", scale, chol)
            new_u = jax.vmap(lambda L, m, u: jax.scipy.linalg.solve_triangular(L, (u - m).T, lower=True).T)(
                chol, mean, states.position)
            new_states = jax.vmap(jax.vmap(
                lambda u, a, s, L, r: dynamic_hmc.init(u, logdensity_of(a, s, L), r), (0, None, 0, 0, 0)))(
                new_u, args, new_shift, new_scale, states.random_generator_arg)
            return new_states, new_shift, new_scale

        def warm_step(carry, xs):
            i, flags = xs[0], xs[1:]
            states, ad, shift, scale, mom = carry
            new, info = move(i, states, ad.step_size, ad.trajectory_length / ad.step_size, shift, scale)
            ad = ch_update(ad, flat(info.proposal.position), flat(info.proposal.momentum), flat(states.position),
                           flat(info.acceptance_rate), flat(info.is_divergent), ones)
            collect, fire_now = flags
            u = new.position
            n, s1, s2 = mom
            mom = (n + collect * C, s1 + collect * u.sum(1), s2 + collect * jnp.einsum("pci,pcj->pij", u, u))
            new, shift, scale = lax.cond(fire_now, rewhiten_now, lambda st, sh, sc, m: (st, sh, sc), new, shift, scale, mom)
            mom = jax.tree_util.tree_map(lambda m: jnp.where(fire_now, jnp.zeros_like(m), m), mom)
            return (new, ad, shift, scale, mom), (info.is_divergent, info.num_integration_steps)

        ad0 = ch_init(jnp.int32(0), jnp.asarray(0.5, u0.dtype))
        mom0 = (jnp.zeros(P, u0.dtype), jnp.zeros((P, dim), u0.dtype), jnp.zeros((P, dim, dim), u0.dtype))
        (states, ad, shift, scale, _), (wdiv, wsteps) = lax.scan(
            warm_step, (states, ad0, shift, scale, mom0), (jnp.arange(W), jnp.asarray(in_window), jnp.asarray(fire)))
        step_size = jnp.exp(ad.log_step_size_moving_average)
        n_leapfrog = jnp.exp(ad.log_trajectory_length_moving_average - ad.log_step_size_moving_average)

        def draw_step(states, i):
            new, info = move(i, states, step_size, n_leapfrog, shift, scale)
            z = jnp.einsum("pcij,pcj->pci", scale, new.position) + shift
            stats = {"diverging": info.is_divergent, "n_steps": info.num_integration_steps,
                     "acceptance_rate": info.acceptance_rate, "lp": new.logdensity, "energy": info.energy,
                     "step_size": jnp.broadcast_to(step_size, info.energy.shape)}
            return new, (z, stats)

        _, (z, stats) = lax.scan(draw_step, states, W + jnp.arange(S))
        # (S, P, C, ...) -> (P, C, S, ...)
        z = jnp.moveaxis(z, 0, 2)
        stats = {k: jnp.moveaxis(v, 0, 2) for k, v in stats.items()}
        warm = {"diverging": jnp.sum(wdiv, axis=0), "n_steps": jnp.sum(wsteps, axis=0)}
        return jax.vmap(finish)(z, stats, warm, args)

    def finish(z, stats, warm, args):
        constrain = postprocess_fn_gen(*args)
        samples = jax.vmap(jax.vmap(lambda zf: constrain(unravel(zf))))(z)
        if obs_site is None:
            return samples, stats, warm, None, None

        def observation(sample):
            site = trace(substitute(model, data=sample)).get_trace(*args)[obs_site]
            fn = site["fn"]
            loglik = fn.log_prob(site["value"])
            while hasattr(fn, "base_dist"):
                fn = fn.base_dist
            return loglik, {"loc": jnp.broadcast_to(fn.loc, loglik.shape), "scale": fn.scale}

        loglik, params = jax.vmap(jax.vmap(observation))(samples)
        return samples, stats, warm, loglik, params

    def run(rng_keys, args):
        TRACE_COUNTS[key] += 1
        K = rng_keys.shape[0]
        G = K // pool
        grouped = jax.tree_util.tree_map(lambda a: a.reshape((G, pool) + a.shape[1:]), (rng_keys, args))
        out = _map_leading(lambda ka: run_pool(*ka), grouped, vectorize=False)
        return jax.tree_util.tree_map(lambda a: a.reshape((K,) + a.shape[2:]), out)

    return jax.jit(run)
