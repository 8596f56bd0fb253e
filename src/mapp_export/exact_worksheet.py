"""Where mapp-export reaches into XlsxWriter: exact cells and sheet housekeeping.

:class:`ExactWorksheet` overrides XlsxWriter's cell-level XML so every cell
reads back exactly as written. The functions below it do what XlsxWriter keeps
no public way to do (reorder or remove sheets, let go of the temporary file a
constant-memory sheet holds open, write cells without the A1-notation wrapper),
the way XlsxWriter's own ``close()`` and packager do it.

.. note::
   Everything here relies on XlsxWriter internals, checked against 3.3; the
   read-back tests fail if a later version changes them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xlsxwriter.worksheet import Worksheet

from mapp_export.cells import CellTarget

_INLINE_SPECIAL = re.compile(
    "[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_"
)
_INLINE_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}


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


def typed_writers(sheet: Any) -> CellTarget:
    """Answer the sheet's typed writers without the A1-notation wrapper.

    The public ``write_string`` and ``write_number`` first check for ``"A1"``
    arguments; on the hot path that check is a tenth of the writing time.
    """
    return CellTarget(sheet._write_string, sheet._write_number)  # noqa: SLF001


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
