"""Transient faults: retries, Retry-After, error pages, re-sends and deadlines."""

from __future__ import annotations

import re
from pathlib import Path

import anyio
import pytest
from aiohttp import web

from faults_helpers import (
    FAST_RETRY_MANIFEST,
    captured_logs,
    client_for,
    closed_port,
    recording_server,
    run_manifest,
)
from helpers import (
    credentials_of,
    list_query,
    sheets_by_openpyxl,
    summary_rows,
    write_manifest,
)
from mapp_export.backoff import RetryPolicy
from mapp_export.errors import QueryRejectedError, TransientApiError
from mapp_export.manifest import load_plan
from mapp_export.outcome import ExitCode
from mapp_export.runner import RunOptions, run_plan
from mapp_export.sandbox import (
    FaultOptions,
    OutcomeRule,
    SandboxOptions,
    running_sandbox,
)
from mapp_export.sandbox.faults import ENDPOINTS

pytestmark = pytest.mark.anyio

ALWAYS = 0.999
"""A share that faults every request the seed draws below it: in practice all."""


def faulty(kind: str, *, in_a_row: int = 1, **options: object) -> SandboxOptions:
    """Return fast sandbox options that answer (nearly) every request with ``kind``."""
    faults = FaultOptions(
        shares=((kind, ALWAYS),),
        seed=1,
        max_in_a_row=in_a_row,
        endpoints=ENDPOINTS - {"token"},
    )
    return SandboxOptions(
        calculation_seconds=0.02,
        faults=faults,
        **options,  # type: ignore[arg-type]
    )


def waits(lines: list[str]) -> list[float]:
    """Return the waits logged by retry lines, in order."""
    return [
        float(match) for line in lines for match in re.findall(r"wait=([\d.]+)s", line)
    ]


class TestRetryAfter:
    """A 429's Retry-After is honoured in every form, and capped."""

    @pytest.mark.parametrize(
        ("kind", "expected"),
        [
            ("429-seconds", 0.05),
            ("429-fraction", 0.01),
            ("429-date", 0.05),
            ("429-past-date", 0.0),
        ],
    )
    async def test_each_form_sets_the_wait(self, kind: str, expected: float) -> None:
        """Seconds and a future date are capped, a fraction kept, a past date is 0."""
        async with (
            running_sandbox(faulty(kind)) as sandbox,
            client_for(sandbox) as client,
        ):
            with captured_logs() as logs:
                usage = await client.usage()

        assert usage.allowed > 0
        assert sandbox.state.faults_injected == {kind: 1}
        assert waits(logs.matching("request.retry")) == [expected]


