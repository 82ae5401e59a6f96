"""PSIS-LOO comparison of the likelihoods on Epoch AI's Chinchilla data (240 points).

    PYTHONPATH=$PWD python benchmarks/likelihood_loo_epoch.py [--data /work/shared/data] [--out loo.json]

Fits the Chinchilla law with likelihood = normal, student_t (df = 4), student_t (df learned) and
huber, default sampler settings (4 chains x (1000 + 1000)), seed 0; prints bs.compare's table
(elpd_loo, se, p_loo, Pareto-k counts) and each fit's exponents; writes JSON.
"""

import argparse
import json
import platform
import time
import warnings

import numpy as np

import bayescale as bs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=None, help="local copy of Epoch's CSV (file or folder); default: download")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    data = bs.datasets.load_chinchilla(args.data, drop_outliers=True)
    fits, rows = {}, {}
    for name, lik in [("normal", "normal"), ("student_t", "student_t"),
                      ("student_t_learn", bs.Likelihood("student_t", df="learn")), ("huber", "huber")]:
        t = time.time()
        fit = bs.fit(data, likelihood=lik, seed=0, warn=False)
        d = fit.draws(("alpha", "beta", "E") + (("df",) if name == "student_t_learn" else ()))
        f = fit.frontier(C=5.88e23)
        rows[name] = {
            "seconds": time.time() - t,
            "converged": fit.converged,
            "problems": list(fit.diagnostics.problems),
            **{f"{k}_median": float(np.median(v)) for k, v in d.items()},
            **{f"{k}_90": [float(x) for x in np.quantile(v, [0.05, 0.95])] for k, v in d.items()},
            "tokens_per_param_5.88e23": float(f.tokens_per_param_median.iloc[0]),
        }
        fits[name] = fit
        print(name, json.dumps(rows[name]), flush=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = bs.compare(fits)
    print(table.to_string())
    for w in caught:
        print("warning:", w.category.__name__, str(w.message))
    out = {
        "machine": platform.platform(), "n": data.n, "fits": rows,
        "compare": json.loads(table.to_json(orient="index")),
        "warnings": [str(w.message) for w in caught],
    }
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
