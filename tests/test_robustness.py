"""Robustness under bad input: every malformed table gets a named bayescale error or warning.

The cases below are the bad-input table of docs/guide/reliability.md ("Bad input never reaches the sampler"); each is
checked exactly (``test_bad_input_case``) and then at random positions, values and sizes
by hypothesis (``test_*_property``). The contract: building a ScalingData and checking
it for a 5-parameter law either succeeds with finite, positive columns, or raises a
subclass of :class:`bayescale.errors.BayescaleError`; the only warnings are bayescale's
own (no RuntimeWarning from NumPy, no traceback from JAX). A handful of explicit fits
check that odd but valid data never give a silent NaN posterior.

| case | outcome |
|---|---|
| NaN in N, D, C or loss | NonFiniteError |
| +inf / -inf | NonFiniteError |
| zero | NonPositiveError |
| negative | NonPositiveError |
| non-numeric string ("abc", "", "n/a") | NonNumericError |
| numeric string ("3.2") | accepted, converted to float |
| None / missing cell in a DataFrame (pandas reads NaN) | NonFiniteError |
| None in a plain array (from_arrays) | NonNumericError |
| booleans | NonNumericError |
| 2-D column | DataError |
| mismatched lengths | LengthMismatchError |
| empty table | TooFewPointsError |
| missing column | MissingColumnError |
| neither D nor C given | DataError |
| duplicated rows | DataWarning (kept) |
| single distinct N (or D) | TooFewDistinctValuesError (at fit / require) |
| fewer points than parameters + 2 | TooFewPointsError (at fit / require) |
| N and D swapped (D < N in every row) | DataWarning |
| C disagreeing with 6ND by > 5% | ComputeMismatchError |
| C within 5% of 6ND | accepted |
| data object not a ScalingData | ConfigError |
| unknown law / likelihood, bad sampler setting, negative seed | ConfigError |
| prior on an unknown parameter, unknown distribution | PriorError |
| backtest cutoff leaving too few runs / none held out | CutoffError |
| predict, frontier or a decision at NaN / negative N, D, C or loss (an argument) | ConfigError |
| load: missing, truncated, foreign, other format version, broken metadata | FileFormatError |
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bayescale as bs
from bayescale import errors
from bayescale.errors import BayescaleError, BayescaleWarning

from conftest import SEED, FAST

N_PARAMS = bs.CHINCHILLA.n_params  # 5: a valid table needs >= 7 rows
HYPO = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


# ---------------------------------------------------------------------------------- helpers
def clean_columns(n: int, tpp=None, loss=None) -> dict:
    """n runs with distinct N (doubling), D = N * tokens-per-parameter (> 1), plausible losses."""
    N = 1e7 * 2.0 ** np.arange(n)
    tpp = np.linspace(3.0, 150.0, n) if tpp is None else np.asarray(tpp)
    loss = np.linspace(4.0, 2.0, n) if loss is None else np.asarray(loss)
    return {"N": N.tolist(), "D": (N * tpp).tolist(), "loss": list(loss)}


def outcome(build):
    """Build and check; return (error class or None, warning classes). Anything else propagates."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            data = build()
            data.require(n_params=N_PARAMS)
        except BayescaleError as err:
            assert str(err), "every error carries a message"
            return type(err), [w.category for w in rec]
    cats = [w.category for w in rec]
    assert all(issubclass(c, BayescaleWarning) for c in cats), f"foreign warnings: {cats}"
    for col in (data.N, data.D, data.loss):
        assert col.dtype == np.float64 and np.all(np.isfinite(col)) and np.all(col > 0)
    return None, cats


def from_frame(cols: dict, **names):
    df = pd.DataFrame(cols) if len({len(v) for v in cols.values()}) == 1 else cols
    return lambda: bs.ScalingData.from_frame(df, **({"D": "D"} | names) if "C" not in cols else names)


def with_cell(cols: dict, key: str, row: int, value) -> dict:
    out = {k: list(v) for k, v in cols.items()}
    out[key][row] = value
    return out


# ---------------------------------------------------------------------------------- exact cases
def _swapped():
    c = clean_columns(10)
    return {"N": c["D"], "D": c["N"], "loss": c["loss"]}


def _dup():
    c = clean_columns(10)
    return {k: v[:9] + [v[3]] for k, v in c.items()}


