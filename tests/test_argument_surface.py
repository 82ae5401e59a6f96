"""One argument surface: every entry point takes the same model keywords and sampler settings, with the same
names and defaults, resolved in one place (:mod:`bayescale.fitting.settings`), and names the same idea the
same way. Nothing here fits: signatures are read with ``inspect``, the command line's parser is walked, and
bad settings must be refused by every entry point before anything compiles."""

from __future__ import annotations

import argparse
import inspect

import numpy as np
import pytest

import bayescale as bs
from bayescale import cli, errors
from bayescale.fitting.settings import MODEL_KEYWORDS, SAMPLER_SETTINGS
from bayescale.inference.nuts import TRACE_COUNTS

#: The entry points that fit, and how to call each on one dataset with extra keywords.
FITTING = {
    "fit": lambda data, **kw: bs.fit(data, **kw),
    "fit_many": lambda data, **kw: bs.fit_many([data], **kw),
    "bootstrap": lambda data, **kw: bs.bootstrap(data, 2, **kw),
    "backtest": lambda data, **kw: bs.backtest(data, 1e21, **kw),
    "calibration": lambda data, **kw: bs.calibration(M=2, design=data, **kw),
}
#: Keywords of the entry points that fit many datasets, beyond bs.fit's.
MANY = ("pointwise", "method")


def _params(name: str) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(getattr(bs, name)).parameters)


@pytest.mark.parametrize("name", [*FITTING, "prior_predictive"])
def test_every_entry_point_takes_the_model_keywords(name):
    params = _params(name)
    for k in MODEL_KEYWORDS:
        assert k in params, f"bs.{name} lacks the model keyword {k!r}"
        assert params[k].default is None, f"bs.{name}({k}=...) defaults to {params[k].default!r}, not None"
        assert params[k].kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    assert params["seed"].default == 0


@pytest.mark.parametrize("name", list(FITTING))
def test_every_fitting_entry_point_takes_the_sampler_settings_with_one_default(name):
    params = _params(name)
    for k, default in SAMPLER_SETTINGS.items():
        assert k in params, f"bs.{name} lacks the sampler setting {k!r}"
        assert params[k].default == default, f"bs.{name}({k}=) defaults to {params[k].default!r}, not {default!r}"
    assert params["warn"].default is True
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()), \
        f"bs.{name} takes **kwargs: every setting is named in its signature"
    if name != "fit":
        fit_many = _params("fit_many")
        for k in MANY:
            assert params[k].default == fit_many[k].default, f"bs.{name}({k}=) differs from bs.fit_many's"


def test_prior_predictive_draws_as_many_as_a_fit_keeps_per_chain():
    assert _params("prior_predictive")["num_samples"].default == SAMPLER_SETTINGS["num_samples"]


#: An invalid value of each shared keyword, and what the error says.
BAD = {
    "num_chains": (0, "num_chains must be a positive integer"),
    "num_warmup": (-1, "num_warmup must be a non-negative integer"),
    "num_samples": (0, "num_samples must be a positive integer"),
    "target_accept": (1.5, "target_accept must be in"),
    "max_tree_depth": (99, "max_tree_depth must be"),
    "dense_mass": ("yes", "dense_mass must be True or False"),
    "chain_method": ("bogus", "chain_method must be one of"),
    "progress_bar": ("yes", "progress_bar must be"),
    "until_converged": (-1, "until_converged must be"),
    "refit_divergent": ((0.99, 0.95), "refit_divergent must increase"),
    "law": ("no_such_law", "unknown law"),
    "likelihood": ("cauchy", "likelihood"),
    "pooling": ("bogus", "pooling must be one of"),
    "error_model": ("bogus", "error_model must be one of"),
    "model": (bs.ScalingModel(), "give either model="),  # together with law= below
}


def test_the_table_of_bad_values_covers_every_shared_keyword():
    assert set(BAD) == set(SAMPLER_SETTINGS) | set(MODEL_KEYWORDS) - {"priors"}


@pytest.mark.parametrize("name", list(FITTING))
@pytest.mark.parametrize("keyword", sorted(BAD))
def test_every_entry_point_resolves_every_keyword_before_compiling(name, keyword, example_data):
    value, message = BAD[keyword]
    extra = {"law": "kaplan"} if keyword == "model" else {}
    before = sum(TRACE_COUNTS.values())
    with pytest.raises(errors.ConfigError, match=message):
        FITTING[name](example_data, **{keyword: value}, **extra)
    assert sum(TRACE_COUNTS.values()) == before


@pytest.mark.parametrize("name", [*FITTING, "prior_predictive"])
def test_priors_are_checked_by_every_entry_point(name, example_data):
    call = FITTING.get(name, lambda data, **kw: bs.prior_predictive(data, **kw))
    with pytest.raises(errors.PriorError, match="zeta"):
        call(example_data, priors={"zeta": bs.Prior("Normal", loc=0.0, scale=1.0)})


