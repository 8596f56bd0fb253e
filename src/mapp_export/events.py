"""Stable event names and structured fields for the package's log lines.

Every log line about a query carries, besides its text, three attributes that
log formatters may read (see :mod:`mapp_export.logs`):

- ``event``: a stable, dotted name, one per kind of thing that happens:
  ``query.submitted``, ``query.calculating``, ``query.fetching``,
  ``query.writing``, ``query.done``, ``query.failed`` (one per state change),
  ``query.poll`` (one per status poll, DEBUG) and ``request.retry`` (one per
  retried request, WARNING);
- ``query``: the query's name;
- ``fields``: a mapping of plain JSON values (numbers, text, lists).

The text of each line starts with the query's name and a colon, so a plain log
read by a person names the query as well.
"""

from __future__ import annotations

import logging
from typing import Any

from mapp_export.records import QueryRecord, QueryState

POLL_EVENT = "query.poll"
RETRY_EVENT = "request.retry"


def state_event(state: QueryState) -> str:
    """Return the event name of a query reaching ``state``."""
    return f"query.{state.value!s}"


def log_state_change(logger: logging.Logger, record: QueryRecord) -> None:
    """Log one line for ``record`` having reached its current state."""
    level = logging.ERROR if record.state is QueryState.FAILED else logging.INFO
    logger.log(
        level,
        "%s: %s",
        record.name,
        _describe(record),
        extra=_extra(state_event(record.state), record.name, _state_fields(record)),
    )


def poll_extra(record: QueryRecord, status: str) -> dict[str, Any]:
    """Return the structured attributes of one status poll of ``record``."""
    fields = {"poll": record.polls, "status": status}
    return _extra(POLL_EVENT, record.name, fields)


def retry_extra(
    query: str,
    attempt: int,
    wait_seconds: float,
    reason: object,
    *,
    event: str = RETRY_EVENT,
) -> dict[str, Any]:
    """Return the structured attributes of one retried request of ``query``.

    ``event`` is ``request.retry``, or ``query.resend`` when the request
    re-sent creates a calculation.
    """
    fields = {
        "attempt": attempt,
        "wait_seconds": round(wait_seconds, 3),
        "reason": str(reason),
    }
    return _extra(event, query, fields)


def _extra(event: str, query: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"event": event, "query": query, "fields": fields}


def _describe(record: QueryRecord) -> str:
    if record.state is QueryState.FAILED:
        return f"failed: {record.error or 'no reason given'}"
    if record.state is QueryState.DONE:
        rows = record.sheet.rows_written if record.sheet else 0
        seconds = record.duration_seconds or 0.0
        return f"done rows={rows} polls={record.polls} seconds={seconds:.1f}"
    return str(record.state.value)


def _state_fields(record: QueryRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {"polls": record.polls}
    if record.sheet is not None:
        fields["rows"] = record.sheet.rows_written
        fields["sheets"] = list(record.sheet.titles)
    if record.duration_seconds is not None:
        fields["seconds"] = round(record.duration_seconds, 3)
    if record.state is QueryState.FAILED:
        fields["error"] = record.error
    return fields
