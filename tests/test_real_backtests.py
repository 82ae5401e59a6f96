"""Smoke test of benchmarks/real_backtests.py: quick mode on the Li split (61 training runs with D/N >= 4, 6 held out),
bayescale and the classic bootstrap baseline side by side, checking the JSON it writes. No score is
asserted beyond sanity: the numbers are the benchmark's output, not a test. About 20 s on 2 cores."""

import json
import math
import pathlib
import sys

import numpy as np
import pytest

from conftest import SEED, SHARED_DATA

BENCH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
LI_FILE = SHARED_DATA / "li2025_misfitting_scaling_results_last_ckpt_only.csv"
EPOCH_FILE = SHARED_DATA / "epoch_chinchilla_svg_extracted_data.csv"


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
    real_backtests.main(["--quick", "--splits", "li", "--resamples", "10", "--error-model", "extrapolation",
                         "--out", str(tmp_path)])
    text = capsys.readouterr().out
    assert "| li | bayescale | 61/6 |" in text and "| li | classic | 61/6 |" in text
    saved = json.loads((tmp_path / "real_backtests_quick.json").read_text())
    assert saved["benchmark"] == "real_backtests_quick" and saved["schema_version"] == 1
    assert saved["machine"]["cpu_count"] >= 1 and "bayescale" in saved["machine"]["versions"]
    s = saved["settings"]
    assert s["quick"] and s["splits"] == ["li"] and s["starts"] == 4 and s["resamples"] == 10 and s["seeds"] == [0]
    (rec,) = saved["splits"]
    assert s["min_tokens_per_param"] == 4.0 and s["error_model"]["name"] == "extrapolation"
    assert rec["split"] == "li" and rec["n_train"] == 61 and rec["n_test"] == 6 and rec["extrapolation"] > 1
    for method in ("bayescale", "classic"):
        summ = rec[method]["summary"]
        assert summ["n_test"] == 6
        for key in ("median_abs_rel_error", "bias", "crps", "coverage_50", "coverage_90"):
            assert isinstance(summ[key], float) and math.isfinite(summ[key]), (method, key)
        assert summ["median_abs_rel_error"] < 0.2  # a forecast, not garbage
        assert summ["coverage_90_ci"] is None  # one split: no interval (its runs are one cluster)
        assert len(rec[method]["points"]["median"]) == 6
    d = rec["bayescale"]["diagnostics"]
    assert {"divergences", "max_rhat", "min_ess_bulk", "converged"} <= set(d)
    assert set(rec["classic"]["point"]) == {"E", "A", "B", "alpha", "beta"}
    assert set(saved["pooled"]) == {"all (pooled)"}
    assert saved["frontier_check"]["configurations"] == 0  # the frontier check is Porian's


def test_discrepancy_mle_recovers_a_known_scale(real_backtests):
    """4,000 errors with sd**2 + t**2 * d variance: the estimate is within 10% of t = 0.02 (its relative
    standard error is about 2.5%, so a false failure is a 4-sigma event); seeds 0-4 checked."""
    rng = np.random.default_rng(SEED)
    d = rng.uniform(0.3, 2.0, 4000)
    sd = np.full(d.size, 0.01)
    t = real_backtests.discrepancy_mle(rng.normal(0.0, np.sqrt(sd**2 + 0.02**2 * d)), sd, d)
    assert t == pytest.approx(0.02, rel=0.10)
    # No discrepancy in the errors: the estimate goes to the bottom of its range.
    assert real_backtests.discrepancy_mle(rng.normal(0.0, sd), sd, d) < 0.004


@pytest.mark.skipif(not (LI_FILE.exists() and EPOCH_FILE.exists()), reason="../shared/data/ not present")
def test_real_backtests_cross_validate_the_discrepancy(real_backtests, tmp_path, capsys):
    real_backtests.main(["--quick", "--splits", "epoch", "li", "--bayescale-only", "--error-model", "extrapolation",
                         "--out", str(tmp_path)])
    text = capsys.readouterr().out
    assert "Extrapolation discrepancy, held out" in text and "| leave one split out | all (pooled) |" in text
    saved = json.loads((tmp_path / "real_backtests_quick.json").read_text())
    cv = saved["discrepancy_cross_validation"]
    assert 1e-5 < cv["mle_all_splits"] < 0.5
    for fold in ("leave_one_split_out", "leave_one_dataset_out"):
        res = cv["folds"][fold]
        assert set(res["groups"]) == {"epoch", "li"} and res["pooled"]["n_test"] == 123 + 6
        # Each split is scored with the scale fitted on the other one alone: two different scales.
        assert res["groups"]["epoch"]["per_decade"] != res["groups"]["li"]["per_decade"]
        assert all(0.0 <= g["coverage_50"] <= g["coverage_90"] <= 1.0 for g in res["groups"].values())
        lo, hi = res["pooled"]["coverage_90_ci"]  # two splits: a cluster bootstrap over them
        assert 0.0 <= lo <= res["pooled"]["coverage_90"] <= hi <= 1.0


def test_cluster_interval_resamples_splits_not_runs(real_backtests):
    """Two splits of 100 runs, one covered at 0.9 and one at 0.5: resampling runs would give a narrow interval
    around 0.7; resampling the two splits gives 0.5, 0.7 or 0.9 (probabilities 1/4, 1/2, 1/4), so its 95%
    interval is [0.5, 0.9]. Twenty identical splits: the interval is the point."""
    rng = np.random.default_rng(SEED)
    hits = [rng.permutation(np.arange(100) < 90), rng.permutation(np.arange(100) < 50)]
    assert real_backtests.cluster_interval(hits) == [0.5, 0.9]
    assert real_backtests.cluster_interval(hits, clusters=["a", "a"]) is None  # one split seen twice
    same = [np.arange(10) < 7 for _ in range(20)]
    assert real_backtests.cluster_interval(same) == pytest.approx([0.7, 0.7])
    s = real_backtests.summarize([{"rel_error": np.zeros(100), "crps": np.zeros(100), "in_50": h, "in_90": h}
                                  for h in hits])
    assert s["coverage_90"] == 0.7 and s["coverage_90_ci"] == [0.5, 0.9]
