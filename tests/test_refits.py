"""Refits after divergences (``refit_divergent``): a fit whose draws diverged is refitted from the start at
a higher ``target_accept``, and the result says so.

Divergences are provoked by starting at ``target_accept=0.3`` (the step size adapts to 30% acceptance): on the
example design that gave 32-156 divergent draws in 4 x 300 at each of seeds 0-5 (FAST settings here, so more
draws), so a first fit without any is not a realistic outcome. The same data at 0.95 had none at any of those
seeds. Both claims are checked at the suite's seed offsets 0, 1 and 2 (``BAYESCALE_TEST_SEED``).

At 0.3 a chain's step size can also collapse in warmup (seed offset 3: one chain at 0.0067 against the others'
2.1), and a fit that fails its checks with such a chain is restarted (``bayescale.fitting.restart``) and lists
the restart in ``fit.refits`` too. What these tests check is the refit ladder, so they read its records apart
from any restart's (:func:`_ladder`); restarts have tests of their own (tests/test_sampler_coords.py).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import bayescale as bs
from bayescale import errors

from bayescale.fitting.restart import is_restart
from conftest import FAST, SEED


def _ladder(fit) -> tuple:
    """The records of ``fit.refits`` left by the refit ladder (not by a restart after a stuck chain)."""
    return tuple(r for r in fit.refits if not is_restart(r))


@pytest.fixture(scope="module")
def refitted(example_data):
    return bs.fit(example_data, seed=SEED, target_accept=0.3, refit_divergent=(0.95,), **FAST)


def test_divergent_fit_is_refitted_at_the_next_target_accept(refitted):
    assert refitted.config.target_accept == 0.95
    assert len(_ladder(refitted)) == 1
    given_up = _ladder(refitted)[0]
    assert given_up["sampler"] == "nuts" and given_up["target_accept"] == 0.3 and given_up["divergences"] > 0
    assert refitted.diagnostics.n_divergent == 0 and refitted.converged


def test_refits_survive_save_and_load(refitted, tmp_path):
    path = tmp_path / "refitted.nc"
    refitted.save(path)
    back = bs.load(path)
    assert back.refits == refitted.refits and back.config.target_accept == 0.95


def test_no_refits_leaves_the_divergences_flagged(example_data):
    with pytest.warns(errors.ConvergenceWarning, match="diverged"):
        f = bs.fit(example_data, seed=SEED, target_accept=0.3, refit_divergent=(), **FAST)
    assert _ladder(f) == () and f.diagnostics.n_divergent > 0 and not f.converged


def test_fit_many_refits_each_divergent_fit_alone(example_data, refitted):
    fits = bs.fit_many([example_data, example_data], seed=SEED, target_accept=0.3, refit_divergent=(0.95,),
                       method="nuts", **FAST)
    for f, seed in zip(fits, (SEED, SEED + 1)):
        assert f.seed == seed and f.config.target_accept == 0.95
        assert [r["target_accept"] for r in _ladder(f)] == [0.3] and _ladder(f)[0]["divergences"] > 0
    # Dataset 0 was refitted as bs.fit would have refitted it: the same draws.
    assert (fits[0].posterior_array("alpha") == refitted.posterior_array("alpha")).all()


def test_a_worse_refit_is_given_up(example_data, refitted, monkeypatch):
    """A refit replaces the fit kept only when it is no worse (a higher target can collapse a chain's step
    size). Deterministic: the 0.95 refit is made to look worse than any fit (R-hat 2, a million divergences)."""
    from bayescale.fitting import fit as fit_module
    from bayescale.posterior.diagnostics import Diagnostics

    real_sample = fit_module.sample

    def refit_looks_worse(data, model, config, *args, **kwargs):
        result = real_sample(data, model, config, *args, **kwargs)
        if config.target_accept == 0.95:  # as bad as a fit can look: chains disagreeing, a million divergences
            d = result.diagnostics
            result.diagnostics = Diagnostics.from_numbers(n_divergent=10**6, n_draws=d.n_draws, ess_bulk=d.ess_bulk,
                                                          rhat={k: 2.0 for k in d.rhat}, mean_steps=d.mean_steps)
        return result

    monkeypatch.setattr(fit_module, "sample", refit_looks_worse)
    gave_up = r"gave up target_accept 0.95 \(1000000 divergent\); kept target_accept 0.3"
    with pytest.warns(errors.ConvergenceWarning, match=gave_up):
        f = bs.fit(example_data, seed=SEED, target_accept=0.3, refit_divergent=(0.95,), **FAST)
    assert f.config.target_accept == 0.3 and 0 < f.diagnostics.n_divergent < 10**6
    assert _ladder(f) == ({"sampler": "nuts", "target_accept": 0.95, "divergences": 10**6},)
    # The fit kept is the first one, draw for draw.
    first = bs.fit(example_data, seed=SEED, target_accept=0.3, refit_divergent=(), warn=False, **FAST)
    assert (f.posterior_array("alpha") == first.posterior_array("alpha")).all()


def test_a_refit_is_worse_when_its_chains_disagree_or_else_diverge_more():
    from bayescale.fitting.fit import worse_than
    from bayescale.posterior.diagnostics import Diagnostics

    def diag(divergent, rhat):
        return Diagnostics.from_numbers(n_divergent=divergent, n_draws=4000, rhat={"alpha": rhat},
                                        ess_bulk={"alpha": 1000.0}, mean_steps=10.0)

    stuck, wall, clean = diag(0, 1.53), diag(9, 1.004), diag(0, 1.002)
    assert not stuck.chains_agree and wall.chains_agree and not diag(0, float("nan")).chains_agree
    assert worse_than(stuck, wall) and not worse_than(wall, stuck)  # squad's C4 link at 0.99 against 0.95
    assert worse_than(diag(12, 1.0), wall) and not worse_than(diag(9, 1.0), wall) and not worse_than(clean, wall)


def test_refit_values_at_or_below_the_target_are_skipped(example_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", errors.ConvergenceWarning)
        f = bs.fit(example_data, seed=SEED, target_accept=0.3, refit_divergent=(0.2, 0.3), **FAST)
    assert _ladder(f) == () and f.config.target_accept == 0.3


@pytest.mark.parametrize("bad", [(0.99, 0.95), (1.2,), (0.0,), "0.95", 0.95, (True,)])
def test_bad_refit_ladders_are_refused_before_compiling(example_data, bad):
    with pytest.raises(errors.ConfigError, match="refit_divergent"):
        bs.fit(example_data, refit_divergent=bad)


def _fake_fit(rhat: float, divergent: int = 0):
    from types import SimpleNamespace

    from bayescale.posterior.diagnostics import Diagnostics

    diag = Diagnostics.from_numbers(n_divergent=divergent, n_draws=4000, rhat={"alpha": rhat},
                                    ess_bulk={"alpha": 1000.0}, mean_steps=10.0)
    return SimpleNamespace(diagnostics=diag, converged=diag.converged, refits=(), sampler="nuts",
                           config=SimpleNamespace(target_accept=0.9))


def _draws(*step_sizes):
    from types import SimpleNamespace

    return SimpleNamespace(stats={"step_size": np.repeat(np.asarray(step_sizes)[:, None], 5, axis=1)})


def test_a_fit_with_a_stuck_chain_is_run_again_and_the_better_kept():
    """A fit that failed with a chain whose step size collapsed (below 1/100 of the median) is run again once
    (``again``); the restart is kept unless worse (:func:`worse_than`), and the fit given up is listed. A fit that
    converged, or failed without a stuck chain, is never run again. Deterministic (made-up fits)."""
    from bayescale.fitting.restart import restart_if_stuck

    def never():
        raise AssertionError("run again")

    stuck = _draws(0.26, 0.27, 2.2e-6, 0.25)
    ok = _fake_fit(1.002)
    assert restart_if_stuck(ok, stuck, "carry", never)[0] is ok  # converged: a small step size is its business
    unconverged = _fake_fit(1.3)
    assert restart_if_stuck(unconverged, _draws(0.26, 0.27, 0.1, 0.25), "carry", never)[0] is unconverged

    first, better = _fake_fit(1.56), _fake_fit(1.003)
    kept, draws, carry = restart_if_stuck(first, stuck, "carry", lambda: (better, "new draws", "new carry"))
    assert (kept, draws, carry) == (better, "new draws", "new carry")
    assert kept.refits == ({"sampler": "nuts", "target_accept": 0.9, "divergences": 0, "restart": "kept",
                            "stuck_chains": {"2": 2.2e-6}, "median_step_size": pytest.approx(0.255)},)
    first, worse = _fake_fit(1.01), _fake_fit(1.5)  # first: chains agree (ESS or else failed); restart: they do not
    first.converged = False
    kept, draws, _ = restart_if_stuck(first, stuck, "carry", lambda: (worse, "new draws", "new carry"))
    assert kept is first and draws is stuck and kept.refits[0]["restart"] == "given up"


def test_restarts_are_named_in_the_warning_and_not_as_refits():
    from bayescale.fitting.fit import refit_note

    fit = _fake_fit(1.5)
    fit.refits = ({"sampler": "nuts", "target_accept": 0.9, "divergences": 0, "restart": "kept",
                   "stuck_chains": {"3": 2.2e-6}, "median_step_size": 0.26},)
    assert refit_note(fit) == ("restarted after chain 3's step size collapsed in warmup (2.2e-06 against the chains' "
                               "median 0.26); kept the restart")
