"""What the NUTS and ChEES samplers share: the flat latent vector they move in, and mapping over devices.

:class:`LatentSpace` holds a model's structure learnt by tracing it once (NumPyro's potential and
postprocess generators, the unravel of the flat latent vector, the latent names) and the sampler's
coordinates (``coords``, :mod:`bayescale.model.coords`): the potential in those coordinates (with the
Jacobian term), a chain's start from a prior draw, and the map back to the model's coordinates.
:func:`plausible_jitter` keeps a dispersed Laplace start only where the approximation holds, and
:func:`map_leading` runs chains (or datasets) across the host devices. Knows no scaling law.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree

__all__ = ["LatentSpace", "model_structure", "plausible_jitter", "map_leading"]


def model_structure(model, example_args: tuple):
    """NumPyro's potential and postprocess generators, the unravel of the flat latent vector,
    and the latent names, learnt by tracing ``initialize_model`` abstractly.

    Run eagerly, ``initialize_model`` executes the model op by op and compiles a small XLA
    program for each operation (about 5 s on 2 CPU cores, most of a cached cold fit);
    under ``jax.eval_shape`` nothing is executed or compiled. What is kept closes over
    shapes and constant transforms only, never the tracers.
    """
    from numpyro.infer.util import initialize_model

    box = {}

    def structure(rng_key, args):
        info = initialize_model(rng_key, model, model_args=args, dynamic_args=True)
        flat, unravel = ravel_pytree(info.param_info.z)
        box.update(potential=info.potential_fn, postprocess=info.postprocess_fn, unravel=unravel,
                   names=tuple(sorted(info.param_info.z)))
        return flat

    abstract = lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a))  # noqa: E731
    jax.eval_shape(structure, jax.ShapeDtypeStruct((2,), jnp.uint32), jax.tree_util.tree_map(abstract, example_args))
    return box["potential"], box["postprocess"], box["unravel"], box["names"]


class LatentSpace:
    """A model's flat latent vector in the coordinates a sampler moves in.

    ``coords`` (:class:`~bayescale.model.coords.SamplerCoords`): the sampler's coordinates, mapped onto
    the model's unconstrained ones (``None``: those). ``example_args``: one dataset's model arguments.
    """

    def __init__(self, model, example_args: tuple, coords=None):
        self.model, self.coords = model, coords
        self.potential_fn_gen, self.postprocess_fn_gen, self.unravel, self.latent_names = model_structure(
            model, example_args)

    @property
    def adaptive(self) -> bool:
        """Whether the coordinates depend on each chain's start (``coords.adapt``: hierarchical models)."""
        return getattr(self.coords, "adapt", None) is not None

    def coord_fn(self, name: str, state=None) -> Callable:
        """One of the coordinates' functions, given the chain's ``state`` when they adapt to it."""
        fn = getattr(self.coords, name)
        return fn if not self.adaptive else (lambda x: fn(x, state))

    def to_model(self, xf, state=None):
        """Sampler coordinates (flat) -> the model's unconstrained coordinates (flat)."""
        if self.coords is None:
            return xf
        return ravel_pytree(self.coord_fn("to_model", state)(self.unravel(xf)))[0]

    def potential(self, args, state=None) -> Callable:
        """The potential (negative log density) of the flat sampler coordinates given the model's ``args``
        (and, for adapting coordinates, the chain's ``state``).

        It is one jitted function per space, inlined where it is called (``inline=True``): JAX traces the model
        once per argument signature, not at each of the potential's calls in a program (L-BFGS's line search, the
        Hessian, NUTS); the program XLA gets, and so every draw, is the same.
        """
        return lambda xf: self._jitted_potential(xf, args, state)

    @functools.cached_property
    def _jitted_potential(self) -> Callable:
        return jax.jit(lambda xf, args, state: self._potential_fn(args, state)(xf), inline=True)

    def _potential_fn(self, args, state=None) -> Callable:
        pe, coords, unravel = self.potential_fn_gen(*args), self.coords, self.unravel
        if coords is None:
            return lambda xf: pe(unravel(xf))
        fwd = self.coord_fn("to_model", state)
        if coords.log_det is None:
            return lambda xf: pe(fwd(unravel(xf)))
        log_det = self.coord_fn("log_det", state)
        return lambda xf: pe(fwd(unravel(xf))) - log_det(unravel(xf))

    def prior_start(self, rng_key, args):
        """A draw from the prior, as a flat vector of sampler coordinates."""
        from numpyro.handlers import seed, trace
        from numpyro.infer.util import unconstrain_fn

        tr = trace(seed(self.model, rng_key)).get_trace(*args)
        params = {k: tr[k]["value"] for k in self.latent_names}
        z = unconstrain_fn(self.model, args, {}, params)
        z = {k: z[k] for k in self.latent_names}
        return ravel_pytree(z if self.coords is None else self.coord_fn("from_model", None)(z))[0]

    def constrain(self, args) -> Callable:
        """The map of flat *model* coordinates to the constrained values of every site."""
        postprocess, unravel = self.postprocess_fn_gen(*args), self.unravel
        return lambda zf: postprocess(unravel(zf))


def plausible_jitter(potential: Callable, mode, chol, u):
    """``u``, a standard normal draw of the Laplace approximation ``mode + chol @ u``, or zeros where that
    draw is implausible: its potential's excess over the mode's, a chi^2_dim / 2 variable where the
    quadratic approximation holds, is not finite or far beyond its mean."""
    excess = potential(mode + chol @ u) - potential(mode)
    plausible = jnp.isfinite(excess) & (excess < mode.shape[0] + 10.0)
    return jnp.where(plausible, u, jnp.zeros_like(u))


def map_leading(f: Callable, xs: Any, *, vectorize: bool = False, shard: bool = True):
    """Map ``f`` over the leading axis of ``xs``, split across the local devices when there are several.

    With one device this is ``lax.map`` (sequential) or ``vmap`` (``vectorize=True``).
    With several (on CPU, one per core: :mod:`bayescale.inference.devices`), the most devices that
    divide the leading axis each map over their own block (``jax.shard_map``), so
    independent chains or datasets run in parallel on separate cores.
    """
    inner = jax.vmap(f) if vectorize else (lambda x: lax.map(f, x))
    devices = jax.local_devices()
    n = jax.tree_util.tree_leaves(xs)[0].shape[0]
    # The most devices that split the leading axis evenly (4 chains on 16 cores: 4 devices).
    use = max((d for d in range(1, len(devices) + 1) if n % d == 0), default=1)
    if not shard or use < 2:
        return inner(xs)
    from jax.sharding import Mesh, PartitionSpec

    mesh = Mesh(np.asarray(devices[:use]), ("i",))
    return jax.shard_map(inner, mesh=mesh, in_specs=PartitionSpec("i"), out_specs=PartitionSpec("i"), check_vma=False)(xs)
