""":class:`ScalingModel`: what is fitted, in one object.

A model is a law, a likelihood, a pooling, an error model and the priors, resolved
once: the law's defaults, the likelihood's (``sigma``, a learned ``df``), the pooling's
(population spreads) and the error model's (shared-error scales), overridden by the user's. It is the only place priors are
resolved and the only source of the compiled program's cache key; ``fit``,
``fit_many``, ``bootstrap``, ``prior_predictive``, ``calibration``, ``backtest``
and ``plan`` all take one, and their string/keyword shortcuts build one.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from bayescale.data import ScalingData
from bayescale.errors import ConfigError
from bayescale.model.error_models import DEFAULT_ERROR_MODEL, ErrorModel, get_error_model
from bayescale.model.law import Law, covariate_values
from bayescale.model.law_registry import get_law
from bayescale.model.likelihoods import Likelihood, get_likelihood
from bayescale.model.pooling import Pooling, get_pooling
from bayescale.model.priors import Prior, merge_priors
from bayescale.model.program import MASK, PRIORS, scaling_program

__all__ = ["ScalingModel", "resolve_model", "padded_runs", "MASK"]



def padded_runs(n: int) -> int:
    """How many runs the compiled program of ``n`` runs is built for.

    Up to 4,096 runs: the next of 32, 48, 64, 96, 128, 192, ... (two sizes per doubling); above,
    the next multiple of 1,024. Datasets of 100 to 128 runs thus share one compiled sampler (a
    compile is ~10 s on 2 CPU cores; a backtest's cutoffs and a calibration's designs differ in
    length), and the padding (at most half the runs, none past a size; a few per cent above
    4,096) is masked out of the likelihood: the posterior is exactly the unpadded one.

    Examples
    --------
    >>> from bayescale.model.spec import padded_runs
    >>> [padded_runs(n) for n in (5, 32, 33, 100, 180, 240, 5000)]
    [32, 32, 48, 128, 192, 256, 5120]
    """
    n = int(n)
    if n > 4096:
        return -(-n // 1024) * 1024
    size = 32
    while size < n:
        size = size * 3 // 2 if size & (size - 1) == 0 else size // 3 * 4
    return size


@dataclasses.dataclass(frozen=True)
class ScalingModel:
    """A scaling law, its noise model, how groups are pooled, and every prior.

    Parameters
    ----------
    law : str or Law
        ``"chinchilla"`` (default), any name in :data:`bayescale.LAWS`, or a law from
        :func:`bayescale.custom_law`.
    likelihood : str or Likelihood
        ``"student_t"`` (default), ``"normal"``, ``"huber"``, or a :class:`~bayescale.Likelihood`.
    pooling : str or Pooling
        ``"complete"`` (default), ``"partial"``, ``"none"``, or e.g. ``bs.PartialPooling(shared=("E",))``
        (per parameter pooled, shared or independent; see :mod:`bayescale.model.pooling`).
    error_model : str or ErrorModel
        ``"extrapolation"`` (default: independent runs, and beyond the data's compute a discrepancy
        whose variance grows with the distance, :class:`~bayescale.Extrapolation`),
        ``"learned_extrapolation"`` (beyond the data's compute and model sizes a drift and a discrepancy
        learned from real sweeps and the data's own rolling-origin forecasts, at the cost of up to four
        refits at the first forecast, :class:`~bayescale.LearnedExtrapolation`), ``"independent"``, ``"offsets"`` (shared offsets per compute budget and model size) or
        ``"random_walk"`` (a learned discrepancy over log compute); see :mod:`bayescale.model.error_models`.
    priors : mapping, optional
        Per-parameter overrides of the defaults. After construction ``priors`` holds
        every prior of the model, resolved.

    Examples
    --------
    >>> import bayescale as bs
    >>> m = bs.ScalingModel("chinchilla", likelihood="huber")
    >>> m.priors["sigma"], m.priors["alpha"]
    (Prior('HalfNormal', scale=0.0001), Prior('LogNormal', loc=-1.2, scale=0.75))
    >>> bs.ScalingModel(priors={"alpha": bs.Prior("LogNormal", loc=-1.0, scale=0.3)}).priors["alpha"]
    Prior('LogNormal', loc=-1, scale=0.3)
    """

    law: Law | str = "chinchilla"
    likelihood: Likelihood | str = "student_t"
    pooling: Pooling | str = "complete"
    priors: Mapping[str, Prior] | None = None
    error_model: ErrorModel | str = DEFAULT_ERROR_MODEL

    def __post_init__(self) -> None:
        law, likelihood, pooling = get_law(self.law), get_likelihood(self.likelihood), get_pooling(self.pooling)
        error_model = get_error_model(self.error_model).for_law(law)
        defaults = {**law.default_priors, **likelihood.default_priors(), **pooling.priors(law), **error_model.priors()}
        positive = law.positive | likelihood.positive_sites() | (set(defaults) - set(law.default_priors))
        priors = merge_priors(defaults, self.priors, positive=frozenset(positive))
        object.__setattr__(self, "law", law)
        object.__setattr__(self, "likelihood", likelihood)
        object.__setattr__(self, "pooling", pooling)
        object.__setattr__(self, "error_model", error_model)
        object.__setattr__(self, "priors", priors)

    def __hash__(self) -> int:
        return hash(self.cache_key)

    def __eq__(self, other) -> bool:
        return (isinstance(other, ScalingModel) and self.cache_key == other.cache_key and self.priors == other.priors
                and self.error_model == other.error_model)

    @property
    def cache_key(self) -> tuple:
        """What identifies the compiled program of this model (with the data's shape and the sampler settings): the
        priors' distributions, not their values (arguments of the program, :meth:`args`)."""
        return (
            self.law.name, id(self.law), self.likelihood, self.pooling.key, self.error_model.program_key,
            _prior_families(self.priors),
        )

    @property
    def program_key(self) -> str | None:
        """What determines this model's compiled program, stable across processes (a string), or ``None``
        when nothing stable identifies it: a custom law (its function may close over anything), a part
        whose settings are not plain values. Keys compiled programs kept on disk
        (:mod:`bayescale.inference.executable_cache`), which also key on bayescale's source.

        Examples
        --------
        >>> import bayescale as bs
        >>> bs.ScalingModel().program_key == bs.ScalingModel("chinchilla").program_key
        True
        >>> bs.ScalingModel(bs.custom_law(lambda p, N: p["E"] + 0 * N, priors={"E": bs.Prior("Normal", loc=0, scale=1)}, covariates=("N",))).program_key is None
        True
        """
        from bayescale.model.law_registry import LAWS

        if LAWS.get(self.law.name) is not self.law:
            return None
        try:
            parts = (self.law.name, _plain(self.likelihood), _plain(self.pooling), _plain(self.error_model.program_key),
                     _prior_families(self.priors))
        except TypeError:
            return None
        return repr(parts)

    @property
    def whiten(self) -> bool:
        """Whether NUTS may run whitened at the mode: only where the pooling and the error model allow it."""
        return self.pooling.whiten and self.error_model.whiten

    @property
    def diagnostic_names(self) -> list[str]:
        """Variables whose ESS / R-hat decide convergence: the pooling's and the error model's scales."""
        return [*self.pooling.diagnostic_names(self.law), *self.error_model.scale_sites]

    @property
    def posterior_dims(self) -> dict[str, list[str]]:
        """Posterior variables with extra dimensions (groups, levels of shared errors)."""
        return {**self.pooling.posterior_dims(self.law), **self.error_model.posterior_dims()}

    def batch_key(self, data) -> tuple:
        """Datasets of one batch key share a compiled program: their padded length (:func:`padded_runs`)
        and their error levels."""
        return (padded_runs(data.n), *self.error_model.batch_key(data))

    # ----------------------------------------------------------------- data
    def check_data(self, data) -> None:
        """Validate ``data`` for this model (a clear error before any compilation)."""
        if not isinstance(data, ScalingData):
            raise ConfigError(
                f"data must be a bayescale.ScalingData, got {type(data).__name__}; build one with "
                "ScalingData.from_frame(df, N=..., D=..., loss=...) or ScalingData.from_arrays(...)"
            )
        data.require(n_params=self.law.n_params, covariates=self.law.covariates)
        self.pooling.check(self.law, data)
        self.error_model.check(data)

    def reference(self, data) -> dict[str, float]:
        """Reference scales of the centred parametrisation: geometric means of the data's covariates."""
        return self.law.reference(data.N, data.D, data.U)

    def args(self, data, ref: Mapping[str, float] | None = None, *, observed: bool = True, pad: bool = True) -> tuple:
        """Model arguments ``(X, ref[, log_loss])`` of one dataset (float32), and its group labels.

        ``X`` holds the log covariates (and the group index of a grouped model), the error
        model's arguments, ``X["mask"]`` and ``X["priors"]`` (every prior's parameter values: a fit with other
        prior values runs the same compiled program). With ``pad=True`` (what the samplers take) every
        per-run array is padded to :func:`padded_runs` runs by repeating the first run, and the
        mask, ``False`` there, removes the padding from the likelihood; ``pad=False`` keeps the
        data's length (simulation: the draws are of exactly the data's runs).
        """
        ref = self.reference(data) if ref is None else ref
        n = data.n
        size = padded_runs(n) if pad else n

        def per_run(v, dtype):
            v = np.asarray(v)
            return _on_device(np.concatenate([v, np.repeat(v[:1], size - n, axis=0)]), dtype)

        values = covariate_values(self.law.covariates, N=data.N, D=data.D, U=data.U)
        X = {c: per_run(np.log(v), jnp.float32) for c, v in values.items()}
        gidx, labels = self.pooling.group_index(data)
        if gidx is not None:
            X["group"] = per_run(gidx, jnp.int32)
        run_keys = set(self.error_model.run_keys())
        for k, v in self.error_model.args(data).items():
            dtype = jnp.int32 if np.issubdtype(np.asarray(v).dtype, np.integer) else jnp.float32
            X[k] = per_run(v, dtype) if k in run_keys else _on_device(v, dtype)
        X[MASK] = jax.device_put(np.arange(size) < n)
        X[PRIORS] = {k: {name: _on_device(v, jnp.float32) for name, v in p.params.items()} for k, p in self.priors.items()}
        args = (X, {k: _on_device(v, jnp.float32) for k, v in ref.items()})
        if observed:
            args = args + (per_run(np.log(np.asarray(data.loss, dtype=np.float64)), jnp.float32),)
        return args, labels

    # ----------------------------------------------------------------- program
    def program(self, n_groups: int | None = None):
        """The NumPyro model ``f(X, ref, log_loss=None)`` of this spec (see :mod:`bayescale.model.program`)."""
        return functools.partial(scaling_program, spec=self, n_groups=n_groups)

    @property
    def sampler_coords(self):
        """Coordinates NUTS moves in (``None``: the program's own); see :mod:`bayescale.model.coords`."""
        return self.pooling.sampler_coords(self.law)

    # ----------------------------------------------------------------- naming and saving
    @property
    def noise_sites(self) -> tuple[str, ...]:
        """The noise parameters in the posterior: ``sigma`` and the likelihood's extra sites."""
        from bayescale.model.likelihoods import NOISE

        return (NOISE, *self.likelihood.extra_sites)

    @property
    def label(self) -> str:
        pooled = "" if self.pooling.name == "complete" else f"/{self.pooling.label}"
        shared = "" if not self.error_model.scale_sites else f"/{self.error_model.label}"
        return f"{self.law.name}/{self.likelihood.label}{pooled}{shared}"

    def __repr__(self) -> str:
        return (f"ScalingModel(law={self.law.name!r}, likelihood={self.likelihood!r}, "
                f"pooling={self.pooling.name!r}, error_model={self.error_model!r}, priors={{{len(self.priors)} resolved}})")


def _on_device(v, dtype):
    """``v`` as a JAX array of ``dtype``, converted on the host and transferred (``jnp.asarray`` compiles a small
    XLA program per shape in each new process)."""
    return jax.device_put(np.asarray(v, dtype=np.dtype(dtype)))


def _prior_families(priors: Mapping[str, Prior]) -> tuple:
    """The priors' distributions and parameter names: what the compiled program holds of them."""
    return tuple(sorted((k, p.dist, tuple(sorted(p.params))) for k, p in priors.items()))


def _plain(obj):
    """``obj`` as nested plain values (its class and fields), or a TypeError when it holds anything else."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (tuple, list)):
        return tuple(_plain(v) for v in obj)
    if isinstance(obj, Mapping):
        return tuple(sorted((str(k), _plain(v)) for k, v in obj.items()))
    if isinstance(obj, Prior):
        return ("Prior", _plain(obj.to_dict()))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    elif not vars(obj):  # a class with no settings of its own (CompletePooling, NoPooling)
        fields = {}
    else:
        raise TypeError(f"{type(obj).__name__} has no stable key")
    return (type(obj).__module__, type(obj).__qualname__, _plain(fields))


def resolve_model(law=None, *, model: ScalingModel | None = None, likelihood=None, priors=None, pooling=None,
                  data=None, error_model=None) -> ScalingModel:
    """The :class:`ScalingModel` of a call: ``model=`` as given, or one built from the keyword shortcuts.

    Giving ``model=`` together with any of ``law``, ``likelihood``, ``priors`` or ``pooling`` is an error.
    With ``data``, the pooling is checked against it.
    """
    shortcuts = {"law": law, "likelihood": likelihood, "priors": priors, "pooling": pooling, "error_model": error_model}
    if isinstance(law, ScalingModel):
        model, shortcuts["law"] = law, None
    if model is not None:
        if not isinstance(model, ScalingModel):
            raise ConfigError(f"model must be a bayescale.ScalingModel, got {type(model).__name__}")
        given = sorted(k for k, v in shortcuts.items() if v is not None)
        if given:
            raise ConfigError(
                f"give either model=ScalingModel(...) or the shortcuts law/likelihood/priors/pooling/error_model, not "
                f"both "
                f"(got model and {given}); put them in the ScalingModel"
            )
    else:
        model = ScalingModel(
            law="chinchilla" if law is None else law,
            likelihood="student_t" if likelihood is None else likelihood,
            pooling="complete" if pooling is None else pooling,
            priors=priors,
            error_model=DEFAULT_ERROR_MODEL if error_model is None else error_model,
        )
    if data is not None:
        model.pooling.check(model.law, data)
        model.error_model.check(data)
    return model
