"""What the workbook already at the output path holds, for ``--only`` runs.

A run of a few queries (``--only``) keeps the other queries' sheets from the
workbook it replaces (see :mod:`mapp_export.carry_over`). Which sheets belong
to which query is read from that workbook's ``Summary``: its ``Sheets``
column lists each query's sheets, continuation sheets and report elements
included. Only a query whose row says its sheets held a result (``done``,
``carried_over``, ``stale``) has sheets to keep; a failed query's placeholder
is not kept. A workbook without a ``Summary`` is matched by title instead: the
query's planned title, then its continuation titles ``Title (2)``, ...

The ``Summary``'s datetimes are naive, in the time zone it names; they are
read back in that zone (in this machine's zone when it names none that
exists), so the new ``Summary`` shows them in the new run's zone.

.. note::
   Without a ``Summary``, the element sheets of a saved report
   (``Title 43946``) cannot be told from other sheets, so such a query counts
   as not in the previous workbook.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl

from mapp_export.errors import WorkbookError
from mapp_export.records import CARRIED_OVER, STALE, CarriedSheets, QueryRecord
from mapp_export.sheet_copy import unescape
from mapp_export.summary_sheet import CARRIED_FROM_HEADING
from mapp_export.titles import SUMMARY_TITLE, continuation_title

logger = logging.getLogger("mapp_export")

STATUSES_WITH_SHEETS = frozenset({"done", CARRIED_OVER, STALE})
"""The summary statuses of queries whose sheets hold a result."""


@dataclass(frozen=True)
class PreviousWorkbook:
    """The sheets each query has in the workbook at ``path``, by query index."""

    path: Path
    found: bool
    started_at: datetime | None = None
    sheets: dict[int, CarriedSheets] = field(default_factory=dict)

    def describe(self) -> datetime | str:
        """Say where carried sheets come from: the run's start, or words."""
        if not self.found:
            return "nothing: no workbook was at the output path"
        if self.started_at is None:
            return "the previous workbook (its run time is unknown)"
        return self.started_at


@contextmanager
def open_previous(path: Path) -> Iterator[Any]:
    """Open the workbook at ``path`` read-only, streaming; close it afterwards.

    Raises:
        WorkbookError: the file cannot be read as a workbook.
    """
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many kinds for a bad file
        raise unreadable(path, exc) from exc

    try:
        yield workbook
    finally:
        workbook.close()


def unreadable(path: Path, exc: BaseException) -> WorkbookError:
    """Explain that the previous workbook cannot be read, and what to do."""
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return WorkbookError(
        f"the workbook already at {path} cannot be read to keep the sheets of the "
        f"queries --only leaves out ({reason}); it was left untouched: move it "
        "away to write only the re-run queries, or run the whole manifest"
    )


def read_previous_workbook(
    path: Path, queries: Sequence[QueryRecord], planned_titles: Sequence[str]
) -> PreviousWorkbook:
    """Find the sheets of ``queries`` in the workbook at ``path``, if one is there.

    ``planned_titles`` are every query's planned sheet title, to name
    continuation sheets when the workbook has no ``Summary``.

    Raises:
        WorkbookError: a file is at ``path`` but cannot be read as a workbook.
    """
    if not path.exists():
        return PreviousWorkbook(path=path, found=False)

    try:
        with open_previous(path) as workbook:
            return _read(path, workbook, queries, planned_titles)
    except WorkbookError:
        raise
    except Exception as exc:  # openpyxl raises many kinds for a bad file
        raise unreadable(path, exc) from exc


def _read(
    path: Path,
    workbook: Any,
    queries: Sequence[QueryRecord],
    planned_titles: Sequence[str],
) -> PreviousWorkbook:
    """Match each query to its sheets, by the ``Summary`` or by title."""
    present = [title for title in workbook.sheetnames if title != SUMMARY_TITLE]
    if SUMMARY_TITLE not in workbook.sheetnames:
        sheets = {
            query.index: CarriedSheets(titles=titles)
            for query in queries
            if (titles := _titles_by_plan(query.sheet_title, present, planned_titles))
        }
        return PreviousWorkbook(path=path, found=True, sheets=sheets)

    summary = _Summary.read(workbook[SUMMARY_TITLE])
    sheets = {}
    for query in queries:
        carried = summary.sheets_of(query.name, present)
        if carried is not None:
            sheets[query.index] = carried
    return PreviousWorkbook(
        path=path, found=True, started_at=summary.started_at, sheets=sheets
    )


