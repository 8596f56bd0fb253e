"""Security: where the token may go, redirects, proxies, secrets kept out of sight."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from faults_helpers import (
    FAST_RETRY_MANIFEST,
    captured_logs,
    client_for,
    recording_server,
    run_manifest,
    secrets_of,
    written_texts,
)
from helpers import list_query, write_manifest
from mapp_export.cli import main
from mapp_export.errors import ApiError, ManifestError, UntrustedHostError
from mapp_export.manifest import load_plan
from mapp_export.outcome import ExitCode
from mapp_export.sandbox import (
    FaultOptions,
    Sandbox,
    SandboxOptions,
    running_sandbox,
    sandbox_in_thread,
)
from mapp_export.trust import check_trusted

pytestmark = pytest.mark.anyio

PREFIX = "/analytics/api"


class TestTrustedHosts:
    """The bearer token goes only to allow-listed host:port pairs over https."""

    async def test_status_url_on_another_port_fails_without_the_token(
        self, tmp_path: Path
    ) -> None:
        """A statusUrl naming another loopback port fails the query; no token goes."""
        async with recording_server() as stranger:
            options = SandboxOptions(
                calculation_seconds=0.02, links_base_url=stranger.base_url + PREFIX
            )
            async with running_sandbox(options) as sandbox:
                manifest = write_manifest(
                    tmp_path, [("Pages", list_query())], base_url=sandbox.base_url
                )
                outcome = await run_manifest(sandbox, manifest)

        assert outcome.exit_code is ExitCode.NOTHING_EXPORTED
        assert "not a trusted host" in (outcome.records[0].error or "")
        assert stranger.requests == []

    @pytest.mark.parametrize(
        "links",
        [
            "http://api.mapp.com/api/analytics",
            "https://api.mapp.com:8443/api/analytics",
            "ftp://127.0.0.1/analytics/api",
        ],
    )
    async def test_refused_before_sending(self, links: str) -> None:
        """Plain http, an unlisted port or another scheme is refused before sending."""
        options = SandboxOptions(calculation_seconds=0.02, links_base_url=links)
        mapp_hosts = ("api.mapp.com", "intelligence.eu.mapp.com")
        async with (
            running_sandbox(options) as sandbox,
            client_for(sandbox, extra_trusted=mapp_hosts) as client,
        ):
            submission = await client.submit(list_query(), query="Q")
            with pytest.raises(UntrustedHostError, match="token was not sent"):
                await client.status(submission.status_url or "", query="Q")

    def test_plain_http_base_url_is_refused_by_the_manifest(
        self, tmp_path: Path
    ) -> None:
        """A plain-http API base URL off loopback is a manifest error."""
        manifest = write_manifest(
            tmp_path, [("Pages", list_query())], base_url="http://api.mapp.com/x"
        )

        with pytest.raises(ManifestError, match="unencrypted"):
            load_plan(manifest)


class TestRedirects:
    """Redirects are followed by hand, each hop checked; a POST stays a POST."""

    async def redirect_app(
        self, sandbox: Sandbox, stranger_url: str, submit_status: int
    ) -> web.Application:
        """Build an API base that redirects submits to the sandbox, polls away."""

        async def submit(_request: web.Request) -> web.StreamResponse:
            location = sandbox.base_url + "/analysis-query"
            return web.Response(status=submit_status, headers={"Location": location})

        async def status(_request: web.Request) -> web.StreamResponse:
            location = stranger_url + PREFIX + "/elsewhere"
            return web.Response(status=302, headers={"Location": location})

        app = web.Application()
        app.router.add_post(PREFIX + "/analysis-query", submit)
        app.router.add_get(PREFIX + "/analysis-query/{id}", status)
        return app

    @asynccontextmanager
    async def serving(self, app: web.Application) -> AsyncIterator[str]:
        """Serve ``app`` on loopback and yield its API base URL."""
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            yield f"http://127.0.0.1:{runner.addresses[0][1]}{PREFIX}"
        finally:
            await runner.cleanup()

    async def test_307_keeps_the_post_and_a_redirect_away_is_refused(self) -> None:
        """A 307 re-posts to a trusted host; a poll redirected to a stranger fails."""
        async with (
            recording_server() as stranger,
            running_sandbox(SandboxOptions(calculation_seconds=0.02)) as sandbox,
        ):
            app = await self.redirect_app(sandbox, stranger.base_url, 307)
            async with (
                self.serving(app) as base_url,
                client_for(sandbox, base_url=base_url) as client,
            ):
                submission = await client.submit(list_query(), query="Q")
                with pytest.raises(UntrustedHostError):
                    await client.status(base_url + "/analysis-query/x", query="Q")

        assert sandbox.state.calculations_created == 1
        assert submission.status_url
        assert stranger.requests == []

    @pytest.mark.parametrize("code", [301, 302, 303])
    async def test_redirect_that_would_make_a_get_is_not_followed(
        self, code: int
    ) -> None:
        """A POST answered 301/302/303 fails clearly; nothing reaches the target."""
        async with (
            recording_server() as stranger,
            running_sandbox(SandboxOptions(calculation_seconds=0.02)) as sandbox,
        ):
            app = await self.redirect_app(sandbox, stranger.base_url, code)
            async with (
                self.serving(app) as base_url,
                client_for(sandbox, base_url=base_url) as client,
            ):
                with pytest.raises(ApiError, match="turn it into a GET"):
                    await client.submit(list_query(), query="Q")

        assert sandbox.state.calculations_created == 0
        assert sandbox.state.received_queries == []


class TestProxy:
    """HTTP_PROXY is honoured (the session trusts the environment)."""

    async def test_requests_travel_through_the_proxy(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With HTTP_PROXY set, every API and token request passes the proxy."""
        seen: list[str] = []

        async def forward(request: web.Request) -> web.StreamResponse:
            seen.append(f"{request.method} {request.url}")
            async with (
                aiohttp.ClientSession() as session,
                session.request(
                    request.method,
                    str(request.url),
                    headers={
                        key: value
                        for key, value in request.headers.items()
                        if key.lower() not in {"host", "proxy-connection"}
                    },
                    data=await request.read(),
                    allow_redirects=False,
                ) as answer,
            ):
                body = await answer.read()
                headers = {
                    key: value
                    for key, value in answer.headers.items()
                    if key.lower()
                    not in {"content-length", "transfer-encoding", "content-encoding"}
                }
                return web.Response(status=answer.status, body=body, headers=headers)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", forward)
        async with running_sandbox(SandboxOptions(calculation_seconds=0.02)) as sandbox:
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            proxy = f"http://127.0.0.1:{runner.addresses[0][1]}"
            try:
                for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy"):
                    monkeypatch.delenv(name, raising=False)
                monkeypatch.setenv("HTTP_PROXY", proxy)
                manifest = write_manifest(
                    tmp_path, [("Pages", list_query())], base_url=sandbox.base_url
                )
                outcome = await run_manifest(sandbox, manifest)
            finally:
                await runner.cleanup()

        assert outcome.exit_code is ExitCode.OK
        assert any("/oauth/token" in line for line in seen)
        assert any(
            line.startswith("POST") and "analysis-query" in line for line in seen
        )
        assert any("analysis-result" in line for line in seen)


