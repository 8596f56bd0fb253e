"""Authentication: refused credentials, single-flight refresh, refused new tokens."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from faults_helpers import client_for
from helpers import credentials_of, list_query, write_manifest
from mapp_export.manifest import load_plan
from mapp_export.outcome import ExitCode
from mapp_export.runner import run_plan
from mapp_export.sandbox import SandboxOptions, running_sandbox
from mapp_export.settings import Credentials

pytestmark = pytest.mark.anyio


class TestRefusedCredentials:
    """Bad credentials end the run at once, without a storm of token requests."""

    async def test_many_queries_one_token_request_exit_3(self, tmp_path: Path) -> None:
        """Twenty queries, a wrong secret: one token request, exit 3, variable named."""
        async with running_sandbox(SandboxOptions(calculation_seconds=0.02)) as sandbox:
            queries = [(f"Q{n}", list_query("pages", n + 1)) for n in range(20)]
            manifest = write_manifest(tmp_path, queries, base_url=sandbox.base_url)
            credentials = Credentials(sandbox.options.client_id, "not-the-secret")

            outcome = await run_plan(load_plan(manifest), credentials)

        assert outcome.exit_code is ExitCode.NOTHING_EXPORTED
        assert "MAPP_CLIENT_SECRET" in (outcome.message or "")
        assert "not-the-secret" not in (outcome.message or "")
        assert sandbox.state.token_requests == 1
        assert sandbox.state.calculations_created == 0


class TestRefresh:
    """A token refused mid-run is replaced by one task while the others wait."""

    @pytest.mark.parametrize("layout", ["legacy", "current"])
    async def test_concurrent_refusals_fetch_one_new_token(self, layout: str) -> None:
        """Thirty requests refused at once (403 or 401) cause one new token."""
        options = SandboxOptions(calculation_seconds=0.02, layout=layout)  # type: ignore[arg-type]
        async with running_sandbox(options) as sandbox, client_for(sandbox) as client:
            submission = await client.submit(list_query(), query="Q")
            sandbox.state.expire_tokens()

            status_url = submission.status_url or ""

            async def poll() -> None:
                await client.status(status_url, query="Q")

            async with anyio.create_task_group() as tg:
                for _ in range(30):
                    tg.start_soon(poll)

        assert sandbox.state.token_requests == 2
        assert sandbox.state.rejected_tokens == 30

    async def test_new_token_refused_again_ends_the_run(self, tmp_path: Path) -> None:
        """A token refused right after being issued fails clearly instead of looping."""
        options = SandboxOptions(calculation_seconds=0.02, token_lifetime_seconds=0)
        async with running_sandbox(options) as sandbox:
            queries = [(f"Q{n}", list_query("pages", n + 1)) for n in range(5)]
            manifest = write_manifest(tmp_path, queries, base_url=sandbox.base_url)

            outcome = await run_plan(load_plan(manifest), credentials_of(sandbox))

        assert outcome.exit_code is ExitCode.NOTHING_EXPORTED
        assert sandbox.state.token_requests == 2
        assert "refused a token just issued" in (outcome.message or "")
        assert all(not record.succeeded for record in outcome.records)
