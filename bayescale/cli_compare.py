"""``bayescale compare-recipes``: how much compute one recipe is worth over another, with intervals.

Reads a pooled fit saved with ``--out`` (a ``.nc`` file), or fits a CSV with a group column
(``--group``) with partial pooling, then prints :func:`~bayescale.compare_recipes` at the budgets given
(the effective compute multiplier, P(candidate better) on the frontier and for single runs) and, with
``--crossover C_MIN,C_MAX``, :func:`~bayescale.recipe_crossover`.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parser", "run"]


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers like 1e20,1e21; got {text!r}") from None


def add_parser(sub) -> None:
    """Register ``compare-recipes`` on the ``bayescale`` command's subparsers."""
    p = sub.add_parser("compare-recipes", help="effective compute multiplier of one recipe (group) over another",
                       description="Compare two recipes (groups) of one pooled fit: the compute the baseline needs "
                                   "to reach the candidate's compute-optimal loss, over the candidate's compute (the "
                                   "effective compute multiplier), and P(candidate better), with intervals.")
    p.add_argument("source", help="a pooled fit saved with --out (.nc), or a CSV of runs with a group column")
    p.add_argument("--baseline", required=True, help="the baseline recipe (a group label)")
    p.add_argument("--candidate", required=True, help="the candidate recipe (a group label)")
    p.add_argument("--compute", type=_floats, default=None, metavar="C1,C2,...",
                   help="budgets in FLOPs (default: 5 from the data's smallest to 100x its largest)")
    p.add_argument("--crossover", type=_floats, default=None, metavar="C_MIN,C_MAX",
                   help="also the posterior of the compute where the two frontiers cross in this range")
    p.add_argument("--prob", type=float, default=0.9, help="central interval probability (default 0.9)")
    p.add_argument("--plot", metavar="OUT.png", default=None, help="save the multiplier against compute, with bands")
    g = p.add_argument_group("fitting a CSV")
    g.add_argument("--group", default="group", help="column naming each run's recipe (default group)")
    g.add_argument("--N", dest="N", default="N", help="column with parameter counts (default N)")
    g.add_argument("--D", dest="D", default=None, help="column with training tokens")
    g.add_argument("--C", dest="C", default=None, help="column with training FLOPs (D = C / 6N) instead of --D")
    g.add_argument("--loss", default="loss", help="column with final loss (default loss)")
    g.add_argument("--shared", default="", metavar="NAMES",
                   help="comma-separated law parameters shared by every recipe, e.g. E (default: all pooled)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--num-warmup", "--warmup", dest="warmup", type=int, default=1000, help="warmup iterations per chain (default 1000)")
    g.add_argument("--num-samples", "--draws", dest="draws", type=int, default=1000, help="kept draws per chain (default 1000)")
    g.add_argument("--out", help="save the fit of a CSV to this netCDF file")


def _fit(args, bs):
    if args.source.endswith(".nc"):
        return bs.load(args.source)
    data = bs.ScalingData.from_csv(args.source, N=args.N, D=args.D, C=args.C, loss=args.loss, group=args.group)
    shared = tuple(s.strip() for s in args.shared.split(",") if s.strip())
    fit = bs.fit(data, pooling=bs.PartialPooling(shared=shared), seed=args.seed, num_warmup=args.warmup,
                 num_samples=args.draws)
    print(str(fit.diagnostics) + "\n")
    if args.out:
        fit.save(args.out)
        print(f"saved to {args.out}\n")
    return fit


def run(args, bs) -> int:
    """Run ``compare-recipes`` (``bs``: the public API)."""
    import numpy as np
    import pandas as pd

    from bayescale.analyses.recipes import recipe_crossover

    if args.crossover and len(args.crossover) != 2:  # checked before a CSV is fitted
        print("bayescale: error: --crossover takes two budgets, C_MIN,C_MAX", file=sys.stderr)
        return 2
    fit = _fit(args, bs)
    C = args.compute or list(np.geomspace(float(fit.data.C.min()), 100 * float(fit.data.C.max()), 5))
    table = bs.compare_recipes(fit, args.baseline, args.candidate, C=C, prob=args.prob, seed=args.seed)
    pct = f"{args.prob:.0%}"
    rows = [{"C (FLOPs)": f"{c:.3g}",
             f"multiplier [{pct}]": f"{r.multiplier_median:.3g} [{r.multiplier_lower:.3g}, {r.multiplier_upper:.3g}]",
             "P(better)": f"{r.p_better:.3f}", "P(better run)": f"{r.p_better_run:.3f}",
             "P(reachable)": f"{r.p_reachable:.3f}"} for c, r in table.iterrows()]
    print(f"{args.candidate} over {args.baseline} (multiplier > 1: the candidate is worth more compute):")
    print(pd.DataFrame(rows).to_string(index=False))
    if args.crossover:
        x = recipe_crossover(fit, args.baseline, args.candidate, *args.crossover, prob=args.prob).iloc[0]
        print(f"\nfrontiers cross in [{x.C_min:.3g}, {x.C_max:.3g}] FLOPs with probability {x.p_crossover:.3f}"
              + (f"; where they do, at {x.C_median:.3g} [{x.C_lower:.3g}, {x.C_upper:.3g}]" if x.p_crossover > 0 else ""))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        ax = bs.plots.plot_multiplier(fit, args.baseline, args.candidate)
        ax.figure.savefig(args.plot, dpi=120)
        print(f"\nsaved {args.plot}")
    return 0
