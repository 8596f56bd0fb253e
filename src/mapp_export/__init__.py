"""mapp-export: many Mapp Intelligence analysis queries into one Excel workbook.

The public API is what a script needs to run a manifest without the command
line::

    plan = load_plan(Path("nightly.yaml"))
    outcome = anyio.run(run_plan, plan, load_credentials())
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from mapp_export.errors import (
    ApiError,
    AuthenticationError,
    CalculationFailedError,
    CalculationNotFoundError,
    CredentialsError,
    ManifestError,
    MappExportError,
    QueryRejectedError,
    QueryTimeoutError,
    TokenRejectedError,
    TransientApiError,
    UntrustedHostError,
    WorkbookError,
)
from mapp_export.manifest import Plan, PollSettings, QueryPlan, load_plan
from mapp_export.outcome import ExitCode, RunOutcome
from mapp_export.records import QueryRecord, QueryState, RunFacts, SheetFacts
from mapp_export.runner import RunOptions, run_plan
from mapp_export.settings import ApiSettings, Credentials, Overrides, load_credentials

try:
    __version__ = version("mapp-export")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0.0.0"

__all__ = [
    "ApiError",
    "ApiSettings",
    "AuthenticationError",
    "CalculationFailedError",
    "CalculationNotFoundError",
    "Credentials",
    "CredentialsError",
    "ExitCode",
    "ManifestError",
    "MappExportError",
    "Overrides",
    "Plan",
    "PollSettings",
    "QueryPlan",
    "QueryRecord",
    "QueryRejectedError",
    "QueryState",
    "QueryTimeoutError",
    "RunFacts",
    "RunOptions",
    "RunOutcome",
    "SheetFacts",
    "TokenRejectedError",
    "TransientApiError",
    "UntrustedHostError",
    "WorkbookError",
    "__version__",
    "load_credentials",
    "load_plan",
    "run_plan",
]
