"""Checks before spending, and ending well: quota, disk space, signals, deadlines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from faults_helpers import run_manifest
from helpers import list_query, sheets_by_openpyxl, summary_rows, write_manifest
from mapp_export.cli import main
from mapp_export.outcome import ExitCode
from mapp_export.runner import RunOptions
from mapp_export.sandbox import (
    OutcomeRule,
    SandboxOptions,
    running_sandbox,
    sandbox_in_thread,
)

pytestmark = pytest.mark.anyio

NEARLY_FULL = SandboxOptions(
    calculation_seconds=0.02, calculations_used=98, max_calculations_allowed=100
)
"""A sandbox whose month has two calculations left."""


def labelled(rows: list[list[object]], label: str) -> object:
    """Return the value beside ``label`` in the first column of a sheet."""
    return next(row[1] for row in rows if row and row[0] == label)


class TestBeforeSpending:
    """Nothing is submitted when the run cannot succeed."""

    async def test_too_few_calculations_left_refuses_the_run(
        self, tmp_path: Path
    ) -> None:
        """Three queries and two calculations left: exit 2, nothing submitted."""
        async with running_sandbox(NEARLY_FULL) as sandbox:
            queries = [(f"Q{n}", list_query("pages", n + 1)) for n in range(3)]
            manifest = write_manifest(tmp_path, queries, base_url=sandbox.base_url)
            outcome = await run_manifest(sandbox, manifest)

        assert outcome.exit_code is ExitCode.REFUSED
        assert "only 2 remain" in (outcome.message or "")
        assert "--force" in (outcome.message or "")
        assert sandbox.state.received_queries == []

    async def test_force_submits_and_the_summary_shows_usage(
        self, tmp_path: Path
    ) -> None:
        """With force the run goes on; usage before and after land in Summary."""
        async with running_sandbox(NEARLY_FULL) as sandbox:
            queries = [(f"Q{n}", list_query("pages", n + 1)) for n in range(3)]
            manifest = write_manifest(tmp_path, queries, base_url=sandbox.base_url)
            outcome = await run_manifest(sandbox, manifest, RunOptions(force=True))

        assert outcome.exit_code is ExitCode.OK
        assert outcome.workbook is not None
        summary = sheets_by_openpyxl(outcome.workbook)["Summary"]
        assert str(labelled(summary, "Usage before")).startswith("98 of 100")
        assert str(labelled(summary, "Usage after")).startswith("101 of 100")

    async def test_output_folder_without_room_refuses_the_run(
        self, tmp_path: Path
    ) -> None:
        """Less free space than required: exit 2 before even a token is fetched."""
        async with running_sandbox(SandboxOptions(calculation_seconds=0.02)) as sandbox:
            manifest = write_manifest(
                tmp_path, [("Pages", list_query())], base_url=sandbox.base_url
            )
            options = RunOptions(min_free_bytes=2**62)
            outcome = await run_manifest(sandbox, manifest, options)

        assert outcome.exit_code is ExitCode.REFUSED
        assert "MiB free" in (outcome.message or "")
        assert sandbox.state.token_requests == 0


class TestCommandLine:
    """The flags of the run command reach the run."""

    def test_deadline_flag_ends_the_run_with_exit_1(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--deadline aborts the endless calculation and writes the finished one."""
        options = SandboxOptions(
            calculation_seconds=0.02, outcomes=(OutcomeRule("never", "NEVER"),)
        )
        with sandbox_in_thread(options) as sandbox:
            manifest = write_manifest(
                tmp_path,
                [
                    ("Quick", list_query("pages", 3)),
                    ("Endless", list_query("pages", 4, marker="never")),
                ],
                base_url=sandbox.base_url,
            )
            monkeypatch.setenv("MAPP_CLIENT_ID", options.client_id)
            monkeypatch.setenv("MAPP_CLIENT_SECRET", options.client_secret)
            code = main(["run", str(manifest), "--deadline", "400ms", "-q"])

        assert code == 1
        assert len(sandbox.state.deletes) == 1
        output = tmp_path / "out" / "report.xlsx"
        assert "deadline" in str(summary_rows(output)["Endless"]["error"])

    def test_bad_deadline_is_a_usage_error(self) -> None:
        """An unreadable --deadline is refused by the parser (exit 2)."""
        with pytest.raises(SystemExit) as stopped:
            main(["run", "x.yaml", "--deadline", "soon"])

        assert stopped.value.code == 2


class TestSignals:
    """SIGINT in a real process: calculations aborted, finished work written."""

    def test_sigint_exits_130_with_the_finished_sheet(self, tmp_path: Path) -> None:
        """Ctrl-C while one query runs forever: DELETE sent, Quick written, 130."""
        options = SandboxOptions(
            calculation_seconds=0.02, outcomes=(OutcomeRule("never", "NEVER"),)
        )
        with sandbox_in_thread(options) as sandbox:
            manifest = write_manifest(
                tmp_path,
                [
                    ("Quick", list_query("pages", 3)),
                    ("Endless", list_query("pages", 4, marker="never")),
                ],
                base_url=sandbox.base_url,
            )
            process = subprocess.Popen(
                [sys.executable, "-m", "mapp_export", "run", str(manifest)],
                stderr=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env={
                    **os.environ,
                    "MAPP_CLIENT_ID": options.client_id,
                    "MAPP_CLIENT_SECRET": options.client_secret,
                },
            )
            assert process.stderr is not None
            seen: set[str] = set()
            for line in process.stderr:
                seen.update(
                    mark
                    for mark in ("Quick: done", "Endless: calculating")
                    if mark in line
                )
                if len(seen) == 2:
                    break
            process.send_signal(signal.SIGINT)
            _, rest = process.communicate(timeout=60)

        assert process.returncode == 130, rest
        assert len(sandbox.state.deletes) == 1
        output = tmp_path / "out" / "report.xlsx"
        assert list(sheets_by_openpyxl(output)) == ["Quick", "Summary"]
        assert "SIGINT" in str(summary_rows(output)["Endless"]["error"])
