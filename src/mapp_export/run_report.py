"""The run report: one JSON file per run, for orchestrators and monitoring.

The report is written beside the workbook as ``<workbook stem>.report.json``
(``--report`` chooses another path) whatever the exit code, as soon as the
manifest has been read. It is written to a temporary file in the same folder
and renamed into place, so a reader never sees half a report.

Its fields are documented in the README ("The run report") and described by
the JSON Schema in :mod:`mapp_export.run_report_schema`. ``report_version`` rises
only when a field changes meaning or disappears; new fields may be added
without raising it.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mapp_export import __version__
from mapp_export.outcome import ExitCode
from mapp_export.records import (
    CARRIED_OVER,
    NOT_IN_PREVIOUS_WORKBOOK,
    QueryRecord,
    QueryState,
    RunFacts,
)

REPORT_VERSION = 1

EXIT_MEANINGS = {
    ExitCode.OK: "every query exported",
    ExitCode.PARTIAL: "some queries failed; the workbook holds the others",
    ExitCode.REFUSED: "refused before submitting anything",
    ExitCode.NOTHING_EXPORTED: "nothing exported; the output was left untouched",
    ExitCode.INTERRUPTED: "stopped by Ctrl-C; what had finished, if anything, "
    "was written",
    ExitCode.TERMINATED: "stopped by SIGTERM; what had finished, if anything, "
    "was written",
}


class QueryStatus(enum.StrEnum):
    """What became of one query, as the report says it: a small, stable set."""

    EXPORTED = "exported"
    """Its sheet is in the workbook that was written."""

    FAILED = "failed"
    """It failed (or was stopped); ``error`` says why."""

    NOT_STARTED = "not_started"
    """The run ended before it was submitted (a refusal or refused credentials)."""

    NOT_SAVED = "not_saved"
    """Its result was fetched, but the workbook could not be written."""

    CARRIED_OVER = CARRIED_OVER
    """``--only`` left it out; its sheets were kept from the previous workbook."""

    NOT_IN_PREVIOUS_WORKBOOK = NOT_IN_PREVIOUS_WORKBOOK
    """``--only`` left it out and the previous workbook had no sheet of it."""


@dataclass(frozen=True)
class RunReport:
    """Everything the report says about one run."""

    started_at: datetime
    finished_at: datetime
    exit_code: ExitCode
    manifest: Path
    output: Path
    api_host: str
    sandbox: bool = False
    records: Sequence[QueryRecord] = ()
    workbook_written: bool = False
    message: str | None = None
    facts: RunFacts | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON values, in a stable key order."""
        statuses = [self.status_of(record) for record in self.records]
        return {
            "report_version": REPORT_VERSION,
            "tool": {"name": "mapp-export", "version": __version__},
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "duration_seconds": _seconds(self.finished_at - self.started_at),
            "exit_code": int(self.exit_code),
            "outcome": self.exit_code.name.lower(),
            "outcome_meaning": EXIT_MEANINGS[self.exit_code],
            "message": self.message,
            "manifest": str(self.manifest),
            "workbook": {"path": str(self.output), "written": self.workbook_written},
            "api_host": self.api_host,
            "sandbox": self.sandbox,
            "usage": self._usage(),
            "counts": {
                "queries": len(statuses),
                **{status.value: statuses.count(status) for status in QueryStatus},
            },
            "queries": [
                self._query(record, status)
                for record, status in zip(self.records, statuses, strict=True)
            ],
        }

    def status_of(self, record: QueryRecord) -> QueryStatus:
        """Return the report's status of ``record``."""
        if record.left_out:
            if record.carried is None:
                return QueryStatus.NOT_IN_PREVIOUS_WORKBOOK
            if not self.workbook_written:
                return QueryStatus.NOT_SAVED
            return QueryStatus.CARRIED_OVER
        if record.state is QueryState.DONE:
            return (
                QueryStatus.EXPORTED if self.workbook_written else QueryStatus.NOT_SAVED
            )
        if record.state is QueryState.FAILED:
            return QueryStatus.FAILED
        return QueryStatus.NOT_STARTED

    def _usage(self) -> dict[str, Any]:
        facts = self.facts
        return {
            "before": _plain(facts.usage_before) if facts else None,
            "after": _plain(facts.usage_after) if facts else None,
        }

    def _query(self, record: QueryRecord, status: QueryStatus) -> dict[str, Any]:
        sheet = record.sheet
        written = status is QueryStatus.EXPORTED and sheet is not None
        titles: list[str] = []
        rows: int | None = None
        if written and sheet is not None:
            titles, rows = list(sheet.titles), sheet.rows_written
        carried = record.carried
        if status is QueryStatus.CARRIED_OVER and carried is not None:
            titles, rows = list(carried.titles), carried.rows
        return {
            "index": record.index,
            "name": record.name,
            "status": status.value,
            "last_state": record.state.value,
            "sheet_titles": titles,
            "rows": rows,
            "warnings": [*sheet.api_warnings, *sheet.notes] if sheet else [],
            "sampled": sheet.sampled if sheet else None,
            "correlation_id": record.correlation_id,
            "calculation_id": record.calculation_id,
            "cached": record.cached,
            "polls": record.polls,
            "submitted_at": _iso(record.submitted_at),
            "finished_at": _iso(record.finished_at),
            "duration_seconds": _seconds_or_none(record.duration_seconds),
            "calculation_seconds": _seconds_or_none(record.calculated_after),
            "error": record.error,
            "carried_over": self._carried(record),
        }

    def _carried(self, record: QueryRecord) -> dict[str, Any] | None:
        """Describe the sheets kept from the previous workbook, if any were."""
        carried = record.carried
        if carried is None or not self.workbook_written:
            return None

        return {
            "sheet_titles": list(carried.titles),
            "rows": carried.rows,
            "result_from": _iso(carried.result_from),
            "stale": not record.left_out,
        }


def default_report_path(workbook: Path) -> Path:
    """Return where the report of a run writing ``workbook`` goes by default."""
    return workbook.with_name(f"{workbook.stem}.report.json")


def write_report(path: Path, report: RunReport) -> None:
    """Write ``report`` to ``path`` atomically (temporary file, then rename).

    Raises :class:`OSError` if the folder cannot be written.
    """
    text = json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).chmod(0o644)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds") if moment is not None else None


def _seconds(delta: Any) -> float:
    return round(float(delta.total_seconds()), 3)


def _seconds_or_none(seconds: float | None) -> float | None:
    return round(seconds, 3) if seconds is not None else None


def _plain(value: Any) -> Any:
    """Return ``value`` as JSON values: dataclasses become objects."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {key: _plain(item) for key, item in dataclasses.asdict(value).items()}
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
