"""The run report: written beside the workbook whatever the exit code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from helpers import list_query, sheets_by_calamine, summary_rows, write_manifest
from mapp_export.cli import main
from mapp_export.run_report_schema import RUN_REPORT_SCHEMA
from mapp_export.sandbox import Sandbox


def _manifest(folder: Path, base_url: str) -> Path:
    return write_manifest(
        folder,
        [
            ("Top pages", list_query("pages", 4)),
            ("Broken one", list_query("pages", 2, marker="boom")),
            ("Browsers", list_query("os_vendor", 3)),
        ],
        base_url=base_url,
    )


def _read(path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.validate(report, RUN_REPORT_SCHEMA)
    return report


def _by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {query["name"]: query for query in report["queries"]}


@pytest.mark.usefixtures("failing_sandbox_credentials")
class TestAfterARun:
    """A run that got to its queries."""

    def test_report_matches_the_workbook(
        self, failing_sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """Statuses, sheet titles and rows in the report agree with the workbook."""
        code = main(["run", str(_manifest(tmp_path, failing_sandbox.base_url))])

        workbook = tmp_path / "out" / "report.xlsx"
        report = _read(tmp_path / "out" / "report.report.json")
        queries = _by_name(report)
        summary = summary_rows(workbook)
        assert code == report["exit_code"] == 1
        assert report["outcome"] == "partial"
        assert report["workbook"] == {"path": str(workbook), "written": True}
        assert report["counts"] == {
            "queries": 3,
            "exported": 2,
            "failed": 1,
            "not_started": 0,
            "not_saved": 0,
            "carried_over": 0,
            "not_in_previous_workbook": 0,
        }
        sheets = sheets_by_calamine(workbook)
        exported = [
            title for query in report["queries"] for title in query["sheet_titles"]
        ]
        assert exported == [title for title in sheets if title != "Summary"]
        for name in ("Top pages", "Browsers"):
            [title] = queries[name]["sheet_titles"]
            assert queries[name]["status"] == "exported"
            assert queries[name]["rows"] == summary[name]["rows written"]
            assert queries[name]["rows"] == len(sheets[title]) - 1

    def test_failed_query_carries_its_error_and_ids(
        self, failing_sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """A failed query has status failed, no sheet, its ids, polls and error."""
        main(["run", str(_manifest(tmp_path, failing_sandbox.base_url))])

        broken = _by_name(_read(tmp_path / "out" / "report.report.json"))["Broken one"]
        assert broken["status"] == "failed"
        assert broken["sheet_titles"] == []
        assert broken["rows"] is None
        assert "FAILED" in broken["error"]
        assert broken["correlation_id"]
        assert broken["calculation_id"]
        assert broken["polls"] >= 1
        assert broken["duration_seconds"] >= 0

    def test_report_flag_chooses_the_path_and_leaves_no_temporary_file(
        self, failing_sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """--report writes there, by rename: no temporary file is left beside it."""
        target = tmp_path / "reports" / "nightly.json"

        main(
            [
                "run",
                str(_manifest(tmp_path, failing_sandbox.base_url)),
                "--report",
                str(target),
            ]
        )

        assert _read(target)["exit_code"] == 1
        assert [path.name for path in target.parent.iterdir()] == ["nightly.json"]
        assert not (tmp_path / "out" / "report.report.json").exists()


class TestWithoutAWorkbook:
    """Runs that end before a workbook is written still leave a report."""

    def test_missing_credentials_exit_2_is_reported(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A refusal after reading the manifest writes a report of exit code 2."""
        monkeypatch.delenv("MAPP_CLIENT_ID", raising=False)
        monkeypatch.delenv("MAPP_CLIENT_SECRET", raising=False)
        manifest = _manifest(tmp_path, "http://127.0.0.1:9/analytics/api")

        code = main(["run", str(manifest)])

        report = _read(tmp_path / "out" / "report.report.json")
        assert code == report["exit_code"] == 2
        assert report["outcome"] == "refused"
        assert "MAPP_CLIENT_ID" in report["message"]
        assert report["workbook"]["written"] is False
        assert {query["status"] for query in report["queries"]} == {"not_started"}
        assert not (tmp_path / "out" / "report.xlsx").exists()

    def test_refused_credentials_exit_3_is_reported(
        self,
        failing_sandbox: Sandbox,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Refused credentials leave the workbook untouched and a report of exit 3."""
        monkeypatch.setenv("MAPP_CLIENT_ID", failing_sandbox.options.client_id)
        monkeypatch.setenv("MAPP_CLIENT_SECRET", "not-the-secret-123")
        workbook = tmp_path / "out" / "report.xlsx"
        workbook.parent.mkdir()
        workbook.write_bytes(b"last night")

        code = main(["run", str(_manifest(tmp_path, failing_sandbox.base_url))])

        text = (tmp_path / "out" / "report.report.json").read_text(encoding="utf-8")
        report = _read(tmp_path / "out" / "report.report.json")
        assert code == report["exit_code"] == 3
        assert report["outcome"] == "nothing_exported"
        assert report["counts"]["not_started"] == 3
        assert workbook.read_bytes() == b"last night"
        assert "not-the-secret-123" not in text

    def test_unreadable_manifest_writes_no_report(self, tmp_path: Path) -> None:
        """Before the manifest is read there is no workbook path, so no report."""
        manifest = tmp_path / "manifest.yaml"
        manifest.write_text("queries: [\n", encoding="utf-8")

        code = main(["run", str(manifest)])

        assert code == 2
        assert list(tmp_path.rglob("*.report.json")) == []


class TestSchema:
    """``mapp-export run-report-schema``."""

    def test_prints_a_valid_json_schema(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The printed schema is a valid draft 2020-12 schema and only that."""
        code = main(["run-report-schema"])

        printed = json.loads(capsys.readouterr().out)
        assert code == 0
        jsonschema.Draft202012Validator.check_schema(printed)
        assert printed == RUN_REPORT_SCHEMA
