"""Cold start: what a first fit imports and compiles (issue 13). No wall-clock limits here: the
benchmark (benchmarks/bench_single_fit.py) measures time; these tests pin down the work."""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from jax import monitoring

import bayescale as bs
from bayescale.fitting.fit import compiled_runner, sampler_config
from bayescale.inference import common
from bayescale.inference.aot import TwoStage
from bayescale.inference.nuts import TRACE_COUNTS
from bayescale.model.spec import padded_runs
from bayescale.posterior import idata as _idata

from conftest import FAST, SEED

HEAVY = ("arviz", "matplotlib", "xarray", "pandas", "scipy.stats")


def test_import_leaves_arviz_and_plotting_unimported():
    code = "import sys, bayescale; print(','.join(m for m in %r if m in sys.modules))" % (HEAVY,)
    env = {**os.environ, "BAYESCALE_NO_COMPILE_CACHE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == ""


def test_idata_module_still_offers_az():
    import arviz

    assert _idata.az is arviz
    _idata.preload_arviz()  # already imported: a no-op
    with pytest.raises(AttributeError):
        _idata.no_such_name  # noqa: B018


def _compiles_during(fn):
    events = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            events.append(duration)

    monitoring.register_event_duration_secs_listener(listener)
    try:
        result = fn()
    finally:
        monitoring.unregister_event_duration_listener(listener)
    return result, len(events)


def _count_log_density_traces(monkeypatch) -> list:
    """A list that grows by one each time JAX traces a model's log density (NumPyro's potential function)."""
    traces, structure = [], common.model_structure

    def counted_structure(model, example_args):
        potential_fn_gen, *rest = structure(model, example_args)

        def counted_gen(*args):
            potential = potential_fn_gen(*args)
            return lambda z: traces.append(1) or potential(z)

        return (counted_gen, *rest)

    monkeypatch.setattr(common, "model_structure", counted_structure)
    return traces


def test_first_fit_compiles_two_programs_and_no_extender(example_data, monkeypatch):
    # Settings no other test uses (lengths are padded to shared sizes, so a new length need not be a new
    # program): everything this fit needs is compiled here.
    rows = np.arange(example_data.n - 7)
    data = bs.ScalingData.from_arrays(N=example_data.N[rows], D=example_data.D[rows], loss=example_data.loss[rows])
    settings = dict(FAST, num_warmup=FAST["num_warmup"] - 7)
    before = sum(TRACE_COUNTS.values())
    traces = _count_log_density_traces(monkeypatch)
    fit, compiles = _compiles_during(lambda: bs.fit(data, seed=SEED, until_converged=0, warn=False, **settings))
    # The model's log density is traced once for both programs, not at each of its calls (L-BFGS, the Hessian,
    # NUTS: 12 traces before LatentSpace.potential was one jitted function).
    assert len(traces) == 1
    # The sampler is two XLA programs (chains' starts; NUTS), plus a few one-op programs JAX compiles
    # on first use (PRNGKey's seeding, a dtype conversion); the extender is neither traced nor compiled.
    assert sum(TRACE_COUNTS.values()) == before + 1
    assert compiles <= 6  # (fewer when JAX's persistent cache already holds the two)
    runner, key = compiled_runner(fit.model, sampler_config(fit.model, **settings), fit.model.args(data, fit.ref)[0])
    assert [len(exe) for exe in runner.program._executables.values()] == [2]
    assert TRACE_COUNTS[key] == 1 and TRACE_COUNTS[(key, "extend")] == 0
    # A refit of the same shape compiles nothing, nor does one of another length padded to the same size.
    _, again = _compiles_during(lambda: bs.fit(data, seed=SEED + 1, until_converged=0, warn=False, **settings))
    shorter = data.subset(np.arange(data.n - 20))
    assert padded_runs(shorter.n) == padded_runs(data.n)
    _, shorter_compiles = _compiles_during(lambda: bs.fit(shorter, seed=SEED, until_converged=0, warn=False, **settings))
    assert again == 0 and shorter_compiles == 0 and sum(TRACE_COUNTS.values()) == before + 1


def test_two_stage_runs_the_two_jitted_programs_in_turn():
    """The ahead-of-time runner's results are those of its two jitted functions called one after the other."""
    first = jax.jit(lambda k, x: {"k": k, "y": jax.numpy.cumsum(x) * 2.0})
    second = jax.jit(lambda s, x: (s["y"] + x, s["k"]))
    runner = TwoStage(lambda: (first, second))
    key, x = jax.random.PRNGKey(3), np.linspace(0.0, 1.0, 5, dtype=np.float32)
    ran = []
    exe = runner.compile(key, x, meanwhile=lambda: ran.append(1))
    assert ran == [1] and runner.compile(key, x, meanwhile=lambda: ran.append(2)) is exe  # compiled once
    got = runner(key, x)
    want = second(first(key, x), x)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def _mappings() -> int:
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="counts Linux memory mappings")
def test_compiled_samplers_beyond_the_bound_are_dropped(example_data, monkeypatch):
    """Each compiled sampler holds ~1,600 memory mappings (XLA:CPU's machine code); a process that kept them all
    crashed after ~40 (Linux's vm.max_map_count). Beyond MAX_RUNNERS the least recently used is dropped and its
    mappings returned: with a bound of one, a second new shape adds less than half a sampler's mappings
    (kept, it would add a sampler's worth, ~1,600)."""
    from bayescale.inference import nuts

    monkeypatch.setattr(nuts, "MAX_RUNNERS", 1)
    counts, keys = [], []
    # The first sampler is test_first_fit_compiles_two_programs_and_no_extender's (compiled there when that test ran
    # before: a compile less for the suite), the second one no other test uses: a new sampler.
    for cut in (7, 12):
        data = example_data.subset(np.arange(example_data.n - cut))
        settings = dict(FAST, num_warmup=FAST["num_warmup"] - cut)
        fit = bs.fit(data, seed=SEED, until_converged=0, refit_divergent=(), warn=False, **settings)
        _, key = compiled_runner(fit.model, sampler_config(fit.model, **settings), fit.model.args(data, fit.ref)[0])
        keys.append(key)
        counts.append(_mappings())
    assert counts[1] - counts[0] < 800, f"mappings after 1 and 2 new samplers with a bound of 1: {counts}"
    assert list(nuts._RUNNERS.keys()) == [keys[-1]]
