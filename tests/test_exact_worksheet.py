"""Tests that a written workbook is a package Excel opens without a repair prompt.

The workbook is filled with everything awkward a result, a query name or an
error page can carry; then every XML part is parsed and checked (see
:mod:`xlsx_checks`) and the file is read back with openpyxl and python-calamine.
The row path (:class:`~mapp_export.exact_worksheet.RowCells`) is checked byte
for byte against XlsxWriter's own per-cell path, which pins the XlsxWriter
internals it relies on.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlsxwriter
from python_calamine import CalamineWorkbook
from xlsxwriter.utility import _preserve_whitespace

from mapp_export.cells import (
    CellCounts,
    CellTarget,
    CellWriter,
    metric_cell_writer,
    text_cell_writer,
)
from mapp_export.exact_worksheet import MAX_COLUMNS, ExactWorksheet, RowCells
from mapp_export.records import QueryState
from mapp_export.titles import assign_sheet_titles
from mapp_export.workbook import SheetOptions, WorkbookWriter
from workbook_helpers import (
    EMOJI,
    PAGE,
    VISITS,
    calamine_rows,
    openpyxl_rows,
    record,
    run_facts,
    spool,
)
from xlsx_checks import package_problems

SHEET = "xl/worksheets/sheet1.xml"
BOOK = "xl/workbook.xml"
LONG_TITLE = b'name="' + b"S" * 32 + b'"'
AWKWARD_TEXTS = [
    "=SUM(A1)",
    "+1",
    "-1",
    "@x",
    "\tx",
    "\rx",
    "a\r\nb",
    "<r>rich</r>",
    "a & b <c> \"d\" 'e'",
    "_x0041_",
    "nul\x00 bell\x07 escape\x1b",
    "\ufffe\uffff",
    "x" * 40_000,
    "a" * 32_766 + EMOJI,
    f"Grüße 東京 {EMOJI}",
    "",
]
AWKWARD_NAMES = [
    "Umsatz & Co <EU>",
    "it's fine",
    f"Größe 東京 {EMOJI}",
    "'quoted' [EU]: a/b\\c*d?",
    "bell\x07 in the name",
    "History",
    "summary",
    "x" * 40,
]


def awkward_workbook(folder: Path) -> tuple[Path, list[str]]:
    """Write a workbook of awkward titles, headers, cells and errors; answer titles."""
    target = folder / "awkward.xlsx"
    titles = assign_sheet_titles([(name, None) for name in AWKWARD_NAMES])
    writer = WorkbookWriter(target, max_rows_per_sheet=5, planned_titles=titles)
    headers = [dict(PAGE, name=text) for text in AWKWARD_TEXTS[:4]]
    headers += [dict(VISITS, name="pa\x07ges"), dict(VISITS, name="y" * 40_000)]
    rows = [[*[text] * 4, text, 1.5] for text in AWKWARD_TEXTS]
    records = []
    for index, (name, title) in enumerate(zip(AWKWARD_NAMES, titles, strict=True)):
        query = record(index, title)
        query.name = name
        if index % 2:
            query.state = QueryState.FAILED
            query.error = "<html>\x00\x0b" + "proxy error " * 4_000
            writer.write_failure(query, SheetOptions(failed_sheet="placeholder"))
        else:
            path = spool(folder, headers, rows[: index * 3 + 3])
            query.sheet = writer.write_result(query, path, SheetOptions())
            query.state = QueryState.DONE
        records.append(query)

    writer.finish(records, run_facts())
    return target, titles


class TestPackage:
    """The saved package is well formed and consistent, as Excel requires."""

    def test_awkward_workbook_has_no_problem(self, tmp_path: Path) -> None:
        """Every part parses, holds only legal characters, and refers to real parts."""
        target, _ = awkward_workbook(tmp_path)

        assert package_problems(target) == []

    def test_sheet_titles_match_in_both_readers(self, tmp_path: Path) -> None:
        """Titles in workbook.xml are the titles decided, continuations after each."""
        target, titles = awkward_workbook(tmp_path)

        names = openpyxl.load_workbook(target, read_only=True).sheetnames
        assert CalamineWorkbook.from_path(str(target)).sheet_names == names
        assert [name for name in names if name in titles] == titles
        assert names[-1] == "Summary"
        assert len({name.casefold() for name in names}) == len(names) > len(titles)
        assert {"History (2)", "summary (2)", "bell in the name"} <= set(names)

    def test_awkward_headers_and_cells_read_back_as_literal_text(
        self, tmp_path: Path
    ) -> None:
        """Formula prefixes, XML look-alikes and escapes read back as sent."""
        target, titles = awkward_workbook(tmp_path)

        expected_header = [*AWKWARD_TEXTS[:4], "pages", "y" * 32_767]
        for reader in (openpyxl_rows, calamine_rows):
            sheet = reader(target, titles[2])
            assert sheet[0] == expected_header
            assert [row[0] for row in sheet[1:]] == AWKWARD_TEXTS[:5]

    def test_placeholder_error_is_cleaned_and_cut(self, tmp_path: Path) -> None:
        """An HTML error page with controls and 48,000 characters fits one cell."""
        target, titles = awkward_workbook(tmp_path)

        error = openpyxl_rows(target, titles[1])[2][1]
        assert error == ("<html>" + "proxy error " * 4_000)[:32_767]
        assert calamine_rows(target, titles[1])[2][1] == error


class TestPackageCheck:
    """The package check finds what Excel would repair; a clean result means much."""

    @pytest.mark.parametrize(
        ("part", "old", "new", "words"),
        [
            (SHEET, b"</sheetData>", b"</sheetdata>", "not well-formed"),
            (BOOK, b'name="Summary"', b'name="Sum:mary"', "forbidden character"),
            (SHEET, b"<v>", b"<v>\x01", "forbidden character"),
            (SHEET, b"<v>", b"<v>&#1;", "forbidden character 1"),
            (SHEET, b"<v>1.5</v>", b"<v>inf</v>", "not a finite"),
            (SHEET, b'<c r="F2">', b'<c r="F2" t="s">', "unexpected cell type"),
            (BOOK, b'name="Summary"', LONG_TITLE, "longer than 31"),
            (BOOK, b'name="Summary"', b'name="history"', "is reserved"),
        ],
    )  # fmt: skip
    def test_broken_package_is_reported(
        self, tmp_path: Path, part: str, old: bytes, new: bytes, words: str
    ) -> None:
        """A package with one part spoiled is reported with the reason."""
        target, _ = awkward_workbook(tmp_path)
        spoiled = tmp_path / "spoiled.xlsx"
        with zipfile.ZipFile(target) as source, zipfile.ZipFile(spoiled, "w") as copy:
            for name in source.namelist():
                data = source.read(name)
                copy.writestr(name, data.replace(old, new, 1) if name == part else data)

        assert any(words in problem for problem in package_problems(spoiled))


EXACT_NUMBERS = [
    0,
    -0.0,
    0.1 + 0.2,
    38.333333333333336,
    5e-324,
    1.7976931348623157e308,
    -999_999_999_999_999,
    10**20,
    2.5e-05,
    math.nan,
    math.inf,
    -math.inf,
]
EDGE_TEXTS = [" lead", "trail ", "\u00a0nbsp", "x\n", "\u3000", "only\u2028", "a"]


def sheet_xml(
    folder: Path,
    name: str,
    headings: list[str] | None,
    rows: list[list[Any]],
    *,
    row_path: bool,
) -> bytes:
    """Write ``rows`` under ``headings`` one way; answer the sheet's XML.

    Metric columns are the odd ones; each value goes through the column
    writers of :mod:`mapp_export.cells`, into :class:`RowCells` when
    ``row_path``, otherwise into XlsxWriter's own typed per-cell writes.
    """
    target = folder / f"{name}-{'rows' if row_path else 'cells'}.xlsx"
    workbook = xlsxwriter.Workbook(
        str(target),
        {"constant_memory": True, "nan_inf_to_errors": True, "tmpdir": str(folder)},
    )
    sheet = workbook.add_worksheet("Data", worksheet_class=ExactWorksheet)
    width = max(len(row) for row in [headings or [], *rows])
    first = 0 if headings is None else 1
    for column, heading in enumerate(headings or []):
        sheet.write_string(0, column, heading, workbook.add_format({"bold": True}))

    cells = RowCells(sheet, width)
    target_cells = cells.target if row_path else CellTarget(*_typed(sheet))
    writers = _writers(target_cells, width)
    for line, row in enumerate(rows, start=first):
        cells.start(line)
        for write, value in zip(writers, row, strict=False):
            write(line, value)
        if row_path:
            cells.finish()

    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, first + len(rows) - 1, width - 1)
    workbook.close()
    with zipfile.ZipFile(target) as package:
        return package.read("xl/worksheets/sheet1.xml")


def _typed(sheet: ExactWorksheet) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """XlsxWriter's public typed writers of ``sheet``."""
    return sheet.write_string, sheet.write_number


