"""Loading fits saved by :meth:`~bayescale.ScalingFit.save` (netCDF through ArviZ, settings as JSON metadata)."""

from __future__ import annotations

import os

import numpy as np

from bayescale.data import ScalingData
from bayescale.errors import ConfigError, FileFormatError
from bayescale.inference.config import SamplerConfig
from bayescale.model.law import Law
from bayescale.model.error_models import ErrorModel
from bayescale.model.law_registry import get_law
from bayescale.model.likelihoods import Likelihood
from bayescale.model.priors import priors_from_json
from bayescale.model.spec import ScalingModel
from bayescale.posterior import idata as _idata
from bayescale.posterior.diagnostics import Diagnostics
from bayescale.posterior.result import FORMAT_VERSION, ScalingFit

__all__ = ["load", "diagnostics_of"]

def diagnostics_of(idata, model: ScalingModel) -> Diagnostics:
    """Diagnostics of a fit's InferenceData: ESS / R-hat of the variables its pooling names."""
    ess, rhat = _idata.ess_rhat(idata, model.diagnostic_names)
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
        model = ScalingModel(law=law, likelihood=Likelihood.from_dict(meta["likelihood"]),
                             pooling=meta.get("pooling_options", meta.get("pooling", "complete")), priors=priors_from_json(meta["priors"]),
                             error_model=ErrorModel.from_dict(meta.get("error_model")))
        settings = dict(
            model=model,
            config=SamplerConfig(**meta["sampler"]),
            ref=meta["ref"],
            seed=int(meta["seed"]),
            group_labels=None if meta.get("group_labels") is None else tuple(meta["group_labels"]),
            sampler=str(meta.get("sampler_used", "nuts")),
            refits=tuple(dict(r) for r in meta.get("refits", [])),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise FileFormatError(
            f"{path!r} has incomplete or inconsistent bayescale metadata or data ({type(err).__name__}: {err}); "
            "the file was edited or damaged: refit and save again"
        ) from None
    fit = ScalingFit(idata=idata, data=data, diagnostics=diagnostics_of(idata, model), **settings)
    for key, folds in dict(meta.get("discrepancy_evidence") or {}).items():
        fit._evidence[key] = [{n: np.asarray(a, dtype=np.float64) for n, a in ev.items()} for ev in folds]
    return fit