def _c_col(scale_row0: float) -> dict:
    c = clean_columns(10)
    C = [6 * n * d for n, d in zip(c["N"], c["D"])]
    C[0] *= scale_row0
    return {"N": c["N"], "C": C, "D": c["D"], "loss": c["loss"]}


CASES = {
    "nan in N": (with_cell(clean_columns(10), "N", 2, float("nan")), errors.NonFiniteError, None),
    "nan in loss": (with_cell(clean_columns(10), "loss", 0, float("nan")), errors.NonFiniteError, None),
    "inf in D": (with_cell(clean_columns(10), "D", 4, float("inf")), errors.NonFiniteError, None),
    "-inf in loss": (with_cell(clean_columns(10), "loss", 9, -float("inf")), errors.NonFiniteError, None),
    "zero N": (with_cell(clean_columns(10), "N", 1, 0.0), errors.NonPositiveError, None),
    "negative loss": (with_cell(clean_columns(10), "loss", 5, -2.1), errors.NonPositiveError, None),
    "string in N": (with_cell(clean_columns(10), "N", 3, "abc"), errors.NonNumericError, None),
    "empty string in loss": (with_cell(clean_columns(10), "loss", 3, ""), errors.NonNumericError, None),
    "n/a in D": (with_cell(clean_columns(10), "D", 7, "n/a"), errors.NonNumericError, None),
    "None in loss (pandas reads it as NaN)": (with_cell(clean_columns(10), "loss", 2, None), errors.NonFiniteError,
                                              None),
    "numeric string": (with_cell(clean_columns(10), "loss", 2, "3.2"), None, None),
    "booleans": ({**clean_columns(10), "loss": [True] * 10}, errors.NonNumericError, None),
    "mismatched lengths": ({**clean_columns(10), "loss": clean_columns(10)["loss"][:9]},
                           errors.LengthMismatchError, None),
    "empty table": ({"N": [], "D": [], "loss": []}, errors.TooFewPointsError, None),
    "duplicated rows": (_dup(), None, errors.DataWarning),
    "single distinct N": ({**clean_columns(10), "N": [1e8] * 10}, errors.TooFewDistinctValuesError, None),
    "fewer points than parameters": (clean_columns(6), errors.TooFewPointsError, None),
    "N and D swapped": (_swapped(), None, errors.DataWarning),
    "C disagrees with 6ND by 8%": (_c_col(1.08), errors.ComputeMismatchError, None),
    "C within 5% of 6ND": (_c_col(1.03), None, None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_case(case):
    cols, error, warning = CASES[case]
    names = {"C": "C", "D": "D"} if "C" in cols else {}
    err, warns = outcome(from_frame(cols, **names))
    assert err is error, f"{case}: got {err}, expected {error}"
    if warning is not None:
        assert warning in warns
    else:
        assert not warns, f"{case}: unexpected warnings {warns}"


def test_other_bad_arguments_are_named_errors(example_data, tmp_path):
    with pytest.raises(errors.MissingColumnError, match="no column 'tokens'"):
        bs.ScalingData.from_frame(pd.DataFrame(clean_columns(8)), D="tokens")
    with pytest.raises(errors.DataError, match="neither tokens nor compute"):
        bs.ScalingData.from_arrays(N=[1e8, 2e8], loss=[3.0, 2.9])
    with pytest.raises(errors.NonNumericError, match="None"):
        bs.ScalingData.from_arrays(N=[1e8, None, 3e8], D=[1e9, 2e9, 3e9], loss=[3.0, 2.9, 2.8])
    with pytest.raises(errors.DataError, match="one-dimensional"):
        bs.ScalingData.from_arrays(N=np.ones((3, 2)), D=np.ones(3), loss=np.ones(3))
    with pytest.raises(errors.ConfigError, match="ScalingData"):
        bs.fit(pd.DataFrame(clean_columns(8)))
    for kw, err in [({"law": "kaplan-typo"}, errors.ConfigError), ({"likelihood": "cauchy"}, errors.ConfigError),
                    ({"num_chains": 0}, errors.ConfigError), ({"seed": -1}, errors.ConfigError),
                    ({"target_accept": 1.5}, errors.ConfigError),
                    ({"priors": {"gamma": bs.Prior("Normal", loc=0.0, scale=1.0)}}, errors.PriorError)]:
        with pytest.raises(err):
            bs.fit(example_data, **kw)
    with pytest.raises(errors.PriorError, match="unknown distribution"):
        bs.Prior("Lognormal", loc=0.0, scale=1.0)


# ---------------------------------------------------------------------------------- properties
@st.composite
def corrupted(draw):
    """A valid table with one corruption at a random place; returns (columns, expected error or None)."""
    n = draw(st.integers(7, 14))
    tpp = draw(st.lists(st.floats(1.5, 500.0), min_size=n, max_size=n))
    loss = draw(st.lists(st.floats(1.2, 8.0), min_size=n, max_size=n))
    cols = clean_columns(n, tpp, loss)
    key = draw(st.sampled_from(["N", "D", "loss"]))
    row = draw(st.integers(0, n - 1))
    kind = draw(st.sampled_from(["nan", "inf", "zero", "negative", "text", "none", "truncate", "single", "few"]))
    if kind == "nan":
        return with_cell(cols, key, row, float("nan")), errors.NonFiniteError
    if kind == "inf":
        return with_cell(cols, key, row, draw(st.sampled_from([math.inf, -math.inf]))), errors.NonFiniteError
    if kind == "zero":
        return with_cell(cols, key, row, draw(st.sampled_from([0.0, -0.0, 0]))), errors.NonPositiveError
    if kind == "negative":
        return with_cell(cols, key, row, -draw(st.floats(1e-300, 1e30))), errors.NonPositiveError
    if kind == "text":
        text = draw(st.text(min_size=0, max_size=6).filter(lambda s: not _is_number(s)))
        return with_cell(cols, key, row, text), errors.NonNumericError
    if kind == "none":  # a missing cell: pandas holds it as NaN
        return with_cell(cols, key, row, None), errors.NonFiniteError
    if kind == "truncate":
        cols[key] = cols[key][: draw(st.integers(0, n - 1))]
        return cols, errors.LengthMismatchError
    if kind == "single":
        cols["N"] = [cols["N"][row]] * n
        return cols, errors.TooFewDistinctValuesError
    m = draw(st.integers(1, N_PARAMS + 1))
    return {k: v[:m] for k, v in cols.items()}, errors.TooFewPointsError


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


@HYPO
@given(corrupted())
def test_single_corruption_property(case):
    cols, expected = case
    err, _ = outcome(from_frame(cols))
    assert err is expected


@HYPO
@given(
    st.integers(0, 12).flatmap(lambda n: st.fixed_dictionaries({
        k: st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**12),
                              st.text(max_size=3), st.none(), st.booleans()),
                    min_size=n, max_size=n + st_extra)
        for k, st_extra in (("N", 0), ("D", 1), ("loss", 0))
    }))
)
def test_random_garbage_property(cols):
    """Arbitrary mixtures of numbers, NaN, inf, text, None and booleans: a named error or valid data."""
    outcome(lambda: bs.ScalingData.from_arrays(N=np.asarray(cols["N"], dtype=object), D=np.asarray(cols["D"], dtype=object),
                                              loss=np.asarray(cols["loss"], dtype=object)))


