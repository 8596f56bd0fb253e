"""Nightly manifests end to end: dates, text fields, reuse, reports and expectations.

Each test writes a small manifest, runs it against the sandbox over loopback and
asserts both what the sandbox received and what the workbook holds.
"""

from __future__ import annotations

import configparser
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from helpers import sheets_by_calamine, sheets_by_openpyxl, summary_rows
from mapp_export.cli import main
from mapp_export.manifest import load_plan
from mapp_export.outcome import ExitCode, RunOutcome
from mapp_export.runner import run_plan
from mapp_export.sandbox import Sandbox
from mapp_export.settings import Credentials, Overrides

POLL = "poll: {initial: 10ms, max_interval: 50ms, timeout: 30s}"

PAGES = """{columns: [{name: pages, lowerLimit: 1, upperLimit: 5}, {name: visits}],
              variant: LIST,
              predefinedContainer: {filters: [
                {name: time_dynamic, filterPredicate: LIKE, value1: last_7_days},
                {name: pages, filterPredicate: UNEQUAL, value1: NO, value2: 1.50}]}}"""


def write_manifest(folder: Path, base_url: str, text: str) -> Path:
    """Write a manifest pointing at ``base_url`` with fast polling."""
    head = f"api: {{base_url: '{base_url}'}}\noutput: out/report.xlsx\n{POLL}\n"
    path = folder / "nightly.yaml"
    path.write_text(head + textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


async def run(
    sandbox: Sandbox, path: Path, overrides: Overrides | None = None
) -> RunOutcome:
    """Load and run a manifest against the sandbox."""
    plan = load_plan(path, overrides)
    credentials = Credentials(sandbox.options.client_id, sandbox.options.client_secret)
    return await run_plan(plan, credentials)


def time_range(first: str, end: str) -> dict[str, Any]:
    """Return the time_range filter the exporter writes, end exclusive."""
    return {
        "name": "time_range",
        "filterPredicate": "BETWEEN",
        "connector": "AND",
        "caseSensitive": False,
        "context": "NONE",
        "intern": False,
        "value1": f"{first} 00:00:00",
        "value2": f"{end} 00:00:00",
    }


pytestmark = pytest.mark.anyio

REPOSITORY = Path(__file__).resolve().parent.parent


class TestWhatMappReceives:
    """The body sent is the body written, with its dates resolved."""

    async def test_text_fields_and_the_resolved_time_range(
        self, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """NO and 1.50 arrive as text; yesterday becomes a one-day time_range."""
        path = write_manifest(
            tmp_path,
            sandbox.base_url,
            f"""
            timezone: Europe/Berlin
            defaults: {{time: yesterday}}
            queries:
              - name: Pages
                query: {PAGES}
            """,
        )

        outcome = await run(sandbox, path, Overrides(run_date=date(2027, 1, 1)))

        assert outcome.exit_code is ExitCode.OK
        assert sandbox.state.received_queries == [
            {
                "resultType": "DATA_ONLY",
                "queryObject": {
                    "columns": [
                        {"name": "pages", "lowerLimit": 1, "upperLimit": 5},
                        {"name": "visits"},
                    ],
                    "variant": "LIST",
                    "predefinedContainer": {
                        "filters": [
                            time_range("2026-12-31", "2027-01-01"),
                            {
                                "name": "pages",
                                "filterPredicate": "UNEQUAL",
                                "value1": "NO",
                                "value2": "1.50",
                            },
                        ]
                    },
                },
            }
        ]


class TestReuse:
    """Equal queries are calculated once; --only runs a subset."""

    async def test_equal_bodies_are_calculated_once_and_written_twice(
        self, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """Two queries equal after dates resolve cost one calculation, two sheets."""
        path = write_manifest(
            tmp_path,
            sandbox.base_url,
            f"""
            queries:
              - name: Pages
                time: yesterday
                query: {PAGES}
              - name: Same pages
                time: {{from: 2026-12-03, to: 2026-12-03}}
                totals: drop
                query: {PAGES}
            """,
        )

        outcome = await run(sandbox, path, Overrides(run_date=date(2026, 12, 4)))

        assert outcome.exit_code is ExitCode.OK
        assert sandbox.state.calculations_created == 1
        assert len(sandbox.state.received_queries) == 1
        sheets = sheets_by_openpyxl(tmp_path / "out" / "report.xlsx")
        assert sheets["Pages"][:-1] == sheets["Same pages"]
        assert sheets["Pages"][-1][0] == "Total"

    async def test_only_runs_the_named_query(
        self, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """--only sends one query and writes only its sheet to the same path."""
        path = write_manifest(
            tmp_path,
            sandbox.base_url,
            f"""
            queries:
              - name: Pages
                query: {PAGES}
              - name: Other
                time: yesterday
                query: {PAGES}
            """,
        )

        outcome = await run(sandbox, path, Overrides(only=("pages",)))

        assert outcome.exit_code is ExitCode.OK
        assert len(sandbox.state.received_queries) == 1
        workbook = sheets_by_calamine(tmp_path / "out" / "report.xlsx")
        assert list(workbook) == ["Pages", "Summary"]


class TestExpect:
    """expect.min_rows turns a suspiciously small result into a failed query."""

    async def test_short_result_fails_and_leaves_no_sheet(
        self, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """Five data rows under min_rows 6: the query fails, its sheet is gone."""
        path = write_manifest(
            tmp_path,
            sandbox.base_url,
            f"""
            defaults: {{expect: {{min_rows: 6}}}}
            queries:
              - name: Short
                query: {PAGES}
              - name: Enough
                expect: {{min_rows: 5}}
                time: yesterday
                query: {PAGES}
            """,
        )

        outcome = await run(sandbox, path)

        assert outcome.exit_code is ExitCode.PARTIAL
        short = outcome.records[0]
        assert short.error == (
            "Short: the result has 5 data rows, fewer than expect.min_rows (6), so "
            "its sheet was left out; check the query's filters and time range in "
            "Mapp, or lower expect.min_rows"
        )
        output = tmp_path / "out" / "report.xlsx"
        assert list(sheets_by_openpyxl(output)) == ["Enough", "Summary"]
        assert summary_rows(output)["Short"]["status"] == "failed"


class TestReports:
    """A saved report becomes one sheet per element, in element order."""

    async def test_report_elements_become_sheets(
        self, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """Report 841 with two chosen elements: two sheets, the request as sent."""
        path = write_manifest(
            tmp_path,
            sandbox.base_url,
            """
            queries:
              - name: Overview
                report: 841
                elements: [43948, 43946]
                time: last_7_days
            """,
        )

        outcome = await run(sandbox, path, Overrides(run_date=date(2026, 3, 30)))

        assert outcome.exit_code is ExitCode.OK, outcome.records[0].error
        assert sandbox.state.received_report_queries == [
            {
                "id": 841,
                "elementIds": [43948, 43946],
                "timeFilter": time_range("2026-03-23", "2026-03-30"),
            }
        ]
        assert sandbox.state.calculations_created == 2
        elements = [query["queryObject"] for query in _calculated(sandbox)]
        filters = elements[0]["predefinedContainer"]["filters"]
        assert filters == [time_range("2026-03-23", "2026-03-30")]
        sheets = sheets_by_openpyxl(tmp_path / "out" / "report.xlsx")
        assert list(sheets) == ["Overview 43948", "Overview 43946", "Summary"]
        assert sheets["Overview 43948"][0] == ["pages", "visits", "visits_bounceRate"]
        summary = summary_rows(tmp_path / "out" / "report.xlsx")["Overview"]
        assert summary["sheets"] == "Overview 43948, Overview 43946"

    async def test_validate_and_the_run_title_elements_alike(
        self, sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An element title a query already has is numbered in both the same way."""
        path = write_manifest(
            tmp_path,
            sandbox.base_url,
            f"""
            queries:
              - name: Overview 43946
                query: {PAGES}
              - name: Overview
                report: 841
                elements: [43946]
            """,
        )

        assert main(["validate", str(path)]) == 0
        shown = capsys.readouterr().out
        outcome = await run(sandbox, path)

        assert outcome.exit_code is ExitCode.OK
        sheets = list(sheets_by_openpyxl(tmp_path / "out" / "report.xlsx"))
        assert sheets == ["Overview 43946", "Overview 43946 (2)", "Summary"]
        assert "Overview 43946 (2)" in shown

    async def test_unknown_report_fails_that_query(
        self, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """A report id Mapp does not know fails the query with the API's words."""
        path = write_manifest(
            tmp_path,
            sandbox.base_url,
            f"""
            queries:
              - name: Missing
                report: 999
              - name: Pages
                query: {PAGES}
            """,
        )

        outcome = await run(sandbox, path)

        assert outcome.exit_code is ExitCode.PARTIAL
        assert "Report not found" in (outcome.records[0].error or "")


def _calculated(sandbox: Sandbox) -> list[dict[str, Any]]:
    """Return the bodies of the sandbox's calculations, in creation order."""
    return [calculation.body for calculation in sandbox.state.calculations.values()]


class TestValidate:
    """validate prints the plan before the night; --online asks Mapp too."""

    def test_prints_time_ranges_fingerprints_and_calculations(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Equal queries share a fingerprint and count once."""
        path = write_manifest(
            tmp_path,
            "http://127.0.0.1:9/analytics/api",
            f"""
            defaults: {{time: last_7_days}}
            queries:
              - name: Pages
                query: {PAGES}
              - name: Same
                query: {PAGES}
              - name: Overview
                report: 841
                elements: [43946, 43947]
            """,
        )

        code = main(["validate", str(path), "--date", "2026-12-04"])

        out = capsys.readouterr().out
        assert code == 0
        fingerprint = (
            load_plan(path, Overrides(run_date=date(2026, 12, 4)))
            .queries[0]
            .fingerprint
        )
        assert out.count(fingerprint) == 2
        assert "2026-11-27 to 2026-12-03 (7 days)" in out
        assert "calculations: 3 (1 equal query reused)" in out
        assert "Overview 43946, Overview 43947" in out

    def test_online_reports_whether_the_allowance_suffices(
        self,
        tmp_path: Path,
        threaded_sandbox: Sandbox,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """--online fetches a token and the usage, and calculates nothing."""
        monkeypatch.setenv("MAPP_CLIENT_ID", threaded_sandbox.options.client_id)
        monkeypatch.setenv("MAPP_CLIENT_SECRET", threaded_sandbox.options.client_secret)
        path = write_manifest(
            tmp_path,
            threaded_sandbox.base_url,
            f"""
            queries:
              - name: Pages
                query: {PAGES}
            """,
        )

        code = main(["validate", str(path), "--online"])

        out = capsys.readouterr().out
        assert code == 0
        assert "online:   token fetched; 0 of 310000 calculations used" in out
        assert "this run needs 1: the run fits" in out
        assert threaded_sandbox.state.token_requests == 1
        assert threaded_sandbox.state.calculations_created == 0


class TestExampleOutput:
    """config/nightly.yaml writes where git ignores it, and where systemd may write."""

    def test_without_reports_dir_it_writes_to_the_repository_output(self) -> None:
        """Unset REPORTS_DIR falls back to the repository's ignored output/ folder."""
        plan = load_plan(
            REPOSITORY / "config" / "nightly.yaml",
            Overrides(run_date=date(2026, 12, 4)),
            environment={},
        )

        assert plan.output == REPOSITORY / "output" / "nightly-2026-12-04.xlsx"
        ignored = (REPOSITORY / ".gitignore").read_text(encoding="utf-8").splitlines()
        assert "/output/*" in ignored

    def test_the_systemd_unit_gives_a_writable_reports_dir(self) -> None:
        """The unit's REPORTS_DIR lies inside its only ReadWritePaths."""
        unit = configparser.ConfigParser(interpolation=None, strict=False)
        unit.optionxform = str  # type: ignore[assignment,method-assign]
        unit.read(REPOSITORY / "deploy" / "systemd" / "mapp-export@.service")
        service = unit["Service"]
        name, _, folder = service["Environment"].partition("=")

        plan = load_plan(
            REPOSITORY / "config" / "nightly.yaml",
            Overrides(run_date=date(2026, 12, 4)),
            environment={name: folder},
        )

        assert service["ProtectSystem"] == "strict"
        assert plan.output.parent == Path(service["ReadWritePaths"])
