"""Large results on the streaming path: served from files, spooled, written in full."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from helpers import list_query, sheets_by_calamine, write_manifest
from mapp_export.manifest import load_plan
from mapp_export.outcome import ExitCode
from mapp_export.runner import RunOptions, run_plan
from mapp_export.sandbox import SandboxOptions, build_result, running_sandbox
from mapp_export.sandbox.bigresult import result_file, result_key
from mapp_export.sandbox.options import LEGACY_SCOPE
from mapp_export.sandbox.results import iter_result_text
from mapp_export.settings import Credentials

pytestmark = pytest.mark.anyio

ROWS = 20_000
METRICS = ("pages_pageImpressions", "visits")


def big_body() -> dict[str, Any]:
    """Build a LIST query of exactly 20,000 pages and two metrics."""
    return list_query("pages", ROWS, metrics=METRICS)


def options_with(folder: Path) -> SandboxOptions:
    """Sandbox options that serve results from files in ``folder``."""
    return SandboxOptions(calculation_seconds=0.0, result_folder=folder)


async def fetch_result(
    options: SandboxOptions, body: dict[str, Any], *, encoding: str
) -> tuple[str, str]:
    """Fetch a query's result with ``Accept-Encoding: encoding``; text and coding."""
    async with running_sandbox(options) as sandbox, aiohttp.ClientSession() as session:
        basic = base64.b64encode(
            f"{options.client_id}:{options.client_secret}".encode()
        ).decode()
        params = {"grant_type": "client_credentials", "scope": LEGACY_SCOPE}
        async with session.post(
            sandbox.token_url,
            params=params,
            headers={"Authorization": f"Basic {basic}"},
        ) as answer:
            token = (await answer.json())["access_token"]

        headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": encoding}
        url = f"{sandbox.base_url}/analysis-query"
        async with session.post(url, json=body, headers=headers) as answer:
            status_url = (await answer.json())["statusUrl"]
        async with session.get(status_url, headers=headers) as answer:
            result_url = (await answer.json())["resultUrl"]
        async with session.get(result_url, headers=headers) as answer:
            return await answer.text(), answer.headers.get("Content-Encoding", "")


class TestResultFiles:
    """The sandbox's result folder generates each result once and serves the file."""

    async def test_serves_build_result_gzipped(self, tmp_path: Path) -> None:
        """A client that accepts gzip gets the gzip copy of build_result's text."""
        body = list_query("pages", 300)

        text, coding = await fetch_result(options_with(tmp_path), body, encoding="gzip")

        assert coding == "gzip"
        assert text == "".join(iter_result_text(body))

    async def test_serves_plain_text_without_gzip(self, tmp_path: Path) -> None:
        """A client that accepts no compression gets the plain file."""
        body = list_query("pages", 300)

        text, coding = await fetch_result(
            options_with(tmp_path), body, encoding="identity"
        )

        assert coding == ""
        assert text == "".join(iter_result_text(body))

    def test_generates_a_result_only_once(self, tmp_path: Path) -> None:
        """A result file that exists is reused, not written again."""
        body = list_query("pages", 30)
        first = result_file(tmp_path, body)
        written_at = first.stat().st_mtime_ns

        second = result_file(tmp_path, body)

        assert second == first
        assert second.stat().st_mtime_ns == written_at
        assert first.name == f"{result_key(body)}.json"


class TestStreamedExport:
    """A 20,000-row result goes through fetch, parse and write whole and in order."""

    async def test_every_row_reaches_the_sheet(self, tmp_path: Path) -> None:
        """Each data row's cells read back as the sandbox built them."""
        body = big_body()
        expected = build_result(body)["rows"]
        assert len(expected) == ROWS + 1
        options = options_with(tmp_path / "results")

        async with running_sandbox(options) as sandbox:
            manifest = write_manifest(
                tmp_path, [("Pages", body)], base_url=sandbox.base_url
            )
            plan = load_plan(manifest)
            outcome = await run_plan(
                plan,
                Credentials(options.client_id, options.client_secret),
                RunOptions(),
            )

        assert outcome.exit_code is ExitCode.OK
        sheet = sheets_by_calamine(plan.output)["Pages"]
        assert len(sheet) == ROWS + 2
        assert sheet[-1][0] == "Total"
        changed = 0
        for written, built in zip(sheet[1:-1], expected, strict=False):
            assert written[1:] == [
                "" if value is None else value for value in built[1:]
            ]
            if written[0] != built[0]:
                changed += 1

        assert changed == 2
