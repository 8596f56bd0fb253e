"""Running a plan: every query concurrently, under one token, into one workbook.

One task group holds a task per query (see :mod:`mapp_export.journey`). A
capacity limiter keeps at most ``concurrency`` calculations between submit and
final status. Results are streamed to spool files and handed, one at a time,
to the workbook writer in a worker thread as soon as each arrives. At the end
the workbook is saved only if something was exported.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import aiohttp
import anyio

from mapp_export.api import MappClient
from mapp_export.backoff import RetryPolicy
from mapp_export.errors import ApiError, AuthenticationError, WorkbookError
from mapp_export.journey import RecordListener, RunState, Workshop, export_query
from mapp_export.manifest import Plan
from mapp_export.outcome import ExitCode, RunOutcome
from mapp_export.records import RunFacts
from mapp_export.settings import Credentials
from mapp_export.workbook import WorkbookWriter

logger = logging.getLogger("mapp_export")

SIGNAL_EXIT_CODES = {
    signal.SIGINT: ExitCode.INTERRUPTED,
    signal.SIGTERM: ExitCode.TERMINATED,
}


@dataclass(frozen=True)
class RunOptions:
    """Settings of a run that do not come from the manifest."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    connect_timeout: float = 30.0
    read_timeout: float = 300.0
    handle_signals: bool = False
    timezone: tzinfo | None = None
    max_rows_per_sheet: int = 1_048_575


async def run_plan(
    plan: Plan,
    credentials: Credentials,
    options: RunOptions | None = None,
    *,
    listener: RecordListener | None = None,
) -> RunOutcome:
    """Run every query of ``plan`` and write the workbook; return the outcome."""
    options = options or RunOptions()
    run = RunState(plan, listener)
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

            await _export_all(run, options, client, writer, spool_folder)
    finally:
        await anyio.to_thread.run_sync(_remove_folder, spool_folder)

    return await _finish(run, options, writer, started_at)


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
    run: RunState,
    options: RunOptions,
    client: MappClient,
    writer: WorkbookWriter,
    spool_folder: Path,
) -> None:
    workshop = Workshop(
        client=client,
        writer=writer,
        spool_folder=spool_folder,
        calculations=anyio.CapacityLimiter(run.plan.concurrency),
        writing=anyio.CapacityLimiter(1),
    )

    async with anyio.create_task_group() as outer:
        if options.handle_signals:
            outer.start_soon(_watch_signals, run)

        async with anyio.create_task_group() as queries:
            run.queries_scope = queries.cancel_scope
            for query, record in zip(run.plan.queries, run.records, strict=True):
                queries.start_soon(export_query, run, workshop, query, record)

        outer.cancel_scope.cancel()


async def _watch_signals(run: RunState) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for received in signals:
            run.stopped_by = signal.Signals(received)
            logger.warning(
                "stopping on %s: aborting running calculations", run.stopped_by.name
            )
            if run.queries_scope is not None:
                run.queries_scope.cancel()
            return


async def _finish(
    run: RunState, options: RunOptions, writer: WorkbookWriter, started_at: datetime
) -> RunOutcome:
    exit_code = _exit_code(run)
    if not any(record.succeeded for record in run.records):
        await anyio.to_thread.run_sync(writer.discard)
        return RunOutcome(exit_code, run.records, message=_nothing_message(run))

    facts = RunFacts(
        manifest_path=str(run.plan.manifest_path),
        started_at=started_at,
        timezone_name=_timezone_name(options.timezone),
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


def _write_out(writer: WorkbookWriter, run: RunState, facts: RunFacts) -> None:
    options_by_index = {query.index: query.sheet_options for query in run.plan.queries}
    for record in run.records:
        if not record.succeeded:
            writer.write_failure(record, options_by_index[record.index])
    writer.finish(run.records, facts)


def _exit_code(run: RunState) -> ExitCode:
    succeeded = sum(record.succeeded for record in run.records)
    if run.stopped_by is not None:
        return SIGNAL_EXIT_CODES.get(run.stopped_by, ExitCode.INTERRUPTED)
    if succeeded == 0:
        return ExitCode.NOTHING_EXPORTED
    if isinstance(run.fatal, AuthenticationError):
        return ExitCode.PARTIAL
    return ExitCode.OK if succeeded == len(run.records) else ExitCode.PARTIAL


def _nothing_message(run: RunState) -> str:
    if run.fatal is not None:
        return str(run.fatal)
    if run.stopped_by is not None:
        return (
            f"stopped by {run.stopped_by.name} before any query finished; "
            "the output was left untouched"
        )
    return "every query failed; the output was left untouched"


def _timezone_name(zone: tzinfo | None) -> str:
    zone = zone or datetime.now().astimezone().tzinfo
    return str(getattr(zone, "key", None) or datetime.now(zone).tzname() or "local")


def _remove_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
