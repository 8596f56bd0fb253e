"""One query's journey: submit, poll, fetch, write, recorded as it goes.

Each query runs as its own task. A failure is written into the query's record
and ends only that query; an authentication failure stops the whole run,
since every other query would meet it too. A calculation that passes its
deadline, or whose task is cancelled, is aborted on the server so it stops
costing the customer's allowance.
"""

from __future__ import annotations

import errno
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import anyio

from mapp_export.aborting import abort_quietly
from mapp_export.api import MappClient, Submission
from mapp_export.backoff import poll_intervals
from mapp_export.errors import (
    ApiError,
    AuthenticationError,
    CalculationFailedError,
    CalculationNotFoundError,
    MappExportError,
    QueryTimeoutError,
    TransientApiError,
)
from mapp_export.events import log_state_change, poll_extra
from mapp_export.journal import Journal, query_key
from mapp_export.manifest import Plan, QueryPlan
from mapp_export.records import QueryRecord, QueryState
from mapp_export.report_query import export_report
from mapp_export.secret_values import redact
from mapp_export.shared_results import SharedResults
from mapp_export.sheet_writing import write_checked
from mapp_export.workbook import WorkbookWriter

logger = logging.getLogger("mapp_export")

RUNNING_STATUSES = frozenset({"INITIATED", "RUNNING"})
FAILED_STATUSES = frozenset({"FAILED", "ABORTED"})

RecordListener = Callable[[QueryRecord], None]


class RunState:
    """The shared state of one run: records, and why it stopped early, if it did."""

    def __init__(self, plan: Plan, listener: RecordListener | None) -> None:
        self.plan = plan
        self.listener = listener
        self.records = [
            QueryRecord(
                index=query.index, name=query.name, sheet_title=query.sheet_title
            )
            for query in plan.queries
        ]
        self.fatal: MappExportError | None = None
        self.stopped_by: signal.Signals | None = None
        self.deadline_passed: float | None = None
        self.queries_scope: anyio.CancelScope | None = None
        self.shared = SharedResults(plan.queries)
        self.journal = Journal.unsaved()
        self.keep_running = False

    def change(self, record: QueryRecord, state: QueryState) -> None:
        """Move ``record`` to ``state``, log it and tell the listener."""
        record.state = state
        log_state_change(logger, record)
        if self.listener is not None:
            self.listener(record)

    def fail(self, record: QueryRecord, message: str) -> None:
        """End ``record`` as failed with ``message`` (secrets blanked) as the reason."""
        record.error = redact(message)
        record.finished_at = datetime.now(UTC)
        self.change(record, QueryState.FAILED)

    def stop(self, error: MappExportError) -> None:
        """Stop every query because of ``error``, which all of them would meet."""
        if self.fatal is None:
            self.fatal = error
            logger.error("stopping the run: %s", error)
        if self.queries_scope is not None:
            self.queries_scope.cancel()

    def why_stopped(self) -> str:
        """Say why a query was cancelled before it finished."""
        if self.stopped_by is not None:
            return f"stopped by {self.stopped_by.name} before it finished"
        if self.deadline_passed is not None:
            return (
                f"not finished within the run's deadline ({self.deadline_passed:g} s);"
                " raise --deadline or run_timeout if the run needs longer"
            )
        if self.fatal is not None:
            return f"not finished: the run stopped because {self.fatal}"
        return "cancelled before it finished"


@dataclass(frozen=True)
class Workshop:
    """What every query's task shares: the client, the writer and the limiters."""

    client: MappClient
    writer: WorkbookWriter
    spool_folder: Path
    calculations: anyio.CapacityLimiter
    writing: anyio.CapacityLimiter


async def export_query(
    run: RunState, workshop: Workshop, query: QueryPlan, record: QueryRecord
) -> None:
    """Take one query from submit to its sheet, recording how it went."""
    try:
        if query.report is not None:
            await export_report(run, workshop, query, record)
        else:
            await _export_analysis(run, workshop, query, record)

        record.finished_at = datetime.now(UTC)
        run.change(record, QueryState.DONE)
    except AuthenticationError as exc:
        run.fail(record, str(exc))
        run.stop(exc)
    except MappExportError as exc:
        run.fail(record, str(exc))
    except OSError as exc:
        run.fail(record, _local_failure(exc))
    except anyio.get_cancelled_exc_class():
        run.fail(record, run.why_stopped())
        raise
    except Exception as exc:  # one query's surprise must not end the run
        logger.debug("%s: unexpected error", query.name, exc_info=True)
        run.fail(record, f"unexpected {type(exc).__name__}: {exc}")


def _local_failure(exc: OSError) -> str:
    """Say what went wrong on this machine (a full disk, a vanished folder)."""
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return f"no space left on the output's disk{where}; free space and run again"
    return f"a local file operation failed{where}: {exc.strerror or exc}"


async def _export_analysis(
    run: RunState, workshop: Workshop, query: QueryPlan, record: QueryRecord
) -> None:
    """Get one analysis query's result, write its sheet and let go of the spool."""
    spool = await _result_spool(run, workshop, query, record)
    try:
        run.change(record, QueryState.WRITING)
        record.sheet = await write_checked(
            workshop, record, spool, query.sheet_options, query.min_rows
        )
    finally:
        if run.journal.path is None:
            await run.shared.release(query, spool)


async def _result_spool(
    run: RunState, workshop: Workshop, query: QueryPlan, record: QueryRecord
) -> Path:
    """Calculate and download the result, or wait for an equal query's."""
    shared = run.shared.of(query)
    if shared is not None and shared.leader is not None:
        record.submitted_at = datetime.now(UTC)
        return await shared.follow(record)

    if shared is not None:
        shared.leader = record
    try:
        spool = await _spooled_result(run, workshop, query, record)
    except BaseException as exc:
        if shared is not None:
            shared.fail(exc)
        raise

    if shared is not None:
        shared.succeed(spool)
    return spool


