"""Many fits over several processes (hosts), on JAX's own multi-process runtime.

After ``jax.distributed.initialize(...)`` in each of P processes, process p fits datasets ``p, p + P, ...``
(:func:`share`) with :func:`~bayescale.fitting.batch.fit_many` on its local devices, dataset i with the
seed one process gives it (``seed + i``). Its draws are bit for bit those of one process's
``fit_many(datasets, seed=seed)`` with as many local devices, whenever XLA compiles the same per-device
program for both: at least two datasets on every device and, with several devices per process, every
process's datasets split evenly over them (K a multiple of 2 x P x devices does both). Other layouts round
differently: other chains, the same posterior.
:func:`gather_draws` brings every dataset's draws of a few parameters and its convergence flag to every
process with ``jax.experimental.multihost_utils.process_allgather``; InferenceData objects stay where
they were fitted. bayescale starts no process and opens no socket: JAX's runtime does both.

Call ``jax.distributed.initialize`` before ``import bayescale``: the import starts JAX's backend (NumPyro
checks the default priors). JAX 0.10 runs CPU collectives with gloo by default; older releases needed
``jax.config.update("jax_cpu_collectives_implementation", "gloo")`` first.
"""

from __future__ import annotations

import collections
import math
import numbers
from typing import NamedTuple, Sequence

import jax
import numpy as np

from bayescale.data import ScalingData
from bayescale.errors import BatchError, ConfigError
from bayescale.fitting.batch import dataset_seeds, warn_many, check_batch, fit_many
from bayescale.fitting.settings import MODEL_KEYWORDS
from bayescale.model.spec import resolve_model
from bayescale.posterior.result import ScalingFit

__all__ = ["fit_many_across_processes", "gather_draws", "share", "GatheredDraws"]


class GatheredDraws(NamedTuple):
    """What :func:`gather_draws` returns, the same on every process, in dataset order.

    ``draws[name][i, :n_draws[i]]`` is ``fits[i].draws()[name]`` of dataset i (chains one after
    another); the rest of a row is NaN (fits extended by ``until_converged`` hold more draws).
    """

    draws: dict[str, np.ndarray]
    converged: np.ndarray
    n_draws: np.ndarray


def share(total: int) -> list[int]:
    """The datasets this process fits out of ``total``: ``range(process_index, total, process_count)``.

    >>> share(3)  # one process (no jax.distributed): all of them
    [0, 1, 2]
    """
    return list(range(jax.process_index(), total, jax.process_count()))


def fit_many_across_processes(datasets: Sequence[ScalingData], law=None, *, seed: int | Sequence[int] = 0,
                              warn: bool = True, **fit_many_kwargs) -> tuple[list[ScalingFit], list[int]]:
    """Fit this process's share of ``datasets`` with :func:`~bayescale.fitting.batch.fit_many`.

    Call it with the same arguments in every process, after ``jax.distributed.initialize``; with
    one process (no ``jax.distributed``) it is ``fit_many(datasets, ...)``.

    Parameters
    ----------
    datasets : sequence of ScalingData
        All the datasets (the same list on every process): at least one per process, of one padded length.
    law, warn, **fit_many_kwargs
        As in :func:`~bayescale.fitting.batch.fit_many` (NUTS only: ChEES pools datasets, so its draws
        would depend on the split); the warning names the dataset indices of this process's failed fits.
    seed : int or sequence of int
        Dataset ``i`` uses ``seed + i`` (or ``seed[i]``), whichever process fits it.

    Returns
    -------
    fits : list of ScalingFit
        This process's fits: ``fits[j]`` is dataset ``indices[j]``'s, as ``fit_many(datasets, seed=seed)`` would
        give it (bit for bit in the device layouts of the module docs).
    indices : list of int
        Their positions in ``datasets``: :func:`share`.

    Raises
    ------
    BatchError, ConfigError
        Fewer datasets than processes, ``method="chees"``, or what ``fit_many`` refuses: on every process
        alike (all datasets are checked), before compiling.
    """
    datasets = None if isinstance(datasets, ScalingData) else list(datasets)
    if datasets is None or len(datasets) < jax.process_count():
        raise BatchError(f"fit_many_across_processes got {'one ScalingData' if datasets is None else len(datasets)} "
                         f"for {jax.process_count()} process(es); pass a list of at least one ScalingData per process")
    method = fit_many_kwargs.pop("method", "nuts")
    if method != "nuts":
        raise ConfigError(f"fit_many_across_processes runs method='nuts' only, got {method!r}: "
                          "ChEES's draws depend on which datasets share a pool, so on the split; call "
                          "bs.fit_many(..., method='chees') on each process's share yourself")
    model = resolve_model(law, **{k: fit_many_kwargs.pop(k, None) for k in MODEL_KEYWORDS if k != "law"})
    check_batch(datasets, model)  # all of them, so every process raises the same error
    seeds = dataset_seeds(seed, len(datasets))
    indices = share(len(datasets))
    fits = fit_many([datasets[i] for i in indices], model=model, seed=[seeds[i] for i in indices], warn=False,
                    method="nuts", **fit_many_kwargs)
    if warn:
        warn_many(fits, indices)
    return fits, indices


