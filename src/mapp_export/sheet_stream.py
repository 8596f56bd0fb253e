"""One spooled result on its way into one or more sheets.

The result is read twice (see :mod:`mapp_export.results`): first everything
but its rows, to know the columns, then row by row. Each row goes through the
column writers of :mod:`mapp_export.cells` into a
:class:`~mapp_export.exact_worksheet.RowCells`, which writes it to the sheet
in one piece, so only the current row is held.

- **Totals** are found by their markers: a row listed in any header's
  ``sumPositions`` (pivot subtotals and grand total), or the last row of a
  list when its first dimension is ``"0000000000"`` (the grand total). The same
  value on any other row is an ordinary id and stays data.
  ``totals: label`` writes ``Total`` in its first empty (or marker) dimension
  cell, ``keep`` writes the row as sent (the marker stays text), ``drop``
  leaves it out.
- **Long results** continue on further sheets ``Title (2)``, ``Title (3)``
  with the header repeated, at most ``max_rows`` data rows each.
- **Look**: the header is bold and frozen, an autofilter covers the rows, and
  column widths are fitted to the header and the first
  :data:`WIDTH_SAMPLE_ROWS` rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mapp_export.cells import (
    MAX_EXACT_DIGITS,
    TOTAL_MARKER,
    CellCounts,
    CellWriter,
    column_headings,
    json_text,
    metric_cell_writer,
    text_cell_writer,
)
from mapp_export.errors import ResultFormatError, WorkbookError
from mapp_export.exact_worksheet import RowCells, release_file
from mapp_export.records import QueryRecord, SheetFacts
from mapp_export.results import ResultMeta, iter_result_rows, read_result_meta

TOTAL_LABEL = "Total"
"""What the first dimension cell of a total row reads under ``totals: label``."""

WIDTH_SAMPLE_ROWS = 200
"""How many rows of a result the column widths are fitted to."""

MAX_COLUMN_WIDTH = 60
"""The widest a fitted column gets, in characters."""

SheetAdder = Callable[[int], tuple[str, Any]]
"""Adds the ``part``-th sheet of a result; answers its title and the sheet."""


@dataclass(frozen=True)
class SheetOptions:
    """How one query's result becomes sheets."""

    nulls: Literal["empty", "zero"] = "empty"
    totals: Literal["label", "keep", "drop"] = "label"
    columns: Mapping[str, str] = field(default_factory=dict)
    failed_sheet: Literal["none", "placeholder"] = "none"
    row_window: int | None = None
    """``upperLimit - lowerLimit + 1`` of the first dimension column, if set."""


