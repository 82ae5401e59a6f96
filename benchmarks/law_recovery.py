"""Per-law parameter recovery on data simulated from each law (the designs of tests/lawsim.py).

    PYTHONPATH=$PWD:$PWD/tests python benchmarks/law_recovery.py [law ...]

Prints, per law and parameter, the truth, the posterior median, the 90% interval and the
z-score (median - truth) / sd (log scale for scale parameters), FAST settings (4 x (500 + 500)), seed 0.
"""

import sys
import time

import numpy as np

import bayescale as bs
from lawsim import TRUTH, simulate

SCALE = {"A", "B", "N_c", "D_c", "x_b"}

for name in sys.argv[1:] or list(TRUTH):
    t = time.time()
    fit = bs.fit(simulate(name, seed=0), law=name, seed=0, num_chains=4, num_warmup=500, num_samples=500, warn=False)
    print(f"{name}: {time.time() - t:.0f}s, converged={fit.converged}, divergences={fit.diagnostics.n_divergent}")
    draws = fit.draws()
    for k, v in TRUTH[name].items():
        d = np.asarray(draws[k], dtype=np.float64)
        lo, med, hi = np.quantile(d, [0.05, 0.5, 0.95])
        dz, vz = (np.log(d), np.log(v)) if k in SCALE else (d, v)
        print(f"  {k:12s} truth {v:<10.4g} median {med:<10.4g} 90% [{lo:.4g}, {hi:.4g}]  z = {(np.median(dz) - vz) / np.std(dz):+.2f}")
