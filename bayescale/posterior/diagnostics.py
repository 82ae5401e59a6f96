"""Convergence diagnostics on a fit, computed by ArviZ and reported with numbers."""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Mapping

from bayescale.errors import ConvergenceWarning

__all__ = ["Diagnostics", "RHAT_MAX", "ESS_MIN"]

#: Largest acceptable rank-normalised split R-hat (Vehtari et al. 2021).
RHAT_MAX = 1.01
#: Smallest acceptable bulk effective sample size for a law parameter.
ESS_MIN = 400


@dataclasses.dataclass(frozen=True)
class Diagnostics:
    """Sampler health for the law's parameters.

    Attributes
    ----------
    n_divergent : int
        Divergent transitions after warmup, all chains together.
    n_draws : int
        Post-warmup draws, all chains together.
    rhat, ess_bulk : dict
        Per law parameter (ArviZ ``rhat`` and bulk ``ess``).
    mean_steps : float
        Mean leapfrog steps per draw.
    problems : tuple of str
        One sentence per failed check; empty when the fit looks converged.
    """

    n_divergent: int
    n_draws: int
    rhat: Mapping[str, float]
    ess_bulk: Mapping[str, float]
    mean_steps: float
    problems: tuple[str, ...]

    @property
    def converged(self) -> bool:
        return not self.problems

    @property
    def chains_agree(self) -> bool:
        """Whether every R-hat is defined and at most ``RHAT_MAX`` (divergences and ESS aside): a chain stuck
        where the others are not fails this."""
        return all(not math.isnan(v) and v <= RHAT_MAX for v in self.rhat.values())

    @classmethod
    def from_numbers(
        cls, *, n_divergent: int, n_draws: int, rhat: Mapping[str, float], ess_bulk: Mapping[str, float], mean_steps: float
    ) -> "Diagnostics":
        problems = []
        if n_divergent > 0:
            problems.append(
                f"{n_divergent} of {n_draws} draws diverged ({100 * n_divergent / n_draws:.2g}%): the posterior "
                "may be biased; raise target_accept (e.g. 0.95) or check the priors"
            )
        bad_rhat = {k: v for k, v in rhat.items() if not math.isnan(v) and not v <= RHAT_MAX}  # inf fails too
        if bad_rhat:
            problems.append(
                "R-hat above "
                f"{RHAT_MAX}: " + ", ".join(f"{k}={v:.3f}" for k, v in bad_rhat.items())
                + "; chains disagree: run longer (num_warmup, num_samples) or check for multimodality"
            )
        no_rhat = [k for k, v in rhat.items() if math.isnan(v)]
        if no_rhat:  # a fit that cannot be diagnosed is not converged
            problems.append(
                f"R-hat undefined (nan) for {', '.join(no_rhat)}: it needs at least 2 chains with draws that vary; "
                "run num_chains >= 2"
            )
        low_ess = {k: v for k, v in ess_bulk.items() if not v >= ESS_MIN}
        if low_ess:
            problems.append(
                f"bulk ESS below {ESS_MIN}: " + ", ".join(f"{k}={v:.0f}" for k, v in low_ess.items())
                + "; draw more samples (num_samples) before trusting intervals"
            )
        return cls(
            n_divergent=int(n_divergent),
            n_draws=int(n_draws),
            rhat=dict(rhat),
            ess_bulk=dict(ess_bulk),
            mean_steps=float(mean_steps),
            problems=tuple(problems),
        )

    def warn(self, stacklevel: int = 3, note: str = "") -> None:
        """Emit one :class:`~bayescale.errors.ConvergenceWarning` listing every problem (and ``note``, e.g.
        what was tried already)."""
        if self.problems:
            message = "sampler did not converge: " + " | ".join(self.problems) + (f" ({note})" if note else "")
            warnings.warn(message, ConvergenceWarning, stacklevel=stacklevel)

    def __str__(self) -> str:
        lines = [
            f"divergences: {self.n_divergent} / {self.n_draws}; mean leapfrog steps per draw: {self.mean_steps:.1f}",
            "R-hat:    " + "  ".join(f"{k}={v:.3f}" for k, v in self.rhat.items()),
            "bulk ESS: " + "  ".join(f"{k}={v:.0f}" for k, v in self.ess_bulk.items()),
        ]
        lines.append("status: " + ("converged" if self.converged else "NOT converged: " + " | ".join(self.problems)))
        return "\n".join(lines)
