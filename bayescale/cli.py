"""The ``bayescale`` command line: ``fit``, ``demo``, ``backtest``, ``plan``, ``downstream``, ``compare-recipes``
(``--help`` on each)."""

from __future__ import annotations

import argparse
import sys
import warnings

from bayescale import cli_compare, cli_downstream

__all__ = ["main", "console_main"]

_DEFAULT_BUDGETS = (1e21, 5.88e23, 1e25)


def _float_list(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers like 1e21,5.88e23; got {text!r}") from None


def _accept_list(text: str) -> tuple[float, ...]:
    """``--refit-divergent``: comma-separated target acceptances, or ``none``."""
    if text.strip().lower() in ("none", ""):
        return ()
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected target acceptances like 0.95,0.99 or 'none'; got {text!r}") from None


def _add_model_and_sampler_args(p: argparse.ArgumentParser) -> None:
    """The model keywords and sampler settings every fitting command shares (fit, demo, backtest): the Python
    entry points' names with dashes (``--num-warmup`` is ``num_warmup=``) and their defaults
    (:mod:`bayescale.fitting.settings`; ``tests/test_argument_surface.py`` checks both)."""
    from bayescale.fitting.settings import SAMPLER_SETTINGS as S
    from bayescale.model.error_models import DEFAULT_ERROR_MODEL, ERROR_MODELS
    from bayescale.model.likelihoods import LIKELIHOODS
    from bayescale.model.pooling import POOLINGS

    g = p.add_argument_group("model (as bs.fit's keywords)")
    g.add_argument("--law", default=None, help="scaling law (default: chinchilla)")
    g.add_argument("--likelihood", default=None, choices=list(LIKELIHOODS), help="noise model on log loss "
                   "(default student_t)")
    g.add_argument("--pooling", default=None, choices=list(POOLINGS),
                   help="how the --group column is used (default complete: ignored)")
    g.add_argument("--error-model", default=None, choices=list(ERROR_MODELS),
                   help=f"errors runs share beyond the noise (default {DEFAULT_ERROR_MODEL}: a discrepancy of a fixed, "
                        "measured scale beyond the data's compute; learned_extrapolation: a drift and discrepancy "
                        "learned from real sweeps and the data's own rolling-origin forecasts, up to four refits at "
                        "the first forecast; docs/guide/error-models.md)")
    g.add_argument("--per-decade", type=float, default=None, metavar="SCALE",
                   help="--error-model extrapolation: the discrepancy's scale, log loss per sqrt(decade) beyond the "
                        "data (default 0.021; 0: trust the law)")
    g = p.add_argument_group("sampler (as bs.fit's keywords)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--num-chains", "--chains", dest="num_chains", type=int, default=S["num_chains"],
                   help=f"number of chains (default {S['num_chains']})")
    g.add_argument("--num-warmup", "--warmup", dest="num_warmup", type=int, default=S["num_warmup"],
                   help=f"warmup iterations per chain (default {S['num_warmup']})")
    g.add_argument("--num-samples", "--draws", dest="num_samples", type=int, default=S["num_samples"],
                   help=f"kept draws per chain (default {S['num_samples']})")
    g.add_argument("--target-accept", type=float, default=S["target_accept"],
                   help=f"NUTS target acceptance (default {S['target_accept']})")
    g.add_argument("--max-tree-depth", type=int, default=S["max_tree_depth"],
                   help=f"NUTS tree depth limit (default {S['max_tree_depth']})")
    g.add_argument("--dense-mass", action=argparse.BooleanOptionalAction, default=S["dense_mass"],
                   help="adapt a dense mass matrix (default) or a diagonal one (--no-dense-mass)")
    g.add_argument("--chain-method", default=S["chain_method"], choices=["auto", "vectorized", "mapped"],
                   help="chains side by side (vectorized) or one after another per core (mapped); default auto")
    g.add_argument("--progress-bar", action=argparse.BooleanOptionalAction, default=S["progress_bar"],
                   help="show a progress bar (default as bs.fit: on a terminal, not under CI or the executable cache)")
    g.add_argument("--until-converged", type=int, default=S["until_converged"], metavar="K",
                   help="continue chains failing only R-hat/ESS by --num-samples draws, up to K times "
                        f"(default {S['until_converged']}; 0: never)")
    g.add_argument("--refit-divergent", type=_accept_list, default=S["refit_divergent"], metavar="T1,T2,...",
                   help="refit a fit with divergences at each of these target acceptances in turn "
                        f"(default {','.join(map(str, S['refit_divergent']))}; 'none': never)")
    g.add_argument("--strict", action="store_true", help="exit with status 3 when a fit did not converge")


def _add_csv_args(p: argparse.ArgumentParser) -> None:
    """The CSV file of runs and its columns (fit, backtest)."""
    p.add_argument("csv", help="CSV file, one row per training run")
    p.add_argument("--N", dest="N", default="N", help="column with parameter counts (default N)")
    p.add_argument("--D", dest="D", default=None, help="column with training tokens")
    p.add_argument("--C", dest="C", default=None, help="column with training FLOPs (D = C / 6N) instead of --D")
    p.add_argument("--loss", default="loss", help="column with final loss (default loss)")
    p.add_argument("--group", default=None, help="column naming each run's group (for --pooling partial or none)")


def _read_csv(args, bs):
    return bs.ScalingData.from_csv(args.csv, N=args.N, D=args.D, C=args.C, loss=args.loss, group=args.group)


def _add_sampler_args(p: argparse.ArgumentParser) -> None:
    """Fit and demo: the shared settings plus what the report prints and saves."""
    _add_model_and_sampler_args(p)
    g = p.add_argument_group("report")
    g.add_argument("--compute", type=_float_list, default=list(_DEFAULT_BUDGETS), metavar="C1,C2,...",
                   help="compute budgets (FLOPs) for the frontier table (default 1e21,5.88e23,1e25)")
    g.add_argument("--prob", type=float, default=0.9, help="central interval probability (default 0.9)")
    g.add_argument("--out", help="save the fit to this netCDF file")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bayescale",
        description="Fit scaling laws with NUTS and answer with honest uncertainty.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p_fit = sub.add_parser("fit", help="fit a law to a CSV file of training runs",
                           description="Fit a scaling law to a CSV of runs; print the posterior summary and the "
                                       "compute-optimal frontier.")
    _add_csv_args(p_fit)
    _add_sampler_args(p_fit)

    p_demo = sub.add_parser("demo", help="fit the built-in example's small runs, forecast its large ones",
                            description="Fit the runs of the built-in synthetic IsoFLOP example (simulated from "
                                        "Epoch AI's Chinchilla fit) below a compute cutoff, forecast the held-out "
                                        "larger runs with intervals, print the frontier beside the simulated "
                                        "truth's and draw one figure (bayescale/demo.py).")
    _add_sampler_args(p_demo)
    from bayescale import demo

    demo.add_arguments(p_demo)
    _add_backtest_parser(sub)
    _add_plan_parser(sub)
    cli_downstream.add_parser(sub)
    cli_compare.add_parser(sub)
    _add_plot_arg(p_fit, p_demo)
    return parser


