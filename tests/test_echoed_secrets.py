"""A server that echoes what it was sent never gets a secret into our output."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from faults_helpers import FAST_RETRY_MANIFEST, captured_logs, written_texts
from mapp_export.manifest import load_plan
from mapp_export.outcome import ExitCode
from mapp_export.runner import run_plan
from mapp_export.settings import Credentials

pytestmark = pytest.mark.anyio

CLIENT_ID = "echo-client"
CLIENT_SECRET = "echo-secret-7f3a9c"  # noqa: S105 - a test's throwaway value
TOKEN = "echo-token-51d2e8b0"  # noqa: S105 - a test's throwaway value
BASIC = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()


async def token(request: web.Request) -> web.Response:
    """Issue the token, echoing the Basic value in a field nobody reads."""
    return web.json_response(
        {
            "access_token": TOKEN,
            "expires_in": 3600,
            "echo": request.headers["Authorization"],
        }
    )


async def rejecting_submit(request: web.Request) -> web.Response:
    """Refuse every query with a Problem that quotes the Authorization header."""
    return web.json_response(
        {
            "status": 422,
            "title": f"bad request from {request.headers.get('Authorization')}",
            "errors": [{"name": "UnmappedName", "parameters": {"names": [TOKEN]}}],
        },
        status=422,
    )


async def html_status(request: web.Request) -> web.Response:
    """Answer every poll with a proxy page that quotes the header."""
    return web.Response(
        status=502,
        content_type="text/html",
        text=f"<html>you sent {request.headers.get('Authorization')}</html>",
    )


@asynccontextmanager
async def echoing_server(*, poll_fails: bool) -> AsyncIterator[str]:
    """Serve a Mapp look-alike that echoes headers; yield its base URL."""
    application = web.Application()
    application.router.add_post("/analytics/api/oauth/token", token)
    if poll_fails:
        application.router.add_post("/analytics/api/analysis-query", created)
        application.router.add_get("/analytics/api/analysis-query/{id}", html_status)
    else:
        application.router.add_post("/analytics/api/analysis-query", rejecting_submit)
    application.router.add_delete("/analytics/api/analysis-query/{id}", aborted)

    runner = web.AppRunner(application)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/analytics/api"
    finally:
        await runner.cleanup()


async def created(request: web.Request) -> web.Response:
    """Queue the calculation, pointing at a status URL on this server."""
    status_url = f"{request.url.origin()}/analytics/api/analysis-query/c1"
    return web.json_response(
        {"correlationId": "c1", "statusUrl": status_url}, status=201
    )


async def aborted(request: web.Request) -> web.Response:
    """Accept an abort."""
    del request
    return web.json_response({})


def manifest(folder: Path, base_url: str) -> Path:
    """Write a one-query manifest with fast retries."""
    query = {
        "columns": [{"name": "pages"}],
        "predefinedContainer": {
            "filters": [{"name": "time_dynamic", "value1": "last_7_days"}]
        },
    }
    path = folder / "manifest.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "api": {"base_url": base_url},
                "output": "out/report.xlsx",
                "poll": {"initial": "5ms", "max_interval": "10ms", "timeout": "5s"},
                "retry": FAST_RETRY_MANIFEST,
                "queries": [{"name": "Echo", "query": query}],
            }
        )
    )
    return path


class TestEchoedSecrets:
    """Errors built from a server's answer are cleaned of every secret."""

    @pytest.mark.parametrize("poll_fails", [False, True])
    async def test_no_secret_in_messages_or_logs(
        self, tmp_path: Path, *, poll_fails: bool
    ) -> None:
        """A 422 quoting the token and a 502 page quoting the header leak nothing."""
        async with echoing_server(poll_fails=poll_fails) as base_url:
            plan = load_plan(manifest(tmp_path, base_url))
            with captured_logs("mapp_export", "aiohttp") as logs:
                outcome = await run_plan(plan, Credentials(CLIENT_ID, CLIENT_SECRET))

        texts = [
            *(record.error or "" for record in outcome.records),
            outcome.message or "",
            *logs.lines,
            *(text for _, text in written_texts(tmp_path)),
        ]
        assert outcome.exit_code is ExitCode.NOTHING_EXPORTED
        assert outcome.records[0].error
        assert "[redacted]" in outcome.records[0].error
        for secret in (CLIENT_SECRET, TOKEN, BASIC):
            assert not [text for text in texts if secret in text], json.dumps(secret)
