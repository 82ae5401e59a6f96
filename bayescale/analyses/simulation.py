"""Simulating from the fitted model itself: the designs, truths and datasets :func:`~bayescale.calibration` checks
its intervals on (NumPyro's ``Predictive`` on the model's program)."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from bayescale.data import ScalingData
from bayescale.errors import ConfigError
from bayescale.model.law import evaluate64
from bayescale.model.spec import ScalingModel

__all__ = ["design_runs", "sampled_truth", "SIMULATION_STREAM", "simulation_key", "simulate", "natural_and_frontier"]


def design_runs(design) -> tuple[np.ndarray, np.ndarray]:
    """The ``N`` and ``D`` of a design: ``None`` (the built-in IsoFLOP design), a ScalingData or a mapping."""
    if design is None:
        from bayescale.datasets import example

        design = example()
    if isinstance(design, ScalingData):
        return np.asarray(design.N), np.asarray(design.D)
    if isinstance(design, Mapping) and "N" in design and "D" in design:
        d = ScalingData.from_arrays(N=design["N"], D=design["D"], loss=np.ones(np.size(design["N"])))
        return np.asarray(d.N), np.asarray(d.D)
    raise ConfigError(
        f"design must be None (the built-in IsoFLOP design), a ScalingData or a mapping with 'N' and 'D'; got "
        f"{type(design).__name__}"
    )


def sampled_truth(model: ScalingModel, truth: Mapping[str, float], ref: Mapping[str, float]) -> dict[str, float]:
    """Fixed true parameters in the law's sampled parametrisation, plus the noise parameters."""
    law = model.law
    truth = {k: float(v) for k, v in truth.items()}
    missing_noise = [k for k in model.noise_sites if k not in truth]
    if missing_noise:
        raise ConfigError(f"truth must give the noise scale 'sigma' (e.g. sigma=0.01) and any other noise "
                          f"parameter {list(model.noise_sites)} as well as the law's parameters; missing {missing_noise}")
    out = {k: truth[k] for k in model.noise_sites}
    if all(n in truth for n in law.sampled_names):
        out.update({n: truth[n] for n in law.sampled_names})
    elif law.to_sampled is not None and all(n in truth for n in law.param_names):
        out.update({k: float(v) for k, v in evaluate64(law.to_sampled, {n: np.float64(truth[n]) for n in law.param_names},
                                                      ref).items()})
    else:
        raise ConfigError(
            f"truth must give every parameter of law {law.name!r}: {list(law.param_names)} (or the sampled "
            f"{list(law.sampled_names)}) and {list(model.noise_sites)}; got {sorted(truth)}"
        )
    bad = [k for k, v in out.items() if not np.isfinite(v) or (k in law.positive | set(model.noise_sites) and v <= 0)]
    if bad:
        raise ConfigError(f"true parameter(s) {bad} must be finite and positive; got {truth}")
    return out


#: Folded into the seed's key for the simulation (``jax.random.fold_in``): its stream is independent of the
#: fits', which use the keys of seeds ``seed, seed + 1, ...`` (sharing one would start a fit's chains at the
#: simulated truths).
SIMULATION_STREAM = 0x51D


def simulation_key(seed: int):
    """The key of a calibration's simulation: independent of every fit's (:data:`SIMULATION_STREAM`)."""
    import jax

    return jax.random.fold_in(jax.random.PRNGKey(seed), SIMULATION_STREAM)


def simulate(model: ScalingModel, design: ScalingData, fixed: Mapping[str, float] | None, M: int, key) -> dict:
    """``M`` datasets from exactly the fitted model (NumPyro's ``Predictive`` on its program).

    With ``fixed=None`` every site, parameters included, is drawn from the prior;
    otherwise the sampled parameters are held at ``fixed`` and only the
    observations are drawn. Returns every site (and deterministic) as float64 arrays
    with a leading axis of length ``M``; ``log_loss`` has shape ``(M, len(N))``.
    """
    import jax.numpy as jnp
    from numpyro.infer import Predictive

    args, _ = model.args(design, observed=False, pad=False)
    program = model.program()
    if fixed is None:
        sim = Predictive(program, num_samples=M)(key, *args)
    else:
        tiled = {k: jnp.full((M,), v, dtype=jnp.float32) for k, v in fixed.items()}
        sim = {**tiled, **Predictive(program, posterior_samples=tiled)(key, *args)}
    return {k: np.asarray(v, dtype=np.float64) for k, v in sim.items()}


def natural_and_frontier(model: ScalingModel, sampled: Mapping[str, np.ndarray], ref: Mapping[str, float],
                          budgets) -> dict:
    """Natural parameters and frontier from sampled ones, in float64.

    The sampler works in float32, where ``A = A_ref * N0**alpha`` overflows for
    large prior draws of ``alpha``; here it is recomputed in double precision.
    """
    law = model.law

    def natural_and_front(s64):
        nat = {**{k: s64[k] for k in law.param_names if k in s64}, **law.derived(s64, ref)}
        return nat, law.frontier(nat, budgets)

    s64 = {k: np.asarray(v, dtype=np.float64) for k, v in sampled.items()}
    nat, front = evaluate64(natural_and_front, s64)
    return {**nat, **{k: v for k, v in s64.items() if k not in nat}, "_front": front}
