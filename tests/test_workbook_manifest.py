"""Sheet settings from the manifest, end to end: sandbox, run, workbook read back.

Each sheet is compared whole, with openpyxl and with python-calamine, against
what the sandbox sent after the documented transformations (see
:func:`workbook_helpers.expected_sheet`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers import (
    credentials_of,
    list_query,
    sheets_by_calamine,
    sheets_by_openpyxl,
    summary_rows,
    write_manifest,
)
from mapp_export.errors import ManifestError
from mapp_export.manifest import Plan, load_plan
from mapp_export.outcome import ExitCode
from mapp_export.runner import RunOptions, run_plan
from mapp_export.sandbox import (
    OutcomeRule,
    Sandbox,
    SandboxOptions,
    build_result,
    running_sandbox,
)
from mapp_export.settings import Overrides
from mapp_export.workbook import SheetOptions
from workbook_helpers import expected_sheet
from xlsx_checks import package_problems

pytestmark = pytest.mark.anyio

REPOSITORY = Path(__file__).resolve().parent.parent
EXAMPLE = REPOSITORY / "config" / "example.yaml"
PIVOT_BODY: dict[str, Any] = json.loads(
    (REPOSITORY / "config" / "queries" / "days-by-os-vendor.json").read_text("utf-8")
)
ORDERS_BODY = list_query("time_days", 7, metrics=("visits", "order_value"))


async def run(
    sandbox: Sandbox, plan: Plan, options: RunOptions | None = None
) -> ExitCode:
    """Run ``plan`` against the sandbox and answer the exit code."""
    outcome = await run_plan(plan, credentials_of(sandbox), options or RunOptions())
    return outcome.exit_code


def calamine_view(rows: list[list[Any]]) -> list[list[Any]]:
    """Spell expected rows as python-calamine reads them: empty cells as ""."""
    return [["" if value is None else value for value in row] for row in rows]


def assert_sheet(
    output: Path, title: str, body: dict[str, Any], options: SheetOptions
) -> list[list[Any]]:
    """Check one sheet against the sandbox's result in both readers; answer it."""
    expected = expected_sheet(build_result(body), options)

    assert sheets_by_openpyxl(output)[title] == expected
    assert sheets_by_calamine(output)[title] == calamine_view(expected)
    return expected


