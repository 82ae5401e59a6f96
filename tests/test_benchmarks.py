"""Smoke test of the benchmark scripts: the single-fit benchmark's quick mode (bayescale in fresh
processes, cold and with the compilation cache, and the scipy point-fit baseline) on tiny settings,
checking the JSON it writes. No timing is asserted: timings are the benchmark's output, not a test."""

import json
import math
import pathlib
import sys

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def single_fit_module():
    sys.path.insert(0, str(BENCH))
    try:
        import bench_single_fit

        yield bench_single_fit
    finally:
        sys.path.remove(str(BENCH))


def test_single_fit_quick_writes_schema(single_fit_module, tmp_path):
    payload = single_fit_module.main([
        "--quick", "--data", "example", "--samplers", "bayescale,scipy_grid", "--chains", "2",
        "--warmup", "10", "--draws", "10", "--boot-resamples", "2", "--boot-grid-resamples", "1", "--out", str(tmp_path),
    ])
    path = tmp_path / "single_fit_quick.json"
    saved = json.loads(path.read_text())
    assert saved["benchmark"] == "single_fit_quick" and saved["schema_version"] == 1
    assert saved["data"] == "example" and saved["n"] == 180
    assert saved["settings"] == {"chains": 2, "warmup": 10, "draws": 10, "boot_resamples": 2, "boot_grid_resamples": 1,
                                 "quick": True}
    m = saved["machine"]
    assert m["cpu_count"] >= 1 and m["jax_backend"] in ("cpu", "gpu", "cuda", "rocm", "tpu")
    assert {"jax", "numpyro", "arviz", "bayescale"} <= set(m["versions"])
    res = saved["results"]
    assert set(res) == {"bayescale", "bayescale_cached", "bayescale_new_data", "scipy_grid"}
    for name in ("bayescale", "bayescale_cached", "bayescale_new_data"):
        r = res[name]
        assert r["status"] == "ok", r.get("error")
        for key in ("import_s", "cold_s", "first_s", "warm_s", "compile_s", "min_ess_bulk", "ess_per_s",
                    "ess_per_gradient", "steps_per_draw", "max_rhat", "divergences", "gradients"):
            assert isinstance(r[key], (int, float)) and not math.isnan(r[key]), (name, key)
        assert r["cold_s"] >= r["first_s"] > 0 and r["gradients"] >= r["steps_per_draw"] * 2 * 10
        assert r["retraced"] is False  # the warm refit in the child reused the compiled program
    assert res["bayescale"]["compile_cache"] == res["bayescale_cached"]["compile_cache"] \
        == res["bayescale_new_data"]["compile_cache"]
    sg = res["scipy_grid"]
    assert sg["status"] == "ok" and sg["starts"] == 4 and sg["boot_resamples"] == 2
    assert set(sg["point"]) == {"E", "A", "B", "alpha", "beta"} and 0.2 < sg["point"]["alpha"] < 0.5
    assert set(saved["ratios"]) == {"scipy_grid"}
    assert payload["results"].keys() == res.keys()
