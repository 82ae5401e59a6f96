"""fit_many over several processes on JAX's own multi-process runtime (``jax.distributed``).

The two-process tests start two real worker processes on this machine (a coordinator on a free
local port, CPU collectives through gloo, JAX's default), each fitting its share of eight small
datasets and gathering every dataset's draws. Deterministic, not statistical: each dataset's draws
must be, bit for bit, those of one ``fit_many`` call in one process with the same number of devices
(XLA compiles the sampler differently for other device layouts: the same posterior, other rounding).
"""

import json
import os
import pathlib
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import bayescale as bs
from bayescale import errors
from bayescale.fitting.distributed import fit_many_across_processes, gather_draws, share
from bayescale.inference.nuts import TRACE_COUNTS

from conftest import SEED

ROOT = pathlib.Path(__file__).resolve().parents[1]
#: Small and fast; no extensions or refits (each would compile another program in every process).
SETTINGS = dict(num_chains=2, num_warmup=100, num_samples=100, until_converged=0, refit_divergent=(), warn=False)
NAMES = ("E", "A", "B", "alpha", "beta")
K = 8

#: One process: fit_many over all the datasets, the reference.
REFERENCE = textwrap.dedent("""
    import json, sys
    import numpy as np
    import bayescale as bs

    data_file, out_file, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    z = np.load(data_file)
    datasets = [bs.ScalingData.from_arrays(N=n, D=d, loss=l) for n, d, l in zip(z["N"], z["D"], z["loss"])]
    seed = settings.pop("seed")
    settings["refit_divergent"] = tuple(settings["refit_divergent"])
    fits = bs.fit_many(datasets, seed=seed, method="nuts", **settings)  # what each process runs
    out = {"gathered_" + k: np.stack([f.draws()[k] for f in fits]) for k in fits[0].law.param_names}
    np.savez(out_file, converged=np.asarray([f.converged for f in fits]), **out)
""")

WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np
    import jax

    address, pid, data_file, out_file, settings = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    # Before importing bayescale: the import starts JAX's backend.
    jax.distributed.initialize(coordinator_address=address, num_processes=2, process_id=pid,
                               initialization_timeout=120)
    import bayescale as bs
    from bayescale.fitting.distributed import fit_many_across_processes, gather_draws

    z = np.load(data_file)
    datasets = [bs.ScalingData.from_arrays(N=n, D=d, loss=l) for n, d, l in zip(z["N"], z["D"], z["loss"])]
    settings = json.loads(settings)
    seed = settings.pop("seed")
    settings["refit_divergent"] = tuple(settings["refit_divergent"])
    fits, indices = fit_many_across_processes(datasets, seed=seed, **settings)
    g = gather_draws(fits, indices, len(datasets))
    out = {"indices": np.asarray(indices), "seeds": np.asarray([f.seed for f in fits]),
           "devices": len(jax.local_devices()), "processes": jax.process_count(),
           "converged": g.converged, "n_draws": g.n_draws}
    out.update({"gathered_" + k: v for k, v in g.draws.items()})
    out.update({"local_" + k: np.stack([f.draws()[k] for f in fits]) for k in g.draws})
    np.savez(out_file, **out)
