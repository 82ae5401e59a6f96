"""Exceptions and warnings raised by bayescale.

Every mistake a user can make at the public boundary has its own exception type, a
subclass of :class:`ValueError`, so that ``except ValueError`` still works and
``pytest.raises(SpecificError)`` can tell them apart. Messages name the bad value
and the fix.
"""

from __future__ import annotations

__all__ = [
    "BayescaleError",
    "DataError",
    "NonFiniteError",
    "NonPositiveError",
    "NonNumericError",
    "LengthMismatchError",
    "TooFewPointsError",
    "TooFewDistinctValuesError",
    "MissingColumnError",
    "DuplicateRowsError",
    "ComputeMismatchError",
    "BatchError",
    "UniqueTokensError",
    "PriorError",
    "ConfigError",
    "DatasetError",
    "FileFormatError",
    "CutoffError",
    "MissingDependencyError",
    "ComparisonError",
    "LawCapabilityError",
    "BayescaleWarning",
    "ParetoKWarning",
    "DeviceWarning",
    "CacheWarning",
    "ConvergenceWarning",
    "ExtrapolationWarning",
    "DataWarning",
]


class BayescaleError(Exception):
    """Base class of every error bayescale raises on purpose."""


class DataError(BayescaleError, ValueError):
    """The scaling data cannot be fitted as given."""


class MissingColumnError(DataError, KeyError):
    """A column named by the user is not in the table."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class NonNumericError(DataError):
    """A column holds values that are not numbers."""


class NonFiniteError(DataError):
    """A column holds NaN or infinite values."""


class NonPositiveError(DataError):
    """A column holds zero or negative values where only positive ones make sense."""


class LengthMismatchError(DataError):
    """Columns have different lengths."""


class TooFewPointsError(DataError):
    """Fewer observations than the law has parameters plus two."""


class TooFewDistinctValuesError(DataError):
    """N or D takes a single value, so its exponent cannot be identified."""


class DuplicateRowsError(DataError):
    """Identical (N, D, loss) rows, usually a copy-paste or join mistake."""


class ComputeMismatchError(DataError):
    """A compute column disagrees with C = 6 N D."""


class BatchError(DataError):
    """Datasets given to :func:`bayescale.fit_many` cannot be fitted together (e.g. different lengths)."""


class UniqueTokensError(DataError):
    """Unique tokens exceed the tokens trained on."""


class PriorError(BayescaleError, ValueError):
    """A prior is malformed or names a parameter the law does not have."""


class ConfigError(BayescaleError, ValueError):
    """A sampler or fit setting is out of range."""


class DatasetError(BayescaleError, RuntimeError):
    """A built-in dataset could not be found, downloaded or verified."""


class FileFormatError(BayescaleError, ValueError):
    """A file is not a bayescale fit, is truncated, or comes from an incompatible version."""


class CutoffError(ConfigError):
    """A backtest cutoff leaves too few runs below it to fit, or none above it to score."""


class MissingDependencyError(BayescaleError, ImportError):
    """An optional dependency (e.g. matplotlib for plots) is not installed; the message names the extra."""


class ComparisonError(BayescaleError, ValueError):
    """Fits cannot be compared (different data, too few fits, no pointwise log-likelihood)."""


class LawCapabilityError(ConfigError):
    """A law was asked for something it cannot answer (e.g. a frontier from a one-variable law)."""


class BayescaleWarning(UserWarning):
    """Base class of bayescale's warnings."""


class ConvergenceWarning(BayescaleWarning):
    """The sampler shows signs of not having converged (divergences, R-hat, low ESS)."""


class ExtrapolationWarning(BayescaleWarning):
    """A forecast reaches far beyond the compute range of the data."""


class DataWarning(BayescaleWarning):
    """The data look suspicious but can still be fitted (e.g. N and D swapped)."""


class ParetoKWarning(BayescaleWarning):
    """PSIS-LOO is unreliable for some points (Pareto k above ArviZ's threshold)."""


class DeviceWarning(BayescaleWarning):
    """bayescale could not give JAX one CPU device per core (JAX was started first); fits run slower."""


class CacheWarning(BayescaleWarning):
    """A stored compiled program was stale or damaged: it was deleted and the program compiled again."""
