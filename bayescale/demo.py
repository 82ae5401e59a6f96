"""``bayescale demo``: forecast the large runs of the built-in example from its small runs.

The example (:func:`bayescale.datasets.example`) is simulated from a known Chinchilla law, so the demo
can show what a scaling-law fit is for and check it against the truth: fit the runs below a compute
cutoff, forecast every held-out larger run (predictive median and central interval against the observed
loss, inside or outside counted), print the compute-optimal frontier beside the simulated truth's, and
draw all of it in one figure. Whatever it prints, it says what an interval promises. The seed is the
``--seed`` option (default 0, as for every command); nothing is chosen for how it looks.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np

__all__ = ["add_arguments", "run", "DEFAULT_CUTOFF", "DEFAULT_FIGURE"]

#: Runs at or above this training compute (FLOPs) are held out: the example's two largest budgets,
#: 1.38e21 and 3e21 FLOPs, 2.2x and 4.8x beyond the largest training run (6.3e20).
DEFAULT_CUTOFF = 1e21
#: Where the demo writes its figure unless ``--figure`` says otherwise.
DEFAULT_FIGURE = "bayescale-demo.png"

_PARAMS = ("alpha", "beta", "E", "A", "B")
_RULE = "-" * 100


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The demo's own options (the model, sampler and report options are the ``fit`` command's)."""
    g = p.add_argument_group("demo")
    g.add_argument("--cutoff", type=float, default=DEFAULT_CUTOFF, metavar="FLOPS",
                   help="fit the runs below this training compute, forecast the others (default 1e21: the "
                        "two largest of the example's nine budgets are held out)")
    g.add_argument("--figure", default=DEFAULT_FIGURE, metavar="OUT.png",
                   help=f"write the demo's figure here (default {DEFAULT_FIGURE}; 'none' for no figure)")


def run(args, bs, fit_kwargs: dict):
    """Run the demo with the parsed ``args``; return ``(exit status, fit)``. ``bs`` is :mod:`bayescale.api`."""
    from bayescale.analyses.backtest import _check_cutoffs

    truth = bs.datasets.EXAMPLE_TRUTH
    data = bs.datasets.example(seed=args.seed)
    ((cutoff, below),) = _check_cutoffs(data, [args.cutoff], "C", min_train=len(truth) + 2)
    train, held_out = data.subset(below), data.subset(~below)
    _print_intro(data, train, held_out, cutoff, args)

    fit = bs.fit(train, **fit_kwargs)
    print(f"\nFit: {fit.law.formula}, likelihood {fit.likelihood.label}, {fit.data.n} runs; "
          f"{args.chains} chains x ({args.warmup} warmup + {args.draws} draws), seed {args.seed}")
    print(_indent(str(fit.diagnostics)))
    draws = fit.draws(_PARAMS)
    _print_parameters(draws, truth, args.prob)
    forecast = _forecast(fit, held_out, args.prob, args.seed)
    _print_forecast(forecast, held_out, train, args.prob)
    if args.compute:
        _print_frontier(fit, bs, truth, held_out, args.compute, args.prob)
    _print_promise(args.prob, fit)
    _write_figure(fit, bs, held_out, truth, args, inside=forecast.inside.to_numpy())
    if args.out:
        fit.save(args.out)
        print(f"\nsaved the fit to {args.out}")
    if args.strict and not fit.converged:
        print("\n--strict: the sampler did not converge (see above)", file=sys.stderr)
        return 3, fit
    return 0, fit


def _indent(text: str, pad: str = "  ") -> str:
    return "\n".join(pad + line for line in text.splitlines())


def _print_intro(data, train, held_out, cutoff, args) -> None:
    from bayescale.plots.demo import budgets as distinct

    budgets, held = distinct(data.C), distinct(held_out.C)
    print(_RULE)
    print("bayescale demo: fit the small runs, forecast the large ones, and check against the truth")
    print(_RULE)
    print(f"Data: bs.datasets.example(seed={args.seed}), {data.n} training runs simulated from a known Chinchilla "
          f"law\n  (Epoch AI's fit, bs.datasets.EXAMPLE_TRUTH) with 1% noise: {budgets.size} compute budgets from "
          f"{budgets[0]:.2g} to {budgets[-1]:.2g} FLOPs,\n  {data.n // budgets.size} model sizes each.")
    print(f"Fitted: the {train.n} runs below {cutoff:.3g} FLOPs (largest {train.C.max():.3g}). Held out: the "
          f"{held_out.n} runs at " + ", ".join(f"{c:.3g}" for c in held)
          + f" FLOPs,\n  up to {held_out.C.max() / train.C.max():.1f}x beyond the largest fitted run.")


def _quantiles(x: np.ndarray, prob: float) -> tuple[float, float, float]:
    lo = (1.0 - prob) / 2.0
    q = np.quantile(x, [0.5, lo, 1.0 - lo])
    return float(q[0]), float(q[1]), float(q[2])


def _print_parameters(draws: dict, truth: dict, prob: float) -> None:
    print(f"\nParameters: posterior median and {prob:.0%} interval, beside the truth the data were simulated from")
    rows = []
    for name in _PARAMS:
        med, lo, hi = _quantiles(draws[name], prob)
        t = truth[name]
        rows.append([name, f"{med:.4g}", f"[{lo:.4g}, {hi:.4g}]", f"{t:.4g}", "inside" if lo <= t <= hi else "OUTSIDE"])
    print(_table(["", "median", f"{prob:.0%} interval", "truth", "truth is"], rows))


