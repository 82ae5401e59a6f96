"""The result of a fit: an ArviZ InferenceData that answers domain questions."""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from typing import Any, Mapping

import jax.numpy as jnp
import numpy as np

from bayescale import _idata
from bayescale.data import FLOPS_PER_PARAM_TOKEN, ScalingData, _as_float_column, _check_finite_positive
from bayescale.diagnostics import Diagnostics
from bayescale.errors import ConfigError, ExtrapolationWarning, FileFormatError
from bayescale.laws import Law, get_law
from bayescale.likelihoods import Likelihood
from bayescale.priors import Prior, priors_from_json, priors_to_json
from bayescale.sampling import SamplerConfig

__all__ = ["ScalingFit", "load", "FORMAT_VERSION", "EXTRAPOLATION_FACTOR"]

#: Version of the on-disk layout written by :meth:`ScalingFit.save`.
FORMAT_VERSION = 1
#: Forecasts beyond this multiple of the largest training compute in the data warn.
EXTRAPOLATION_FACTOR = 100.0


def _interval(draws: np.ndarray, prob: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lo = (1.0 - prob) / 2.0
    q = np.quantile(draws, [0.5, lo, 1.0 - lo], axis=0)
    return q[0], q[1], q[2]


def _check_prob(prob: float) -> float:
    if not isinstance(prob, (int, float)) or not 0.0 < float(prob) < 1.0:
        raise ConfigError(f"prob must be in (0, 1), e.g. 0.9 for a 90% interval; got {prob!r}")
    return float(prob)


def _positive_array(name: str, values: Any) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values, dtype=object) if not np.isscalar(values) else np.asarray([values]))
    arr = _as_float_column(name, arr.ravel())
    _check_finite_positive(name, arr)
    return arr


