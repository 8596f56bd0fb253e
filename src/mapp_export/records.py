"""The record of one query's journey through a run.

The runner fills a :class:`QueryRecord` in as the query moves on; the summary
sheet, the run report and the progress display all read the same record, so
they cannot disagree.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class QueryState(enum.Enum):
    """Where a query is in its journey; the last two are final."""

    QUEUED = "queued"
    SUBMITTED = "submitted"
    CALCULATING = "calculating"
    FETCHING = "fetching"
    WRITING = "writing"
    DONE = "done"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        """Whether the query has finished, well or badly."""
        return self in {QueryState.DONE, QueryState.FAILED}


@dataclass
class SheetFacts:
    """What writing one result into the workbook did."""

    titles: list[str] = field(default_factory=list)
    rows_written: int = 0
    controls_removed: int = 0
    texts_cut: int = 0
    metrics_kept_as_text: int = 0
    api_warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sampled: bool = False
    timerange: str = ""
    timestamp: str = ""
    total_rows: int = 0
    totals_policy: str = ""


@dataclass
class CarriedSheets:
    """A query's sheets copied from the previous workbook at the output path.

    ``result_from`` is when the run that calculated them started, if the
    previous workbook says; ``previous`` is that workbook's ``Summary`` row of
    the query, heading by heading (empty when it had no Summary).
    """

    titles: list[str]
    result_from: datetime | None = None
    previous: dict[str, Any] = field(default_factory=dict)
    rows: int = 0
    """Rows copied below the headers, once the sheets are copied."""


CARRIED_OVER = "carried_over"
"""The status of a query ``--only`` left out whose sheets were carried over."""

NOT_IN_PREVIOUS_WORKBOOK = "not_in_previous_workbook"
"""The status of a query ``--only`` left out that the previous workbook lacks."""

STALE = "stale"
"""The summary's status of a re-run query that failed and kept its older sheets."""


@dataclass
class QueryRecord:
    """One query's name, ids, state, timings and outcome."""

    index: int
    name: str
    sheet_title: str
    state: QueryState = QueryState.QUEUED
    correlation_id: str | None = None
    calculation_id: str | None = None
    cached: bool = False
    polls: int = 0
    last_status: str | None = None
    submitted_at: datetime | None = None
    finished_at: datetime | None = None
    calculated_after: float | None = None
    sheet: SheetFacts | None = None
    error: str | None = None
    left_out: bool = False
    """``--only`` left the query out: this run keeps its sheets, if it can."""
    carried: CarriedSheets | None = None
    """Its sheets copied from the previous workbook: a left-out query's, or
    the older ones of a re-run query that failed (stale)."""

    @property
    def succeeded(self) -> bool:
        """Whether the query's result is in the workbook."""
        return self.state is QueryState.DONE

    @property
    def status_text(self) -> str:
        """The query's status as the summary and the final table show it.

        The journey's state, or for ``--only`` runs :data:`CARRIED_OVER`,
        :data:`NOT_IN_PREVIOUS_WORKBOOK` or :data:`STALE`.
        """
        if self.left_out:
            return CARRIED_OVER if self.carried else NOT_IN_PREVIOUS_WORKBOOK
        if self.carried is not None and self.state is QueryState.FAILED:
            return STALE
        return self.state.value

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from submitting the query to its final state, if both happened."""
        if self.submitted_at is None or self.finished_at is None:
            return None

        return (self.finished_at - self.submitted_at).total_seconds()


@dataclass
class RunFacts:
    """Facts about the whole run, shown above the summary table."""

    manifest_path: str
    started_at: datetime
    timezone_name: str
    api_host: str
    exit_status: int | None = None
    usage_before: str | None = None
    usage_after: str | None = None
    rerun: tuple[str, ...] = ()
    """The queries ``--only`` named; empty for a run of the whole manifest."""
    carried_from: datetime | str | None = None
    """Where the other sheets came from: the previous workbook's run start, or
    words when that is unknown or there was no previous workbook."""
