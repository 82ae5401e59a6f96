"""Sampler settings: :class:`SamplerConfig`, validated on construction."""

from __future__ import annotations

import dataclasses
import os
import sys

import numpy as np

from bayescale.errors import ConfigError

__all__ = ["SamplerConfig", "CHAIN_METHODS"]

#: How chains share the devices (``SamplerConfig.chain_method``).
CHAIN_METHODS = ("auto", "vectorized", "mapped")


def _default_progress_bar() -> bool:
    """On a terminal, never under CI, and not while compiled programs are kept on disk: a program with a progress
    bar calls back into Python and cannot be stored (:mod:`bayescale.inference.executable_cache`), so every
    process would compile it again (most of a second run's time)."""
    from bayescale.inference.executable_cache import cache_dir

    return sys.stderr.isatty() and not os.environ.get("CI") and cache_dir() is None


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """NUTS settings. All keyword-only and validated.

    Parameters
    ----------
    num_chains, num_warmup, num_samples : int
        Chains, warmup iterations and kept draws per chain (default 4 x (1000 + 1000)).
    target_accept : float
        Target mean acceptance probability of the step-size adaptation, in (0, 1).
    max_tree_depth : int
        NUTS tree depth limit (at most ``2**max_tree_depth`` leapfrog steps per draw).
    dense_mass : bool
        Adapt a dense inverse mass matrix (default) or a diagonal one.
    map_steps : int
        L-BFGS iterations for each chain's starting point (0 starts from a prior draw).
    progress_bar : bool or None
        ``None`` shows one on a terminal, never under CI, and not while the executable cache is on
        (a program with a progress bar cannot be kept on disk: ``BAYESCALE_NO_COMPILE_CACHE=1`` or
        ``progress_bar=True`` bring it back).
    chain_method : {"auto", "vectorized", "mapped"}
        How a fit's chains share the devices: ``"mapped"`` runs them one after another on each
        device (``lax.map``), split across the host devices (one per CPU core); ``"vectorized"``
        runs them side by side (``vmap``), which is what a GPU or TPU is for. ``"auto"`` (default):
        vectorized on an accelerator, mapped on CPU. Either is the same posterior.
    whiten : bool
        Run NUTS in coordinates whitened by each chain's Laplace approximation (default); off, NUTS
        adapts in the sampler's coordinates, starting from the Laplace covariance. (Hierarchical models
        whiten too: they start at a mode of their own coordinates, :mod:`bayescale.model.group_coords`.)
    """

    num_chains: int = 4
    num_warmup: int = 1000
    num_samples: int = 1000
    target_accept: float = 0.9
    max_tree_depth: int = 10
    dense_mass: bool = True
    map_steps: int = 100
    progress_bar: bool | None = None
    chain_method: str = "auto"
    whiten: bool = True

    def __post_init__(self) -> None:
        for name in ("num_chains", "num_samples"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")
        for name in ("num_warmup", "map_steps"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"{name} must be a non-negative integer, got {v!r}")
        if not (isinstance(self.target_accept, (float, int)) and 0.0 < float(self.target_accept) < 1.0):
            raise ConfigError(f"target_accept must be in (0, 1), e.g. 0.8 or 0.95; got {self.target_accept!r}")
        if self.chain_method not in CHAIN_METHODS:
            raise ConfigError(f"chain_method must be one of {CHAIN_METHODS}, got {self.chain_method!r}")
        if not isinstance(self.max_tree_depth, (int, np.integer)) or not 1 <= self.max_tree_depth <= 15:
            raise ConfigError(f"max_tree_depth must be an integer in [1, 15], got {self.max_tree_depth!r}")
        for name in ("dense_mass", "whiten"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ConfigError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.progress_bar is not None and not isinstance(self.progress_bar, (bool, np.bool_)):
            raise ConfigError(f"progress_bar must be True, False or None (on a terminal, never under CI); got "
                              f"{self.progress_bar!r}")
        if self.progress_bar is None:
            object.__setattr__(self, "progress_bar", _default_progress_bar())

    def program_key(self) -> tuple:
        """What changes the NUTS programs: every setting but ``target_accept``, which NUTS takes as an argument
        (so a refit after divergences at a higher ``target_accept`` compiles nothing)."""
        return (self.num_chains, self.num_warmup, self.num_samples, self.max_tree_depth, self.dense_mass,
                self.map_steps, bool(self.progress_bar), self.chain_method, self.whiten)

    def compile_key(self) -> tuple:
        """Every setting that changes a program that bakes ``target_accept`` in (ChEES's)."""
        return (*self.program_key(), float(self.target_accept))

    def vectorized_chains(self) -> bool:
        """Whether the chains run side by side (``vmap``): ``chain_method``, with ``"auto"`` resolved by the
        default JAX backend (vectorized on GPU and TPU, mapped on CPU)."""
        import jax

        if self.chain_method == "auto":
            return jax.default_backend() not in ("cpu",)
        return self.chain_method == "vectorized"
