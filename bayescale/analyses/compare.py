"""Model comparison by PSIS-LOO: which law, which likelihood, fits the same data best.

Every fit stores the pointwise log-likelihood of its observations, so
:func:`compare` works on fresh fits and on fits read back with :func:`bayescale.load`.
The numbers come from ArviZ (``az.loo``, ``az.compare``) through ``bayescale.posterior.idata``.
"""

from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import numpy as np

from bayescale.errors import ComparisonError, ParetoKWarning
from bayescale.posterior import idata as _idata
from bayescale.posterior.result import ScalingFit

__all__ = ["compare", "loo"]


def _label(fit) -> str:
    return fit.model.label


def _named(fits) -> dict:
    if isinstance(fits, Mapping):
        named = dict(fits)
    elif isinstance(fits, Sequence) and not isinstance(fits, str):
        named = {}
        for j, f in enumerate(fits):
            if not isinstance(f, ScalingFit):
                raise ComparisonError(f"fits[{j}] is a {type(f).__name__}, not a bayescale fit (bs.fit or bs.load)")
            name, i = _label(f), 2
            while name in named:
                name, i = f"{_label(f)}#{i}", i + 1
            named[name] = f
    else:
        raise ComparisonError(f"pass the fits as a dict name -> fit or a list of fits, got {type(fits).__name__}")
    for name, f in named.items():
        if not isinstance(f, ScalingFit):
            raise ComparisonError(f"{name!r} is a {type(f).__name__}, not a bayescale fit (bs.fit or bs.load)")
    if len(named) < 2:
        raise ComparisonError(f"compare needs at least two fits, got {len(named)}")
    return named


def _check_same_data(named: Mapping) -> None:
    items = list(named.items())
    ref_name, ref = items[0]
    for name, f in items[1:]:
        same = f.data.n == ref.data.n and all(
            np.array_equal(getattr(f.data, c), getattr(ref.data, c)) for c in ("N", "D", "loss")
        )
        if not same:
            raise ComparisonError(
                f"fits {ref_name!r} (n={ref.data.n}) and {name!r} (n={f.data.n}) are of different data; LOO "
                "compares models of the same observations only: refit both on one ScalingData"
            )


def loo(fit):
    """PSIS-LOO of one fit: ``(elpd_loo, se, p_loo, pareto_k)`` as a dict.

    Examples
    --------
    >>> import bayescale as bs
    >>> fit = bs.fit(bs.datasets.example(), seed=0, num_warmup=500, num_samples=500)
    >>> r = bs.loo(fit)
    >>> sorted(r)
    ['elpd_loo', 'good_k', 'n_high_k', 'p_loo', 'pareto_k', 'se']
    """
    res, k, good_k = _idata.loo(fit.idata)
    return {
        "elpd_loo": float(res["elpd_loo"]),
        "se": float(res["se"]),
        "p_loo": float(res["p_loo"]),
        "pareto_k": k,
        "good_k": good_k,
        "n_high_k": int(np.sum(k > good_k)),
    }


def compare(fits, *, warn: bool = True):
    """Rank fits of the same data by PSIS-LOO expected log predictive density (``az.compare``).

    Parameters
    ----------
    fits : dict name -> ScalingFit, or list of ScalingFit
        Fits of the same observations (different laws, likelihoods or priors).
        A list is labelled ``law/likelihood``.
    warn : bool
        Emit a :class:`~bayescale.errors.ParetoKWarning` naming each fit with
        Pareto k above ArviZ's threshold (its LOO estimate is then unreliable).

    Returns
    -------
    pandas.DataFrame
        ArviZ's comparison table (``rank``, ``elpd_loo``, ``p_loo``, ``elpd_diff``,
        ``weight``, ``se``, ``dse``, ``warning``, ``scale``; best first) plus
        ``n_high_k`` and ``max_k``, the number of points with Pareto k above the
        threshold and the largest k.

    Raises
    ------
    ComparisonError
        Fewer than two fits, something that is not a fit, or fits of different data.

    Examples
    --------
    >>> import bayescale as bs
    >>> data = bs.datasets.example()
    >>> fit = bs.fit(data, seed=0, num_warmup=500, num_samples=500)
    >>> table = bs.compare({"a": fit, "b": fit})
    >>> list(table.columns[:4]), table.shape[0]
    (['rank', 'elpd_loo', 'p_loo', 'elpd_diff'], 2)
    """
    named = _named(fits)
    _check_same_data(named)
    results = {name: _idata.loo(f.idata) for name, f in named.items()}
    table = _idata.compare({name: r[0] for name, r in results.items()})
    table["n_high_k"] = [int(np.sum(results[n][1] > results[n][2])) for n in table.index]
    table["max_k"] = [float(np.max(results[n][1])) for n in table.index]
    bad = {n: results[n] for n in table.index if np.any(results[n][1] > results[n][2])}
    if warn and bad:
        details = "; ".join(
            f"{n}: {int(np.sum(k > g))} of {k.size} points with k > {g:.2f} (max k = {np.max(k):.2f})"
            for n, (_, k, g) in bad.items()
        )
        warnings.warn(
            f"PSIS-LOO is unreliable for some points ({details}); those points are influential or "
            "outlying: treat elpd differences with care, check them, or refit with a robust likelihood",
            ParetoKWarning,
            stacklevel=2,
        )
    return table
