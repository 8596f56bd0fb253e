"""What ``mapp-export run`` prints, with and without a terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers import list_query, sheets_by_calamine, write_manifest
from mapp_export.sandbox import (
    OutcomeRule,
    Sandbox,
    SandboxOptions,
    sandbox_in_thread,
)

ANSI_ESCAPE = re.compile(r"\x1b[\[\]()]")
SECRET = "s3cret-value-never-logged-7f1c"  # noqa: S105 - a test secret
QUERIES = ("Top pages", "Browsers", "Broken one")


@dataclass(frozen=True)
class Finished:
    """A finished run of the command: what it printed and where it wrote."""

    completed: subprocess.CompletedProcess[str]
    folder: Path
    tokens: list[str]


FAILING_SANDBOX = SandboxOptions(
    client_secret=SECRET,
    calculation_seconds=0.05,
    outcomes=(OutcomeRule(marker="boom", status="FAILED"),),
)
"""A fast sandbox in which queries marked ``boom`` end FAILED."""


@pytest.fixture
def failing_sandbox() -> Iterator[Sandbox]:
    """Serve a fresh failing sandbox for one test."""
    with sandbox_in_thread(FAILING_SANDBOX) as running:
        yield running


def _finished(factory: pytest.TempPathFactory, *options: str) -> Finished:
    """Run three queries (one fails) on a fresh sandbox, so none is cached."""
    folder = factory.mktemp("run")
    with sandbox_in_thread(FAILING_SANDBOX) as sandbox:
        completed = _run(sandbox, _manifest(folder, sandbox), *options)
        return Finished(completed, folder, _issued_tokens(sandbox))


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory: pytest.TempPathFactory) -> Finished:
    """Run three queries (one fails) verbosely with plain logs, no terminal."""
    return _finished(tmp_path_factory, "-v")


@pytest.fixture(scope="module")
def json_run(tmp_path_factory: pytest.TempPathFactory) -> Finished:
    """Run the same three queries verbosely with JSON logs, no terminal."""
    return _finished(tmp_path_factory, "-v", "--log-format", "json")


def _manifest(folder: Path, sandbox: Sandbox, *, failing: bool = True) -> Path:
    queries = [
        ("Top pages", list_query("pages", 3)),
        ("Browsers", list_query("os_vendor", 2)),
    ]
    if failing:
        queries.append(("Broken one", list_query("pages", 2, marker="boom")))
    return write_manifest(folder, queries, base_url=sandbox.base_url)


def _environment(sandbox: Sandbox) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("MAPP_") and key not in {"NO_COLOR", "FORCE_COLOR"}
    }
    environment["MAPP_CLIENT_ID"] = sandbox.options.client_id
    environment["MAPP_CLIENT_SECRET"] = sandbox.options.client_secret
    return environment


def _run(
    sandbox: Sandbox, manifest: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mapp_export", "run", str(manifest), *options],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_environment(sandbox),
    )


def _issued_tokens(sandbox: Sandbox) -> list[str]:
    return list(sandbox.state._tokens)


class TestWithoutTerminal:
    """Cron, CI and Airflow: plain lines on standard error, the table on stdout."""

    def test_plain_lines_name_every_query_without_colour(
        self, plain_run: Finished
    ) -> None:
        """Each state change is one plain line naming its query; no escape codes."""
        completed = plain_run.completed

        assert completed.returncode == 1
        assert not ANSI_ESCAPE.search(completed.stderr + completed.stdout)
        lines = completed.stderr.splitlines()
        for name in ("Top pages", "Browsers"):
            for state in ("submitted", "fetching", "writing", "done rows="):
                matching = [
                    line for line in lines if f"INFO    {name}: {state}" in line
                ]
                assert len(matching) == 1, (name, state)
        assert any(
            "ERROR   Broken one: failed: the calculation ended with status FAILED"
            in line
            for line in lines
        )
        assert "exit code 1: some queries failed" in lines[-1]

    def test_standard_output_carries_only_the_table(self, plain_run: Finished) -> None:
        """Standard output holds the final table and the workbook, no log line."""
        out = plain_run.completed.stdout.splitlines()

        assert out[0].split() == [
            "query",
            "status",
            "rows",
            "seconds",
            "sheet",
            "error",
        ]
        assert [line.split()[0] for line in out[2:4]] == ["Top", "Browsers"]
        assert out[4].startswith("Broken one  ")
        assert out[-1] == f"workbook: {plain_run.folder / 'out' / 'report.xlsx'}"
        assert not any(" INFO " in line or "exit code" in line for line in out)

    def test_json_lines_parse_and_carry_structured_fields(
        self, json_run: Finished
    ) -> None:
        """--log-format json writes one parseable object per line, query on each."""
        lines = json_run.completed.stderr.splitlines()

        events = [json.loads(line) for line in lines]
        assert all(
            {"timestamp", "level", "event", "query", "message"} <= set(event)
            for event in events
        )
        by_event = _group(events)
        assert {event["query"] for event in by_event["query.submitted"]} == set(QUERIES)
        assert {event["query"] for event in by_event["query.poll"]} == set(QUERIES)
        done = {event["query"]: event for event in by_event["query.done"]}
        sheets = sheets_by_calamine(json_run.folder / "out" / "report.xlsx")
        assert done["Top pages"]["rows"] == len(sheets["Top pages"]) - 1
        assert done["Browsers"]["sheets"] == ["Browsers"]
        [failed] = by_event["query.failed"]
        assert failed["query"] == "Broken one"
        assert failed["level"] == "error"
        assert "FAILED" in failed["error"]
        [finished] = by_event["run.finished"]
        assert (finished["exit_code"], finished["exported"]) == (1, 2)

    def test_secret_and_token_never_logged(
        self, plain_run: Finished, json_run: Finished
    ) -> None:
        """Neither the client secret nor an issued token appears in any output."""
        for finished in (plain_run, json_run):
            printed = finished.completed.stdout + finished.completed.stderr
            assert finished.tokens
            assert SECRET not in printed
            assert not any(token in printed for token in finished.tokens)

    def test_verbose_adds_a_line_per_poll(self, plain_run: Finished) -> None:
        """-v adds one DEBUG line per status poll, naming the query."""
        for name in QUERIES:
            assert re.search(
                rf"DEBUG   {name}: poll 1 status=\w+", plain_run.completed.stderr
            ), name

    def test_quiet_leaves_errors_and_the_final_line(
        self, failing_sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """-q leaves only warnings, errors and the final line on standard error."""
        completed = _run(failing_sandbox, _manifest(tmp_path, failing_sandbox), "-q")

        lines = completed.stderr.splitlines()
        assert all(" INFO " not in line and " DEBUG " not in line for line in lines)
        assert any("Broken one: failed" in line for line in lines)
        assert lines[-1].split()[1:4] == ["WARNING", "exit", "code"]

    def test_quiet_success_is_one_line(
        self, failing_sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """A quiet run that exports everything prints exactly its final line."""
        manifest = _manifest(tmp_path, failing_sandbox, failing=False)

        completed = _run(failing_sandbox, manifest, "-q")

        assert completed.returncode == 0
        [line] = completed.stderr.splitlines()
        assert "INFO    exit code 0: every query exported (2 of 2 exported" in line


class TestOnTerminal:
    """A person at a terminal: a live display on standard error."""

    def test_live_display_draws_every_query_on_a_terminal(self, tmp_path: Path) -> None:
        """Under a pseudo-terminal the display shows each query and the run line."""
        options = SandboxOptions(calculation_seconds=0.4)
        with sandbox_in_thread(options) as sandbox:
            manifest = _manifest(tmp_path, sandbox, failing=False)
            screen, out, code = _run_on_terminal(sandbox, manifest)

        assert code == 0
        assert ANSI_ESCAPE.search(screen)
        plain = _strip_escapes(screen)
        assert "Top pages" in plain
        assert "Browsers" in plain
        assert "calculating" in plain
        assert "run: 2 queries" in plain
        assert "exit code 0" in plain
        assert not ANSI_ESCAPE.search(out)
        assert "Top pages" in out

    def test_no_progress_on_a_terminal_logs_lines(self, tmp_path: Path) -> None:
        """--no-progress on a terminal gives the plain state lines instead."""
        with sandbox_in_thread(SandboxOptions(calculation_seconds=0.05)) as sandbox:
            manifest = _manifest(tmp_path, sandbox, failing=False)
            screen, _, code = _run_on_terminal(sandbox, manifest, "--no-progress")

        assert code == 0
        assert re.search(r"INFO    Top pages: done rows=\d+ polls=", screen)
        assert "run: 2 queries" not in screen


def _run_on_terminal(
    sandbox: Sandbox, manifest: Path, *options: str
) -> tuple[str, str, int]:
    """Run with standard error on a pseudo-terminal; return screen, stdout, code."""
    controller, terminal = pty.openpty()
    environment = {**_environment(sandbox), "TERM": "xterm-256color", "COLUMNS": "100"}
    process = subprocess.Popen(
        [sys.executable, "-m", "mapp_export", "run", str(manifest), *options],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=environment,
    )
    os.close(terminal)
    screen = _read_until_closed(controller)
    out, _ = process.communicate(timeout=60)
    os.close(controller)
    return screen, out.decode(), process.returncode


def _read_until_closed(controller: int) -> str:
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([controller], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def _strip_escapes(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def _group(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        grouped.setdefault(event["event"], []).append(event)
    return grouped
