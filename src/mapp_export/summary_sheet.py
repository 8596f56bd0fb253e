"""The ``Summary`` sheet: the run's facts, then one row per query.

The facts (manifest, start, time zone, API host, exit status, usage) stand
above a table with a row per query in manifest order: its sheets, status, rows
written, totals policy, what had to change in its cells, the API's warnings,
our notes, and its calculation id, times, polls and error. Every text goes
through the same cleaning as a result's cells (control characters removed,
cut to what a cell holds) and is written as literal text. Datetimes are shown
in the run's time zone without tzinfo, as Excel needs them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

from mapp_export.cells import clean_label
from mapp_export.records import QueryRecord, QueryState, RunFacts

SUMMARY_HEADINGS = (
    "Query", "Sheets", "Status", "Rows written", "Totals", "Controls removed",
    "Texts cut", "Metrics kept as text", "API warnings", "Notes", "Sampled",
    "Time range", "Timestamp", "Calculation id", "Started", "Finished",
    "Duration (s)", "Polls", "Error",
)  # fmt: skip
"""The headings of the summary table, in order."""

CARRIED_FROM_HEADING = "Carried over from"
"""The heading of the column a run with ``--only`` adds: when the run that
calculated a carried-over (or stale) sheet started."""

_SHEET_HEADINGS = SUMMARY_HEADINGS[4:13]
"""The headings that describe a sheet's content rather than this run's journey."""

_WIDTHS = (
    24, 24, 8, 12, 8, 10, 10, 10, 24, 40, 8, 40, 28, 38, 20, 20, 12, 6, 60
)  # fmt: skip


class SummarySheet:
    """Writes the summary into one sheet with the workbook's formats."""

    def __init__(
        self,
        sheet: Any,
        *,
        bold: Any,
        datetime_format: Any,
        timezone: tzinfo | None,
    ) -> None:
        self._sheet = sheet
        self._bold = bold
        self._datetime = datetime_format
        self._timezone = timezone

    def write(
        self,
        records: Sequence[QueryRecord],
        run: RunFacts,
        titles: Mapping[int, Sequence[str]],
    ) -> None:
        """Write the run facts, a blank line, and the table of ``records``.

        ``titles`` maps each query's index to the sheets written for it.
        """
        line = 0
        for label, value in run_lines(run):
            self._write_line(line, [value], label)
            line += 1

        line += 1
        for column, heading in enumerate(SUMMARY_HEADINGS):
            self._sheet.write_string(line, column, heading, self._bold)

        carrying = any(record.left_out or record.carried for record in records)
        if carrying:
            last = len(SUMMARY_HEADINGS)
            self._sheet.write_string(line, last, CARRIED_FROM_HEADING, self._bold)

        for record in sorted(records, key=lambda record: record.index):
            line += 1
            values = summary_values(record, titles.get(record.index))
            if carrying:
                values.append(carried_from(record))
            self._write_line(line, values)

        for column, width in enumerate((*_WIDTHS, 24) if carrying else _WIDTHS):
            self._sheet.set_column(column, column, width)

    def _write_line(
        self, line: int, values: Sequence[Any], label: str | None = None
    ) -> None:
        """Write one line: typed cells, datetimes naive, nothing for blanks."""
        if label is not None:
            self._sheet.write_string(line, 0, label, self._bold)

        first = 0 if label is None else 1
        for column, value in enumerate(values, start=first):
            if isinstance(value, datetime):
                moment = self._naive(value)
                self._sheet.write_datetime(line, column, moment, self._datetime)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                self._sheet.write_number(line, column, value)
            elif value is not None and value != "":
                self._sheet.write_string(line, column, clean_label(str(value)))

    def _naive(self, moment: datetime) -> datetime:
        """Show ``moment`` in the run's time zone without tzinfo, as Excel needs."""
        if moment.tzinfo is None:
            return moment

        return moment.astimezone(self._timezone).replace(tzinfo=None)


def run_lines(run: RunFacts) -> list[tuple[str, Any]]:
    """List the facts above the summary table, as label and value."""
    lines: list[tuple[str, Any]] = [
        ("Manifest", run.manifest_path),
        ("Run started", run.started_at),
        ("Time zone", run.timezone_name),
        ("API host", run.api_host),
        ("Exit status", run.exit_status),
    ]
    if run.usage_before is not None:
        lines.append(("Usage before", run.usage_before))
    if run.usage_after is not None:
        lines.append(("Usage after", run.usage_after))
    if run.rerun:
        lines.append(("Re-run (--only)", ", ".join(run.rerun)))
        lines.append(("Others carried over from", run.carried_from))
    return lines


def summary_values(
    record: QueryRecord, titles: Sequence[str] | None = None
) -> list[Any]:
    """One summary table row for ``record``, in the order of the headings.

    A carried-over query's row is its previous row with its new status and
    rows; a stale one (re-run, failed, older sheets kept) describes the kept
    sheets with the previous row and this run's attempt with its own record.
    """
    values = [
        record.name,
        ", ".join(titles or ()),
        record.status_text,
        *_sheet_values(record),
        record.calculation_id,
        record.submitted_at,
        record.finished_at,
        record.duration_seconds,
        record.polls,
        record.error,
    ]
    carried = record.carried
    if carried is None:
        return values

    kept = _SHEET_HEADINGS if not record.left_out else SUMMARY_HEADINGS[4:-1]
    for position, heading in enumerate(SUMMARY_HEADINGS):
        if heading in kept:
            values[position] = carried.previous.get(heading)
    values[3] = carried.rows
    return values


def carried_from(record: QueryRecord) -> Any:
    """Say when the run that calculated a kept sheet started; blank if fresh."""
    carried = record.carried
    if carried is None:
        return None
    if carried.result_from is None:
        return "the previous workbook (its run time is unknown)"
    return carried.result_from


def _sheet_values(record: QueryRecord) -> list[Any]:
    """Give the summary cells that describe a written result; blank if none was."""
    facts = record.sheet
    if facts is None or record.state is not QueryState.DONE:
        return [None] * 10

    return [
        facts.rows_written,
        facts.totals_policy,
        facts.controls_removed,
        facts.texts_cut,
        facts.metrics_kept_as_text,
        ", ".join(facts.api_warnings),
        "; ".join(facts.notes),
        "yes" if facts.sampled else "no",
        facts.timerange,
        facts.timestamp,
    ]
