"""Tests of the workbook: each rule pinned by reading the saved file back.

Every workbook is read back with openpyxl and with python-calamine, two readers
that share no code with XlsxWriter or with each other.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from mapp_export.errors import ResultFormatError, WorkbookError
from mapp_export.records import QueryState
from mapp_export.workbook import SheetOptions, WorkbookWriter
from workbook_helpers import (
    DAY,
    EMOJI,
    ORDERS,
    PAGE,
    VISITS,
    calamine_rows,
    column,
    openpyxl_rows,
    record,
    run_facts,
    spool,
    write_one,
)


def current_umask() -> int:
    """Read the process umask (setting it back at once)."""
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


def leftovers(folder: Path) -> list[Path]:
    """List temporary files left beside the target."""
    return sorted(folder.glob(".*.tmp"))


class TestDimensionCells:
    """Dimension values stay text exactly as the API sent them."""

    VALUES = ("00123", "12345678901234567890", "20210826", "TRUE", "None", "0", "")

    def test_text_is_kept_exactly(self, tmp_path: Path) -> None:
        """Leading zeros, long ids, dates, TRUE, None, 0 and "" stay text."""
        rows = [[value, 1] for value in self.VALUES]

        target, _ = write_one(tmp_path, [PAGE, VISITS], rows)

        assert column(openpyxl_rows(target), 0) == list(self.VALUES)
        assert column(calamine_rows(target), 0) == list(self.VALUES)
        cells = openpyxl.load_workbook(target)["Data"]["A"][1:]
        assert {cell.data_type for cell in cells} == {"s"}

    @pytest.mark.parametrize(
        "text", ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("x")']
    )
    def test_formula_prefixes_are_literal_text(self, tmp_path: Path, text: str) -> None:
        """Text beginning with = + - @ tab or CR is a plain string, never a formula."""
        target, _ = write_one(tmp_path, [PAGE, VISITS], [[text, 1]])

        cell = openpyxl.load_workbook(target)["Data"]["A2"]
        assert (cell.value, cell.data_type, cell.quotePrefix) == (text, "s", False)
        assert calamine_rows(target)[1][0] == text
        with zipfile.ZipFile(target) as archive:
            assert "<f>" not in archive.read("xl/worksheets/sheet1.xml").decode()

    def test_unicode_is_unchanged(self, tmp_path: Path) -> None:
        """Umlauts, CJK and emoji read back unchanged."""
        values = ["Grüße aus Köln", "東京の天気", f"party {EMOJI}"]

        target, facts = write_one(tmp_path, [PAGE], [[value] for value in values])

        assert column(openpyxl_rows(target), 0) == values
        assert column(calamine_rows(target), 0) == values
        assert (facts.controls_removed, facts.texts_cut) == (0, 0)

    def test_xml_lookalikes_are_plain_text(self, tmp_path: Path) -> None:
        """Text shaped like XML, rich text or line breaks reads back as sent."""
        values = ["<r>plain</r>", "<r>a<b</r>", "a & b <c>", "a\r\nb", "x\r"]

        target, _ = write_one(tmp_path, [PAGE], [[value] for value in values])

        assert column(openpyxl_rows(target), 0) == values
        assert column(calamine_rows(target), 0) == values

    def test_escape_lookalike_reads_back_in_excel_terms(self, tmp_path: Path) -> None:
        """A literal ``_x0041_`` is protected so Excel does not read it as ``A``."""
        target, _ = write_one(tmp_path, [PAGE], [["_x0041_"]])

        assert calamine_rows(target)[1][0] == "_x0041_"

    def test_control_characters_are_removed_and_counted(self, tmp_path: Path) -> None:
        """Control characters go from values and headers; values are counted."""
        header = dict(PAGE, name="pa\x07ges")
        rows = [["a\x00b\x1fc"], ["clean"], ["\x0bx"]]

        target, facts = write_one(tmp_path, [header], rows)

        assert openpyxl_rows(target) == [["pages"], ["abc"], ["clean"], ["x"]]
        assert calamine_rows(target) == [["pages"], ["abc"], ["clean"], ["x"]]
        assert facts.controls_removed == 2

    def test_long_text_is_cut_and_counted(self, tmp_path: Path) -> None:
        """A 40,000-character value is cut to 32,767; an emoji at the cut goes whole."""
        rows = [["x" * 40_000], ["a" * 32_766 + EMOJI + "b" * 7_000]]

        target, facts = write_one(tmp_path, [PAGE], rows)

        expected = ["x" * 32_767, "a" * 32_766]
        assert column(openpyxl_rows(target), 0) == expected
        assert column(calamine_rows(target), 0) == expected
        assert facts.texts_cut == 2


class TestMetricCells:
    """Metric values are numbers, or counted text when they are not."""

    def test_json_numbers_are_written_exactly(self, tmp_path: Path) -> None:
        """Doubles needing 17 digits read back as the same double."""
        numbers = [7, 38.333333333333336, 0.30000000000000004, -0.5, 1e-07, 1e300]

        target, _ = write_one(tmp_path, [VISITS], [[number] for number in numbers])

        assert column(openpyxl_rows(target), 0) == numbers
        assert column(calamine_rows(target), 0) == numbers

    def test_numeric_strings_become_numbers(self, tmp_path: Path) -> None:
        """Numeric strings in a metric column are converted without loss."""
        rows = [["00120"], ["3.5"], ["-2e3"], ["123456789012345"]]

        target, facts = write_one(tmp_path, [VISITS], rows)

        assert column(openpyxl_rows(target), 0) == [120, 3.5, -2000, 123456789012345]
        assert column(calamine_rows(target), 0) == [120, 3.5, -2000, 123456789012345]
        assert facts.metrics_kept_as_text == 0

    def test_values_that_are_not_exact_numbers_stay_text(self, tmp_path: Path) -> None:
        """Sixteen significant digits and words stay text and are counted."""
        rows = [["1234567890123456"], ["n/a"], ["=1+2"], [5]]

        target, facts = write_one(tmp_path, [VISITS], rows)

        expected = ["1234567890123456", "n/a", "=1+2", 5]
        assert column(openpyxl_rows(target), 0) == expected
        assert column(calamine_rows(target), 0) == expected
        assert facts.metrics_kept_as_text == 3

    def test_null_is_empty_by_default(self, tmp_path: Path) -> None:
        """A null metric is an empty cell, never 0 and never the text None."""
        target, _ = write_one(tmp_path, [PAGE, VISITS], [["home", None], [None, 2]])

        assert openpyxl_rows(target)[1:] == [["home", None], [None, 2]]
        assert calamine_rows(target)[1:] == [["home", ""], ["", 2]]

    def test_null_is_zero_when_asked(self, tmp_path: Path) -> None:
        """With ``nulls: zero`` a null metric is 0; a null dimension stays empty."""
        rows = [["home", None], [None, 2]]

        target, _ = write_one(
            tmp_path, [PAGE, VISITS], rows, SheetOptions(nulls="zero")
        )

        assert openpyxl_rows(target)[1:] == [["home", 0], [None, 2]]
        assert calamine_rows(target)[1:] == [["home", 0], ["", 2]]

    def test_long_json_integers_stay_text(self, tmp_path: Path) -> None:
        """JSON integers of 16+ significant digits stay text, counted and noted."""
        body = '{"headers": [%s], "rows": [[1234567890123456789], [10000000000000000]]}'
        path = tmp_path / "spool.json"
        path.write_text(body % json.dumps(VISITS), "utf-8")
        writer = WorkbookWriter(tmp_path / "export.xlsx")
        query = record(0, "Data")

        query.sheet = writer.write_result(query, path, SheetOptions())
        query.state = QueryState.DONE
        writer.finish([query], run_facts())

        expected = ["1234567890123456789", 10**16]
        assert column(openpyxl_rows(tmp_path / "export.xlsx"), 0) == expected
        assert column(calamine_rows(tmp_path / "export.xlsx"), 0) == expected
        assert query.sheet.metrics_kept_as_text == 1
        assert "1 metric value(s) are not numbers" in query.sheet.notes[0]


class TestHeaderRow:
    """The header row: names, renames, duplicates, look."""

    def test_duplicates_are_numbered_after_renames(self, tmp_path: Path) -> None:
        """Renames apply to every column of a name, then duplicates are numbered."""
        headers = [PAGE, VISITS, VISITS, ORDERS]
        options = SheetOptions(columns={"orders": "visits", "pages": "Page"})

        target, _ = write_one(tmp_path, headers, [["home", 1, 2, 3]], options)

        expected = ["Page", "visits", "visits (2)", "visits (3)"]
        assert openpyxl_rows(target)[0] == expected
        assert calamine_rows(target)[0] == expected

    def test_header_is_bold_frozen_and_filtered(self, tmp_path: Path) -> None:
        """The header is bold and frozen; the autofilter covers the data."""
        rows = [["a much longer page name than the heading", 1], ["b", 2]]

        target, _ = write_one(tmp_path, [PAGE, VISITS], rows)

        sheet = openpyxl.load_workbook(target)["Data"]
        assert sheet["A1"].font.b
        assert not sheet["A2"].font.b
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref == "A1:B3"
        assert sheet.column_dimensions["A"].width > sheet.column_dimensions["B"].width

    def test_continuation_sheets_look_like_the_first(self, tmp_path: Path) -> None:
        """Every part of a long result has a bold, frozen header and an autofilter."""
        rows = [[f"page {i}", i] for i in range(5)]

        target, facts = write_one(tmp_path, [PAGE, VISITS], rows, max_rows_per_sheet=2)

        workbook = openpyxl.load_workbook(target)
        sheets = [workbook[title] for title in facts.titles]
        assert [sheet["A1"].font.b for sheet in sheets] == [True] * 3
        assert [sheet.freeze_panes for sheet in sheets] == ["A2"] * 3
        assert [sheet.auto_filter.ref for sheet in sheets] == [
            "A1:B3",
            "A1:B3",
            "A1:B2",
        ]


class TestTotals:
    """Total rows are found by their markers and labelled, kept or dropped."""

    LIST_ROWS = (["home", 10], ["0000000000", 5], ["shop", 20], ["0000000000", 35])
    PIVOT_HEADERS: tuple[dict[str, Any], ...] = (
        dict(DAY, sumPositions=[4]),
        dict(PAGE, sumPositions=[1, 3, 4]),
        VISITS,
    )
    PIVOT_ROWS = (
        ["20210826", "home", 7],
        ["20210826", None, 7],
        ["20210827", "home", 3],
        ["20210827", None, 3],
        [None, None, 10],
    )

    @pytest.mark.parametrize(
        ("totals", "expected"),
        [
            ("label", [["home", 10], ["0000000000", 5], ["shop", 20], ["Total", 35]]),
            (
                "keep",
                [["home", 10], ["0000000000", 5], ["shop", 20], ["0000000000", 35]],
            ),
            ("drop", [["home", 10], ["0000000000", 5], ["shop", 20]]),
        ],
    )
    def test_list_grand_total_by_its_marker(
        self, tmp_path: Path, totals: Any, expected: list[list[Any]]
    ) -> None:
        """A last ``0000000000`` row is the total; the same id earlier is data."""
        rows = [list(row) for row in self.LIST_ROWS]

        target, facts = write_one(
            tmp_path, [PAGE, VISITS], rows, SheetOptions(totals=totals)
        )

        assert openpyxl_rows(target)[1:] == expected
        assert calamine_rows(target)[1:] == expected
        assert (facts.total_rows, facts.rows_written) == (1, len(expected))

    def test_kept_marker_is_text_never_zero(self, tmp_path: Path) -> None:
        """Under ``totals: keep`` the marker stays the text 0000000000, never 0."""
        rows = [list(row) for row in self.LIST_ROWS]

        target, _ = write_one(
            tmp_path, [PAGE, VISITS], rows, SheetOptions(totals="keep")
        )

        cell = openpyxl.load_workbook(target)["Data"]["A5"]
        assert (cell.value, cell.data_type) == ("0000000000", "s")
        assert calamine_rows(target)[4][0] == "0000000000"

    def test_last_row_without_marker_is_data(self, tmp_path: Path) -> None:
        """A last row without a total marker is written as data, not dropped."""
        rows = [["home", 10], ["shop", 20]]

        target, facts = write_one(
            tmp_path, [PAGE, VISITS], rows, SheetOptions(totals="drop")
        )

        assert openpyxl_rows(target)[1:] == rows
        assert facts.total_rows == 0

    @pytest.mark.parametrize(
        ("totals", "expected"),
        [
            (
                "label",
                [
                    ["20210826", "home", 7],
                    ["20210826", "Total", 7],
                    ["20210827", "home", 3],
                    ["20210827", "Total", 3],
                    ["Total", None, 10],
                ],
            ),
            ("keep", [list(row) for row in PIVOT_ROWS]),
            ("drop", [["20210826", "home", 7], ["20210827", "home", 3]]),
        ],
    )
    def test_pivot_totals_by_sum_positions(
        self, tmp_path: Path, totals: Any, expected: list[list[Any]]
    ) -> None:
        """Rows in sumPositions are totals; their first null dimension is labelled."""
        rows = [list(row) for row in self.PIVOT_ROWS]

        target, facts = write_one(
            tmp_path, self.PIVOT_HEADERS, rows, SheetOptions(totals=totals)
        )

        assert openpyxl_rows(target)[1:] == expected
        assert facts.total_rows == 3


class TestSheets:
    """Sheets: overflow, notes, placeholders and order."""

    def test_result_over_the_row_limit_continues_with_the_header(
        self, tmp_path: Path
    ) -> None:
        """Seven rows with three per sheet fill three sheets, each with the header."""
        rows = [[f"page {i}", i] for i in range(7)]

        target, facts = write_one(tmp_path, [PAGE, VISITS], rows, max_rows_per_sheet=3)

        assert facts.titles == ["Data", "Data (2)", "Data (3)"]
        assert facts.rows_written == 7
        sheets = [openpyxl_rows(target, title) for title in facts.titles]
        assert [sheet[0] for sheet in sheets] == [["pages", "visits"]] * 3
        assert [row for sheet in sheets for row in sheet[1:]] == rows
        assert calamine_rows(target, "Data (3)") == [["pages", "visits"], ["page 6", 6]]
        assert "Data (2), Data (3)" in facts.notes[0]

    def test_continuation_avoids_planned_titles(self, tmp_path: Path) -> None:
        """A continuation sheet does not take a title planned for another query."""
        rows = [[f"page {i}", i] for i in range(3)]

        _, facts = write_one(
            tmp_path,
            [PAGE, VISITS],
            rows,
            max_rows_per_sheet=2,
            planned_titles=["Data", "data (2)"],
        )

        assert facts.titles == ["Data", "Data (3)"]

    def test_full_row_window_gets_a_note(self, tmp_path: Path) -> None:
        """A result filling its upperLimit window exactly is flagged as maybe cut."""
        rows = [["a", 1], ["b", 2], ["c", 3], ["0000000000", 6]]

        _, facts = write_one(tmp_path, [PAGE, VISITS], rows, SheetOptions(row_window=3))

        assert len(facts.notes) == 1
        assert "raise upperLimit" in facts.notes[0]

    def test_pivot_filling_its_window_with_groups_gets_a_note(
        self, tmp_path: Path
    ) -> None:
        """Two groups of two rows fill a window of 2; a window of 3 or 5 is roomy."""
        headers = [dict(DAY, sumPositions=[6]), dict(PAGE, sumPositions=[2, 5, 6])]
        rows = [
            ["20210826", "home"], ["20210826", "shop"], ["20210826", None],
            ["20210827", "home"], ["20210827", "shop"], ["20210827", None],
            [None, None],
        ]  # fmt: skip
        notes = []
        for window in (2, 3, 5):
            _, facts = write_one(
                tmp_path, headers, rows, SheetOptions(row_window=window)
            )
            notes.append(facts.notes)

        assert "raise upperLimit" in notes[0][0]
        assert notes[1:] == [[], []]

    def test_row_window_not_reached_has_no_note(self, tmp_path: Path) -> None:
        """A result below its window is not flagged."""
        rows = [["a", 1], ["b", 2], ["0000000000", 3]]

        _, facts = write_one(tmp_path, [PAGE, VISITS], rows, SheetOptions(row_window=3))

        assert facts.notes == []

    def test_empty_result_is_a_header_only_sheet(self, tmp_path: Path) -> None:
        """A result without rows is a sheet with its header row alone."""
        target, facts = write_one(tmp_path, [PAGE, VISITS], [])

        assert openpyxl_rows(target) == [["pages", "visits"]]
        assert facts.rows_written == 0

    def test_failure_writes_no_sheet_by_default(self, tmp_path: Path) -> None:
        """A failed query leaves no data sheet unless asked for a placeholder."""
        writer = WorkbookWriter(tmp_path / "export.xlsx")
        failed = record(0, "Broken")

        assert writer.write_failure(failed, SheetOptions()) == []
        writer.finish([failed], run_facts())
        assert openpyxl.load_workbook(tmp_path / "export.xlsx").sheetnames == [
            "Summary"
        ]

    def test_failure_placeholder_says_what_went_wrong(self, tmp_path: Path) -> None:
        """A placeholder sheet names the query and its error in words."""
        writer = WorkbookWriter(tmp_path / "export.xlsx")
        failed = record(0, "Broken")
        failed.state = QueryState.FAILED
        failed.error = "the calculation ended FAILED\x00"

        titles = writer.write_failure(failed, SheetOptions(failed_sheet="placeholder"))
        writer.finish([failed], run_facts())

        assert titles == ["Broken"]
        assert openpyxl_rows(tmp_path / "export.xlsx", "Broken") == [
            ["Query", "query 0"],
            ["Status", "failed"],
            ["Error", "the calculation ended FAILED"],
        ]

    def test_sheets_follow_query_order_whatever_the_write_order(
        self, tmp_path: Path
    ) -> None:
        """Results written as 2, 0, 1 are saved as 0, 1, 2, then Summary."""
        target = tmp_path / "export.xlsx"
        writer = WorkbookWriter(target, max_rows_per_sheet=1)
        queries = [record(i, f"Sheet {i}") for i in range(3)]
        for query in (queries[2], queries[0], queries[1]):
            rows = [[query.sheet_title, 1], ["more", 2]]
            query.sheet = writer.write_result(
                query, spool(tmp_path, [PAGE, VISITS], rows), SheetOptions()
            )
            query.state = QueryState.DONE

        writer.finish(queries, run_facts())

        workbook = openpyxl.load_workbook(target)
        assert workbook.sheetnames == [
            "Sheet 0", "Sheet 0 (2)", "Sheet 1", "Sheet 1 (2)",
            "Sheet 2", "Sheet 2 (2)", "Summary",
        ]  # fmt: skip
        assert workbook.active.title == "Sheet 0"
        assert (
            CalamineWorkbook.from_path(str(target)).sheet_names == workbook.sheetnames
        )
        assert openpyxl_rows(target, "Sheet 1")[1] == ["Sheet 1", 1]


class TestAtomicSave:
    """The target is replaced in one step or left untouched."""

    OLD = b"the previous workbook"

    def test_saved_workbook_replaces_the_target(self, tmp_path: Path) -> None:
        """A finished workbook replaces the old target and leaves no temp file."""
        (tmp_path / "export.xlsx").write_bytes(self.OLD)

        target, _ = write_one(tmp_path, [PAGE], [["a"]])

        assert zipfile.is_zipfile(target)
        assert leftovers(tmp_path) == []

    def test_saved_workbook_keeps_the_replaced_file_mode(self, tmp_path: Path) -> None:
        """The new workbook has the permissions of the file it replaced."""
        (tmp_path / "export.xlsx").write_bytes(self.OLD)
        (tmp_path / "export.xlsx").chmod(0o640)

        target, _ = write_one(tmp_path, [PAGE], [["a"]])

        assert stat.S_IMODE(target.stat().st_mode) == 0o640

    def test_new_workbook_is_not_private(self, tmp_path: Path) -> None:
        """A new workbook gets the usual permissions, not owner-only."""
        target, _ = write_one(tmp_path, [PAGE], [["a"]])

        assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~current_umask()

    def test_temp_file_is_hidden_beside_the_target(self, tmp_path: Path) -> None:
        """While writing, the workbook is a hidden .tmp file in the same folder."""
        writer = WorkbookWriter(tmp_path / "export.xlsx")

        (temp,) = leftovers(tmp_path)
        assert temp.name.startswith(".export.xlsx.")
        writer.discard()
        assert leftovers(tmp_path) == []

    def test_result_broken_partway_leaves_the_target(self, tmp_path: Path) -> None:
        """A spool broken after some rows raises; discarding keeps the old target."""
        target = tmp_path / "export.xlsx"
        target.write_bytes(self.OLD)
        writer = WorkbookWriter(target, max_rows_per_sheet=1)
        broken = spool(tmp_path, [PAGE, VISITS], [["a", 1], ["b", 2], ["c"]])

        with pytest.raises(ResultFormatError, match=r"query 0.*row 2"):
            writer.write_result(record(0, "Data"), broken, SheetOptions())
        writer.discard()

        assert target.read_bytes() == self.OLD
        assert leftovers(tmp_path) == []

    def test_broken_result_leaves_no_sheet_behind(self, tmp_path: Path) -> None:
        """After a broken result the writer goes on; none of its sheets is saved."""
        target = tmp_path / "export.xlsx"
        writer = WorkbookWriter(target, max_rows_per_sheet=1)
        bad, good = record(0, "Bad"), record(1, "Good")
        broken = spool(tmp_path, [PAGE, VISITS], [["a", 1], ["b", 2], ["c"]])
        with pytest.raises(ResultFormatError):
            writer.write_result(bad, broken, SheetOptions())

        good.sheet = writer.write_result(
            good, spool(tmp_path, [PAGE], [["x"]]), SheetOptions()
        )
        writer.finish([bad, good], run_facts())

        assert openpyxl.load_workbook(target).sheetnames == ["Good", "Summary"]

    def test_folder_removed_before_saving_is_reported(self, tmp_path: Path) -> None:
        """A target folder that vanished is a WorkbookError naming the folder."""
        folder = tmp_path / "out"
        folder.mkdir()
        writer = WorkbookWriter(folder / "export.xlsx")
        shutil.rmtree(folder)

        with pytest.raises(WorkbookError, match="no longer exists"):
            writer.finish([], run_facts())

        assert not folder.exists()

    def test_failure_while_saving_leaves_the_target(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A disk error while saving keeps the old target byte for byte."""
        target = tmp_path / "export.xlsx"
        target.write_bytes(self.OLD)
        writer = WorkbookWriter(target)

        def failing_fsync(_handle: int) -> None:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(os, "fsync", failing_fsync)
        with pytest.raises(WorkbookError, match="could not be saved"):
            writer.finish([], run_facts())

        assert target.read_bytes() == self.OLD
        assert leftovers(tmp_path) == []

    def test_saved_writer_refuses_more_work(self, tmp_path: Path) -> None:
        """After finish, writing another result is a WorkbookError."""
        writer = WorkbookWriter(tmp_path / "export.xlsx")
        writer.finish([], run_facts())

        with pytest.raises(WorkbookError, match="already saved"):
            writer.write_result(
                record(0, "Data"), spool(tmp_path, [PAGE], []), SheetOptions()
            )

    def test_missing_folder_is_reported_up_front(self, tmp_path: Path) -> None:
        """A target in a folder that does not exist fails before any work."""
        with pytest.raises(WorkbookError, match="does not exist"):
            WorkbookWriter(tmp_path / "missing" / "export.xlsx")

    def test_discard_removes_every_temporary_file(self, tmp_path: Path) -> None:
        """Discarding removes the workbook temp file and each sheet's row file."""
        output_folder = tmp_path / "out"
        output_folder.mkdir()
        target = output_folder / "export.xlsx"
        target.write_bytes(self.OLD)
        writer = WorkbookWriter(target, max_rows_per_sheet=1)
        writer.write_result(
            record(0, "Data"), spool(tmp_path, [PAGE], [["a"], ["b"]]), SheetOptions()
        )
        assert len(list(output_folder.iterdir())) > 2

        writer.discard()

        assert list(output_folder.iterdir()) == [target]
        assert target.read_bytes() == self.OLD


class TestStreaming:
    """Results are streamed, never held in memory whole."""

    @staticmethod
    def peak_while_writing(folder: Path, rows: int) -> tuple[int, int]:
        """Write ``rows`` rows; answer the peak allocation and the spool's size."""
        folder.mkdir()
        values = [[f"/shop/category/{i:08d}/" + "p" * 60] for i in range(rows)]
        path = spool(folder, [PAGE], values)
        del values
        writer = WorkbookWriter(folder / "export.xlsx")

        tracemalloc.start()
        try:
            facts = writer.write_result(record(0, "Data"), path, SheetOptions())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        writer.discard()

        assert facts.rows_written == rows
        return peak, path.stat().st_size

    def test_memory_does_not_grow_with_the_result(self, tmp_path: Path) -> None:
        """Three times the rows take no more memory, and far less than the spool.

        Held in memory, the rows alone would take about twice the spool.
        """
        small_peak, _ = self.peak_while_writing(tmp_path / "small", 15_000)
        large_peak, large_size = self.peak_while_writing(tmp_path / "large", 45_000)

        assert large_peak < small_peak * 1.25
        assert large_peak < large_size / 5
