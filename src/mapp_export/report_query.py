"""A saved Mapp report's journey: one request, several calculations, a sheet each.

``POST /report-query`` starts a calculation per report element; the report's
state (``GET /report-query/{id}``) is polled until every element has ended.
Then each element's result is downloaded and written as a sheet titled
``<sheet title> <element id>``, in element order: the order of ``elements:``
in the manifest, or the order Mapp lists them. The query succeeds only when
every element does; otherwise the sheets already written are taken out again
and the query fails, naming the elements that did not succeed.

.. note::
   A report holds one place of ``concurrency`` however many elements it has,
   so a run with reports may have more calculations in flight than
   ``concurrency`` says.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import anyio

from mapp_export.aborting import abort_quietly
from mapp_export.backoff import poll_intervals
from mapp_export.errors import (
    ApiError,
    CalculationFailedError,
    QueryTimeoutError,
)
from mapp_export.plan import QueryPlan
from mapp_export.records import QueryRecord, QueryState, SheetFacts
from mapp_export.report_state import ElementState, ReportState
from mapp_export.sheet_writing import write_checked
from mapp_export.titles import element_titles as sheet_titles_of_elements

if TYPE_CHECKING:
    from mapp_export.api import MappClient
    from mapp_export.journey import RunState, Workshop

logger = logging.getLogger("mapp_export")


async def export_report(
    run: RunState, workshop: Workshop, query: QueryPlan, record: QueryRecord
) -> None:
    """Calculate a saved report and write each element's result as a sheet."""
    journey = _Journey(run, workshop, query, record)
    async with workshop.calculations:
        state = await _calculate(journey)

    elements = _in_order(query, state)
    titles = element_titles(query, elements, run.plan.queries)
    logger.info(
        "%s: report %r has %d element(s): sheets %s",
        query.name,
        state.title or query.body.get("id"),
        len(elements),
        ", ".join(titles),
    )

    written: list[SheetFacts] = []
    try:
        for position, (element, title) in enumerate(zip(elements, titles, strict=True)):
            written.append(await journey.write_element(element, title, position))
    except BaseException:
        with anyio.CancelScope(shield=True):
            for facts in written:
                await anyio.to_thread.run_sync(workshop.writer.drop_result, facts)
        raise

    record.sheet = _combined(written)


def element_titles(
    query: QueryPlan, elements: tuple[ElementState, ...], queries: tuple[QueryPlan, ...]
) -> list[str]:
    """Title each element's sheet ``<sheet title> <element id>``, unique in the run."""
    labels = [
        str(element.element_id or position)
        for position, element in enumerate(elements, start=1)
    ]
    planned = [planned.sheet_title for planned in queries]
    return sheet_titles_of_elements(query.sheet_title, labels, planned)


@dataclass(frozen=True)
class _Journey:
    """The report query on its way, and what its task shares with the run."""

    run: RunState
    workshop: Workshop
    query: QueryPlan
    record: QueryRecord

    async def write_element(
        self, element: ElementState, title: str, position: int
    ) -> SheetFacts:
        """Download one element's result and write it as its sheet."""
        query, record = self.query, self.record
        name = f"{query.name} {element.element_id or position + 1}"
        spool = self.workshop.spool_folder / f"{query.index:04d}-{position:03d}.json"
        if record.state is not QueryState.FETCHING:
            self.run.change(record, QueryState.FETCHING)
        await self.workshop.client.download_result(
            element.result_url or "", spool, query=name
        )

        element_record = QueryRecord(index=query.index, name=name, sheet_title=title)
        try:
            return await write_checked(
                self.workshop,
                element_record,
                spool,
                query.sheet_options,
                query.min_rows,
            )
        finally:
            await anyio.to_thread.run_sync(lambda: spool.unlink(missing_ok=True))


