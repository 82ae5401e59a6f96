"""Print the README's Performance tables from ``benchmarks/results/*.json``: ``python benchmarks/report.py``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, table  # noqa: E402


def _load(name: str, folder: Path):
    p = folder / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def main(argv=None) -> None:
    folder = Path(argv[0]) if argv else RESULTS
    sf = _load("single_fit", folder)
    if sf:
        m = sf["machine"]
        print(f"Machine: {m['cpu']} ({m['cpu_count']} cores, {m['jax_backend']}), load average at start "
              f"{m['load_average']}; jax {m['versions']['jax']}, numpyro {m['versions']['numpyro']}, {m['timestamp']}\n")
        rows = []
        for name, r in sf["results"].items():
            if r.get("status") == "ok" and name != "scipy_grid":
                rows.append({"sampler": name, **r})
        print(f"Single fit, {sf['data']} ({sf['n']} points), {sf['settings']['chains']} chains x "
              f"({sf['settings']['warmup']} + {sf['settings']['draws']}):\n")
        print(table(rows, [("sampler", "sampler", ""), ("cold_s", "cold s", ".1f"), ("import_s", "of which import", ".1f"),
                           ("compile_s", "compile s", ".1f"), ("warm_s", "warm s", ".2f"), ("steps_per_draw", "steps/draw", ".1f"),
                           ("min_ess_bulk", "min bulk ESS", ".0f"), ("ess_per_s", "ESS/s warm", ".0f"),
                           ("ess_per_gradient", "ESS/gradient", ".4f"), ("max_rhat", "max R-hat", ".3f"),
                           ("divergences", "div", "d")]))
        sg = sf["results"].get("scipy_grid", {})
        if sg.get("status") == "ok":
            print(f"\nscipy grid: {sg['starts']} starts {sg['grid_s']:.1f} s; bootstrap from optimum "
                  f"{sg['boot_per_resample_s']:.3f} s/resample -> 4000: {sg['boot_4000_s']:.0f} s; full-grid bootstrap "
                  f"{sg['boot_grid_per_resample_s']:.1f} s/resample -> 4000: {sg['boot_grid_4000_s'] / 3600:.1f} h; point {sg['point']}")
        print("\nratios:", json.dumps(sf["ratios"], indent=1, default=lambda v: round(float(v), 2)))
    mf = _load("many_fits", folder)
    if mf:
        print(f"\nMany fits ({mf['settings']['chains']} x ({mf['settings']['warmup']} + {mf['settings']['draws']})), loop "
              f"{mf['loop']['posteriors_per_s']:.2f} posteriors/s:\n")
        print(table(mf["results"], [("K", "K", "d"), ("method", "method", "s"), ("first_s", "first call s", ".1f"),
                                    ("run_s", "run s", ".1f"),
                                    ("posteriors_per_s", "posteriors/s", ".2f"), ("speedup_vs_loop", "x loop", ".2f"),
                                    ("min_ess_bulk", "min ESS", ".0f"), ("max_rhat", "max R-hat", ".3f"),
                                    ("fits_ess_ge_400", "fits ESS>=400", "d"), ("fits_pass", "fits passing", "d"),
                                    ("divergences", "div", "d")]))
    ds = _load("data_size", folder)
    if ds:
        print("\nData size:\n")
        print(table(ds["results"], [("n", "n", "d"), ("gradient_us", "us/gradient", ".1f"), ("gradient_cost_ratio", "x", ".1f"),
                                    ("gradient_per_point_ratio", "per point", ".2f"),
                                    ("baseline_gradient_us", "baseline us/gradient", ".1f"),
                                    ("baseline_gradient_per_point_ratio", "per point", ".2f"),
                                    ("posterior_s", "s/posterior", ".2f"), ("posterior_cost_ratio", "x", ".1f"),
                                    ("steps_per_draw", "steps/draw", ".1f"), ("min_ess_bulk", "min ESS", ".0f")]))
    dv = _load("devices", folder)
    if dv:
        print("\nDevices:\n")
        print(table([r for r in dv["results"] if r.get("status") == "ok"],
                    [("host_devices", "host devices", "d"), ("fit_warm_s", "fit warm s", ".2f"), ("fit_speedup", "x", ".2f"),
                     ("many_warm_s", "fit_many K warm s", ".1f"), ("many_posteriors_per_s", "posteriors/s", ".2f"),
                     ("many_speedup", "x", ".2f")]))


if __name__ == "__main__":
    main(sys.argv[1:])
