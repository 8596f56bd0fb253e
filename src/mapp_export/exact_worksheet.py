"""Where mapp-export reaches into XlsxWriter: exact cells and sheet housekeeping.

:class:`ExactWorksheet` overrides XlsxWriter's cell-level XML so every cell
reads back exactly as written. :class:`RowCells` is the hot path: it renders a
result row's cells straight to XML, the bytes XlsxWriter's own per-cell path
writes for the same calls, and hands the sheet the whole ``<row>`` in one
write, skipping XlsxWriter's cell tuples, dimension checks and cell
references per value. The functions below them do what XlsxWriter keeps no
public way to do (reorder or remove sheets, let go of the temporary file a
constant-memory sheet holds open), the way XlsxWriter's own ``close()`` and
packager do it.

.. note::
   Everything here relies on XlsxWriter internals, checked against XlsxWriter
   3.3.1 (pinned in constraints.txt). :meth:`ExactWorksheet.write_cells_row`
   keeps the constant-memory bookkeeping of ``_write_single_row`` and
   ``_check_dimensions`` itself (``previous_row``, ``table``, ``dim_rowmin``,
   ``dim_rowmax``, ``dim_colmin``, ``dim_colmax``) and writes to ``fh``, the row
   file that ``_opt_reopen`` and ``_write_optimized_sheet_data`` copy into the
   sheet at save. tests/test_exact_worksheet.py writes the same cells both ways
   and compares the sheet XML byte for byte, so a version that writes cells,
   rows or this bookkeeping differently fails there, loudly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from mapp_export.cells import CellTarget

_INLINE_SPECIAL = re.compile(
    "[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_"
)
_INLINE_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}

MAX_COLUMNS = 16_384
"""The columns of an Excel sheet; XlsxWriter drops cells beyond them unwritten."""

_NON_FINITE_CELLS = {
    "nan": '" t="e"><f>#NUM!</f><v>#NUM!</v></c>',
    "inf": '" t="e"><f>1/0</f><v>#DIV/0!</v></c>',
    "-inf": '" t="e"><f>-1/0</f><v>#DIV/0!</v></c>',
}
"""The error cells XlsxWriter writes for NaN and infinities (``nan_inf_to_errors``)."""


class ExactWorksheet(Worksheet):  # type: ignore[misc]
    """A constant-memory worksheet whose cells read back exactly as written.

    XlsxWriter's own constant-memory writing rounds numbers to 16 significant
    digits (a double needs 17), turns a carriage return into ``_x000D_`` (which
    openpyxl reads as those seven characters) and writes any text shaped like
    ``<r>...</r>`` as raw rich-text XML. These overrides of its cell-level XML
    methods write the shortest exact number, ``&#13;`` for a carriage return,
    and every string as plain escaped inline text: never a formula, whatever
    it begins with.
    """

    previous_row: int
    dim_rowmin: int | None
    dim_rowmax: int | None
    dim_colmin: int | None
    dim_colmax: int | None

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

    def write_cells_row(self, row: int, cells: list[str]) -> None:
        """Write row ``row`` from its cells' XML, one string per column, ``""`` none.

        Does what XlsxWriter's constant-memory writing does for the same cells:
        a pending row (the header) is written first, the sheet's dimensions
        grow to cover the cells, and a row without cells writes nothing.

        Raises:
            ValueError: the row was already written, or it has a row format,
                a comment or column formats that only XlsxWriter's own
                per-cell path would apply.
        """
        xml = "".join(cells)
        if not xml:
            return

        previous = self.previous_row
        if row < previous or (row == previous and self.table):
            raise ValueError(f"row {row} of sheet {self.name!r} was already written")

        if self.row_info or self.col_info or self.comments:
            raise ValueError(
                f"sheet {self.name!r} has row or column settings; set them after "
                "the rows written with write_cells_row"
            )

        if row > previous and self.table:
            self._write_single_row(row)

        self.previous_row = row + 1
        self._cover(row, cells)
        self.fh.write(f'<row r="{row + 1}">{xml}</row>')

    def _cover(self, row: int, cells: list[str]) -> None:
        """Grow the sheet's dimensions to cover the written cells of ``row``."""
        if self.dim_rowmin is None:
            self.dim_rowmin = row
        if self.dim_rowmax is None or row > self.dim_rowmax:
            self.dim_rowmax = row

        lowest, highest = self.dim_colmin, self.dim_colmax
        if lowest == 0 and highest is not None and highest >= len(cells) - 1:
            return

        written = [column for column, cell in enumerate(cells) if cell]
        if lowest is None or written[0] < lowest:
            self.dim_colmin = written[0]
        if highest is None or written[-1] > highest:
            self.dim_colmax = written[-1]


