"""An observed site's pointwise log-likelihood and its distribution's location and scale, at posterior draws.

What LOO (``log_likelihood``) and the posterior predictive (``loc + scale * noise``,
:func:`bayescale.model.likelihoods.predictive_draws`) are built from. Knows no law: it traces any
NumPyro model with a draw substituted. The NUTS runner computes these inside its program
(:func:`observation`); ChEES fits compute them on first read of their InferenceData
(:func:`pointwise`), in a small program of their own: inside the batched ChEES program the
``(dataset, chain, draw, run)`` arrays cost about a fifth of its time (measured at K=256 on
2 cores, 2026-12-03), for values most batched studies never read.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from bayescale.inference.runner_cache import RunnerCache

__all__ = ["observation", "pointwise", "MAX_PROGRAMS"]

#: Most compiled pointwise programs kept (one per model, site and shape; see
#: :mod:`bayescale.inference.runner_cache`).
MAX_PROGRAMS = 8

_PROGRAMS = RunnerCache(MAX_PROGRAMS)


def observation(model, obs_site: str, args: tuple) -> Callable:
    """``sample -> (loglik, {"loc", "scale"})`` of ``obs_site`` at one draw (a dict of the model's sites).

    ``loc`` is broadcast to the observations' shape; ``scale`` keeps its own (a scalar when the
    noise is shared). Unwraps masked or independent distributions to find them.
    """

    from numpyro.handlers import substitute, trace

    def one(sample):
        site = trace(substitute(model, data=sample)).get_trace(*args)[obs_site]
        fn = site["fn"]
        loglik = fn.log_prob(site["value"])
        while hasattr(fn, "base_dist"):
            fn = fn.base_dist
        return loglik, {"loc": jnp.broadcast_to(fn.loc, loglik.shape), "scale": fn.scale}

    return one


def pointwise(model, obs_site: str, cache_key: Any, args: tuple, samples: dict) -> tuple[Any, dict]:
    """:func:`observation` at every draw of ``samples`` (arrays ``(chain, draw, ...)``), as numpy arrays.

    Compiled once per ``cache_key`` (which must identify ``model``), site and shapes.

    Examples
    --------
    >>> import numpy as np, numpyro, numpyro.distributions as dist
    >>> def m(y=None):
    ...     mu = numpyro.sample("mu", dist.Normal(0, 1))
    ...     numpyro.sample("y", dist.Normal(mu, 2.0), obs=y)
    >>> ll, pp = pointwise(m, "y", "doc", (np.zeros(3, np.float32),), {"mu": np.zeros((1, 2), np.float32)})
    >>> ll.shape, pp["loc"].shape, float(pp["scale"][0, 0])
    ((1, 2, 3), (1, 2, 3), 2.0)
    """
    shapes = tuple((jnp.shape(a), jnp.result_type(a)) for a in jax.tree_util.tree_leaves((args, samples)))
    key = (cache_key, obs_site, shapes)

    def build():
        return jax.jit(lambda a, s: jax.vmap(jax.vmap(observation(model, obs_site, a)))(s))

    return jax.device_get(_PROGRAMS.get(key, build)(args, samples))