class TestTransientAnswers:
    """Idempotent requests survive 5xx, HTML pages, drops and maintenance."""

    @pytest.mark.parametrize("kind", ["500", "502-html", "503", "504", "drop"])
    async def test_status_and_usage_are_retried(self, kind: str) -> None:
        """Two faults in a row on each request are retried away."""
        async with (
            running_sandbox(faulty(kind, in_a_row=2)) as sandbox,
            client_for(sandbox) as client,
        ):
            submission = await client.submit(list_query(), query="Q")
            status = await client.status(submission.status_url or "", query="Q")
            usage = await client.usage()

        assert status.status in {"INITIATED", "RUNNING", "SUCCESS"}
        assert usage.used == 1
        assert sandbox.state.faults_injected[kind] >= 4
        assert sandbox.state.calculations_created == 1

    async def test_html_error_page_is_reported_by_status_and_snippet(self) -> None:
        """A proxy's HTML 502 ends in a message with the status and its title."""
        retry = RetryPolicy(attempts=2, initial=0.001, max_interval=0.001)
        options = faulty("502-html", in_a_row=10)
        async with (
            running_sandbox(options) as sandbox,
            client_for(sandbox, retry) as client,
        ):
            with pytest.raises(TransientApiError) as caught:
                await client.usage()

        message = str(caught.value)
        assert "HTTP 502" in message
        assert "502 Bad Gateway" in message
        assert "gave up after 2 attempts" in message
        assert "Expecting value" not in message
        assert "JSONDecodeError" not in message

    async def test_bare_400_is_retried_then_blamed_on_maintenance(self) -> None:
        """A bare 400 is retried like a 503; giving up names a maintenance window."""
        retry = RetryPolicy(attempts=3, initial=0.001, max_interval=0.001)
        options = faulty("maintenance-400", in_a_row=10)
        async with (
            running_sandbox(options) as sandbox,
            client_for(sandbox, retry) as client,
        ):
            with pytest.raises(TransientApiError) as caught:
                await client.usage()

        assert sandbox.state.faults_injected == {"maintenance-400": 3}
        assert "maintenance window" in str(caught.value)
        assert "gave up after 3 attempts" in str(caught.value)

    async def test_total_caps_the_time_spent_retrying(self) -> None:
        """With many attempts allowed, retry.total still ends the retrying."""
        retry = RetryPolicy(attempts=1000, initial=0.01, max_interval=0.01, total=0.15)
        options = faulty("503", in_a_row=10_000)
        async with (
            running_sandbox(options) as sandbox,
            client_for(sandbox, retry) as client,
        ):
            with pytest.raises(TransientApiError) as caught:
                await client.usage()

        tries = sandbox.state.faults_injected["503"]
        assert 1 <= tries < 100  # about 15 on an idle machine; never the 1000 allowed
        assert f"gave up after {tries} attempts" in str(caught.value)


class TestQueryFaults:
    """A 422, or a 400 with Mapp's error body, is the query's fault: sent once."""

    async def test_unprocessable_query_is_not_retried(self) -> None:
        """A 422 fails at once with the reason; the sandbox saw one request."""
        async with (
            running_sandbox(SandboxOptions(calculation_seconds=0.02)) as running,
            client_for(running) as client,
        ):
            bad = list_query(metrics=("no_such_metric",))
            with pytest.raises(QueryRejectedError, match="no_such_metric"):
                await client.submit(bad, query="Bad")

        assert len(running.state.received_queries) == 1

    async def test_bad_request_with_mapp_body_is_not_retried(self) -> None:
        """A 400 carrying Mapp's Problem body is the query's fault, sent once."""
        async with (
            running_sandbox(SandboxOptions(calculation_seconds=0.02)) as running,
            client_for(running) as client,
        ):
            with pytest.raises(QueryRejectedError, match="HTTP 400"):
                await client.submit({"resultType": "DATA_ONLY"}, query="Bad")

        assert len(running.state.received_queries) == 1


class TestCreatingCalculations:
    """A calculation is re-sent only when the failure proves nothing was created."""

    @pytest.mark.parametrize(
        "kind", ["429-seconds", "429-fraction", "503", "maintenance-400"]
    )
    async def test_turned_away_submit_is_resent_once_created(self, kind: str) -> None:
        """After an answer that created nothing, the re-send creates exactly one."""
        async with (
            running_sandbox(faulty(kind, in_a_row=2)) as sandbox,
            client_for(sandbox) as client,
        ):
            with captured_logs() as logs:
                submission = await client.submit(list_query(), query="Q")

        assert submission.status_url
        assert sandbox.state.calculations_created == 1
        assert len(logs.matching("Q: query.resend")) == 2

    async def test_dropped_submit_is_not_resent(self) -> None:
        """A connection closed before an answer is not re-sent: it may have made one."""
        async with (
            running_sandbox(faulty("drop-submit", in_a_row=1)) as sandbox,
            client_for(sandbox) as client,
        ):
            with pytest.raises(TransientApiError) as caught:
                await client.submit(list_query(), query="Q")

        assert sandbox.state.faults_injected == {"drop-submit": 1}
        assert sandbox.state.calculations_created == 0
        assert "not sent again" in str(caught.value)

    async def test_refused_connection_is_resent_and_logged(self) -> None:
        """A refused connection proves nothing was sent; every re-send is logged."""
        base_url = f"http://127.0.0.1:{closed_port()}/analytics/api"
        retry = RetryPolicy(attempts=3, initial=0.001, max_interval=0.001)
        async with (
            running_sandbox(SandboxOptions(calculation_seconds=0.02)) as sandbox,
            client_for(sandbox, retry, base_url=base_url) as client,
        ):
            with (
                captured_logs() as logs,
                pytest.raises(TransientApiError) as caught,
            ):
                await client.submit(list_query(), query="Q")

        assert len(logs.matching("Q: query.resend")) == 2
        assert "cannot connect" in str(caught.value)

    async def test_seeded_faults_repeat_exactly(self) -> None:
        """The same seed and the same requests meet the same faults."""
        faults = FaultOptions(shares=(("503", 0.3), ("drop", 0.2)), seed=42)
        counts = []
        for _ in range(2):
            options = SandboxOptions(calculation_seconds=0.0, faults=faults)
            async with (
                running_sandbox(options) as sandbox,
                client_for(sandbox) as client,
            ):
                for size in range(1, 9):
                    submission = await client.submit(
                        list_query(upper_limit=size), query="Q"
                    )
                    await client.status(submission.status_url or "", query="Q")
            counts.append(dict(sandbox.state.faults_injected))

        assert counts[0] == counts[1]
        assert sum(counts[0].values()) > 0