""")


@pytest.fixture(scope="module")
def datasets():
    """Eight different 60-row subsets of the example data (one padded length, as fit_many needs)."""
    data = bs.datasets.example(seed=SEED)
    rng = np.random.default_rng(SEED)
    picks = [np.sort(rng.permutation(data.n)[:60]) for _ in range(K)]
    return [bs.ScalingData.from_arrays(N=data.N[i], D=data.D[i], loss=data.loss[i]) for i in picks]


@pytest.fixture(scope="module")
def in_process(datasets):
    """This process, one fit_many call over all the datasets."""
    return bs.fit_many(datasets, seed=SEED, method="nuts", **SETTINGS)


def _draws(fits):
    return {k: np.stack([f.draws()[k] for f in fits]) for k in NAMES}


def test_one_process_is_fit_many(datasets, in_process):
    before = sum(TRACE_COUNTS.values())
    fits, indices = fit_many_across_processes(datasets, seed=SEED, **SETTINGS)
    assert sum(TRACE_COUNTS.values()) == before  # the same compiled program as fit_many's
    assert indices == share(K) == list(range(K)) and [f.seed for f in fits] == [SEED + i for i in range(K)]
    g = gather_draws(fits, indices, K)
    assert set(g.draws) == set(NAMES)
    for k, v in _draws(in_process).items():
        np.testing.assert_array_equal(_draws(fits)[k], v)
        np.testing.assert_array_equal(g.draws[k], v)
    assert g.n_draws.tolist() == [200] * K
    assert g.converged.tolist() == [f.converged for f in in_process]
    sigma = gather_draws(fits, indices, K, names=("sigma",)).draws["sigma"]
    np.testing.assert_array_equal(sigma, np.stack([f.draws()["sigma"] for f in in_process]))
    # 200 draws cannot reach a bulk ESS of 400: every fit is flagged, named by its dataset index.
    with pytest.warns(bs.ConvergenceWarning, match=r"8 of this process's 8 fits did not converge \(indices \[0, 1, 2"):
        fit_many_across_processes(datasets, seed=SEED, **{**SETTINGS, "warn": True})


def test_input_errors_before_compiling(datasets, in_process):
    before = sum(TRACE_COUNTS.values())
    with pytest.raises(errors.BatchError, match="got one ScalingData.*pass a list"):
        fit_many_across_processes(datasets[0], **SETTINGS)
    with pytest.raises(errors.BatchError, match="got 0 for 1 process"):
        fit_many_across_processes([], **SETTINGS)
    short = bs.ScalingData.from_arrays(N=datasets[0].N[:40], D=datasets[0].D[:40], loss=datasets[0].loss[:40])
    with pytest.raises(errors.BatchError, match=r"one compiled size.*datasets\[0\] has 60 rows and datasets\[2\] has 40"):
        fit_many_across_processes([datasets[0], datasets[1], short], **SETTINGS)
    with pytest.raises(errors.BatchError, match=r"datasets\[1\] is a str"):
        fit_many_across_processes([datasets[0], "runs.csv"], **SETTINGS)
    with pytest.raises(errors.ConfigError, match="method='nuts' only, got 'chees'"):
        fit_many_across_processes(datasets, method="chees", **SETTINGS)
    with pytest.raises(errors.ConfigError, match="seed has 2 entries for 8 datasets"):
        fit_many_across_processes(datasets, seed=[1, 2], **SETTINGS)
    with pytest.raises(errors.ConfigError, match="num_warmup"):
        fit_many_across_processes(datasets, **{**SETTINGS, "num_warmup": -1})
    assert sum(TRACE_COUNTS.values()) == before

    idx = list(range(K))
    with pytest.raises(errors.ConfigError, match="total must be the positive number of datasets"):
        gather_draws(in_process, idx, 0)
    with pytest.raises(errors.ConfigError, match=r"3 fits with indices \[0, 1, 2, 3, 4, 5, 6, 7\] for 8 datasets"):
        gather_draws(in_process[:3], idx, K)
    with pytest.raises(errors.ConfigError, match=r"do not cover datasets 0..7 once each"):
        gather_draws(in_process[:2], [0, 0], K)
    with pytest.raises(errors.ConfigError, match="no posterior variable 'gamma'"):
        gather_draws(in_process, idx, K, names=("alpha", "gamma"))
    with pytest.raises(errors.ConfigError, match="one or more scalar variables"):
        gather_draws(in_process, idx, K, names=())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(tmp_path, script: str, args: list, devices: int, cache: bool = False) -> subprocess.Popen:
    """A Python process running ``script`` with ``devices`` CPU devices, and the suite's compile caches only with
    ``cache`` (the one-process references: a reference of this process's devices then reads the sampler the
    ``in_process`` fixture compiled, as a user's second process would)."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # set by this process's device request
    env.update(PYTHONPATH=str(ROOT), BAYESCALE_HOST_DEVICES=str(devices), JAX_PLATFORMS="cpu")
    if not cache:
        env["BAYESCALE_NO_COMPILE_CACHE"] = "1"
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(procs: list, outs: list, timeout: float = 400) -> list[dict]:
    """Wait for every process (killing them all on a timeout or failure) and load what each wrote."""
    try:
        logs = [p.communicate(timeout=timeout)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    for i, (p, log) in enumerate(zip(procs, logs)):
        assert p.returncode == 0, f"process {i} exited with {p.returncode}:\n{log[-4000:]}"
    return [dict(np.load(out)) for out in outs]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory, datasets):
    path = tmp_path_factory.mktemp("distributed") / "data.npz"
    np.savez(path, N=np.stack([d.N for d in datasets]), D=np.stack([d.D for d in datasets]),
             loss=np.stack([d.loss for d in datasets]))
    return path


@pytest.fixture(scope="module")
def references(data_file, in_process):
    """``{devices: what one fit_many call over all the datasets gave}`` in one process of 1 and of 2 devices."""
    settings = json.dumps({**SETTINGS, "seed": SEED})
    outs = [data_file.parent / f"reference{n}.npz" for n in (1, 2)]
    procs = [_start(data_file.parent, REFERENCE, [data_file, out, settings], n, cache=True)
             for n, out in zip((1, 2), outs)]
    return dict(zip((1, 2), _finish(procs, outs)))


@pytest.mark.slow
def test_two_processes_give_one_process_draws(tmp_path, data_file, references):
    """Each process fits its round-robin share on its own devices; the gathered draws, identical on both,
    are dataset by dataset those of one fit_many call in one process of as many devices, bit for bit.

    Processes of 2 and 1 devices: the gather crosses device counts, and each process's own draws are checked
    against the reference of its count: a layout of 1 + 1 devices would check nothing more (and compile the
    one-device program in both processes)."""
    devices = (2, 1)
    address = f"127.0.0.1:{_free_port()}"
    settings = json.dumps({**SETTINGS, "seed": SEED})
    outs = [tmp_path / f"out{pid}.npz" for pid in range(2)]
    procs = [_start(tmp_path, WORKER, [address, pid, data_file, outs[pid], settings], n)
             for pid, n in enumerate(devices)]
    outs = _finish(procs, outs)
    # Dataset i is fitted by process i % 2, so its draws are those of a one-process run with that process's devices.
    want = {k: np.stack([references[devices[i % 2]]["gathered_" + k][i] for i in range(K)]) for k in NAMES}
    converged = [bool(references[devices[i % 2]]["converged"][i]) for i in range(K)]
    for pid, out in enumerate(outs):
        assert int(out["processes"]) == 2 and int(out["devices"]) == devices[pid]
        assert out["indices"].tolist() == list(range(pid, K, 2))
        assert out["seeds"].tolist() == [SEED + i for i in range(pid, K, 2)]
        for k in NAMES:
            np.testing.assert_array_equal(out["local_" + k], want[k][pid::2])
            np.testing.assert_array_equal(out["gathered_" + k], want[k])
        assert out["n_draws"].tolist() == [200] * K
        assert out["converged"].tolist() == converged
