"""Compiled NUTS: one XLA program per (model, settings, data shape), reused.

The sampler is NumPyro's NUTS kernel (``numpyro.infer.hmc.hmc``) with its
windowed step-size and mass-matrix adaptation. What this module adds is the
driver around it, written so the whole fit is one jitted function of the data:

1. each chain starts from a prior draw and runs L-BFGS (optax) to the posterior
   mode in the unconstrained space;
2. warmup starts from a draw of the Laplace approximation there (so chains are
   dispersed), with the inverse Hessian as the initial (dense) inverse mass matrix;
3. warmup and sampling run as one ``lax.scan`` over NumPyro's ``sample_kernel``
   (one compiled copy of the kernel); chains are vectorised with ``vmap``, and split
   across host devices when JAX has several.

Because data are arguments, a refit of same-shaped data reuses the compiled
program (:data:`TRACE_COUNTS` counts traces; the tests check it), and the same
program is mapped over datasets by :func:`bayescale.fit_many`. Compiled programs
also persist across processes in JAX's compilation cache (:mod:`bayescale.compile_cache`).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections import Counter
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jax.flatten_util import ravel_pytree
from numpyro.handlers import seed, trace
from numpyro.infer.hmc import hmc
from numpyro.infer import Predictive
from numpyro.infer.util import initialize_model, log_likelihood, unconstrain_fn

from bayescale._progress import scan_with_progress
from bayescale.errors import ConfigError

__all__ = ["SamplerConfig", "TRACE_COUNTS", "get_runner", "clear_cache"]

#: How many times each compiled runner was traced (keyed by cache key). A refit of
#: same-shaped data must not add to it.
TRACE_COUNTS: Counter = Counter()

_RUNNERS: dict[Any, Callable] = {}


def _default_progress_bar() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """NUTS settings. All keyword-only and validated.

    Parameters
    ----------
    num_chains, num_warmup, num_samples : int
        Chains, warmup iterations and kept draws per chain (default 4 x (1000 + 1000)).
    target_accept : float
        Target mean acceptance probability of the step-size adaptation, in (0, 1).
    max_tree_depth : int
        NUTS tree depth limit (at most ``2**max_tree_depth`` leapfrog steps per draw).
    dense_mass : bool
        Adapt a dense inverse mass matrix (default) or a diagonal one.
    map_steps : int
        L-BFGS iterations for each chain's starting point (0 starts from a prior draw).
    progress_bar : bool or None
        ``None`` shows one on a terminal and never under CI.
    """

    num_chains: int = 4
    num_warmup: int = 1000
    num_samples: int = 1000
    target_accept: float = 0.8
    max_tree_depth: int = 10
    dense_mass: bool = True
    map_steps: int = 100
    progress_bar: bool | None = None

    def __post_init__(self) -> None:
        for name in ("num_chains", "num_samples"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")
        for name in ("num_warmup", "map_steps"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"{name} must be a non-negative integer, got {v!r}")
        if not (isinstance(self.target_accept, (float, int)) and 0.0 < float(self.target_accept) < 1.0):
            raise ConfigError(f"target_accept must be in (0, 1), e.g. 0.8 or 0.95; got {self.target_accept!r}")
        if not isinstance(self.max_tree_depth, (int, np.integer)) or not 1 <= self.max_tree_depth <= 15:
            raise ConfigError(f"max_tree_depth must be an integer in [1, 15], got {self.max_tree_depth!r}")
        if self.progress_bar is None:
            object.__setattr__(self, "progress_bar", _default_progress_bar())

    def compile_key(self) -> tuple:
        return (
            self.num_chains,
            self.num_warmup,
            self.num_samples,
            float(self.target_accept),
            self.max_tree_depth,
            self.dense_mass,
            self.map_steps,
            bool(self.progress_bar),
        )


def clear_cache() -> None:
    """Forget every compiled sampler (the next fit compiles again)."""
    _RUNNERS.clear()


def _lbfgs(f: Callable, x0: jnp.ndarray, steps: int) -> jnp.ndarray:
    """Minimise ``f`` from ``x0`` with optax's L-BFGS (zoom line search), ``steps`` iterations."""
    opt = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(f)

    def body(carry, _):
        x, state = carry
        value, grad = value_and_grad(x, state=state)
        updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=f)
        x_new = optax.apply_updates(x, updates)
        ok = jnp.all(jnp.isfinite(x_new))
        return (jnp.where(ok, x_new, x), state), None

    (x, _), _ = lax.scan(body, (x0, opt.init(x0)), None, length=steps)
    return x


