"""Bulk ESS and rank-normalised split R-hat of a fit, and the table the command line prints, without ArviZ.

The estimators are BlackJAX's (:func:`blackjax.diagnostics.ess_bulk`, :func:`blackjax.diagnostics.rhat`:
Vehtari et al. 2021, as ArviZ computes them; equal to ArviZ's in float64, which they run in here),
compiled once per shape into one small program kept in the executable cache
(:mod:`bayescale.inference.executable_cache`); where that program is not at hand and ArviZ is loaded
already (a process that compiled its sampler imported it meanwhile), ArviZ's estimates are used, the same
numbers without a compile. Importing ArviZ (with xarray, pandas and matplotlib
behind it) takes longer than a cached fit: a fit's convergence checks and ``bayescale fit``'s first
table need none of it. The InferenceData, ``fit.summary()`` and everything else ArviZ offers still
come from :mod:`bayescale.posterior.idata`.
"""

from __future__ import annotations

import sys
import threading
from typing import Mapping

import numpy as np

from bayescale.inference.aot import Program

__all__ = ["ess_rhat_arrays", "summary_table", "prepare_in_background"]

_PROGRAM: Program | None = None
_PREPARING: threading.Thread | None = None


def _diagnose(x):
    """``(ess_bulk, rhat)`` of each row of ``x`` ``(rows, chain, draw)``."""
    import jax
    from blackjax.diagnostics import ess_bulk, rhat

    return jax.vmap(lambda v: (ess_bulk(v), rhat(v)))(x)


def _program() -> Program:
    global _PROGRAM
    if _PROGRAM is None:
        import jax

        # XLA's backend optimisations off: they doubled the compile (a first fit's) and saved nothing in its run.
        _PROGRAM = Program(lambda: jax.jit(_diagnose), disk_key=("convergence", "blackjax ess_bulk, rhat", "float64"),
                           compiler_options={"xla_backend_optimization_level": 0})
    return _PROGRAM


def _padded(rows: int) -> int:
    """Rows the program is compiled for: 8, 16, 32, ... (so a fit's checks and its table share one program)."""
    size = 8
    while size < rows:
        size *= 2
    return size


def _prepare(num_chains: int, num_draws: int) -> None:
    import jax

    with jax.enable_x64(True):
        _program().compile(np.zeros((_padded(1), num_chains, num_draws), dtype=np.float64))


def prepare_in_background(num_chains: int, num_draws: int) -> None:
    """Read (or compile and store) the program for ``num_chains`` x ``num_draws`` draws in a daemon thread.

    ``bs.fit`` calls it while XLA compiles the sampler (which releases the GIL), so a first fit does not
    wait for this compile either; :func:`ess_rhat_arrays` waits for it to finish.
    """
    global _PREPARING
    if _PREPARING is not None and _PREPARING.is_alive():
        return
    _PREPARING = threading.Thread(target=_quietly, args=(num_chains, num_draws), name="bayescale-convergence",
                                  daemon=True)
    _PREPARING.start()


def _quietly(num_chains: int, num_draws: int) -> None:
    try:
        _prepare(num_chains, num_draws)
    except Exception:  # noqa: BLE001 - the caller's own call reports it
        pass


def ess_rhat_arrays(draws: Mapping[str, np.ndarray]) -> tuple[dict, dict]:
    """Bulk ESS and rank-normalised split R-hat of each variable ``(chain, draw)``, as floats.

    R-hat is NaN with a single chain, and infinite where the chains are degenerate (NaN), so the
    R-hat check fails (as :func:`bayescale.posterior.idata.ess_rhat_arrays`).

    Examples
    --------
    >>> import numpy as np
    >>> from bayescale.posterior.convergence import ess_rhat_arrays
    >>> x = np.random.default_rng(0).normal(size=(4, 500))
    >>> ess, rhat = ess_rhat_arrays({"x": x})
    >>> 1500 < ess["x"] < 2500, abs(rhat["x"] - 1) < 0.01
    (True, True)
    """
    import jax

    if _PREPARING is not None:
        _PREPARING.join()
    names = list(draws)
    x = np.stack([np.asarray(draws[k], dtype=np.float64) for k in names])
    if x.ndim != 3:
        raise ValueError(f"expected one (chain, draw) array per variable, got shape {x.shape[1:]}")
    rows = _padded(len(names))
    x = np.concatenate([x, np.repeat(x[:1], rows - len(names), axis=0)])
    with jax.enable_x64(True):
        if not _program().available(x) and "arviz" in sys.modules:
            # ArviZ is loaded already (a process that compiled its sampler imported it meanwhile): its
            # estimates (the same numbers) cost nothing, compiling the program for this shape a second or so.
            from bayescale.posterior.idata import ess_rhat_arrays as with_arviz

            return with_arviz(dict(zip(names, x[: len(names)])))
        ess, rhat = jax.device_get(_program()(x))
    ess, rhat = np.asarray(ess, dtype=float)[: len(names)], np.asarray(rhat, dtype=float)[: len(names)]
    if x.shape[1] < 2:
        rhat = np.full(len(names), np.nan)
    else:
        rhat = np.where(np.isnan(rhat), np.inf, rhat)
    return dict(zip(names, map(float, ess))), dict(zip(names, map(float, rhat)))


def summary_table(fit, var_names: list[str], prob: float):
    """Mean, sd, central HDI (NumPyro's :func:`~numpyro.diagnostics.hpdi`, ArviZ's definition), bulk ESS and
    R-hat of scalar posterior variables: the columns of ``fit.summary()`` that ``bayescale fit`` prints."""
    import pandas as pd
    from numpyro.diagnostics import hpdi

    arrays = {k: np.asarray(fit.posterior_array(k), dtype=np.float64) for k in var_names}
    ess, rhat = ess_rhat_arrays(arrays)
    lo, hi = f"hdi_{(1 - prob) / 2:.0%}", f"hdi_{1 - (1 - prob) / 2:.0%}"
    rows = {}
    for k, v in arrays.items():
        flat = v.reshape(-1)
        interval = hpdi(flat, prob)
        rows[k] = {"mean": flat.mean(), "sd": flat.std(ddof=1), lo: interval[0], hi: interval[1],
                   "ess_bulk": ess[k], "r_hat": rhat[k]}
    return pd.DataFrame.from_dict(rows, orient="index")
