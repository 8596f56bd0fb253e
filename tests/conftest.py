"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from mapp_export.sandbox import (
    OutcomeRule,
    Sandbox,
    SandboxOptions,
    running_sandbox,
    sandbox_in_thread,
)


@pytest.fixture
def anyio_backend() -> str:
    """Run async tests on asyncio, the loop aiohttp needs."""
    return "asyncio"


FAST_SANDBOX = SandboxOptions(calculation_seconds=0.05)
"""A legacy sandbox whose calculations take 50 ms."""


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    """Serve a legacy sandbox with 50 ms calculations on loopback for one test."""
    async with running_sandbox(FAST_SANDBOX) as running:
        yield running


@pytest.fixture
def threaded_sandbox() -> Iterator[Sandbox]:
    """Serve a legacy sandbox with 50 ms calculations from a thread for one test."""
    with sandbox_in_thread(FAST_SANDBOX) as running:
        yield running


@pytest.fixture
def failing_sandbox() -> Iterator[Sandbox]:
    """Serve a fast sandbox in which queries marked ``boom`` end FAILED."""
    options = SandboxOptions(
        calculation_seconds=0.05,
        outcomes=(OutcomeRule(marker="boom", status="FAILED"),),
    )
    with sandbox_in_thread(options) as running:
        yield running


@pytest.fixture
def failing_sandbox_credentials(
    monkeypatch: pytest.MonkeyPatch, failing_sandbox: Sandbox
) -> None:
    """Put the failing sandbox's credentials into the environment, as a user would."""
    monkeypatch.setenv("MAPP_CLIENT_ID", failing_sandbox.options.client_id)
    monkeypatch.setenv("MAPP_CLIENT_SECRET", failing_sandbox.options.client_secret)
    monkeypatch.delenv("MAPP_BASE_URL", raising=False)
    monkeypatch.delenv("MAPP_TOKEN_URL", raising=False)
