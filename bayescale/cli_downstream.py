"""``bayescale downstream``: forecast benchmark accuracy from a ladder of runs (loss -> accuracy), or backtest it.

Registered by :mod:`bayescale.cli` (``add_parser``, ``run``). The runs' loss law is fitted per group from the
table's own loss column (:func:`~bayescale.analyses.downstream_backtest.loss_fits_by_group`), the links per
(task, group) by :func:`bayescale.fit_downstream`.
"""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers like 1e9,7e9; got {text!r}") from None


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def add_parser(sub) -> None:
    """The ``downstream`` subcommand's arguments."""
    p = sub.add_parser(
        "downstream", help="forecast benchmark accuracy of larger runs (loss -> accuracy, uncertainty carried through)",
        description="Fit a loss law per group and a link from loss to accuracy per (task, group) on a table of runs "
                    "scored on tasks (one row per run and task), then forecast the accuracy of new runs (--predict-N/-D "
                    "or the compute-optimal --compute budgets) with intervals that carry the loss fit's uncertainty and "
                    "each benchmark's noise; or, with --cutoff-N, backtest: fit the smaller runs, score the larger.")
    p.add_argument("csv", nargs="?", help="CSV file, one row per (run, task)")
    p.add_argument("--gadre", metavar="DIR", help="use Gadre et al. (2024)'s 104 runs on 46 tasks (a folder holding "
                                                  "their two CSVs) instead of a CSV; loss = C4 validation loss")
    g = p.add_argument_group("columns of the CSV")
    for flag, default, what in (("--N", "N", "parameter counts"), ("--D", "D", "training tokens"),
                                ("--loss", "loss", "each run's loss"), ("--accuracy", "accuracy", "accuracy in [0, 1]"),
                                ("--task", "task", "task names"), ("--n-items", "n_items", "items per task"),
                                ("--chance", "chance", "chance accuracy in [0, 1)"), ("--group", None, "group labels")):
        g.add_argument(flag, default=default, help=f"column with {what} (default {default})")
    f = p.add_argument_group("forecast")
    f.add_argument("--tasks", type=_names, default=None, metavar="T1,T2", help="only these tasks (default all)")
    f.add_argument("--predict-N", type=_floats, default=None, metavar="N1,N2", help="parameters of the runs to forecast")
    f.add_argument("--predict-D", type=_floats, default=None, metavar="D1,D2", help="their training tokens")
    f.add_argument("--compute", type=_floats, default=None, metavar="C1,C2",
                   help="forecast compute-optimal runs at these budgets (FLOPs)")
    f.add_argument("--cutoff-N", type=float, default=None, metavar="N",
                   help="backtest: fit the runs below N parameters, score the others")
    f.add_argument("--method", choices=["two_step", "one_step"], default="two_step",
                   help="two_step (compute -> loss -> accuracy, default) or one_step (compute -> accuracy)")
    f.add_argument("--link", choices=["sigmoid", "exponential"], default="sigmoid", help="loss -> accuracy link")
    f.add_argument("--prob", type=float, default=0.9, help="central interval probability (default 0.9)")
    f.add_argument("--out", metavar="OUT.csv", help="write the table to this CSV file")
    f.add_argument("--plot", metavar="OUT.png", help="save accuracy-vs-compute and link figures of the first task")
    s = p.add_argument_group("sampler")
    s.add_argument("--num-chains", "--chains", dest="chains", type=int, default=4, help="chains (default 4)")
    s.add_argument("--num-warmup", "--warmup", dest="warmup", type=int, default=1000, help="warmup iterations per chain (default 1000)")
    s.add_argument("--num-samples", "--draws", dest="draws", type=int, default=1000, help="kept draws per chain (default 1000)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--strict", action="store_true", help="exit with status 3 when a link did not converge")


def _task_data(args, bs):
    from bayescale.errors import ConfigError

    if (args.csv is None) == (args.gadre is None):
        raise ConfigError("give a CSV file or --gadre DIR (one of them)")
    if args.gadre is not None:
        return bs.datasets.load_gadre_tasks(args.gadre, tasks=args.tasks)
    import pandas as pd

    try:
        df = pd.read_csv(args.csv)
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot read {args.csv!r}: {err}") from None
    if args.tasks:
        df = df[df[args.task].isin(args.tasks)] if args.task in df else df
    return bs.TaskData.from_frame(df, N=args.N, D=args.D, loss=args.loss if args.method == "two_step" else None,
                                  accuracy=args.accuracy, task=args.task, n_items=args.n_items, chance=args.chance,
                                  group=args.group)


def run(args, bs) -> int:
    """Run the subcommand; returns the exit status."""
    import pandas as pd

    from bayescale.analyses.downstream_backtest import downstream_backtest, loss_fits_by_group
    from bayescale.errors import ConfigError

    td = _task_data(args, bs)
    sampler = dict(num_chains=args.chains, num_warmup=args.warmup, num_samples=args.draws)
    pd.set_option("display.width", 200)
    if args.cutoff_N is not None:
        points, fit = downstream_backtest(td, cutoff_N=args.cutoff_N, method=args.method, link=args.link,
                                          seed=args.seed, **sampler)
        above = points[~points.at_chance]
        print(f"\nBacktest: fit below {args.cutoff_N:.3g} parameters, {len(points)} held-out (run, task) scores "
              f"({len(above)} of tasks above chance in training):")
        print(f"  median |error| {above.abs_error.median():.2f} points, 50% coverage {above.covered_50.mean():.2f}, "
              f"90% coverage {above.covered_90.mean():.2f}, CRPS {above.crps.mean():.2f} points\n")
        table = points.groupby("task")[["abs_error", "covered_50", "covered_90", "crps"]].mean()
    else:
        if args.compute is None and args.predict_N is None:
            raise ConfigError("say what to forecast: --predict-N and --predict-D, or --compute, or --cutoff-N to backtest")
        if (args.predict_N is None) != (args.predict_D is None):
            raise ConfigError("--predict-N and --predict-D go together: the parameters and tokens of each run to forecast")
        loss_fit = None
        if args.method == "two_step":
            fits = loss_fits_by_group(td, seed=args.seed, **sampler)
            loss_fit = fits[None] if None in fits else fits
        fit = bs.fit_downstream(td, loss_fit=loss_fit, method=args.method, link=args.link, seed=args.seed, **sampler)
        frames = []
        for group in (td.groups or (None,)):
            if args.compute is not None:
                frames.append(fit.frontier(args.compute, group=group, prob=args.prob, seed=args.seed))
            if args.predict_N is not None:
                frames.append(fit.predict(N=args.predict_N, D=args.predict_D, group=group, prob=args.prob,
                                          seed=args.seed))
        table = pd.concat(frames, ignore_index=True)
        print(f"\n{fit!r}\nacc_*: expected accuracy; pred_*: a run's score with the benchmark's noise; "
              f"{args.prob:.0%} intervals\n")
    print(table.to_string(float_format=lambda v: f"{v:.4g}", max_rows=None))
    if args.out:
        table.to_csv(args.out)
        print(f"\ntable written to {args.out}")
    if args.plot:
        _plots(bs, fit, args.plot)
    return 3 if args.strict and not fit.converged else 0


def _plots(bs, fit, path: str) -> None:
    stem = path[:-4] if path.endswith(".png") else path
    unit = fit.units[0]
    for name, draw in (("", bs.plots.plot_accuracy), ("-link", bs.plots.plot_link)):
        ax = draw(fit, unit.task, group=unit.group)
        ax.figure.savefig(f"{stem}{name}.png", dpi=120, bbox_inches="tight")
        print(f"saved {stem}{name}.png")
