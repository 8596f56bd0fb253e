"""Answers the contract allows but does not spell out are handled sensibly."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from helpers import sheets_by_openpyxl
from mapp_export.manifest import load_plan
from mapp_export.outcome import ExitCode
from mapp_export.runner import run_plan
from mapp_export.settings import Credentials

pytestmark = pytest.mark.anyio

RESULT = {
    "headers": [
        {"name": "pages", "alias": "pages|0", "dimension": True, "metric": None},
        {"name": "visits", "alias": "visits|0", "dimension": None, "metric": True},
    ],
    "rows": [["home", 3], ["0000000000", 3]],
    "rowCount": 2,
}


async def token(request: web.Request) -> web.Response:
    """Issue a token."""
    del request
    return web.json_response({"access_token": "edge-token", "expires_in": 600})


async def submit(request: web.Request) -> web.Response:
    """Answer each query as the marker in its filter asks."""
    body = await request.json()
    marker = body["queryObject"]["predefinedContainer"]["filters"][0]["value1"]
    if marker == "relative":
        return web.json_response(
            {"correlationId": "r1", "statusUrl": "analysis-query/r1"}, status=202
        )
    if marker == "correlation-only":
        return web.json_response({"correlationId": "r2"}, status=201)
    if marker == "broken":
        return web.json_response({"correlationId": "broken"}, status=201)
    status_url = f"{request.url.origin()}/analytics/api/analysis-query/stuck"
    return web.json_response({"correlationId": "stuck", "statusUrl": status_url})


async def status(request: web.Request) -> web.Response:
    """Finish r1 and r2 with a relative result URL; keep the stuck one paused."""
    correlation_id = request.match_info["id"]
    if correlation_id == "stuck":
        return web.json_response({"status": "PAUSED_BY_OPERATOR"})
    return web.json_response(
        {"status": "SUCCESS", "resultUrl": f"../analysis-result/{correlation_id}"}
    )


async def result(request: web.Request) -> web.StreamResponse:
    """Serve the same small result for every calculation; cut the broken one."""
    if request.match_info["id"] == "broken":
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 10_000
        await response.prepare(request)
        await response.write(b'{"rows": [["home", 1], ')
        if request.transport is not None:
            request.transport.close()
        return response
    return web.Response(text=json.dumps(RESULT), content_type="application/json")


async def accept(request: web.Request) -> web.Response:
    """Accept an abort."""
    del request
    return web.json_response({})


@asynccontextmanager
async def edge_server() -> AsyncIterator[str]:
    """Serve the look-alike on loopback; yield its base URL."""
    application = web.Application()
    prefix = "/analytics/api"
    application.router.add_post(f"{prefix}/oauth/token", token)
    application.router.add_post(f"{prefix}/analysis-query", submit)
    application.router.add_get(f"{prefix}/analysis-query/{{id}}", status)
    application.router.add_delete(f"{prefix}/analysis-query/{{id}}", accept)
    application.router.add_get(f"{prefix}/analysis-result/{{id}}", result)

    runner = web.AppRunner(application)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}{prefix}"
    finally:
        await runner.cleanup()


def spool_files(folder: Path) -> list[Path]:
    """List the result files the run keeps for a resume."""
    return [path for path in folder.rglob("*.json") if ".spool" in str(path)]


def manifest(folder: Path, base_url: str, markers: list[str]) -> Path:
    """Write a manifest with one query per marker and fast polling."""
    queries = [
        {
            "name": marker,
            "query": {
                "columns": [{"name": "pages"}, {"name": "visits"}],
                "predefinedContainer": {
                    "filters": [{"name": "time_dynamic", "value1": marker}]
                },
            },
        }
        for marker in markers
    ]
    path = folder / "manifest.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "api": {"base_url": base_url},
                "output": "out.xlsx",
                "poll": {"initial": "5ms", "max_interval": "10ms", "timeout": "0.3s"},
                "retry": {"attempts": 2, "initial": "5ms", "max_interval": "10ms"},
                "queries": queries,
            }
        )
    )
    return path


class TestProtocolEdges:
    """Relative links, a missing status URL and unknown statuses."""

    async def test_relative_links_and_a_bare_correlation_id(
        self, tmp_path: Path
    ) -> None:
        """A 202 with a relative statusUrl and a 201 with only an id both export."""
        async with edge_server() as base_url:
            plan = load_plan(
                manifest(tmp_path, base_url, ["relative", "correlation-only"])
            )
            outcome = await run_plan(plan, Credentials("edge", "edge-secret"))

        assert outcome.exit_code is ExitCode.OK, [r.error for r in outcome.records]
        sheets = sheets_by_openpyxl(plan.output)
        assert sheets["relative"][1] == ["home", 3]
        assert sheets["correlation-only"][1] == ["home", 3]

    async def test_unknown_status_is_named_when_time_runs_out(
        self, tmp_path: Path
    ) -> None:
        """A status the client does not know is polled on and named in the error."""
        async with edge_server() as base_url:
            plan = load_plan(manifest(tmp_path, base_url, ["relative", "stuck"]))
            outcome = await run_plan(plan, Credentials("edge", "edge-secret"))

        stuck = outcome.records[1]
        assert outcome.exit_code is ExitCode.PARTIAL
        assert "last status: PAUSED_BY_OPERATOR" in (stuck.error or "")
        assert "aborted" in (stuck.error or "")

    async def test_a_broken_download_leaves_no_partial_spool(
        self, tmp_path: Path
    ) -> None:
        """A result cut off mid-body fails its query and leaves no spool file."""
        async with edge_server() as base_url:
            plan = load_plan(manifest(tmp_path, base_url, ["relative", "broken"]))
            outcome = await run_plan(plan, Credentials("edge", "edge-secret"))

        spooled = spool_files(tmp_path)
        assert outcome.exit_code is ExitCode.PARTIAL
        assert outcome.records[1].error
        assert len(spooled) == 1  # the good query's, kept for a resume
        assert spooled[0].stat().st_size == len(json.dumps(RESULT))