class TestSheetSettings:
    """nulls, totals and columns, per query and in defaults."""

    async def test_defaults_and_per_query_settings_shape_the_sheets(
        self, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """Defaults apply to every query; a query's own settings win over them."""
        renames = {"visits": "Visits", "order_value": "Order value"}
        manifest = write_manifest(
            tmp_path,
            [("Inherits", ORDERS_BODY), ("Own", ORDERS_BODY)],
            base_url=sandbox.base_url,
            extra={"defaults": {"nulls": "zero", "totals": "keep"}},
        )
        text = manifest.read_text("utf-8").replace(
            "- name: Own\n",
            "- name: Own\n  nulls: empty\n  totals: drop\n"
            f"  columns: {json.dumps(renames)}\n",
        )
        manifest.write_text(text, "utf-8")
        plan = load_plan(manifest)

        assert await run(sandbox, plan) is ExitCode.OK

        assert any(None in row for row in build_result(ORDERS_BODY)["rows"])
        inherited = SheetOptions(nulls="zero", totals="keep")
        own = SheetOptions(nulls="empty", totals="drop", columns=renames)
        kept = assert_sheet(plan.output, "Inherits", ORDERS_BODY, inherited)
        dropped = assert_sheet(plan.output, "Own", ORDERS_BODY, own)
        assert kept[-1][0] == "0000000000"
        assert dropped[0] == ["time_days", "Visits", "Order value"]
        assert len(dropped) == len(kept) - 1

    @pytest.mark.parametrize("totals", ["label", "keep", "drop"])
    async def test_pivot_totals_by_sum_positions(
        self, sandbox: Sandbox, tmp_path: Path, totals: Any
    ) -> None:
        """Mapp's pivot example: (sub)totals found by sumPositions, then the policy."""
        manifest = write_manifest(
            tmp_path,
            [("Days by OS vendor", PIVOT_BODY)],
            base_url=sandbox.base_url,
            extra={"defaults": {"totals": totals}},
        )
        plan = load_plan(manifest)

        assert await run(sandbox, plan) is ExitCode.OK

        body = plan.queries[0].body
        rows = assert_sheet(
            plan.output, "Days by OS vendor", body, SheetOptions(totals=totals)
        )[1:]
        result = build_result(body)
        totals_sent = sum(row[1] is None for row in result["rows"])
        assert totals_sent == 8
        kept = {"label": totals_sent, "keep": totals_sent, "drop": 0}[totals]
        assert len(rows) == len(result["rows"]) - totals_sent + kept
        if totals == "label":
            assert rows[-1][:2] == ["Total", None]
            assert {row[1] for row in rows if row[0] != "Total"} >= {"Total"}

    async def test_failed_query_gets_a_placeholder_sheet(self, tmp_path: Path) -> None:
        """With ``failed_sheet: placeholder`` a failed query's sheet says why."""
        options = SandboxOptions(
            calculation_seconds=0.05, outcomes=(OutcomeRule("sandbox-fail", "FAILED"),)
        )
        async with running_sandbox(options) as sandbox:
            manifest = write_manifest(
                tmp_path,
                [
                    ("Good", list_query("pages", 3)),
                    ("Fails", list_query("pages", 3, marker="sandbox-fail")),
                ],
                base_url=sandbox.base_url,
                extra={"defaults": {"failed_sheet": "placeholder"}},
            )
            plan = load_plan(manifest)

            assert await run(sandbox, plan) is ExitCode.PARTIAL

        for reader in (sheets_by_openpyxl, sheets_by_calamine):
            sheets = reader(plan.output)
            assert list(sheets) == ["Good", "Fails", "Summary"]
            assert [row[0] for row in sheets["Fails"]] == ["Query", "Status", "Error"]
            assert sheets["Fails"][1][1] == "failed"
            assert "FAILED" in sheets["Fails"][2][1]


class TestRowLimits:
    """Long results continue on further sheets; a full window is flagged."""

    async def test_long_result_continues_with_the_header(
        self, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """With four rows a sheet, eleven rows fill three sheets, header on each."""
        body = list_query("pages", 10)
        manifest = write_manifest(
            tmp_path, [("Pages", body)], base_url=sandbox.base_url
        )
        plan = load_plan(manifest)

        assert await run(sandbox, plan, RunOptions(max_rows_per_sheet=4)) is ExitCode.OK

        expected = expected_sheet(build_result(body), SheetOptions())
        assert len(expected) == 12
        for reader in (sheets_by_openpyxl, sheets_by_calamine):
            sheets = reader(plan.output)
            assert list(sheets) == ["Pages", "Pages (2)", "Pages (3)", "Summary"]
            parts = [sheets[title] for title in ("Pages", "Pages (2)", "Pages (3)")]
            assert all(part[0] == expected[0] for part in parts)
            assert [len(part) - 1 for part in parts] == [4, 4, 3]
        assert "Pages (2), Pages (3)" in summary_rows(plan.output)["Pages"]["notes"]

    async def test_result_filling_its_window_is_flagged(
        self, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """Five rows asked and five sent is flagged; a pivot by its groups too."""
        queries = [
            ("Full", list_query("pages", 5)),
            ("Roomy", list_query("browser_fullName", 500)),
            ("Pivot", PIVOT_BODY),
        ]
        manifest = write_manifest(tmp_path, queries, base_url=sandbox.base_url)
        plan = load_plan(manifest)

        assert await run(sandbox, plan) is ExitCode.OK

        summary = summary_rows(plan.output)
        assert "raise upperLimit" in summary["Full"]["notes"]
        assert summary["Roomy"]["notes"] is None
        assert "raise upperLimit" in summary["Pivot"]["notes"]


class TestExample:
    """The README's example manifest, run on the sandbox."""

    async def test_every_sheet_is_what_the_sandbox_sent(
        self, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """Each sheet equals its transformed result; the package needs no repair."""
        output = tmp_path / "example.xlsx"
        overrides = Overrides(base_url=sandbox.base_url, output=output)
        plan = load_plan(EXAMPLE, overrides)

        assert await run(sandbox, plan) is ExitCode.OK

        assert package_problems(output) == []
        for query in plan.queries:
            assert_sheet(output, query.sheet_title, query.body, query.sheet_options)


class TestSheetTitles:
    """A query's ``sheet:`` title is held to Excel's rules before anything runs."""

    @pytest.mark.parametrize("title", ["a/b", "History", "'quoted'", "x" * 32])
    def test_bad_sheet_title_is_refused(self, tmp_path: Path, title: str) -> None:
        """A title Excel would refuse is a manifest error naming the problem."""
        manifest = write_manifest(
            tmp_path, [("Pages", list_query())], base_url="http://127.0.0.1:9/api"
        )
        text = manifest.read_text("utf-8").replace(
            "- name: Pages\n", f"- name: Pages\n  sheet: {json.dumps(title)}\n"
        )
        manifest.write_text(text, "utf-8")

        with pytest.raises(ManifestError, match="sheet"):
            load_plan(manifest)
