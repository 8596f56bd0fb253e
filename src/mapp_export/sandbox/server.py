"""Starting and stopping a sandbox on loopback: in a loop, in a thread, or by hand."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager, suppress

from aiohttp import web

from mapp_export.sandbox.app import (
    CURRENT_PREFIX,
    CURRENT_TOKEN_PATH,
    LEGACY_PREFIX,
    LEGACY_TOKEN_PATH,
    SandboxApi,
)
from mapp_export.sandbox.options import SandboxOptions
from mapp_export.sandbox.state import SandboxState

DEFAULT_OPTIONS = SandboxOptions()
"""The settings of a sandbox started without any."""

_SHUTDOWN_SECONDS = 1.0
_THREAD_JOIN_SECONDS = 10.0


class Sandbox:
    """A running sandbox: where it answers, how it is set up, what it has seen."""

    def __init__(
        self,
        options: SandboxOptions,
        state: SandboxState,
        base_url: str,
        token_url: str,
    ) -> None:
        """Describe a sandbox that is listening."""
        self.options = options
        self.state = state
        self.base_url = base_url
        self.token_url = token_url

    def __repr__(self) -> str:
        """Name the sandbox by its API base URL."""
        return f"<Sandbox {self.base_url}>"


@asynccontextmanager
async def running_sandbox(
    options: SandboxOptions = DEFAULT_OPTIONS,
) -> AsyncIterator[Sandbox]:
    """Serve a sandbox on loopback inside the running asyncio loop until exit."""
    async with AsyncExitStack() as stack:
        api_socket = stack.enter_context(_listening_socket(options.host, options.port))
        base = _origin(options.host, api_socket)
        if options.layout == "legacy":
            base_url = base + LEGACY_PREFIX
            token_url = base + LEGACY_TOKEN_PATH
        else:
            auth_socket = stack.enter_context(
                _listening_socket(options.host, options.auth_port)
            )
            base_url = base + CURRENT_PREFIX
            token_url = _origin(options.host, auth_socket) + CURRENT_TOKEN_PATH

        state = SandboxState(options=options)
        api = SandboxApi(state, base_url)
        await _serve(stack, api.api_application(), api_socket)
        if options.layout == "current":
            await _serve(stack, api.token_application(), auth_socket)

        yield Sandbox(options, state, base_url, token_url)


@contextmanager
def _listening_socket(host: str, port: int) -> Iterator[socket.socket]:
    """Listen on ``host:port`` with a socket that is closed on exit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.create_server((host, port), family=family) as listener:
        yield listener


def _origin(host: str, listener: socket.socket) -> str:
    """``http://host:port`` of a listening socket."""
    port = listener.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


async def _serve(
    stack: AsyncExitStack, app: web.Application, listener: socket.socket
) -> None:
    """Serve ``app`` on ``listener`` until ``stack`` closes."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_SECONDS)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.SockSite(runner, listener)
    await site.start()


@contextmanager
def sandbox_in_thread(options: SandboxOptions = DEFAULT_OPTIONS) -> Iterator[Sandbox]:
    """Serve a sandbox from its own event loop in a daemon thread until exit.

    For synchronous code, such as tests of the command line's ``main(argv)``.
    """
    thread = _SandboxThread(options)
    thread.start()
    thread.ready.wait()
    if thread.sandbox is None:
        thread.join(_THREAD_JOIN_SECONDS)
        raise thread.error or RuntimeError("The sandbox thread did not start.")

    try:
        yield thread.sandbox
    finally:
        thread.stop()


class _SandboxThread(threading.Thread):
    """A daemon thread that runs one sandbox in an event loop of its own."""

    def __init__(self, options: SandboxOptions) -> None:
        """Prepare to serve a sandbox with ``options``."""
        super().__init__(name="mapp-export-sandbox", daemon=True)
        self.options = options
        self.ready = threading.Event()
        self.sandbox: Sandbox | None = None
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None

    def run(self) -> None:
        """Serve until :meth:`stop`, keeping a start-up error for the caller."""
        try:
            asyncio.run(self._serve())
        except Exception as exc:  # noqa: BLE001  handed to the starting thread
            self.error = exc
        finally:
            self.ready.set()

    async def _serve(self) -> None:
        """Start the sandbox, say so, and wait for the request to stop."""
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        async with running_sandbox(self.options) as sandbox:
            self.sandbox = sandbox
            self.ready.set()
            await self._stop_requested.wait()

    def stop(self) -> None:
        """Ask the sandbox to stop and wait until its thread has ended."""
        if self._loop is not None and self._stop_requested is not None:
            with suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop_requested.set)

        self.join(_THREAD_JOIN_SECONDS)


def serve_forever(
    options: SandboxOptions = DEFAULT_OPTIONS,
    *,
    on_ready: Callable[[Sandbox], None] | None = None,
) -> None:
    """Serve a sandbox until interrupted (Ctrl+C); print nothing.

    ``on_ready`` is called with the sandbox once it listens, for instance to print
    :func:`startup_lines`. Returns when the user interrupts.
    """
    try:
        asyncio.run(_serve_until_cancelled(options, on_ready))
    except KeyboardInterrupt:
        return


async def _serve_until_cancelled(
    options: SandboxOptions, on_ready: Callable[[Sandbox], None] | None
) -> None:
    """Serve a sandbox until this task is cancelled."""
    async with running_sandbox(options) as sandbox:
        if on_ready is not None:
            on_ready(sandbox)

        await asyncio.Event().wait()


def startup_lines(sandbox: Sandbox) -> list[str]:
    """Return the lines to show on start: where the sandbox is, how to log in."""
    options = sandbox.options
    return [
        (
            f"Mapp sandbox running ({options.layout} layout, "
            f"calculations take {options.calculation_seconds:g} s)."
        ),
        f"  API base URL:   {sandbox.base_url}",
        f"  Token URL:      {sandbox.token_url}",
        f"  Client id:      {options.client_id}",
        f"  Client secret:  {options.client_secret}",
        "Press Ctrl+C to stop.",
    ]
