""":class:`PartialPooling`: a hierarchical model whose groups sample like independent fits.

Every sampled parameter ``theta`` of the law is, per the user's choice,

- **pooled** (default): group ``g``'s value drawn around a population value on the parameter's
  unconstrained scale, ``T^-1(theta_g) ~ Normal(mu_theta, tau_theta)``. ``T`` is ``exp`` for a
  LogNormal prior (``mu`` then takes the prior's ``Normal(loc, scale)`` on ``log theta``), the identity for a
  Normal one, and the support's bijection otherwise (``mu`` takes the prior pushed to the unconstrained
  scale); ``tau`` takes the law's spread prior (:meth:`~bayescale.model.law.Law.spread_prior`);
- **shared**: one value for every group, with the law's prior;
- **independent**: one value per group, each with the law's prior (no population).

The model is written centred (the group values are its sites); NUTS moves in coordinates where each
group's pooled parameters are drawn given the population, adapted at each chain's start to how much
the group's own runs say (:mod:`bayescale.model.group_coords`): centred where a group's data pin its
parameters, non-centred where they do not, with no choice to make. The law's own sampler coordinates
(Chinchilla's straightened ``E``-``A``-``B`` ridge) apply where no pooled parameter is involved.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from bayescale.errors import ConfigError
from bayescale.model.group_coords import conditional_coords
from bayescale.model.law import Law
from bayescale.model.pooling_base import POPULATION_STREAM, Grouped

__all__ = ["PartialPooling"]


def _unconstrained(prior):
    """``(population distribution of mu, link)``: ``theta = link(mu + tau z)``, for NumPy or JAX arrays."""
    import numpyro.distributions as dist
    from numpyro.distributions.transforms import biject_to

    if prior.dist == "LogNormal":
        return dist.Normal(prior.params["loc"], prior.params["scale"]), "exp"
    if prior.dist == "Normal":
        return dist.Normal(prior.params["loc"], prior.params["scale"]), "identity"
    d = prior.to_numpyro()
    return dist.TransformedDistribution(d, biject_to(d.support).inv), biject_to(d.support)


def _apply_link(link, x, xp):
    if link == "exp":
        return xp.exp(x)
    if link == "identity":
        return x
    return np.asarray(link(jnp.asarray(x)), dtype=np.float64) if xp is np else link(x)


def _group_dist(mu, tau, link):
    """A group's value given the population: ``link(Normal(mu, tau))``; NumPyro's unconstrained value of
    the site is the Normal variate (its support's bijection is ``link``)."""
    import numpyro.distributions as dist

    if link == "exp":
        return dist.LogNormal(mu, tau)
    if link == "identity":
        return dist.Normal(mu, tau)
    return dist.TransformedDistribution(dist.Normal(mu, tau), link)


def _names(value, field: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    try:
        out = tuple(value)
    except TypeError:
        raise ConfigError(f"PartialPooling({field}=...) takes parameter names, e.g. ('E',); got {value!r}") from None
    if not all(isinstance(v, str) for v in out):
        raise ConfigError(f"PartialPooling({field}=...) takes parameter names (strings), got {value!r}")
    return out


#: Coordinates already built, by (law, pooling): the runner cache keys them by identity.
_COORDS: dict = {}


@dataclasses.dataclass(frozen=True, eq=False)
class PartialPooling(Grouped):
    """Group parameters drawn from a population; per parameter pooled (default), shared or independent.

    Parameters
    ----------
    shared : tuple of str
        Sampled parameters with one value for every group (e.g. ``("E",)``: one irreducible loss for
        recipes scored on one evaluation set).
    independent : tuple of str
        Sampled parameters each group has its own of, with the law's prior and no population (a new
        group's value is then a prior draw).

    The names are the law's sampled parameters (``law.sampled_names``; Chinchilla: ``E``, ``A_ref``,
    ``B_ref``, ``alpha``, ``beta``); every other one is pooled. ``"partial"`` is ``PartialPooling()``.

    Examples
    --------
    >>> import bayescale as bs
    >>> p = bs.PartialPooling(shared=("E",))
    >>> p.roles(bs.CHINCHILLA)["E"], p.roles(bs.CHINCHILLA)["alpha"], p == "partial"
    ('shared', 'pooled', True)
    >>> sorted(k for k in bs.ScalingModel(pooling=p).priors if k.startswith("tau_"))
    ['tau_A_ref', 'tau_B_ref', 'tau_alpha', 'tau_beta']
    """

    shared: tuple[str, ...] = ()
    independent: tuple[str, ...] = ()

    name: ClassVar[str] = "partial"
    has_population: ClassVar[bool] = True

    def __post_init__(self) -> None:
        for field in ("shared", "independent"):
            object.__setattr__(self, field, _names(getattr(self, field), field))
        both = set(self.shared) & set(self.independent)
        if both:
            raise ConfigError(f"PartialPooling: {sorted(both)} cannot be both shared and independent")

    def roles(self, law: Law) -> dict[str, str]:
        unknown = sorted((set(self.shared) | set(self.independent)) - set(law.sampled_names))
        if unknown:
            raise ConfigError(f"PartialPooling names {unknown}, which law {law.name!r} does not sample; its sampled "
                              f"parameters are {list(law.sampled_names)}")
        roles = {k: "shared" if k in self.shared else "independent" if k in self.independent else "pooled"
                 for k in law.sampled_names}
        if "pooled" not in roles.values():
            raise ConfigError(f"PartialPooling{self._args()} pools no parameter: use pooling='complete' (all "
                              "shared) or pooling='none' (all independent)")
        return roles

    def pooled(self, law: Law) -> list[str]:
        """The sampled parameters drawn from a population."""
        return [k for k, r in self.roles(law).items() if r == "pooled"]

    def per_group_sites(self, law):
        """Per-group sites the law's own coordinates may act on: the independent ones (the pooled ones
        move in the population's coordinates)."""
        return {k for k, r in self.roles(law).items() if r == "independent"}

    def priors(self, law):
        return {f"tau_{k}": law.spread_prior(k) for k in self.pooled(law)}

    def sample_params(self, law, priors, n_groups):
        import numpyro

        roles, out = self.roles(law), {}
        for k in law.sampled_names:
            if roles[k] == "shared":
                out[k] = numpyro.sample(k, priors[k].to_numpyro())
            elif roles[k] == "independent":
                with numpyro.plate("groups", n_groups):
                    out[k] = numpyro.sample(k, priors[k].to_numpyro())
            else:
                pop, link = _unconstrained(priors[k])
                mu = numpyro.sample(f"mu_{k}", pop)
                tau = numpyro.sample(f"tau_{k}", priors[f"tau_{k}"].to_numpyro())
                with numpyro.plate("groups", n_groups):
                    out[k] = numpyro.sample(k, _group_dist(mu, tau, link))
        return out

    def diagnostic_names(self, law):
        return list(law.param_names) + [f"{p}_{k}" for p in ("mu", "tau") for k in self.pooled(law)]

    def sampler_coords(self, law):
        """The population's adaptive coordinates for the pooled parameters
        (:func:`~bayescale.model.group_coords.conditional_coords`), with the law's own on the others where
        they apply (:meth:`Grouped.sampler_coords`). One object per (law, pooling): the compiled sampler is
        cached by its identity."""
        cache_key = (id(law), self.key)
        if cache_key not in _COORDS:
            pooled = self.pooled(law)
            inner = super().sampler_coords(law)
            if inner is not None and set(inner.sites) & set(pooled):
                inner = None
            from numpyro.distributions.transforms import biject_to

            links = {k: biject_to(law.spread_prior(k).to_numpyro().support) for k in pooled}
            _COORDS[cache_key] = (law, conditional_coords(pooled, links, inner))  # the law kept: its id stays unique
        return _COORDS[cache_key][1]

    def population_draws(self, fit, seed: int = 0):
        """Draws of a new group's parameters: pooled ones from the population, shared ones as fitted,
        independent ones from their prior (the other groups say nothing about them). The same ``seed``, the
        same new group."""
        law, roles = fit.law, self.roles(fit.law)
        rng = np.random.default_rng([int(seed), POPULATION_STREAM])
        sampled = {}
        for k in law.sampled_names:
            if roles[k] == "pooled":
                mu = fit.posterior_array(f"mu_{k}").reshape(-1)
                tau = fit.posterior_array(f"tau_{k}").reshape(-1)
                eps = rng.standard_normal(mu.shape)
                sampled[k] = _apply_link(_unconstrained(fit.priors[k])[1], mu + tau * eps, np)
            elif roles[k] == "shared":
                sampled[k] = fit.posterior_array(k).reshape(-1)
            else:
                size = fit.posterior_array(k)[..., 0].size
                draws = fit.priors[k].to_numpyro().sample(jax.random.fold_in(jax.random.PRNGKey(int(seed)), POPULATION_STREAM), (size,))
                sampled[k] = np.asarray(draws, dtype=np.float64)
        ref = {k: float(v) for k, v in fit.ref.items()}
        natural = {k: np.asarray(v) for k, v in law.derived(sampled, ref).items()}
        return {k: np.asarray(natural.get(k, sampled.get(k)), dtype=np.float64) for k in law.param_names}

    def to_dict(self) -> dict:
        return {"name": self.name, "shared": list(self.shared), "independent": list(self.independent)}

    @property
    def key(self) -> tuple:
        return (self.name, self.shared, self.independent)

    @property
    def label(self) -> str:
        parts = [f"{f} {','.join(getattr(self, f))}" for f in ("shared", "independent") if getattr(self, f)]
        return self.name + (f"({'; '.join(parts)})" if parts else "")

    def _args(self) -> str:
        return "(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in ("shared", "independent") if getattr(self, f)) + ")"

    def __repr__(self) -> str:
        return f"PartialPooling{self._args()}"
