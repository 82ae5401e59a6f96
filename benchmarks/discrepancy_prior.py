"""Learn the extrapolation discrepancy's corpus prior from real sweeps, and score it leave-one-dataset-out.

The corpus (``discrepancy_corpus.py``): 20 sweeps of four datasets (Epoch; Porian et al.'s 15
configurations; Li et al.; Gadre et al.'s three training sets), each with its held-out forecast and up to
four rolling-origin forecasts inside its training runs. Each forecast's residuals give a Gaussian likelihood
of the sweep's discrepancy ``(tau, mu)`` for each drift jitter ``omega``
(:func:`bayescale.model.discrepancy.evidence_grid`), on the library's grid.

**The hierarchical model** (NumPyro NUTS, :func:`population_model`): ``log tau_s ~ Normal(a, b)``,
``mu_s ~ Normal(c, e)`` per sweep, ``omega`` shared; hyperpriors ``a ~ Normal(log 0.01, 1.5)``,
``b ~ HalfNormal(1.5)``, ``c ~ Normal(0, 0.03)``, ``e ~ HalfNormal(0.05)``, ``omega ~ HalfNormal(0.02)``;
each sweep's ``(tau_s, mu_s)`` summed out on the grid (its likelihood linear in ``omega`` between the grid's
jitters). **The prior of a new sweep** is the posterior predictive of ``(log tau, mu)``: a Student-t fitted
by maximum likelihood to 20,000 draws of each, and ``omega``'s posterior median
(:func:`new_sweep_prior`). The library ships it in ``bayescale/model/corpus_prior.py``, written by this
script (``--write``), never by hand.

**Scores**: each dataset's held-out forecasts with the library's learned discrepancy
(:func:`bayescale.model.discrepancy.posterior_grid`: the prior, updated by the sweep's own rolling-origin
forecasts), the prior learned from every dataset (in-sample) and from the other three only
(leave-one-dataset-out, the honest row). ``real_backtests.py`` scores the same through ``bs.fit``.

    PYTHONPATH=$PWD python benchmarks/discrepancy_prior.py --write     # ~10 min with cached fits
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, write_json  # noqa: E402

#: Drift jitters at which the evidence is computed (the hierarchical model interpolates between them).
JITTERS = np.array([0.0, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.045, 0.06])
MODULE = ROOT / "bayescale" / "model" / "corpus_prior.py"
SEED = 0
#: Any prior: the error model is built only to read its default axes (it needs no corpus prior for that).
PLACEHOLDER = {"log_scale": {"dist": "Normal", "loc": -5.0, "scale": 1.0}, "drift": {"dist": "Normal", "loc": 0.0,
               "scale": 0.03}, "drift_jitter": 0.0}


def distance(rec: dict, axes: tuple[str, ...] | None = None) -> np.ndarray:
    """Signed decades of a cached fold's scored runs beyond its training runs, over the default model's axes."""
    import bayescale as bs
    from bayescale.model import discrepancy as dm

    axes = axes or bs.LearnedExtrapolation(prior=PLACEHOLDER).by
    scored = {"C": 10.0 ** rec["x"], "N": rec["N"], "D": rec["D"]}
    train = {"C": 10.0 ** rec["train_x"], "N": rec["train_N"], "D": rec["train_D"]}
    return dm.distance_beyond(scored, train, axes)


def fold_evidence(rec: dict, seed: int = SEED) -> dict:
    """A cached fold's evidence, as the library computes it from a fit (its block of runs for inner folds)."""
    import bayescale as bs
    from bayescale.model import discrepancy as dm

    sel = rec["block"] if rec["kind"] == "inner" else np.ones(rec["y"].size, bool)
    noise = bs.Likelihood("student_t").noise(seed, rec["sigma"], (int(sel.sum()),))
    return dm.forecast_evidence(rec["y"][sel], rec["law"][:, sel], dm.noise_variance(noise), distance(rec)[sel])


def corpus_evidence(records: list[dict]) -> dict:
    """Per sweep of the cached corpus: its dataset, its inner folds' evidence, its outer fold's (and record)."""
    out: dict = {}
    for rec in records:
        d = out.setdefault(rec["sweep"], {"dataset": rec["dataset"], "inner": [], "outer": None, "record": None})
        if rec["kind"] == "inner":
            d["inner"].append(fold_evidence(rec))
        else:
            d["outer"], d["record"] = fold_evidence(rec), rec
    return out


