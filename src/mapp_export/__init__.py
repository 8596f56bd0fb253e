"""mapp-export: many Mapp Intelligence analysis queries into one Excel workbook.

The public API is what a script needs to run a manifest without the command
line (each name is imported on first use)::

    plan = load_plan(Path("nightly.yaml"))
    outcome = anyio.run(run_plan, plan, load_credentials())
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from mapp_export.settings import (
        ApiSettings,
        Credentials,
        Overrides,
        load_credentials,
    )

_EXPORTS = {
    "ApiError": "mapp_export.errors",
    "ApiSettings": "mapp_export.settings",
    "AuthenticationError": "mapp_export.errors",
    "CalculationFailedError": "mapp_export.errors",
    "CalculationNotFoundError": "mapp_export.errors",
    "Credentials": "mapp_export.settings",
    "CredentialsError": "mapp_export.errors",
    "ExitCode": "mapp_export.outcome",
    "ManifestError": "mapp_export.errors",
    "MappExportError": "mapp_export.errors",
    "Overrides": "mapp_export.settings",
    "Plan": "mapp_export.manifest",
    "PollSettings": "mapp_export.manifest",
    "QueryPlan": "mapp_export.manifest",
    "QueryRecord": "mapp_export.records",
    "QueryRejectedError": "mapp_export.errors",
    "QueryState": "mapp_export.records",
    "QueryTimeoutError": "mapp_export.errors",
    "RunFacts": "mapp_export.records",
    "RunOptions": "mapp_export.runner",
    "RunOutcome": "mapp_export.outcome",
    "SheetFacts": "mapp_export.records",
    "TokenRejectedError": "mapp_export.errors",
    "TransientApiError": "mapp_export.errors",
    "UntrustedHostError": "mapp_export.errors",
    "WorkbookError": "mapp_export.errors",
    "load_credentials": "mapp_export.settings",
    "load_plan": "mapp_export.manifest",
    "run_plan": "mapp_export.runner",
}
"""Where each public name lives; imported on first use (see :func:`__getattr__`)."""

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


def __getattr__(name: str) -> Any:
    """Import a public name's module when the name is first used.

    Importing the package stays cheap, so the command line can set up its
    signal handling before the heavy modules load.
    """
    if name == "__version__":
        return _version()

    module_name = _EXPORTS.get(name)
    if module_name is None:
        message = f"module 'mapp_export' has no attribute {name!r}"
        raise AttributeError(message)

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def _version() -> str:
    """Return the installed distribution's version, looked up on first use."""
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        found = version("mapp-export")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        found = "0.0.0"
    globals()["__version__"] = found
    return found