async def _spooled_result(
    run: RunState, workshop: Workshop, query: QueryPlan, record: QueryRecord
) -> Path:
    """Reuse the interrupted run's spooled result, or calculate and download it.

    A calculation or result of the interrupted run that the API no longer
    knows (404) is forgotten and the query submitted afresh.
    """
    journal, key = run.journal, query_key(query.body)
    spool = workshop.spool_folder / journal.spool_name(key)
    entry = journal.entry(key)
    if journal.complete_spool(key, workshop.spool_folder) is not None:
        record.submitted_at = datetime.now(UTC)
        record.calculation_id = entry.calculation_id if entry else None
        logger.info("%s: result fetched by the interrupted run; reused", query.name)
        return spool

    try:
        async with workshop.calculations:
            result_url = await _calculate(workshop.client, query, record, run)

        run.change(record, QueryState.FETCHING)
        size = await workshop.client.download_result(
            result_url, spool, query=query.name
        )
    except CalculationNotFoundError:
        await journal.forget(key)
        if entry is None or not entry.inherited:
            raise
        logger.warning(
            "%s: the API no longer knows the interrupted run's calculation %s; "
            "submitting the query afresh",
            query.name,
            entry.correlation_id or entry.calculation_id,
        )
        return await _spooled_result(run, workshop, query, record)

    await journal.spooled(key, spool, size)
    return spool


async def _calculate(
    client: MappClient, query: QueryPlan, record: QueryRecord, run: RunState
) -> str:
    """Submit the query and wait for its result URL, within the query's deadline.

    A calculation the journal knows of is polled again instead, and a result
    it knows of is used as it is.
    """
    started = anyio.current_time()
    record.submitted_at = datetime.now(UTC)
    key = query_key(query.body)
    entry = run.journal.entry(key)
    if entry is not None and entry.result_url is not None:
        record.calculation_id = entry.calculation_id
        logger.info("%s: calculated by the interrupted run; fetching", query.name)
        return entry.result_url

    resumed = entry.submission() if entry is not None else None
    if resumed is not None:
        logger.info("%s: polling the interrupted run's calculation", query.name)
        submission = resumed
    else:
        submission = await _submit(client, query, run, started + query.poll.timeout)

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
        await _abort_or_keep(run, client, submission, query)
        raise
    except TransientApiError:
        await _abort(client, submission, query)
        await run.journal.forget(key)
        raise
    except CalculationFailedError:
        await run.journal.forget(key)
        raise

    if deadline.cancelled_caught:
        await _abort(client, submission, query)
        await run.journal.forget(key)
        raise _timeout_error(query, aborted=True, last_status=record.last_status)

    record.calculated_after = anyio.current_time() - started
    await run.journal.calculated(key, record.calculation_id, result_url)
    return result_url


async def _submit(
    client: MappClient, query: QueryPlan, run: RunState, deadline: float
) -> Submission:
    """Create the query's calculation and journal it before anything else."""
    with anyio.CancelScope(deadline=deadline) as scope:
        submission = await client.submit(query.body, query=query.name)
    if scope.cancelled_caught:
        raise _timeout_error(query, aborted=False)

    await run.journal.submitted(query_key(query.body), query.name, submission)
    return submission


async def _poll_until_done(
    client: MappClient,
    query: QueryPlan,
    record: QueryRecord,
    submission: Submission,
    run: RunState,
) -> str:
    status_url = submission.status_url or ""
    intervals = poll_intervals(query.poll.initial, query.poll.max_interval)
    while True:
        await anyio.sleep(next(intervals))
        status = await client.status(status_url, query=query.name)
        record.polls += 1
        record.last_status = status.status
        record.calculation_id = status.calculation_id or record.calculation_id
        logger.debug(
            "%s: poll %d status=%s",
            query.name,
            record.polls,
            status.status,
            extra=poll_extra(record, status.status),
        )

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


def _timeout_error(
    query: QueryPlan, *, aborted: bool, last_status: str | None = None
) -> QueryTimeoutError:
    what = "the calculation was aborted" if aborted else "the query was not accepted"
    seen = f" (last status: {last_status})" if last_status else ""
    return QueryTimeoutError(
        f"no final status within poll.timeout ({query.poll.timeout:g} s){seen}; "
        f"{what}; raise poll.timeout in the manifest if the calculation needs longer"
    )


def _result_url(client: MappClient, result_url: str | None, record: QueryRecord) -> str:
    if result_url:
        return result_url
    if record.calculation_id:
        return client.result_url_for(record.calculation_id)
    raise ApiError(
        "the calculation succeeded but the API gave no resultUrl nor calculationId"
    )


async def _abort_or_keep(
    run: RunState, client: MappClient, submission: Submission, query: QueryPlan
) -> None:
    """Abort a cancelled query's calculation, or keep it for ``--resume``."""
    if run.keep_running and run.journal.path is not None:
        logger.warning(
            "%s: calculation %s kept running (--keep-running); run again with "
            "--resume to fetch it",
            query.name,
            submission.correlation_id,
        )
        return

    await _abort(client, submission, query)
    await run.journal.forget(query_key(query.body))


async def _abort(client: MappClient, submission: Submission, query: QueryPlan) -> None:
    """Abort the calculation server-side, so it stops costing; never raises."""
    status_url = submission.status_url
    if not status_url:
        return

    await abort_quietly(
        lambda: client.abort(status_url, query=query.name),
        query=query.name,
        what="calculation",
    )
