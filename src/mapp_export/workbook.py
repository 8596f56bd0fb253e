"""Streaming results into one workbook and saving it atomically.

XlsxWriter writes in constant-memory mode: each sheet is written row by row,
in order, and only the current row is held. Results become sheets in the order
they arrive (see :mod:`mapp_export.sheet_stream`) and are put in query order,
the ``Summary`` (see :mod:`mapp_export.summary_sheet`) last, before the file is
closed. Cells are written with typed calls (text, number), never by guessing,
through :class:`~mapp_export.exact_worksheet.ExactWorksheet`, so each reads
back exactly as written.

The workbook is saved to a hidden temporary file beside the target and moved
onto it in one step (see :mod:`mapp_export.atomic_file`); whatever goes wrong,
the target is either the old file, byte for byte, or the new one.

.. note::
   Continuation sheets (``Visits (2)``) must not take a title another query was
   given up front. Pass every planned title as ``planned_titles``; a planned
   title that a continuation sheet took anyway is reported as a WorkbookError.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Sequence
from datetime import tzinfo
from pathlib import Path
from typing import Any

from xlsxwriter import Workbook
from xlsxwriter.exceptions import XlsxWriterException

from mapp_export.atomic_file import (
    create_parts_folder,
    create_temp_beside,
    flush_folder,
    move_into_place,
    remove_parts_folder,
)
from mapp_export.cells import clean_label
from mapp_export.errors import WorkbookError
from mapp_export.exact_worksheet import (
    ExactWorksheet,
    release,
    remove_sheet,
    reorder_sheets,
)
from mapp_export.records import QueryRecord, RunFacts, SheetFacts
from mapp_export.sheet_copy import SheetCopy
from mapp_export.sheet_stream import ResultStream, SheetOptions
from mapp_export.summary_sheet import SummarySheet
from mapp_export.titles import SUMMARY_TITLE, continuation_title

__all__ = ["EXCEL_MAX_ROWS", "SheetOptions", "WorkbookWriter"]

EXCEL_MAX_ROWS = 1_048_576
"""The rows of an Excel sheet, the header row included."""

_WORKBOOK_OPTIONS = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_numbers": False,
    "strings_to_urls": False,
    "nan_inf_to_errors": True,
}
_LAST = (sys.maxsize, 0)


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
        self._temp_path = create_temp_beside(target)
        self._parts_folder = create_parts_folder(target)
        self._workbook = Workbook(
            str(self._temp_path),
            {**_WORKBOOK_OPTIONS, "tmpdir": str(self._parts_folder)},
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
        stream = ResultStream(
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

    def drop_result(self, facts: SheetFacts) -> None:
        """Take a written result's sheets out again, as if it had failed."""
        self._check_open()
        self._drop_sheets(facts.titles)

    def copy_sheets(
        self, record: QueryRecord, titles: Sequence[str], source: Any
    ) -> int:
        """Copy the sheets ``titles`` of ``source`` as ``record``'s; count the rows.

        ``source`` is the previous workbook, opened read-only by openpyxl (see
        :mod:`mapp_export.sheet_copy`); the sheets keep their titles.

        Raises:
            KeyError: ``source`` has no sheet of one of the titles; no sheet is kept.
        """
        self._check_open()
        copy = SheetCopy(source, self._bold)
        copied: list[str] = []
        rows = 0
        try:
            for part, title in enumerate(titles, start=1):
                sheet = self._add_sheet(title, record.index, part)
                copied.append(title)
                rows += copy.copy(title, sheet)
        except BaseException:
            self._drop_sheets(copied)
            raise
        return rows

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
        """Add the summary, put the sheets in query order and save atomically.

        Raises:
            WorkbookError: the workbook could not be saved; the target is as
                it was and the writer is discarded.
        """
        self._check_open()
        try:
            self._write_summary(records, run)
            self._order_sheets()
            self._workbook.close()
            move_into_place(self._temp_path, self._target)
            remove_parts_folder(self._target)
        except BaseException as exc:
            self.discard()
            if isinstance(exc, WorkbookError):
                raise
            if isinstance(exc, OSError | XlsxWriterException):
                raise self._save_error(exc) from exc
            raise

        self._open = False
        flush_folder(self._target.parent)

    def discard(self) -> None:
        """Drop everything written so far; the target stays as it was."""
        if not self._open:
            return

        self._open = False
        for sheet in list(self._workbook.worksheets()):
            release(sheet)

        self._temp_path.unlink(missing_ok=True)
        remove_parts_folder(self._target)

    def _add_sheet(self, title: str, index: int, part: int) -> Any:
        """Create a sheet that sorts by query ``index`` and ``part``."""
        try:
            sheet = self._workbook.add_worksheet(title, worksheet_class=ExactWorksheet)
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
            release(remove_sheet(self._workbook, title))
            index, _part = self._order.pop(title)
            self._titles[index].remove(title)
            if title != titles[0]:
                self._taken.discard(title)

    def _write_summary(self, records: Sequence[QueryRecord], run: RunFacts) -> None:
        """Add the ``Summary`` sheet: run facts, then a row per query."""
        summary = SummarySheet(
            self._add_sheet(SUMMARY_TITLE, *_LAST),
            bold=self._bold,
            datetime_format=self._datetime,
            timezone=self._timezone,
        )
        summary.write(records, run, self._titles)

    def _order_sheets(self) -> None:
        """Put the sheets in query order, the summary last; select the first."""
        sheets = sorted(self._workbook.worksheets(), key=lambda s: self._order[s.name])
        reorder_sheets(self._workbook, sheets)

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
