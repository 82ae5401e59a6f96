"""`bayescale demo` end to end (its forecast table, frontier and figure; --plot), `bayescale plan` on a saved fit."""

import os
import re
import sys

import numpy as np

import bayescale as bs
from bayescale import cli, demo

from conftest import SEED

PNG = b"\x89PNG\r\n\x1a\n"


def _check_demo_output(text: str, fit_path) -> None:
    """The demo's forecast table is the saved fit's posterior predictive at the held-out runs, counted right."""
    data = bs.datasets.example(seed=SEED)
    held = data.subset(data.C >= demo.DEFAULT_CUTOFF)
    rows = re.findall(r"^\s+(\S+e\+21)\s+(\S+)\s+(\S+)\s+\S+\s+(\d\.\d{4})\s+(\d\.\d{4})\s+\[(\d\.\d{4}), (\d\.\d{4})\]",
                      text, flags=re.M)
    assert len(rows) == held.n == 40
    observed, lower, upper = (np.array([float(r[i]) for r in rows]) for i in (3, 5, 6))
    np.testing.assert_allclose(observed, held.loss, atol=5e-5)
    fit = bs.load(fit_path)
    assert fit.data.n == 140 and fit.data.C.max() < demo.DEFAULT_CUTOFF
    table = fit.predict(N=held.N, D=held.D, prob=0.9, seed=SEED)
    np.testing.assert_allclose(lower, table.pred_lower, atol=5e-5)
    np.testing.assert_allclose(upper, table.pred_upper, atol=5e-5)
    inside = int(((table.pred_lower <= held.loss) & (held.loss <= table.pred_upper)).sum())
    assert f"Inside the 90% interval: {inside} of 40 held-out runs ({40 - inside} outside)" in text
    assert text.count("OUTSIDE") >= 40 - inside  # every miss is marked (parameters and frontier may add more)
    for line in ("Compute-optimal frontier", "5.88e+23", "What a 90% interval promises",
                 "about 1 true value in 10 falls outside", "--seed 1, --seed 2"):
        assert line in text, line


def test_demo_plot_then_plan(tmp_path, capsys):
    out = tmp_path / "fit.nc"
    png = tmp_path / "demo.png"
    figure = tmp_path / "demo-figure.png"
    # The FAST settings of the suite: the compiled sampler is reused (140 fitted runs pad to the example's 192).
    rc = cli.main(["demo", "--warmup", "500", "--draws", "500", "--seed", str(SEED), "--out", str(out),
                   "--plot", str(png), "--figure", str(figure)])
    assert rc == 0
    text = capsys.readouterr().out
    _check_demo_output(text, out)
    assert figure.read_bytes()[:8] == PNG and f"Figure: {figure}" in text
    for suffix in ("", "-residuals", "-frontier", "-tokens", "-isoflop", "-pairs"):
        path = tmp_path / f"demo{suffix}.png"
        assert path.exists() and path.read_bytes()[:8] == PNG, path
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


def test_demo_without_matplotlib_says_how_to_get_the_figure(monkeypatch, capsys, tmp_path):
    args = cli._parser().parse_args(["demo", "--figure", str(tmp_path / "x.png")])
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    demo._write_figure(fit=None, bs=bs, held_out=None, truth={}, args=args)
    assert "pip install 'bayescale[plot]'" in capsys.readouterr().out
    assert not (tmp_path / "x.png").exists()


def test_demo_bad_cutoff_exits_2_before_compiling(capsys):
    from bayescale.inference import nuts

    before = sum(nuts.TRACE_COUNTS.values())
    assert cli.main(["demo", "--cutoff", "1e25"]) == 2
    assert "CutoffError" in capsys.readouterr().err
    assert cli.main(["demo", "--cutoff", "1e18"]) == 2
    assert "raise the cutoff" in capsys.readouterr().err
    assert sum(nuts.TRACE_COUNTS.values()) == before