class TestTimeouts:
    """Per-request timeouts and the whole-run deadline."""

    async def test_silent_api_times_out_and_the_submit_is_not_resent(
        self, tmp_path: Path
    ) -> None:
        """A POST met by silence fails on the read timeout and is sent only once."""
        silence = anyio.Event()

        async def never_answer() -> web.StreamResponse:
            await silence.wait()
            return web.json_response({})

        routes = {("POST", "/analytics/api/analysis-query"): never_answer}
        async with (
            running_sandbox(SandboxOptions(calculation_seconds=0.02)) as sandbox,
            recording_server(routes) as silent,
        ):
            manifest = write_manifest(
                tmp_path,
                [("Pages", list_query())],
                base_url=f"{silent.base_url}/analytics/api",
                token_url=sandbox.token_url,
                extra={"retry": FAST_RETRY_MANIFEST},
            )
            outcome = await run_plan(
                load_plan(manifest),
                credentials_of(sandbox),
                RunOptions(read_timeout=0.2),
            )
            silence.set()

        posts = [request for request in silent.requests if request[0] == "POST"]
        assert outcome.exit_code is ExitCode.NOTHING_EXPORTED
        assert len(posts) == 1
        assert "no answer within the timeout" in (outcome.records[0].error or "")

    @pytest.mark.parametrize("where", ["flag", "manifest"])
    async def test_run_deadline_aborts_and_writes_what_finished(
        self, tmp_path: Path, where: str
    ) -> None:
        """Past the run's deadline, running calculations get DELETE; exit code 1."""
        options = SandboxOptions(
            calculation_seconds=0.02, outcomes=(OutcomeRule("never", "NEVER"),)
        )
        async with running_sandbox(options) as sandbox:
            manifest = write_manifest(
                tmp_path,
                [
                    ("Quick", list_query("pages", 3)),
                    ("Endless", list_query("pages", 4, marker="never")),
                ],
                base_url=sandbox.base_url,
                extra={"run_timeout": "0.5s"} if where == "manifest" else None,
            )
            run_options = RunOptions(deadline=0.5) if where == "flag" else None
            outcome = await run_manifest(sandbox, manifest, run_options)

        by_name = {record.name: record for record in outcome.records}
        assert outcome.exit_code is ExitCode.PARTIAL
        assert by_name["Quick"].succeeded
        assert "deadline" in (by_name["Endless"].error or "")
        assert sandbox.state.deletes == [by_name["Endless"].correlation_id]
        assert outcome.workbook is not None
        assert list(sheets_by_openpyxl(outcome.workbook)) == ["Quick", "Summary"]
        assert summary_rows(outcome.workbook)["Endless"]["status"] == "failed"
