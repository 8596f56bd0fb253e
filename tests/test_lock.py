"""No overlap: one run per output at a time, and a dead run's lock taken over."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from helpers import list_query, write_manifest
from mapp_export.errors import RunLockedError
from mapp_export.manifest import load_plan
from mapp_export.outcome import ExitCode
from mapp_export.run_lock import RunLock, lock_path
from mapp_export.runner import run_plan
from mapp_export.sandbox import Sandbox, SandboxOptions, sandbox_in_thread
from mapp_export.settings import Credentials
from resume_helpers import DISTINCT_QUERIES, QUERIES, run_to_end, start_run


class TestRunLock:
    """The lock file beside the output."""

    def test_a_second_holder_is_refused_with_the_first_ones_pid_and_host(
        self, tmp_path: Path
    ) -> None:
        """While one lock is held, a second is refused naming the holder."""
        output = tmp_path / "report.xlsx"
        with RunLock.acquire(output), pytest.raises(RunLockedError) as refused:
            RunLock.acquire(output)

        holder = f"process {os.getpid()} on {socket.gethostname()}"
        assert holder in str(refused.value)
        assert refused.value.holder is not None
        assert holder in refused.value.holder
        assert str(output) in str(refused.value)

    def test_the_lock_file_names_the_holder_and_goes_at_release(
        self, tmp_path: Path
    ) -> None:
        """The file holds pid and host while held and is removed on release."""
        output = tmp_path / "report.xlsx"
        lock = RunLock.acquire(output)
        written = json.loads(lock_path(output).read_text(encoding="utf-8"))
        lock.release()

        assert written["pid"] == os.getpid()
        assert written["host"] == socket.gethostname()
        assert not lock_path(output).exists()
        with RunLock.acquire(output):
            assert lock_path(output).exists()

    def test_a_lock_file_nobody_holds_is_taken_over(self, tmp_path: Path) -> None:
        """A file left behind, unlocked and unreadable, does not stop a run."""
        output = tmp_path / "report.xlsx"
        lock_path(output).write_text("not json", encoding="utf-8")

        with RunLock.acquire(output):
            written = json.loads(lock_path(output).read_text(encoding="utf-8"))

        assert written["pid"] == os.getpid()

    @pytest.mark.anyio
    async def test_a_run_of_a_locked_output_sends_nothing(
        self, tmp_path: Path, sandbox: Sandbox
    ) -> None:
        """run_plan refuses a locked output with exit code 2 before any request."""
        manifest = write_manifest(
            tmp_path, [("Pages", list_query())], base_url=sandbox.base_url
        )
        plan = load_plan(manifest)
        credentials = Credentials(
            sandbox.options.client_id, sandbox.options.client_secret
        )

        plan.output.parent.mkdir(parents=True)
        with RunLock.acquire(plan.output):
            outcome = await run_plan(plan, credentials)

        assert outcome.exit_code is ExitCode.REFUSED
        assert "another mapp-export run" in (outcome.message or "")
        assert sandbox.state.token_requests == 0
        assert not plan.output.exists()


class TestNoOverlap:
    """Two runs of one manifest and output, as a scheduler may start them."""

    def test_a_second_run_is_refused_and_a_killed_runs_lock_taken_over(
        self, tmp_path: Path
    ) -> None:
        """The second run exits 2 naming the first; after SIGKILL a resume runs."""
        options = SandboxOptions(calculation_seconds=0.05, result_stall_seconds=20)
        with sandbox_in_thread(options) as sandbox:
            manifest = write_manifest(tmp_path, QUERIES, base_url=sandbox.base_url)
            fetches = sandbox.state.fetches_by_calculation
            first = start_run(manifest, sandbox)
            first.wait_until(lambda: len(fetches) == DISTINCT_QUERIES)
            requests_before = sandbox.state.token_requests

            second = run_to_end(manifest, sandbox)
            requests_meanwhile = sandbox.state.token_requests - requests_before
            report_by_second = (tmp_path / "out" / "report.report.json").exists()
            first.kill()
            third = run_to_end(manifest, sandbox, "--resume")

            created = sandbox.state.calculations_created
        assert second.process.returncode == ExitCode.REFUSED
        assert f"another mapp-export run (process {first.process.pid} on" in (
            second.log
        )
        assert requests_meanwhile == 0
        assert not report_by_second
        assert third.process.returncode == 0, third.log
        assert created == DISTINCT_QUERIES
        assert not lock_path(tmp_path / "out" / "report.xlsx").exists()
