"""Running a plan: every query concurrently, under one token, into one workbook.

One task group holds a task per query. A capacity limiter keeps at most
``concurrency`` calculations between submit and final status. Each task fills
in its query's record; a failing query records its error and never cancels the
others. Results are streamed to spool files and handed, one at a time, to the
workbook writer in a worker thread, as soon as each arrives.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import aiohttp
import anyio

from mapp_export.api import MappClient, Submission
from mapp_export.backoff import RetryPolicy, poll_intervals
from mapp_export.errors import (
    ApiError,
    AuthenticationError,
    CalculationFailedError,
    MappExportError,
    QueryTimeoutError,
    TokenRejectedError,
    WorkbookError,
)
from mapp_export.manifest import Plan, QueryPlan
from mapp_export.outcome import ExitCode, RunOutcome
from mapp_export.records import QueryRecord, QueryState, RunFacts
from mapp_export.settings import Credentials
from mapp_export.workbook import WorkbookWriter

logger = logging.getLogger("mapp_export")

RUNNING_STATUSES = frozenset({"INITIATED", "RUNNING"})
FAILED_STATUSES = frozenset({"FAILED", "ABORTED"})
ABORT_GRACE_SECONDS = 10.0
SIGNAL_EXIT_CODES = {
    signal.SIGINT: ExitCode.INTERRUPTED,
    signal.SIGTERM: ExitCode.TERMINATED,
}

RecordListener = Callable[[QueryRecord], None]


@dataclass(frozen=True)
class RunOptions:
    """Settings of a run that do not come from the manifest."""

    retry: RetryPolicy = RetryPolicy()
    connect_timeout: float = 30.0
    read_timeout: float = 300.0
    handle_signals: bool = False
    timezone: tzinfo | None = None
    max_rows_per_sheet: int = 1_048_575


class _Run:
    """The shared state of one run: records, writer, and why it stopped early."""

    def __init__(
        self, plan: Plan, options: RunOptions, listener: RecordListener | None
    ):
        self.plan = plan
        self.options = options
        self.listener = listener
        self.records = [
            QueryRecord(
                index=query.index, name=query.name, sheet_title=query.sheet_title
            )
            for query in plan.queries
        ]
        self.fatal: MappExportError | None = None
        self.stopped_by: signal.Signals | None = None
        self.queries_scope: anyio.CancelScope | None = None

    def change(self, record: QueryRecord, state: QueryState) -> None:
        record.state = state
        logger.info("%s: %s", record.name, state.value)
        if self.listener is not None:
            self.listener(record)

    def fail(self, record: QueryRecord, message: str) -> None:
        record.error = message
        record.finished_at = datetime.now(UTC)
        self.change(record, QueryState.FAILED)
        logger.error("%s: failed: %s", record.name, message)


async def run_plan(
    plan: Plan,
    credentials: Credentials,
    options: RunOptions | None = None,
    *,
    listener: RecordListener | None = None,
) -> RunOutcome:
    """Run every query of ``plan`` and write the workbook; return the outcome."""
    options = options or RunOptions()
    run = _Run(plan, options, listener)
    started_at = datetime.now(UTC)

    try:
        writer = await anyio.to_thread.run_sync(_prepare_writer, plan, options)
    except WorkbookError as exc:
        return RunOutcome(ExitCode.REFUSED, run.records, message=str(exc))

    spool_folder = Path(
        tempfile.mkdtemp(prefix=f".{plan.output.name}.spool-", dir=plan.output.parent)
    )
    try:
        async with _http_session(plan, options) as session:
            client = MappClient(session, plan.api, credentials, options.retry)
            try:
                await client.authenticate()
            except (AuthenticationError, ApiError) as exc:
                await anyio.to_thread.run_sync(writer.discard)
                return RunOutcome(
                    ExitCode.NOTHING_EXPORTED, run.records, message=str(exc)
                )

            await _export_all(run, client, writer, spool_folder)
    finally:
        await anyio.to_thread.run_sync(shutil.rmtree, spool_folder, True)

    return await _finish(run, writer, started_at)


def _prepare_writer(plan: Plan, options: RunOptions) -> WorkbookWriter:
    folder = plan.output.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorkbookError(
            f"the output folder {folder} cannot be created: {exc.strerror}"
        ) from None

    if not os.access(folder, os.W_OK):
        raise WorkbookError(
            f"the output folder {folder} is not writable; choose another --output"
        )

    return WorkbookWriter(
        plan.output,
        timezone=options.timezone,
        max_rows_per_sheet=options.max_rows_per_sheet,
        planned_titles=[query.sheet_title for query in plan.queries],
    )


@asynccontextmanager
async def _http_session(
    plan: Plan, options: RunOptions
) -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=options.connect_timeout, sock_read=options.read_timeout
    )
    connector = aiohttp.TCPConnector(limit=2 * plan.concurrency + 2)
    async with aiohttp.ClientSession(
        timeout=timeout,
        connector=connector,
        trust_env=True,
        cookie_jar=aiohttp.DummyCookieJar(),
        raise_for_status=False,
    ) as session:
        yield session


async def _export_all(
    run: _Run, client: MappClient, writer: WorkbookWriter, spool: Path
) -> None:
    limiter = anyio.CapacityLimiter(run.plan.concurrency)
    write_limiter = anyio.CapacityLimiter(1)

    async with anyio.create_task_group() as outer:
        if run.options.handle_signals:
            outer.start_soon(_watch_signals, run)

        async with anyio.create_task_group() as queries:
            run.queries_scope = queries.cancel_scope
            for query, record in zip(run.plan.queries, run.records, strict=True):
                queries.start_soon(
                    _export_query,
                    run,
                    client,
                    writer,
                    query,
                    record,
                    limiter,
                    write_limiter,
                    spool,
                )

        outer.cancel_scope.cancel()


async def _watch_signals(run: _Run) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for received in signals:
            run.stopped_by = signal.Signals(received)
            logger.warning(
                "stopping on %s: aborting running calculations", run.stopped_by.name
            )
            if run.queries_scope is not None:
                run.queries_scope.cancel()
            return


async def _export_query(
    run: _Run,
    client: MappClient,
    writer: WorkbookWriter,
    query: QueryPlan,
    record: QueryRecord,
    limiter: anyio.CapacityLimiter,
    write_limiter: anyio.CapacityLimiter,
    spool_folder: Path,
) -> None:
    try:
        async with limiter:
            result_url = await _calculate(client, query, record, run)

        spool = spool_folder / f"{query.index:04d}.json"
        run.change(record, QueryState.FETCHING)
        await client.download_result(result_url, spool, query=query.name)

        run.change(record, QueryState.WRITING)
        record.sheet = await anyio.to_thread.run_sync(
            writer.write_result,
            record,
            spool,
            query.sheet_options,
            limiter=write_limiter,
        )
        await anyio.to_thread.run_sync(spool.unlink, True)

        record.finished_at = datetime.now(UTC)
        run.change(record, QueryState.DONE)
    except (AuthenticationError, TokenRejectedError) as exc:
        run.fail(record, str(exc))
        _stop_everything(run, exc)
    except MappExportError as exc:
        run.fail(record, str(exc))
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True):
            run.fail(record, _why_stopped(run))
        raise


def _stop_everything(run: _Run, error: MappExportError) -> None:
    if run.fatal is None:
        run.fatal = error
        logger.error("stopping the run: %s", error)
    if run.queries_scope is not None:
        run.queries_scope.cancel()


def _why_stopped(run: _Run) -> str:
    if run.stopped_by is not None:
        return f"stopped by {run.stopped_by.name} before it finished"
    if run.fatal is not None:
        return f"not finished: the run stopped because {run.fatal}"
    return "cancelled before it finished"


async def _calculate(
    client: MappClient, query: QueryPlan, record: QueryRecord, run: _Run
) -> str:
    """Submit the query and wait for its result URL, within the query's deadline."""
    started = anyio.current_time()
    record.submitted_at = datetime.now(UTC)
    with anyio.CancelScope(deadline=started + query.poll.timeout) as deadline:
        submission = await client.submit(query.body, query=query.name)
    if deadline.cancelled_caught:
        raise _timeout_error(query, aborted=False)

    record.correlation_id = submission.correlation_id
    record.calculation_id = submission.calculation_id
    if submission.cached:
        record.cached = True
        record.calculated_after = 0.0
        logger.info("%s: result already calculated (cached)", query.name)
        return submission.result_url or ""

    run.change(record, QueryState.SUBMITTED)
    try:
        with anyio.CancelScope(deadline=started + query.poll.timeout) as deadline:
            result_url = await _poll_until_done(client, query, record, submission, run)
    except anyio.get_cancelled_exc_class():
        await _abort(client, submission, query)
        raise

    if deadline.cancelled_caught:
        await _abort(client, submission, query)
        raise _timeout_error(query, aborted=True)

    record.calculated_after = anyio.current_time() - started
    return result_url


