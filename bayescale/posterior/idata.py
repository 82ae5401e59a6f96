"""The one place where bayescale builds and reads ArviZ objects.

Everything that depends on the ArviZ API (``InferenceData`` construction, netCDF
I/O, summaries) goes through here, so a move to ArviZ 1.x (DataTree) is one change.

ArviZ is imported on first use, not with bayescale: with matplotlib, xarray, pandas
and scipy.stats behind it, it was half of ``import bayescale`` (about 1.3 s of 2.7 s).
:func:`preload_arviz` starts that import in a background thread; ``bs.fit`` calls it
while XLA compiles the sampler (compilation releases the GIL), so a first fit does not
wait for ArviZ. ``az`` is still an attribute of this module (imported when read).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import warnings
from typing import Any, Mapping

import numpy as np

_PRELOAD: threading.Thread | None = None
#: Whether :func:`_arviz` has imported ArviZ (under its own warnings filter, once).
_IMPORTED = False


def _arviz():
    """The ``arviz`` module (imported on first call; waits for a preload in progress).

    ArviZ 0.2x announces its 1.0 refactor with a FutureWarning when imported; it is silenced for the
    import only (no filter outlives it: importing bayescale changes no warnings state). In the preload
    thread the ``catch_warnings`` block spans the import while the caller compiles, which leaves the
    warnings filters alone; the caller's next use of ArviZ waits for the import to finish.
    """
    global _IMPORTED
    if not _IMPORTED:
        if _PRELOAD is not None and _PRELOAD is not threading.current_thread():
            _PRELOAD.join()  # one import at a time: the preload's catch_warnings block ends before ours begins
        if not _IMPORTED:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing a major refactor",
                                        category=FutureWarning)
                import arviz  # noqa: F401
            _IMPORTED = True
    import arviz

    return arviz


def __getattr__(name: str):
    if name == "az":
        return _arviz()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _import_quietly() -> None:
    try:
        _arviz()
    except Exception:  # noqa: BLE001 - the caller's own import reports it
        pass


def preload_arviz() -> None:
    """Start importing ArviZ in a daemon thread, unless it is imported or being imported already.

    Call it just before a long GIL-free stretch (XLA compilation); the next use of ArviZ
    waits for the import to finish (Python's import lock), so nothing depends on timing.
    """
    global _PRELOAD
    if "arviz" in sys.modules or _PRELOAD is not None:
        return
    _PRELOAD = threading.Thread(target=_import_quietly, name="bayescale-import-arviz", daemon=True)
    _PRELOAD.start()


__all__ = ["az", "preload_arviz", "build_idata", "build_prior_idata", "write", "read", "META_KEY", "summary", "ess_rhat", "ess_rhat_arrays", "plot_pair", "loo", "compare"]

#: Attribute of the posterior group holding bayescale's metadata as JSON.
META_KEY = "bayescale"


def build_idata(
    *,
    posterior: Mapping[str, np.ndarray],
    sample_stats: Mapping[str, np.ndarray],
    log_likelihood: Mapping[str, np.ndarray],
    posterior_predictive: Mapping[str, np.ndarray],
    observed_data: Mapping[str, np.ndarray],
    constant_data: Mapping[str, np.ndarray],
    meta: Mapping[str, Any],
    posterior_dims: Mapping[str, list] | None = None,
    coords: Mapping[str, Any] | None = None,
) -> "az.InferenceData":
    """Assemble an InferenceData with (chain, draw) leading dims and a ``run`` dim for observations.

    ``posterior_dims`` / ``coords`` name extra dimensions of posterior variables
    (e.g. ``{"alpha": ["group"]}`` with ``{"group": labels}``).
    """
    dims = {k: ["run"] for k in (*log_likelihood, *posterior_predictive, *observed_data, *constant_data)}
    dims.update(dict(posterior_dims or {}))
    idata = _arviz().from_dict(
        posterior={k: np.asarray(v) for k, v in posterior.items()},
        sample_stats={k: np.asarray(v) for k, v in sample_stats.items()},
        log_likelihood={k: np.asarray(v) for k, v in log_likelihood.items()},
        posterior_predictive={k: np.asarray(v) for k, v in posterior_predictive.items()},
        observed_data={k: np.asarray(v) for k, v in observed_data.items()},
        constant_data={k: np.asarray(v) for k, v in constant_data.items()},
        dims=dims,
        coords=dict(coords) if coords else None,
        attrs={"inference_library": "bayescale+numpyro"},
    )
    idata.posterior.attrs[META_KEY] = json.dumps(meta)
    return idata


def build_prior_idata(*, prior: Mapping[str, np.ndarray], prior_predictive: Mapping[str, np.ndarray],
                      observed_data: Mapping[str, np.ndarray], constant_data: Mapping[str, np.ndarray]):
    """An InferenceData of prior draws (``bs.prior_predictive``): per-run arrays get the ``run`` dimension."""
    dims = {k: ["run"] for k in (*prior_predictive, *observed_data, *constant_data)}
    return _arviz().from_dict(prior=dict(prior), prior_predictive=dict(prior_predictive),
                              observed_data=dict(observed_data), constant_data=dict(constant_data), dims=dims)


def write(idata: "az.InferenceData", path: str | os.PathLike) -> None:
    idata.to_netcdf(os.fspath(path))


def read(path: str | os.PathLike) -> "az.InferenceData":
    """Read a netCDF file fully into memory (the file is closed afterwards)."""
    idata = _arviz().from_netcdf(os.fspath(path))
    for group in idata.groups():
        getattr(idata, group).load()
    return idata


def meta_of(idata: "az.InferenceData") -> dict | None:
    post = getattr(idata, "posterior", None)
    if post is None or META_KEY not in post.attrs:
        return None
    return json.loads(post.attrs[META_KEY])


def summary(idata: "az.InferenceData", var_names: list[str], prob: float):
    return _arviz().summary(idata, var_names=var_names, hdi_prob=prob, round_to="none")


def ess_rhat(idata: "az.InferenceData", var_names: list[str]) -> tuple[dict, dict]:
    """Bulk ESS and rank-normalised split R-hat per variable (ArviZ)."""
    sub = idata.posterior[var_names]
    with _degenerate_draws_ok():
        ess = _arviz().ess(sub, method="bulk")
        nchain = sub.sizes["chain"]
        rhat = _arviz().rhat(sub) if nchain > 1 else None
    # Vector-valued variables (per-group parameters) report their worst element.
    ess_d = {k: float(np.nan_to_num(ess[k].values, nan=0.0).min()) for k in var_names}
    rhat_d = {k: (float(np.max(_rhat_or_inf(rhat[k].values))) if rhat is not None else float("nan")) for k in var_names}
    return ess_d, rhat_d


def _degenerate_draws_ok():
    """ArviZ's diagnostics take square roots of variances that are negative or overflow when chains
    have wildly different scales; NumPy then warns and returns NaN. The NaN is handled by the caller
    (:func:`_rhat_or_inf`), so the warning is silenced, not the problem."""
    return np.errstate(invalid="ignore", over="ignore", divide="ignore")


def _rhat_or_inf(values) -> np.ndarray:
    """R-hat with NaN (from degenerate, non-mixing chains) reported as inf, so the R-hat check fails."""
    arr = np.asarray(values, dtype=float)
    return np.where(np.isnan(arr), np.inf, arr)


def plot_pair(idata: "az.InferenceData", var_names: list[str], *, ax=None, **kwargs):
    """ArviZ pair plot (KDE contours with marginals by default); returns the array of Axes."""
    opts = {"kind": "kde", "marginals": True, "kde_kwargs": {"contourf_kwargs": {"cmap": "Blues"}}}
    opts.update(kwargs)
    with warnings.catch_warnings():
        # ArviZ 0.2x's kwarg dealiaser calls a matplotlib API deprecated in 3.11; not our code.
        warnings.filterwarnings("ignore", message="Passing a dict or None as alias_mapping", category=DeprecationWarning)
        return _arviz().plot_pair(idata, var_names=var_names, ax=ax, **opts)


def ess_rhat_arrays(draws: Mapping[str, np.ndarray]) -> tuple[dict, dict]:
    """Bulk ESS and rank-normalised split R-hat from arrays ``(..., chain, draw)``, in one ArviZ call each.

    Leading axes (e.g. one per fit of :func:`bayescale.fit_many`) are kept: each
    value of the result has the leading shape, so many fits are diagnosed at once
    instead of one ``az.summary`` per fit. With a single chain R-hat is NaN.
    """
    import xarray as xr

    first = next(iter(draws.values()))
    lead = [f"fit_dim_{i}" for i in range(np.ndim(first) - 2)]
    ds = xr.Dataset({k: ([*lead, "chain", "draw"], np.asarray(v)) for k, v in draws.items()})
    with _degenerate_draws_ok():
        ess = _arviz().ess(ds, method="bulk")
        nchain = ds.sizes["chain"]
        rhat = _arviz().rhat(ds) if nchain > 1 else None
    ess_d = {k: np.asarray(ess[k].values, dtype=float) for k in draws}
    rhat_d = {k: (_rhat_or_inf(rhat[k].values) if rhat is not None else np.full(np.shape(ess_d[k]), np.nan))
              for k in draws}
    if not lead:
        ess_d = {k: float(v) for k, v in ess_d.items()}
        rhat_d = {k: float(v) for k, v in rhat_d.items()}
    return ess_d, rhat_d


def loo(idata: "az.InferenceData", var_name: str = "log_loss"):
    """PSIS-LOO with pointwise values; ArviZ's own Pareto-k warning is returned, not emitted.

    Returns ``(elpd_data, pareto_k array, good_k threshold)``.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto", category=UserWarning)
        res = _arviz().loo(idata, pointwise=True, var_name=var_name)
    k = np.asarray(res["pareto_k"])
    good_k = float(res["good_k"]) if "good_k" in res else 0.7
    return res, k, good_k


def compare(elpds: Mapping[str, Any]):
    """``az.compare`` of precomputed pointwise LOO results (stacking weights)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto", category=UserWarning)
        # ArviZ 0.2x calls DataFrame.sort_values(inplace=True), deprecated in pandas 3.1: not our code.
        warnings.filterwarnings("ignore", message="The inplace keyword", category=Warning)
        return _arviz().compare(dict(elpds), ic="loo", method="stacking", scale="log")
