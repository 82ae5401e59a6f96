"""Smoke test of benchmarks/real_backtests.py: quick mode on the Li split (75 training runs, 6 held out),
bayescale and the classic bootstrap baseline side by side, checking the JSON it writes. No score is
asserted beyond sanity: the numbers are the benchmark's output, not a test. About 20 s on 2 cores."""

import json
import math
import pathlib
import sys

import pytest

from conftest import SHARED_DATA

BENCH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
LI_FILE = SHARED_DATA / "li2025_misfitting_scaling_results_last_ckpt_only.csv"


@pytest.fixture(scope="module")
def real_backtests():
    sys.path.insert(0, str(BENCH))
    try:
        import real_backtests

        yield real_backtests
    finally:
        sys.path.remove(str(BENCH))


@pytest.mark.skipif(not LI_FILE.exists(), reason=f"{LI_FILE} not present (../shared/data/)")
def test_real_backtests_quick_li(real_backtests, tmp_path, capsys):
    real_backtests.main(["--quick", "--splits", "li", "--resamples", "10", "--out", str(tmp_path)])
    text = capsys.readouterr().out
    assert "| li | bayescale | 75/6 |" in text and "| li | classic | 75/6 |" in text
    saved = json.loads((tmp_path / "real_backtests_quick.json").read_text())
    assert saved["benchmark"] == "real_backtests_quick" and saved["schema_version"] == 1
    assert saved["machine"]["cpu_count"] >= 1 and "bayescale" in saved["machine"]["versions"]
    s = saved["settings"]
    assert s["quick"] and s["splits"] == ["li"] and s["starts"] == 4 and s["resamples"] == 10 and s["seeds"] == [0]
    (rec,) = saved["splits"]
    assert rec["split"] == "li" and rec["n_train"] == 75 and rec["n_test"] == 6 and rec["extrapolation"] > 1
    for method in ("bayescale", "classic"):
        summ = rec[method]["summary"]
        assert summ["n_test"] == 6
        for key in ("median_abs_rel_error", "bias", "crps", "coverage_50", "coverage_90"):
            assert isinstance(summ[key], float) and math.isfinite(summ[key]), (method, key)
        assert summ["median_abs_rel_error"] < 0.2  # a forecast, not garbage
        lo, hi = summ["coverage_90_ci"]
        assert 0.0 <= lo <= summ["coverage_90"] <= hi <= 1.0
        assert len(rec[method]["points"]["median"]) == 6
    d = rec["bayescale"]["diagnostics"]
    assert {"divergences", "max_rhat", "min_ess_bulk", "converged"} <= set(d)
    assert set(rec["classic"]["point"]) == {"E", "A", "B", "alpha", "beta"}
    assert set(saved["pooled"]) == {"all (pooled)"}
    assert saved["frontier_check"]["configurations"] == 0  # the frontier check is Porian's
