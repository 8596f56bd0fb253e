"""Rows per second: the sandbox's raw download, the exporter end to end, bare writers.

- raw download: the result fetched over loopback and thrown away (gzip
  decompressed, as the exporter receives it), to show the sandbox is not what
  limits the exporter;
- end to end: ``run_plan`` in this process (token, submit, poll, fetch, parse,
  sanitise, write, summary, atomic save) against the sandbox in another process;
- bare writers: XlsxWriter constant-memory (typed ``write_string`` and
  ``write_number``) and openpyxl write-only (``append``) writing the same rows,
  already parsed into memory before the clock starts, and closing the file.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import ijson
import openpyxl
import xlsxwriter

from common import SandboxProcess, scratch_folder, write_manifest
from concurrency import timed_run
from mapp_export.cells import clean_label
from mapp_export.records import QueryRecord, QueryState, RunFacts
from mapp_export.workbook import SheetOptions, WorkbookWriter

FAST_POLL = {"initial": "10ms", "max_interval": "50ms", "timeout": "1h"}
"""Poll settings that add nothing measurable to a calculation of 0 s."""


def end_to_end(sandbox: SandboxProcess, body: dict[str, Any]) -> float:
    """Export one result through ``run_plan``; answer the wall time."""
    with scratch_folder("throughput") as folder:
        manifest = write_manifest(folder, sandbox, [body], poll=FAST_POLL)
        return anyio.run(timed_run, manifest, sandbox)


def raw_download(sandbox: SandboxProcess, body: dict[str, Any]) -> tuple[float, int]:
    """Fetch the result once and discard it; answer seconds and decoded bytes."""
    return anyio.run(_download, sandbox, body)


async def _download(sandbox: SandboxProcess, body: dict[str, Any]) -> tuple[float, int]:
    """Token, submit, wait for SUCCESS, then time the body's download alone."""
    credentials = aiohttp.BasicAuth(
        sandbox.credentials.client_id, sandbox.credentials.client_secret
    )
    async with aiohttp.ClientSession() as session:
        token_params = {
            "grant_type": "client_credentials",
            "scope": "mapp.intelligence-api",
        }
        async with session.post(
            sandbox.token_url, params=token_params, auth=credentials
        ) as answer:
            token = (await answer.json())["access_token"]

        headers = {"Authorization": f"Bearer {token}"}
        result_url = await _result_url(session, sandbox, body, headers)
        started = time.perf_counter()
        size = 0
        async with session.get(result_url, headers=headers) as response:
            async for chunk in response.content.iter_chunked(256 * 1024):
                size += len(chunk)

        return time.perf_counter() - started, size


async def _result_url(
    session: aiohttp.ClientSession,
    sandbox: SandboxProcess,
    body: dict[str, Any],
    headers: dict[str, str],
) -> str:
    """Submit ``body`` and poll until the sandbox gives its result URL."""
    url = f"{sandbox.base_url}/analysis-query"
    async with session.post(url, json=body, headers=headers) as answer:
        created = await answer.json()

    if "resultUrl" in created:
        return str(created["resultUrl"])

    while True:
        async with session.get(created["statusUrl"], headers=headers) as answer:
            status = await answer.json()
        if status["status"] == "SUCCESS":
            return str(status["resultUrl"])

        await anyio.sleep(0.01)


def load_rows(path: Path) -> list[list[Any]]:
    """Parse every row of a result file into memory, cleaned, for the bare writers.

    Text is already cleaned of what Excel cannot hold, so the bare writers
    do none of the exporter's sanitising.
    """
    with path.open("rb") as spool:
        return [
            [clean_label(value) if value.__class__ is str else value for value in row]
            for row in ijson.items(spool, "rows.item", use_float=True)
        ]


def bare_xlsxwriter(rows: list[list[Any]], target: Path) -> float:
    """Write ``rows`` with XlsxWriter constant-memory typed calls; answer seconds."""
    started = time.perf_counter()
    workbook = xlsxwriter.Workbook(
        str(target),
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
            "tmpdir": str(target.parent),
        },
    )
    sheet = workbook.add_worksheet()
    write_string = sheet.write_string
    write_number = sheet.write_number
    for line, row in enumerate(rows):
        for column, value in enumerate(row):
            if value.__class__ is str:
                write_string(line, column, value)
            elif value is not None:
                write_number(line, column, value)

    workbook.close()
    return time.perf_counter() - started


def bare_openpyxl(rows: list[list[Any]], target: Path) -> float:
    """Write ``rows`` with openpyxl's write-only mode; answer seconds."""
    started = time.perf_counter()
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet()
    for row in rows:
        sheet.append(row)

    workbook.save(target)
    return time.perf_counter() - started


def profile_writer(result: Path, folder: Path, top: int) -> str:
    """Profile writing one spooled result into a workbook; answer the top functions.

    The exporter writes in a worker thread, which cProfile does not follow, so
    the writer is profiled here on its own, reading the same JSON the sandbox
    serves, as the spool holds it.
    """
    writer = WorkbookWriter(folder / "profile.xlsx")
    record = QueryRecord(index=0, name="Profile", sheet_title="Profile")
    facts = RunFacts(
        manifest_path="profile",
        started_at=datetime.now(UTC),
        timezone_name="UTC",
        api_host="sandbox",
        exit_status=0,
    )
    profiler = cProfile.Profile()
    profiler.enable()
    record.sheet = writer.write_result(record, result, SheetOptions())
    record.state = QueryState.DONE
    writer.finish([record], facts)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    return text.getvalue()