async def _calculate(journey: _Journey) -> ReportState:
    """Start the report and poll it until every element has ended, in time."""
    client, query, record = journey.workshop.client, journey.query, journey.record
    started = anyio.current_time()
    deadline = started + query.poll.timeout
    record.submitted_at = datetime.now(UTC)
    with anyio.CancelScope(deadline=deadline) as scope:
        state = await client.submit_report(query.body, query=query.name)
    if scope.cancelled_caught:
        raise _timeout(query, aborted=False)
    if state.correlation_id is None:
        raise ApiError(f"{query.name}: the report answer has no reportCorrelationId")

    record.correlation_id = state.correlation_id
    status_url = client.report_status_url(state.correlation_id)
    journey.run.change(record, QueryState.SUBMITTED)
    try:
        with anyio.CancelScope(deadline=deadline) as scope:
            state = await _poll(client, journey, state, status_url)
    except anyio.get_cancelled_exc_class():
        await _abort(client, status_url, query)
        raise
    if scope.cancelled_caught:
        await _abort(client, status_url, query)
        raise _timeout(query, aborted=True)

    record.calculated_after = anyio.current_time() - started
    _check_outcome(query, state)
    return state


async def _poll(
    client: MappClient, journey: _Journey, state: ReportState, status_url: str
) -> ReportState:
    query, record = journey.query, journey.record
    intervals = poll_intervals(query.poll.initial, query.poll.max_interval)
    while not state.is_final:
        await anyio.sleep(next(intervals))
        state = await client.report_status(status_url, query=query.name)
        record.polls += 1
        logger.debug(
            "%s: poll %d report status=%s elements=%s",
            query.name,
            record.polls,
            state.status,
            ",".join(element.status for element in state.elements),
        )
        if record.state is QueryState.SUBMITTED:
            journey.run.change(record, QueryState.CALCULATING)
    return state


def _check_outcome(query: QueryPlan, state: ReportState) -> None:
    if state.failed or state.status in {"FAILED", "ABORTED"}:
        ended = ", ".join(
            f"{element.element_id} {element.status}" for element in state.failed
        )
        raise CalculationFailedError(
            f"{query.name}: the report ended {state.status or 'without a status'}"
            f"{f' ({ended})' if ended else ''}; Mapp gives no reason, try the "
            "report in Mapp's interface"
        )
    if not state.elements:
        raise ApiError(
            f"{query.name}: the report has no analysis elements to export; check "
            "the report id and 'elements:'"
        )


def _in_order(query: QueryPlan, state: ReportState) -> tuple[ElementState, ...]:
    """Put the elements in the manifest's order where it gives one, else Mapp's."""
    wanted = query.report.element_ids if query.report else ()
    if not wanted:
        return state.elements

    rank = {element_id: position for position, element_id in enumerate(wanted)}
    return tuple(
        sorted(state.elements, key=lambda e: rank.get(e.element_id or 0, len(rank)))
    )


def _combined(written: list[SheetFacts]) -> SheetFacts:
    """Sum the facts of every element's sheet for the query's summary line."""
    combined = SheetFacts(totals_policy=written[0].totals_policy if written else "")
    for facts in written:
        combined.titles.extend(facts.titles)
        combined.rows_written += facts.rows_written
        combined.total_rows += facts.total_rows
        combined.controls_removed += facts.controls_removed
        combined.texts_cut += facts.texts_cut
        combined.metrics_kept_as_text += facts.metrics_kept_as_text
        combined.api_warnings.extend(facts.api_warnings)
        combined.notes.extend(facts.notes)
        combined.sampled = combined.sampled or facts.sampled
        combined.timerange = combined.timerange or facts.timerange
        combined.timestamp = combined.timestamp or facts.timestamp
    return combined


def _timeout(query: QueryPlan, *, aborted: bool) -> QueryTimeoutError:
    what = "the report was aborted" if aborted else "the report was not accepted"
    return QueryTimeoutError(
        f"{query.name}: no final state within poll.timeout ({query.poll.timeout:g} "
        f"s); {what}; raise poll.timeout in the manifest if the report needs longer"
    )


async def _abort(client: MappClient, status_url: str, query: QueryPlan) -> None:
    """Abort the report server-side, so it stops costing; never raises."""
    await abort_quietly(
        lambda: client.abort_report(status_url, query=query.name),
        query=query.name,
        what="report",
    )
