"""One exception hierarchy for every error the project raises on purpose.

Messages name the field, the bad value and what is allowed, so a user can fix the input
without reading the code.
"""


class MMMBenchmarkError(ValueError):
    """Base of every deliberate error in mmm_param_recovery."""


class ConfigError(MMMBenchmarkError):
    """An invalid generator config, preset name or override."""


class DatasetFormatError(MMMBenchmarkError):
    """A dataset or truth file (or frame) that breaks the documented format."""


class FitSpecError(MMMBenchmarkError):
    """A fit request that cannot run: bad fitter, settings, or a dataset it cannot take."""


class CoordinateMismatchError(MMMBenchmarkError):
    """A posterior and a truth (or two arrays) on different coordinates."""


class StorageError(MMMBenchmarkError):
    """A stored result that is missing, incomplete, or does not match its spec hash."""


def invalid(
    field: str, value: object, allowed: str, error: type[MMMBenchmarkError] = MMMBenchmarkError
) -> MMMBenchmarkError:
    """The error to raise for a bad ``value`` of ``field``: ``"{field}: {value!r} is
    invalid; allowed: {allowed}"`` as an instance of ``error``."""
    return error(f"{field}: {value!r} is invalid; allowed: {allowed}")