def _add_backtest_parser(sub) -> None:
    p = sub.add_parser("backtest", help="fit below compute cutoffs and score forecasts of the larger runs",
                       description="Backtest: for each cutoff, fit on the runs below it and score the posterior "
                                   "predictive forecasts of the runs at or above it (relative error of the median, "
                                   "interval coverage, log predictive density, CRPS). Prints one row per cutoff.")
    _add_csv_args(p)
    p.add_argument("--cutoff", type=float, action="append", required=True, metavar="VALUE",
                   help="cutoff in FLOPs (or parameters with --by N); repeat for several")
    p.add_argument("--by", choices=["C", "N"], default="C", help="what the cutoff applies to (default C)")
    p.add_argument("--prob", type=_float_list, default=[0.5, 0.9], metavar="P1,P2,...",
                   help="central interval probabilities whose coverage is scored (default 0.5,0.9)")
    p.add_argument("--method", default="auto", choices=["auto", "nuts", "chees"],
                   help="sampler of the fits (bs.fit_many's method; default auto)")
    p.add_argument("--points", help="also write the per-run scores to this CSV file")
    _add_model_and_sampler_args(p)


def _run_backtest(args, bs) -> int:
    import pandas as pd

    data = _read_csv(args, bs)
    result = bs.backtest(data, cutoff=args.cutoff, by=args.by, prob=args.prob, method=args.method,
                         **_fit_kwargs(args))
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    print(f"\nBacktest of {data.n} runs, cutoff on {args.by} (fit below, score at or above):\n")
    table = result.table.rename(index=lambda c: f"{c:.4g}")
    print(table.to_string(float_format=lambda v: f"{v:.4g}", max_cols=None, max_rows=None, line_width=None))
    if args.points:
        result.points.to_csv(args.points, index=False)
        print(f"\nper-run scores written to {args.points}")
    if args.strict and not result.table["converged"].all():
        print("\n--strict: a fit did not converge (see the 'converged' column)", file=sys.stderr)
        return 3
    return 0