class TestSecretsStayHidden:
    """Neither the secret nor any token shows in logs, messages or files."""

    def test_most_verbose_run_leaks_nothing(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A -v run with faults, refreshes and failures leaks no secret anywhere."""
        faults = FaultOptions(
            shares=(("503", 0.1), ("502-html", 0.1), ("drop", 0.05)), seed=3
        )
        options = SandboxOptions(
            calculation_seconds=0.02,
            client_secret="s3cret-Value-For-Leak-Check",  # noqa: S106
            token_lifetime_seconds=1,
            faults=faults,
        )
        with sandbox_in_thread(options) as sandbox:
            monkeypatch.setenv("MAPP_CLIENT_ID", options.client_id)
            monkeypatch.setenv("MAPP_CLIENT_SECRET", options.client_secret)
            queries = [(f"Q{n}", list_query("pages", n + 1)) for n in range(6)]
            queries.append(("Bad", list_query(metrics=("no_such_metric",))))
            manifest = write_manifest(
                tmp_path,
                queries,
                base_url=sandbox.base_url,
                extra={"retry": FAST_RETRY_MANIFEST},
            )
            with captured_logs("", "aiohttp", "mapp_export", "asyncio") as logs:
                logging.getLogger().setLevel(logging.DEBUG)
                code = main(["-v", "run", str(manifest)])
                sandbox.state.expire_tokens()
                second = main(["-v", "run", str(manifest), "--no-progress"])

        printed = capsys.readouterr()
        hidden = secrets_of(sandbox)
        places = {
            "stdout": printed.out,
            "stderr": printed.err,
            "logs": "\n".join(logs.lines),
            **{str(path): text for path, text in written_texts(tmp_path)},
        }
        assert (code, second) == (1, 1)
        assert "request.retry" in printed.err
        assert "poll" in printed.err
        assert len(hidden) >= 4
        assert sum(sandbox.state.faults_injected.values()) > 0
        leaks = [
            (place, secret[:6])
            for place, text in places.items()
            for secret in hidden
            if secret in text
        ]
        assert leaks == []


class TestYamlTags:
    """Manifests cannot build Python objects."""

    def test_python_tag_is_refused(self, tmp_path: Path) -> None:
        """A !!python tag is a manifest error, and nothing is constructed."""
        manifest = tmp_path / "manifest.yaml"
        manifest.write_text(
            "output: !!python/object/apply:os.system ['echo pwned']\n"
            "queries: [{name: a, query: {}}]\n",
            encoding="utf-8",
        )

        with pytest.raises(ManifestError):
            load_plan(manifest)


class TestMalformedLinks:
    """A link the API gives that is no valid URL fails its query, never the run."""

    @pytest.mark.parametrize(
        "url",
        [
            "http://[::1",
            "http://127.0.0.1:99999/x",
            "http://127.0.0.1:1:2/x",
            "ftp://h/x",
        ],
    )
    def test_is_refused_before_sending(self, url: str) -> None:
        """Broken hosts and ports are an untrusted-host error, not a ValueError."""
        with pytest.raises(UntrustedHostError, match="not a valid http"):
            check_trusted(url, ("127.0.0.1:1",), query="Broken")
