"""A Mapp endpoint behind a private certificate authority, trusted via SSL_CERT_FILE."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trustme
import yaml
from aiohttp import web

from helpers import sheets_by_openpyxl

RESULT = {
    "headers": [
        {"name": "pages", "alias": "pages|0", "dimension": True, "metric": False},
        {"name": "visits", "alias": "visits|0", "dimension": False, "metric": True},
    ],
    "rows": [["home", 4]],
    "rowCount": 1,
}


def application() -> web.Application:
    """Build a Mapp look-alike that answers every query from its cache."""

    async def token(request: web.Request) -> web.Response:
        del request
        return web.json_response({"access_token": "tls-token", "expires_in": 600})

    async def cached(request: web.Request) -> web.Response:
        result_url = f"{request.url.origin()}/analytics/api/analysis-result/c1"
        return web.json_response({"calculationId": "c1", "resultUrl": result_url})

    async def result(request: web.Request) -> web.Response:
        del request
        return web.Response(text=json.dumps(RESULT), content_type="application/json")

    app = web.Application()
    app.router.add_post("/analytics/api/oauth/token", token)
    app.router.add_post("/analytics/api/analysis-query", cached)
    app.router.add_get("/analytics/api/analysis-result/{id}", result)
    app.router.add_get("/analytics/api/analysis-usage/current", usage)
    return app


async def usage(request: web.Request) -> web.Response:
    """Report plenty of allowance left."""
    del request
    return web.json_response(
        {
            "calculationsCount": 0,
            "maxCalculationsAllowed": 100,
            "month": 12,
            "year": 2026,
        }
    )


@contextmanager
def tls_server(context: ssl.SSLContext) -> Iterator[int]:
    """Serve the look-alike over TLS on loopback in a thread; yield its port."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(application())
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.run_until_complete(runner.cleanup())
        loop.close()


@pytest.fixture
def certificate_authority() -> trustme.CA:
    """Make a private certificate authority for this test."""
    return trustme.CA()


def run_against(
    port: int, folder: Path, environment: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run the command line against the TLS server; return how it went."""
    manifest = folder / "manifest.yaml"
    query = {"columns": [{"name": "pages"}, {"name": "visits"}]}
    manifest.write_text(
        yaml.safe_dump(
            {"output": "out.xlsx", "queries": [{"name": "TLS", "query": query}]}
        )
    )
    command = [sys.executable, "-m", "mapp_export", "run", str(manifest)]
    base_url = f"https://127.0.0.1:{port}/analytics/api"
    return subprocess.run(
        [*command, "--base-url", base_url],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class TestPrivateCertificateAuthority:
    """SSL_CERT_FILE names the bundle that a private CA's certificates chain to."""

    def test_trusted_through_ssl_cert_file(
        self, certificate_authority: trustme.CA, tmp_path: Path
    ) -> None:
        """With the CA in SSL_CERT_FILE the run succeeds; without it, it is refused."""
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate_authority.issue_cert("127.0.0.1").configure_cert(server_context)
        bundle = tmp_path / "ca.pem"
        certificate_authority.cert_pem.write_to_path(str(bundle))
        credentials = {"MAPP_CLIENT_ID": "tls", "MAPP_CLIENT_SECRET": "tls-secret"}

        with tls_server(server_context) as port:
            trusted = run_against(
                port, tmp_path, {**credentials, "SSL_CERT_FILE": str(bundle)}
            )
            (tmp_path / "out.xlsx").rename(tmp_path / "trusted.xlsx")
            untrusted = run_against(
                port, tmp_path, {**credentials, "SSL_CERT_FILE": os.devnull}
            )

        assert trusted.returncode == 0, trusted.stderr
        assert sheets_by_openpyxl(tmp_path / "trusted.xlsx")["TLS"][1] == ["home", 4]
        assert untrusted.returncode == 3
        assert "SSL_CERT_FILE" in untrusted.stderr