def sweep_grids(evidence: dict) -> dict:
    """Per sweep: log likelihood grids ``(jitter, tau, mu)`` of all its forecasts (``"all"``) and of its inner ones."""
    from bayescale.model import discrepancy as dm

    out = {}
    for sweep, ev in evidence.items():
        grid = lambda e: np.stack([dm.evidence_grid(e, j) for j in JITTERS])  # noqa: E731
        inner = sum((grid(e) for e in ev["inner"]), np.zeros((JITTERS.size, dm.SCALE_GRID.size, dm.DRIFT_GRID.size)))
        out[sweep] = {**ev, "all": inner + (grid(ev["outer"]) if ev["outer"] is not None else 0.0)}
    return out


def population_model(LL):
    """NumPyro model of the sweeps' discrepancies; ``LL``: ``(sweeps, jitters, tau grid, mu grid)``."""
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    from bayescale.model.discrepancy import DRIFT_GRID, SCALE_GRID

    LL = jnp.asarray(LL)
    lt, m = jnp.log(SCALE_GRID), jnp.asarray(DRIFT_GRID)
    dlt, dm_ = float(np.log(SCALE_GRID[1] / SCALE_GRID[0])), float(DRIFT_GRID[1] - DRIFT_GRID[0])
    a = numpyro.sample("a", dist.Normal(np.log(0.01), 1.5))
    b = numpyro.sample("b", dist.HalfNormal(1.5))
    c = numpyro.sample("c", dist.Normal(0.0, 0.03))
    e = numpyro.sample("e", dist.HalfNormal(0.05))
    omega = numpyro.sample("omega", dist.HalfNormal(0.02))
    # The population on the grid: densities smoothed by the grid's step (no aliasing as b or e -> 0), normalised.
    pt = dist.Normal(a, jnp.sqrt(b**2 + dlt**2)).log_prob(lt)
    pm = dist.Normal(c, jnp.sqrt(e**2 + dm_**2)).log_prob(m)
    lp = (pt - jax.nn.logsumexp(pt))[:, None] + (pm - jax.nn.logsumexp(pm))[None, :]
    jit = jnp.asarray(JITTERS)
    k = jnp.clip(jnp.searchsorted(jit, omega) - 1, 0, JITTERS.size - 2)
    w = jnp.clip((omega - jit[k]) / (jit[k + 1] - jit[k]), 0.0, 1.0)
    ll = (1.0 - w) * LL[:, k] + w * LL[:, k + 1]
    numpyro.factor("sweeps", jnp.sum(jax.nn.logsumexp(ll + lp[None], axis=(1, 2))))


def fit_population(LL: np.ndarray, seed: int = SEED) -> dict:
    import jax
    from numpyro.infer import MCMC, NUTS

    mc = MCMC(NUTS(population_model, target_accept_prob=0.95), num_warmup=500, num_samples=1000, num_chains=2,
              chain_method="sequential", progress_bar=False)
    mc.run(jax.random.PRNGKey(seed), np.asarray(LL, dtype=np.float32), extra_fields=("diverging", "num_steps"))
    draws = {k: np.asarray(v, dtype=np.float64) for k, v in mc.get_samples(group_by_chain=True).items()}
    extra = mc.get_extra_fields()
    from bayescale.posterior.idata import ess_rhat_arrays

    ess, rhat = ess_rhat_arrays(draws)
    return {"draws": {k: v.reshape(-1) for k, v in draws.items()}, "divergences": int(np.sum(extra["diverging"])),
            "steps_per_draw": float(np.mean(extra["num_steps"])), "min_ess_bulk": float(min(ess.values())),
            "max_rhat": float(max(rhat.values()))}


def new_sweep_prior(pop: dict, seed: int = SEED, n: int = 20_000):
    """The posterior predictive of a new sweep's ``(log tau, mu)``, as Student-t priors, and ``omega``'s median."""
    from scipy import stats

    import bayescale as bs
    from bayescale.model.discrepancy import DiscrepancyPrior

    rng = np.random.default_rng(seed)
    d = pop["draws"]
    k = rng.integers(0, d["a"].size, n)
    log_tau = d["a"][k] + d["b"][k] * rng.standard_normal(n)
    mu = d["c"][k] + d["e"][k] * rng.standard_normal(n)
    out = {}
    for name, x in (("log_scale", log_tau), ("drift", mu)):
        df, loc, scale = stats.t.fit(x)
        out[name] = bs.Prior("StudentT", df=float(f"{df:.4g}"), loc=float(f"{loc:.4g}"), scale=float(f"{scale:.4g}"))
    return DiscrepancyPrior(out["log_scale"], out["drift"], drift_jitter=float(f"{np.median(d['omega']):.4g}"))


def learn_prior(grids: dict, sweeps: list[str], seed: int = SEED):
    pop = fit_population(np.stack([grids[s]["all"] for s in sweeps]), seed)
    return new_sweep_prior(pop, seed), pop


