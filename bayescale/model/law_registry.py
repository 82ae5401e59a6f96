"""The law registry (``bs.laws``): every built-in law by name, and the functions behind them.

``bs.fit(data, law="kaplan")`` looks the name up in :data:`LAWS`; a
:class:`~bayescale.model.law.Law` object (built-in or from :func:`custom_law`)
passes through :func:`get_law` unchanged. A new law is one module beside this one
(its pure ``log_loss`` and a ``Law``) plus one line in the registry below.

Examples
--------
>>> import bayescale as bs
>>> sorted(bs.LAWS)[:3]
['broken_power_law', 'broken_power_law_D', 'broken_power_law_N']
>>> bs.laws.get_law("kaplan").has_frontier
True
"""

from __future__ import annotations

from bayescale.errors import ConfigError
from bayescale.model.chinchilla import (
    CHINCHILLA,
    ChinchillaParams,
    chinchilla_compute_for_loss,
    chinchilla_frontier,
    chinchilla_log_loss,
    chinchilla_loss,
)
from bayescale.model.custom import custom_law
from bayescale.model.law import COVARIATES, Law, covariate_values
from bayescale.model.law_families import (
    BROKEN_POWER_LAW,
    DATA_CONSTRAINED,
    KAPLAN,
    POWER_LAW,
    broken_power_law,
    broken_power_law_log_loss,
    data_constrained_log_loss,
    kaplan_log_loss,
    power_law,
    power_law_log_loss,
)

__all__ = [
    "Law",
    "LAWS",
    "get_law",
    "COVARIATES",
    "covariate_values",
    "CHINCHILLA",
    "ChinchillaParams",
    "chinchilla_log_loss",
    "chinchilla_loss",
    "chinchilla_frontier",
    "chinchilla_compute_for_loss",
    "custom_law",
    "POWER_LAW",
    "power_law",
    "power_law_log_loss",
    "KAPLAN",
    "kaplan_log_loss",
    "DATA_CONSTRAINED",
    "data_constrained_log_loss",
    "BROKEN_POWER_LAW",
    "broken_power_law",
    "broken_power_law_log_loss",
]

#: Laws available by name in ``bs.fit(data, law=...)``.
LAWS: dict[str, Law] = {
    law.name: law
    for law in (
        CHINCHILLA,
        POWER_LAW, power_law("N"), power_law("D"),
        KAPLAN,
        DATA_CONSTRAINED,
        BROKEN_POWER_LAW, broken_power_law("N"), broken_power_law("D"),
    )
}


def get_law(law: str | Law) -> Law:
    """Look a law up by name (or pass a :class:`Law` through)."""
    if isinstance(law, Law):
        return law
    if isinstance(law, str) and law in LAWS:
        return LAWS[law]
    raise ConfigError(
        f"unknown law {law!r}; choose one of {sorted(LAWS)}, or build one with bayescale.custom_law(fn, priors=...)"
    )