@HYPO
@given(n=st.integers(7, 12), row=st.integers(0, 6), rel=st.floats(-0.9, 3.0))
def test_compute_column_property(n, row, rel):
    """C = 6ND (1 + rel) at one row: accepted within 5%, ComputeMismatchError beyond."""
    c = clean_columns(n)
    C = [6 * a * b for a, b in zip(c["N"], c["D"])]
    C[row] *= 1 + rel
    err, _ = outcome(lambda: bs.ScalingData.from_arrays(N=c["N"], D=c["D"], C=C, loss=c["loss"]))
    if abs(rel) > 0.05 * (1 + 1e-9):
        assert err is errors.ComputeMismatchError
    elif abs(rel) < 0.05 * (1 - 1e-9):
        assert err is None


@HYPO
@given(n=st.integers(3, 12), swapped=st.booleans())
def test_swapped_property(n, swapped):
    c = clean_columns(n)
    if swapped:
        c["N"], c["D"] = c["D"], c["N"]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        bs.ScalingData.from_arrays(**c)
    warned = any(issubclass(w.category, errors.DataWarning) and "swapped" in str(w.message) for w in rec)
    assert warned == swapped


# ---------------------------------------------------------------------------------- fits of odd data
def _assert_finite_posterior(fit):
    for name, draws in fit.draws().items():
        assert np.all(np.isfinite(draws)), f"{name} has non-finite draws"
    assert isinstance(fit.converged, bool)


