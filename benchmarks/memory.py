"""Peak memory and disk of the exporter, run as ``mapp-export run`` in a subprocess.

The sandbox serves from another process. The exporter's resident memory is
sampled every 20 ms from /proc, summed over the exporter's process and all its
children, and the disk taken by its output folder (spool, sheet files, the
workbook) is sampled every 200 ms.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl

from common import SandboxProcess, python_command, scratch_folder, write_manifest
from throughput import FAST_POLL

SAMPLE_SECONDS = 0.02
DISK_EVERY = 10
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class ExportRun:
    """How one exporter subprocess went."""

    wall: float
    peak_rss: int
    peak_disk: int
    workbook_size: int
    sheets: list[str]
    exit_code: int


def export_in_subprocess(
    sandbox: SandboxProcess, bodies: list[dict[str, Any]], *, concurrency: int = 8
) -> ExportRun:
    """Run ``mapp-export run`` on ``bodies``; measure wall, memory and disk."""
    with scratch_folder("memory") as folder:
        manifest = write_manifest(
            folder, sandbox, bodies, concurrency=concurrency, poll=FAST_POLL
        )
        environment = {
            **os.environ,
            "MAPP_CLIENT_ID": sandbox.credentials.client_id,
            "MAPP_CLIENT_SECRET": sandbox.credentials.client_secret,
        }
        command = [*python_command(), "-m", "mapp_export", "-q", "run", str(manifest)]
        started = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603  our own command line
            command, env=environment, stdout=subprocess.DEVNULL
        )
        peak_rss, peak_disk = _watch(process, folder)
        wall = time.perf_counter() - started
        workbook = folder / "bench.xlsx"
        size = workbook.stat().st_size if workbook.exists() else 0
        sheets = _sheet_names(workbook) if size else []
        return ExportRun(wall, peak_rss, peak_disk, size, sheets, process.returncode)


def _watch(process: subprocess.Popen[bytes], folder: Path) -> tuple[int, int]:
    """Sample the process tree's memory and the folder's disk until it exits."""
    peak_rss = peak_disk = 0
    samples = 0
    while process.poll() is None:
        peak_rss = max(peak_rss, tree_rss(process.pid))
        if samples % DISK_EVERY == 0:
            peak_disk = max(peak_disk, folder_size(folder))
        samples += 1
        time.sleep(SAMPLE_SECONDS)

    return peak_rss, peak_disk


def tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and every process descended from it."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            parent = _parent_of(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))

    total = 0
    waiting = [root]
    while waiting:
        pid = waiting.pop()
        total += _rss_of(pid)
        waiting.extend(children.get(pid, []))

    return total


def _parent_of(pid: int) -> int | None:
    """Return the parent of ``pid``, or None if it has gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None

    return int(stat.rpartition(")")[2].split()[1])


def _rss_of(pid: int) -> int:
    """Resident bytes of one process, or 0 if it has gone."""
    try:
        fields = Path(f"/proc/{pid}/statm").read_text().split()
    except OSError:
        return 0

    return int(fields[1]) * _PAGE


def folder_size(folder: Path) -> int:
    """Bytes of every file under ``folder`` (files may vanish while counting)."""
    total = 0
    for path in folder.rglob("*"):
        try:
            total += path.stat().st_size
        except OSError:
            continue

    return total


def _sheet_names(workbook: Path) -> list[str]:
    """Read the sheet titles of a saved workbook without loading its cells."""
    book = openpyxl.load_workbook(workbook, read_only=True)
    try:
        return list(book.sheetnames)
    finally:
        book.close()


def free_disk(folder: Path) -> int:
    """Free bytes on the disk that holds ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return shutil.disk_usage(folder).free