# ----------------------------------------------------------------- one name per idea
def _public_callables():
    """Every public function of ``bs`` and public method of a fit and a backtest, with its name."""
    out = {}
    for name in bs.__all__:
        obj = getattr(bs, name)
        if inspect.isfunction(obj):
            out[f"bs.{name}"] = obj
    for cls in (bs.ScalingFit, bs.Backtest):
        for name, obj in vars(cls).items():
            if inspect.isfunction(obj) and not name.startswith("_"):
                out[f"{cls.__name__}.{name}"] = obj
    for name in bs.plots.__all__:
        obj = getattr(bs.plots, name)
        if inspect.isfunction(obj):
            out[f"bs.plots.{name}"] = obj
    return out


def test_interval_probabilities_are_called_prob_everywhere():
    callables = _public_callables()
    takes_prob = {n for n, f in callables.items() if "prob" in inspect.signature(f).parameters}
    for must in ("ScalingFit.predict", "ScalingFit.frontier", "ScalingFit.summary", "bs.compute_for_loss",
                 "bs.isoflop", "bs.inference_optimal", "bs.plan", "bs.backtest", "bs.calibration", "Backtest.plot"):
        assert must in takes_prob, f"{must} does not take prob="
    for name, f in callables.items():
        for old in ("level", "levels", "hdi_prob", "interval"):
            assert old not in inspect.signature(f).parameters, f"{name} takes {old}=; interval probabilities are prob="


def test_budget_means_one_thing():
    """``budget``: the most one run may cost (plan and its candidate grid); a lifetime total is ``total_compute``."""
    allowed = {"bs.plan"}
    for name, f in _public_callables().items():
        if "budget" in inspect.signature(f).parameters:
            assert name in allowed, f"{name} takes budget=; plan's budget is a per-run cap"
    assert "total_compute" in inspect.signature(bs.inference_optimal).parameters


def test_predict_draws_and_frontier_draws_return_the_same_kind():
    ret = {n: inspect.signature(getattr(bs.ScalingFit, n)).return_annotation for n in ("predict_draws", "frontier_draws")}
    assert ret["predict_draws"] == ret["frontier_draws"] == "dict[str, np.ndarray]", ret


# ----------------------------------------------------------------- the command line
def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli._parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("command", ["fit", "demo", "backtest"])
def test_the_cli_takes_the_same_settings_with_the_same_defaults(command):
    actions = {a.dest: a for a in _subparsers()[command]._actions}
    for k, default in SAMPLER_SETTINGS.items():
        assert k in actions, f"bayescale {command} lacks --{k.replace('_', '-')}"
        assert f"--{k.replace('_', '-')}" in actions[k].option_strings
        assert actions[k].default == default, f"bayescale {command} --{k} defaults to {actions[k].default!r}"
    for k in ("law", "likelihood", "pooling", "error_model"):
        assert actions[k].default is None, f"bayescale {command} --{k} has a default of its own"
    assert actions["seed"].default == 0
    args = cli._parser().parse_args([command] + (["x.csv"] if command != "demo" else [])
                                    + (["--cutoff", "1e21"] if command == "backtest" else []))
    assert set(cli._fit_kwargs(args)) == {"law", "likelihood", "pooling", "error_model", "seed", *SAMPLER_SETTINGS}


def test_the_cli_keeps_its_short_flags():
    args = cli._parser().parse_args(["fit", "x.csv", "--chains", "2", "--warmup", "10", "--draws", "20"])
    assert (args.num_chains, args.num_warmup, args.num_samples) == (2, 10, 20)


def test_backtest_cli_method_and_prob_are_the_python_defaults():
    actions = {a.dest: a for a in _subparsers()["backtest"]._actions}
    py = inspect.signature(bs.backtest).parameters
    assert actions["method"].default == py["method"].default
    assert tuple(actions["prob"].default) == tuple(py["prob"].default)


def test_pooled_models_go_through_every_entry_point(example_data):
    """bootstrap(..., pooling=...) raised TypeError and a pooled backtest refused pointwise/method; now a pooled
    model is fitted dataset by dataset with NUTS, and ChEES, which cannot serve it, says why before compiling."""
    group = np.where(np.arange(example_data.n) % 2 == 0, "a", "b")
    grouped = bs.ScalingData.from_arrays(N=example_data.N, D=example_data.D, loss=example_data.loss, group=group)
    before = sum(TRACE_COUNTS.values())
    for call in (lambda: bs.bootstrap(grouped, 2, pooling="partial", pointwise=False, method="chees"),
                 lambda: bs.backtest(grouped, 1e21, pooling="partial", pointwise=False, method="chees"),
                 lambda: bs.fit_many([grouped, grouped], pooling="none", method="chees")):
        with pytest.raises(errors.ConfigError, match="method='chees' pools datasets of one complete-pooling model"):
            call()
    assert sum(TRACE_COUNTS.values()) == before
    settings = bs.batch.resolve(pooling="partial")
    assert bs.batch.choose_method("auto", settings, 100) == "nuts"
    assert bs.batch.choose_method("auto", bs.batch.resolve(), 100) == "chees"
    assert bs.batch.choose_method("auto", bs.batch.resolve(), 1) == "nuts"
    assert bs.batch.choose_method("auto", bs.batch.resolve(target_accept=0.95), 100) == "nuts"
    assert bs.batch.choose_method("auto", bs.batch.resolve(error_model="offsets"), 100) == "nuts"
