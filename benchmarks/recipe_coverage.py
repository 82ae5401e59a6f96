"""Are the recipe comparisons' intervals calibrated? Coverage of known multipliers over simulated datasets.

Each dataset is ``bs.datasets.recipes(seed=1000 + i, n_recipes=4)``: four recipes drawn around a population
(``RECIPE_POPULATION``, log-sd ``RECIPE_SPREAD``), three 30-run IsoFLOP sweeps (g0-g2) and one 8-run one (g3),
budgets 6e18-3e21 FLOPs, 1% noise. One hierarchical fit per dataset (``pooling="partial"``, bs.fit's defaults),
then ``bs.compare_recipes`` of g1 over g0 (two full sweeps) and g3 over g0 (the sparse recipe) at the
largest training budget and 10x and 100x beyond, on the frontier and at a fixed run (N = 1e9, D = 2e10).
The true multiplier is the same computation on the true parameters. Reported per (pair, budget): how often
the 90% (and 50%) interval covers the truth, with the Clopper-Pearson 95% interval of that rate; calibrated
intervals give a rate whose interval holds 0.90 (0.50) in about 95% of rows. Also the Brier score of
``p_better`` (P(candidate's frontier loss below the baseline's)) against the truth, and the coverage of each
recipe's own parameters (E, alpha, beta; full sweeps and the sparse one apart) and of the population's median
exponents and spreads (``parameters`` in the JSON): the truths are fixed draws around one population, not draws
from the priors, so these rates need not be 0.90; they say what a user's intervals of this kind have done.

    PYTHONPATH=$PWD python benchmarks/recipe_coverage.py               # 50 datasets
    PYTHONPATH=$PWD python benchmarks/recipe_coverage.py --datasets 5  # smoke run

Writes ``benchmarks/results/recipe_coverage.json`` (folder ``--out``).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table, write_json  # noqa: E402
from _hierarchical import diagnostics_row  # noqa: E402

PAIRS = (("g0", "g1"), ("g0", "g3"))
BUDGETS = (3e21, 3e22, 3e23)
RUN = (1e9, 2e10)


def one_dataset(bs, i: int, seed: int) -> list[dict]:
    from bayescale.analyses.recipes import multiplier_draws

    data = bs.datasets.recipes(seed=1000 + i, n_recipes=4)
    truths = bs.datasets.recipe_truths(seed=1000 + i, n_recipes=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.errors.ConvergenceWarning)  # reported in the rows
        t0 = time.perf_counter()
        fit = bs.fit(data, pooling="partial", seed=seed + i, warn=False, progress_bar=False)
        wall = time.perf_counter() - t0
    diag = diagnostics_row(fit)
    rows = []
    for base, cand in PAIRS:
        for where, kw in [(f"C={c:.0e}", {"C": [c]}) for c in BUDGETS] + [("N=1e9,D=2e10", {"N": [RUN[0]], "D": [RUN[1]]})]:
            true = multiplier_draws(truths[base], truths[cand], **kw)
            truth = float(true["multiplier"][0, 0])
            better = bool(true["loss_candidate"][0, 0] < (true["loss_baseline"][0, 0] if "C" in kw else
                          np.exp(bs.chinchilla_log_loss(truths[base], RUN[0], RUN[1]))))
            row = {"dataset": i, "pair": f"{cand} over {base}", "at": where, "truth": truth, "true_better": better,
                   "seconds": wall, **diag}
            for prob in (0.5, 0.9):
                t = bs.compare_recipes(fit, base, cand, prob=prob, **kw).iloc[0]
                row[f"in_{prob:g}"] = bool(t.multiplier_lower <= truth <= t.multiplier_upper)
                row["median"], row["p_better"] = float(t.multiplier_median), float(t.p_better)
            rows.append(row)
    params = parameter_rows(bs, fit, truths, i)
    print(f"dataset {i:3d}: {wall:6.1f} s converged={diag['converged']} steps={diag['steps_per_draw']:.1f} "
          + " ".join(f"{r['pair'][:2]}@{r['at']}:{'Y' if r['in_0.9'] else 'n'}" for r in rows)
          + f" parameters in 90%: {sum(r['in_0.9'] for r in params)}/{len(params)}", flush=True)
    return rows, params


def parameter_rows(bs, fit, truths: dict, i: int) -> list[dict]:
    """Whether the 50% and 90% intervals of each recipe's E, alpha, beta and of the population's median exponents
    and spreads hold the truth (the population's: ``RECIPE_POPULATION`` and ``RECIPE_SPREAD``)."""
    from bayescale.simulated_recipes import RECIPE_SPREAD

    sparse = fit.group_labels[-1]
    cases = [("sparse recipe" if g == sparse else "full recipe", k, fit.natural_draws(g)[k], truths[g][k])
             for g in fit.group_labels for k in ("E", "alpha", "beta")]
    pop = fit.draws(("mu_alpha", "mu_beta", "tau_alpha", "tau_beta"))
    for k in ("alpha", "beta"):
        cases += [("population median", k, np.exp(pop[f"mu_{k}"]), bs.datasets.RECIPE_POPULATION[k]),
                  ("population spread", k, pop[f"tau_{k}"], RECIPE_SPREAD[k])]
    rows = []
    for what, name, draws, truth in cases:
        d = np.asarray(draws).ravel()
        row = {"dataset": i, "what": what, "parameter": name, "truth": float(truth),
               "z": float((truth - d.mean()) / d.std())}
        for prob in (0.5, 0.9):
            lo, hi = np.quantile(d, [(1 - prob) / 2, (1 + prob) / 2])
            row[f"in_{prob:g}"] = bool(lo <= truth <= hi)
        rows.append(row)
    return rows


def coverage(rows: list[dict]) -> dict:
    """The 50% and 90% intervals' coverage over ``rows`` (their ``in_0.5``, ``in_0.9``), each with its
    Clopper-Pearson 95% interval and whether that interval holds the nominal rate."""
    from bayescale.analyses.calibration import clopper_pearson

    out = {}
    for prob in ("0.5", "0.9"):
        hits = sum(r[f"in_{prob}"] for r in rows)
        lo, hi = clopper_pearson(hits, len(rows))
        out[f"coverage_{prob}"] = hits / len(rows)
        out[f"coverage_{prob}_ci"] = [float(lo), float(hi)]
        out[f"within_{prob}"] = bool(lo <= float(prob) <= hi)
    return out


def summarize_parameters(rows: list[dict]) -> list[dict]:
    """Coverage per (what, parameter) (:func:`coverage`), and the mean of (truth - mean) / sd."""
    out = []
    for key in dict.fromkeys((r["what"], r["parameter"]) for r in rows):
        rs = [r for r in rows if (r["what"], r["parameter"]) == key]
        out.append({"what": key[0], "parameter": key[1], "n": len(rs),
                    "mean_z": float(np.mean([r["z"] for r in rs])), **coverage(rs)})
    return out


def summarize(rows: list[dict]) -> list[dict]:
    """Coverage per (pair, at) (:func:`coverage`), and the Brier score of P(better)."""
    out = []
    for pair in dict.fromkeys(r["pair"] for r in rows):
        for at in dict.fromkeys(r["at"] for r in rows):
            rs = [r for r in rows if r["pair"] == pair and r["at"] == at]
            out.append({"pair": pair, "at": at, "datasets": len(rs),
                        "brier_p_better": float(np.mean([(r["p_better"] - r["true_better"]) ** 2 for r in rs])),
                        **coverage(rs)})
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", type=int, default=50)
    p.add_argument("--seed", type=int, default=0, help="chain seed offset (dataset i uses seed + i)")
    p.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    args = p.parse_args(argv)
    import bayescale as bs

    t0 = time.perf_counter()
    rows, params = [], []
    for i in range(args.datasets):
        more, more_params = one_dataset(bs, i, args.seed)
        rows.extend(more)
        params.extend(more_params)
        save(args, rows, params, t0, partial=i + 1 < args.datasets)  # rows so far survive a run stopped early
    summary = summarize(rows)
    fmt = [("pair", "pair", ""), ("at", "at", ""), ("datasets", "datasets", "d"),
           ("coverage_0.9", "90% coverage", ".2f"), ("within_0.9", "0.90 in 95% CI", ""),
           ("coverage_0.5", "50% coverage", ".2f"), ("within_0.5", "0.50 in 95% CI", ""),
           ("brier_p_better", "Brier P(better)", ".3f")]
    print("\n" + table([{**s, "within_0.9": str(s["within_0.9"]), "within_0.5": str(s["within_0.5"])} for s in summary],
                       fmt))
    pfmt = [("what", "what", ""), ("parameter", "parameter", ""), ("n", "n", "d"), ("coverage_0.9", "90% coverage", ".2f"),
            ("coverage_0.5", "50% coverage", ".2f"), ("mean_z", "mean (truth - mean) / sd", "+.2f")]
    print("\n" + table(summarize_parameters(params), pfmt))
    path, payload = save(args, rows, params, t0, partial=False)
    print(f"\nsaved {path}")
    return payload


def save(args, rows: list[dict], params: list[dict], t0: float, partial: bool) -> tuple[Path, dict]:
    """Write the summary of the datasets fitted so far (``"partial": true`` until the last)."""
    fits = {r["dataset"]: r for r in rows}.values()
    payload = {"settings": vars(args), "partial": partial, "summary": summarize(rows), "rows": rows,
               "parameters": summarize_parameters(params), "parameter_rows": params,
               "fits": {"n": len(fits), "converged": sum(r["converged"] for r in fits),
                        "mean_steps": float(np.mean([r["steps_per_draw"] for r in fits]))},
               "wall_s": time.perf_counter() - t0}
    return write_json("recipe_coverage", payload, Path(args.out) if args.out else None), payload


if __name__ == "__main__":
    main()