async def _poll_until_done(
    client: MappClient,
    query: QueryPlan,
    record: QueryRecord,
    submission: Submission,
    run: _Run,
) -> str:
    status_url = submission.status_url or ""
    intervals = poll_intervals(query.poll.initial, query.poll.max_interval)
    while True:
        await anyio.sleep(next(intervals))
        status = await client.status(status_url, query=query.name)
        record.polls += 1
        record.calculation_id = status.calculation_id or record.calculation_id
        logger.debug("%s: poll %d status=%s", query.name, record.polls, status.status)

        if status.status == "SUCCESS":
            return _result_url(client, status.result_url, record)
        if status.status in FAILED_STATUSES:
            raise CalculationFailedError(
                f"the calculation ended with status {status.status} (Mapp gives no "
                "reason); try the query in Mapp's interface"
            )
        if (
            status.status in RUNNING_STATUSES
            and record.state is not QueryState.CALCULATING
        ):
            run.change(record, QueryState.CALCULATING)
        elif status.status not in RUNNING_STATUSES:
            logger.warning(
                "%s: unknown status %r; polling on", query.name, status.status
            )


def _timeout_error(query: QueryPlan, *, aborted: bool) -> QueryTimeoutError:
    what = "the calculation was aborted" if aborted else "the query was not accepted"
    return QueryTimeoutError(
        f"no final status within poll.timeout ({query.poll.timeout:g} s); {what}; "
        "raise poll.timeout in the manifest if the calculation needs longer"
    )


