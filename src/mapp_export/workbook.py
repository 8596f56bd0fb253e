"""Streaming results into one workbook and saving it atomically.

XlsxWriter writes in constant-memory mode: each sheet is written row by row,
in order, and only the current row is held. Results become sheets in the order
they arrive and are put in query order before the file is closed. Cells are
written with typed calls (text, number), never by guessing.

The workbook is saved to a hidden ``.<name>.<random>.tmp`` file beside the
target, flushed to disk and moved onto the target in one step; whatever goes
wrong, the target is either the old file, byte for byte, or the new one.

.. note::
   Continuation sheets (``Visits (2)``) must not take a title another query was
   given up front. Pass every planned title as ``planned_titles``; a planned
   title that a continuation sheet took anyway is reported as a WorkbookError.
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import stat
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Literal

from xlsxwriter import Workbook
from xlsxwriter.exceptions import XlsxWriterException
from xlsxwriter.worksheet import Worksheet

from mapp_export.cells import (
    TOTAL_MARKER,
    CellCounts,
    CellTarget,
    CellWriter,
    clean_label,
    column_headings,
    json_text,
    metric_cell_writer,
    text_cell_writer,
)
from mapp_export.errors import ResultFormatError, WorkbookError
from mapp_export.records import QueryRecord, QueryState, RunFacts, SheetFacts
from mapp_export.results import ResultMeta, iter_result_rows, read_result_meta
from mapp_export.titles import SUMMARY_TITLE, continuation_title

EXCEL_MAX_ROWS = 1_048_576
"""The rows of an Excel sheet, the header row included."""

TOTAL_LABEL = "Total"
"""What the first dimension cell of a total row reads under ``totals: label``."""

WIDTH_SAMPLE_ROWS = 200
"""How many rows of a result the column widths are fitted to."""

_WORKBOOK_OPTIONS = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_numbers": False,
    "strings_to_urls": False,
    "nan_inf_to_errors": True,
}
_LAST = (sys.maxsize, 0)
_MAX_WIDTH = 60
_INLINE_SPECIAL = re.compile(
    "[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_"
)
_INLINE_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}


@dataclass(frozen=True)
class SheetOptions:
    """How one query's result becomes sheets."""

    nulls: Literal["empty", "zero"] = "empty"
    totals: Literal["label", "keep", "drop"] = "label"
    columns: Mapping[str, str] = field(default_factory=dict)
    failed_sheet: Literal["none", "placeholder"] = "none"
    row_window: int | None = None
    """``upperLimit - lowerLimit + 1`` of the first dimension column, if set."""