def _writers(target: CellTarget, width: int) -> list[CellWriter]:
    """Column writers: text in the even columns, metrics in the odd ones."""
    counts = CellCounts()
    return [
        metric_cell_writer(column, target, counts, null_as_zero=False)
        if column % 2
        else text_cell_writer(column, target, counts)
        for column in range(width)
    ]


ROW_CASES: dict[str, tuple[list[str] | None, list[list[Any]]]] = {
    "awkward text and exact numbers": (
        ["day", "visits"],
        [
            [text, EXACT_NUMBERS[index % len(EXACT_NUMBERS)]]
            for index, text in enumerate(AWKWARD_TEXTS + EDGE_TEXTS)
        ]
        + [[text, "00120"] for text in EDGE_TEXTS],
    ),
    "blank and sparse rows": (
        ["a", "b", "c", "d"],
        [
            [None, None, None, None],
            ["x", 1, None, 2],
            [None, None, None, None],
            [None, None, None, 3.5],
            [None, None, "only text", None],
        ],
    ),
    "no header, sparse columns": (
        None,
        [[None, None, "c"], [None, None, None], ["a", None, None], [None, 7, None]],
    ),
    "header only": (["a", "b"], []),
    "columns past the sheet's last": (
        [f"h{column}" for column in range(MAX_COLUMNS + 3)],
        [[f"t{column}" if column % 2 == 0 else column for column in range(16_387)]],
    ),
}


