"""Copying one sheet of the previous workbook into the new one, row by row.

``--only`` keeps the other queries' sheets (see :mod:`mapp_export.carry_over`).
Their rows are read with openpyxl in read-only mode, which streams the sheet's
XML, and written through :class:`~mapp_export.exact_worksheet.RowCells`, the
writer every result goes through, so only the current row is held and each
cell keeps its type: text stays text (``00123`` too), numbers stay the same
double, an empty cell stays empty and ``""`` stays an empty text. The header
row is bold and frozen, an autofilter covers the rows and the columns are
fitted to the header and the first rows, as for a freshly written sheet.

The error cells the writer makes for NaN and infinities (``#NUM!``,
``#DIV/0!``) are read as their formulas and written as the same numbers.

.. note::
   openpyxl leaves the ``_xHHHH_`` escapes of inline strings in the text, so
   they are undone here, as Excel does. It half undoes them in shared strings
   (only ``_x005F_`` is removed), which cannot be told apart afterwards, so
   the escapes of a workbook that another program saved with shared strings
   are left as openpyxl reads them: a ``_x000D_`` there stays those seven
   characters. Cells such a program added that the writer never makes
   (booleans, formulas, error values) are copied as their text, and dates as
   their serial numbers; each sheet where that happened is logged.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from openpyxl.utils.datetime import to_excel

from mapp_export.cells import json_text
from mapp_export.exact_worksheet import RowCells, release_file
from mapp_export.sheet_stream import MAX_COLUMN_WIDTH, WIDTH_SAMPLE_ROWS

logger = logging.getLogger("mapp_export")

_ESCAPE = re.compile("_x([0-9A-Fa-f]{4})_")

WRITER_FORMULAS = {
    "=#NUM!": math.nan,
    "=1/0": math.inf,
    "=-1/0": -math.inf,
}
"""The formulas of the error cells the writer makes, and the numbers they stand for."""


def unescape(text: str) -> str:
    """Undo the ``_xHHHH_`` escapes of an inline string, as Excel reads them."""
    if "_x" not in text:
        return text

    return _ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), text)


class SheetCopy:
    """Copies sheets of one previous workbook, opened read-only by openpyxl."""

    def __init__(self, source: Any, header_format: Any) -> None:
        """Copy from ``source``; unescape inline strings unless it has shared ones."""
        self.source = source
        self.header_format = header_format
        self.unescapes = not getattr(source, "shared_strings", None)

    def copy(self, title: str, target: Any) -> int:
        """Copy the sheet ``title`` into ``target``; answer the rows below the header.

        Raises:
            KeyError: the previous workbook has no sheet ``title``.
        """
        rows = iter(self.source[title].iter_rows())
        header = next(rows, None)
        if header is None:
            release_file(target)
            return 0

        widths = self._write_header(header, target)
        converted = _Converted(title, unescapes=self.unescapes)
        line = self._write_rows(rows, target, widths, converted)
        target.autofilter(0, 0, line, max(len(widths), 1) - 1)
        for column, width in enumerate(widths):
            target.set_column(column, column, min(width, MAX_COLUMN_WIDTH))

        release_file(target)
        converted.report()
        return line

    def _write_header(self, header: Iterable[Any], target: Any) -> list[int]:
        """Write the bold header row, freeze it; answer the columns' first widths."""
        widths: list[int] = []
        for column, cell in enumerate(header):
            value = cell.value
            if isinstance(value, str):
                value = unescape(value) if self.unescapes else value
                target.write_string(0, column, value, self.header_format)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                target.write_number(0, column, value, self.header_format)
            widths.append(len(str(value if value is not None else "")) + 3)

        target.freeze_panes(1, 0)
        return widths

    def _write_rows(
        self,
        rows: Iterable[tuple[Any, ...]],
        target: Any,
        widths: list[int],
        converted: _Converted,
    ) -> int:
        """Copy the data rows cell by cell, keeping each cell's type; count them."""
        cells = RowCells(target, len(widths))
        line = 0
        for line, row in enumerate(rows, start=1):
            if len(row) > len(cells.cells):
                cells = RowCells(target, len(row))
                widths.extend([0] * (len(row) - len(widths)))

            cells.start(line)
            for column, cell in enumerate(row):
                value = converted.value(cell)
                if isinstance(value, str):
                    cells.write_text(line, column, value)
                elif value is not None:
                    cells.write_number(line, column, value)
            cells.finish()

            if line <= WIDTH_SAMPLE_ROWS:
                _widen(widths, row)
        return line


class _Converted:
    """Turns openpyxl's cells into text, numbers or nothing; counts the odd ones."""

    def __init__(self, title: str, *, unescapes: bool) -> None:
        self.title = title
        self.unescapes = unescapes
        self.odd_cells = 0

    def value(self, cell: Any) -> str | float | None:
        """Answer the cell as the writer writes it: text, a number or nothing."""
        value = cell.value
        kind = cell.data_type
        if value is None:
            return None
        if kind == "s":
            return unescape(value) if self.unescapes else value
        if kind == "n" and not isinstance(value, bool):
            return value  # type: ignore[no-any-return]
        if kind == "f" and value in WRITER_FORMULAS:
            return WRITER_FORMULAS[value]

        self.odd_cells += 1
        return _as_text_or_number(value)

    def report(self) -> None:
        """Log how many cells were not of a kind the writer makes, if any."""
        if self.odd_cells:
            logger.warning(
                "sheet %r of the previous workbook has %d cell(s) another program "
                "wrote (booleans, formulas, errors or dates); they were carried over "
                "as text or serial numbers",
                self.title,
                self.odd_cells,
            )


def _as_text_or_number(value: Any) -> str | float:
    """Turn a value the writer never makes into text, or a date into its number."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime | date | time | timedelta):
        return float(to_excel(value))
    return str(value)


def _widen(widths: list[int], row: Iterable[Any]) -> None:
    """Widen the columns to fit ``row``'s values, as a fresh sheet is fitted."""
    for column, cell in enumerate(row):
        value = cell.value
        if value is None:
            continue
        size = len(value) if isinstance(value, str) else len(json_text(value))
        widths[column] = max(widths[column], size + 2)
