"""The record of one query's journey through a run.

The runner fills a :class:`QueryRecord` in as the query moves on; the summary
sheet, the run report and the progress display all read the same record, so
they cannot disagree.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


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

    @property
    def succeeded(self) -> bool:
        """Whether the query's result is in the workbook."""
        return self.state is QueryState.DONE

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