class TestRowCells:
    """The row path writes the bytes XlsxWriter's per-cell path writes."""

    @pytest.mark.parametrize("case", list(ROW_CASES))
    def test_row_path_matches_per_cell_path(self, tmp_path: Path, case: str) -> None:
        """Cells, rows, header style, dimensions and spans are byte for byte equal."""
        headings, rows = ROW_CASES[case]

        by_rows = sheet_xml(tmp_path, "case", headings, rows, row_path=True)
        by_cells = sheet_xml(tmp_path, "case", headings, rows, row_path=False)

        assert by_rows == by_cells
        filled = [row for row in rows if any(value is not None for value in row)]
        assert by_rows.count(b"<row ") == len(filled) + (headings is not None)

    def test_leading_and_trailing_space_rule_matches_xlsxwriter(self) -> None:
        """Every BMP character at either end asks for xml:space as XlsxWriter does."""
        differing = [
            code
            for code in range(0x10000)
            for text in (chr(code) + "x", "x" + chr(code))
            if bool(_preserve_whitespace(text))
            != (text[0].isspace() or text[-1].isspace())
        ]

        assert differing == []

    def test_a_written_row_is_not_written_again(self, tmp_path: Path) -> None:
        """Writing a row twice, or one before it, is refused, not duplicated."""
        workbook = xlsxwriter.Workbook(
            str(tmp_path / "twice.xlsx"), {"constant_memory": True}
        )
        sheet = workbook.add_worksheet(worksheet_class=ExactWorksheet)
        sheet.write_cells_row(3, ['<c r="A4"><v>1</v></c>'])

        with pytest.raises(ValueError, match="already written"):
            sheet.write_cells_row(3, ['<c r="A4"><v>2</v></c>'])
        with pytest.raises(ValueError, match="already written"):
            sheet.write_cells_row(2, ['<c r="A3"><v>2</v></c>'])
        workbook.close()

    def test_row_settings_made_first_are_refused(self, tmp_path: Path) -> None:
        """A row format set before the rows would be lost, so it is refused."""
        workbook = xlsxwriter.Workbook(
            str(tmp_path / "format.xlsx"), {"constant_memory": True}
        )
        sheet = workbook.add_worksheet(worksheet_class=ExactWorksheet)
        sheet.set_row(1, None, workbook.add_format({"bold": True}))

        with pytest.raises(ValueError, match="row or column settings"):
            sheet.write_cells_row(1, ['<c r="A2"><v>1</v></c>'])
        workbook.close()
