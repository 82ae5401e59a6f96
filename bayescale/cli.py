"""The ``bayescale`` command line: ``fit``, ``demo`` (``--help`` on each)."""

from __future__ import annotations

import argparse
import sys
import warnings

__all__ = ["main"]

_DEFAULT_BUDGETS = (1e21, 5.88e23, 1e25)


def _float_list(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers like 1e21,5.88e23; got {text!r}") from None


def _add_sampler_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sampler")
    g.add_argument("--law", default="chinchilla", help="scaling law (default: chinchilla)")
    g.add_argument("--likelihood", default="student_t", choices=["student_t", "normal", "huber"], help="noise model on log loss")
    g.add_argument("--chains", type=int, default=4, help="number of chains (default 4)")
    g.add_argument("--warmup", type=int, default=1000, help="warmup iterations per chain (default 1000)")
    g.add_argument("--draws", type=int, default=1000, help="kept draws per chain (default 1000)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--target-accept", type=float, default=0.8, help="NUTS target acceptance (default 0.8)")
    g.add_argument("--compute", type=_float_list, default=list(_DEFAULT_BUDGETS), metavar="C1,C2,...",
                   help="compute budgets (FLOPs) for the frontier table (default 1e21,5.88e23,1e25)")
    g.add_argument("--prob", type=float, default=0.9, help="central interval probability (default 0.9)")
    g.add_argument("--out", help="save the fit to this netCDF file")
    g.add_argument("--strict", action="store_true", help="exit with status 3 when the sampler did not converge")


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
    p_fit.add_argument("csv", help="CSV file, one row per training run")
    p_fit.add_argument("--N", dest="N", default="N", help="column with parameter counts (default N)")
    p_fit.add_argument("--D", dest="D", default=None, help="column with training tokens")
    p_fit.add_argument("--C", dest="C", default=None, help="column with training FLOPs (D = C / 6N) instead of --D")
    p_fit.add_argument("--loss", default="loss", help="column with final loss (default loss)")
    _add_sampler_args(p_fit)

    p_demo = sub.add_parser("demo", help="fit the built-in synthetic IsoFLOP example",
                            description="Fit the built-in synthetic IsoFLOP example (drawn from Epoch AI's "
                                        "Chinchilla replication) and print what a fit gives.")
    _add_sampler_args(p_demo)
    return parser


def _report(fit, args) -> int:
    import pandas as pd

    pd.set_option("display.width", 160)
    pd.set_option("display.max_columns", 20)
    print(f"\n{fit.law.formula}   (likelihood: {fit.likelihood.kind}, n = {fit.data.n})\n")
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


def _fit_kwargs(args) -> dict:
    return dict(
        law=args.law, likelihood=args.likelihood, seed=args.seed, num_chains=args.chains,
        num_warmup=args.warmup, num_samples=args.draws, target_accept=args.target_accept,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bayescale`` command."""
    args = _parser().parse_args(argv)
    import bayescale as bs
    from bayescale.errors import BayescaleError, BayescaleWarning

    with warnings.catch_warnings():
        warnings.simplefilter("always", BayescaleWarning)
        return _run(args, bs, BayescaleError)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"{category.__name__}: {message}", file=sys.stderr if file is None else file)


def _run(args, bs, BayescaleError) -> int:
    warnings.showwarning = _show_warning
    try:
        if args.command == "demo":
            data = bs.datasets.example()
            print(f"built-in example: {data!r}")
            print("true parameters: " + ", ".join(f"{k}={v}" for k, v in bs.datasets.EXAMPLE_TRUTH.items()))
        else:
            data = bs.ScalingData.from_csv(args.csv, N=args.N, D=args.D, C=args.C, loss=args.loss)
        fit = bs.fit(data, **_fit_kwargs(args))
        return _report(fit, args)
    except BayescaleError as err:
        print(f"bayescale: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
