"""Tests that a written workbook is a package Excel opens without a repair prompt.

The workbook is filled with everything awkward a result, a query name or an
error page can carry; then every XML part is parsed and checked (see
:mod:`xlsx_checks`) and the file is read back with openpyxl and python-calamine.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

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
