"""End-to-end runs against the sandbox over loopback, read back from the workbook."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import (
    credentials_of,
    list_query,
    sheets_by_calamine,
    sheets_by_openpyxl,
    summary_rows,
    write_manifest,
)
from mapp_export.manifest import load_plan
from mapp_export.outcome import ExitCode
from mapp_export.records import QueryRecord, QueryState
from mapp_export.runner import RunOptions, run_plan
from mapp_export.sandbox import (
    OutcomeRule,
    Sandbox,
    SandboxOptions,
    build_result,
    running_sandbox,
)
from mapp_export.settings import Credentials

pytestmark = pytest.mark.anyio


async def run_manifest(
    sandbox: Sandbox, manifest: Path, *, listener: object = None
) -> tuple[ExitCode, list[QueryRecord], Path]:
    """Run a manifest against the sandbox; return the exit code, records and output."""
    plan = load_plan(manifest)
    outcome = await run_plan(
        plan,
        credentials_of(sandbox),
        RunOptions(),
        listener=listener,  # type: ignore[arg-type]
    )
    return outcome.exit_code, outcome.records, plan.output


class TestHappyPath:
    """Many queries, one token, one workbook."""

    async def test_every_query_becomes_a_sheet_matching_the_sandbox(
        self, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """Each sheet's header and rows equal what the sandbox calculated."""
        queries = [
            ("Pages", list_query("pages", 7)),
            ("Browsers", list_query("browser_fullName", 4)),
            ("Days", list_query("time_days", 3)),
        ]
        manifest = write_manifest(tmp_path, queries, base_url=sandbox.base_url)

        exit_code, records, output = await run_manifest(sandbox, manifest)

        assert exit_code is ExitCode.OK
        assert all(record.state is QueryState.DONE for record in records)
        for reader in (sheets_by_openpyxl, sheets_by_calamine):
            sheets = reader(output)
            assert list(sheets) == ["Pages", "Browsers", "Days", "Summary"]
            for name, body in queries:
                result = build_result(body)
                header, *rows = sheets[name]
                assert header == [column["name"] for column in result["headers"]]
                assert len(rows) == len(result["rows"])

    async def test_one_token_serves_every_query(
        self, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """Twelve queries share a single token request."""
        queries = [(f"Query {n}", list_query("pages", n + 1)) for n in range(12)]
        manifest = write_manifest(tmp_path, queries, base_url=sandbox.base_url)

        exit_code, _, _ = await run_manifest(sandbox, manifest)

        assert exit_code is ExitCode.OK
        assert sandbox.state.token_requests == 1
        assert sandbox.state.calculations_created == 12

    async def test_concurrency_cap_is_reached_and_never_passed(
        self, tmp_path: Path
    ) -> None:
        """Three times as many queries as the cap keep exactly the cap in flight."""
        options = SandboxOptions(calculation_seconds=0.5)
        async with running_sandbox(options) as sandbox:
            queries = [(f"Query {n}", list_query("pages", n + 1)) for n in range(9)]
            manifest = write_manifest(
                tmp_path, queries, base_url=sandbox.base_url, concurrency=3
            )

            exit_code, _, _ = await run_manifest(sandbox, manifest)

        assert exit_code is ExitCode.OK
        assert sandbox.state.max_in_flight == 3

    async def test_cached_result_skips_polling(
        self, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """A second run of the same query is answered 200 and skips polling."""
        manifest = write_manifest(
            tmp_path, [("Pages", list_query("pages", 6))], base_url=sandbox.base_url
        )

        first_code, first, _ = await run_manifest(sandbox, manifest)
        second_code, second, output = await run_manifest(sandbox, manifest)

        assert (first_code, second_code) == (ExitCode.OK, ExitCode.OK)
        assert not first[0].cached
        assert first[0].polls >= 1
        assert second[0].cached
        assert second[0].polls == 0
        assert sandbox.state.calculations_created == 1
        assert sandbox.state.cached_answers == 1
        assert len(sheets_by_openpyxl(output)["Pages"]) == 1 + len(
            build_result(list_query("pages", 6))["rows"]
        )

    async def test_token_refused_mid_run_is_refreshed_once(
        self, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """After the API refuses the token, one new token serves every query."""
        queries = [(f"Query {n}", list_query("pages", n + 2)) for n in range(6)]
        manifest = write_manifest(tmp_path, queries, base_url=sandbox.base_url)
        expired = False

        def expire_once(record: QueryRecord) -> None:
            nonlocal expired
            if record.state is QueryState.SUBMITTED and not expired:
                expired = True
                sandbox.state.expire_tokens()

        exit_code, _, _ = await run_manifest(sandbox, manifest, listener=expire_once)

        assert exit_code is ExitCode.OK
        assert expired
        assert sandbox.state.token_requests == 2
        assert sandbox.state.rejected_tokens >= 1


class TestFailures:
    """Failing queries are recorded; the others keep their sheets."""

    async def test_failed_aborted_and_endless_queries_beside_good_ones(
        self, tmp_path: Path
    ) -> None:
        """FAILED, ABORTED and timed-out queries fail alone; exit code 1."""
        options = SandboxOptions(
            calculation_seconds=0.05,
            outcomes=(
                OutcomeRule("sandbox-fail", "FAILED"),
                OutcomeRule("sandbox-abort", "ABORTED"),
                OutcomeRule("sandbox-never", "NEVER"),
            ),
        )
        async with running_sandbox(options) as sandbox:
            queries = [
                ("Good one", list_query("pages", 4)),
                ("Fails", list_query("pages", 5, marker="sandbox-fail")),
                ("Aborts", list_query("pages", 6, marker="sandbox-abort")),
                ("Never ends", list_query("pages", 7, marker="sandbox-never")),
                ("Good two", list_query("browser_fullName", 3)),
            ]
            manifest = write_manifest(
                tmp_path, queries, base_url=sandbox.base_url, timeout="0.5s"
            )

            exit_code, records, output = await run_manifest(sandbox, manifest)

        by_name = {record.name: record for record in records}
        assert exit_code is ExitCode.PARTIAL
        assert by_name["Good one"].succeeded
        assert by_name["Good two"].succeeded
        assert "FAILED" in (by_name["Fails"].error or "")
        assert "ABORTED" in (by_name["Aborts"].error or "")
        assert "poll.timeout" in (by_name["Never ends"].error or "")
        assert sandbox.state.deletes == [by_name["Never ends"].correlation_id]

        sheets = sheets_by_openpyxl(output)
        assert list(sheets) == ["Good one", "Good two", "Summary"]
        summary = summary_rows(output)
        assert summary["Fails"]["status"] == "failed"
        assert "FAILED" in str(summary["Fails"]["error"])
        assert summary["Good one"]["status"] == "done"

    async def test_rejected_query_fails_alone(
        self, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """A 422 for an unknown object name fails that query with the name in words."""
        bad = list_query("pages", 3, metrics=("no_such_metric",))
        queries = [("Bad", bad), ("Good", list_query("pages", 3))]
        manifest = write_manifest(tmp_path, queries, base_url=sandbox.base_url)

        exit_code, records, _ = await run_manifest(sandbox, manifest)

        assert exit_code is ExitCode.PARTIAL
        assert "no_such_metric" in (records[0].error or "")
        assert "rejected the query" in (records[0].error or "")
        assert records[1].succeeded

    async def test_every_query_failing_leaves_the_old_workbook(
        self, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """When nothing is exported, the previous workbook stays byte for byte."""
        good = write_manifest(
            tmp_path, [("Pages", list_query("pages", 3))], base_url=sandbox.base_url
        )
        _, _, output = await run_manifest(sandbox, good)
        before = output.read_bytes()

        bad = write_manifest(
            tmp_path,
            [("Pages", list_query("pages", 3, metrics=("no_such_metric",)))],
            base_url=sandbox.base_url,
        )
        exit_code, _, _ = await run_manifest(sandbox, bad)

        assert exit_code is ExitCode.NOTHING_EXPORTED
        assert output.read_bytes() == before
        assert sorted(p.name for p in output.parent.iterdir()) == ["report.xlsx"]

    async def test_bad_credentials_end_the_run_untouched(
        self, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """A refused secret is exit code 3, one token request, no calculation."""
        manifest = write_manifest(
            tmp_path, [("Pages", list_query("pages", 3))], base_url=sandbox.base_url
        )
        plan = load_plan(manifest)

        outcome = await run_plan(plan, Credentials(sandbox.options.client_id, "wrong"))

        assert outcome.exit_code is ExitCode.NOTHING_EXPORTED
        assert "MAPP_CLIENT_SECRET" in (outcome.message or "")
        assert "wrong" not in (outcome.message or "")
        assert sandbox.state.token_requests == 1
        assert sandbox.state.calculations_created == 0
        assert not plan.output.exists()
        assert list(plan.output.parent.iterdir()) == []


class TestLayouts:
    """The client works against both of Mapp's URL layouts."""

    async def test_current_layout_with_a_separate_token_host(
        self, tmp_path: Path
    ) -> None:
        """/api/analytics with the token on another port, refreshed after a 401."""
        options = SandboxOptions(calculation_seconds=0.05, layout="current")
        async with running_sandbox(options) as sandbox:
            queries = [
                ("Pages", list_query("pages", 4)),
                ("Days", list_query("time_days", 2)),
            ]
            manifest = write_manifest(
                tmp_path,
                queries,
                base_url=sandbox.base_url,
                token_url=sandbox.token_url,
            )
            expired = False

            def expire_once(record: QueryRecord) -> None:
                nonlocal expired
                if record.state is QueryState.SUBMITTED and not expired:
                    expired = True
                    sandbox.state.expire_tokens()

            exit_code, _, output = await run_manifest(
                sandbox, manifest, listener=expire_once
            )

        assert "/api/analytics" in sandbox.base_url
        assert exit_code is ExitCode.OK
        assert sandbox.state.token_requests == 2
        assert list(sheets_by_openpyxl(output)) == ["Pages", "Days", "Summary"]


class TestLeftovers:
    """What a killed run left behind is cleaned by the next run."""

    async def test_temporary_workbooks_of_a_killed_run_are_removed(
        self, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """Only the temporary files the writer names are removed, under the lock."""
        manifest = write_manifest(
            tmp_path, [("Pages", list_query("pages", 3))], base_url=sandbox.base_url
        )
        folder = tmp_path / "out"
        folder.mkdir()
        leftover = folder / ".report.xlsx.0123456789ab.tmp"
        unrelated = folder / ".report.xlsx.notes.tmp"
        leftover.write_bytes(b"half a workbook")
        unrelated.write_bytes(b"not ours")

        exit_code, _, _ = await run_manifest(sandbox, manifest)

        assert exit_code is ExitCode.OK
        assert not leftover.exists()
        assert unrelated.read_bytes() == b"not ours"
