"""Decision tools on a fit's posterior (any law with a frontier): what a fit is for.

Every question is answered per posterior draw and then summarised (median and
central interval), so the uncertainty of the fit flows into the decision:

- :func:`compute_for_loss`: the training compute needed to reach a target loss,
  with the compute-optimal ``N`` and ``D`` there. A draw whose irreducible loss
  ``E`` is at or above the target can never reach it; such draws count as
  ``C = inf`` (reported as ``p_reachable``, never dropped).
- :func:`isoflop`: the loss along an IsoFLOP curve (``N`` varies, ``6 N D = C``
  fixed) with bands, and the posterior of its argmin.
- :func:`prob_better`: the posterior probability that one run configuration
  ends at a lower loss than another.

(The inference-aware allocation of Sardana et al. 2023 is :mod:`bayescale.analyses.allocation`.)

Each has a vectorised function of parameter draws (``*_draws``, float64 NumPy;
``params`` maps the law's natural parameters to arrays of shape ``(S,)``) and a
wrapper taking a :class:`~bayescale.ScalingFit`, which takes ``group=`` for a
pooled fit. Helpers they share with the other analyses are in :mod:`bayescale.analyses.common`.
The law's own algebra (:class:`~bayescale.model.law.Law`: its loss,
frontier and compute-for-loss) answers each question, so every law with a
frontier is served, not only Chinchilla's.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from bayescale.analyses.common import as_params, law_params, log_loss_draws, quantiles, summarise
from bayescale.checks import check_prob, check_seed, positive_values
from bayescale.data import FLOPS_PER_PARAM_TOKEN
from bayescale.errors import ConfigError
from bayescale.model.chinchilla import CHINCHILLA
from bayescale.model.law import Law, evaluate64

__all__ = [
    "law_params",
    "quantiles",
    "compute_for_loss_draws",
    "compute_for_loss",
    "isoflop_draws",
    "isoflop",
    "prob_better",
]


# ----------------------------------------------------------------- compute to reach a loss
def compute_for_loss_draws(params: Mapping, loss, law: Law = CHINCHILLA) -> dict[str, np.ndarray]:
    """Per draw, the least training compute that reaches ``loss``, and the ``N``, ``D`` that do it.

    The law's own answer (:meth:`~bayescale.model.law.Law.compute_for_loss`): closed form
    for Chinchilla (:func:`~bayescale.model.chinchilla.chinchilla_compute_for_loss`),
    bisection on the frontier otherwise.

    Parameters
    ----------
    params : mapping
        The law's natural parameters: arrays of shape ``(S,)`` (or scalars).
    loss : array_like
        Target losses, shape ``(K,)``.
    law : Law
        Default: Chinchilla.

    Returns
    -------
    dict
        ``C``, ``N_opt``, ``D_opt`` (``inf`` where the draw cannot reach the
        target), ``tokens_per_param`` (``nan`` there) and the boolean
        ``reachable``; each of shape ``(S, K)``.

    Examples
    --------
    >>> from bayescale.analyses.decisions import compute_for_loss_draws
    >>> p = dict(E=1.817, A=477.8, B=2143.0, alpha=0.347, beta=0.367)
    >>> out = compute_for_loss_draws(p, [1.9, 1.8])
    >>> f"{out['C'][0, 0]:.3g}", bool(out["reachable"][0, 1])
    ('2.1e+25', False)
    """
    return law.compute_for_loss(as_params(params, law), positive_values("loss", loss))


def compute_for_loss(fit, loss, prob: float = 0.9, *, group=None):
    """Training compute needed to reach a target loss: posterior median and central interval.

    One row per target loss. ``p_reachable`` is the posterior probability that the
    target lies above the irreducible loss ``E`` at all; the other draws need
    infinite compute and are kept as ``inf``, so an interval bound (or the
    median) is ``inf`` whenever more than its tail probability of the posterior
    says the target is out of reach. ``C``, ``N_opt`` and ``D_opt`` are the
    compute-optimal run that reaches the target (the least compute);
    ``tokens_per_param`` is summarised over the reachable draws only.

    Examples
    --------
    >>> import bayescale as bs
    >>> fit = bs.fit(bs.datasets.example(), seed=0, num_warmup=500, num_samples=500)
    >>> t = bs.compute_for_loss(fit, loss=[2.0, 1.5])
    >>> bool(t.p_reachable.iloc[0] > 0.99), float(t.p_reachable.iloc[1])
    (True, 0.0)
    >>> bool(1e22 < t.C_median.iloc[0] < 1e24), float(t.C_median.iloc[1])
    (True, inf)
    """
    import pandas as pd

    prob = check_prob(prob)
    ell = positive_values("loss", loss)
    out = compute_for_loss_draws(law_params(fit, group), ell, fit.law)
    cols = {"p_reachable": out["reachable"].mean(axis=0)}
    for q in ("C", "N_opt", "D_opt", "tokens_per_param"):
        summarise(cols, q, out[q], prob)
    return pd.DataFrame(cols, index=pd.Index(ell, name="loss"))


# ----------------------------------------------------------------- IsoFLOP curves
def isoflop_draws(params: Mapping, C: float, N, law: Law = CHINCHILLA) -> dict[str, np.ndarray]:
    """The loss along the IsoFLOP curve ``6 N D = C`` at sizes ``N``, per draw.

    Returns ``N``, ``D`` (shape ``(K,)``), ``loss`` (shape ``(S, K)``) and the
    argmin per draw, ``N_opt``, ``D_opt``, ``loss_opt`` (shape ``(S,)``), from the
    law's frontier (closed form for Chinchilla).

    Examples
    --------
    >>> from bayescale.analyses.decisions import isoflop_draws
    >>> p = dict(E=1.817, A=477.8, B=2143.0, alpha=0.347, beta=0.367)
    >>> out = isoflop_draws(p, 5.88e23, [3e10, 7.4e10, 2e11])
    >>> bool(out["loss"][0, 1] < min(out["loss"][0, 0], out["loss"][0, 2]))
    True
    """
    p = as_params(params, law)
    Cv = positive_values("C", C)
    if Cv.size != 1:
        raise ConfigError(f"isoflop_draws takes one compute budget C, got {Cv.size}; loop over budgets")
    Cv = float(Cv[0])
    Nv = positive_values("N", N)
    Dv = Cv / (FLOPS_PER_PARAM_TOKEN * Nv)
    front = evaluate64(law.frontier, p, np.float64(Cv))
    return {"N": Nv, "D": Dv, "loss": np.exp(log_loss_draws(law, p, Nv, Dv)), "N_opt": front["N_opt"],
            "D_opt": front["D_opt"], "loss_opt": front["loss"]}


def _default_sizes(fit, p: Mapping, C: float, num: int, span: float) -> np.ndarray:
    N_mid = float(np.median(isoflop_draws(p, C, [1.0], fit.law)["N_opt"]))
    return np.geomspace(N_mid / span, N_mid * span, num)


def isoflop(fit, C, N=None, *, num: int = 41, span: float = 16.0, prob: float = 0.9, group=None):
    """Loss along IsoFLOP curves with bands, and the posterior of the argmin.

    Parameters
    ----------
    fit : ScalingFit
    C : float or array_like
        Compute budget(s) in FLOPs.
    N : array_like, optional
        Model sizes; default ``num`` sizes log-spaced from ``1/span`` to
        ``span`` times the posterior-median optimum at each ``C``.
    prob : float
        Central interval probability.

    Returns
    -------
    pandas.DataFrame
        One row per (C, N): ``D``, ``loss_median``, ``loss_lower``,
        ``loss_upper`` and ``p_argmin``, the posterior probability that the
        curve's minimum lies nearer (in log N) to this size than to any other
        on the grid (it sums to one over a budget's grid; the first and last
        sizes also collect the mass beyond the grid). The continuous argmin's
        posterior is ``fit.frontier(C)`` (``N_opt``) or
        :func:`isoflop_draws`.

    Examples
    --------
    >>> import bayescale as bs
    >>> fit = bs.fit(bs.datasets.example(), seed=0, num_warmup=500, num_samples=500)
    >>> t = bs.isoflop(fit, C=1e21, num=21)
    >>> t.shape, round(float(t.p_argmin.sum()), 6)
    ((21, 7), 1.0)
    """
    import pandas as pd

    prob = check_prob(prob)
    if not isinstance(num, int) or isinstance(num, bool) or num < 2:
        raise ConfigError(f"num must be an integer >= 2 (sizes on each curve), got {num!r}")
    if not float(span) > 1.0:
        raise ConfigError(f"span must be > 1 (sizes from N_opt/span to N_opt*span), got {span!r}")
    p = law_params(fit, group)
    frames = []
    for c in positive_values("C", C):
        sizes = _default_sizes(fit, p, c, num, span) if N is None else np.sort(positive_values("N", N))
        out = isoflop_draws(p, c, sizes, fit.law)
        cols = {"C": np.full(sizes.size, c), "N": sizes, "D": out["D"]}
        summarise(cols, "loss", out["loss"], prob)
        logs = np.log(sizes)
        edges = (logs[1:] + logs[:-1]) / 2.0
        bins = np.searchsorted(edges, np.log(out["N_opt"]))
        cols["p_argmin"] = np.bincount(bins, minlength=sizes.size) / out["N_opt"].size
        frames.append(pd.DataFrame(cols))
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------- comparisons
def prob_better(fit, N1, D1, N2, D2, *, noise: bool = False, seed: int = 0, group=None):
    """Posterior probability that a run at ``(N1, D1)`` ends at a lower loss than one at ``(N2, D2)``.

    With ``noise=False`` (default) it compares the law's expected losses; with
    ``noise=True`` it compares two single runs, each with its own draw of the
    fitted observation noise and the error model's shared errors (two runs at one
    new budget share its draw). Arguments broadcast; returns a float for scalars.

    Examples
    --------
    >>> import bayescale as bs
    >>> fit = bs.fit(bs.datasets.example(), seed=0, num_warmup=500, num_samples=500)
    >>> bs.prob_better(fit, 2e9, 4e10, 1e9, 4e10)   # more parameters, same tokens
    1.0
    >>> p = bs.prob_better(fit, 1e9, 2e10, 4e8, 5e10)  # same compute, two splits
    >>> 0.0 <= p <= 1.0
    True
    """
    arrs = [positive_values(n, v) for n, v in (("N1", N1), ("D1", D1), ("N2", N2), ("D2", D2))]
    try:
        arrs = np.broadcast_arrays(*arrs)
    except ValueError:
        raise ConfigError("N1, D1, N2, D2 do not broadcast: " + ", ".join(str(a.shape) for a in arrs)) from None
    scalar = all(np.ndim(v) == 0 for v in (N1, D1, N2, D2))
    seed = check_seed(seed)
    p = law_params(fit, group, seed=seed)
    shape = arrs[0].shape
    log1 = log_loss_draws(fit.law, p, arrs[0].ravel(), arrs[1].ravel()).reshape((-1,) + shape)
    log2 = log_loss_draws(fit.law, p, arrs[2].ravel(), arrs[3].ravel()).reshape((-1,) + shape)
    if noise:
        both = {"N": np.concatenate([arrs[0].ravel(), arrs[2].ravel()]),
                "D": np.concatenate([arrs[1].ravel(), arrs[3].ravel()])}
        both["C"] = FLOPS_PER_PARAM_TOKEN * both["N"] * both["D"]
        shared = np.broadcast_to(fit.model.error_model.draws(fit, both, seed), (log1.shape[0], 2 * log1[0].size))
        log1 = log1 + shared[:, : log1[0].size].reshape(log1.shape)
        log2 = log2 + shared[:, log1[0].size:].reshape(log2.shape)
        noise_params = {k: np.asarray(v, dtype=np.float64).reshape((-1,) + (1,) * len(shape))
                        for k, v in fit.noise_draws().items()}
        sigma = noise_params.pop("sigma")
        rng = np.random.default_rng(seed)
        log1 = log1 + sigma * fit.likelihood.standard_noise(rng, log1.shape, **noise_params)
        log2 = log2 + sigma * fit.likelihood.standard_noise(rng, log2.shape, **noise_params)
    out = np.mean(log1 < log2, axis=0)
    return float(out[0]) if scalar else out