def score_sweep(g: dict, prior, seed: int = SEED) -> dict:
    """The held-out forecast of one sweep with the learned discrepancy (prior + own rolling-origin forecasts)."""
    import bayescale as bs
    from bayescale.model import discrepancy as dm

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from real_backtests import _points

    rec = g["record"]
    post = dm.posterior_grid(prior, g["inner"])
    S, m = rec["law"].shape
    rng = np.random.default_rng([seed, 0xD15C])
    disc = dm.discrepancy_draws(post, prior.drift_jitter, distance(rec), S, rng)
    logd = rec["law"] + disc + bs.Likelihood("student_t").noise(seed, rec["sigma"], (m,))
    draws = np.exp(logd)
    return _points(np.median(draws, axis=0), draws, np.exp(rec["y"]))


def _prior_text(prior) -> str:
    return (f"log tau ~ {prior.log_scale!r} (median tau {np.exp(prior.log_scale.params['loc']):.4f}), "
            f"mu ~ {prior.drift!r}, omega {prior.drift_jitter:g}")


def evaluate(grids: dict, seed: int = SEED) -> dict:
    """In-sample (prior from every dataset) and leave-one-dataset-out rows, per dataset and pooled."""
    from real_backtests import summarize

    sweeps = list(grids)
    datasets = list(dict.fromkeys(g["dataset"] for g in grids.values()))
    out = {}
    full_prior, full_pop = learn_prior(grids, sweeps, seed)
    out["prior"] = {"prior": full_prior.to_dict(), **{k: v for k, v in full_pop.items() if k != "draws"},
                    "hyper_median": {k: float(np.median(v)) for k, v in full_pop["draws"].items()}}
    print(f"corpus prior (all {len(sweeps)} sweeps): {_prior_text(full_prior)}; population fit: "
          f"{full_pop['divergences']} divergences, R-hat {full_pop['max_rhat']:.3f}, ESS {full_pop['min_ess_bulk']:.0f}",
          flush=True)
    for mode in ("in_sample", "leave_one_dataset_out"):
        pts: dict = {}
        priors = {}
        for ds in datasets:
            if mode == "in_sample":
                prior = full_prior
            else:
                prior, pop = learn_prior(grids, [s for s in sweeps if grids[s]["dataset"] != ds], seed)
                print(f"  without {ds}: {_prior_text(prior)}; {pop['divergences']} divergences, "
                      f"R-hat {pop['max_rhat']:.3f}", flush=True)
            priors[ds] = prior.to_dict()
            pts[ds] = [score_sweep(grids[s], prior, seed) for s in sweeps if grids[s]["dataset"] == ds]
        out[mode] = {"priors": priors, "datasets": {ds: summarize(p) for ds, p in pts.items()},
                     "pooled": summarize([q for p in pts.values() for q in p]),
                     "points": {ds: [{k: np.asarray(v).tolist() for k, v in q.items()} for q in p] for ds, p in pts.items()}}
    return out


def _fit_evidence(rec: dict, split) -> dict:
    """A ``real_backtests.py`` record's evidence, from its fit: its own rolling-origin forecasts (kept with the
    fit) and its held-out forecast without the discrepancy."""
    from bayescale.model import discrepancy as dm

    fit = rec["bayescale"]["_fit"]
    em, test = fit.model.error_model, split.test
    inner = fit.discrepancy_evidence(by=em.by, max_folds=em.max_folds, resolution=em.resolution)
    law = fit._law_log_loss(fit._covariates(test.N, test.D, None, test.U), None)
    extra = fit.noise_draws()
    noise = fit.likelihood.noise(fit.seed, extra.pop("sigma"), (test.n,), **extra)
    s = dm.distance_beyond({a: getattr(test, a) for a in em.by}, {a: getattr(split.train, a) for a in em.by}, em.by)
    outer = dm.forecast_evidence(np.log(test.loss), law, dm.noise_variance(noise), s)
    return {"dataset": rec["dataset"], "inner": inner, "outer": outer}


