"""``--only``: the re-run queries get fresh sheets, the others keep theirs."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import openpyxl
import pytest
from python_calamine import CalamineWorkbook
from xlsxwriter import Workbook

from helpers import (
    list_query,
    sheets_by_calamine,
    sheets_by_openpyxl,
    summary_rows,
    write_manifest,
)
from mapp_export.cli import main
from mapp_export.exact_worksheet import ExactWorksheet, RowCells
from mapp_export.manifest import load_plan
from mapp_export.outcome import ExitCode
from mapp_export.previous_workbook import open_previous, split_titles
from mapp_export.run_report_schema import RUN_REPORT_SCHEMA
from mapp_export.runner import RunOptions, run_plan
from mapp_export.sandbox import Sandbox
from mapp_export.settings import Credentials, Overrides
from mapp_export.workbook import SheetOptions, WorkbookWriter
from workbook_helpers import PAGE, VISITS, record, run_facts, spool

OUTPUT = Path("out") / "report.xlsx"
REPORT = Path("out") / "report.report.json"


def manifest(
    folder: Path,
    base_url: str,
    *,
    browsers_marker: str | None = None,
    vendors_marker: str | None = None,
    with_vendors: bool = True,
) -> Path:
    """Write the three-query manifest; a marker changes (or fails) that query."""
    queries = [
        ("Top pages", list_query("pages", 6)),
        ("Browsers", list_query("browser_fullName", 4, marker=browsers_marker)),
    ]
    if with_vendors:
        queries.append(("Vendors", list_query("os_vendor", 3, marker=vendors_marker)))
    return write_manifest(folder, queries, base_url=base_url)


def run(path: Path, *only: str, output: Path | None = None) -> int:
    """Run the command line on ``path``, re-running ``only`` if given."""
    arguments = ["--no-progress", "run", str(path)]
    for name in only:
        arguments += ["--only", name]
    if output is not None:
        arguments += ["--output", str(output)]
    return main(arguments)


def typed_sheets(path: Path) -> dict[str, list[list[tuple[Any, str]]]]:
    """Read every sheet as (value, openpyxl data type) pairs, so types compare too."""
    workbook = openpyxl.load_workbook(path, read_only=True)
    try:
        return {
            sheet.title: [
                [(cell.value, cell.data_type) for cell in row]
                for row in sheet.iter_rows()
            ]
            for sheet in workbook.worksheets
        }
    finally:
        workbook.close()


def report_of(folder: Path) -> dict[str, Any]:
    """Read the run report and check it against its schema."""
    report: dict[str, Any] = json.loads((folder / REPORT).read_text("utf-8"))
    jsonschema.validate(report, RUN_REPORT_SCHEMA)
    return report


def statuses(report: dict[str, Any]) -> dict[str, str]:
    """Map each query of the report to its status."""
    return {query["name"]: query["status"] for query in report["queries"]}


def summary_facts(path: Path) -> dict[str, Any]:
    """Return the facts above the Summary's table, label by label."""
    rows = sheets_by_openpyxl(path)["Summary"]
    facts: dict[str, Any] = {}
    for row in rows:
        if row[0] == "Query":
            return facts
        if row[0] is not None:
            facts[str(row[0])] = row[1]
    return facts


def look(path: Path, title: str) -> tuple[Any, ...]:
    """Describe a sheet's header look: bold cells, frozen pane, autofilter."""
    workbook = openpyxl.load_workbook(path)
    sheet = workbook[title]
    bold = tuple(cell.font.b for cell in sheet[1])
    return bold, sheet.freeze_panes, sheet.auto_filter.ref