def _result_url(client: MappClient, result_url: str | None, record: QueryRecord) -> str:
    if result_url:
        return result_url
    if record.calculation_id:
        return client.result_url_for(record.calculation_id)
    raise ApiError(
        "the calculation succeeded but the API gave no resultUrl nor calculationId"
    )


async def _abort(client: MappClient, submission: Submission, query: QueryPlan) -> None:
    """Abort the calculation server-side, so it stops costing; never raises."""
    if not submission.status_url:
        return

    with anyio.move_on_after(ABORT_GRACE_SECONDS, shield=True):
        try:
            await client.abort(submission.status_url, query=query.name)
        except MappExportError as exc:
            logger.warning(
                "%s: the calculation could not be aborted: %s", query.name, exc
            )


async def _finish(
    run: _Run, writer: WorkbookWriter, started_at: datetime
) -> RunOutcome:
    exit_code = _exit_code(run)
    if exit_code is ExitCode.NOTHING_EXPORTED or not any(
        r.succeeded for r in run.records
    ):
        await anyio.to_thread.run_sync(writer.discard)
        return RunOutcome(exit_code, run.records, message=_nothing_message(run))

    facts = RunFacts(
        manifest_path=str(run.plan.manifest_path),
        started_at=started_at,
        timezone_name=_timezone_name(run.options.timezone),
        api_host=run.plan.api.api_host,
        exit_status=int(exit_code),
    )
    try:
        await anyio.to_thread.run_sync(_write_out, writer, run, facts)
    except (WorkbookError, OSError) as exc:
        await anyio.to_thread.run_sync(writer.discard)
        return RunOutcome(
            ExitCode.NOTHING_EXPORTED,
            run.records,
            message=f"the workbook could not be written: {exc}",
        )

    return RunOutcome(exit_code, run.records, workbook=run.plan.output)


def _write_out(writer: WorkbookWriter, run: _Run, facts: RunFacts) -> None:
    options_by_index = {query.index: query.sheet_options for query in run.plan.queries}
    for record in run.records:
        if not record.succeeded:
            writer.write_failure(record, options_by_index[record.index])
    writer.finish(run.records, facts)


def _exit_code(run: _Run) -> ExitCode:
    succeeded = sum(record.succeeded for record in run.records)
    if run.stopped_by is not None:
        return SIGNAL_EXIT_CODES.get(run.stopped_by, ExitCode.INTERRUPTED)
    if succeeded == 0:
        return ExitCode.NOTHING_EXPORTED
    if isinstance(run.fatal, AuthenticationError):
        return ExitCode.PARTIAL
    return ExitCode.OK if succeeded == len(run.records) else ExitCode.PARTIAL


def _nothing_message(run: _Run) -> str:
    if run.fatal is not None:
        return str(run.fatal)
    if run.stopped_by is not None:
        return f"stopped by {run.stopped_by.name} before any query finished; the output was left untouched"
    return "every query failed; the output was left untouched"


def _timezone_name(zone: tzinfo | None) -> str:
    zone = zone or datetime.now().astimezone().tzinfo
    return str(getattr(zone, "key", None) or datetime.now(zone).tzname() or "local")
