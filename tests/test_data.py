"""Every bad input raises its own error, naming the value and the fix, before any compilation."""

import os

import numpy as np
import pandas as pd
import pytest

import bayescale as bs
from bayescale import errors

N = [1e8, 2e8, 4e8, 8e8, 1e8, 2e8, 4e8, 8e8]
D = [2e9, 2e9, 2e9, 2e9, 8e9, 8e9, 8e9, 8e9]
L = [3.4, 3.2, 3.1, 3.0, 3.2, 3.0, 2.9, 2.85]


def test_good_arrays_build():
    d = bs.ScalingData.from_arrays(N=N, D=D, loss=L)
    assert d.n == 8
    np.testing.assert_allclose(d.C, 6 * np.asarray(N) * np.asarray(D))
    assert not d.N.flags.writeable


def test_from_compute_derives_tokens():
    C = 6 * np.asarray(N) * np.asarray(D)
    d = bs.ScalingData.from_arrays(N=N, C=C, loss=L)
    np.testing.assert_allclose(d.D, D)


def test_from_frame_and_csv(tmp_path):
    df = pd.DataFrame({"params": N, "tokens": D, "val_loss": L})
    d = bs.ScalingData.from_frame(df, N="params", D="tokens", loss="val_loss")
    assert d.names["N"] == "params" and d.n == 8
    path = tmp_path / "runs.csv"
    df.to_csv(path, index=False)
    d2 = bs.ScalingData.from_csv(path, N="params", D="tokens", loss="val_loss")
    np.testing.assert_array_equal(d.loss, d2.loss)


NUMERIC_CSVS = {  # read by NumPy: each must give what pandas gives
    "floats": "N,D,loss\n1e8,2e9,3.4\n2e8,2e9,3.2\n4e8,8e9,2.9\n",
    "integers, spaces, extra column, blank line, no final newline": "N, D,loss,step\n100000000, 2000000000,3.4,7\n"
                                                                  "\n200000000,2000000000 ,3.2,8",
    "byte-order mark, CRLF, nan and inf": "\ufeffN,D,loss\r\n1e8,2e9,nan\r\n2e8,inf,3.2\r\n",
}
OTHER_CSVS = {  # read by pandas
    "an empty cell": "N,D,loss\n1e8,2e9,\n2e8,2e9,3.2\n",
    "NA": "N,D,loss\n1e8,2e9,NA\n2e8,2e9,3.2\n",
    "text": "N,D,loss,name\n1e8,2e9,3.4,a\n2e8,2e9,3.2,b\n",
    "quoted numbers": 'N,D,loss\n"1e8",2e9,3.4\n2e8,2e9,3.2\n',
    "a comment-like cell": "N,D,loss\n#1e8,2e9,3.4\n2e8,2e9,3.2\n",
    "duplicate names": "N,N,loss\n1e8,2e9,3.4\n2e8,2e9,3.2\n",
    "an unnamed column": ",N,D,loss\n0,1e8,2e9,3.4\n1,2e8,2e9,3.2\n",
    "no rows": "N,D,loss\n",
    "a short row": "N,D,loss\n1e8,2e9\n2e8,2e9,3.2\n",
}


