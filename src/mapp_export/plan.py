"""The run plan: every query resolved, dated and ready to send.

:func:`mapp_export.manifest.load_plan` builds a :class:`Plan` from a manifest;
the runner, ``validate`` and the tests read it. Nothing here talks to the
network or reads files.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from mapp_export.backoff import RetryPolicy
from mapp_export.dates import DateRange
from mapp_export.settings import ApiSettings
from mapp_export.workbook import SheetOptions

FINGERPRINT_LENGTH = 12
"""How many hex digits of a body's SHA-256 the plan shows."""


def canonical_json(value: Any) -> str:
    """Return the one text of a JSON value: sorted keys, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(body: Any) -> str:
    """Return the first hex digits of the SHA-256 of ``body``'s canonical JSON."""
    digest = hashlib.sha256(canonical_json(body).encode()).hexdigest()
    return digest[:FINGERPRINT_LENGTH]


@dataclass(frozen=True)
class PollSettings:
    """Backoff bounds while a calculation runs, and its deadline, in seconds."""

    initial: float = 1.0
    max_interval: float = 30.0
    timeout: float = 1800.0


@dataclass(frozen=True)
class ReportPlan:
    """A saved Mapp report to calculate in place of a single query."""

    report_id: int
    element_ids: tuple[int, ...] = ()
    """The elements asked for, in order; empty means every element of the report."""


@dataclass(frozen=True)
class QueryPlan:
    """One query ready to run: its body, sheet title and settings.

    For a saved report, ``body`` is the ``POST /report-query`` request and
    ``report`` says which report; its elements become sheets of their own.
    """

    index: int
    name: str
    sheet_title: str
    body: dict[str, Any]
    poll: PollSettings
    sheet_options: SheetOptions
    line: int | None = None
    time_range: DateRange | None = None
    min_rows: int | None = None
    report: ReportPlan | None = None

    @property
    def fingerprint(self) -> str:
        """The short SHA-256 of the body as sent; equal bodies share one."""
        return fingerprint(self.body)


@dataclass(frozen=True)
class Plan:
    """Everything a run needs, resolved from the manifest and its overrides."""

    manifest_path: Path
    api: ApiSettings
    output: Path
    concurrency: int
    queries: tuple[QueryPlan, ...]
    run_date: date | None = None
    timezone: ZoneInfo | None = None
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    run_timeout: float | None = None
    left_out: tuple[QueryPlan, ...] = ()
    """The manifest's queries ``--only`` did not name: their sheets are carried
    over from the previous workbook at the output path."""

    @property
    def calculations(self) -> int:
        """Calculations the run will start, counting equal bodies once.

        A report whose elements are not listed counts as one; its real number
        is known only once Mapp answers (see :attr:`open_reports`).
        """
        bodies = {query.fingerprint for query in self.queries if not query.report}
        reports = sum(
            len(query.report.element_ids) or 1
            for query in self.queries
            if query.report is not None
        )
        return len(bodies) + reports

    @property
    def open_reports(self) -> tuple[QueryPlan, ...]:
        """The reports whose element count is known only at run time."""
        return tuple(
            query
            for query in self.queries
            if query.report is not None and not query.report.element_ids
        )