def _report(fit, args) -> int:
    import pandas as pd

    pd.set_option("display.width", 160)
    pd.set_option("display.max_columns", 20)
    print(f"\n{fit.law.formula}   (likelihood: {fit.likelihood.label}, n = {fit.data.n})\n")
    cols = ["mean", "sd", f"hdi_{(1 - args.prob) / 2:.0%}", f"hdi_{1 - (1 - args.prob) / 2:.0%}", "ess_bulk", "r_hat"]
    table = fit.summary(prob=args.prob)
    print(table[[c for c in cols if c in table.columns]].to_string(float_format=lambda v: f"{v:.4g}"))
    print("\n" + str(fit.diagnostics))
    if fit.law.has_frontier and args.compute:
        front = fit.frontier(C=args.compute, prob=args.prob)
        print(f"\nCompute-optimal frontier (median [{args.prob:.0%} interval]):")
        rows = []
        for C, r in front.iterrows():
            rows.append({
                "C (FLOPs)": f"{C:.3g}",
                "N_opt": f"{r.N_opt_median:.3g} [{r.N_opt_lower:.3g}, {r.N_opt_upper:.3g}]",
                "D_opt": f"{r.D_opt_median:.3g} [{r.D_opt_lower:.3g}, {r.D_opt_upper:.3g}]",
                "tokens/param": f"{r.tokens_per_param_median:.1f} [{r.tokens_per_param_lower:.1f}, {r.tokens_per_param_upper:.1f}]",
                "L*": f"{r.loss_median:.4f} [{r.loss_lower:.4f}, {r.loss_upper:.4f}]",
            })
        print(pd.DataFrame(rows).to_string(index=False))
    if args.out:
        fit.save(args.out)
        print(f"\nsaved to {args.out}")
    if args.strict and not fit.converged:
        print("\n--strict: the sampler did not converge (see above)", file=sys.stderr)
        return 3
    return 0


def _error_model(args):
    from bayescale.errors import ConfigError
    from bayescale.model.error_models import Extrapolation

    if args.per_decade is None:
        return args.error_model
    if args.error_model not in (None, "extrapolation"):
        raise ConfigError(f"--per-decade sets the extrapolation discrepancy's scale; it does not apply to "
                          f"--error-model {args.error_model}: drop --per-decade or use --error-model extrapolation")
    return Extrapolation(per_decade=args.per_decade)


def _fit_kwargs(args) -> dict:
    """The model keywords and sampler settings of the command, by their Python names."""
    from bayescale.fitting.settings import SAMPLER_SETTINGS

    return dict(law=args.law, likelihood=args.likelihood, pooling=args.pooling, error_model=_error_model(args),
                seed=args.seed, **{k: getattr(args, k) for k in SAMPLER_SETTINGS})


