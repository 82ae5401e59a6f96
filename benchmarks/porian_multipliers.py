"""Porian et al. (2024)'s configurations, each against its Chinchilla-like configuration: effective compute multipliers.

One hierarchical fit of the 15 configurations as groups (runs with D / N >= 4, every budget; ``pooling="partial"``,
bs.fit's defaults). Losses are comparable only on one evaluation set, so configurations are compared within
their family (dataset and loss split: RefinedWeb train, RefinedWeb validation, OpenWebText2 validation), each
against the family's Chinchilla-like configuration: tuned hyperparameters, short warmup, constant learning rate
(Porian et al.'s corrected setup, which agrees with Hoffmann et al.'s law; a cosine decay was not needed).
A multiplier above 1: the configuration reaches on its frontier at compute C a loss the reference needs
more compute for; each configuration's C counts N its own way (``param_count``), as Porian et al. do.

    PYTHONPATH=$PWD python benchmarks/porian_multipliers.py

Writes ``benchmarks/results/porian_multipliers.json`` (folder ``--out``) and prints the table.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SHARED_DATA, table, write_json  # noqa: E402
from _hierarchical import diagnostics_row, porian_groups  # noqa: E402

BUDGETS = (2.56e19, 1e21, 1e23)


def reference_of(label: str, labels: list[str]) -> str | None:
    """The Chinchilla-like configuration of ``label``'s family (same dataset and loss split)."""
    dataset, split = label.split("/")[0], label.split("/")[-1]
    refs = [g for g in labels if g.startswith(f"{dataset}/tuned/warmup=short/decay=const/") and g.endswith(f"/{split}")]
    return refs[0] if refs else None


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=str(SHARED_DATA))
    p.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    args = p.parse_args(argv)
    import bayescale as bs

    data = porian_groups(Path(args.data_dir))
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.errors.ExtrapolationWarning)
        fit = bs.fit(data, pooling="partial", seed=args.seed, progress_bar=False)
        wall = time.perf_counter() - t0
        print(str(fit.diagnostics), flush=True)
        labels = list(fit.group_labels)
        rows = []
        for g in labels:
            ref = reference_of(g, labels)
            if ref is None or ref == g:
                continue
            t = bs.compare_recipes(fit, ref, g, C=list(BUDGETS), seed=args.seed)
            x = bs.recipe_crossover(fit, ref, g, 1e16, 1e24).iloc[0]
            row = {"configuration": g, "reference": ref, "p_crossover_1e16_1e24": float(x.p_crossover),
                   "crossover_median": float(x.C_median)}
            for C, r in t.iterrows():
                key = f"{C:.3g}"
                row.update({f"multiplier_{key}": float(r.multiplier_median), f"lower_{key}": float(r.multiplier_lower),
                            f"upper_{key}": float(r.multiplier_upper), f"p_better_{key}": float(r.p_better)})
            rows.append(row)
    shown = [{"configuration": r["configuration"], "reference": r["reference"].split("/N=")[0] + "/...",
              **{f"at {C:.3g}": f"{r[f'multiplier_{C:.3g}']:.2f} [{r[f'lower_{C:.3g}']:.2f}, {r[f'upper_{C:.3g}']:.2f}]"
                 for C in BUDGETS},
              "P(better) at 1e+21": f"{r['p_better_1e+21']:.2f}",
              "P(cross in 1e16-1e24)": f"{r['p_crossover_1e16_1e24']:.2f}"} for r in rows]
    cols = [("configuration", "configuration", ""), ("reference", "reference", "")] + \
        [(f"at {C:.3g}", f"multiplier at C={C:.3g} [90%]", "") for C in BUDGETS] + \
        [("P(better) at 1e+21", "P(better) at 1e21", ""), ("P(cross in 1e16-1e24)", "P(cross 1e16-1e24)", "")]
    print("\n" + table(shown, cols))
    payload = {"settings": vars(args), "fit": {"seconds": wall, "n": data.n, "groups": len(labels),
                                               **diagnostics_row(fit)}, "rows": rows}
    path = write_json("porian_multipliers", payload, Path(args.out) if args.out else None)
    print(f"\nsaved {path}")
    return payload


if __name__ == "__main__":
    main()