@pytest.mark.parametrize("case", ["units", "constant loss", "pure noise", "duplicated rows"])
def test_odd_but_valid_data_never_give_nan_posteriors(case, example_data, example_fit):
    """Same shape as the example (no recompilation). Either the sampler converges or the fit says
    so (fit.converged False, ConvergenceWarning); the draws are finite either way."""
    N, D, loss = example_data.N, example_data.D, example_data.loss
    if case == "units":          # N in thousands of parameters: the centred law is unit-free
        N = N / 1e3
    elif case == "constant loss":
        loss = np.full_like(loss, 3.0)
    elif case == "pure noise":
        loss = np.random.default_rng(0).uniform(2.0, 4.0, size=loss.shape)
    else:
        loss = loss.copy()
        loss[1] = loss[0]
        N, D = N.copy(), D.copy()
        N[1], D[1] = N[0], D[0]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        data = bs.ScalingData.from_arrays(N=N, D=D, loss=loss)
        fit = bs.fit(data, seed=SEED, **FAST)
    cats = {w.category for w in rec}
    assert cats <= {errors.DataWarning, errors.ConvergenceWarning}, cats
    assert (errors.DataWarning in cats) == (case == "duplicated rows")
    assert (errors.ConvergenceWarning in cats) == (not fit.converged)
    _assert_finite_posterior(fit)
    if case == "units":
        # Rescaling N changes only A: with scale-free (centred) priors the posterior of alpha is the
        # same distribution, so the medians differ by Monte Carlo error only (about 0.1 posterior sd
        # at bulk ESS >= 400 per fit); 0.3 sd is a 3-sigma bound.
        ref = example_fit.draws()["alpha"]
        assert abs(float(np.median(fit.draws()["alpha"]) - np.median(ref))) < 0.3 * float(np.std(ref))


# ---------------------------------------------------------------------------------- save / load
def test_save_load_keeps_everything(example_fit, tmp_path):
    path = tmp_path / "fit.nc"
    example_fit.save(path)
    back = bs.load(path)
    assert set(back.idata.groups()) == set(example_fit.idata.groups())
    for group in example_fit.idata.groups():
        a, b = getattr(example_fit.idata, group), getattr(back.idata, group)
        assert set(a.data_vars) == set(b.data_vars), group
        for var in a.data_vars:
            np.testing.assert_array_equal(np.asarray(a[var]), np.asarray(b[var]), err_msg=f"{group}/{var}")
    assert back.idata.sample_stats.attrs["warmup_divergences"] == example_fit.idata.sample_stats.attrs[
        "warmup_divergences"]
    meta = bs.posterior.idata.meta_of(back.idata)
    assert meta["bayescale_version"] == bs.__version__ and meta["law"] == "chinchilla"
    assert back.law is bs.CHINCHILLA and back.likelihood == example_fit.likelihood
    assert back.priors == example_fit.priors and back.config == example_fit.config


def _tamper(path, out, edit):
    idata = bs.posterior.idata.read(path)
    meta = json.loads(idata.posterior.attrs[bs.posterior.idata.META_KEY])
    idata.posterior.attrs[bs.posterior.idata.META_KEY] = edit(meta)
    bs.posterior.idata.write(idata, out)


def test_load_rejects_incompatible_and_broken_files(example_fit, tmp_path):
    path = tmp_path / "fit.nc"
    example_fit.save(path)

    future = tmp_path / "future.nc"
    _tamper(path, future, lambda m: json.dumps({**m, "format_version": 99, "bayescale_version": "9.0"}))
    with pytest.raises(errors.FileFormatError, match=r"file format 99 \(bayescale 9\.0\).*reads format 1"):
        bs.load(future)

    unknown_law = tmp_path / "law.nc"
    _tamper(path, unknown_law, lambda m: json.dumps({**m, "law": "my_law"}))
    with pytest.raises(errors.FileFormatError, match="not built in.*law=..."):
        bs.load(unknown_law)

    garbled = tmp_path / "garbled.nc"
    _tamper(path, garbled, lambda m: "{not json")
    with pytest.raises(errors.FileFormatError, match="metadata"):
        bs.load(garbled)

    incomplete = tmp_path / "incomplete.nc"
    _tamper(path, incomplete, lambda m: json.dumps({k: v for k, v in m.items() if k != "priors"}))
    with pytest.raises(errors.FileFormatError, match="metadata"):
        bs.load(incomplete)

    for name, content in [("empty.nc", b""), ("text.nc", b"N,D,loss\n1,2,3\n")]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(errors.FileFormatError, match="truncated or corrupt"):
            bs.load(tmp_path / name)
