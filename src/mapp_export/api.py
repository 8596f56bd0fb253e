"""The only code that speaks HTTP to Mapp's Analytics API.

It submits a calculation, reads its status, streams its result to a file,
aborts it, and reads the monthly usage. How each request travels (retries,
token refresh, redirects, trusted hosts, translating aiohttp's errors into
mapp-export's own) is :mod:`mapp_export.transport`'s job.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import aiohttp

from mapp_export.auth import TokenProvider
from mapp_export.backoff import RetryPolicy
from mapp_export.errors import ApiError
from mapp_export.report_state import ReportState, read_report_state
from mapp_export.responses import Answer
from mapp_export.settings import ApiSettings, Credentials
from mapp_export.transport import Transport

logger = logging.getLogger("mapp_export")


@dataclass(frozen=True)
class Submission:
    """What the API answered to a new query: a status URL, or a cached result."""

    correlation_id: str | None
    status_url: str | None
    calculation_id: str | None
    result_url: str | None

    @property
    def cached(self) -> bool:
        """Whether the result already exists and needs no polling."""
        return self.result_url is not None and self.status_url is None


@dataclass(frozen=True)
class CalculationStatus:
    """One answer of the status URL."""

    status: str
    calculation_id: str | None
    result_url: str | None


@dataclass(frozen=True)
class Usage:
    """How many calculations this month has used and allows."""

    used: int
    allowed: int
    month: int | None = None
    year: int | None = None

    @property
    def remaining(self) -> int:
        """How many calculations this month still allows."""
        return max(self.allowed - self.used, 0)

    def describe(self) -> str:
        """Say the usage in words, for logs and the summary sheet."""
        period = f" in {self.year}-{self.month:02d}" if self.month and self.year else ""
        return f"{self.used} of {self.allowed} calculations used{period}"


class MappClient:
    """Talks to one Mapp account's Analytics API over one aiohttp session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: ApiSettings,
        credentials: Credentials,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._settings = settings
        retry = retry or RetryPolicy()
        self.tokens = TokenProvider(session, settings, credentials, retry)
        self._transport = Transport(session, settings, self.tokens, retry)

    async def authenticate(self) -> None:
        """Fetch the run's first token, so bad credentials stop the run early."""
        await self.tokens.current()

    async def submit(self, body: Mapping[str, Any], *, query: str) -> Submission:
        """Create a calculation for ``body``; never re-send what may have made one."""
        url = f"{self._settings.base_url}/analysis-query"
        answer = await self._exchange("POST", url, query=query, body=body)

        payload = _object(answer, query)
        correlation_id = _text(payload, "correlationId")
        status_url = _link(url, payload, "statusUrl")
        result_url = _link(url, payload, "resultUrl")
        if result_url is not None:
            return Submission(None, None, _text(payload, "calculationId"), result_url)
        if status_url is None and correlation_id is not None:
            status_url = f"{self._settings.base_url}/analysis-query/{correlation_id}"
        if status_url is not None:
            return Submission(correlation_id, status_url, None, None)

        raise ApiError(
            f"{query}: the API accepted the query but gave neither a statusUrl, a "
            f"correlationId nor a resultUrl (HTTP {answer.status}: {answer.snippet()})",
            status=answer.status,
            url=url,
        )

    def result_url_for(self, calculation_id: str) -> str:
        """Return the result URL of a calculation, for answers that omit it."""
        return f"{self._settings.base_url}/analysis-result/{calculation_id}"

    async def status(self, status_url: str, *, query: str) -> CalculationStatus:
        """Read the calculation's current status."""
        answer = await self._exchange("GET", status_url, query=query)
        payload = _object(answer, query)
        status = payload.get("status")
        return CalculationStatus(
            status=status.upper() if isinstance(status, str) else repr(status),
            calculation_id=_text(payload, "calculationId"),
            result_url=_link(status_url, payload, "resultUrl"),
        )

    async def abort(self, status_url: str, *, query: str) -> None:
        """Ask the API to stop a running calculation (DELETE on its status URL)."""
        await self._exchange("DELETE", status_url, query=query)
        logger.info("%s: calculation aborted", query)

    async def usage(self) -> Usage:
        """Read this month's calculation count and allowance."""
        url = f"{self._settings.base_url}/analysis-usage/current"
        answer = await self._exchange("GET", url, query="usage")
        payload = _object(answer, "usage")
        try:
            return Usage(
                used=int(payload["calculationsCount"]),
                allowed=int(payload["maxCalculationsAllowed"]),
                month=_number(payload.get("month")),
                year=_number(payload.get("year")),
            )
        except (KeyError, TypeError, ValueError):
            raise ApiError(
                "usage: the API's usage answer lacks calculationsCount or "
                f"maxCalculationsAllowed: {answer.snippet()}",
                status=answer.status,
                url=url,
            ) from None

    async def submit_report(
        self, body: Mapping[str, Any], *, query: str
    ) -> ReportState:
        """Start a saved report's calculations (``POST /report-query``)."""
        url = f"{self._settings.base_url}/report-query"
        answer = await self._exchange("POST", url, query=query, body=body)
        return read_report_state(_object(answer, query), query=query)

    def report_status_url(self, report_correlation_id: str) -> str:
        """Return the URL that answers a report calculation's state."""
        return f"{self._settings.base_url}/report-query/{report_correlation_id}"

    async def report_status(self, status_url: str, *, query: str) -> ReportState:
        """Read a report calculation's state and each of its queries' states."""
        answer = await self._exchange("GET", status_url, query=query)
        return read_report_state(_object(answer, query), query=query)

    async def abort_report(self, status_url: str, *, query: str) -> None:
        """Ask the API to stop a report calculation (DELETE on its state URL)."""
        await self._exchange("DELETE", status_url, query=query)
        logger.info("%s: report calculation aborted", query)

    async def download_result(self, result_url: str, spool: Path, *, query: str) -> int:
        """Stream the result body into ``spool``; return the number of bytes."""
        return await self._transport.download(result_url, spool, query=query)

    async def _exchange(
        self,
        method: str,
        url: str,
        *,
        query: str,
        body: Mapping[str, Any] | None = None,
    ) -> Answer:
        return await self._transport.exchange(method, url, query=query, body=body)


def _link(requested: str, payload: Mapping[str, Any], key: str) -> str | None:
    """Return the URL under ``key``, made absolute against the URL requested."""
    link = _text(payload, key)
    return urljoin(requested, link) if link is not None else None


def _object(answer: Answer, query: str) -> dict[str, Any]:
    if isinstance(answer.payload, dict):
        return answer.payload
    raise ApiError(
        f"{query}: the API answered HTTP {answer.status} with something that is not a "
        f"JSON object: {answer.snippet()}",
        status=answer.status,
    )


def _text(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    return str(value) if value not in (None, "") else None


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
