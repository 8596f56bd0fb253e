"""The only code that speaks HTTP to Mapp's Analytics API.

It submits a calculation, reads its status, streams its result to a file,
aborts it, and reads the monthly usage. It retries what may recover, refreshes
the token when the API refuses it, follows redirects itself so that a POST
stays a POST, sends the bearer token only to trusted hosts, and turns every
failure of aiohttp into one of mapp-export's own errors.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import anyio

from mapp_export.auth import TokenProvider
from mapp_export.backoff import RetryPolicy, parse_retry_after, retry_delay
from mapp_export.errors import (
    ApiError,
    CalculationNotFoundError,
    QueryRejectedError,
    TokenRejectedError,
    TransientApiError,
    UntrustedHostError,
)
from mapp_export.responses import Answer, read_answer
from mapp_export.settings import ApiSettings, Credentials, is_loopback

logger = logging.getLogger("mapp_export")

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
NOTHING_CREATED_STATUSES = frozenset({429, 503})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
DOWNLOAD_CHUNK = 256 * 1024


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


class MappClient:
    """Talks to one Mapp account's Analytics API over one aiohttp session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: ApiSettings,
        credentials: Credentials,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._session = session
        self._settings = settings
        self._retry = retry or RetryPolicy()
        self.tokens = TokenProvider(session, settings, credentials, self._retry)

    async def authenticate(self) -> None:
        """Fetch the run's first token, so bad credentials stop the run early."""
        await self.tokens.current()

    async def submit(self, body: Mapping[str, Any], *, query: str) -> Submission:
        """Create a calculation for ``body``; never re-sends what may have created one."""
        url = f"{self._settings.base_url}/analysis-query"
        answer = await self._exchange("POST", url, query=query, body=body)

        payload = _object(answer, query)
        if answer.status == 200 and payload.get("resultUrl"):
            return Submission(
                None, None, _text(payload, "calculationId"), _text(payload, "resultUrl")
            )
        if answer.status in {200, 201} and payload.get("statusUrl"):
            return Submission(
                _text(payload, "correlationId"), _text(payload, "statusUrl"), None, None
            )

        raise ApiError(
            f"{query}: the API accepted the query but gave neither a statusUrl nor a "
            f"resultUrl (HTTP {answer.status}: {answer.snippet()})",
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
        return CalculationStatus(
            status=str(payload.get("status", "")).upper(),
            calculation_id=_text(payload, "calculationId"),
            result_url=_text(payload, "resultUrl"),
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
        return Usage(
            used=int(payload.get("calculationsCount", 0)),
            allowed=int(payload.get("maxCalculationsAllowed", 0)),
        )

    async def download_result(self, result_url: str, spool: Path, *, query: str) -> int:
        """Stream the result body into ``spool``; return the number of bytes."""
        for attempt in range(1, self._retry.attempts + 1):
            try:
                return await self._download_once(result_url, spool, query=query)
            except TransientApiError as exc:
                if attempt == self._retry.attempts:
                    raise
                await self._wait_before_retry(attempt, exc, query)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _download_once(self, url: str, spool: Path, *, query: str) -> int:
        async with self._open("GET", url, query=query) as response:
            if response.status != 200:
                answer = await read_answer(response)
                raise self._failure(answer, url, query, retried_if_transient=True)

            written = 0
            try:
                async with await anyio.open_file(spool, "wb") as file:
                    async for chunk in response.content.iter_chunked(DOWNLOAD_CHUNK):
                        await file.write(chunk)
                        written += len(chunk)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise TransientApiError(
                    f"{query}: the connection broke while downloading the result "
                    f"({type(exc).__name__})",
                    url=url,
                ) from None

        logger.debug("%s: result downloaded bytes=%d", query, written)
        return written

    async def _exchange(
        self,
        method: str,
        url: str,
        *,
        query: str,
        body: Mapping[str, Any] | None = None,
    ) -> Answer:
        """Send one request and return its successful answer, retrying what may recover."""
        idempotent = method != "POST"
        for attempt in range(1, self._retry.attempts + 1):
            try:
                return await self._exchange_once(method, url, query=query, body=body)
            except _Retryable as retryable:
                if attempt == self._retry.attempts or not (
                    idempotent or retryable.nothing_created
                ):
                    raise retryable.error from None
                if not idempotent:
                    logger.warning(
                        "%s: re-sending the query: %s", query, retryable.error
                    )
                await self._wait_before_retry(
                    attempt, retryable.error, query, retryable.retry_after
                )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _exchange_once(
        self, method: str, url: str, *, query: str, body: Mapping[str, Any] | None
    ) -> Answer:
        async with self._open(method, url, query=query, body=body) as response:
            answer = await read_answer(response)

        if 200 <= answer.status < 300:
            return answer
        raise self._failure(answer, url, query, retried_if_transient=False)

    @asynccontextmanager
    async def _open(
        self,
        method: str,
        url: str,
        *,
        query: str,
        body: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Open a response, following redirects and refreshing a refused token once."""
        token = await self.tokens.current()
        refreshed = False
        while True:
            response = await self._send_following_redirects(
                method, url, token, body, query
            )
            if response.status not in {401, 403}:
                break

            answer = await read_answer(response)
            response.release()
            if not _token_refused(answer):
                raise _classify(answer, url, query)
            if refreshed:
                raise TokenRejectedError(
                    f"{query}: the API refused a token it had just issued (HTTP "
                    f"{answer.status}); check that the client id may use the "
                    "Analytics API and that the token URL belongs to this API",
                    status=answer.status,
                    url=url,
                )
            token = await self.tokens.replace(token)
            refreshed = True

        try:
            yield response
        finally:
            response.release()

    async def _send_following_redirects(
        self,
        method: str,
        url: str,
        token: str,
        body: Mapping[str, Any] | None,
        query: str,
    ) -> aiohttp.ClientResponse:
        for _ in range(MAX_REDIRECTS + 1):
            self._check_trusted(url, query)
            response = await self._send(method, url, token, body, query)
            location = response.headers.get("Location")
            if response.status not in REDIRECT_STATUSES or not location:
                return response

            response.release()
            url = urljoin(url, location)
            if response.status == 303 and method == "GET":
                continue
            logger.info("%s: following a redirect to %s", query, _origin(url))

        raise ApiError(f"{query}: more than {MAX_REDIRECTS} redirects", url=url)

    async def _send(
        self,
        method: str,
        url: str,
        token: str,
        body: Mapping[str, Any] | None,
        query: str,
    ) -> aiohttp.ClientResponse:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        try:
            return await self._session.request(
                method, url, json=body, headers=headers, allow_redirects=False
            )
        except aiohttp.ClientConnectorError as exc:
            raise _Retryable(
                TransientApiError(
                    f"{query}: cannot connect to {_origin(url)} ({exc.os_error.strerror or exc})",
                    url=url,
                ),
                nothing_created=True,
            ) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Retryable(
                TransientApiError(
                    f"{query}: the request to {_origin(url)} failed ({type(exc).__name__})",
                    url=url,
                ),
                nothing_created=False,
            ) from None

    def _check_trusted(self, url: str, query: str) -> None:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme == "http" and not is_loopback(host):
            raise UntrustedHostError(
                f"{query}: the API pointed at {_origin(url)} over plain http; the token "
                "is sent only over https (or to a loopback address)",
                url=url,
            )
        if not _host_trusted(
            parts.scheme, host, parts.port, self._settings.trusted_hosts
        ):
            raise UntrustedHostError(
                f"{query}: the API pointed at {_origin(url)}, which is not a trusted host; "
                "the token was not sent. If that host is genuinely Mapp's, add it to "
                "api.trusted_hosts in the manifest",
                url=url,
            )

    def _failure(
        self, answer: Answer, url: str, query: str, *, retried_if_transient: bool
    ) -> Exception:
        error = _classify(answer, url, query)
        if isinstance(error, TransientApiError) and not retried_if_transient:
            retry_after = parse_retry_after(
                answer.headers.get("Retry-After"), cap=self._retry.max_retry_after
            )
            return _Retryable(
                error,
                nothing_created=answer.status in NOTHING_CREATED_STATUSES,
                retry_after=retry_after,
            )
        return error

    async def _wait_before_retry(
        self,
        attempt: int,
        error: Exception,
        query: str,
        retry_after: float | None = None,
    ) -> None:
        delay = (
            retry_after
            if retry_after is not None
            else retry_delay(attempt, self._retry)
        )
        logger.warning(
            "%s: retry attempt=%d wait=%.2fs reason=%s", query, attempt, delay, error
        )
        await anyio.sleep(delay)


class _Retryable(Exception):  # noqa: N818 - a carrier, never shown to users
    """Carries a transient error and whether the failed request created nothing."""

    def __init__(
        self,
        error: TransientApiError,
        *,
        nothing_created: bool,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.nothing_created = nothing_created
        self.retry_after = retry_after


def _classify(answer: Answer, url: str, query: str) -> ApiError:
    status = answer.status
    if status in RETRIED_STATUSES or (status == 400 and not answer.has_mapp_error_body):
        cause = (
            " (Mapp answers a bare 400 during maintenance windows)"
            if status == 400
            else ""
        )
        return TransientApiError(
            f"{query}: HTTP {status} from {_origin(url)}{cause}: {answer.snippet()}",
            status=status,
            url=url,
        )
    if status == 404:
        return CalculationNotFoundError(
            f"{query}: the API does not know this calculation (HTTP 404: "
            f"{answer.describe_problem()})",
            status=status,
            url=url,
        )
    if status in {400, 422}:
        return QueryRejectedError(
            f"{query}: the API rejected the query (HTTP {status}): "
            f"{answer.describe_problem()}; fix the query in the manifest",
            status=status,
            url=url,
        )
    return ApiError(
        f"{query}: HTTP {status} from {_origin(url)}: {answer.describe_problem()}",
        status=status,
        url=url,
    )


def _token_refused(answer: Answer) -> bool:
    """Whether the API refused the token: 401, or 403 with Mapp's INVALID_TOKEN."""
    if answer.status == 401:
        return True
    return answer.status == 403 and (
        answer.mapp_status_code == "INVALID_TOKEN" or not answer.text.strip()
    )


def _host_trusted(
    scheme: str, host: str, port: int | None, trusted: tuple[str, ...]
) -> bool:
    default_port = 443 if scheme == "https" else 80
    actual_port = port or default_port
    for entry in trusted:
        parts = urlsplit(f"//{entry}")
        entry_host = (parts.hostname or "").lower()
        entry_port = parts.port or default_port
        if entry_host == host and entry_port == actual_port:
            return True
    return False


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


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
