"""Driving ``mapp-export run`` as a child process, to stop and resume it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import list_query, sheets_by_calamine, sheets_by_openpyxl
from mapp_export.sandbox import Sandbox

STALL_MARKER = "stall-me"
"""A filter value that marks the query whose result a stalling sandbox holds back."""

QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("Pages", list_query("pages", 600)),
    ("Vendors", list_query("os_vendor", 4)),
    ("Stalled", list_query("pages", 5, marker=STALL_MARKER)),
    ("Pages again", list_query("pages", 600)),
]
"""Four queries, two of them equal: three distinct calculations.

The result of ``Pages`` is large enough that half of it passes the client's
file buffer, so a download stopped halfway leaves bytes in its spool file.
"""

DISTINCT_QUERIES = 3

WAIT_SECONDS = 60.0
"""The most a test waits for a child's line or exit before it fails."""

CHECK_SECONDS = 0.005
"""How often a condition on files is checked while a child runs."""


def child_environment(sandbox: Sandbox) -> dict[str, str]:
    """Return this process's environment with the sandbox's credentials."""
    return {
        **os.environ,
        "MAPP_CLIENT_ID": sandbox.options.client_id,
        "MAPP_CLIENT_SECRET": sandbox.options.client_secret,
    }


@dataclass
class Child:
    """A running ``mapp-export run`` whose standard error is read line by line."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None
    _new_line: threading.Condition = field(default_factory=threading.Condition)

    def start_reading(self) -> None:
        """Collect standard error in a thread, so the child never blocks on it."""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._new_line:
                self.lines.append(line)
                self._new_line.notify_all()
        with self._new_line:
            self.lines.append("")
            self._new_line.notify_all()

    def wait_for(self, predicate: Callable[[list[str]], bool]) -> None:
        """Block until ``predicate`` holds for the lines so far; fail if never."""
        with self._new_line:
            found = self._new_line.wait_for(
                lambda: predicate(self.lines) or self._ended(), timeout=WAIT_SECONDS
            )
        assert found, self.log
        assert predicate(self.lines), self.log

    def wait_until(self, condition: Callable[[], bool]) -> None:
        """Block until ``condition`` (on files, say) holds; check it at each line.

        Between lines the condition is checked again every few milliseconds,
        since a file changes without the child logging a line.
        """
        deadline = time.monotonic() + WAIT_SECONDS
        with self._new_line:
            while not condition():
                assert not self._ended(), self.log
                assert time.monotonic() < deadline, self.log
                self._new_line.wait(timeout=CHECK_SECONDS)

    def wait_for_text(self, text: str, count: int = 1) -> None:
        """Block until ``count`` lines contain ``text``."""
        self.wait_for(lambda lines: sum(text in line for line in lines) >= count)

    def finish(self) -> int:
        """Wait for the child to end and return its exit code."""
        code = self.process.wait(timeout=WAIT_SECONDS)
        if self._reader is not None:
            self._reader.join(WAIT_SECONDS)
        if self.process.stderr is not None:
            self.process.stderr.close()
        return code

    def kill(self) -> int:
        """Kill the child with SIGKILL, as a machine or orchestrator may."""
        self.process.kill()
        return self.finish()

    @property
    def log(self) -> str:
        """Everything the child logged so far."""
        return "".join(self.lines)

    def _ended(self) -> bool:
        return bool(self.lines) and self.lines[-1] == ""


def start_run(manifest: Path, sandbox: Sandbox, *options: str) -> Child:
    """Start ``mapp-export run MANIFEST --base-url ...`` with the sandbox's secret."""
    command = [
        sys.executable,
        "-m",
        "mapp_export",
        "run",
        str(manifest),
        "--base-url",
        sandbox.base_url,
        *options,
    ]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=child_environment(sandbox),
    )
    child = Child(process)
    child.start_reading()
    return child


def run_to_end(manifest: Path, sandbox: Sandbox, *options: str) -> Child:
    """Run ``mapp-export run`` to its end and return it, finished."""
    child = start_run(manifest, sandbox, *options)
    child.finish()
    return child


def data_sheets(workbook: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return every sheet but ``Summary``, as openpyxl and as calamine read it."""
    by_openpyxl = sheets_by_openpyxl(workbook)
    by_calamine = sheets_by_calamine(workbook)
    return (
        {title: rows for title, rows in by_openpyxl.items() if title != "Summary"},
        {title: rows for title, rows in by_calamine.items() if title != "Summary"},
    )


def read_journal(output: Path) -> dict[str, Any]:
    """Return the calculations the journal beside ``output`` holds, by key."""
    path = output.with_name(f".{output.name}.journal.json")
    calculations: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))[
        "calculations"
    ]
    return calculations


def spool_sizes(output: Path) -> list[int]:
    """Return the sizes of the spool files beside ``output``."""
    folder = output.with_name(f".{output.name}.spool")
    return [path.stat().st_size for path in folder.glob("*.json")]


def names(lines: Sequence[str], text: str) -> list[str]:
    """Return the query names of the log lines ``<time> <level> <query>: <text>...``."""
    found = []
    for line in lines:
        parts = line.split(maxsplit=2)
        if len(parts) == 3:
            name, marker, _ = parts[2].partition(f": {text}")
            if marker:
                found.append(name)
    return found