class RowCells:
    """One sheet's cells, a row at a time, rendered to XML as they are written.

    ``target`` takes the typed writes of :mod:`mapp_export.cells`; between
    :meth:`start` and :meth:`finish` every write belongs to the started row.
    Cells of columns past :data:`MAX_COLUMNS` are dropped, as XlsxWriter drops
    them. Text must already fit a cell (see :func:`mapp_export.cells.clean_text`).
    """

    def __init__(self, sheet: ExactWorksheet, width: int) -> None:
        self.sheet = sheet
        self.width = min(width, MAX_COLUMNS)
        self.openings = [f'<c r="{xl_col_to_name(column)}' for column in range(width)]
        self.cells = [""] * width
        self.row = 0
        self.reference = "1"
        self.target = CellTarget(self.write_text, self.write_number)

    def start(self, row: int) -> None:
        """Begin row ``row`` (zero-based); the writes that follow fill it."""
        self.row = row
        self.reference = str(row + 1)

    def finish(self) -> None:
        """Write the started row to the sheet, if any of its cells was written."""
        cells = self.cells
        if len(cells) > self.width:
            cells = cells[: self.width]

        self.sheet.write_cells_row(self.row, cells)
        self.cells = [""] * len(self.cells)

    def write_text(self, _row: int, column: int, text: str) -> None:
        """Render a text cell: plain escaped inline text, never a formula."""
        space = (
            ' xml:space="preserve"'
            if text and (text[0].isspace() or text[-1].isspace())
            else ""
        )
        self.cells[column] = (
            f'{self.openings[column]}{self.reference}" t="inlineStr">'
            f"<is><t{space}>{_inline_text(text)}</t></is></c>"
        )

    def write_number(self, _row: int, column: int, number: float) -> None:
        """Render a number cell with the shortest digits that read back exactly."""
        digits = repr(number)
        if "n" in digits:
            self.cells[column] = (
                self.openings[column] + self.reference + _NON_FINITE_CELLS[digits]
            )
            return

        self.cells[column] = (
            f'{self.openings[column]}{self.reference}"><v>{digits}</v></c>'
        )


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


def reorder_sheets(workbook: Any, sheets: list[Any]) -> None:
    """Make ``sheets`` the workbook's sheet order; the first one is selected."""
    workbook.worksheets_objs[:] = sheets
    for position, sheet in enumerate(sheets):
        sheet.index = position


def remove_sheet(workbook: Any, title: str) -> Any:
    """Take the sheet titled ``title`` out of ``workbook``; answer the sheet."""
    sheet = workbook.get_worksheet_by_name(title)
    workbook.worksheets_objs.remove(sheet)
    del workbook.sheetnames[title]
    return sheet


def release_file(sheet: Any) -> None:
    """Close a finished sheet's row file; XlsxWriter reopens it on close()."""
    sheet._opt_close()  # noqa: SLF001  the packager calls _opt_reopen() itself


def release(sheet: Any) -> None:
    """Close and delete a sheet's row file: the sheet will never be saved."""
    release_file(sheet)
    Path(sheet.row_data_filename).unlink(missing_ok=True)