def gather_draws(fits: Sequence[ScalingFit], indices: Sequence[int], total: int,
                 names: Sequence[str] | None = None) -> GatheredDraws:
    """Every dataset's draws of ``names`` and its convergence flag, gathered onto every process.

    A collective: every process calls it, with what :func:`fit_many_across_processes` returned.

    Parameters
    ----------
    fits, indices
        This process's fits and their dataset indices; ``total`` datasets in all.
    names : sequence of str, optional
        The variables to gather (default: the law's parameters, e.g. E, A, B, alpha, beta).

    Returns
    -------
    GatheredDraws
        ``draws`` (``{name: (total, S)}``, S the most flattened draws of any fit), ``converged``
        (``(total,)`` bool) and ``n_draws`` (``(total,)``), identical on every process.

    Raises
    ------
    ConfigError
        No fits, indices not those of :func:`share` on every process, or a name that is not a scalar variable.
    """
    fits, indices = list(fits), [int(i) for i in indices]
    if isinstance(total, bool) or not isinstance(total, numbers.Integral) or total < 1:
        raise ConfigError(f"total must be the positive number of datasets across processes, got {total!r}")
    most = math.ceil(total / jax.process_count())  # the most datasets one process holds (share)
    if not fits or len(fits) != len(indices) or len(fits) > most or any(not 0 <= i < total for i in indices):
        raise ConfigError(f"gather_draws got {len(fits)} fits with indices {indices[:10]} for {total} datasets "
                          f"over {jax.process_count()} processes; pass the (fits, indices) "
                          "fit_many_across_processes returned")
    names = tuple(fits[0].law.param_names if names is None else names)
    try:
        local = [f.draws(names) for f in fits]
    except KeyError as e:
        raise ConfigError(f"the fits have no posterior variable {e.args[0]!r} to gather; pick names from "
                          f"{fits[0].law.param_names} or {fits[0].model.noise_sites}") from None
    if not names or any(v.ndim != 1 for d in local for v in d.values()):
        raise ConfigError(f"names must name one or more scalar variables, e.g. ('E', 'alpha'); got {names}")
    head = np.full((3, most), -1, np.int32)  # per fit: dataset index, number of draws, converged
    head[:, :len(fits)] = [indices, [len(d[names[0]]) for d in local], [f.converged for f in fits]]
    heads = _allgather(head)  # (processes, 3, most)
    where = heads[:, 0].reshape(-1)
    kept = where >= 0
    if sorted(where[kept].tolist()) != list(range(total)):
        raise ConfigError(f"the processes' indices do not cover datasets 0..{total - 1} once each; pass the "
                          "(fits, indices) fit_many_across_processes returned, and the same total, on every process")
    width = int(heads[:, 1].max())
    block = {k: np.full((most, width), np.nan, local[0][k].dtype) for k in names}
    for j, d in enumerate(local):
        for k in names:
            block[k][j, :len(d[k])] = d[k]
    gathered = _allgather(block)
    order = np.argsort(where[kept])
    draws = {k: v.reshape(-1, width)[kept][order] for k, v in gathered.items()}
    return GatheredDraws(draws, heads[:, 2].reshape(-1)[kept][order].astype(bool), heads[:, 1].reshape(-1)[kept][order])


def _allgather(tree):
    """``process_allgather(tree)`` (stacked over processes), also when processes hold different device counts."""
    from jax.experimental import multihost_utils

    counts = collections.Counter(d.process_index for d in jax.devices())
    if len(set(counts.values())) == 1:
        return multihost_utils.process_allgather(tree)
    # process_allgather lays out every device of every process; with uneven counts, take one device each.
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    first = [min((d for d in jax.devices() if d.process_index == p), key=lambda d: d.id) for p in sorted(counts)]
    mesh = Mesh(np.asarray(first), ("processes",))

    def one(x):
        x = np.asarray(x)[None]
        arr = jax.make_array_from_single_device_arrays((len(first), *x.shape[1:]), NamedSharding(
            mesh, PartitionSpec("processes")), [jax.device_put(x, first[jax.process_index()])])
        out = jax.jit(_identity, out_shardings=NamedSharding(mesh, PartitionSpec()))(arr)
        return np.asarray(out.addressable_data(0))

    return jax.tree_util.tree_map(one, tree)


def _identity(x):
    return x
