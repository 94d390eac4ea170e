"""The one error hierarchy. Every error a user may see is an AdvisorError.

The CLI turns these into ``Error: <message>`` and an exit code; the dashboard into ``st.error``.
Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_BAD_INPUT = 1
EXIT_NO_CANDIDATE = 3
EXIT_RUN_FAILED = 4


class AdvisorError(Exception):
    """Base class: a problem the user can fix. The message names the problem and the fix.

    ``reason`` (an ``advisor.records.Reason``), when given, carries the figures so that each front
    end can word the problem in its own idiom (a CLI flag, a dashboard widget); the message is the
    plain wording for everything else."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str = "", *, reason: object | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class BadInputError(AdvisorError):
    """A value typed by the user (a size, a number, an option) is malformed or out of range."""


class UnknownIdError(AdvisorError):
    """An id (model, quantization, device) that is not in the catalog."""


class DataFileError(AdvisorError):
    """A catalog, profile or requirements file is missing, unreadable or malformed."""


class NothingFitsError(AdvisorError):
    """No candidate satisfies the constraints. Distinct exit code so scripts can tell."""

    exit_code = EXIT_NO_CANDIDATE


class MissingDependencyError(AdvisorError):
    """An optional extra is not installed; the message names the pip command."""


class OutputExistsError(BadInputError):
    """A file the command would write exists already (and --force was not given)."""


class RunError(AdvisorError):
    """A measurement run crashed, timed out or was refused."""

    exit_code = EXIT_RUN_FAILED


def missing_extra(package: str, extra: str) -> MissingDependencyError:
    return MissingDependencyError(
        f"{package} is not installed; install it with: pip install 'edge-model-advisor[{extra}]'"
    )
