"""Running a plan: every query concurrently, under one token, into one workbook.

One task group holds a task per query (see :mod:`mapp_export.journey`). A
capacity limiter keeps at most ``concurrency`` calculations between submit and
final status. Results are streamed to spool files and handed, one at a time,
to the workbook writer in a worker thread as soon as each arrives. At the end
the workbook is saved only if something was exported.

Before the first calculation the output folder's room and the month's
allowance are checked (see :mod:`mapp_export.preflight`). A whole-run deadline
(``--deadline``, ``run_timeout``) and SIGINT/SIGTERM end the run the same way:
running calculations are aborted with ``DELETE`` and what finished is written.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import partial
from pathlib import Path

import aiohttp
import anyio

from mapp_export.api import MappClient, Usage
from mapp_export.atomic_file import remove_leftover_temps
from mapp_export.backoff import RetryPolicy
from mapp_export.carry_over import CarryOver
from mapp_export.errors import (
    AllowanceError,
    ApiError,
    AuthenticationError,
    RunLockedError,
    WorkbookError,
)
from mapp_export.journal import Journal, query_key, spool_folder_of
from mapp_export.journey import RecordListener, RunState, Workshop, export_query
from mapp_export.manifest import Plan
from mapp_export.outcome import ExitCode, RunOutcome
from mapp_export.preflight import check_allowance, check_output_folder, read_usage
from mapp_export.records import RunFacts
from mapp_export.run_lock import RunLock
from mapp_export.settings import Credentials
from mapp_export.workbook import WorkbookWriter

logger = logging.getLogger("mapp_export")

SIGNAL_EXIT_CODES = {
    signal.SIGINT: ExitCode.INTERRUPTED,
    signal.SIGTERM: ExitCode.TERMINATED,
}


USAGE_GRACE_SECONDS = 10.0
"""How long reading the usage after the run may take before it is skipped."""


@dataclass(frozen=True)
class RunOptions:
    """Settings of a run that do not come from the manifest.

    ``retry`` replaces the manifest's ``retry:`` section when given.
    ``connect_timeout`` bounds opening a connection and ``read_timeout`` each
    wait for the next bytes of an answer; neither counts the wait for a free
    connection or calculation slot, and there is no total per request, so a
    long download is never cut while bytes keep coming. ``deadline`` bounds
    the whole run in seconds (the shorter of it and the manifest's
    ``run_timeout`` wins). ``force`` submits even when the month's allowance
    looks too small. ``min_free_bytes`` is the free space the output folder
    must have. ``resume`` continues from the journal an interrupted run
    left beside the output; ``keep_running`` leaves running calculations
    alive (journaled for a later ``resume``) when the run is stopped, where
    they would otherwise be aborted.
    """

    retry: RetryPolicy | None = None
    connect_timeout: float = 30.0
    read_timeout: float = 300.0
    handle_signals: bool = False
    timezone: tzinfo | None = None
    max_rows_per_sheet: int = 1_048_575
    deadline: float | None = None
    force: bool = False
    min_free_bytes: int = 64 * 1024 * 1024
    resume: bool = False
    keep_running: bool = False


@dataclass
class _Usages:
    before: Usage | None = None
    after: Usage | None = None


async def run_plan(
    plan: Plan,
    credentials: Credentials,
    options: RunOptions | None = None,
    *,
    listener: RecordListener | None = None,
) -> RunOutcome:
    """Run every query of ``plan`` and write the workbook; return the outcome.

    The run holds the output's lock (see :mod:`mapp_export.run_lock`), so a
    second run of the same output is refused, and keeps a journal beside the
    output (see :mod:`mapp_export.journal`) that a run with ``resume``
    continues from. Only a successful run removes the journal.
    """
    options = options or RunOptions()
    try:
        lock = await anyio.to_thread.run_sync(_lock_output, plan, options)
    except (RunLockedError, OSError) as exc:
        records = RunState(plan, listener).records
        locked_out = isinstance(exc, RunLockedError)
        return RunOutcome(
            ExitCode.REFUSED, records, message=str(exc), locked_out=locked_out
        )

    with lock:
        keys = [query_key(query.body) for query in plan.queries if not query.report]
        journal = await anyio.to_thread.run_sync(
            partial(Journal.open, resume=options.resume),
            plan.output,
            plan.api.base_url,
            keys,
        )
        outcome = await _run_journaled(plan, credentials, options, listener, journal)
        await journal.close(keep=outcome.exit_code is not ExitCode.OK)
        return outcome


def _lock_output(plan: Plan, options: RunOptions) -> RunLock:
    check_output_folder(plan.output.parent, options.min_free_bytes)
    lock = RunLock.acquire(plan.output)
    for leftover in remove_leftover_temps(plan.output):
        logger.info("removed %s, left by an earlier run that was killed", leftover)
    return lock


async def _run_journaled(
    plan: Plan,
    credentials: Credentials,
    options: RunOptions,
    listener: RecordListener | None,
    journal: Journal,
) -> RunOutcome:
    run = RunState(plan, listener)
    run.journal = journal
    run.keep_running = options.keep_running
    started_at = datetime.now(UTC)

    try:
        carry = await anyio.to_thread.run_sync(CarryOver.prepare, plan)
        writer = await anyio.to_thread.run_sync(_prepare_writer, plan, options, carry)
    except WorkbookError as exc:
        return RunOutcome(ExitCode.REFUSED, run.records, message=str(exc))

    spool_folder = spool_folder_of(plan.output)
    usages = _Usages()
    async with _http_session(plan, options) as session:
        retry = options.retry or plan.retry
        client = MappClient(session, plan.api, credentials, retry)
        refusal = await _before_submitting(client, run, options, usages)
        if refusal is not None:
            await anyio.to_thread.run_sync(writer.discard)
            return refusal

        await _export_all(run, options, client, writer, spool_folder)
        if run.stopped_by is None and run.fatal is None:
            with anyio.move_on_after(USAGE_GRACE_SECONDS):
                usages.after = await read_usage(client, "after")

    return await _finish(run, options, writer, started_at, usages, carry=carry)


async def _before_submitting(
    client: MappClient, run: RunState, options: RunOptions, usages: _Usages
) -> RunOutcome | None:
    """Fetch the first token and check the allowance; return a refusal, if any."""
    try:
        await client.authenticate()
        usages.before = await read_usage(client, "before")
    except ApiError as exc:
        return RunOutcome(ExitCode.NOTHING_EXPORTED, run.records, message=str(exc))

    try:
        check_allowance(usages.before, run.plan.calculations, force=options.force)
    except AllowanceError as exc:
        return RunOutcome(ExitCode.REFUSED, run.records, message=str(exc))
    return None


def _prepare_writer(
    plan: Plan, options: RunOptions, carry: CarryOver
) -> WorkbookWriter:
    check_output_folder(plan.output.parent, options.min_free_bytes)
    return WorkbookWriter(
        plan.output,
        timezone=options.timezone,
        max_rows_per_sheet=options.max_rows_per_sheet,
        planned_titles=[
            *(query.sheet_title for query in plan.queries),
            *carry.reserved_titles,
        ],
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
        deadline = _run_deadline(run.plan, options)
        if deadline is not None:
            outer.start_soon(_watch_deadline, run, deadline)

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


def _run_deadline(plan: Plan, options: RunOptions) -> float | None:
    limits = [limit for limit in (options.deadline, plan.run_timeout) if limit]
    return min(limits) if limits else None


async def _watch_deadline(run: RunState, seconds: float) -> None:
    await anyio.sleep(seconds)
    run.deadline_passed = seconds
    logger.warning(
        "the run passed its deadline of %g s: aborting running calculations", seconds
    )
    if run.queries_scope is not None:
        run.queries_scope.cancel()


async def _finish(  # noqa: PLR0913 - each part of the run is needed to write it out
    run: RunState,
    options: RunOptions,
    writer: WorkbookWriter,
    started_at: datetime,
    usages: _Usages,
    *,
    carry: CarryOver,
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
        usage_before=usages.before.describe() if usages.before else None,
        usage_after=usages.after.describe() if usages.after else None,
        rerun=carry.rerun,
        carried_from=carry.carried_from,
    )
    try:
        await anyio.to_thread.run_sync(_write_out, writer, run, facts, carry)
    except (WorkbookError, OSError) as exc:
        await anyio.to_thread.run_sync(writer.discard)
        return RunOutcome(
            ExitCode.NOTHING_EXPORTED,
            run.records,
            message=f"the workbook could not be written: {exc}",
        )

    records = carry.all_records(run.records)
    return RunOutcome(exit_code, records, workbook=run.plan.output, facts=facts)


def _write_out(
    writer: WorkbookWriter, run: RunState, facts: RunFacts, carry: CarryOver
) -> None:
    carry.write(writer, run.records)
    options_by_index = {query.index: query.sheet_options for query in run.plan.queries}
    for record in run.records:
        if not record.succeeded and record.carried is None:
            writer.write_failure(record, options_by_index[record.index])
    writer.finish(carry.all_records(run.records), facts)


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