@dataclass
class _Summary:
    """The facts and the query table of a previous ``Summary`` sheet."""

    facts: dict[str, Any]
    rows: dict[str, dict[str, Any]]
    zone: tzinfo | None

    @classmethod
    def read(cls, sheet: Any) -> _Summary:
        """Read the facts above the table and one row per query, by heading."""
        facts: dict[str, Any] = {}
        rows: dict[str, dict[str, Any]] = {}
        headings: list[str] | None = None
        for raw in sheet.iter_rows(values_only=True):
            values = [unescape(v) if isinstance(v, str) else v for v in raw]
            if not values or not isinstance(values[0], str):
                continue
            if headings is not None:
                rows[_key(values[0])] = dict(zip(headings, values, strict=False))
            elif values[0] == "Query" and values[1:2] == ["Sheets"]:
                headings = [str(value or "") for value in values]
            else:
                facts[values[0]] = values[1] if len(values) > 1 else None

        summary = cls(facts=facts, rows=rows, zone=_zone(facts.get("Time zone")))
        for row in rows.values():
            for heading, value in row.items():
                row[heading] = summary.aware(value)
        return summary

    @property
    def started_at(self) -> datetime | None:
        """When the previous run started, if its summary says."""
        started = self.aware(self.facts.get("Run started"))
        return started if isinstance(started, datetime) else None

    def aware(self, value: Any) -> Any:
        """Give a naive datetime the previous run's time zone; others as they are."""
        if not isinstance(value, datetime) or value.tzinfo is not None:
            return value
        if self.zone is None:
            return value.astimezone()
        return value.replace(tzinfo=self.zone)

    def sheets_of(self, name: str, present: Sequence[str]) -> CarriedSheets | None:
        """Answer the sheets the summary lists for query ``name``, if it holds them."""
        row = self.rows.get(_key(name))
        if row is None or row.get("Status") not in STATUSES_WITH_SHEETS:
            return None

        titles = split_titles(str(row.get("Sheets") or ""), present)
        if not titles:
            logger.warning(
                "%s: the previous workbook's Summary lists the sheets %r, which it "
                "does not hold; the query is not carried over",
                name,
                row.get("Sheets"),
            )
            return None

        result_from = row.get(CARRIED_FROM_HEADING)
        if not isinstance(result_from, datetime):
            result_from = self.started_at
        return CarriedSheets(titles=titles, result_from=result_from, previous=row)


def split_titles(text: str, present: Sequence[str]) -> list[str] | None:
    """Split a ``Sheets`` cell (``A, B (2)``) into titles the workbook has.

    A title may itself hold ``", "``, so the cell is split where the pieces
    are titles of ``present``; None when it cannot be.
    """

    def split_from(start: int) -> list[str] | None:
        if start == len(text):
            return []
        for title in present:
            end = start + len(title)
            if not text.startswith(title, start):
                continue
            if end == len(text):
                return [title]
            if text.startswith(", ", end):
                rest = split_from(end + 2)
                if rest:
                    return [title, *rest]
        return None

    return split_from(0) if text else None


def _titles_by_plan(
    title: str, present: Sequence[str], planned_titles: Sequence[str]
) -> list[str]:
    """Find a query's sheets by its planned title and its continuation titles."""
    by_folded = {existing.casefold(): existing for existing in present}
    if title.casefold() not in by_folded:
        return []

    titles = [by_folded[title.casefold()]]
    taken = {SUMMARY_TITLE, *planned_titles}
    while True:
        following = continuation_title(title, len(titles) + 1, taken)
        if following.casefold() not in by_folded:
            return titles
        titles.append(by_folded[following.casefold()])
        taken.add(following)


def _zone(name: Any) -> tzinfo | None:
    """Return the IANA time zone a summary names, or None if there is none such."""
    if not isinstance(name, str) or not name:
        return None

    try:
        return ZoneInfo(name)
    except (ValueError, LookupError):
        return None


def _key(name: str) -> str:
    """Compare query names as ``--only`` does: trimmed, ignoring case."""
    return name.strip().casefold()