def _laplace(f: Callable, x: jnp.ndarray):
    """Inverse Hessian of ``f`` at ``x`` and its Cholesky factor, regularised to be positive definite.

    Falls back to the identity where the Hessian is not finite. This is only the
    starting point of NumPyro's mass-matrix adaptation, never the final answer.
    """
    dim = x.shape[0]
    hess = jax.hessian(f)(x)
    hess = 0.5 * (hess + hess.T)
    eigval, eigvec = jnp.linalg.eigh(hess)
    ok = jnp.all(jnp.isfinite(eigval)) & jnp.all(jnp.isfinite(eigvec))
    # |eigenvalue|: at a kink (Laplace-like likelihoods such as Huber) the Hessian can be
    # indefinite; its curvature magnitudes still give sensible scales.
    eigval = jnp.clip(jnp.abs(eigval), 1e-3, None)
    inv = (eigvec / eigval) @ eigvec.T
    chol = eigvec / jnp.sqrt(eigval)
    eye = jnp.eye(dim, dtype=x.dtype)
    return jnp.where(ok, inv, eye), jnp.where(ok, chol, eye)


def _build_runner(
    model, config: SamplerConfig, example_args: tuple, key: Any, batched: bool = False, obs_site: str | None = None
) -> Callable:
    """Trace the model once to learn its latent structure, then build the jitted runner.

    ``batched=True`` builds the runner of many same-shaped datasets at once: its
    arguments carry a leading dataset axis (keys ``(K, 2)``, arrays ``(K, n)``).
    """
    if batched:
        example_args = jax.tree_util.tree_map(lambda a: a[0], example_args)
    info = initialize_model(jax.random.PRNGKey(0), model, model_args=example_args, dynamic_args=True)
    potential_fn_gen = info.potential_fn
    postprocess_fn_gen = info.postprocess_fn
    z_example = info.param_info.z
    _, unravel = ravel_pytree(z_example)
    latent_names = tuple(sorted(z_example))
    num_warmup, num_samples = config.num_warmup, config.num_samples

    def potential_flat_gen(*args):
        pe = potential_fn_gen(*args)
        return lambda zf: pe(unravel(zf))

    def prior_start(rng_key, args):
        tr = trace(seed(model, rng_key)).get_trace(*args)
        params = {k: tr[k]["value"] for k in latent_names}
        z = unconstrain_fn(model, args, {}, params)
        return ravel_pytree({k: z[k] for k in latent_names})[0]

    def one_chain(rng_key, args):
        k_prior, k_jitter, k_nuts = jax.random.split(rng_key, 3)
        pe = potential_flat_gen(*args)
        z0 = prior_start(k_prior, args)
        if config.map_steps > 0:
            z_map = _lbfgs(pe, z0, config.map_steps)
            inv_mass, chol = _laplace(pe, z_map)
            z_start = z_map + chol @ jax.random.normal(k_jitter, z_map.shape, z_map.dtype)
            # Keep the jittered start only where the Laplace draw is plausible (a chi^2_dim / 2
            # excess far beyond its mean means the quadratic approximation failed).
            excess = pe(z_start) - pe(z_map)
            plausible = jnp.isfinite(excess) & (excess < z_map.shape[0] + 10.0)
            z_start = jnp.where(plausible, z_start, z_map)
        else:
            inv_mass = None
            z_start = z0
        if not config.dense_mass and inv_mass is not None:
            inv_mass = jnp.diag(inv_mass)
        init_kernel, sample_kernel = hmc(potential_fn_gen=potential_flat_gen, algo="NUTS")
        state = init_kernel(
            z_start,
            num_warmup,
            inverse_mass_matrix=inv_mass,
            dense_mass=config.dense_mass,
            target_accept_prob=float(config.target_accept),
            max_tree_depth=config.max_tree_depth,
            find_heuristic_step_size=True,
            model_args=args,
            rng_key=k_nuts,
        )

        def step(state, _):
            state = sample_kernel(state, model_args=args)
            stats = {
                "diverging": state.diverging,
                "n_steps": state.num_steps,
                "acceptance_rate": state.mean_accept_prob,
                "lp": -state.potential_energy,
                "energy": state.energy,
                "step_size": state.adapt_state.step_size,
            }
            return state, (state.z, stats)

        # One scan over warmup and draws: NumPyro's kernel switches from adapting to
        # sampling by its iteration counter, so one copy of the kernel is compiled.
        state, (z, stats) = scan_with_progress(
            step, state, num_warmup + num_samples, enabled=bool(config.progress_bar)
        )
        warm = {"diverging": jnp.sum(stats["diverging"][:num_warmup]), "n_steps": jnp.sum(stats["n_steps"][:num_warmup])}
        z = z[num_warmup:]
        stats = {k: v[num_warmup:] for k, v in stats.items()}
        return z, stats, warm

    def finish(rng_key, z, stats, warm, args):
        """Constrained draws and, with ``obs_site``, the pointwise log-likelihood and posterior
        predictive of that site (the observations are the last model argument)."""
        constrain = postprocess_fn_gen(*args)
        samples = jax.vmap(jax.vmap(lambda zf: constrain(unravel(zf))))(z)
        if obs_site is None:
            return samples, stats, warm, None, None
        pp_key = jax.random.fold_in(rng_key, config.num_chains)
        loglik = log_likelihood(model, samples, *args, batch_ndims=2)[obs_site]
        pp = Predictive(model, posterior_samples=samples, batch_ndims=2, return_sites=[obs_site])(pp_key, *args[:-1])
        return samples, stats, warm, loglik, pp[obs_site]

    def run_one(rng_key, args, shard_chains):
        keys = jax.random.split(rng_key, config.num_chains)
        # Chains are vmapped: one vectorised NUTS step for all chains (measured faster per
        # draw on CPU than ``lax.map``), split across host devices when JAX has several.
        z, stats, warm = _map_leading(lambda k: one_chain(k, args), keys, vectorize=True, shard=shard_chains)
        return finish(rng_key, z, stats, warm, args)

    if batched:
        # Many datasets at once: one compiled program that runs the single-fit program for each
        # dataset in turn (``lax.map``), blocks of datasets in parallel across host devices. Not a
        # vmap over datasets: vmapped NUTS advances all lanes in lockstep, so each iteration costs
        # the longest tree of any chain of any dataset (measured ~10x slower than a loop at K=16).
        def run(rng_keys, args):
            TRACE_COUNTS[key] += 1
            return _map_leading(lambda ka: run_one(*ka, False), (rng_keys, args), vectorize=False)
    else:
        def run(rng_key, args):
            TRACE_COUNTS[key] += 1
            return run_one(rng_key, args, True)

    return jax.jit(run)


