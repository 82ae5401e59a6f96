"""Compiled programs kept on disk under bayescale's own key (issue 30): a later process reads them and traces
nothing; stale, damaged or foreign files are rebuilt with a warning; concurrent writers do not clash. No
wall-clock limits here: benchmarks/bench_single_fit.py measures time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest

from bayescale.errors import CacheWarning
from bayescale.inference import executable_cache
from bayescale.inference.aot import Program

from conftest import FAST, SEED

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(code: str, **env) -> dict:
    """Run ``code`` in a fresh Python process (this checkout, this cache unless ``env`` says otherwise); its
    last printed line, as JSON."""
    full_env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), **env}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=full_env,
                         cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_fresh_process_with_a_warm_cache_traces_and_compiles_nothing(example_fit, tmp_path):
    """A process fits the example and stores its programs in a cache of this test's own (the worker's cache is
    bounded, and the suite's other programs may have evicted the session fit's); a new process fitting the same
    data reads them: no trace, no XLA compile during the fit, nothing stored, and the same draws as the session's
    fit compiled in this process."""
    code = f"""
        import json, numpy as np, jax
        from jax import monitoring
        import bayescale as bs
        from bayescale.inference import executable_cache
        from bayescale.inference.nuts import TRACE_COUNTS
        data, model = bs.datasets.example(seed={SEED}), bs.ScalingModel()
        jax.random.PRNGKey({SEED})  # JAX's seeding, a one-op program of its own: not the fit's
        compiles = []
        monitoring.register_event_duration_secs_listener(
            lambda event, d, **k: compiles.append(d) if event == "/jax/core/compile/backend_compile_duration" else None)
        fit = bs.fit(data, model=model, seed={SEED}, num_chains={FAST["num_chains"]}, num_warmup={FAST["num_warmup"]},
                     num_samples={FAST["num_samples"]})
        print(json.dumps({{"traces": sum(TRACE_COUNTS.values()), "compiles": len(compiles),
                          "counts": executable_cache.COUNTS, "alpha": fit.posterior_array("alpha").tolist()}}))
    """
    cache = {"BAYESCALE_CACHE_DIR": str(tmp_path)}
    first = _run(code, **cache)
    assert first["counts"]["stores"] >= 2, first["counts"]
    got = _run(code, **cache)
    assert got["traces"] == 0 and got["compiles"] == 0, {k: got[k] for k in ("traces", "compiles", "counts")}
    assert got["counts"]["stores"] == 0 and got["counts"]["rebuilt"] == 0 and got["counts"]["loads"] >= 2
    np.testing.assert_array_equal(np.asarray(got["alpha"], dtype=np.float32), example_fit.posterior_array("alpha"))


def test_import_and_a_cached_cli_fit_load_only_what_they_need(example_fit, example_data, tmp_path):
    """``import bayescale`` imports JAX, not NumPyro, BlackJAX, optax, pandas or ArviZ; ``bayescale fit`` of data
    whose programs are cached traces nothing and imports none of NumPyro, BlackJAX and optax (what building and
    compiling the programs needs), only what its report needs (pandas, ArviZ)."""
    csv = tmp_path / "runs.csv"
    np.savetxt(csv, np.column_stack([example_data.N, example_data.D, example_data.loss]), delimiter=",",
               header="N,D,loss", comments="")
    got = _run(f"""
        import json, sys
        import bayescale
        heavy = ("numpyro", "blackjax", "optax", "pandas", "arviz", "matplotlib")
        at_import = [m for m in heavy if m in sys.modules]
        from bayescale import cli
        status = cli.main(["fit", {str(csv)!r}, "--seed", "{SEED}", "--warmup", "{FAST["num_warmup"]}",
                           "--draws", "{FAST["num_samples"]}", "--chains", "{FAST["num_chains"]}"])
        from bayescale.inference.nuts import TRACE_COUNTS
        print(json.dumps({{"at_import": at_import, "after_cli": [m for m in heavy if m in sys.modules],
                          "status": status, "traces": sum(TRACE_COUNTS.values())}}))
    """)
    assert got["at_import"] == [] and got["status"] in (0, 3) and got["traces"] == 0
    assert {"pandas", "arviz"} <= set(got["after_cli"]) and not {"numpyro", "blackjax", "optax"} & set(got["after_cli"])


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty executable cache of this test's own."""
    monkeypatch.setenv("BAYESCALE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(executable_cache, "COUNTS", dict.fromkeys(executable_cache.COUNTS, 0))
    return tmp_path / "executables"


def _program(key="test program"):
    return Program(lambda: jax.jit(lambda x: jax.numpy.cumsum(x) * 2.0), disk_key=key)


X = np.linspace(0.0, 1.0, 7, dtype=np.float32)


def _stored_file(cache) -> str:
    files = sorted(p for p in os.listdir(cache) if p.endswith(".bsx"))
    assert len(files) == 1, files
    return os.path.join(cache, files[0])


def test_a_stored_program_is_read_back_and_gives_the_same_result(cache):
    want = np.asarray(_program()(X))
    assert executable_cache.COUNTS["stores"] == 1
    assert np.array_equal(np.asarray(_program()(X)), want) and executable_cache.COUNTS["loads"] == 1


def _damage(path: str, how: str) -> None:
    with open(path, "rb") as f:
        raw = bytearray(f.read())
    if how == "checksum":
        raw[-10] ^= 0xFF
    elif how == "version":
        raw[4:8] = (executable_cache.FORMAT_VERSION + 1).to_bytes(4, "little")
    elif how == "truncated":
        raw = raw[: len(raw) // 2]
    with open(path, "wb") as f:
        f.write(bytes(raw))


@pytest.mark.parametrize("how", ["checksum", "version", "truncated"])
def test_a_damaged_or_stale_entry_is_rebuilt_with_a_warning(cache, how):
    want = np.asarray(_program()(X))
    path = _stored_file(cache)
    _damage(path, how)
    with pytest.warns(CacheWarning, match="compiled again"):
        got = np.asarray(_program()(X))
    assert np.array_equal(got, want) and executable_cache.COUNTS["rebuilt"] == 1
    assert executable_cache.COUNTS["stores"] == 2  # rebuilt and stored again: the next process reads it
    assert np.array_equal(np.asarray(_program()(X)), want) and executable_cache.COUNTS["loads"] == 1


def test_another_programs_file_under_this_key_is_never_loaded(cache):
    """A file holding another program (here: copied over this key's file name) is detected by the key it
    repeats inside, rebuilt, and never run in place of this one."""
    other = Program(lambda: jax.jit(lambda x: x - 1.0), disk_key="another program")
    other(X)
    mine = _program()
    target = os.path.join(cache, executable_cache.entry_digest(mine._disk(mine_sig(), "program")) + ".bsx")
    os.replace(_stored_file(cache), target)
    with pytest.warns(CacheWarning, match="another program"):
        got = np.asarray(mine(X))
    np.testing.assert_array_equal(got, np.cumsum(X) * 2.0)


def mine_sig():
    from bayescale.inference.aot import _signature

    return _signature((X,))


def test_the_cache_is_bounded_least_recently_used_first(cache, monkeypatch):
    _program("first")(X)
    size = os.path.getsize(_stored_file(cache))
    monkeypatch.setattr(executable_cache, "MAX_BYTES", int(2.5 * size))
    first = _stored_file(cache)
    os.utime(first, (1, 1))  # long unused
    _program("second")(X)
    _program("third")(X)
    names = [p for p in os.listdir(cache) if p.endswith(".bsx")]  # beside them: the compile locks' empty files
    assert len(names) == 2 and os.path.basename(first) not in names


def test_the_existing_variable_opts_out(cache, monkeypatch):
    monkeypatch.setenv("BAYESCALE_NO_COMPILE_CACHE", "1")
    assert executable_cache.cache_dir() is None
    np.testing.assert_array_equal(np.asarray(_program()(X)), np.cumsum(X) * 2.0)
    assert not cache.exists() and executable_cache.COUNTS["stores"] == 0


def test_two_processes_writing_the_same_entry_both_succeed(tmp_path):
    """Two processes store the same entry 20 times each, at once (a temporary file renamed into place): every
    write succeeds, each process then reads a whole file, and so does a third process."""
    code = """
        import json, numpy as np, jax
        from bayescale.inference import executable_cache
        x = np.linspace(0.0, 1.0, 7, dtype=np.float32)
        compiled = jax.jit(lambda v: jax.numpy.cumsum(v) * 2.0).trace(x).lower().compile()
        ok = all([executable_cache.store("shared entry", compiled) for _ in range({n})])
        loaded = executable_cache.load("shared entry")
        y = loaded(jax.device_put(x, loaded.input_shardings[0][0]))
        print(json.dumps({{"ok": ok, "rebuilt": executable_cache.COUNTS["rebuilt"], "y": np.asarray(y).tolist()}}))
    """
    env = {**os.environ, "PYTHONPATH": ROOT, "BAYESCALE_CACHE_DIR": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(code.format(n=20))], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    third = _run(code.format(n=0), BAYESCALE_CACHE_DIR=str(tmp_path))
    want = (np.cumsum(np.linspace(0.0, 1.0, 7, dtype=np.float32)) * 2.0).tolist()
    assert all(r["ok"] and r["rebuilt"] == 0 and r["y"] == want for r in results)
    assert third["rebuilt"] == 0 and third["y"] == want
    assert [p for p in os.listdir(tmp_path / "executables") if p.startswith(".tmp")] == []


def _two_stage(key="two-stage test program"):
    from bayescale.inference.aot import TwoStage

    return TwoStage(lambda: (jax.jit(lambda x, y: x * 3.0), jax.jit(lambda h, y: jax.numpy.cumsum(h + y))), disk_key=key)


def test_a_two_stage_programs_parts_load_side_by_side_and_a_damaged_part_rebuilds_both(cache):
    """Both parts of a stored :class:`TwoStage` load (in two threads: every load counted), give the same result;
    when one part's file is damaged, both are compiled again and stored, with one warning."""
    want = np.cumsum(X * 4.0)
    np.testing.assert_allclose(np.asarray(_two_stage()(X, X)), want, rtol=1e-6)
    assert executable_cache.COUNTS["stores"] == 2
    np.testing.assert_allclose(np.asarray(_two_stage()(X, X)), want, rtol=1e-6)
    assert executable_cache.COUNTS["loads"] == 2
    _damage(sorted(os.path.join(cache, p) for p in os.listdir(cache) if p.endswith(".bsx"))[0], "checksum")
    with pytest.warns(CacheWarning, match="compiled again"):
        np.testing.assert_allclose(np.asarray(_two_stage()(X, X)), want, rtol=1e-6)
    assert executable_cache.COUNTS["rebuilt"] == 1 and executable_cache.COUNTS["stores"] == 4


def test_a_program_another_process_is_compiling_is_waited_for_and_read(cache):
    """While one holder (here a thread: ``flock`` locks open files, so a thread's lock blocks another's as another
    process's would) compiles a program under the compile lock, a second fit of the same program waits, then reads
    what the first stored instead of compiling it again. Deterministic: the second starts once the first holds
    the lock and is still building (its ``build`` blocks until the second is waiting)."""
    import threading

    from bayescale.inference import compile_lock

    if compile_lock.fcntl is None:
        pytest.skip("no flock on this platform: each process compiles")
    building, waiting, builds = threading.Event(), threading.Event(), []

    def slow_build():
        builds.append(1)
        building.set()
        assert waiting.wait(60)
        time.sleep(0.5)  # the second is polling the lock
        return jax.jit(lambda x: jax.numpy.cumsum(x) * 2.0)

    results = {}
    first = threading.Thread(target=lambda: results.setdefault("first", Program(slow_build, disk_key="locked")(X)))
    first.start()
    assert building.wait(60)
    second = Program(lambda: builds.append(2) or jax.jit(lambda x: x), disk_key="locked")
    waiting.set()
    got = second(X)
    first.join(60)
    assert builds == [1] and executable_cache.COUNTS["stores"] == 1 and executable_cache.COUNTS["loads"] == 1
    np.testing.assert_array_equal(np.asarray(got), np.asarray(results["first"]))


def test_the_compile_lock_gives_up_after_its_wait(cache):
    """A lock another holder keeps past ``wait_s`` is not taken: the caller goes on (and compiles) unlocked."""
    from bayescale.inference import compile_lock

    if compile_lock.fcntl is None:
        pytest.skip("no flock on this platform")
    with compile_lock.held("a key") as first:
        with compile_lock.held("a key", wait_s=0.3) as second:
            assert first and not second
    with compile_lock.held("a key", wait_s=0.3) as again:
        assert again
