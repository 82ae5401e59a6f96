"""Decision tools on the Chinchilla posterior: what a fit is for.

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
- :func:`inference_optimal`: the allocation of Sardana et al. (2023), "Beyond
  Chinchilla-Optimal": the ``(N, D)`` minimising training (``6 N D``) plus
  inference (``2 N`` per token) FLOPs at a target loss, or the loss-minimising
  ``(N, D)`` for a total (training + inference) compute budget.

Each has a pure, vectorised function of parameter draws (``*_draws``, float64
NumPy; ``params`` maps ``E, A, B, alpha, beta`` to arrays of shape ``(S,)``)
and a wrapper taking a :class:`~bayescale.ScalingFit`.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from bayescale.data import FLOPS_PER_PARAM_TOKEN
from bayescale.errors import ConfigError

__all__ = [
    "INFERENCE_FLOPS_PER_PARAM_TOKEN",
    "law_params",
    "quantiles",
    "compute_for_loss_draws",
    "compute_for_loss",
    "isoflop_draws",
    "isoflop",
    "prob_better",
    "inference_optimal_draws",
    "inference_optimal",
]

#: Inference compute per parameter per token (a forward pass), Sardana et al. (2023).
INFERENCE_FLOPS_PER_PARAM_TOKEN = 2.0

_LAW_NAMES = ("E", "A", "B", "alpha", "beta")
_BISECTION_STEPS = 200


# ----------------------------------------------------------------- helpers
def law_params(fit) -> dict[str, np.ndarray]:
    """Posterior draws of ``E, A, B, alpha, beta`` as float64 arrays of shape ``(S,)``.

    Raises :class:`~bayescale.errors.ConfigError` when the fit's law is not of the
    Chinchilla form (the decision tools need its frontier).
    """
    names = getattr(getattr(fit, "law", None), "param_names", ())
    if not getattr(fit.law, "has_frontier", False) or not set(_LAW_NAMES) <= set(names):
        raise ConfigError(
            f"the decision tools need a Chinchilla-form law (E, A, B, alpha, beta with a frontier); "
            f"this fit's law is {getattr(fit.law, 'name', fit.law)!r}"
        )
    d = fit.draws(_LAW_NAMES)
    return {k: np.asarray(d[k], dtype=np.float64) for k in _LAW_NAMES}


def _as_params(params: Mapping) -> dict[str, np.ndarray]:
    missing = [k for k in _LAW_NAMES if k not in params]
    if missing:
        raise ConfigError(f"params lacks {missing}; give E, A, B, alpha, beta (arrays of draws or scalars)")
    return {k: np.atleast_1d(np.asarray(params[k], dtype=np.float64)) for k in _LAW_NAMES}


def _positive(name: str, values) -> np.ndarray:
    try:
        arr = np.atleast_1d(np.asarray(values, dtype=np.float64)).ravel()
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be positive numbers, got {values!r}") from None
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ConfigError(f"{name} must be finite and > 0, got {values!r}")
    return arr


def _nonnegative(name: str, values) -> np.ndarray:
    try:
        arr = np.atleast_1d(np.asarray(values, dtype=np.float64)).ravel()
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be non-negative numbers, got {values!r}") from None
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ConfigError(f"{name} must be finite and >= 0 (0 means training cost only), got {values!r}")
    return arr


def _check_prob(prob) -> float:
    if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0.0 < float(prob) < 1.0:
        raise ConfigError(f"prob must be in (0, 1), e.g. 0.9 for a 90% interval; got {prob!r}")
    return float(prob)


def quantiles(draws: np.ndarray, levels, axis: int = 0) -> np.ndarray:
    """Quantiles along ``axis`` that keep ``+inf`` draws honest.

    Equal to ``np.quantile(..., method="linear")`` on finite draws; a quantile
    that falls on or next to an infinite draw is ``inf`` (not ``nan``). NaN draws
    (undefined quantities, e.g. tokens per parameter of an unreachable target)
    are left out.

    Examples
    --------
    >>> from bayescale.decisions import quantiles
    >>> quantiles([1.0, 2.0, 3.0, float("inf")], [0.5, 0.95]).tolist()
    [2.5, inf]
    """
    x = np.moveaxis(np.asarray(draws, dtype=np.float64), axis, 0)
    x = np.sort(x, axis=0)  # NaN sorts last
    n_valid = np.sum(~np.isnan(x), axis=0)
    out = []
    for p in np.atleast_1d(levels):
        h = (np.maximum(n_valid, 1) - 1) * float(p)
        lo = np.floor(h).astype(int)
        hi = np.minimum(lo + 1, np.maximum(n_valid - 1, 0))
        t = h - lo
        a = np.take_along_axis(x, lo[None, ...], axis=0)[0]
        b = np.take_along_axis(x, hi[None, ...], axis=0)[0]
        with np.errstate(invalid="ignore"):
            v = np.where(np.isinf(b), b, a + (b - a) * t)
        out.append(np.where(n_valid > 0, v, np.nan))
    return np.stack(out)


def _summarise(cols: dict, name: str, draws: np.ndarray, prob: float) -> None:
    lo = (1.0 - prob) / 2.0
    m, l, u = quantiles(draws, [0.5, lo, 1.0 - lo])
    cols[f"{name}_median"], cols[f"{name}_lower"], cols[f"{name}_upper"] = m, l, u


def _loss(p: Mapping, N, D) -> np.ndarray:
    """L(N, D) in float64 with params broadcast as given."""
    return p["E"] + p["A"] * np.power(N, -p["alpha"]) + p["B"] * np.power(D, -p["beta"])


def _col(p: Mapping) -> dict:
    return {k: v[:, None] for k, v in p.items()}


# ----------------------------------------------------------------- compute to reach a loss
def compute_for_loss_draws(params: Mapping, loss) -> dict[str, np.ndarray]:
    """Per draw, the least training compute that reaches ``loss``, and the ``N``, ``D`` that do it.

    On the compute-optimal frontier the two reducible terms stand in the ratio
    ``A/N**alpha : B/D**beta = beta : alpha``, so reaching ``L = E + r``
    (``r > 0``) takes ``N = (A (alpha+beta) / (beta r))**(1/alpha)``,
    ``D = (B (alpha+beta) / (alpha r))**(1/beta)`` and ``C = 6 N D``.

    Parameters
    ----------
    params : mapping
        ``E, A, B, alpha, beta``: arrays of shape ``(S,)`` (or scalars).
    loss : array_like
        Target losses, shape ``(K,)``.

    Returns
    -------
    dict
        ``C``, ``N_opt``, ``D_opt`` (``inf`` where the draw cannot reach the
        target, i.e. ``E >= loss``), ``tokens_per_param`` (``nan`` there) and the
        boolean ``reachable``; each of shape ``(S, K)``.

    Examples
    --------
    >>> from bayescale.decisions import compute_for_loss_draws
    >>> p = dict(E=1.817, A=477.8, B=2143.0, alpha=0.347, beta=0.367)
    >>> out = compute_for_loss_draws(p, [1.9, 1.8])
    >>> f"{out['C'][0, 0]:.3g}", bool(out["reachable"][0, 1])
    ('2.1e+25', False)
    """
    p = _col(_as_params(params))
    ell = _positive("loss", loss)[None, :]
    r = ell - p["E"]
    ok = r > 0
    s = p["alpha"] + p["beta"]
    with np.errstate(divide="ignore", invalid="ignore"):
        rr = np.where(ok, r, 1.0)
        logN = (np.log(p["A"] * s / p["beta"]) - np.log(rr)) / p["alpha"]
        logD = (np.log(p["B"] * s / p["alpha"]) - np.log(rr)) / p["beta"]
    N = np.where(ok, np.exp(logN), np.inf)
    D = np.where(ok, np.exp(logD), np.inf)
    tpp = np.where(ok, np.exp(logD - logN), np.nan)
    C = np.where(ok, FLOPS_PER_PARAM_TOKEN * np.exp(logN + logD), np.inf)
    return {"C": C, "N_opt": N, "D_opt": D, "tokens_per_param": tpp, "reachable": ok}


def compute_for_loss(fit, loss, prob: float = 0.9):
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

    prob = _check_prob(prob)
    ell = _positive("loss", loss)
    out = compute_for_loss_draws(law_params(fit), ell)
    cols = {"p_reachable": out["reachable"].mean(axis=0)}
    for q in ("C", "N_opt", "D_opt", "tokens_per_param"):
        _summarise(cols, q, out[q], prob)
    return pd.DataFrame(cols, index=pd.Index(ell, name="loss"))


# ----------------------------------------------------------------- IsoFLOP curves
def isoflop_draws(params: Mapping, C: float, N) -> dict[str, np.ndarray]:
    """The loss along the IsoFLOP curve ``6 N D = C`` at sizes ``N``, per draw.

    Returns ``N``, ``D`` (shape ``(K,)``), ``loss`` (shape ``(S, K)``) and the
    exact argmin per draw, ``N_opt``, ``D_opt``, ``loss_opt`` (shape ``(S,)``),
    from the closed-form frontier.

    Examples
    --------
    >>> from bayescale.decisions import isoflop_draws
    >>> p = dict(E=1.817, A=477.8, B=2143.0, alpha=0.347, beta=0.367)
    >>> out = isoflop_draws(p, 5.88e23, [3e10, 7.4e10, 2e11])
    >>> bool(out["loss"][0, 1] < min(out["loss"][0, 0], out["loss"][0, 2]))
    True
    """
    p = _as_params(params)
    Cv = _positive("C", C)
    if Cv.size != 1:
        raise ConfigError(f"isoflop_draws takes one compute budget C, got {Cv.size}; loop over budgets")
    Cv = float(Cv[0])
    Nv = _positive("N", N)
    Dv = Cv / (FLOPS_PER_PARAM_TOKEN * Nv)
    loss = _loss(_col(p), Nv[None, :], Dv[None, :])
    s = p["alpha"] + p["beta"]
    logC6 = np.log(Cv / FLOPS_PER_PARAM_TOKEN)
    logG = (np.log(p["alpha"] * p["A"]) - np.log(p["beta"] * p["B"])) / s
    N_opt = np.exp(logG + p["beta"] / s * logC6)
    D_opt = Cv / (FLOPS_PER_PARAM_TOKEN * N_opt)
    return {"N": Nv, "D": Dv, "loss": loss, "N_opt": N_opt, "D_opt": D_opt, "loss_opt": _loss(p, N_opt, D_opt)}


def _default_sizes(fit, C: float, num: int, span: float) -> np.ndarray:
    N_mid = float(np.median(isoflop_draws(law_params(fit), C, [1.0])["N_opt"]))
    return np.geomspace(N_mid / span, N_mid * span, num)


def isoflop(fit, C, N=None, *, num: int = 41, span: float = 16.0, prob: float = 0.9):
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

    prob = _check_prob(prob)
    if not isinstance(num, int) or isinstance(num, bool) or num < 2:
        raise ConfigError(f"num must be an integer >= 2 (sizes on each curve), got {num!r}")
    if not float(span) > 1.0:
        raise ConfigError(f"span must be > 1 (sizes from N_opt/span to N_opt*span), got {span!r}")
    p = law_params(fit)
    frames = []
    for c in _positive("C", C):
        sizes = _default_sizes(fit, c, num, span) if N is None else np.sort(_positive("N", N))
        out = isoflop_draws(p, c, sizes)
        cols = {"C": np.full(sizes.size, c), "N": sizes, "D": out["D"]}
        _summarise(cols, "loss", out["loss"], prob)
        logs = np.log(sizes)
        edges = (logs[1:] + logs[:-1]) / 2.0
        bins = np.searchsorted(edges, np.log(out["N_opt"]))
        cols["p_argmin"] = np.bincount(bins, minlength=sizes.size) / out["N_opt"].size
        frames.append(pd.DataFrame(cols))
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------- comparisons
def prob_better(fit, N1, D1, N2, D2, *, noise: bool = False, seed: int = 0):
    """Posterior probability that a run at ``(N1, D1)`` ends at a lower loss than one at ``(N2, D2)``.

    With ``noise=False`` (default) it compares the law's expected losses; with
    ``noise=True`` it compares two single runs, each with its own draw of the
    fitted observation noise. Arguments broadcast; returns a float for scalars.

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
    arrs = [_positive(n, v) for n, v in (("N1", N1), ("D1", D1), ("N2", N2), ("D2", D2))]
    try:
        arrs = np.broadcast_arrays(*arrs)
    except ValueError:
        raise ConfigError("N1, D1, N2, D2 do not broadcast: " + ", ".join(str(a.shape) for a in arrs)) from None
    scalar = all(np.ndim(v) == 0 for v in (N1, D1, N2, D2))
    p = _col(law_params(fit))
    log1 = np.log(_loss(p, arrs[0], arrs[1]))
    log2 = np.log(_loss(p, arrs[2], arrs[3]))
    if noise:
        sigma = np.asarray(fit.draws(("sigma",))["sigma"], dtype=np.float64)[:, None]
        rng = np.random.default_rng(seed)
        draw = (lambda: rng.standard_normal(log1.shape)) if fit.likelihood.kind == "normal" else (
            lambda: rng.standard_t(fit.likelihood.df, size=log1.shape))
        log1 = log1 + sigma * draw()
        log2 = log2 + sigma * draw()
    out = np.mean(log1 < log2, axis=0)
    return float(out[0]) if scalar else out


