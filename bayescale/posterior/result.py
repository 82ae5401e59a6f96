"""The result of a fit: an ArviZ InferenceData that answers domain questions."""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from typing import Any, Mapping

import numpy as np

from bayescale.checks import check_prob, positive_values
from bayescale.data import FLOPS_PER_PARAM_TOKEN, ScalingData
from bayescale.errors import ConfigError, ExtrapolationWarning
from bayescale.inference.config import SamplerConfig
from bayescale.model.law import Law
from bayescale.model.likelihoods import Likelihood
from bayescale.model.pooling import Pooling
from bayescale.model.priors import Prior, priors_to_json
from bayescale.model.spec import ScalingModel
from bayescale.posterior import idata as _idata
from bayescale.posterior import law_programs
from bayescale.posterior.diagnostics import Diagnostics

__all__ = ["ScalingFit", "EXTRAPOLATION_FACTOR", "FORMAT_VERSION", "metadata"]
#: Forecasts beyond this multiple of the largest training compute in the data warn.
EXTRAPOLATION_FACTOR = 100.0


def _interval(draws: np.ndarray, prob: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lo = (1.0 - prob) / 2.0
    q = np.quantile(draws, [0.5, lo, 1.0 - lo], axis=0)
    return q[0], q[1], q[2]


class ScalingFit:
    """Posterior of a scaling law, with forecasts and the compute-optimal frontier.

    Built by :func:`bayescale.fit` or :func:`bayescale.load`; ``idata`` is the
    ArviZ InferenceData (groups ``posterior``, ``sample_stats``, ``log_likelihood``,
    ``posterior_predictive``, ``observed_data``, ``constant_data``); ``model`` the
    :class:`~bayescale.ScalingModel` that was fitted.

    A fit fresh from the sampler builds its InferenceData (and draws its posterior
    predictive) on first read of ``idata``: forecasts, frontiers and diagnostics read the
    posterior arrays directly (``posterior``), so the many fits of :func:`bayescale.fit_many`
    cost no ArviZ work until one is inspected. The result is the same either way.
    """

    def __init__(self, idata: Any, model: ScalingModel, config: SamplerConfig, ref: Mapping[str, float], seed: int,
                 data: ScalingData, diagnostics: Diagnostics, group_labels: tuple[str, ...] | None = None, *,
                 posterior: Mapping[str, np.ndarray] | None = None, extra_draws_per_chain: int | None = None,
                 sampler: str = "nuts", refits: tuple = ()) -> None:
        """``idata``: an InferenceData, or a function of no arguments that builds it (called once, on first
        read). ``posterior``: the posterior draws ``(chain, draw, ...)`` by name, when already at hand.
        ``extra_draws_per_chain``: see the property (read from ``idata`` when not given). ``sampler``:
        ``"nuts"`` or ``"chees"``. ``refits``: the fits given up before this one, each
        ``{"sampler", "target_accept", "divergences"}``: refits after divergences (:func:`bayescale.fit`'s
        ``refit_divergent``), a ChEES fit refitted with NUTS (and its ``"problems"``), the fit given up around a
        restart after a stuck chain (and ``"restart"``, ``"stuck_chains"``, ``"median_step_size"``:
        :mod:`bayescale.fitting.restart`)."""
        if idata is None and posterior is None:
            raise ValueError("ScalingFit needs idata or posterior draws")
        self._idata, self._posterior = idata, None if posterior is None else dict(posterior)
        self.model, self.config, self.ref, self.seed = model, config, ref, seed
        self.data, self.diagnostics, self.group_labels = data, diagnostics, group_labels
        self._extra = extra_draws_per_chain
        self.sampler, self.refits = sampler, tuple(dict(r) for r in refits)
        self._evidence: dict[str, list[dict]] = {}

    @property
    def idata(self):
        """The ArviZ InferenceData of the fit (built on first read for a fit fresh from the sampler)."""
        if callable(self._idata):
            self._idata = self._idata()
        return self._idata

    def posterior_array(self, name: str) -> np.ndarray:
        """Posterior draws of one variable, shape ``(chain, draw, ...)``, without building the InferenceData."""
        if self._posterior is not None:
            return np.asarray(self._posterior[name])
        return np.asarray(self.idata.posterior[name])

    @property
    def law(self) -> Law:
        return self.model.law

    @property
    def likelihood(self) -> Likelihood:
        return self.model.likelihood

    @property
    def priors(self) -> Mapping[str, Prior]:
        return self.model.priors

    @property
    def pooling(self) -> Pooling:
        return self.model.pooling

    # ------------------------------------------------------------- posterior
    @property
    def converged(self) -> bool:
        """True when there were no divergences, R-hat <= 1.01 and bulk ESS >= 400 for every law parameter."""
        return self.diagnostics.converged

    @property
    def extra_draws_per_chain(self) -> int:
        """Draws per chain added after ``num_samples`` by ``until_converged`` (0: none were needed)."""
        if self._extra is None:
            self._extra = int(self.idata.sample_stats.attrs.get("extra_draws_per_chain", 0))
        return self._extra

    def draws(self, var_names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """Posterior draws flattened over chains: ``{name: array (chains * draws,)}``.

        Per-group parameters of a pooled fit have shape ``(chains * draws, groups)``.
        """
        names = var_names or (*self.law.param_names, *self.model.noise_sites)
        out = {k: self.posterior_array(k) for k in names}
        return {k: v.reshape(-1, *v.shape[2:]) for k, v in out.items()}

    def summary(self, prob: float = 0.9):
        """ArviZ summary table (mean, sd, HDI, MCSE, ESS, R-hat) of the law's parameters and ``sigma``.

        Exponents come first: they drive extrapolation.
        """
        return _idata.summary(self.idata, self._summary_order(), check_prob(prob))

    def _summary_order(self) -> list[str]:
        order = [n for n in self.law.param_names if n.startswith(("alpha", "beta", "delta_alpha"))]
        order += [n for n in self.law.param_names if n not in order] + list(self.model.noise_sites)
        return order + [n for n in self.model.diagnostic_names if n not in order]

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
        arrs = {k: positive_values(k, v) for k, v in given.items()}
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

    def natural_draws(self, group=None, *, seed: int = 0) -> dict[str, np.ndarray]:
        """Natural-scale law parameters, flattened draws ``(S,)``; a pooled fit takes ``group=``
        (a label from the data, or ``"population"`` for a new group of a partially pooled fit, drawn with
        ``seed``: every call that takes a ``seed`` passes its own, the others use 0)."""
        return self.pooling.natural_draws(self, group, seed)

    def noise_draws(self) -> dict[str, np.ndarray]:
        """Flattened draws of the noise parameters: ``sigma`` and any extra site of the likelihood."""
        return self.draws(self.model.noise_sites)

    def predict_draws(self, N=None, D=None, *, C=None, U=None, seed: int = 0, group=None) -> dict[str, np.ndarray]:
        """The draws behind :meth:`predict`'s columns, each ``(chains * draws, points)``: ``"loss"``, the law
        alone, and ``"pred"``, a new run's loss (plus the error model's shared errors and the observation
        noise), as :meth:`frontier_draws` returns the draws behind :meth:`frontier`. Same ``seed``, same draws.

        Examples
        --------
        >>> import bayescale as bs
        >>> fit = bs.fit(bs.datasets.example(), seed=0, num_warmup=500, num_samples=500)
        >>> draws = fit.predict_draws(N=[1e9, 2e9], D=2e10)
        >>> sorted(draws), draws["pred"].shape
        (['loss', 'pred'], (2000, 2))
        """
        return self._predict_draws(self._covariates(N, D, C, U), seed, group)

    def _predict_draws(self, cov: dict, seed: int, group) -> dict[str, np.ndarray]:
        return {"loss": self._draws_at(cov, noise=False, seed=seed, group=group),
                "pred": self._draws_at(cov, noise=True, seed=seed, group=group)}

    def _law_log_loss(self, cov: dict, group, seed: int = 0) -> np.ndarray:
        p = self.natural_draws(group, seed=seed)
        nat = {k: np.asarray(p[k])[:, None] for k in self.law.param_names}
        return np.asarray(law_programs.log_loss(self.law, nat, *(cov[c] for c in self.law.covariates)), dtype=np.float64)

    def predictive_location(self, cov: dict, *, seed: int = 0, group=None) -> np.ndarray:
        """Draws ``(S, m)`` of the observation distribution's location at new runs ``cov`` (covariates as
        :meth:`_covariates` returns them): the law's log loss plus the error model's shared errors
        (:meth:`ErrorModel.draws <bayescale.model.error_models.ErrorModel.draws>`), the one place they
        enter every posterior predictive. Same ``seed``, same draws."""
        return self._law_log_loss(cov, group, seed) + self.model.error_model.draws(self, cov, seed)

    def discrepancy_evidence(self, *, by=("C", "N"), max_folds: int = 4, resolution: float = 0.02) -> list[dict]:
        """What rolling-origin forecasts inside this fit's data say about the law's drift beyond them
        (:func:`bayescale.fitting.rolling_origin.rolling_origin_evidence`: refits below cutoffs of ``by[0]``,
        once per fit and settings, kept with the fit and saved with it)."""
        by = (by,) if isinstance(by, str) else tuple(by)
        key = json.dumps({"by": list(by), "max_folds": int(max_folds), "resolution": float(resolution)}, sort_keys=True)
        if key not in self._evidence:
            # The one upward import of this layer (documented in ARCHITECTURE.md): the evidence takes refits.
            from bayescale.fitting.rolling_origin import rolling_origin_evidence

            self._evidence[key] = rolling_origin_evidence(self, by=by, max_folds=max_folds, resolution=resolution)
        return self._evidence[key]

    def _draws_at(self, cov: dict, *, noise: bool, seed: int, group) -> np.ndarray:
        if not noise:
            return np.exp(self._law_log_loss(cov, group, seed))
        logL = self.predictive_location(cov, seed=seed, group=group)
        noise_params = self.noise_draws()
        sigma = noise_params.pop("sigma")
        return np.exp(logL + self.likelihood.noise(seed, sigma, logL.shape[1:], **noise_params))

    def predict(self, N=None, D=None, *, C=None, U=None, prob: float = 0.9, seed: int = 0, group=None):
        """Forecast the loss at new runs: median and central interval.

        Give two of ``N``, ``D``, ``C`` (scalars or arrays that broadcast); a
        one-variable law also takes its variable alone (``C=`` for ``"power_law"``),
        the data-constrained law also needs unique tokens ``U``. Columns ``loss_*``
        are the law alone (where the curve is); ``pred_*`` add the observation
        noise and the error model's shared errors (where a new run would land;
        a run at a new compute budget or model size gets a new draw of its level's
        error: :mod:`bayescale.model.error_models`). Hierarchical fits take ``group=``: a
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

        prob = check_prob(prob)
        cov = self._covariates(N, D, C, U)
        if "C" in cov:
            self._warn_extrapolation(cov["C"])
        draws = self._predict_draws(cov, seed, group)
        m, lo, hi = _interval(draws["loss"], prob)
        pm, plo, phi = _interval(draws["pred"], prob)
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
        (:func:`~bayescale.model.frontier.numerical_frontier`).
        """
        self.law.require_frontier()
        Cc = positive_values("C", C)
        out = law_programs.frontier(self.law, self.natural_draws(group), Cc)
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

        prob = check_prob(prob)
        Cc = positive_values("C", C)
        self._warn_extrapolation(Cc)
        draws = self.frontier_draws(Cc, group=group)
        cols = {}
        for q in ("N_opt", "D_opt", "tokens_per_param", "loss"):
            m, lo, hi = _interval(draws[q], prob)
            cols[f"{q}_median"], cols[f"{q}_lower"], cols[f"{q}_upper"] = m, lo, hi
        return pd.DataFrame(cols, index=pd.Index(Cc, name="C"))

    # ------------------------------------------------------------- I/O
    def save(self, path: str | os.PathLike) -> None:
        """Write the fit to a netCDF file (every InferenceData group plus the fit's settings);
        read it back with :func:`bayescale.load`."""
        self.idata.posterior.attrs[_idata.META_KEY] = json.dumps(metadata(self))
        _idata.write(self.idata, path)

    def __repr__(self) -> str:
        """The model, the posterior mean and sd of each parameter, and the checks: from the draws at hand (no
        InferenceData is built, no ArviZ summary run; :meth:`summary` has ESS, R-hat and intervals)."""
        lines = [
            f"ScalingFit({self.law.formula}; likelihood={self.likelihood.label}; n={self.data.n}; "
            + (f"pooling={self.pooling.name} over {len(self.group_labels)} groups; " if self.group_labels else "")
            + f"{self.config.num_chains} chains x {self.config.num_samples} draws)",
        ]
        for name in self._summary_order():
            draws = self.posterior_array(name).astype(np.float64)
            draws = draws.reshape(draws.shape[0] * draws.shape[1], -1)
            groups = self.group_labels if len(self.group_labels or ()) == draws.shape[1] else range(draws.shape[1])
            labels = [name] if draws.shape[1] == 1 else [f"{name}[{g}]" for g in groups]
            lines.extend(_describe_draws(label, column) for label, column in zip(labels, draws.T))
        lines.append("  " + ("converged" if self.converged else "NOT converged: " + " | ".join(self.diagnostics.problems)))
        return "\n".join(lines)


def _describe_draws(label: str, column: np.ndarray) -> str:
    """``label = mean (sd)`` of the finite draws, saying how many are not finite (a prior's tail can overflow)."""
    finite = column[np.isfinite(column)]
    if finite.size < 2:
        return f"  {label:>6}: {finite.size} finite draw(s) of {column.size}, too few for a mean and sd"
    text = f"  {label:>6} = {finite.mean():.4g}  (sd {finite.std(ddof=1):.3g})"
    return text if finite.size == column.size else text + f"  [{column.size - finite.size} of {column.size} draws not finite]"


#: Version of the on-disk layout written by :meth:`ScalingFit.save`.
FORMAT_VERSION = 1


def metadata(fit: "ScalingFit") -> dict:
    """The settings saved beside the draws (everything :func:`load` needs to rebuild the fit)."""
    from bayescale._version import __version__

    return {
        "format_version": FORMAT_VERSION,
        "bayescale_version": __version__,
        "law": fit.law.name,
        "likelihood": fit.likelihood.to_dict(),
        "priors": priors_to_json(fit.priors),
        "sampler": dataclasses.asdict(fit.config),
        "ref": dict(fit.ref),
        "seed": fit.seed,
        "names": dict(fit.data.names),
        "pooling": fit.pooling.name,
        "pooling_options": fit.pooling.to_dict(),
        "error_model": fit.model.error_model.to_dict(),
        "group_labels": None if fit.group_labels is None else list(fit.group_labels),
        "sampler_used": fit.sampler,
        "refits": [dict(r) for r in fit.refits],
        "discrepancy_evidence": {k: [{n: np.asarray(a).tolist() for n, a in ev.items()} for ev in v]
                                 for k, v in fit._evidence.items()},
    }
