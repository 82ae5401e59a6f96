"""`bayescale demo --plot`, `bayescale plan` on a saved fit."""

import os

from bayescale import cli


def test_demo_plot_then_plan(tmp_path, capsys):
    out = tmp_path / "fit.nc"
    png = tmp_path / "demo.png"
    # The FAST settings of the suite: the compiled sampler is reused.
    rc = cli.main(["demo", "--warmup", "500", "--draws", "500", "--out", str(out), "--plot", str(png)])
    assert rc == 0
    for suffix in ("", "-residuals", "-frontier", "-tokens", "-isoflop", "-pairs"):
        path = tmp_path / f"demo{suffix}.png"
        assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    capsys.readouterr()
    plan_png = tmp_path / "plan.png"
    rc = cli.main(["plan", str(out), "--target-compute", "1e24", "--budget", "1e21", "--sims", "16",
                   "--top", "5", "--plot", str(plan_png)])
    text = capsys.readouterr().out
    assert rc == 0
    assert "Next-run plan" in text and "log N_opt at C* = 1e+24" in text
    table = text.split("\n\n")[1].splitlines()
    assert table[0].split()[:4] == ["rank", "N", "D", "FLOPs"] and len(table) == 6
    assert os.path.getsize(plan_png) > 0


def test_plan_cli_errors(tmp_path, capsys):
    rc = cli.main(["plan", str(tmp_path / "missing.nc"), "--target-compute", "1e24", "--budget", "1e21"])
    assert rc == 2
    assert "FileFormatError" in capsys.readouterr().err


def test_plan_cli_candidates_csv(example_fit, tmp_path, capsys):
    fit_path = tmp_path / "fit.nc"
    example_fit.save(fit_path)
    csv = tmp_path / "runs.csv"
    csv.write_text("N,D\n1e9,2e10\n4e9,5e9\n")
    assert cli.main(["plan", str(fit_path), "--target-compute", "1e24", "--candidates", str(csv), "--sims", "8"]) == 0
    out = capsys.readouterr().out
    assert "2 candidates" in out and "1e+09" in out and "4e+09" in out
    assert cli.main(["plan", str(fit_path), "--target-compute", "1e24", "--candidates", str(tmp_path / "no.csv")]) == 2
    assert "cannot read --candidates" in capsys.readouterr().err
