"""User-defined laws: any JAX function of parameters and covariates, with priors, and no library change."""

from __future__ import annotations

from typing import Callable, Mapping

import jax.numpy as jnp

from bayescale.errors import ConfigError
from bayescale.model.law import Law
from bayescale.model.priors import Prior

__all__ = ["custom_law"]


def custom_law(
    fn: Callable,
    *,
    priors: Mapping[str, Prior],
    covariates: tuple[str, ...] = ("N", "D"),
    name: str = "custom",
    formula: str | None = None,
    frontier: bool | None = None,
) -> Law:
    """A law from any JAX function ``fn(params, covariates) -> loss``, with no change to the library.

    Parameters
    ----------
    fn : callable
        Pure JAX: ``params`` is a dict of arrays (one per prior), ``covariates`` a
        dict of arrays on the natural scale (``"N"``, ``"D"``, ``"C"``, ``"U"`` as
        listed); returns the (positive) loss, broadcasting like its inputs.
    priors : dict of Prior
        One prior per parameter; these are sampled directly (choose them on the
        scale of your data).
    covariates : tuple of str
        What ``fn`` reads, from ``("N", "D", "C", "U")``.
    name, formula : str
        How the law is labelled (the name is saved with a fit; pass the law back
        to :func:`bayescale.load`).
    frontier : bool, optional
        Whether the law has a compute-optimal frontier (numerical, along 6ND = C);
        default: when ``covariates == ("N", "D")``.

    Examples
    --------
    >>> import jax.numpy as jnp, bayescale as bs
    >>> law = bs.custom_law(
    ...     lambda p, x: p["E"] + p["A"] * jnp.exp(-p["k"] * jnp.log(x["C"])),
    ...     priors={"E": bs.Prior("LogNormal", loc=0.0, scale=1.0),
    ...             "A": bs.Prior("LogNormal", loc=3.0, scale=2.0),
    ...             "k": bs.Prior("LogNormal", loc=-2.0, scale=1.0)},
    ...     covariates=("C",), name="my_law")
    >>> law.param_names, law.has_frontier
    (('E', 'A', 'k'), False)
    """
    if not callable(fn):
        raise ConfigError(f"custom_law needs a function fn(params, covariates) -> loss, got {fn!r}")
    if not isinstance(priors, Mapping) or not priors:
        raise ConfigError("custom_law needs priors={'name': bs.Prior(...), ...}, one per parameter of fn")
    for k, p in priors.items():
        if not isinstance(p, Prior):
            raise ConfigError(f"prior for {k!r} must be a bayescale.Prior, e.g. Prior('LogNormal', loc=0, scale=1); got {p!r}")
    covariates = tuple(covariates)
    names = tuple(priors)

    def log_loss(params, *xs):
        return jnp.log(fn(dict(params), dict(zip(covariates, xs))))

    def sampled(s, ref, *log_xs):
        return jnp.log(fn({k: s[k] for k in names}, {c: jnp.exp(v) for c, v in zip(covariates, log_xs)}))

    if frontier is None:
        frontier = covariates == ("N", "D")
    return Law(
        name=name,
        formula=formula or f"{name}({', '.join(covariates)}; {', '.join(names)})",
        param_names=names,
        sampled_names=names,
        default_priors=dict(priors),
        log_loss=log_loss,
        sampled_log_loss=sampled,
        derived=lambda s, ref: {},
        covariates=covariates,
        positive=frozenset(k for k, p in priors.items() if p.positive),
        has_frontier=bool(frontier),
    )