class ResultStream:
    """One result on its way into one or more sheets."""

    def __init__(
        self,
        record: QueryRecord,
        options: SheetOptions,
        *,
        add_sheet: SheetAdder,
        header_format: Any,
        max_rows: int,
    ) -> None:
        self.record = record
        self.options = options
        self.add_sheet = add_sheet
        self.header_format = header_format
        self.max_rows = max_rows
        self.titles: list[str] = []
        self.counts = CellCounts()
        self.data_rows = 0
        self.lead_values = 0
        self.total_rows = 0
        self.headings: list[str] = []
        self.metric: list[bool] = []
        self.text_columns: list[int] = []
        self.marker_column: int | None = None
        self.widths: list[int] = []

    def write(self, spool: Path) -> SheetFacts:
        """Read, convert and write the whole result; describe what was done.

        Raises:
            ResultFormatError: the spool is not a valid result.
            WorkbookError: a sheet could not be written.
        """
        try:
            meta = read_result_meta(spool)
            self._prepare(meta)
            rows = iter_result_rows(spool, width=len(meta.headers))
            written = self._write_rows(meta, rows)
        except ResultFormatError as exc:
            raise ResultFormatError(f"query {self.record.name!r}: {exc}") from exc
        except OSError as exc:
            if isinstance(exc, WorkbookError):
                raise
            raise WorkbookError(
                f"query {self.record.name!r}: its sheet could not be written: {exc}"
            ) from exc

        return self._facts(meta, written)

    def _prepare(self, meta: ResultMeta) -> None:
        """Work out headings, column kinds and the total-row marker column."""
        self.headings = column_headings(
            (header.name for header in meta.headers), self.options.columns
        )
        self.metric = [header.is_metric for header in meta.headers]
        self.text_columns = [i for i, metric in enumerate(self.metric) if not metric]
        self.marker_column = self.text_columns[0] if self.text_columns else None
        self.widths = [len(heading) + 3 for heading in self.headings]

    def _write_rows(self, meta: ResultMeta, rows: Iterator[list[Any]]) -> int:
        """Stream ``rows`` into sheets of at most ``max_rows`` rows; count them.

        This loop is the product's hot path: it stays flat on purpose.
        """
        positions = meta.total_positions
        marker = self.marker_column
        limit = self.max_rows
        sheet, cells, writers = self._open_sheet()
        line = written = 0
        lead: Any = object()
        for position, row, is_last in _flag_last(rows):
            values = row
            if position in positions or (
                is_last and marker is not None and row[marker] == TOTAL_MARKER
            ):
                total = self._total_row(row)
                if total is None:
                    continue
                values = total
            else:
                self.data_rows += 1
                if marker is not None and row[marker] != lead:
                    lead = row[marker]
                    self.lead_values += 1

            if line == limit:
                self._close_sheet(sheet, line)
                sheet, cells, writers = self._open_sheet()
                line = 0

            line += 1
            cells.start(line)
            for write, value in zip(writers, values, strict=False):
                write(line, value)
            cells.finish()

            written += 1
            if written <= WIDTH_SAMPLE_ROWS:
                self._sample(values)

        self._close_sheet(sheet, line)
        return written

    def _total_row(self, row: list[Any]) -> list[Any] | None:
        """Apply the totals policy to a total row: label, keep or drop it."""
        self.total_rows += 1
        if self.options.totals == "drop":
            return None

        if self.options.totals == "keep":
            return row

        labelled = list(row)
        label: str | None = TOTAL_LABEL
        for column in self.text_columns:
            if labelled[column] is None or labelled[column] == TOTAL_MARKER:
                labelled[column] = label
                label = None

        return labelled

    def _open_sheet(self) -> tuple[Any, RowCells, list[CellWriter]]:
        """Add the next sheet of this result, header row written and frozen."""
        title, sheet = self.add_sheet(len(self.titles) + 1)
        self.titles.append(title)
        for column, heading in enumerate(self.headings):
            sheet.write_string(0, column, heading, self.header_format)

        sheet.freeze_panes(1, 0)
        cells = RowCells(sheet, len(self.headings))
        return sheet, cells, self._cell_writers(cells)

    def _cell_writers(self, cells: RowCells) -> list[CellWriter]:
        """Build each column's converting writer, writing into ``cells``."""
        target = cells.target
        null_as_zero = self.options.nulls == "zero"
        return [
            metric_cell_writer(column, target, self.counts, null_as_zero=null_as_zero)
            if is_metric
            else text_cell_writer(column, target, self.counts)
            for column, is_metric in enumerate(self.metric)
        ]

    def _close_sheet(self, sheet: Any, last_line: int) -> None:
        """Add the autofilter and column widths; let go of the sheet's file."""
        sheet.autofilter(0, 0, last_line, len(self.headings) - 1)
        for column, width in enumerate(self.widths):
            sheet.set_column(column, column, min(width, MAX_COLUMN_WIDTH))

        release_file(sheet)

    def _sample(self, row: list[Any]) -> None:
        """Widen columns to fit the values of ``row``."""
        for column, value in enumerate(row):
            if value is not None:
                size = len(value) if isinstance(value, str) else len(json_text(value))
                self.widths[column] = max(self.widths[column], size + 2)

    def _facts(self, meta: ResultMeta, written: int) -> SheetFacts:
        """Describe what writing the result did."""
        return SheetFacts(
            titles=list(self.titles),
            rows_written=written,
            controls_removed=self.counts.controls_removed,
            texts_cut=self.counts.texts_cut,
            metrics_kept_as_text=self.counts.metrics_kept_as_text,
            api_warnings=list(meta.warnings),
            notes=self._notes(),
            sampled=meta.sampled,
            timerange=" to ".join(meta.timerange),
            timestamp=meta.timestamp or "",
            total_rows=self.total_rows,
            totals_policy=self.options.totals,
        )

    def _notes(self) -> list[str]:
        """List the warnings about a result: cut short, metrics as text, overflow.

        A result fills its window when it has exactly ``row_window`` data rows
        (a list) or exactly that many runs of first-dimension values (a pivot,
        whose rows are grouped by the first dimension). Either count flags it:
        a needless note costs a glance, a missed one costs rows.
        """
        notes = []
        window = self.options.row_window
        if window is not None and window in {self.data_rows, self.lead_values}:
            notes.append(
                f"the result has exactly {window} rows or values of its first "
                "dimension, as many as its lowerLimit/upperLimit allow, so it may "
                "be cut short; raise upperLimit in the query to get every row"
            )

        kept_as_text = self.counts.metrics_kept_as_text
        if kept_as_text:
            notes.append(
                f"{kept_as_text} metric value(s) are not numbers or have more than "
                f"{MAX_EXACT_DIGITS} significant digits, so they were kept as text"
            )

        if len(self.titles) > 1:
            notes.append(
                f"the result has more rows than a sheet holds; it continues on "
                f"{', '.join(self.titles[1:])}"
            )

        return notes


def _flag_last(rows: Iterator[list[Any]]) -> Iterator[tuple[int, list[Any], bool]]:
    """Yield each row with its position and whether it is the last one."""
    position = -1
    previous: list[Any] = []
    for position, row in enumerate(rows):
        if position:
            yield position - 1, previous, False
        previous = row
    if position >= 0:
        yield position, previous, True