class WorkbookWriter:
    """Synchronous; the runner calls it from one worker thread only."""

    def __init__(
        self,
        target: Path,
        *,
        timezone: tzinfo | None = None,
        max_rows_per_sheet: int = EXCEL_MAX_ROWS - 1,
        planned_titles: Iterable[str] = (),
    ) -> None:
        """Prepare to write ``target``; fail now if its folder is missing."""
        if not 1 <= max_rows_per_sheet < EXCEL_MAX_ROWS:
            raise ValueError(f"max_rows_per_sheet must be 1 to {EXCEL_MAX_ROWS - 1}")

        self._target = target
        self._timezone = timezone
        self._max_rows = max_rows_per_sheet
        self._temp_path = _create_temp_beside(target)
        self._workbook = Workbook(
            str(self._temp_path), {**_WORKBOOK_OPTIONS, "tmpdir": str(target.parent)}
        )
        self._bold = self._workbook.add_format({"bold": True})
        self._datetime = self._workbook.add_format(
            {"num_format": "yyyy-mm-dd hh:mm:ss"}
        )
        self._taken: set[str] = {SUMMARY_TITLE, *planned_titles}
        self._order: dict[str, tuple[int, int]] = {}
        self._titles: dict[int, list[str]] = {}
        self._open = True

    def write_result(
        self, record: QueryRecord, spool: Path, options: SheetOptions
    ) -> SheetFacts:
        """Write the result spooled at ``spool`` as the sheet(s) of ``record``.

        Raises:
            ResultFormatError: the spool is not a valid result; no sheet is kept.
            WorkbookError: a sheet could not be written.
        """
        self._check_open()
        stream = _ResultStream(
            record,
            options,
            add_sheet=functools.partial(self._add_result_sheet, record),
            header_format=self._bold,
            max_rows=self._max_rows,
        )
        try:
            return stream.write(spool)
        except BaseException:
            self._drop_sheets(stream.titles)
            raise

    def write_failure(self, record: QueryRecord, options: SheetOptions) -> list[str]:
        """Write a placeholder sheet for a failed query if ``options`` ask for one."""
        self._check_open()
        if options.failed_sheet != "placeholder":
            return []

        sheet = self._add_sheet(record.sheet_title, record.index, 1)
        lines = [
            ("Query", record.name),
            ("Status", record.state.value),
            ("Error", record.error or "the query failed without a reason"),
        ]
        for line, (label, text) in enumerate(lines):
            sheet.write_string(line, 0, label, self._bold)
            sheet.write_string(line, 1, clean_label(text))

        sheet.set_column(0, 0, 10)
        sheet.set_column(1, 1, 100)
        return [record.sheet_title]

    def finish(self, records: Sequence[QueryRecord], run: RunFacts) -> None:
        """Add the summary, put the sheets in query order and save atomically."""
        self._check_open()
        try:
            self._write_summary(records, run)
            self._order_sheets()
            self._workbook.close()
            _flush_to_disk(self._temp_path)
            _keep_mode(self._temp_path, self._target)
            self._temp_path.replace(self._target)
        except BaseException as exc:
            self.discard()
            if isinstance(exc, WorkbookError):
                raise
            if isinstance(exc, OSError | XlsxWriterException):
                raise self._save_error(exc) from exc
            raise

        self._open = False
        _flush_folder(self._target.parent)

    def discard(self) -> None:
        """Drop everything written so far; the target stays as it was."""
        if not self._open:
            return

        self._open = False
        for sheet in list(self._workbook.worksheets()):
            _release(sheet)

        self._temp_path.unlink(missing_ok=True)

    def _add_sheet(self, title: str, index: int, part: int) -> Any:
        """Create a sheet that sorts by query ``index`` and ``part``."""
        try:
            sheet = self._workbook.add_worksheet(title, worksheet_class=_ExactWorksheet)
        except XlsxWriterException as exc:
            raise WorkbookError(
                f"the sheet {title!r} cannot be added: {exc} (a planned title may "
                "have been taken by a continuation sheet; pass planned_titles)"
            ) from exc

        self._taken.add(title)
        self._order[title] = (index, part)
        self._titles.setdefault(index, []).append(title)
        return sheet

    def _add_result_sheet(self, record: QueryRecord, part: int) -> tuple[str, Any]:
        """Add the ``part``-th sheet of ``record``'s result; answer title and sheet."""
        title = record.sheet_title
        if part > 1:
            title = continuation_title(title, part, self._taken)

        return title, self._add_sheet(title, record.index, part)

    def _drop_sheets(self, titles: Sequence[str]) -> None:
        """Take the half-written sheets of a failed result out of the workbook."""
        for title in titles:
            _release(_remove_sheet(self._workbook, title))
            index, _part = self._order.pop(title)
            self._titles[index].remove(title)
            if title != titles[0]:
                self._taken.discard(title)

    def _write_summary(self, records: Sequence[QueryRecord], run: RunFacts) -> None:
        """Write the ``Summary`` sheet: run facts, then a row per query."""
        sheet = self._add_sheet(SUMMARY_TITLE, *_LAST)
        line = 0
        for label, value in _run_lines(run):
            self._write_summary_line(sheet, line, [value], label)
            line += 1

        line += 1
        for column, heading in enumerate(_SUMMARY_HEADINGS):
            sheet.write_string(line, column, heading, self._bold)

        for record in sorted(records, key=lambda record: record.index):
            line += 1
            values = _summary_values(record, self._titles.get(record.index, []))
            self._write_summary_line(sheet, line, values)

        for column, width in enumerate(_SUMMARY_WIDTHS):
            sheet.set_column(column, column, width)

    def _write_summary_line(
        self, sheet: Any, line: int, values: Sequence[Any], label: str | None = None
    ) -> None:
        """Write one summary line: typed cells, datetimes naive, nothing for blanks."""
        if label is not None:
            sheet.write_string(line, 0, label, self._bold)

        first = 0 if label is None else 1
        for column, value in enumerate(values, start=first):
            if isinstance(value, datetime):
                sheet.write_datetime(line, column, self._naive(value), self._datetime)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                sheet.write_number(line, column, value)
            elif value is not None and value != "":
                sheet.write_string(line, column, clean_label(str(value)))

    def _naive(self, moment: datetime) -> datetime:
        """Show ``moment`` in the run's time zone without tzinfo, as Excel needs."""
        if moment.tzinfo is None:
            return moment

        return moment.astimezone(self._timezone).replace(tzinfo=None)

    def _order_sheets(self) -> None:
        """Put the sheets in query order, the summary last; select the first."""
        sheets = sorted(self._workbook.worksheets(), key=lambda s: self._order[s.name])
        _reorder_sheets(self._workbook, sheets)

    def _save_error(self, exc: BaseException) -> WorkbookError:
        """Explain why the workbook could not be saved."""
        folder = self._target.parent
        if not folder.is_dir():
            return WorkbookError(
                f"the workbook cannot be saved: the folder {folder} no longer exists"
            )

        return WorkbookError(f"the workbook {self._target} could not be saved: {exc}")

    def _check_open(self) -> None:
        """Refuse to work on a workbook that was saved or discarded."""
        if not self._open:
            raise WorkbookError("the workbook was already saved or discarded")