def _map_leading(f: Callable, xs: Any, *, vectorize: bool = False, shard: bool = True):
    """Map ``f`` over the leading axis of ``xs``, split across the local devices when there are several.

    With one device this is ``lax.map`` (sequential) or ``vmap`` (``vectorize=True``).
    With ``d > 1`` devices (e.g. ``XLA_FLAGS=--xla_force_host_platform_device_count=2``) and a
    leading axis divisible by ``d``, each device maps over its own block (``jax.shard_map``), so
    independent chains or datasets run in parallel on separate cores.
    """
    inner = jax.vmap(f) if vectorize else (lambda x: lax.map(f, x))
    devices = jax.local_devices()
    n = jax.tree_util.tree_leaves(xs)[0].shape[0]
    if not shard or len(devices) < 2 or n % len(devices):
        return inner(xs)
    from jax.sharding import Mesh, PartitionSpec

    mesh = Mesh(np.asarray(devices), ("i",))
    return jax.shard_map(inner, mesh=mesh, in_specs=PartitionSpec("i"), out_specs=PartitionSpec("i"), check_vma=False)(xs)


def get_runner(
    model,
    config: SamplerConfig,
    example_args: tuple,
    cache_key: Any,
    *,
    batched: bool = False,
    obs_site: str | None = None,
) -> tuple[Callable, Any]:
    """The compiled runner for this model, settings and data shape (built on first use).

    ``batched=True``: the runner of many datasets, arguments stacked on a leading axis.
    ``obs_site``: the observed site whose pointwise log-likelihood and posterior
    predictive the runner also returns (``None``: neither).

    The runner maps ``(rng_key, args)`` to ``(samples, stats, warmup, loglik, pp)``
    with ``(chains, draws, ...)`` leading axes (plus a dataset axis when batched).
    """
    shapes = tuple(jnp.shape(a) for a in jax.tree_util.tree_leaves(example_args))
    key = (cache_key, config.compile_key(), shapes, batched, obs_site, len(jax.local_devices()))
    if key not in _RUNNERS:
        _RUNNERS[key] = _build_runner(model, config, example_args, key, batched=batched, obs_site=obs_site)
    return _RUNNERS[key], key
