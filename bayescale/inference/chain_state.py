"""A NUTS chain's state between programs: NumPyro's ``HMCState`` as plain tuples and back, and what each
transition records.

The sampler program returns every chain's final state (for :func:`~bayescale.inference.nuts.get_extender`);
as NumPyro's namedtuples its output tree named NumPyro's classes, so a process loading the stored program
from the executable cache imported NumPyro (0.4 s) only to unpickle that tree.
"""

from __future__ import annotations

__all__ = ["plain_chain", "hmc_state", "nuts_stats"]


def plain_chain(chain) -> tuple:
    """NumPyro's chain state (an ``HMCState`` holding an ``HMCAdaptState``) as plain tuples: the sampler
    program's outputs then name no NumPyro class, and loading the stored program imports no NumPyro (0.4 s)."""
    return tuple(chain._replace(adapt_state=tuple(chain.adapt_state)))


def hmc_state(plain: tuple):
    """The ``HMCState`` of :func:`plain_chain`'s tuples."""
    from numpyro.infer.hmc import HMCState
    from numpyro.infer.hmc_util import HMCAdaptState

    state = HMCState(*plain)
    return state._replace(adapt_state=HMCAdaptState(*state.adapt_state))


def nuts_stats(state) -> dict:
    """What each NUTS transition records (its ``sample_stats``)."""
    return {
        "diverging": state.diverging,
        "n_steps": state.num_steps,
        "acceptance_rate": state.mean_accept_prob,
        "lp": -state.potential_energy,
        "energy": state.energy,
        "step_size": state.adapt_state.step_size,
    }
