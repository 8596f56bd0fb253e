"""Sending one request to Mapp the careful way.

Every request carries the run's bearer token, but only to trusted hosts (see
:mod:`mapp_export.trust`); redirects are followed by hand, hop by hop, each
checked the same way, and a POST is never turned into a GET. A refused token
is replaced once, by one task while the others wait. What may recover (a
dropped connection, a timeout, 429, 5xx, a bare 400) is retried with growing,
jittered waits, within ``retry.attempts`` and ``retry.total``, honouring
``Retry-After``. A request that may have created a calculation is never sent
again: only a refused connection or an answer that proves nothing was created
(429, 503, a bare 400) lets a POST go out a second time.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin

import aiohttp
import anyio

from mapp_export.auth import TokenProvider
from mapp_export.backoff import RetryPolicy, next_retry_wait, parse_retry_after
from mapp_export.errors import ApiError, TokenRejectedError, TransientApiError
from mapp_export.events import retry_extra
from mapp_export.responses import (
    Answer,
    classify,
    is_transient,
    read_answer,
    token_refused,
)
from mapp_export.settings import ApiSettings
from mapp_export.trust import check_trusted, origin

logger = logging.getLogger("mapp_export")

NOTHING_CREATED_STATUSES = frozenset({400, 429, 503})
"""Answers that prove a POST created nothing: it was turned away at the door."""

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
METHOD_KEEPING_REDIRECTS = frozenset({307, 308})
MAX_REDIRECTS = 5
MAX_TOKEN_REFRESHES = 3
DOWNLOAD_CHUNK = 256 * 1024

Result = TypeVar("Result")


class Transport:
    """Sends requests for :class:`~mapp_export.api.MappClient` over one session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: ApiSettings,
        tokens: TokenProvider,
        retry: RetryPolicy,
    ) -> None:
        self._session = session
        self._settings = settings
        self._tokens = tokens
        self._retry = retry

    async def exchange(
        self,
        method: str,
        url: str,
        *,
        query: str,
        body: Mapping[str, Any] | None = None,
    ) -> Answer:
        """Send one request and return its successful answer, retrying what may."""

        async def once() -> Answer:
            return await self._exchange_once(method, url, query=query, body=body)

        return await self._retrying(once, query=query, may_resend=method != "POST")

    async def download(self, url: str, spool: Path, *, query: str) -> int:
        """Stream a result body into ``spool``; return its size in bytes.

        A download that fails, or is cancelled, leaves no file: a partial
        spool is of no use to a resume (only complete ones are reused) and,
        after a disk filled up, would keep it full for every later run.
        """

        async def once() -> int:
            return await self._download_once(url, spool, query=query)

        try:
            return await self._retrying(once, query=query, may_resend=True)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_remove_file, spool)
            raise

    async def _retrying(
        self,
        once: Callable[[], Awaitable[Result]],
        *,
        query: str,
        may_resend: bool,
    ) -> Result:
        started = anyio.current_time()
        attempt = 1
        while True:
            try:
                return await once()
            except _Retryable as retryable:
                if not (may_resend or retryable.nothing_created):
                    raise _not_resent(retryable.error) from None

                elapsed = anyio.current_time() - started
                wait = next_retry_wait(
                    attempt, elapsed, self._retry, retry_after=retryable.retry_after
                )
                if wait is None:
                    raise _gave_up(retryable.error, attempt, elapsed) from None

                event = "request.retry" if may_resend else "query.resend"
                logger.warning(
                    "%s: %s attempt=%d wait=%.2fs reason=%s",
                    query,
                    event,
                    attempt,
                    wait,
                    retryable.error,
                    extra=retry_extra(
                        query, attempt, wait, retryable.error, event=event
                    ),
                )
                await anyio.sleep(wait)
                attempt += 1

    async def _exchange_once(
        self, method: str, url: str, *, query: str, body: Mapping[str, Any] | None
    ) -> Answer:
        async with self._open(method, url, query=query, body=body) as response:
            answer = await _read(response, url, query)

        if 200 <= answer.status < 300:
            return answer
        raise self._failure(answer, url, query)

    async def _download_once(self, url: str, spool: Path, *, query: str) -> int:
        async with self._open("GET", url, query=query) as response:
            if response.status != 200:
                answer = await _read(response, url, query)
                raise self._failure(answer, url, query)

            written = 0
            try:
                async with await anyio.open_file(spool, "wb") as file:
                    async for chunk in response.content.iter_chunked(DOWNLOAD_CHUNK):
                        await file.write(chunk)
                        written += len(chunk)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise _connection_failure(
                    exc, url, query, "downloading the result"
                ) from None

        logger.debug("%s: result downloaded bytes=%d", query, written)
        return written

    @asynccontextmanager
    async def _open(
        self,
        method: str,
        url: str,
        *,
        query: str,
        body: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Open a response, following redirects and replacing a refused token."""
        token = await self._tokens.current()
        refreshes = 0
        while True:
            response = await self._follow(method, url, token, body, query)
            if response.status not in {401, 403}:
                break

            answer = await _read(response, url, query)
            response.release()
            if not token_refused(answer):
                raise classify(answer, url, query)
            if refreshes == MAX_TOKEN_REFRESHES or (
                refreshes and self._tokens.is_new(token)
            ):
                raise _token_rejected(answer, url, query)
            token = await self._tokens.replace(token)
            refreshes += 1

        try:
            yield response
        finally:
            response.release()

    async def _follow(
        self,
        method: str,
        url: str,
        token: str,
        body: Mapping[str, Any] | None,
        query: str,
    ) -> aiohttp.ClientResponse:
        """Send, following redirects by hand; check each hop before the token goes."""
        for _ in range(MAX_REDIRECTS + 1):
            check_trusted(url, self._settings.trusted_hosts, query=query)
            response = await self._send(method, url, token, body, query)
            location = response.headers.get("Location")
            if response.status not in REDIRECT_STATUSES or not location:
                return response

            response.release()
            target = urljoin(url, location)
            if method != "GET" and response.status not in METHOD_KEEPING_REDIRECTS:
                raise ApiError(
                    f"{query}: the API answered the {method} with HTTP "
                    f"{response.status}, a redirect that would turn it into a GET, "
                    f"to {origin(target)}; it was not followed. Point api.base_url "
                    "at the host the API now answers on",
                    status=response.status,
                    url=url,
                )
            logger.info("%s: following a redirect to %s", query, origin(target))
            url = target

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
        except aiohttp.ClientSSLError as exc:
            raise ApiError(
                f"{query}: the TLS connection to {origin(url)} failed "
                f"({type(exc).__name__}); if a private CA signs this host's "
                "certificate, point SSL_CERT_FILE at a bundle holding it",
                url=url,
            ) from None
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise _Retryable(
                TransientApiError(
                    f"{query}: cannot connect to {origin(url)} ({_reason(exc)})",
                    url=url,
                ),
                nothing_created=True,
            ) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _connection_failure(
                exc, url, query, "waiting for the answer"
            ) from None

    def _failure(self, answer: Answer, url: str, query: str) -> Exception:
        error = classify(answer, url, query)
        if not is_transient(answer):
            return error

        retry_after = parse_retry_after(
            answer.headers.get("Retry-After"), cap=self._retry.max_retry_after
        )
        return _Retryable(
            error,
            nothing_created=answer.status in NOTHING_CREATED_STATUSES,
            retry_after=retry_after,
        )


class _Retryable(Exception):  # noqa: N818 - a carrier, never shown to users
    """Carries a transient error and whether the failed request created nothing."""

    def __init__(
        self,
        error: ApiError,
        *,
        nothing_created: bool,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.nothing_created = nothing_created
        self.retry_after = retry_after


async def _read(response: aiohttp.ClientResponse, url: str, query: str) -> Answer:
    try:
        return await read_answer(response)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _connection_failure(exc, url, query, "reading the answer") from None


def _connection_failure(
    exc: BaseException, url: str, query: str, during: str
) -> _Retryable:
    error = TransientApiError(
        f"{query}: the connection to {origin(url)} broke while {during} "
        f"({_reason(exc)})",
        url=url,
    )
    return _Retryable(error, nothing_created=False)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError) and exc.os_error.strerror:
        return exc.os_error.strerror
    if isinstance(exc, TimeoutError):
        return f"{type(exc).__name__}: no answer within the timeout"
    return type(exc).__name__


def _not_resent(error: ApiError) -> TransientApiError:
    return TransientApiError(
        f"{error}; the query was not sent again, since the API may already have "
        "started its calculation and a second one would count against the monthly "
        "allowance again; run it again later",
        status=error.status,
        url=error.url,
    )


def _gave_up(error: ApiError, attempts: int, elapsed: float) -> TransientApiError:
    if error.status == 400:
        advice = (
            "a maintenance window at Mapp is the likely cause (the API answered a "
            "bare 400); run again later"
        )
    else:
        advice = "raise retry.attempts or retry.total in the manifest to wait longer"
    return TransientApiError(
        f"{error}; gave up after {attempts} attempts in {elapsed:.1f} s; {advice}",
        status=error.status,
        url=error.url,
    )


def _token_rejected(answer: Answer, url: str, query: str) -> TokenRejectedError:
    return TokenRejectedError(
        f"{query}: the API refused a token just issued to this client (HTTP "
        f"{answer.status}); check that the client id may use the Analytics API and "
        "that the token URL belongs to this API",
        status=answer.status,
        url=url,
    )


def _remove_file(path: Path) -> None:
    """Remove ``path`` if it exists."""
    path.unlink(missing_ok=True)
