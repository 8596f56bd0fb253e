"""The live display on a terminal: a line per query and a line for the run.

The display reads the same :class:`~mapp_export.records.QueryRecord` objects the
runner fills in, so what it shows is what the summary sheet and the run report
say. The runner hands each record over on its first change of state; until
then a query shows as queued. A refresh thread redraws a few times a second,
so polls and elapsed times move between state changes too.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from mapp_export.records import QueryRecord, QueryState

REFRESHES_PER_SECOND = 8

_STATE_STYLES = {
    QueryState.QUEUED: "dim",
    QueryState.SUBMITTED: "blue",
    QueryState.CALCULATING: "cyan",
    QueryState.FETCHING: "magenta",
    QueryState.WRITING: "magenta",
    QueryState.DONE: "green",
    QueryState.FAILED: "bold red",
}


class ProgressDisplay:
    """A live table of the queries of one run, drawn on standard error."""

    def __init__(self, names: Sequence[str], console: Console) -> None:
        self._names = list(names)
        self._records: dict[int, QueryRecord] = {}
        self._spinner = Spinner("dots", style="cyan")
        self._started = time.monotonic()
        self._live = Live(
            get_renderable=self._render,
            console=console,
            refresh_per_second=REFRESHES_PER_SECOND,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )

    def __enter__(self) -> Self:
        """Start drawing."""
        self._started = time.monotonic()
        self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop drawing and clear the display; the final table follows on stdout."""
        self._live.stop()

    def listener(self, record: QueryRecord) -> None:
        """Take note of ``record``; the runner calls this on every change of state."""
        self._records[record.index] = record

    def _render(self) -> RenderableType:
        table = Table(box=None, pad_edge=False, show_edge=False, expand=False)
        table.add_column("", width=1)
        table.add_column("query", no_wrap=True, max_width=40, overflow="ellipsis")
        table.add_column("state", no_wrap=True)
        table.add_column("polls", justify="right")
        table.add_column("time", justify="right")
        table.add_column("rows", justify="right")
        for index, name in enumerate(self._names):
            table.add_row(*self._row(name, self._records.get(index)))

        return Group(table, Text(""), self._run_line())

    def _row(self, name: str, record: QueryRecord | None) -> tuple[RenderableType, ...]:
        if record is None:
            return (Text(" "), name, Text("queued", style="dim"), "", "", "")

        state = record.state
        marker: RenderableType
        if state is QueryState.DONE:
            marker = Text("✓", style="green")
        elif state is QueryState.FAILED:
            marker = Text("✗", style="bold red")
        else:
            marker = self._spinner
        rows = f"{record.sheet.rows_written:,}" if record.sheet else ""
        return (
            marker,
            name,
            Text(state.value, style=_STATE_STYLES[state]),
            str(record.polls),
            _elapsed(record),
            rows,
        )

    def _run_line(self) -> Text:
        states = [record.state for record in self._records.values()]
        done = states.count(QueryState.DONE)
        failed = states.count(QueryState.FAILED)
        running = len(states) - done - failed
        queued = len(self._names) - len(states)
        seconds = time.monotonic() - self._started

        line = Text(f"run: {len(self._names)} queries  ", style="bold")
        line.append(f"{done} done", style="green")
        line.append("  ")
        line.append(f"{failed} failed", style="bold red" if failed else "dim")
        line.append(f"  {running} running  {queued} queued  ")
        line.append(_clock(seconds), style="bold")
        return line


def _elapsed(record: QueryRecord) -> str:
    if record.submitted_at is None:
        return ""

    end = record.finished_at or datetime.now(UTC)
    return _clock((end - record.submitted_at).total_seconds())


def _clock(seconds: float) -> str:
    minutes, rest = divmod(max(seconds, 0.0), 60)
    if minutes >= 60:
        hours, minutes = divmod(minutes, 60)
        return f"{hours:.0f}:{minutes:02.0f}:{rest:04.1f}"
    return f"{minutes:02.0f}:{rest:04.1f}"
