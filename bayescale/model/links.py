"""Links from a run's loss to its expected accuracy on a task: the sigmoid, Gadre et al.'s exponential, your own.

A :class:`Link` is a pure JAX function ``fn(params, x) -> expected accuracy`` with ``params`` a dict of
arrays (one per prior) and ``x`` the covariates: ``x["L"]`` the loss, ``x["chance"]`` the task's chance
accuracy, and two losses of the task's training runs that the built-in links are written relative to, so one
prior serves losses on any scale: ``x["L_ref"]``, the lowest, and ``x["L_mid"]``, where their accuracy changes
most (:func:`transition_loss`). The one-step forecast (compute straight to accuracy) feeds
``x["L"] = -log10(C)`` instead: one decade of compute plays the part of one nat of loss.

Default priors, in the units of the loss (nats):

- :data:`SIGMOID`, ``chance + (ceiling - chance) * sigmoid(-k (L - L0))`` (the OLMo ladder's shape, Bhagia et
  al. 2024): ``k ~ LogNormal(log 2, 0.75)`` (slope per nat; 95% in 0.46 .. 8.7: accuracy climbs from chance to
  near its ceiling over 0.5 to 10 nats), ``dL0 = L0 - L_mid ~ Normal(0, 1)`` (the midpoint within about a nat
  of where the training runs' accuracy changes most), ``headroom = (ceiling - chance) / (1 - chance) ~
  Beta(1, 1)`` (any ceiling between chance and 1: the data rarely see it).
- :data:`EXPONENTIAL`, Gadre et al. (2024)'s ``error = eps - k exp(-gamma L)`` for average top-1 error:
  ``eps ~ Beta(1, 1)`` (error far up the loss axis), ``frac ~ Beta(1, 1)`` (the fraction of ``eps`` the best
  training run removes: ``k = eps frac exp(gamma L_ref)``, so accuracy stays below 1 at every training run),
  ``gamma ~ LogNormal(log 2, 0.75)``. It has no ceiling: far below the data's losses accuracy can pass 1
  (forecasts clip it there and say so).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Mapping

import jax
import jax.numpy as jnp

from bayescale.errors import ConfigError
from bayescale.model.coords import SamplerCoords
from bayescale.model.priors import Prior

__all__ = ["Link", "SIGMOID", "EXPONENTIAL", "LINKS", "SIGMOID_COORDS", "custom_link", "resolve_link", "transition_loss"]


@dataclasses.dataclass(frozen=True, eq=False)
class Link:
    """A map from loss to expected accuracy, with its parameters' priors.

    Parameters
    ----------
    name, formula : str
        How the link is labelled.
    fn : callable
        ``fn(params, x) -> expected accuracy`` in JAX (see the module docstring for ``x``).
    default_priors : mapping of Prior
        One per parameter, sampled directly.
    derived : callable, optional
        ``derived(params, x) -> {name: value}``: natural-scale quantities recorded with the draws
        (e.g. the sigmoid's ``L0`` and ``ceiling``).
    sampler_coords : SamplerCoords, optional
        Coordinates NUTS moves in instead of the parameters' own unconstrained ones
        (:mod:`bayescale.model.coords`: the same posterior, straighter for the sampler).
    """

    name: str
    formula: str
    fn: Callable
    default_priors: Mapping[str, Prior]
    derived: Callable | None = None
    sampler_coords: SamplerCoords | None = None

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(self.default_priors)

    def derived_names(self) -> tuple[str, ...]:
        """Names of the derived quantities (traced abstractly, nothing computed)."""
        if self.derived is None:
            return ()
        params = {k: jnp.float32(0.5) for k in self.param_names}
        x = {"L": jnp.float32(3.0), "chance": jnp.float32(0.25), "L_ref": jnp.float32(3.0), "L_mid": jnp.float32(3.5)}
        return tuple(jax.eval_shape(self.derived, params, x))

    def expected(self, params: Mapping, L, ref: Mapping):
        """Expected accuracy at losses ``L`` (broadcast with the parameters); ``ref`` holds ``chance``, ``L_ref``
        and ``L_mid``."""
        return self.fn(dict(params), {"L": L, **ref})

    def __repr__(self) -> str:
        return f"Link({self.name!r}: {self.formula})"


def _sigmoid(p, x):
    return x["chance"] + (1.0 - x["chance"]) * p["headroom"] * jax.nn.sigmoid(-p["k"] * (x["L"] - x["L_mid"] - p["dL0"]))


def _sigmoid_derived(p, x):
    return {"L0": x["L_mid"] + p["dL0"], "ceiling": x["chance"] + (1.0 - x["chance"]) * p["headroom"]}


def _log1mexp(a):
    """``log(1 - exp(a))`` for ``a < 0``, accurate at both ends."""
    return jnp.where(a > -0.693, jnp.log(-jnp.expm1(a)), jnp.log1p(-jnp.exp(a)))


def _sigmoid_to_model(x):
    """NUTS's coordinates ``(log s, z, level)`` -> the sites' unconstrained ``(log k, dL0, logit headroom)``
    (stored under the sites' names ``k``, ``dL0``, ``headroom``; ``tau`` passes through)."""
    u = dict(x)
    u0 = x["headroom"] + jnp.exp(x["dL0"])  # k dL0: the sigmoid's logit at L_mid
    log_k = x["k"] + jax.nn.softplus(u0)
    log_h = jax.nn.softplus(-u0) - jax.nn.softplus(-x["headroom"])
    u["k"], u["dL0"], u["headroom"] = log_k, u0 * jnp.exp(-log_k), log_h - _log1mexp(log_h)
    return u


def _sigmoid_from_model(u):
    x = dict(u)
    u0 = jnp.exp(u["k"]) * u["dL0"]
    log_level = -jax.nn.softplus(-u["headroom"]) - jax.nn.softplus(-u0)  # log(headroom * sigmoid(u0))
    level = log_level - _log1mexp(log_level)
    x["k"], x["dL0"], x["headroom"] = u["k"] - jax.nn.softplus(u0), jnp.log(u0 - level), level
    return x


def _sigmoid_log_det(x):
    """Log |det| of the Jacobian of :func:`_sigmoid_to_model` (3 x 3, forward-mode autodiff)."""
    names = ("k", "dL0", "headroom")

    def to_model(v):
        u = _sigmoid_to_model({**x, **dict(zip(names, v))})
        return jnp.stack([u[n] for n in names])

    return jnp.linalg.slogdet(jax.jacfwd(to_model)(jnp.stack([x[n] for n in names])))[1]


#: NUTS's coordinates for the sigmoid, at ``L_mid`` (where the training runs' accuracy changes most):
#: ``level = logit(headroom * sigmoid(k dL0))`` (the fraction of ``1 - chance`` reached there), ``log s = log k -
#: softplus(k dL0)`` (the relative slope there) and ``z = log(k dL0 - level)`` (how far the ceiling lies above).
#: The data pin the first two whatever the ceiling; in the sites' own coordinates the same posterior bends
#: (``dL0`` drifts with ``headroom``). Measured on Gadre et al.'s hardest links (hellaswag on RedPajama, piqa on
#: C4, BIG-bench operators on C4, BIG-bench CS algorithms on RedPajama; 4 x (1000 + 1000), target_accept 0.99, two
#: seeds): the least bulk ESS of a link 1064-3012 against 460-2936, R-hat <= 1.006 against 1.011, 13-35 leapfrog
#: steps per draw against 13-75; on the downstream example, least bulk ESS 811-1227 against 309-617. Anchored at the best run instead of
#: ``L_mid`` they broke on a saturated task (CS algorithms: R-hat 2.4), whose slope there is ``exp(-30)``.
SIGMOID_COORDS = SamplerCoords(to_model=_sigmoid_to_model, from_model=_sigmoid_from_model, log_det=_sigmoid_log_det)


def _exponential(p, x):
    return 1.0 - p["eps"] * (1.0 - p["frac"] * jnp.exp(-p["gamma"] * (x["L"] - x["L_ref"])))


def _exponential_derived(p, x):
    return {"k_gadre": p["eps"] * p["frac"] * jnp.exp(p["gamma"] * x["L_ref"])}


#: ``chance + (ceiling - chance) * sigmoid(-k (L - L0))``: the default link.
SIGMOID = Link(
    name="sigmoid",
    formula="chance + (ceiling - chance) * sigmoid(-k (L - L0))",
    fn=_sigmoid,
    default_priors={"k": Prior._builtin("LogNormal", loc=math.log(2.0), scale=0.75), "dL0": Prior._builtin("Normal", loc=0.0, scale=1.0),
                    "headroom": Prior._builtin("Beta", concentration1=1.0, concentration0=1.0)},
    derived=_sigmoid_derived,
    sampler_coords=SIGMOID_COORDS,
)

#: Gadre et al. (2024)'s ``error = eps - k exp(-gamma L)`` (their Eq. 4 for average top-1 error).
EXPONENTIAL = Link(
    name="exponential",
    formula="1 - (eps - k exp(-gamma L))",
    fn=_exponential,
    default_priors={"eps": Prior._builtin("Beta", concentration1=1.0, concentration0=1.0),
                    "frac": Prior._builtin("Beta", concentration1=1.0, concentration0=1.0),
                    "gamma": Prior._builtin("LogNormal", loc=math.log(2.0), scale=0.75)},
    derived=_exponential_derived,
)

#: Built-in links by name.
LINKS: dict[str, Link] = {"sigmoid": SIGMOID, "exponential": EXPONENTIAL}


def custom_link(fn: Callable, *, priors: Mapping[str, Prior], name: str = "custom", formula: str | None = None) -> Link:
    """A link from any JAX function ``fn(params, x) -> expected accuracy``, with no change to the library.

    Parameters
    ----------
    fn : callable
        Pure JAX: ``params`` is a dict of arrays (one per prior); ``x`` holds ``"L"`` (loss), ``"chance"``,
        ``"L_ref"`` (the task's lowest training loss) and ``"L_mid"`` (where its training accuracy changes
        most); returns accuracy in (0, 1), broadcasting like ``L``.
        Parameter values that put a training run's accuracy outside (0, 1) have zero likelihood.
    priors : dict of Prior
        One prior per parameter, sampled directly (choose them on the scale of your loss).
    name, formula : str
        How the link is labelled.

    Examples
    --------
    >>> import jax, bayescale as bs
    >>> link = bs.custom_link(
    ...     lambda p, x: x["chance"] + (1 - x["chance"]) * jax.nn.sigmoid(-p["k"] * (x["L"] - p["L0"])),
    ...     priors={"k": bs.Prior("LogNormal", loc=0.7, scale=0.75), "L0": bs.Prior("Normal", loc=3.0, scale=1.0)},
    ...     name="sigmoid_to_1")
    >>> link.param_names
    ('k', 'L0')
    >>> round(float(link.expected({"k": 2.0, "L0": 3.0}, 3.0, {"chance": 0.25})), 3)
    0.625
    """
    if not callable(fn):
        raise ConfigError(f"custom_link needs a function fn(params, x) -> accuracy, got {fn!r}")
    if not isinstance(priors, Mapping) or not priors:
        raise ConfigError("custom_link needs priors={'name': bs.Prior(...), ...}, one per parameter of fn")
    for k, p in priors.items():
        if not isinstance(p, Prior):
            raise ConfigError(f"prior for {k!r} must be a bayescale.Prior, e.g. Prior('Normal', loc=0, scale=1); "
                              f"got {p!r}")
        if k == "tau":
            raise ConfigError("'tau' is the over-dispersion's name (bayescale adds it); call your parameter otherwise")
    return Link(name=name, formula=formula or f"{name}(L; {', '.join(priors)})", fn=fn, default_priors=dict(priors))


def resolve_link(link: str | Link) -> Link:
    """A :class:`Link` from a name in :data:`LINKS` or a Link, or a :class:`~bayescale.errors.ConfigError`."""
    if isinstance(link, Link):
        return link
    if isinstance(link, str) and link in LINKS:
        return LINKS[link]
    raise ConfigError(f"link must be one of {sorted(LINKS)} or a bs.custom_link(...), got {link!r}")


def transition_loss(L, accuracy) -> float:
    """Where accuracy changes most along the loss: the split of the runs (sorted by loss, at least two on each
    side) that leaves the least squared deviation of accuracy from each side's mean; the midpoint of the two
    losses it falls between. The sigmoid's midpoint prior and NUTS's coordinates are centred there.

    Examples
    --------
    >>> from bayescale.model.links import transition_loss
    >>> transition_loss([2.0, 2.5, 3.0, 3.5, 4.0, 4.5], [0.8, 0.79, 0.81, 0.3, 0.31, 0.29])
    3.25
    """
    import numpy as np

    L, accuracy = np.asarray(L, dtype=np.float64), np.asarray(accuracy, dtype=np.float64)
    order = np.argsort(L, kind="stable")
    L, a = L[order], accuracy[order]
    n = L.size
    if n < 4:
        return float(np.median(L))
    best, where = np.inf, float(np.median(L))
    for i in range(2, n - 1):
        sse = a[:i].var() * i + a[i:].var() * (n - i)
        if sse < best - 1e-15:
            best, where = sse, 0.5 * (L[i - 1] + L[i])
    return float(where)