# ----------------------------------------------------------------- inference-aware allocation
def _bisect(sign_fn, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Root of an increasing function on [lo, hi] (elementwise), by bisection to float64 resolution."""
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        up = sign_fn(mid) > 0
        hi = np.where(up, mid, hi)
        lo = np.where(up, lo, mid)
    return 0.5 * (lo + hi)


def inference_optimal_draws(params: Mapping, inference_tokens, *, loss=None, budget=None) -> dict[str, np.ndarray]:
    """Per draw, the ``(N, D)`` minimising training plus inference FLOPs (Sardana et al. 2023).

    Training costs ``6 N D`` FLOPs and serving ``T`` inference tokens costs
    ``2 N T``. Give exactly one of

    - ``loss``: minimise ``6 N D + 2 N T`` subject to ``L(N, D) = loss``;
    - ``budget``: minimise ``L(N, D)`` subject to ``6 N D + 2 N T = budget``.

    Both problems are convex in ``log N`` (the cost is a sum of log-convex terms
    along the loss constraint; the loss is convex along the cost constraint), so
    the first-order condition has one root, found per draw by vectorised
    bisection in float64 between closed-form brackets. With ``T = 0`` the answer
    is the Chinchilla frontier (:func:`compute_for_loss_draws`,
    :func:`bayescale.chinchilla_frontier`).

    Parameters
    ----------
    params : mapping
        ``E, A, B, alpha, beta``, arrays of shape ``(S,)``.
    inference_tokens : array_like
        Expected lifetime inference tokens ``T``, shape ``(K,)``; ``0`` allowed.
    loss, budget : float
        The target loss, or the total compute budget in FLOPs.

    Returns
    -------
    dict
        ``N``, ``D``, ``tokens_per_param``, ``training_flops``,
        ``inference_flops``, ``total_flops``, ``loss`` and ``reachable``, each
        ``(S, K)``. In ``loss`` mode a draw with ``E >= loss`` is unreachable
        (``inf`` sizes and compute, ``nan`` tokens per parameter).

    Examples
    --------
    >>> from bayescale.decisions import inference_optimal_draws
    >>> p = dict(E=1.817, A=477.8, B=2143.0, alpha=0.347, beta=0.367)
    >>> out = inference_optimal_draws(p, [0.0, 1e13], loss=2.0)
    >>> [f"{x:.3g}" for x in out["N"][0]], bool(out["total_flops"][0, 1] > out["total_flops"][0, 0])
    (['4.78e+10', '2.04e+10'], True)
    """
    if (loss is None) == (budget is None):
        raise ConfigError("give exactly one of loss= (a target loss) or budget= (total FLOPs for training + inference)")
    p = _col(_as_params(params))
    T = _nonnegative("inference_tokens", inference_tokens)[None, :]
    alpha, beta, A, B, E = p["alpha"], p["beta"], p["A"], p["B"], p["E"]
    shape = np.broadcast_shapes(E.shape, T.shape)
    zeros = np.zeros(shape)
    if loss is not None:
        ell = _positive("loss", loss)
        if ell.size != 1:
            raise ConfigError(f"loss must be one target loss, got {ell.size}; loop over targets")
        K = ell[0] - E + zeros
        ok = K > 0
        Ks = np.where(ok, K, 1.0)
        # Bracket in u = log N: N_min (D -> inf) and the Chinchilla optimum N* (T = 0).
        u_lo = np.log(A / Ks) / alpha + zeros
        u_hi = np.log(A * (alpha + beta) / (Ks * beta)) / alpha + zeros
        logT = np.log(np.where(T > 0, T, 1.0)) + zeros

        def logD_of(u):
            s = A * np.exp(-alpha * u)
            return (np.log(B) - np.log(np.maximum(Ks - s, 1e-300))) / beta, s

        def slope_sign(u):
            # d cost / d log N is 6 N D (1 - alpha s / (beta (K - s))) + 2 N T, increasing in u;
            # it is > 0 exactly when 3 D (alpha s / (beta (K - s)) - 1) < T.
            logD, s = logD_of(u)
            g = alpha * s / (beta * np.maximum(Ks - s, 1e-300)) - 1.0
            with np.errstate(divide="ignore"):
                lhs = np.log(3.0) + logD + np.log(np.maximum(g, 0.0))
            return np.where(g <= 0, 1.0, np.where(T > 0, logT - lhs, -1.0))

        u = np.where(T > 0, _bisect(slope_sign, u_lo, u_hi), u_hi)
        logD, _ = logD_of(u)
        N = np.where(ok, np.exp(u), np.inf)
        D = np.where(ok, np.exp(logD), np.inf)
        train = np.where(ok, FLOPS_PER_PARAM_TOKEN * np.exp(u + logD), np.inf)
        infer = np.where(ok, INFERENCE_FLOPS_PER_PARAM_TOKEN * np.exp(u) * T, np.inf)
        L = np.where(ok, ell[0], np.nan) + zeros
    else:
        Cb = _positive("budget", budget)
        if Cb.size != 1:
            raise ConfigError(f"budget must be one total compute budget, got {Cb.size}; loop over budgets")
        Cb = float(Cb[0])
        logC6 = np.log(Cb / FLOPS_PER_PARAM_TOKEN)
        s_ab = alpha + beta
        u_chin = (np.log(alpha * A) - np.log(beta * B)) / s_ab + beta / s_ab * logC6 + zeros
        with np.errstate(divide="ignore"):
            u_cap = np.where(T > 0, np.log(Cb / (INFERENCE_FLOPS_PER_PARAM_TOKEN * np.where(T > 0, T, 1.0))), np.inf)
        u_hi = np.minimum(u_chin, u_cap)
        u_lo = u_hi - 80.0 / alpha

        def logD_b(u):
            return np.log(np.maximum(Cb * np.exp(-u) - INFERENCE_FLOPS_PER_PARAM_TOKEN * T, 1e-300)) - np.log(
                FLOPS_PER_PARAM_TOKEN)

        def slope_sign(u):
            # dL/dlog N = -alpha A N^-alpha + beta B D^-beta C / (6 N D), increasing in u.
            logD = logD_b(u)
            rhs = np.log(beta * B) - beta * logD + np.log(Cb) - np.log(FLOPS_PER_PARAM_TOKEN) - u - logD
            return rhs - (np.log(alpha * A) - alpha * u)

        u = np.where(T > 0, _bisect(slope_sign, u_lo, u_hi), u_chin)
        logD = logD_b(u)
        N, D = np.exp(u), np.exp(logD)
        train = FLOPS_PER_PARAM_TOKEN * N * D
        infer = INFERENCE_FLOPS_PER_PARAM_TOKEN * N * T
        L = _loss(p, N, D)
        ok = np.ones(shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        tpp = np.where(ok, D / N, np.nan)
    return {
        "N": N, "D": D, "tokens_per_param": tpp, "training_flops": train, "inference_flops": infer,
        "total_flops": train + infer, "loss": L, "reachable": ok,
    }


def inference_optimal(fit, inference_tokens, *, loss=None, budget=None, prob: float = 0.9):
    """Inference-aware compute-optimal allocation (Sardana et al. 2023), with its posterior.

    One row per value of ``inference_tokens``. With ``loss=`` the columns are the
    ``N``, ``D``, tokens per parameter and training / inference / total FLOPs of
    the cheapest way to reach that loss and then serve the tokens, plus
    ``chinchilla_total_flops_*`` (the total if one trained the Chinchilla-optimal
    model for that loss instead) and ``saving_*`` (the fraction of total FLOPs the
    inference-aware choice saves, per draw). ``p_reachable`` is the posterior
    probability that ``E < loss``; unreachable draws count as infinite compute.
    With ``budget=`` (total FLOPs) the columns are ``N``, ``D``, tokens per
    parameter and the ``loss`` reached.

    Examples
    --------
    >>> import bayescale as bs
    >>> fit = bs.fit(bs.datasets.example(), seed=0, num_warmup=500, num_samples=500)
    >>> t = bs.inference_optimal(fit, [0.0, 2e12], loss=2.0)
    >>> bool(t.N_median.iloc[1] < t.N_median.iloc[0]), bool(t.saving_median.iloc[1] > 0)
    (True, True)
    """
    import pandas as pd

    prob = _check_prob(prob)
    T = _nonnegative("inference_tokens", inference_tokens)
    params = law_params(fit)
    out = inference_optimal_draws(params, T, loss=loss, budget=budget)
    cols: dict = {}
    if loss is not None:
        cols["p_reachable"] = out["reachable"].mean(axis=0)
    names = ["N", "D", "tokens_per_param"]
    names += ["training_flops", "inference_flops", "total_flops"] if loss is not None else ["loss"]
    for q in names:
        _summarise(cols, q, out[q], prob)
    if loss is not None:
        chin = compute_for_loss_draws(params, loss)
        chin_total = chin["C"] + INFERENCE_FLOPS_PER_PARAM_TOKEN * chin["N_opt"] * T[None, :]
        _summarise(cols, "chinchilla_total_flops", chin_total, prob)
        with np.errstate(invalid="ignore"):
            saving = np.where(out["reachable"], 1.0 - out["total_flops"] / chin_total, np.nan)
        _summarise(cols, "saving", saving, prob)
    return pd.DataFrame(cols, index=pd.Index(T, name="inference_tokens"))
