"""Saved reports: ``POST``, ``GET`` and ``DELETE /report-query`` as the contract says.

A report is several analysis elements calculated together. ``POST /report-query``
with ``{"id": 841}`` (optionally ``elementIds`` and a ``timeFilter`` that replaces
every element's time filters) starts one calculation per analysis element, counted
like any other calculation, and answers a ``ReportQueryState``. ``GET`` answers the
state now: while an element runs, its ``resultUrl`` is its *status* URL, as in the
contract's "Analysis running" example; once it succeeds, the result URL.

The sandbox knows the reports in :data:`SAVED_REPORTS`; others are answered 404.
"""

from __future__ import annotations

import copy
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from mapp_export.sandbox import answers
from mapp_export.sandbox.queries import (
    MalformedQueryError,
    canonical_json,
    parse_json,
)
from mapp_export.sandbox.state import ACCOUNT_ID, Calculation, SandboxState

_FINAL = frozenset({"SUCCESS", "FAILED", "ABORTED"})
_TIME_FILTERS = frozenset({"time_range", "time_dynamic"})


def _column(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "scope": "OBJECT", **extra}


def _element(*columns: dict[str, Any]) -> dict[str, Any]:
    return {
        "columns": list(columns),
        "variant": "LIST",
        "predefinedContainer": {
            "filters": [
                {
                    "name": "time_dynamic",
                    "filterPredicate": "LIKE",
                    "connector": "AND",
                    "value1": "last_7_days",
                    "value2": "",
                }
            ],
            "containers": [],
        },
    }


@dataclass(frozen=True)
class SavedReport:
    """A report as saved in Mapp: a title and its analysis elements by id."""

    report_id: int
    title: str
    elements: dict[int, dict[str, Any]]


SAVED_REPORTS = {
    841: SavedReport(
        841,
        "Nightly traffic overview",
        {
            43946: _element(
                _column("pages", lowerLimit=1, upperLimit=10),
                _column("pages_pageImpressions", sortDirection="DESCENDING"),
            ),
            43947: _element(
                _column("time_days", lowerLimit=1, upperLimit=31),
                _column("visits"),
            ),
            43948: _element(
                _column("pages", lowerLimit=1, upperLimit=5),
                _column("visits"),
                _column("visits_bounceRate"),
            ),
        },
    ),
    1006: SavedReport(
        1006,
        "Advertiser Overview",
        {43901: _element(_column("time_days", lowerLimit=1, upperLimit=7))},
    ),
}
"""The saved reports the sandbox knows, by id."""


@dataclass
class ReportRun:
    """One calculation of a saved report: its elements' calculations, in order."""

    correlation_id: str
    report: SavedReport
    elements: list[tuple[int, Calculation]]


class ReportDesk:
    """The ``/report-query`` handlers of one sandbox."""

    def __init__(self, state: SandboxState, links_base_url: str) -> None:
        """Serve reports from ``state``, linking to ``links_base_url``."""
        self.state = state
        self.links_base_url = links_base_url
        self.runs: dict[str, ReportRun] = {}

    def routes(self, prefix: str) -> list[web.RouteDef]:
        """Return the routes to add under the API's ``prefix``."""
        path = f"{prefix}/report-query"
        return [
            web.post(path, self.create),
            web.get(f"{path}/{{report_correlation_id}}", self.status),
            web.delete(f"{path}/{{report_correlation_id}}", self.cancel),
        ]

    async def create(self, request: web.Request) -> web.Response:
        """``POST /report-query``: start every (chosen) element of a saved report."""
        try:
            body = parse_json(await request.read())
        except MalformedQueryError as exc:
            return answers.bad_request(str(exc))

        self.state.received_report_queries.append(body)
        report_id = body.get("id") if isinstance(body, dict) else None
        report = SAVED_REPORTS.get(report_id) if isinstance(report_id, int) else None
        if report is None:
            return answers.problem(
                404, "Report not found", "Report not found", "REPORT_NOT_FOUND"
            )

        chosen = body.get("elementIds") or list(report.elements)
        unknown = [element for element in chosen if element not in report.elements]
        if unknown:
            return answers.problem(
                422,
                "Unknown report elements",
                f"Report {report.report_id} has no elements {unknown}.",
                "INVALID_REPORT_QUERY",
            )

        run = ReportRun(str(uuid.uuid4()), report, [])
        for element_id in chosen:
            query = _with_time_filter(
                report.elements[element_id], body.get("timeFilter")
            )
            analysis = {"resultType": "DATA_ONLY", "queryObject": query}
            calculation = self.state.create_calculation(
                analysis, canonical_json(analysis)
            )
            run.elements.append((element_id, calculation))

        self.runs[run.correlation_id] = run
        return web.json_response(self._state_of(run))

    async def status(self, request: web.Request) -> web.Response:
        """``GET /report-query/{id}``: the report's state and each element's."""
        run = self.runs.get(request.match_info["report_correlation_id"])
        if run is None:
            return answers.analysis_not_found()

        return web.json_response(self._state_of(run))

    async def cancel(self, request: web.Request) -> web.Response:
        """``DELETE /report-query/{id}``: abort every element still running."""
        run = self.runs.get(request.match_info["report_correlation_id"])
        if run is None:
            return answers.analysis_not_found()

        for _element_id, calculation in run.elements:
            self.state.abort(calculation)
        return web.Response(status=200)

    def _state_of(self, run: ReportRun) -> dict[str, Any]:
        """Build the ``ReportQueryState`` of ``run`` as it is now."""
        states = [self._query_state(element, calc) for element, calc in run.elements]
        statuses = {state["status"] for state in states}
        status = "RUNNING"
        if statuses <= _FINAL:
            status = "SUCCESS" if statuses == {"SUCCESS"} else "FAILED"

        return {
            "reportCorrelationId": run.correlation_id,
            "status": status,
            "details": {
                "lastUpdatedAt": int(time.time() * 1000),
                "reportId": run.report.report_id,
                "reportTitle": run.report.title,
            },
            "queryStates": states,
        }

    def _query_state(self, element_id: int, calculation: Calculation) -> dict[str, Any]:
        """One element's ``QueryState``; a running one links to its status URL."""
        status = self.state.status_of(calculation)
        base = self.links_base_url
        url = f"{base}/analysis-query/{calculation.correlation_id}"
        if status == "SUCCESS":
            url = f"{base}/analysis-result/{calculation.calculation_id}"

        return {
            "calculationId": calculation.calculation_id,
            "accountId": ACCOUNT_ID,
            "correlationId": calculation.correlation_id,
            "resultUrl": url,
            "status": status,
            "details": {
                "lastUpdatedAt": self.state.last_updated_ms(calculation),
                "reportElementId": element_id,
            },
        }


def _with_time_filter(query: dict[str, Any], time_filter: Any) -> dict[str, Any]:
    """Return the element's query, its time filters replaced by ``time_filter``."""
    result = copy.deepcopy(query)
    if not isinstance(time_filter, dict):
        return result

    container = result["predefinedContainer"]
    kept = [item for item in container["filters"] if item["name"] not in _TIME_FILTERS]
    container["filters"] = [time_filter, *kept]
    return result