@dataclasses.dataclass(eq=False)
class ScalingFit:
    """Posterior of a scaling law, with forecasts and the compute-optimal frontier.

    Built by :func:`bayescale.fit` or :func:`bayescale.load`; ``idata`` is the
    ArviZ InferenceData (groups ``posterior``, ``sample_stats``, ``log_likelihood``,
    ``posterior_predictive``, ``observed_data``, ``constant_data``).
    """

    idata: Any
    law: Law
    likelihood: Likelihood
    priors: Mapping[str, Prior]
    config: SamplerConfig
    ref: Mapping[str, float]
    seed: int
    data: ScalingData
    diagnostics: Diagnostics

    # ------------------------------------------------------------- posterior
    @property
    def converged(self) -> bool:
        """True when there were no divergences, R-hat <= 1.01 and bulk ESS >= 400 for every law parameter."""
        return self.diagnostics.converged

    def draws(self, var_names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """Posterior draws flattened over chains: ``{name: array (chains * draws,)}``."""
        names = var_names or (*self.law.param_names, "sigma")
        post = self.idata.posterior
        return {k: np.asarray(post[k]).reshape(-1) for k in names}

    def summary(self, prob: float = 0.9):
        """ArviZ summary table (mean, sd, HDI, MCSE, ESS, R-hat) of the law's parameters and ``sigma``.

        Exponents come first: they drive extrapolation.
        """
        prob = _check_prob(prob)
        order = [n for n in ("alpha", "beta") if n in self.law.param_names]
        order += [n for n in self.law.param_names if n not in order] + ["sigma"]
        return _idata.summary(self.idata, order, prob)

    # ------------------------------------------------------------- forecasts
    def _covariates(self, N, D, C) -> tuple[np.ndarray, np.ndarray]:
        given = {k: v for k, v in (("N", N), ("D", D), ("C", C)) if v is not None}
        if len(given) != 2:
            raise ConfigError(f"give exactly two of N, D and C (D = C / 6N); got {sorted(given) or 'none'}")
        arrs = {k: _positive_array(k, v) for k, v in given.items()}
        try:
            arrs = dict(zip(arrs, np.broadcast_arrays(*arrs.values())))
        except ValueError:
            raise ConfigError(
                "the arrays given do not broadcast: "
                + ", ".join(f"{k} has shape {v.shape}" for k, v in arrs.items())
            ) from None
        if "C" in arrs:
            if "N" in arrs:
                return arrs["N"], arrs["C"] / (FLOPS_PER_PARAM_TOKEN * arrs["N"])
            return arrs["C"] / (FLOPS_PER_PARAM_TOKEN * arrs["D"]), arrs["D"]
        return arrs["N"], arrs["D"]

    def _warn_extrapolation(self, C: np.ndarray) -> None:
        factor = float(np.max(C) / np.max(self.data.C))
        if factor > EXTRAPOLATION_FACTOR:
            warnings.warn(
                f"extrapolating to C={np.max(C):.3g} FLOPs, {factor:.0f}x the largest training compute in the "
                f"data ({np.max(self.data.C):.3g}); the interval assumes the law holds that far",
                ExtrapolationWarning,
                stacklevel=3,
            )

    def predict_draws(self, N=None, D=None, *, C=None, noise: bool = False, seed: int = 0) -> np.ndarray:
        """Loss draws, shape ``(chains * draws, points)``: the law alone, or with observation noise."""
        Nn, Dd = self._covariates(N, D, C)
        p = self.draws()
        nat = {k: jnp.asarray(p[k])[:, None] for k in self.law.param_names}
        logL = np.asarray(self.law.log_loss(nat, Nn, Dd), dtype=np.float64)
        if noise:
            rng = np.random.default_rng(seed)
            z = (
                rng.standard_normal(logL.shape)
                if self.likelihood.kind == "normal"
                else rng.standard_t(self.likelihood.df, size=logL.shape)
            )
            logL = logL + p["sigma"][:, None] * z
        return np.exp(logL)

    def predict(self, N=None, D=None, *, C=None, prob: float = 0.9, seed: int = 0):
        """Forecast the loss at new runs: median and central interval.

        Give two of ``N``, ``D``, ``C`` (scalars or arrays that broadcast). Columns
        ``loss_*`` are the law alone (where the curve is); ``pred_*`` add the
        observation noise (where a new run would land).

        Examples
        --------
        >>> import bayescale as bs
        >>> fit = bs.fit(bs.datasets.example(), seed=0, num_warmup=500, num_samples=500)
        >>> table = fit.predict(N=1e9, D=2e10, prob=0.9)
        >>> list(table.columns)
        ['N', 'D', 'C', 'loss_median', 'loss_lower', 'loss_upper', 'pred_median', 'pred_lower', 'pred_upper']
        >>> bool(table.loss_lower[0] < table.loss_median[0] < table.loss_upper[0])
        True
        """
        import pandas as pd

        prob = _check_prob(prob)
        Nn, Dd = self._covariates(N, D, C)
        Cc = FLOPS_PER_PARAM_TOKEN * Nn * Dd
        self._warn_extrapolation(Cc)
        law_draws = self.predict_draws(N=Nn, D=Dd)
        pred_draws = self.predict_draws(N=Nn, D=Dd, noise=True, seed=seed)
        m, lo, hi = _interval(law_draws, prob)
        pm, plo, phi = _interval(pred_draws, prob)
        return pd.DataFrame(
            {
                "N": Nn, "D": Dd, "C": Cc,
                "loss_median": m, "loss_lower": lo, "loss_upper": hi,
                "pred_median": pm, "pred_lower": plo, "pred_upper": phi,
            }
        )

    # ------------------------------------------------------------- frontier
    def frontier_draws(self, C) -> dict[str, np.ndarray]:
        """Posterior draws of the compute-optimal frontier at budgets ``C``.

        Returns ``N_opt``, ``D_opt``, ``tokens_per_param``, ``loss`` (shape
        ``(chains * draws, len(C))``) and the exponents ``a``, ``b``.
        """
        from bayescale.frontier import chinchilla_frontier

        if not self.law.has_frontier:
            raise ConfigError(f"law {self.law.name!r} has no compute-optimal frontier; it answers predict only")
        Cc = _positive_array("C", C)
        p = self.draws(self.law.param_names)
        out = chinchilla_frontier({k: jnp.asarray(v) for k, v in p.items()}, jnp.asarray(Cc))
        return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}

    def frontier(self, C, prob: float = 0.9):
        """The compute-optimal frontier at budget(s) ``C``: median and central interval.

        One row per budget; for each of ``N_opt``, ``D_opt``, ``tokens_per_param``
        and ``loss`` (the loss L*(C) on the frontier) the columns ``*_median``,
        ``*_lower``, ``*_upper``.

        Examples
        --------
        >>> import bayescale as bs
        >>> fit = bs.fit(bs.datasets.example(), seed=0, num_warmup=500, num_samples=500)
        >>> f = fit.frontier(C=[1e20, 1e21], prob=0.9)
        >>> f.index.name, f.shape
        ('C', (2, 12))
        """
        import pandas as pd

        prob = _check_prob(prob)
        Cc = _positive_array("C", C)
        self._warn_extrapolation(Cc)
        draws = self.frontier_draws(Cc)
        cols = {}
        for q in ("N_opt", "D_opt", "tokens_per_param", "loss"):
            m, lo, hi = _interval(draws[q], prob)
            cols[f"{q}_median"], cols[f"{q}_lower"], cols[f"{q}_upper"] = m, lo, hi
        return pd.DataFrame(cols, index=pd.Index(Cc, name="C"))

    # ------------------------------------------------------------- I/O
    def _meta(self) -> dict:
        from bayescale import __version__

        return {
            "format_version": FORMAT_VERSION,
            "bayescale_version": __version__,
            "law": self.law.name,
            "likelihood": self.likelihood.to_dict(),
            "priors": priors_to_json(self.priors),
            "sampler": dataclasses.asdict(self.config),
            "ref": dict(self.ref),
            "seed": self.seed,
            "names": dict(self.data.names),
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the fit to a netCDF file (every InferenceData group plus the fit's settings)."""
        self.idata.posterior.attrs[_idata.META_KEY] = json.dumps(self._meta())
        _idata.write(self.idata, path)

    def __repr__(self) -> str:
        s = self.summary(prob=0.9)
        lines = [
            f"ScalingFit({self.law.formula}; likelihood={self.likelihood.kind}; n={self.data.n}; "
            f"{self.config.num_chains} chains x {self.config.num_samples} draws)",
        ]
        for name in s.index:
            lines.append(f"  {name:>6} = {s.loc[name, 'mean']:.4g}  (sd {s.loc[name, 'sd']:.3g})")
        lines.append("  " + ("converged" if self.converged else "NOT converged: " + " | ".join(self.diagnostics.problems)))
        return "\n".join(lines)


def _diagnostics_of(idata, law: Law) -> Diagnostics:
    ess, rhat = _idata.ess_rhat(idata, list(law.param_names))
    stats = idata.sample_stats
    return Diagnostics.from_numbers(
        n_divergent=int(np.asarray(stats["diverging"]).sum()),
        n_draws=int(np.asarray(stats["diverging"]).size),
        rhat=rhat,
        ess_bulk=ess,
        mean_steps=float(np.asarray(stats["n_steps"]).mean()),
    )


def load(path: str | os.PathLike, *, law: Law | None = None) -> ScalingFit:
    """Read a fit written by :meth:`ScalingFit.save`.

    Raises :class:`~bayescale.errors.FileFormatError` for a missing, truncated or
    foreign file, or one written by an incompatible version of bayescale. A fit
    of a user-defined law needs that law passed back in as ``law=``.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileFormatError(f"no such file: {path!r}")
    try:
        idata = _idata.read(path)
    except Exception as err:  # netCDF/HDF5 raise many types for broken files
        raise FileFormatError(f"{path!r} is not a readable netCDF file (truncated or corrupt?): {err}") from None
    try:
        meta = _idata.meta_of(idata)
    except ValueError as err:  # json.JSONDecodeError
        raise FileFormatError(f"{path!r} has unreadable bayescale metadata ({err}); the file was edited or damaged") from None
    if meta is not None and not isinstance(meta, dict):
        raise FileFormatError(f"{path!r} has unreadable bayescale metadata (not a JSON object)")
    if meta is None:
        raise FileFormatError(f"{path!r} is an InferenceData file but not a bayescale fit (no '{_idata.META_KEY}' metadata)")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise FileFormatError(
            f"{path!r} was written in bayescale file format {version!r} (bayescale "
            f"{meta.get('bayescale_version', '?')}); this version reads format {FORMAT_VERSION}: load it with a "
            "matching bayescale version and refit"
        )
    if law is None:
        try:
            law = get_law(meta.get("law"))
        except ConfigError:
            raise FileFormatError(
                f"{path!r} holds a fit of law {meta.get('law')!r}, which is not built in; pass it back: load(path, law=...)"
            ) from None
    try:
        const = idata.constant_data
        group = np.asarray(const["group"]) if "group" in const else None
        data = ScalingData(
            N=np.asarray(const["N"]), D=np.asarray(const["D"]), loss=np.asarray(const["loss"]), group=group,
            names=meta.get("names", {}),
        )
        settings = dict(
            likelihood=Likelihood(**meta["likelihood"]),
            priors=priors_from_json(meta["priors"]),
            config=SamplerConfig(**meta["sampler"]),
            ref=meta["ref"],
            seed=int(meta["seed"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise FileFormatError(
            f"{path!r} has incomplete or inconsistent bayescale metadata or data ({type(err).__name__}: {err}); "
            "the file was edited or damaged: refit and save again"
        ) from None
    return ScalingFit(idata=idata, law=law, data=data, diagnostics=_diagnostics_of(idata, law), **settings)