def cross_validate_learned(records: list[dict], splits: dict, seed: int = SEED) -> dict | None:
    """Leave-one-dataset-out scores of :class:`bayescale.LearnedExtrapolation` through the library, for
    ``real_backtests.py``: the corpus prior relearned (:func:`learn_prior`) from the run's splits of the other
    datasets only (their own and held-out forecasts), and each split of the held-out dataset forecast again by
    its fit with that prior (and its own rolling-origin evidence, kept with the fit)."""
    import dataclasses

    from real_backtests import _points, summarize

    recs = [r for r in records if r["bayescale"].get("_fit") is not None]
    datasets = list(dict.fromkeys(r["dataset"] for r in recs))
    if len(datasets) < 2:
        return None
    first = {}
    for r in recs:
        first.setdefault(r["split"], r)
    grids = sweep_grids({name: _fit_evidence(r, splits[name]) for name, r in first.items()})
    out: dict = {"datasets": {}, "rows": [], "in_sample": {}}
    pooled = []
    for ds in datasets:
        prior, pop = learn_prior(grids, [s for s in grids if grids[s]["dataset"] != ds], seed)
        mine = []
        for r in (r for r in recs if r["dataset"] == ds):
            fit, test = r["bayescale"]["_fit"], splits[r["split"]].test
            em = fit.model.error_model
            cov = {"C": test.C, "N": test.N, "D": test.D}
            base = np.log(r["bayescale"]["_draws"]) - em.draws(fit, cov, r["seed"])
            draws = np.exp(base + dataclasses.replace(em, prior=prior).draws(fit, cov, r["seed"]))
            pts = _points(np.median(draws, axis=0), draws, test.loss)
            mine.append(pts)
            out["rows"].append({"split": r["split"], "seed": r["seed"], **summarize([pts])})
        pooled += mine
        out["datasets"][ds] = {"prior": prior.to_dict(), "population_divergences": pop["divergences"],
                               "population_max_rhat": pop["max_rhat"], **summarize(mine)}
    out["pooled"] = summarize(pooled)
    for ds in [*datasets, "all"]:
        mine = [r for r in recs if ds in ("all", r["dataset"])]
        out["in_sample"][ds] = summarize([r["bayescale"]["points"] for r in mine], [r["split"] for r in mine])
    return out


def write_module(prior, command: str) -> Path:
    args = lambda p: ", ".join(f"{k}={v!r}" for k, v in p.params.items())  # noqa: E731
    text = f'''"""The extrapolation discrepancy's prior for a new sweep, learned from a corpus of real sweeps.

GENERATED by ``{command}``; do not edit by hand. The hierarchical model and the
corpus are described in benchmarks/discrepancy_prior.py; the numbers, with the scores they give, are in
``benchmarks/results/discrepancy_prior.json``.
"""

from bayescale.model.discrepancy import DiscrepancyPrior
from bayescale.model.priors import Prior

#: Prior of a new sweep's discrepancy: ``log tau`` (Brownian scale per sqrt(decade)), ``mu`` (drift per decade)
#: and the drift's jitter between forecasts, learned from Epoch, Porian et al., Li et al. and Gadre et al.
CORPUS_PRIOR = DiscrepancyPrior(
    log_scale=Prior("StudentT", {args(prior.log_scale)}),
    drift=Prior("StudentT", {args(prior.drift)}),
    drift_jitter={prior.drift_jitter!r},
)
'''
    MODULE.write_text(text)
    return MODULE


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--write", action="store_true", help=f"write the corpus prior to {MODULE.relative_to(ROOT)}")
    p.add_argument("--write-only", action="store_true",
                   help="write the module from the saved benchmarks/results/discrepancy_prior.json, without rerunning")
    args = p.parse_args(argv)
    if args.write_only:
        import json

        from bayescale.model.discrepancy import DiscrepancyPrior

        saved = json.loads((ROOT / "benchmarks" / "results" / "discrepancy_prior.json").read_text())
        prior = DiscrepancyPrior.from_dict(saved["prior"]["prior"])
        print(f"wrote {write_module(prior, 'PYTHONPATH=$PWD python benchmarks/discrepancy_prior.py --write')}")
        return saved
    import discrepancy_corpus

    t0 = time.perf_counter()
    grids = sweep_grids(corpus_evidence(discrepancy_corpus.records(SEED, verbose=False)))
    res = evaluate(grids)
    res["wall_s"] = time.perf_counter() - t0
    for mode in ("in_sample", "leave_one_dataset_out"):
        for ds, s in [*res[mode]["datasets"].items(), ("pooled", res[mode]["pooled"])]:
            print(f"{mode:22s} {ds:8s} n={s['n_test']:3d} 50% {s['coverage_50']:.2f} 90% {s['coverage_90']:.2f} "
                  f"median |rel err| {100 * s['median_abs_rel_error']:.2f}% bias {100 * s['bias']:+.2f}%")
    if args.write:
        from bayescale.model.discrepancy import DiscrepancyPrior

        prior = DiscrepancyPrior.from_dict(res["prior"]["prior"])
        print(f"wrote {write_module(prior, 'PYTHONPATH=$PWD python benchmarks/discrepancy_prior.py --write')}")
    print(f"wrote {write_json('discrepancy_prior', res)}; {res['wall_s']:.0f} s")
    return res


if __name__ == "__main__":
    main()
