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
from bayescale.errors import ConfigError, ExtrapolationWarning, FileFormatError, LawCapabilityError
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
    pooling: str = "complete"
    group_labels: tuple[str, ...] | None = None

    # ------------------------------------------------------------- posterior
    @property
    def converged(self) -> bool:
        """True when there were no divergences, R-hat <= 1.01 and bulk ESS >= 400 for every law parameter."""
        return self.diagnostics.converged

    def draws(self, var_names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """Posterior draws flattened over chains: ``{name: array (chains * draws,)}``.

        Per-group parameters of a pooled fit have shape ``(chains * draws, groups)``.
        """
        names = var_names or (*self.law.param_names, "sigma")
        post = self.idata.posterior
        return {k: np.asarray(post[k]).reshape(-1, *np.shape(post[k])[2:]) for k in names}

    def summary(self, prob: float = 0.9):
        """ArviZ summary table (mean, sd, HDI, MCSE, ESS, R-hat) of the law's parameters and ``sigma``.

        Exponents come first: they drive extrapolation.
        """
        prob = _check_prob(prob)
        order = [n for n in self.law.param_names if n.startswith(("alpha", "beta", "delta_alpha"))]
        order += [n for n in self.law.param_names if n not in order] + ["sigma"]
        order += ["df"] if self.likelihood.learns_df else []
        if self.pooling == "partial":
            order += [f"{p}_{k}" for p in ("mu", "tau") for k in self.law.sampled_names]
        return _idata.summary(self.idata, order, prob)

    # ------------------------------------------------------------- forecasts
    def _covariates(self, N, D, C, U=None) -> dict[str, np.ndarray]:
        """Broadcast, validated covariates: all of N, D, C that follow from what was given, and U."""
        given = {k: v for k, v in (("N", N), ("D", D), ("C", C), ("U", U)) if v is not None}
        core = [c for c in self.law.covariates if c != "U"]
        ndc = [k for k in ("N", "D", "C") if k in given]
        one_var = len(core) == 1
        if len(ndc) == 3 or (len(ndc) != 2 and not (one_var and ndc == core)):
            need = f"{core[0]} (or two of N, D and C)" if one_var else "exactly two of N, D and C (D = C / 6N)"
            raise ConfigError(f"law {self.law.name!r} needs {need}; got {ndc or 'none'}")
        if "U" in self.law.covariates and "U" not in given:
            raise ConfigError(f"law {self.law.name!r} needs unique tokens: pass U=... (U <= D)")
        arrs = {k: _positive_array(k, v) for k, v in given.items()}
        try:
            arrs = dict(zip(arrs, np.broadcast_arrays(*arrs.values())))
        except ValueError:
            raise ConfigError(
                "the arrays given do not broadcast: "
                + ", ".join(f"{k} has shape {v.shape}" for k, v in arrs.items())
            ) from None
        if len(ndc) == 2:
            if "C" not in arrs:
                arrs["C"] = FLOPS_PER_PARAM_TOKEN * arrs["N"] * arrs["D"]
            elif "N" in arrs:
                arrs["D"] = arrs["C"] / (FLOPS_PER_PARAM_TOKEN * arrs["N"])
            else:
                arrs["N"] = arrs["C"] / (FLOPS_PER_PARAM_TOKEN * arrs["D"])
        return {k: arrs[k] for k in ("N", "D", "C", "U") if k in arrs}

    def _warn_extrapolation(self, C: np.ndarray) -> None:
        factor = float(np.max(C) / np.max(self.data.C))
        if factor > EXTRAPOLATION_FACTOR:
            warnings.warn(
                f"extrapolating to C={np.max(C):.3g} FLOPs, {factor:.0f}x the largest training compute in the "
                f"data ({np.max(self.data.C):.3g}); the interval assumes the law holds that far",
                ExtrapolationWarning,
                stacklevel=3,
            )

    def _natural_draws(self, group=None) -> dict[str, np.ndarray]:
        """Natural-scale law parameters, flattened draws ``(S,)`` (per group for hierarchical fits)."""
        if self.pooling != "complete":
            from bayescale.hierarchical import group_natural_draws

            return group_natural_draws(self, group)
        if group is not None:
            raise ConfigError(f"group={group!r} given, but this fit has no groups (fit with pooling='partial')")
        return self.draws(self.law.param_names)

    def predict_draws(self, N=None, D=None, *, C=None, U=None, noise: bool = False, seed: int = 0, group=None) -> np.ndarray:
        """Loss draws, shape ``(chains * draws, points)``: the law alone, or with observation noise."""
        return self._draws_at(self._covariates(N, D, C, U), noise=noise, seed=seed, group=group)

    def _draws_at(self, cov: dict, *, noise: bool, seed: int, group) -> np.ndarray:
        p = self._natural_draws(group)
        nat = {k: jnp.asarray(p[k])[:, None] for k in self.law.param_names}
        logL = np.asarray(self.law.log_loss(nat, *(cov[c] for c in self.law.covariates)), dtype=np.float64)
        if noise:
            sigma = self.draws(("sigma",))["sigma"]
            df = self.draws(("df",))["df"] if self.likelihood.learns_df else None
            logL = logL + self.likelihood.noise(seed, sigma, df, logL.shape[1:])
        return np.exp(logL)

    def predict(self, N=None, D=None, *, C=None, U=None, prob: float = 0.9, seed: int = 0, group=None):
        """Forecast the loss at new runs: median and central interval.

        Give two of ``N``, ``D``, ``C`` (scalars or arrays that broadcast); a
        one-variable law also takes its variable alone (``C=`` for ``"power_law"``),
        the data-constrained law also needs unique tokens ``U``. Columns ``loss_*``
        are the law alone (where the curve is); ``pred_*`` add the observation
        noise (where a new run would land). Hierarchical fits take ``group=``: a
        label from the data, or ``"population"`` for a new group.

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
        cov = self._covariates(N, D, C, U)
        if "C" in cov:
            self._warn_extrapolation(cov["C"])
        law_draws = self._draws_at(cov, noise=False, seed=seed, group=group)
        pred_draws = self._draws_at(cov, noise=True, seed=seed, group=group)
        m, lo, hi = _interval(law_draws, prob)
        pm, plo, phi = _interval(pred_draws, prob)
        return pd.DataFrame(
            {
                **cov,
                "loss_median": m, "loss_lower": lo, "loss_upper": hi,
                "pred_median": pm, "pred_lower": plo, "pred_upper": phi,
            }
        )

    # ------------------------------------------------------------- frontier
    def frontier_draws(self, C, *, group=None) -> dict[str, np.ndarray]:
        """Posterior draws of the compute-optimal frontier at budgets ``C``.

        Returns ``N_opt``, ``D_opt``, ``tokens_per_param``, ``loss`` (shape
        ``(chains * draws, len(C))``), and for the Chinchilla law the exponents
        ``a``, ``b``. Closed form where the law has one, otherwise a vectorised
        numerical minimisation along ``6 N D = C``
        (:func:`~bayescale.frontier.numerical_frontier`).
        """
        from bayescale.frontier import numerical_frontier

        if not self.law.has_frontier:
            raise LawCapabilityError(
                f"law {self.law.name!r} ({self.law.formula}) depends on {', '.join(self.law.covariates)} only and "
                "has no compute-optimal frontier along 6ND = C; it answers predict only. Fit a law of (N, D) "
                "(e.g. 'chinchilla' or 'kaplan') for frontier questions"
            )
        Cc = _positive_array("C", C)
        p = {k: jnp.asarray(v) for k, v in self._natural_draws(group).items()}
        if self.law.frontier_fn is not None:
            out = self.law.frontier_fn(p, jnp.asarray(Cc))
        else:
            out = numerical_frontier(self.law.log_loss, p, jnp.asarray(Cc))
        return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}

    def frontier(self, C, prob: float = 0.9, *, group=None):
        """The compute-optimal frontier at budget(s) ``C``: median and central interval.

        One row per budget; for each of ``N_opt``, ``D_opt``, ``tokens_per_param``
        and ``loss`` (the loss L*(C) on the frontier) the columns ``*_median``,
        ``*_lower``, ``*_upper``. Hierarchical fits take ``group=`` as :meth:`predict`.
        Raises :class:`~bayescale.errors.LawCapabilityError` for a law with no frontier.

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
        draws = self.frontier_draws(Cc, group=group)
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
            "pooling": self.pooling,
            "group_labels": None if self.group_labels is None else list(self.group_labels),
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the fit to a netCDF file (every InferenceData group plus the fit's settings)."""
        self.idata.posterior.attrs[_idata.META_KEY] = json.dumps(self._meta())
        _idata.write(self.idata, path)

    def __repr__(self) -> str:
        s = self.summary(prob=0.9)
        lines = [
            f"ScalingFit({self.law.formula}; likelihood={self.likelihood.kind}; n={self.data.n}; "
            + (f"pooling={self.pooling} over {len(self.group_labels)} groups; " if self.group_labels else "")
            + f"{self.config.num_chains} chains x {self.config.num_samples} draws)",
        ]
        for name in s.index:
            lines.append(f"  {name:>6} = {s.loc[name, 'mean']:.4g}  (sd {s.loc[name, 'sd']:.3g})")
        lines.append("  " + ("converged" if self.converged else "NOT converged: " + " | ".join(self.diagnostics.problems)))
        return "\n".join(lines)


def _diagnostics_of(idata, law: Law, pooling: str = "complete") -> Diagnostics:
    from bayescale.hierarchical import diagnostic_names

    ess, rhat = _idata.ess_rhat(idata, diagnostic_names(law, pooling))
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
            names=meta.get("names", {}), U=np.asarray(const["U"]) if "U" in const else None,
        )
        pooling = meta.get("pooling", "complete")
        settings = dict(
            likelihood=Likelihood(**meta["likelihood"]),
            priors=priors_from_json(meta["priors"]),
            config=SamplerConfig(**meta["sampler"]),
            ref=meta["ref"],
            seed=int(meta["seed"]),
            pooling=pooling,
            group_labels=None if meta.get("group_labels") is None else tuple(meta["group_labels"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise FileFormatError(
            f"{path!r} has incomplete or inconsistent bayescale metadata or data ({type(err).__name__}: {err}); "
            "the file was edited or damaged: refit and save again"
        ) from None
    return ScalingFit(idata=idata, law=law, data=data, diagnostics=_diagnostics_of(idata, law, pooling), **settings)
