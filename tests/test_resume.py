"""Resuming an interrupted run: the journal, the spool and ``--resume``.

Each run here is ``python -m mapp_export run`` as a child process against one
threaded sandbox that outlives both runs; the moment to kill the child is read
from its log lines or its spool folder, never guessed with a sleep.
"""

from __future__ import annotations

import json
import logging
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faults_helpers import secrets_of, written_texts
from helpers import list_query, write_manifest
from mapp_export.api import Submission
from mapp_export.journal import Journal, query_key
from mapp_export.manifest import load_plan
from mapp_export.outcome import ExitCode
from mapp_export.runner import RunOptions, run_plan
from mapp_export.sandbox import Sandbox, SandboxOptions, sandbox_in_thread
from mapp_export.settings import Credentials
from resume_helpers import (
    DISTINCT_QUERIES,
    QUERIES,
    STALL_MARKER,
    Child,
    data_sheets,
    names,
    read_journal,
    run_to_end,
    spool_sizes,
    start_run,
)

STALL_SECONDS = 20.0
"""How long a stalling sandbox holds back a first download: far past any test."""

Sheets = tuple[dict[str, Any], dict[str, Any]]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Sheets:
    """Return the data sheets of the four queries from a run nobody interrupted."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    with sandbox_in_thread(SandboxOptions(calculation_seconds=0.05)) as sandbox:
        manifest = write_manifest(folder, QUERIES, base_url=sandbox.base_url)
        child = run_to_end(manifest, sandbox)

    assert child.process.returncode == 0, child.log
    return data_sheets(folder / "out" / "report.xlsx")


@pytest.fixture
def stalling_sandbox() -> Iterator[Sandbox]:
    """Serve a sandbox whose first download of each result stalls halfway."""
    options = SandboxOptions(
        calculation_seconds=0.05, result_stall_seconds=STALL_SECONDS
    )
    with sandbox_in_thread(options) as sandbox:
        yield sandbox


def _resume(manifest: Path, sandbox: Sandbox) -> Child:
    child = run_to_end(manifest, sandbox, "--resume")
    assert child.process.returncode == 0, child.log
    return child


def _output(manifest: Path) -> Path:
    return manifest.parent / "out" / "report.xlsx"


class TestKilledAndResumed:
    """A run killed with SIGKILL and resumed equals a run nobody interrupted."""

    def test_killed_after_submitting(
        self, tmp_path: Path, uninterrupted: Sheets
    ) -> None:
        """Killed after a submit, the resume polls it and submits only the rest."""
        with sandbox_in_thread(SandboxOptions(calculation_seconds=0.3)) as sandbox:
            manifest = write_manifest(
                tmp_path, QUERIES, base_url=sandbox.base_url, concurrency=1
            )
            killed = start_run(manifest, sandbox)
            killed.wait_for_text(": submitted")
            killed.kill()
            journal = read_journal(_output(manifest))

            resumed = _resume(manifest, sandbox)

            created = sandbox.state.calculations_created
        assert len(journal) == 1
        (entry,) = journal.values()
        assert entry["status_url"]
        assert entry["result_url"] is None
        assert names(resumed.lines, "polling the interrupted run's calculation") == [
            entry["query"]
        ]
        assert created == DISTINCT_QUERIES
        assert data_sheets(_output(manifest)) == uninterrupted

    def test_killed_in_the_middle_of_a_fetch(
        self, tmp_path: Path, stalling_sandbox: Sandbox, uninterrupted: Sheets
    ) -> None:
        """Killed mid-download, the resume downloads again and calculates nothing."""
        manifest = write_manifest(tmp_path, QUERIES, base_url=stalling_sandbox.base_url)
        output = _output(manifest)
        fetches = stalling_sandbox.state.fetches_by_calculation
        killed = start_run(manifest, stalling_sandbox)
        killed.wait_until(
            lambda: (
                len(fetches) == DISTINCT_QUERIES
                and any(size > 0 for size in spool_sizes(output))
            )
        )
        killed.kill()
        journal = read_journal(output)

        _resume(manifest, stalling_sandbox)

        assert len(journal) == DISTINCT_QUERIES
        assert all(entry["result_url"] for entry in journal.values())
        assert not any(entry["spool_bytes"] for entry in journal.values())
        assert stalling_sandbox.state.calculations_created == DISTINCT_QUERIES
        assert set(fetches.values()) == {2}
        assert data_sheets(output) == uninterrupted

    def test_killed_in_the_middle_of_writing(
        self, tmp_path: Path, uninterrupted: Sheets
    ) -> None:
        """Killed while writing, the resume writes fetched results from the spool."""
        options = SandboxOptions(
            calculation_seconds=0.05,
            result_stall_seconds=STALL_SECONDS,
            result_stall_marker=STALL_MARKER,
        )
        with sandbox_in_thread(options) as sandbox:
            manifest = write_manifest(tmp_path, QUERIES, base_url=sandbox.base_url)
            killed = start_run(manifest, sandbox)
            killed.wait_for(
                lambda lines: (
                    {"Pages", "Vendors"} <= set(names(lines, "writing"))
                    and "Stalled" in names(lines, "fetching")
                )
            )
            killed.kill()
            assert not _output(manifest).exists()

            resumed = _resume(manifest, sandbox)

            fetches = sorted(sandbox.state.fetches_by_calculation.values())
            created = sandbox.state.calculations_created
        reused = names(resumed.lines, "result fetched by the interrupted run")
        assert sorted(reused) == ["Pages", "Vendors"]
        assert fetches == [1, 1, 2]
        assert created == DISTINCT_QUERIES
        assert data_sheets(_output(manifest)) == uninterrupted


class TestJournalLifecycle:
    """What a run leaves beside its output, by how it ended."""

    def test_a_successful_run_leaves_no_journal_spool_or_lock(
        self, tmp_path: Path, threaded_sandbox: Sandbox
    ) -> None:
        """Exit code 0 removes the journal, the spool folder and the lock file."""
        manifest = write_manifest(
            tmp_path, QUERIES[:1], base_url=threaded_sandbox.base_url
        )

        child = run_to_end(manifest, threaded_sandbox)

        assert child.process.returncode == 0, child.log
        assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
            "report.report.json",
            "report.xlsx",
        ]

    def test_resume_without_a_journal_is_a_normal_run(
        self, tmp_path: Path, threaded_sandbox: Sandbox
    ) -> None:
        """--resume with no journal warns and runs every query."""
        manifest = write_manifest(
            tmp_path, QUERIES[:2], base_url=threaded_sandbox.base_url
        )

        child = _resume(manifest, threaded_sandbox)

        assert "no journal of an interrupted run" in child.log
        assert threaded_sandbox.state.calculations_created == 2

    def test_the_journal_spool_and_lock_hold_no_secret(
        self, tmp_path: Path, stalling_sandbox: Sandbox
    ) -> None:
        """Neither the client secret, a token nor an Authorization value is kept."""
        manifest = write_manifest(tmp_path, QUERIES, base_url=stalling_sandbox.base_url)
        output = _output(manifest)
        fetches = stalling_sandbox.state.fetches_by_calculation
        killed = start_run(manifest, stalling_sandbox)
        killed.wait_until(lambda: len(fetches) == DISTINCT_QUERIES)
        killed.kill()

        kept = dict(written_texts(output.parent))

        assert {path.name for path in kept} >= {
            ".report.xlsx.journal.json",
            ".report.xlsx.lock",
        }
        for path, text in kept.items():
            for secret in [*secrets_of(stalling_sandbox), "Authorization", "Bearer"]:
                assert secret not in text, (path, secret)


class TestKeepRunning:
    """--keep-running leaves calculations alive on SIGTERM for a later --resume."""

    def test_sigterm_with_keep_running_aborts_nothing(
        self, tmp_path: Path, uninterrupted: Sheets
    ) -> None:
        """SIGTERM exits 143 without DELETE; the resume polls those calculations."""
        with sandbox_in_thread(SandboxOptions(calculation_seconds=2.0)) as sandbox:
            manifest = write_manifest(tmp_path, QUERIES, base_url=sandbox.base_url)
            stopped = start_run(manifest, sandbox, "--keep-running")
            stopped.wait_for_text(": submitted", count=DISTINCT_QUERIES)
            stopped.process.send_signal(signal.SIGTERM)
            code = stopped.finish()
            journal = read_journal(_output(manifest))
            deletes = list(sandbox.state.deletes)

            resumed = _resume(manifest, sandbox)

            created = sandbox.state.calculations_created
        assert code == ExitCode.TERMINATED
        assert deletes == []
        assert len(names(stopped.lines, "calculation")) == DISTINCT_QUERIES
        assert "kept running (--keep-running)" in stopped.log
        assert len(journal) == DISTINCT_QUERIES
        polled = names(resumed.lines, "polling the interrupted run's calculation")
        assert sorted(polled) == ["Pages", "Stalled", "Vendors"]
        assert created == DISTINCT_QUERIES
        assert data_sheets(_output(manifest)) == uninterrupted


class TestResumeDecisions:
    """Which calculations a resume trusts, polls again or submits afresh."""

    @pytest.mark.anyio
    async def test_a_calculation_the_api_forgot_is_submitted_afresh(
        self, tmp_path: Path, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A 404 on the journaled status URL logs a line and submits the query again."""
        manifest = write_manifest(
            tmp_path, QUERIES[:1], base_url=sandbox.base_url, timeout="5s"
        )
        plan = load_plan(manifest)
        await _journal_a_calculation(plan.output, sandbox, plan.queries[0].body)

        with caplog.at_level(logging.INFO, logger="mapp_export"):
            outcome = await run_plan(
                plan, _credentials(sandbox), RunOptions(resume=True)
            )

        assert outcome.exit_code is ExitCode.OK
        assert "the API no longer knows the interrupted run's calculation" in (
            caplog.text
        )
        assert sandbox.state.calculations_created == 1
        assert not plan.output.with_name(".report.xlsx.journal.json").exists()

    @pytest.mark.anyio
    async def test_a_query_changed_since_is_submitted_afresh(
        self, tmp_path: Path, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The journal of an older body is not used for the changed query."""
        manifest = write_manifest(
            tmp_path, QUERIES[:1], base_url=sandbox.base_url, timeout="5s"
        )
        plan = load_plan(manifest)
        await _journal_a_calculation(plan.output, sandbox, list_query("pages", 99))

        with caplog.at_level(logging.INFO, logger="mapp_export"):
            outcome = await run_plan(
                plan, _credentials(sandbox), RunOptions(resume=True)
            )

        assert outcome.exit_code is ExitCode.OK
        assert "0 known, 1 dropped as their queries changed" in caplog.text
        assert "no longer knows" not in caplog.text
        assert sandbox.state.calculations_created == 1

    @pytest.mark.anyio
    async def test_a_spool_shorter_than_journaled_is_not_reused(
        self, tmp_path: Path
    ) -> None:
        """Only a spool file of exactly the journaled size counts as fetched."""
        journal = Journal(tmp_path / "report.xlsx", "http://127.0.0.1:9")
        submission = Submission("c", "http://127.0.0.1:9/analysis-query/c", None, None)
        await journal.submitted("key", "Pages", submission)
        spool = tmp_path / journal.spool_name("key")
        spool.write_bytes(b"x" * 100)
        await journal.spooled("key", spool, 100)

        whole = journal.complete_spool("key", tmp_path)
        spool.write_bytes(b"x" * 50)
        cut = journal.complete_spool("key", tmp_path)

        assert whole == spool
        assert cut is None

    def test_the_journal_key_is_the_sha256_of_canonical_json(self) -> None:
        """Key order and spacing do not change a query's key; a value does."""
        body = {"b": [1, {"d": "ä"}], "a": None}
        reordered = json.loads('{"a": null, "b": [1, {"d": "ä"}]}')

        assert query_key(body) == query_key(reordered)
        assert len(query_key(body)) == 64
        assert query_key(body) != query_key({**body, "a": 0})


async def _journal_a_calculation(
    output: Path, sandbox: Sandbox, body: dict[str, Any]
) -> None:
    """Write a journal naming a calculation the sandbox never created."""
    output.parent.mkdir(parents=True, exist_ok=True)
    correlation_id = str(uuid.uuid4())
    journal = Journal(output, sandbox.base_url)
    submission = Submission(
        correlation_id,
        f"{sandbox.base_url}/analysis-query/{correlation_id}",
        None,
        None,
    )
    await journal.submitted(query_key(body), "Pages", submission)


def _credentials(sandbox: Sandbox) -> Credentials:
    return Credentials(sandbox.options.client_id, sandbox.options.client_secret)
