"""Helpers of the fault, security and soak tests: clients, runs and small servers."""

from __future__ import annotations

import base64
import logging
import socket
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from helpers import credentials_of
from mapp_export.api import MappClient
from mapp_export.backoff import RetryPolicy
from mapp_export.manifest import load_plan
from mapp_export.outcome import RunOutcome
from mapp_export.runner import RunOptions, run_plan
from mapp_export.sandbox import Sandbox
from mapp_export.settings import ApiSettings

FAST_RETRY = RetryPolicy(
    attempts=6, initial=0.005, max_interval=0.02, total=5.0, max_retry_after=0.05
)
"""Retries that wait milliseconds, so fault tests stay fast."""

FAST_RETRY_MANIFEST = {
    "attempts": 6,
    "initial": "5ms",
    "max_interval": "20ms",
    "total": "5s",
    "max_retry_after": "50ms",
}
"""The same policy as the manifest's ``retry:`` section writes it."""


def netloc(url: str) -> str:
    """Return ``host:port`` of a URL."""
    return urlsplit(url).netloc


@asynccontextmanager
async def client_for(
    sandbox: Sandbox,
    retry: RetryPolicy = FAST_RETRY,
    *,
    base_url: str | None = None,
    extra_trusted: tuple[str, ...] = (),
    read_timeout: float = 5.0,
) -> AsyncIterator[MappClient]:
    """Yield a client of the sandbox (or of ``base_url``) with its own session."""
    base = base_url or sandbox.base_url
    settings = ApiSettings(
        base_url=base,
        token_url=sandbox.token_url,
        scope="mapp.intelligence-api",
        trusted_hosts=(netloc(base), netloc(sandbox.token_url), *extra_trusted),
    )
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=read_timeout)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        yield MappClient(session, settings, credentials_of(sandbox), retry)


async def run_manifest(
    sandbox: Sandbox, manifest: Path, options: RunOptions | None = None
) -> RunOutcome:
    """Run a manifest with the sandbox's credentials."""
    return await run_plan(load_plan(manifest), credentials_of(sandbox), options)


def closed_port() -> int:
    """Return a loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Recorder:
    """What a recording server saw: each request's method, path and auth header."""

    base_url: str = ""
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)

    @property
    def authorizations(self) -> list[str]:
        """Every Authorization header that arrived."""
        return [auth for _, _, auth in self.requests if auth is not None]


@asynccontextmanager
async def recording_server(
    routes: Mapping[tuple[str, str], Callable[[], Awaitable[web.StreamResponse]]]
    | None = None,
) -> AsyncIterator[Recorder]:
    """Serve on loopback an app that records every request and answers 200 ``{}``.

    ``routes`` maps ``(method, path)`` to a maker of a fixed answer (a redirect).
    """
    recorder = Recorder()
    answers = routes or {}

    async def handle(request: web.Request) -> web.StreamResponse:
        recorder.requests.append(
            (request.method, request.path, request.headers.get("Authorization"))
        )
        fixed = answers.get((request.method, request.path))
        return await fixed() if fixed is not None else web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    recorder.base_url = f"http://127.0.0.1:{port}"
    try:
        yield recorder
    finally:
        await runner.cleanup()


class LogLines(logging.Handler):
    """Keeps every formatted line logged to the loggers it is attached to."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the record's message."""
        self.lines.append(f"{record.name} {record.levelname} {record.getMessage()}")

    def matching(self, text: str) -> list[str]:
        """Return the lines that contain ``text``."""
        return [line for line in self.lines if text in line]


@contextmanager
def captured_logs(*names: str) -> Iterator[LogLines]:
    """Capture every line of the named loggers at DEBUG, whatever their setup."""
    handler = LogLines()
    loggers = [logging.getLogger(name) for name in names or ("mapp_export",)]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def secrets_of(sandbox: Sandbox) -> list[str]:
    """Return the client secret, every token issued and the Basic value."""
    options = sandbox.options
    pair = f"{options.client_id}:{options.client_secret}".encode()
    basic = base64.b64encode(pair).decode()
    return [options.client_secret, basic, *sandbox.state.tokens_issued]


def written_texts(folder: Path) -> Iterator[tuple[Path, str]]:
    """Yield every file under ``folder`` as text, each workbook part unzipped too."""
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        yield path, data.decode("utf-8", errors="replace")
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    text = archive.read(name).decode("utf-8", errors="replace")
                    yield path / name, text
