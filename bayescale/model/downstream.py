"""What a downstream fit fits: a link from loss to accuracy, beta-binomial scores, and their priors.

:class:`DownstreamModel` is the link (:mod:`bayescale.model.links`) plus the priors of its parameters and of
the over-dispersion ``tau`` (:mod:`bayescale.model.beta_binomial`); :func:`downstream_program` is its NumPyro
program, a plain function with the observations optional (prior predictive, fitting and ``Predictive``
alike). One program serves every (task, group) unit: the task's chance accuracy and reference loss are
arguments, so many tasks are sampled by one compiled call (:func:`bayescale.fit_downstream`).

Priors (:meth:`DownstreamModel.build` merges the user's over these): the link's
(:mod:`bayescale.model.links`) and ``tau ~ HalfNormal(0.1)``: a run's accuracy scatters beyond the items'
binomial noise by about ``tau * sqrt(p (1 - p))`` (``tau / 2`` at 50%), a few points at most a priori;
``tau -> 0`` is the binomial.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import numpyro

from bayescale.model.beta_binomial import BetaBinomialCorrect
from bayescale.model.links import LINKS, Link, resolve_link, transition_loss
from bayescale.model.priors import Prior, merge_priors

__all__ = ["DownstreamModel", "downstream_program", "OBS", "TAU", "TAU_PRIOR", "downstream_args", "unit_reference"]

#: Site name of the observed correct answers.
OBS = "correct"
#: Site name of the over-dispersion.
TAU = "tau"
#: Default prior of the over-dispersion.
TAU_PRIOR = Prior._builtin("HalfNormal", scale=0.1)


@dataclasses.dataclass(frozen=True, eq=False)
class DownstreamModel:
    """A link and the priors of its parameters and of ``tau``. Build it with :meth:`build`."""

    link: Link
    priors: Mapping[str, Prior]

    @classmethod
    def build(cls, link: str | Link = "sigmoid", priors: Mapping[str, Prior] | None = None) -> "DownstreamModel":
        """The link (a name in :data:`~bayescale.model.links.LINKS` or a Link) with its default priors, ``tau``'s,
        and the user's overrides (``|``; unknown names raise :class:`~bayescale.errors.PriorError`).

        Examples
        --------
        >>> from bayescale.model.downstream import DownstreamModel
        >>> DownstreamModel.build("sigmoid").priors["tau"]
        Prior('HalfNormal', scale=0.1)
        """
        link = resolve_link(link)
        defaults = {**link.default_priors, TAU: TAU_PRIOR}
        return cls(link=link, priors=merge_priors(defaults, priors, positive=frozenset({TAU})))

    @property
    def cache_key(self) -> tuple:
        """What the compiled sampler depends on: the link (by identity) and the priors."""
        return ("downstream", self.link.name, id(self.link), self._prior_reprs)

    @property
    def program_key(self) -> str | None:
        """What determines the compiled sampler across processes (it keys the program kept on disk,
        :mod:`bayescale.inference.executable_cache`): the link's name and the priors; ``None`` for a custom link
        (its function may close over anything), whose program is compiled in each process.

        Examples
        --------
        >>> import bayescale as bs
        >>> from bayescale.model.downstream import DownstreamModel
        >>> DownstreamModel.build("sigmoid").program_key == DownstreamModel.build("sigmoid").program_key
        True
        >>> link = bs.custom_link(lambda p, x: p["a"] + 0 * x["L"], priors={"a": bs.Prior("Uniform", low=0, high=1)})
        >>> DownstreamModel.build(link).program_key is None
        True
        """
        if LINKS.get(self.link.name) is not self.link:
            return None
        return repr(("downstream", self.link.name, self._prior_reprs))

    @property
    def _prior_reprs(self) -> tuple:
        """The priors as the program keys name them: ``((name, repr(prior)), ...)``."""
        return tuple((k, repr(p)) for k, p in self.priors.items())

    @functools.cached_property
    def program(self):
        """The NumPyro program of this model, ``program(X, ref, correct=None)``."""
        return functools.partial(downstream_program, model=self)

    @property
    def sampled_names(self) -> tuple[str, ...]:
        return (*self.link.param_names, TAU)

    def expected(self, draws: Mapping[str, np.ndarray], L, ref: Mapping[str, float]) -> np.ndarray:
        """Expected accuracy ``(S, m)`` at losses ``L`` (shape ``(m,)`` or ``(S, m)``) for draws ``(S,)``; ``ref``
        holds the unit's ``chance``, ``L_ref`` and ``L_mid``."""
        params = {k: jnp.asarray(draws[k], dtype=jnp.float32)[:, None] for k in self.link.param_names}
        L = jnp.asarray(L, dtype=jnp.float32)
        ref = {k: jnp.float32(v) for k, v in ref.items()}
        return np.asarray(self._expected(params, L if L.ndim == 2 else L[None, :], ref), dtype=np.float64)

    @functools.cached_property
    def _expected(self):
        """The link as one jitted program (compiled once per shape, not op by op)."""
        link = self.link
        return jax.jit(lambda params, L, ref: link.fn(params, {"L": L, **ref}))


def downstream_program(X, ref, correct=None, *, model: DownstreamModel):
    """``correct ~ BetaBinomialCorrect(link(params, L), tau, n_items)`` with the model's priors.

    Parameters
    ----------
    X : dict
        ``"L"`` the loss of each run (or ``-log10 C`` for the one-step model), ``"n_items"``, and
        ``"mask"`` (``False`` for runs that only pad the arrays to a shared compiled size).
    ref : dict
        Scalars: ``"chance"``, ``"L_ref"`` (the unit's lowest training loss) and ``"L_mid"`` (where its
        training accuracy changes most, :func:`~bayescale.model.links.transition_loss`).
    correct : array, optional
        Correct answers per run; ``None`` samples them.
    """
    link, priors = model.link, model.priors
    params = {k: numpyro.sample(k, priors[k].to_numpyro()) for k in link.param_names}
    x = {"L": X["L"], **ref}
    if link.derived is not None:
        for name, value in link.derived(params, x).items():
            numpyro.deterministic(name, value)
    tau = numpyro.sample(TAU, priors[TAU].to_numpyro())
    p = link.fn(params, x)
    with numpyro.plate("runs", jnp.shape(X["L"])[0]):
        numpyro.sample(OBS, BetaBinomialCorrect(p, tau, X["n_items"]).mask(X["mask"]), obs=correct)


def unit_reference(L, accuracy, chance: float) -> dict[str, float]:
    """A unit's reference values: ``chance``, ``L_ref`` (its lowest loss) and ``L_mid``
    (:func:`~bayescale.model.links.transition_loss`)."""
    return {"chance": float(chance), "L_ref": float(np.min(L)), "L_mid": transition_loss(L, accuracy)}


def downstream_args(L, n_items, correct, ref: Mapping[str, float], size: int) -> tuple:
    """Program arguments ``(X, ref, correct)`` of one unit, padded to ``size`` runs (float32).

    Padding runs sit at the unit's lowest loss with one item and none right, masked out of the likelihood.
    """
    L = np.asarray(L, dtype=np.float64)
    n = L.shape[0]
    pad = size - n

    def padded(v, fill):
        return jnp.asarray(np.concatenate([np.asarray(v, dtype=np.float64), np.full(pad, fill)]), dtype=jnp.float32)

    X = {"L": padded(L, ref["L_ref"]), "n_items": padded(n_items, 1.0), "mask": jnp.asarray(np.arange(size) < n)}
    return X, {k: jnp.float32(v) for k, v in ref.items()}, padded(correct, 0.0)