def _table(header: list[str], rows: list[list[str]], pad: str = "  ") -> str:
    """Columns right-aligned to their widest cell, the first left-aligned."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = []
    for row in (header, *rows):
        cells = [f"{x:<{w}}" if j == 0 else f"{x:>{w}}" for j, (x, w) in enumerate(zip(row, widths))]
        lines.append(pad + "  ".join(cells).rstrip())
    return "\n".join(lines)


def _forecast(fit, held_out, prob: float, seed: int):
    """Posterior predictive median and interval of every held-out run (the error model's shared errors and
    the observation noise included), beside its observed loss."""
    table = fit.predict(N=held_out.N, D=held_out.D, prob=prob, seed=seed)
    table["observed"] = held_out.loss
    table["inside"] = (table.pred_lower <= held_out.loss) & (held_out.loss <= table.pred_upper)
    return table


def _print_forecast(table, held_out, train, prob: float) -> None:
    from bayescale.plots.demo import budgets

    print(f"\nForecasts of the {len(table)} held-out runs: where a new run would land (posterior predictive "
          f"median\n  and {prob:.0%} interval of its loss), beside the loss it got")
    print(f"  {'C (FLOPs)':>10} {'N':>9} {'D':>9} {'D/N':>7}  {'observed':>8}  {'forecast':>8}  "
          f"{f'[{prob:.0%} interval]':>18}  {'error':>7}")
    for budget in budgets(held_out.C):
        for r in table[np.isclose(table.C, budget, rtol=1e-6)].itertuples():
            print(f"  {r.C:>10.3g} {r.N:>9.3g} {r.D:>9.3g} {r.D / r.N:>7.1f}  {r.observed:>8.4f}  "
                  f"{r.pred_median:>8.4f}  [{r.pred_lower:.4f}, {r.pred_upper:.4f}]  "
                  f"{(r.pred_median - r.observed) / r.observed:>+7.2%}" + ("" if r.inside else "  OUTSIDE"))
        print()
    n_in = int(table.inside.sum())
    rel = np.abs(table.pred_median - table.observed) / table.observed
    print(f"  Inside the {prob:.0%} interval: {n_in} of {len(table)} held-out runs ({len(table) - n_in} outside). "
          f"Median |error| of the forecast: {np.median(rel):.2%}.")


def _print_frontier(fit, bs, truth: dict, held_out, compute, prob: float) -> None:
    from bayescale.plots.demo import frontier_budgets

    C = np.asarray(compute, dtype=float)
    every = frontier_budgets(fit, held_out, compute)  # with the figure's budgets: one shape, compiled once
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.ExtrapolationWarning)  # said below, once, in words
        front = fit.frontier(C=every, prob=prob).iloc[: C.size]
    exact = {k: np.asarray(v, dtype=float)[: C.size] for k, v in bs.chinchilla_frontier(truth, every).items()
             if k not in ("a", "b")}
    header = ["C (FLOPs)"]
    for label in ("N_opt", "tokens/param", "loss L*"):
        header += [f"{label} [{prob:.0%}]", "truth"]
    rows = []
    for i, (c, r) in enumerate(front.iterrows()):
        row = [f"{c:.3g}"]
        for q, fmt in (("N_opt", ".3g"), ("tokens_per_param", ".1f"), ("loss", ".4f")):
            lo, hi, t = getattr(r, f"{q}_lower"), getattr(r, f"{q}_upper"), exact[q][i]
            row += [f"{getattr(r, f'{q}_median'):{fmt}} [{lo:{fmt}}, {hi:{fmt}}]",
                    f"{t:{fmt}}" + ("" if lo <= t <= hi else " OUTSIDE")]
        rows.append(row)
    print(f"\nCompute-optimal frontier: median [{prob:.0%} interval] from the fitted runs, beside the simulated "
          "truth's")
    print(_table(header, rows))
    far = C / fit.data.C.max() > 100
    if far.any():
        print(f"  Budgets beyond 100x the largest fitted run ({fit.data.C.max():.3g} FLOPs) are far extrapolations: "
              "their intervals\n  assume the law holds that far.")


def _print_promise(prob: float, fit) -> None:
    miss = 1.0 - prob
    print(f"\nWhat a {prob:.0%} interval promises: over many datasets like this one, about 1 true value in "
          f"{1 / miss:.0f} falls outside\n  it, so a miss above is expected now and then, not a bug "
          "(bs.calibration measures the rate over simulated\n  datasets: docs, Reliability). The rows share one "
          "posterior: when this dataset's noise pulls the fit one way,\n  several truths can miss together.")
    if getattr(fit.model.error_model, "per_decade", 0) > 0:
        print("  The forecasts add the default error model's discrepancy beyond the fitted compute, measured on "
              "real sweeps\n  where the law is only roughly right. This example is simulated from the law "
              "itself, so here the forecast\n  intervals are wider than the data need and fewer than 1 run in "
              f"{1 / miss:.0f} should fall outside (--error-model independent\n  gives the law's own intervals).")
    print("  The seed is --seed (default 0, as for every bayescale command), not chosen for how the output looks:\n"
          "  --seed 1, --seed 2, ... draw other data and chains.")


def _write_figure(fit, bs, held_out, truth: dict, args, inside=None) -> None:
    if not args.figure or args.figure.lower() == "none":
        return
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("\nNo figure: matplotlib is not installed. Get it with pip install 'bayescale[plot]' (make demo "
              f"installs it), then rerun: bayescale demo --figure {args.figure}")
        return
    from bayescale.plots.demo import demo_figure

    fig = demo_figure(fit, held_out, truth, inside=inside, prob=args.prob, compute=args.compute,
                      cutoff=args.cutoff, seed=args.seed)
    fig.savefig(args.figure, dpi=110)
    print(f"\nFigure: {args.figure} (left: the fit; middle: the forecasts with their bands; right: the frontier)")