class _ResultStream:
    """One result on its way into one or more sheets."""

    def __init__(
        self,
        record: QueryRecord,
        options: SheetOptions,
        *,
        add_sheet: Callable[[int], tuple[str, Any]],
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
        self.total_rows = 0
        self.headings: list[str] = []
        self.metric: list[bool] = []
        self.text_columns: list[int] = []
        self.marker_column: int | None = None
        self.widths: list[int] = []

    def write(self, spool: Path) -> SheetFacts:
        """Read, convert and write the whole result; describe what was done."""
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
        """Stream ``rows`` into sheets of at most ``max_rows_per_sheet`` rows."""
        positions = meta.total_positions
        marker = self.marker_column
        limit = self.max_rows
        sheet, writers = self._open_sheet()
        line = written = 0
        for position, row in enumerate(rows):
            values = row
            if position in positions or (
                marker is not None and row[marker] == TOTAL_MARKER
            ):
                total = self._total_row(row)
                if total is None:
                    continue
                values = total
            else:
                self.data_rows += 1

            if line == limit:
                self._close_sheet(sheet, line)
                sheet, writers = self._open_sheet()
                line = 0

            line += 1
            for write, value in zip(writers, values, strict=False):
                write(line, value)

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

    def _open_sheet(self) -> tuple[Any, list[CellWriter]]:
        """Add the next sheet of this result, header row written and frozen."""
        title, sheet = self.add_sheet(len(self.titles) + 1)
        self.titles.append(title)
        for column, heading in enumerate(self.headings):
            sheet.write_string(0, column, heading, self.header_format)

        sheet.freeze_panes(1, 0)
        return sheet, self._cell_writers(sheet)

    def _cell_writers(self, sheet: Any) -> list[CellWriter]:
        """Build each column's converting writer for ``sheet``."""
        target = _typed_writers(sheet)
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
            sheet.set_column(column, column, min(width, _MAX_WIDTH))

        _release_file(sheet)

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
        """Warn of a result that may be cut short or that spans several sheets."""
        notes = []
        window = self.options.row_window
        if window is not None and self.data_rows == window:
            notes.append(
                f"the result has exactly {window} rows, as many as the first "
                "dimension's lowerLimit/upperLimit allow, so it may be cut short; "
                "raise upperLimit in the query to get every row"
            )

        if len(self.titles) > 1:
            notes.append(
                f"the result has more rows than a sheet holds; it continues on "
                f"{', '.join(self.titles[1:])}"
            )

        return notes


class _ExactWorksheet(Worksheet):  # type: ignore[misc]
    """A constant-memory worksheet whose cells read back exactly as written.

    XlsxWriter's own constant-memory writing rounds numbers to 16 significant
    digits (a double needs 17), turns a carriage return into ``_x000D_`` (which
    openpyxl reads as those seven characters) and writes any text shaped like
    ``<r>...</r>`` as raw rich-text XML. These overrides of its cell-level XML
    methods write the shortest exact number, ``&#13;`` for a carriage return,
    and every string as plain escaped text.

    .. note::
       They reach into XlsxWriter internals (checked against 3.3); the read-back
       tests fail if a later version changes them.
    """

    @staticmethod
    def _escape_control_characters(data: str) -> str:
        """Leave escaping to :meth:`_xml_inline_string`, which does it all."""
        return data

    def _xml_inline_string(
        self, string: str, preserve: object, attributes: Sequence[tuple[str, Any]] = ()
    ) -> None:
        """Write a text cell as an inline string with every character exact."""
        attrs = _attributes(attributes)
        space = ' xml:space="preserve"' if preserve else ""
        text = _inline_text(string)
        self.fh.write(f'<c{attrs} t="inlineStr"><is><t{space}>{text}</t></is></c>')

    def _xml_rich_inline_string(
        self, string: str, attributes: Sequence[tuple[str, Any]] = ()
    ) -> None:
        """Write text that only looks like rich-text XML as the plain text it is."""
        self._xml_inline_string(string, None, attributes)

    def _xml_number_element(
        self, number: float, attributes: Sequence[tuple[str, Any]] = ()
    ) -> None:
        """Write a number cell with the shortest digits that read back exactly."""
        attrs = _attributes(attributes)
        self.fh.write(f"<c{attrs}><v>{number!r}</v></c>")


def _attributes(attributes: Sequence[tuple[str, Any]]) -> str:
    """Render a cell's attributes: its reference and style index, never escaped."""
    rendered = ""
    for key, value in attributes:
        rendered += f' {key}="{value}"'

    return rendered


def _inline_text(text: str) -> str:
    """Escape text for an inline string: XML, carriage returns, ``_xHHHH_``."""
    if _INLINE_SPECIAL.search(text) is None:
        return text

    return _INLINE_SPECIAL.sub(_escape_special, text)


def _escape_special(match: re.Match[str]) -> str:
    """Escape one special character, or protect a literal ``_xHHHH_``."""
    found = match.group()
    if len(found) > 1:
        return "_x005F" + found

    return _INLINE_ESCAPES.get(found) or f"_x{ord(found):04X}_"


_SUMMARY_HEADINGS = (
    "Query", "Sheets", "Status", "Rows written", "Totals", "Controls removed",
    "Texts cut", "Metrics kept as text", "API warnings", "Notes", "Sampled",
    "Time range", "Timestamp", "Calculation id", "Started", "Finished",
    "Duration (s)", "Polls", "Error",
)  # fmt: skip
_SUMMARY_WIDTHS = (
    24, 24, 8, 12, 8, 10, 10, 10, 24, 40, 8, 40, 28, 38, 20, 20, 12, 6, 60
)  # fmt: skip


def _run_lines(run: RunFacts) -> list[tuple[str, Any]]:
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
    return lines


def _summary_values(record: QueryRecord, titles: list[str]) -> list[Any]:
    """One summary table row for ``record``, in the order of the headings."""
    return [
        record.name,
        ", ".join(titles),
        record.state.value,
        *_sheet_values(record),
        record.calculation_id,
        record.submitted_at,
        record.finished_at,
        record.duration_seconds,
        record.polls,
        record.error,
    ]


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


def _create_temp_beside(target: Path) -> Path:
    """Create the hidden temporary file the workbook is written to first.

    Unlike :func:`tempfile.mkstemp` (owner-only), the file gets the usual
    permissions of a new file, as the saved workbook should.
    """
    folder = target.parent
    if not folder.is_dir():
        raise WorkbookError(
            f"the folder {folder} for the workbook does not exist; create it or "
            "choose another output path"
        )

    if target.is_dir():
        raise WorkbookError(f"the workbook path {target} is a folder; name a file")

    while True:
        path = folder / f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        except OSError as exc:
            raise WorkbookError(
                f"the folder {folder} does not let the workbook be written: {exc}"
            ) from exc

        return path


def _keep_mode(temp_path: Path, target: Path) -> None:
    """Give the new workbook the permissions of the file it replaces, if any."""
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        return

    temp_path.chmod(mode)


def _flush_to_disk(path: Path) -> None:
    """Make sure the bytes of ``path`` are on disk, not only in a cache."""
    with path.open("rb") as saved:
        os.fsync(saved.fileno())


def _flush_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable where the system allows it."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return

    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


# XlsxWriter keeps no public way to reorder or remove sheets, or to let go of the
# temporary file each constant-memory sheet holds open; these helpers do it the
# way XlsxWriter's own close() and packager do.


def _reorder_sheets(workbook: Any, sheets: list[Any]) -> None:
    """Make ``sheets`` the workbook's sheet order; the first one is selected."""
    workbook.worksheets_objs[:] = sheets
    for position, sheet in enumerate(sheets):
        sheet.index = position


def _remove_sheet(workbook: Any, title: str) -> Any:
    """Take the sheet titled ``title`` out of ``workbook``; answer the sheet."""
    sheet = workbook.get_worksheet_by_name(title)
    workbook.worksheets_objs.remove(sheet)
    del workbook.sheetnames[title]
    return sheet


def _typed_writers(sheet: Any) -> CellTarget:
    """Answer the sheet's typed writers without the A1-notation wrapper.

    The public ``write_string`` and ``write_number`` first check for ``"A1"``
    arguments; on the hot path that check is a tenth of the writing time.
    """
    return CellTarget(sheet._write_string, sheet._write_number)  # noqa: SLF001


def _release_file(sheet: Any) -> None:
    """Close a finished sheet's row file; XlsxWriter reopens it on close()."""
    sheet._opt_close()  # noqa: SLF001  the packager calls _opt_reopen() itself


def _release(sheet: Any) -> None:
    """Close and delete a sheet's row file: the sheet will never be saved."""
    _release_file(sheet)
    Path(sheet.row_data_filename).unlink(missing_ok=True)
