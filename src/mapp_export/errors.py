"""The exceptions mapp-export raises, all rooted in one base class.

The tree::

    MappExportError
    ├── ManifestError              the manifest cannot be run as written
    ├── CredentialsError           no client id or secret could be found
    ├── ApiError                   Mapp's API answered in a way that ends an action
    │   ├── AuthenticationError    the token endpoint refused the credentials
    │   ├── TokenRejectedError     the API refused a token that was just issued
    │   ├── QueryRejectedError     the API said the query itself is wrong (422)
    │   ├── CalculationFailedError the calculation ended FAILED or ABORTED
    │   ├── CalculationNotFoundError  the API does not know the calculation (404)
    │   ├── UntrustedHostError     a URL names a host the token must not go to
    │   ├── ResultFormatError      a result body is not a valid analysis result
    │   └── TransientApiError      the API or the network failed and may recover
    ├── QueryTimeoutError          a calculation ran past its deadline
    ├── AllowanceError             the month's allowance cannot cover the run
    ├── ExpectationError           a result fell short of the query's expect: settings
    ├── RunLockedError             another run is writing the same output
    └── WorkbookError              the workbook could not be written

Every message says what happened and, where the user can do something about it,
what to do.
"""

from __future__ import annotations

from pathlib import Path


class MappExportError(Exception):
    """Base class of every error mapp-export raises on purpose."""


class ManifestError(MappExportError):
    """The manifest, or a setting that overrides it, cannot be run as written.

    ``path`` names where the setting was written: the manifest file, a query
    file, or a label such as ``--base-url`` for the command line. Further
    problems found in the same check ride along in ``others``.
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.reason = message
        self.hint = hint
        self.others: tuple[ManifestError, ...] = ()
        super().__init__(self.render())

    def __str__(self) -> str:
        """Render this problem and every further one, a line each."""
        return "\n".join(problem.render() for problem in (self, *self.others))

    def render(self) -> str:
        """Render this one problem as ``file:line:column: reason (hint)``."""
        where = str(self.path) if self.path is not None else "manifest"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"

        text = f"{where}: {self.reason}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class CredentialsError(MappExportError):
    """No client id or client secret could be found."""


class ApiError(MappExportError):
    """Mapp's API answered in a way that ends an action."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: str | None = None,
    ) -> None:
        self.status = status
        self.url = url
        super().__init__(message)


class AuthenticationError(ApiError):
    """The token endpoint refused the client credentials."""


class TokenRejectedError(ApiError):
    """The API refused a token that had just been issued."""


class QueryRejectedError(ApiError):
    """The API said the query itself is wrong; sending it again will not help."""


class CalculationFailedError(ApiError):
    """The calculation ended with status FAILED or ABORTED."""


class CalculationNotFoundError(ApiError):
    """The API does not know the calculation (HTTP 404)."""


class UntrustedHostError(ApiError):
    """A URL names a host that the bearer token must not be sent to."""


class ResultFormatError(ApiError):
    """A result body is not a valid analysis result (not JSON, no headers, ...)."""


class TransientApiError(ApiError):
    """The API or the network failed in a way that may recover by itself."""


class QueryTimeoutError(MappExportError, TimeoutError):
    """A calculation did not reach a final status before its deadline."""


class ExpectationError(MappExportError):
    """A result fell short of what the query's ``expect:`` settings ask for."""


class AllowanceError(MappExportError):
    """The month's remaining calculations cannot cover the run."""


class RunLockedError(MappExportError):
    """Another run of mapp-export is writing the same output right now.

    ``holder`` describes that run (its process id, host and start), as its
    lock file says, when the file could be read.
    """

    def __init__(self, message: str, *, holder: str | None = None) -> None:
        self.holder = holder
        super().__init__(message)


class WorkbookError(MappExportError, OSError):
    """The workbook could not be written."""
