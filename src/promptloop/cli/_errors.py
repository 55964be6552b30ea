"""How the CLI fails: one exception type, two exit codes.

    exit 2  bad input: an option value, a store URL, a statement ``sql`` refuses
    exit 1  the work failed: the collector answered with an error, the store failed

Command code raises :class:`CliError` (or lets a :class:`~promptloop.exceptions.PromptloopError`
through); the root command group turns it into one line on stderr and the exit code.
"""

from __future__ import annotations

from promptloop.exceptions import (
    ClientError,
    ConfigError,
    PromptloopError,
    StoreError,
    StoreLockedError,
)

EXIT_FAILURE = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A failure the CLI reports as one line and an exit code."""

    def __init__(
        self, message: str, *, exit_code: int = EXIT_FAILURE, option: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.option = option

    @property
    def unattributed(self) -> bool:
        """Bad input the collector or the registry reported without saying which option."""
        return self.exit_code == EXIT_USAGE and self.option is None


def usage_error(option: str, message: str) -> CliError:
    """Bad input for one option: exit code 2, the option named first."""
    return CliError(f"{option}: {message}", exit_code=EXIT_USAGE, option=option)


def as_cli_error(exc: PromptloopError) -> CliError:
    """Convert promptloop's own errors at the CLI boundary."""
    if isinstance(exc, ConfigError):
        return usage_error("--store", str(exc))
    if isinstance(exc, StoreLockedError):
        return CliError(str(exc), exit_code=EXIT_USAGE)
    if isinstance(exc, ClientError):
        return CliError(str(exc))
    if isinstance(exc, StoreError):
        return CliError(f"store error: {exc}")
    return CliError(str(exc))