@pytest.mark.usefixtures("failing_sandbox_credentials")
class TestCarryOver:
    """A run with --only keeps the other queries' sheets from the previous workbook."""

    def test_others_identical_rerun_fresh(
        self, failing_sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """Other sheets equal cell for cell; the re-run sheet is the new result."""
        path = manifest(tmp_path, failing_sandbox.base_url)
        assert run(path) == 0
        workbook = tmp_path / OUTPUT
        previous = tmp_path / "previous.xlsx"
        shutil.copy(workbook, previous)
        assert "Carried over from" not in summary_rows(previous)["Top pages"]
        assert all(q["carried_over"] is None for q in report_of(tmp_path)["queries"])

        changed = manifest(tmp_path, failing_sandbox.base_url, browsers_marker="new")
        assert run(changed, "browsers") == 0

        before, after = typed_sheets(previous), typed_sheets(workbook)
        assert list(after) == ["Top pages", "Browsers", "Vendors", "Summary"]
        for title in ("Top pages", "Vendors"):
            assert after[title] == before[title]
            assert (
                sheets_by_calamine(workbook)[title]
                == (sheets_by_calamine(previous)[title])
            )
            assert look(workbook, title) == look(previous, title)
        assert after["Browsers"] != before["Browsers"]
        fresh = tmp_path / "fresh.xlsx"
        assert run(changed, output=fresh) == 0
        assert after["Browsers"] == typed_sheets(fresh)["Browsers"]

    def test_summary_and_report_say_carried_over(
        self, failing_sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """The Summary and the report name what was re-run and what was kept."""
        path = manifest(tmp_path, failing_sandbox.base_url)
        assert run(path) == 0
        workbook = tmp_path / OUTPUT
        previous_start = summary_facts(workbook)["Run started"]
        previous_rows = summary_rows(workbook)

        assert run(path, "Browsers") == 0

        facts = summary_facts(workbook)
        assert facts["Re-run (--only)"] == "Browsers"
        assert facts["Others carried over from"] == previous_start
        table = summary_rows(workbook)
        assert {name: row["status"] for name, row in table.items()} == {
            "Top pages": "carried_over",
            "Browsers": "done",
            "Vendors": "carried_over",
        }
        assert table["Top pages"]["carried over from"] == previous_start
        assert table["Browsers"]["carried over from"] is None
        for heading in ("rows written", "calculation id", "started", "sheets"):
            assert table["Vendors"][heading] == previous_rows["Vendors"][heading]
        report = report_of(tmp_path)
        assert report["exit_code"] == 0
        assert report["counts"]["queries"] == 3
        assert report["counts"]["carried_over"] == 2
        assert statuses(report) == {
            "Top pages": "carried_over",
            "Browsers": "exported",
            "Vendors": "carried_over",
        }
        kept = report["queries"][0]
        assert kept["sheet_titles"] == ["Top pages"]
        assert kept["rows"] == previous_rows["Top pages"]["rows written"]
        assert kept["carried_over"]["stale"] is False
        assert kept["carried_over"]["result_from"] is not None

    def test_no_previous_workbook(
        self,
        failing_sandbox: Sandbox,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Without a previous workbook only the re-run sheets are written, warned."""
        path = manifest(tmp_path, failing_sandbox.base_url)

        assert run(path, "Browsers") == 0

        assert list(sheets_by_openpyxl(tmp_path / OUTPUT)) == ["Browsers", "Summary"]
        assert "WARNING no workbook at" in capsys.readouterr().err
        report = report_of(tmp_path)
        assert statuses(report) == {
            "Top pages": "not_in_previous_workbook",
            "Browsers": "exported",
            "Vendors": "not_in_previous_workbook",
        }
        assert "--only 'Top pages'" in report["queries"][0]["error"]
        facts = summary_facts(tmp_path / OUTPUT)
        assert facts["Others carried over from"].startswith("nothing")

    def test_previous_workbook_lacks_a_query(
        self, failing_sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """A query the previous workbook has no sheet of is reported as such."""
        older = manifest(tmp_path, failing_sandbox.base_url, with_vendors=False)
        assert run(older) == 0
        previous = typed_sheets(tmp_path / OUTPUT)

        path = manifest(tmp_path, failing_sandbox.base_url)
        assert run(path, "Browsers") == 0

        after = typed_sheets(tmp_path / OUTPUT)
        assert list(after) == ["Top pages", "Browsers", "Summary"]
        assert after["Top pages"] == previous["Top pages"]
        assert statuses(report_of(tmp_path))["Vendors"] == "not_in_previous_workbook"
        summary = summary_rows(tmp_path / OUTPUT)
        assert summary["Vendors"]["status"] == "not_in_previous_workbook"

    def test_resaved_workbook_without_a_listed_sheet(
        self, failing_sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """A workbook re-saved elsewhere (shared strings) missing a listed sheet."""
        path = manifest(tmp_path, failing_sandbox.base_url)
        assert run(path) == 0
        workbook = tmp_path / OUTPUT
        resaved = openpyxl.load_workbook(workbook)
        del resaved["Vendors"]
        resaved.save(workbook)
        previous = sheets_by_calamine(workbook)

        assert run(path, "Browsers") == 0

        assert sheets_by_calamine(workbook)["Top pages"] == previous["Top pages"]
        assert statuses(report_of(tmp_path)) == {
            "Top pages": "carried_over",
            "Browsers": "exported",
            "Vendors": "not_in_previous_workbook",
        }

    def test_unreadable_previous_workbook_refuses(
        self, failing_sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """A previous workbook that cannot be read stops the run before submitting."""
        path = manifest(tmp_path, failing_sandbox.base_url)
        workbook = tmp_path / OUTPUT
        workbook.parent.mkdir()
        workbook.write_bytes(b"not a workbook at all")

        assert run(path, "Browsers") == ExitCode.REFUSED

        assert workbook.read_bytes() == b"not a workbook at all"
        assert failing_sandbox.state.calculations_created == 0
        assert "cannot be read" in (report_of(tmp_path)["message"] or "")


@pytest.mark.usefixtures("failing_sandbox_credentials")
class TestRerunFails:
    """A re-run query that fails keeps its older sheet, marked stale."""

    def test_only_query_fails_leaves_workbook_untouched(
        self, failing_sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """When every re-run query fails, the previous workbook stays byte for byte."""
        path = manifest(tmp_path, failing_sandbox.base_url)
        assert run(path) == 0
        workbook = tmp_path / OUTPUT
        before = workbook.read_bytes()

        broken = manifest(tmp_path, failing_sandbox.base_url, browsers_marker="boom")
        assert run(broken, "Browsers") == ExitCode.NOTHING_EXPORTED

        assert workbook.read_bytes() == before

    def test_failed_query_keeps_stale_sheet(
        self, failing_sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """One of two re-run queries fails: its older sheet stays, marked stale."""
        path = manifest(tmp_path, failing_sandbox.base_url)
        assert run(path) == 0
        workbook = tmp_path / OUTPUT
        previous = typed_sheets(workbook)
        previous_start = summary_facts(workbook)["Run started"]

        broken = manifest(
            tmp_path,
            failing_sandbox.base_url,
            browsers_marker="boom",
            vendors_marker="new",
        )
        assert run(broken, "Browsers", "Vendors") == ExitCode.PARTIAL

        after = typed_sheets(workbook)
        assert list(after) == ["Top pages", "Browsers", "Vendors", "Summary"]
        assert after["Browsers"] == previous["Browsers"]
        assert after["Top pages"] == previous["Top pages"]
        assert after["Vendors"] != previous["Vendors"]
        row = summary_rows(workbook)["Browsers"]
        assert row["status"] == "stale"
        assert row["carried over from"] == previous_start
        assert "FAILED" in row["error"]
        query = report_of(tmp_path)["queries"][1]
        assert query["status"] == "failed"
        assert query["sheet_titles"] == []
        assert query["carried_over"]["stale"] is True
        assert query["carried_over"]["sheet_titles"] == ["Browsers"]


class TestContinuationSheets:
    """A carried-over query's continuation sheets come along."""

    @pytest.mark.anyio
    async def test_continuation_sheets_are_carried(
        self, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """``Top pages (2)`` and ``(3)`` are kept when only Browsers is re-run."""
        path = manifest(tmp_path, sandbox.base_url)
        credentials = Credentials(
            sandbox.options.client_id, sandbox.options.client_secret
        )
        options = RunOptions(max_rows_per_sheet=3)
        first = await run_plan(load_plan(path), credentials, options)
        assert first.exit_code is ExitCode.OK
        workbook = tmp_path / OUTPUT
        saved = tmp_path / "previous.xlsx"
        shutil.copy(workbook, saved)
        previous = typed_sheets(workbook)
        assert "Top pages (3)" in previous

        plan = load_plan(path, Overrides(only=("Browsers",)))
        outcome = await run_plan(plan, credentials, options)

        assert outcome.exit_code is ExitCode.OK
        after = typed_sheets(workbook)
        assert list(after) == list(previous)
        for title in ("Top pages", "Top pages (2)", "Top pages (3)", "Vendors"):
            assert after[title] == previous[title]
            assert look(workbook, title) == look(saved, title)
        [top] = [record for record in outcome.records if record.name == "Top pages"]
        assert top.carried is not None
        assert top.carried.titles == ["Top pages", "Top pages (2)", "Top pages (3)"]
        expected = sum(len(previous[title]) - 1 for title in top.carried.titles)
        assert top.carried.rows == expected


class TestSheetCopy:
    """Copying one sheet keeps every cell's type and value."""

    def test_cells_keep_their_types(self, tmp_path: Path) -> None:
        """Leading zeros, empty text, gaps, escapes, formulas-as-text, numbers."""
        rows = [
            ["00123", 12],
            ["", 0.1],
            [None, None],
            ["_x0041_ & <b>", 1e-7],
            ["=1/0", 123456789012345],
            ["  spaced  ", -0.0],
        ]
        source = tmp_path / "source.xlsx"
        writer = WorkbookWriter(source)
        data = record(0, "Data")
        data.sheet = writer.write_result(
            data, spool(tmp_path, [PAGE, VISITS], rows), SheetOptions()
        )
        data.state = data.state.DONE
        writer.finish([data], run_facts())

        target = tmp_path / "copy.xlsx"
        copier = WorkbookWriter(target)
        kept = record(0, "Data")
        with open_previous(source) as previous:
            copied = copier.copy_sheets(kept, ["Data"], previous)
        copier.finish([kept], run_facts())

        assert copied == len(rows)
        assert typed_sheets(target)["Data"] == typed_sheets(source)["Data"]
        calamine = CalamineWorkbook.from_path(str(target)).get_sheet_by_name("Data")
        assert calamine.to_python()[4][0] == "_x0041_ & <b>"
        assert look(target, "Data") == look(source, "Data")

    def test_error_cells_stay_numbers(self, tmp_path: Path) -> None:
        """The writer's NaN and infinity cells come back as the same error cells."""
        source = tmp_path / "source.xlsx"
        workbook = Workbook(str(source), {"constant_memory": True})
        sheet = workbook.add_worksheet("Data", worksheet_class=ExactWorksheet)
        sheet.write_string(0, 0, "visits")
        cells = RowCells(sheet, 1)
        for line, number in enumerate((math.nan, math.inf, -math.inf), start=1):
            cells.start(line)
            cells.write_number(line, 0, number)
            cells.finish()
        workbook.close()

        target = tmp_path / "copy.xlsx"
        copier = WorkbookWriter(target)
        kept = record(0, "Data")
        with open_previous(source) as previous:
            copier.copy_sheets(kept, ["Data"], previous)
        copier.finish([kept], run_facts())

        assert typed_sheets(target)["Data"] == typed_sheets(source)["Data"]


class TestSplitTitles:
    """The Summary's Sheets cell is split into titles the workbook holds."""

    def test_titles_holding_commas(self) -> None:
        """A title with ``", "`` inside is kept whole."""
        present = ["Pages, top", "Pages", "top", "Pages, top (2)"]

        titles = split_titles("Pages, top, Pages, top (2)", present)

        assert titles == ["Pages, top", "Pages, top (2)"]

    def test_missing_title(self) -> None:
        """A cell naming a sheet the workbook lacks cannot be split."""
        assert split_titles("Pages, Gone", ["Pages"]) is None
