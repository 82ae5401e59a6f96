"""The real-data loaders: Porian et al. (2024) and Li et al. (2025), read from ../shared/data.

The files are never copied into the project: tests that need them skip when ../shared/data is absent.
The lookup errors (SHA-256 mismatch, missing file, offline) are checked on files written here.
"""

import hashlib
import shutil
import urllib.error
import urllib.request

import numpy as np
import pytest

from bayescale import datasets, errors

from conftest import SHARED_DATA

PORIAN_FILE = SHARED_DATA / datasets.PORIAN_FILE
LI_FILE = SHARED_DATA / "li2025_misfitting_scaling_results_last_ckpt_only.csv"

needs_porian = pytest.mark.skipif(not PORIAN_FILE.exists(), reason=f"{PORIAN_FILE} not present (../shared/data/)")
needs_li = pytest.mark.skipif(not LI_FILE.exists(), reason=f"{LI_FILE} not present (../shared/data/)")


@pytest.fixture
def no_env(monkeypatch, tmp_path):
    """No environment variables, an empty cache, and no network."""
    for var in (datasets.PORIAN_ENV, datasets.LI_ENV, datasets.CHINCHILLA_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def offline(*a, **k):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    return tmp_path


# ---------------------------------------------------------------- Porian
@needs_porian
def test_porian_counts_and_columns():
    data = datasets.load_porian(SHARED_DATA)
    assert data.n == 1745 and len(data.groups) == 15
    assert datasets.porian_configs(SHARED_DATA) == list(data.groups)
    df = datasets.load_porian(PORIAN_FILE, as_frame=True)
    assert len(df) == 1745 and df["config"].nunique() == 15 and df["source"].nunique() == 15
    budgets = np.sort(df["flops"].unique())
    assert budgets.size == 12
    np.testing.assert_allclose(budgets, 1.25e16 * 2.0 ** np.arange(12))
    np.testing.assert_allclose(data.C, df["flops"], rtol=1e-12)  # D = flops / (6 N) exactly
    assert set(datasets.PORIAN_CONFIG_COLUMNS) <= set(df.columns)
    # every configuration has all 12 budgets, but the three counting N the Kaplan way stop at 1.28e19
    per = df.groupby("config")["flops"].agg(["nunique", "max"])
    short = per[per["nunique"] == 11]
    assert len(short) == 3 and (short["max"] == 1.28e19).all() and short.index.str.contains("N=kaplan").all()
    assert (per.drop(short.index)["nunique"] == 12).all()


@needs_porian
def test_porian_select_one_configuration():
    labels = datasets.porian_configs(SHARED_DATA)
    assert labels[0] == "rw/base/warmup=long/decay=kaplan/N=kaplan/train"
    by_label = datasets.load_porian(SHARED_DATA, config=labels[3])
    by_index = datasets.load_porian(SHARED_DATA, config=3)
    by_source = datasets.load_porian(SHARED_DATA, config="summary_df.pickle.xz:3")
    assert by_label.n == by_index.n == by_source.n == 88
    np.testing.assert_array_equal(by_label.loss, by_source.loss)
    assert list(by_label.groups) == [labels[3]]
    with pytest.raises(errors.ConfigError, match=r"no Porian configuration 'nope'.*0: 'rw/base"):
        datasets.load_porian(SHARED_DATA, config="nope")
    with pytest.raises(errors.ConfigError, match="out of range.*15 configurations"):
        datasets.load_porian(SHARED_DATA, config=15)


@needs_porian
def test_porian_env_and_cache(no_env, monkeypatch):
    monkeypatch.setenv(datasets.PORIAN_ENV, str(SHARED_DATA))  # a folder
    assert datasets.load_porian().n == 1745
    monkeypatch.delenv(datasets.PORIAN_ENV)
    cache = no_env / "cache" / "bayescale"
    cache.mkdir(parents=True)
    shutil.copy(PORIAN_FILE, cache / datasets.PORIAN_FILE)  # the user's cache, in tmp_path
    assert datasets.load_porian(config=0).n == 107


def test_porian_missing_names_file_and_env(no_env):
    with pytest.raises(errors.DatasetError, match=r"porian2024_isoflop_points\.csv.*cannot download.*BAYESCALE_PORIAN_PATH"):
        datasets.load_porian()
    with pytest.raises(errors.DatasetError, match="no file at"):
        datasets.load_porian(no_env / "absent.csv")
    with pytest.raises(errors.DatasetError, match=r"has none of \['porian2024_isoflop_points.csv'\]"):
        datasets.load_porian(no_env)


def test_porian_sha_mismatch(no_env, monkeypatch):
    bad = no_env / datasets.PORIAN_FILE
    bad.write_text("source_file,row,dataset,hparams,warmup,decay,param_count,loss_split,flops,N,D,loss\n")
    with pytest.raises(errors.DatasetError, match="SHA-256.*verify=False"):
        datasets.load_porian(bad)
    monkeypatch.setenv(datasets.PORIAN_ENV, str(bad))
    with pytest.raises(errors.DatasetError, match="SHA-256"):
        datasets.load_porian()
    cache = no_env / "cache" / "bayescale"
    cache.mkdir(parents=True)
    shutil.copy(bad, cache / datasets.PORIAN_FILE)
    monkeypatch.delenv(datasets.PORIAN_ENV)
    with pytest.raises(errors.DatasetError, match="corrupt"):
        datasets.load_porian()


# ---------------------------------------------------------------- Li
@needs_li
def test_li_counts_and_best_lr():
    with pytest.warns(errors.DataWarning, match="21 row"):  # the file repeats 21 (N, D, loss) rows exactly
        every = datasets.load_li(SHARED_DATA)
    assert every.n == 261
    df = datasets.load_li(LI_FILE, as_frame=True)
    assert len(df) == 261 and df["C"].dtype == np.float64 and df["C"].max() > np.iinfo(np.int64).max
    assert df["peak_lr"].nunique() == 5
    best = datasets.load_li(LI_FILE, best_lr=True)
    assert best.n == 81 == len(df.groupby(["N", "D"]))
    # the kept run is the lowest loss over peak_lr at every (N, D)
    lowest = df.groupby(["N", "D"])["loss"].min()
    got = dict(zip(zip(best.N, best.D), best.loss))
    assert got == pytest.approx(lowest.to_dict())
    assert (best.N < 5e8).sum() == 75  # the backtest's training split: N < 5e8
    no_emb = datasets.load_li(LI_FILE, best_lr=True, N_column="N_no_emb")
    np.testing.assert_array_equal(no_emb.loss, best.loss)
    assert np.all(no_emb.N < best.N)
    with pytest.raises(errors.ConfigError, match="N_column"):
        datasets.load_li(LI_FILE, N_column="params")


@needs_li
def test_li_env_and_download_from_the_pinned_commit(no_env, monkeypatch):
    monkeypatch.setenv(datasets.LI_ENV, str(LI_FILE))
    assert datasets.load_li(best_lr=True).n == 81
    monkeypatch.delenv(datasets.LI_ENV)
    calls = []

    def fake_urlopen(url, timeout):
        calls.append(url)
        return open(LI_FILE, "rb")

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    assert datasets.load_li(best_lr=True).n == 81
    assert datasets.load_li(best_lr=True).n == 81  # second call: from the cache
    assert calls == [datasets.LI_URL] and "1f3708c0a12df0effb0ee906b1da5f9f0ff4f4f1" in datasets.LI_URL
    cached = no_env / "cache" / "bayescale" / "scaling_results_last_ckpt_only.csv"
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == datasets.LI_SHA256


def test_li_offline_names_env(no_env):
    with pytest.raises(errors.DatasetError, match=r"could not download.*hadasah/scaling_laws.*BAYESCALE_LI_PATH"):
        datasets.load_li()
    with pytest.raises(errors.DatasetError, match="download=False.*BAYESCALE_LI_PATH"):
        datasets.load_li(download=False)


def test_li_sha_mismatch(no_env, monkeypatch):
    bad = no_env / "scaling_results_last_ckpt_only.csv"
    bad.write_text("loss,N,N_no_emb,D\n3.0,1e8,5e7,1e9\n")
    with pytest.raises(errors.DatasetError, match="SHA-256.*verify=False"):
        datasets.load_li(bad)

    def corrupt_download(url, timeout):
        return open(bad, "rb")

    monkeypatch.setattr(urllib.request, "urlopen", corrupt_download)
    with pytest.raises(errors.DatasetError, match="downloaded file has SHA-256.*not cached"):
        datasets.load_li()
    assert not (no_env / "cache" / "bayescale" / "scaling_results_last_ckpt_only.csv").exists()