def main(argv: list[str] | None = None) -> int:
    """The ``bayescale`` command's work: parse ``argv`` (default ``sys.argv[1:]``), run, return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    from bayescale.inference import devices

    devices.request_host_devices()  # before anything starts JAX's backend (see bayescale.inference.devices)
    if argv[:1] in (["fit"], ["demo"]):
        from bayescale.posterior import idata

        idata.preload_arviz()  # a fit's report needs ArviZ (1.6 s to import on 2 cores): start now, beside the rest
    args = _parser().parse_args(argv)
    from bayescale import api as bs
    from bayescale.errors import BayescaleError, BayescaleWarning

    with warnings.catch_warnings():
        warnings.simplefilter("always", BayescaleWarning)
        return _run(args, bs, BayescaleError)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"{category.__name__}: {message}", file=sys.stderr if file is None else file)


def _run(args, bs, BayescaleError) -> int:
    warnings.showwarning = _show_warning
    try:
        if args.command == "backtest":
            return _run_backtest(args, bs)
        if args.command == "plan":
            return _plan(args, bs)
        if args.command == "downstream":
            return cli_downstream.run(args, bs)
        if args.command == "compare-recipes":
            return cli_compare.run(args, bs)
        if args.command == "demo":
            from bayescale import demo

            status, fit = demo.run(args, bs, _fit_kwargs(args))
            _save_fit_plots(fit, args)
            return status
        data = _read_csv(args, bs)
        fit = bs.fit(data, **_fit_kwargs(args))
        status = _report(fit, args)
        _save_fit_plots(fit, args)
        return status
    except BayescaleError as err:
        print(f"bayescale: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2


# ------------------------------------------------------------------ plan and --plot (issue 6)
def _add_plot_arg(*parsers) -> None:
    for p in parsers:
        p.add_argument("--plot", metavar="OUT.png", default=None,
                       help="save figures of the fit: OUT.png (data and law), OUT-residuals.png, OUT-frontier.png, "
                            "OUT-tokens.png, OUT-isoflop.png, OUT-pairs.png (needs pip install bayescale[plot])")


def _add_plan_parser(sub) -> None:
    p = sub.add_parser("plan", help="rank candidate next runs by expected uncertainty reduction per FLOP",
                       description="Rank candidate training runs by the expected reduction in the posterior "
                                   "uncertainty of log N_opt at a target compute, per FLOP, by importance "
                                   "reweighting of the fit's posterior draws (see bayescale.analyses.planning).")
    p.add_argument("fit", help="a fit saved with `bayescale fit ... --out fit.nc`")
    p.add_argument("--target-compute", type=float, required=True, metavar="C*",
                   help="the compute (FLOPs) at which N_opt matters, e.g. 1e24")
    p.add_argument("--budget", type=float, default=None,
                   help="most FLOPs one run may cost; without --candidates, candidates are IsoFLOP slices at "
                        "budget, budget/3.16 and budget/10, 9 sizes each")
    p.add_argument("--candidates", default=None, metavar="CSV", help="CSV with columns N and D: the candidate runs")
    p.add_argument("--criterion", default="variance", choices=["variance", "width"],
                   help="uncertainty measure of log N_opt(C*): variance or central-interval width")
    p.add_argument("--prob", type=float, default=0.9, help="interval probability for --criterion width (default 0.9)")
    p.add_argument("--sims", type=int, default=128, help="simulated outcomes per candidate (default 128)")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulation (default 0)")
    p.add_argument("--top", type=int, default=15, help="rows to print (default 15)")
    p.add_argument("--plot", metavar="OUT.png", default=None,
                   help="save the ranking as a figure (needs pip install bayescale[plot])")


def _plan(args, bs) -> int:
    import pandas as pd

    from bayescale.errors import ConfigError

    fit = bs.load(args.fit)
    cands = None
    if args.candidates:
        try:
            cands = pd.read_csv(args.candidates)
        except (OSError, ValueError) as err:
            raise ConfigError(f"cannot read --candidates {args.candidates!r} (a CSV with columns N and D): {err}") from None
    table = bs.plan(fit, target_compute=args.target_compute, candidates=cands, budget=args.budget,
                    criterion=args.criterion, prob=args.prob, num_sims=args.sims, seed=args.seed)
    unit = "variance" if args.criterion == "variance" else f"{args.prob:.0%}-interval width"
    print(f"\nNext-run plan: {unit} of log N_opt at C* = {args.target_compute:.3g} FLOPs is now "
          f"{table.uncertainty_now.iloc[0]:.4g}; {len(table)} candidates, {table.attrs['num_sims']} simulated "
          f"outcomes each, importance reweighting of {table.attrs['draws']} posterior draws.\n")
    rows = []
    for rank, r in table.head(args.top).iterrows():
        rows.append({
            "rank": rank, "N": f"{r.N:.3g}", "D": f"{r.D:.3g}", "FLOPs": f"{r.C:.3g}",
            "tokens/param": f"{r.D / r.N:.1f}",
            "expected reduction": f"{r.relative_reduction:.2%}" + (f" +- {r.reduction_se / r.uncertainty_now:.2%}"
                                                                   if r.reduction_se == r.reduction_se else ""),
            "per 1e21 FLOPs": f"{r.relative_reduction * 1e21 / r.C:.3%}",
            "ESS (median/min)": f"{r.ess_median:.0f}/{r.ess_min:.0f}",
            "method": r.method + (" (ESS low)" if r.ess_low else ""),
        })
    print(pd.DataFrame(rows).to_string(index=False))
    n_low = int(table.ess_low.sum())
    if n_low:
        print(f"\n{n_low} candidate(s) had a median ESS below {table.attrs['min_ess']:.0f}: their estimate is the "
              "linear-Gaussian update instead of reweighting (far extrapolations; treat as rough).")
    if args.plot:
        ax = bs.plots.plot_plan(table)
        ax.figure.savefig(args.plot, dpi=120, bbox_inches="tight")
        print(f"\nsaved {args.plot}")
    return 0


def _save_fit_plots(fit, args) -> None:
    if not getattr(args, "plot", None):
        return
    from bayescale.plots import save_fit_figures

    for path in save_fit_figures(fit, args.plot, compute=args.compute, prob=args.prob):
        print(f"saved {path}")


def console_main() -> None:  # pragma: no cover - exits the process (tests/test_cli_and_datasets.py: _exit_now)
    """Entry point of the ``bayescale`` command: :func:`main`, then exit without tearing the interpreter down.

    Freeing JAX's backend, the compiled programs and the imported modules at exit takes 0.3-0.8 s on 2 cores,
    all of it after the last line is printed. Output is flushed and ``atexit`` handlers run first; an exception
    from :func:`main` propagates as usual.
    """
    status = main()
    _exit_now(status)


def _exit_now(status: int) -> None:  # pragma: no cover - see console_main
    import atexit
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (``bayescale fit ... | head``): nothing more to show
            pass
    atexit._run_exitfuncs()  # what a normal exit runs before tearing down (logging, JAX's own handlers)
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    console_main()
