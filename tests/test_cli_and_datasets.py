"""The command line and the built-in datasets."""

import hashlib
import urllib.request

import numpy as np
import pytest

import bayescale as bs
from bayescale import cli, datasets, errors

from conftest import EPOCH_FILE


def test_example_is_deterministic_and_shaped_like_chinchilla():
    a, b = datasets.example(), datasets.example()
    np.testing.assert_array_equal(a.loss, b.loss)
    assert not np.array_equal(a.loss, datasets.example(seed=1).loss)
    assert a.n == 180 and len(np.unique(np.round(a.C, -15))) == 9
    assert a.C.min() == pytest.approx(6e18) and a.C.max() == pytest.approx(3e21)


def test_load_chinchilla_local_and_env(monkeypatch, tmp_path):
    if not EPOCH_FILE.exists():
        pytest.skip("../shared/data/ not present")
    full = datasets.load_chinchilla(EPOCH_FILE)
    assert full.n == 245
    kept = datasets.load_chinchilla(EPOCH_FILE.parent, drop_outliers=True)
    assert kept.n == 240 and kept.loss.max() < full.loss.max()
    np.testing.assert_allclose(full.D, full.C / (6 * full.N))
    monkeypatch.setenv(datasets.CHINCHILLA_ENV, str(EPOCH_FILE))
    assert datasets.load_chinchilla().n == 245


def test_load_chinchilla_checks_sha(tmp_path):
    bad = tmp_path / "svg_extracted_data.csv"
    bad.write_text("Model Size,Training FLOP,loss\n1e8,1e18,3.0\n")
    with pytest.raises(errors.DatasetError, match="SHA-256.*verify=False"):
        datasets.load_chinchilla(bad)


def test_load_chinchilla_without_network_or_file(monkeypatch, tmp_path):
    monkeypatch.delenv(datasets.CHINCHILLA_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    def offline(*a, **k):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(errors.DatasetError, match=r"could not download.*BAYESCALE_CHINCHILLA_PATH"):
        datasets.load_chinchilla()
    with pytest.raises(errors.DatasetError, match="download=False"):
        datasets.load_chinchilla(download=False)


def test_download_is_verified_and_cached(monkeypatch, tmp_path):
    """The download path, served from the local copy instead of the network."""
    if not EPOCH_FILE.exists():
        pytest.skip("../shared/data/ not present")
    monkeypatch.delenv(datasets.CHINCHILLA_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calls = []

    def fake_urlopen(url, timeout):
        calls.append(url)
        return open(EPOCH_FILE, "rb")

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    assert datasets.load_chinchilla().n == 245
    assert datasets.load_chinchilla().n == 245  # second call: from the cache
    assert calls == [datasets.CHINCHILLA_URL]
    cached = tmp_path / "bayescale" / "svg_extracted_data.csv"
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == datasets.CHINCHILLA_SHA256


def test_cli_help(capsys):
    for argv in (["--help"], ["fit", "--help"], ["demo", "--help"]):
        with pytest.raises(SystemExit) as exc:
            cli.main(argv)
        assert exc.value.code == 0
    assert "--compute" in capsys.readouterr().out


def test_cli_fit_prints_summary_and_frontier(tmp_path, capsys, example_data):
    csv = tmp_path / "runs.csv"
    df = example_data.to_frame().rename(columns={"N": "params", "D": "tokens"})
    df.to_csv(csv, index=False)
    out = tmp_path / "fit.nc"
    code = cli.main(["fit", str(csv), "--N", "params", "--D", "tokens", "--loss", "loss", "--compute", "1e21,2e21",
                     "--warmup", "500", "--draws", "500", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "alpha" in text and "Compute-optimal frontier" in text and "tokens/param" in text
    assert "status: converged" in text
    assert bs.load(out).data.n == 180


def test_cli_bad_column_exits_2(tmp_path, capsys, example_data):
    csv = tmp_path / "runs.csv"
    example_data.to_frame().to_csv(csv, index=False)
    assert cli.main(["fit", str(csv), "--N", "params", "--D", "D"]) == 2
    assert "MissingColumnError: no column 'params'" in capsys.readouterr().err


def test_cli_error_model_options(tmp_path, capsys, example_data):
    """--error-model and --per-decade reach bs.fit; a scale for another model or a bad scale exits 2, naming
    the value, before anything compiles."""
    from bayescale.inference import nuts

    args = cli._parser().parse_args(["fit", "x.csv", "--per-decade", "0.03"])
    assert cli._fit_kwargs(args)["error_model"] == bs.Extrapolation(per_decade=0.03)
    assert cli._fit_kwargs(cli._parser().parse_args(["fit", "x.csv", "--error-model", "offsets"]))["error_model"] == "offsets"
    assert cli._fit_kwargs(cli._parser().parse_args(["fit", "x.csv"]))["error_model"] is None  # bs.fit's default
    csv = tmp_path / "runs.csv"
    example_data.to_frame().to_csv(csv, index=False)
    before = sum(nuts.TRACE_COUNTS.values())
    assert cli.main(["fit", str(csv), "--error-model", "independent", "--per-decade", "0.01"]) == 2
    assert "does not apply to --error-model independent" in capsys.readouterr().err
    assert cli.main(["fit", str(csv), "--per-decade", "-0.5"]) == 2
    assert "per_decade=-0.5" in capsys.readouterr().err
    assert sum(nuts.TRACE_COUNTS.values()) == before


def test_cli_strict_exits_3_when_not_converged(tmp_path, capsys, example_data):
    csv = tmp_path / "runs.csv"
    example_data.to_frame().to_csv(csv, index=False)
    code = cli.main(["fit", str(csv), "--D", "D", "--chains", "2", "--warmup", "20", "--draws", "30", "--strict",
                     "--compute", "1e21"])
    assert code == 3
    assert "NOT converged" in capsys.readouterr().out


def test_the_console_command_flushes_its_output_and_runs_atexit_before_skipping_teardown(tmp_path):
    """``bayescale`` exits through ``cli._exit_now``: the exit status is main's, output still in the buffers of a
    piped stdout and stderr is written, and ``atexit`` handlers run (a file written by one); the interpreter's
    teardown is skipped (``os._exit``), which nothing observable depends on."""
    import os
    import subprocess
    import sys

    marker = tmp_path / "atexit.txt"
    code = (f"import atexit, sys; from bayescale import cli; "
            f"atexit.register(lambda: open({str(marker)!r}, 'w').write('ran')); "
            f"print('x' * 100000, end=''); print('to stderr', file=sys.stderr, end=''); cli._exit_now(5)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 5 and out.stdout == "x" * 100000 and out.stderr.endswith("to stderr")
    assert marker.read_text() == "ran"