@pytest.mark.parametrize("name", list(NUMERIC_CSVS) + list(OTHER_CSVS))
def test_a_csv_of_numbers_is_read_without_pandas_and_as_pandas_reads_it(tmp_path, name):
    """``from_csv`` reads a file of numbers with NumPy (``data.numeric_csv``), any other file with pandas; on a
    file of numbers both give the same columns, to the bit."""
    from bayescale.data import numeric_csv

    path = tmp_path / "runs.csv"
    path.write_bytes({**NUMERIC_CSVS, **OTHER_CSVS}[name].encode("utf-8"))
    got = numeric_csv(path)
    if name in OTHER_CSVS:
        assert got is None
        return
    want = pd.read_csv(path)
    assert list(got) == list(want.columns)
    for column in want.columns:
        np.testing.assert_array_equal(got[column], want[column].to_numpy(dtype=np.float64))


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        (dict(N=N, D=D, loss=L[:-1]), errors.LengthMismatchError, r"different lengths.*loss: 7"),
        (dict(N=N[:-1] + [np.nan], D=D, loss=L), errors.NonFiniteError, r"'N'.*nan at row 7.*never drops"),
        (dict(N=N, D=D[:-1] + [np.inf], loss=L), errors.NonFiniteError, r"'D'.*inf at row 7"),
        (dict(N=N, D=D, loss=[0.0] + L[1:]), errors.NonPositiveError, r"'loss'.*<= 0.*0 at row 0"),
        (dict(N=[-1e8] + N[1:], D=D, loss=L), errors.NonPositiveError, r"'N'.*-1e\+08 at row 0.*positive"),
        (dict(N=N, D=D, loss=["3.4", "x"] + L[2:]), errors.NonNumericError, r"'loss'.*'x' at row 1.*to_numeric"),
        (dict(N=N, D=D, loss=np.ones(8, bool)), errors.NonNumericError, r"'loss' holds booleans"),
        (dict(N=N, D=D, loss=[None] + L[1:]), errors.NonNumericError, r"None at row 0"),
        (dict(N=N, D=None, loss=L), errors.DataError, r"pass D=.*or C="),
        (dict(N=[], D=[], loss=[]), errors.TooFewPointsError, r"empty"),
        (dict(N=np.ones((2, 4)), D=D, loss=L), errors.DataError, r"one-dimensional"),
    ],
)
def test_bad_arrays_raise_named_errors(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        bs.ScalingData.from_arrays(**kwargs)


def test_all_errors_are_value_errors():
    for name in errors.__all__:
        cls = getattr(errors, name)
        if issubclass(cls, errors.DataError):
            assert issubclass(cls, ValueError)


def test_compute_that_disagrees_with_6ND():
    C = 6 * np.asarray(N) * np.asarray(D)
    C[3] *= 1.2
    with pytest.raises(errors.ComputeMismatchError, match=r"row 3.*off by 20\.0%.*only one of D and C"):
        bs.ScalingData.from_arrays(N=N, D=D, C=C, loss=L)
    C[3] /= 1.2 * 1.04  # within 5%: accepted
    bs.ScalingData.from_arrays(N=N, D=D, C=C, loss=L)


def test_missing_column_names_the_columns():
    df = pd.DataFrame({"params": N, "tokens": D, "loss": L})
    with pytest.raises(errors.MissingColumnError, match=r"no column 'N'.*\['params', 'tokens', 'loss'\]"):
        bs.ScalingData.from_frame(df, D="tokens")


def test_too_few_points_for_the_law():
    d = bs.ScalingData.from_arrays(N=N[:6], D=D[:6], loss=L[:6])
    with pytest.raises(errors.TooFewPointsError, match=r"6 data point.*at least 7"):
        bs.fit(d)


def test_single_distinct_value():
    d = bs.ScalingData.from_arrays(N=[1e8] * 8, D=D, loss=L)
    with pytest.raises(errors.TooFewDistinctValuesError, match=r"'N' takes a single value.*add runs"):
        bs.fit(d)


def test_swapped_columns_warn():
    with pytest.warns(errors.DataWarning, match="swapped"):
        bs.ScalingData.from_arrays(N=D, D=N, loss=L)


def test_duplicate_rows_warn_and_are_kept():
    with pytest.warns(errors.DataWarning, match=r"1 row\(s\) repeat.*row 8.*kept"):
        d = bs.ScalingData.from_arrays(N=N + N[:1], D=D + D[:1], loss=L + L[:1])
    assert d.n == 9


def test_fit_rejects_non_container():
    with pytest.raises(errors.ConfigError, match="ScalingData.from_frame"):
        bs.fit({"N": N})


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (dict(num_chains=0), "num_chains must be a positive integer"),
        (dict(num_samples=2.5), "num_samples must be a positive integer"),
        (dict(target_accept=1.2), r"target_accept must be in \(0, 1\)"),
        (dict(seed=-1), "seed must be a non-negative integer"),
        (dict(law="kaplan-typo"), "unknown law 'kaplan-typo'"),
        (dict(likelihood="cauchy"), "unknown likelihood 'cauchy'"),
        (dict(priors={"gamma": bs.Prior("Normal", loc=0, scale=1)}), r"no parameter 'gamma'.*\['A_ref'"),
        (dict(priors={"alpha": bs.Prior("Normal", loc=0.3, scale=1)}), "alpha must be positive"),
        (dict(priors={"alpha": 0.3}), "must be a bayescale.Prior"),
    ],
)
def test_bad_settings_raise_before_compiling(kwargs, pattern):
    d = bs.ScalingData.from_arrays(N=N, D=D, loss=L)
    with pytest.raises(ValueError, match=pattern):
        bs.fit(d, **kwargs)


def test_prior_errors():
    with pytest.raises(errors.PriorError, match="unknown distribution 'Foo'"):
        bs.Prior("Foo")
    with pytest.raises(errors.PriorError, match="invalid prior"):
        bs.Prior("LogNormal", loc=0.0, scale=-1.0)
    p = bs.Prior("LogNormal", loc=0.0, scale=1.0)
    assert bs.Prior.from_dict(p.to_dict()) == p


@pytest.mark.parametrize("dist, params, pattern", [
    ("Beta", dict(concentration1=-1.0, concentration0=2.0), "invalid concentration1 parameter -1"),
    ("Beta", dict(concentration1=1.0), "missing a required argument: 'concentration0'"),
    ("HalfNormal", dict(scale=1.0, loc=0.0), "unexpected keyword argument 'loc'"),
    ("StudentT", dict(df=0.0, loc=0.0, scale=1.0), "invalid df parameter 0"),
    ("Uniform", dict(low=0.0, high=float("nan")), "must be finite"),
])
def test_a_prior_is_checked_against_its_distributions_signature_and_constraints(dist, params, pattern):
    with pytest.raises(errors.PriorError, match=pattern):
        bs.Prior(dist, **params)
    assert bs.Prior("Uniform", low=0.0, high=2.0).to_numpyro().high == 2.0  # dependent constraints: built instead


def test_importing_the_built_in_laws_and_models_compiles_nothing():
    """Checking the built-in priors runs no JAX operation (a Beta's construction compiles one: 0.2 s of every
    fresh process's import before the check moved to NumPy)."""
    import subprocess
    import sys

    code = ("import jax; from jax import monitoring; n = []; monitoring.register_event_duration_secs_listener("
            "lambda e, d, **k: n.append(e) if e == '/jax/core/compile/backend_compile_duration' else None); "
            "import bayescale.fitting.fit, bayescale.model.law_registry, bayescale.model.links; print(len(n))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")})
    assert out.returncode == 0 and out.stdout.split() == ["0"], out.stderr[-2000:]
