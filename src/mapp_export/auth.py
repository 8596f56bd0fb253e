"""One OAuth token for the whole run, refreshed by one task while others wait.

Refused credentials end the run at once: the token endpoint is asked again
only after a failure that may recover (a dropped connection, 429, 5xx, a bare
400 without an OAuth error), within the run's retry policy.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import aiohttp
import anyio

from mapp_export.backoff import RetryPolicy, next_retry_wait, parse_retry_after
from mapp_export.errors import ApiError, AuthenticationError, TransientApiError
from mapp_export.responses import Answer, read_answer
from mapp_export.secret_values import remember, remember_credentials
from mapp_export.settings import (
    CLIENT_ID_VARIABLE,
    CLIENT_SECRET_VARIABLE,
    ApiSettings,
    Credentials,
)

logger = logging.getLogger("mapp_export")

DEFAULT_LIFETIME = 3600.0
EXPIRY_MARGIN = 60.0
NEW_TOKEN_SECONDS = 30.0
"""A token refused younger than this (or half its lifetime) was refused as such."""


@dataclass(frozen=True)
class _Token:
    value: str = field(repr=False)
    issued_at: float
    expires_at: float

    def is_fresh(self, now: float) -> bool:
        return now < self.expires_at

    def is_new(self, now: float) -> bool:
        lifetime = self.expires_at - self.issued_at
        return now - self.issued_at < min(NEW_TOKEN_SECONDS, lifetime / 2)


class TokenProvider:
    """Hands out the run's bearer token; fetches a new one when it is due.

    Exactly one task asks the token endpoint at a time: the others wait on the
    lock and then use what that task got.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: ApiSettings,
        credentials: Credentials,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._session = session
        self._settings = settings
        self._credentials = credentials
        self._retry = retry or RetryPolicy()
        self._lock = anyio.Lock()
        self._token: _Token | None = None
        self.requests = 0

    async def current(self) -> str:
        """Return a token that is not about to expire."""
        token = self._token
        if token is not None and token.is_fresh(time.monotonic()):
            return token.value

        async with self._lock:
            if self._token is None or not self._token.is_fresh(time.monotonic()):
                self._token = await self._fetch()
            return self._token.value

    def is_new(self, value: str) -> bool:
        """Whether ``value`` is the current token and was issued moments ago."""
        token = self._token
        return (
            token is not None
            and token.value == value
            and token.is_new(time.monotonic())
        )

    async def replace(self, rejected: str) -> str:
        """Return a new token after the API rejected ``rejected``.

        When another task has already replaced it, its fresh token is returned
        and the token endpoint is not asked again.
        """
        async with self._lock:
            token = self._token
            if (
                token is not None
                and token.value != rejected
                and token.is_fresh(time.monotonic())
            ):
                return token.value

            logger.info("token.refresh reason=rejected")
            self._token = await self._fetch()
            return self._token.value

    async def _fetch(self) -> _Token:
        started = anyio.current_time()
        attempt = 1
        while True:
            try:
                return await self._request_token()
            except _TokenRetry as retry:
                elapsed = anyio.current_time() - started
                wait = next_retry_wait(
                    attempt, elapsed, self._retry, retry_after=retry.retry_after
                )
                if wait is None:
                    raise TransientApiError(
                        f"{retry.error}; gave up after {attempt} attempts in "
                        f"{elapsed:.1f} s; {_advice(retry.error)}",
                        status=retry.error.status,
                        url=retry.error.url,
                    ) from None
                logger.warning(
                    "token.retry attempt=%d wait=%.2fs reason=%s",
                    attempt,
                    wait,
                    retry.error,
                )
                await anyio.sleep(wait)
                attempt += 1

    async def _request_token(self) -> _Token:
        self.requests += 1
        parameters = {"grant_type": "client_credentials"}
        if self._settings.scope:
            parameters["scope"] = self._settings.scope

        headers = {"Authorization": _basic_authorization(self._credentials)}
        try:
            async with self._session.post(
                self._settings.token_url,
                params=parameters,
                headers=headers,
                allow_redirects=False,
            ) as response:
                answer = await read_answer(response)
        except aiohttp.ClientSSLError as exc:
            raise ApiError(
                f"the TLS connection to the token endpoint {self._settings.token_url} "
                f"failed ({type(exc).__name__}); if a private CA signs its "
                "certificate, point SSL_CERT_FILE at a bundle holding it",
                url=self._settings.token_url,
            ) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = TransientApiError(
                f"the token endpoint {self._settings.token_url} could not be reached "
                f"({type(exc).__name__})",
                url=self._settings.token_url,
            )
            raise _TokenRetry(error, None) from None

        return self._token_from(answer)

    def _token_from(self, answer: Answer) -> _Token:
        if 300 <= answer.status < 400:
            raise ApiError(
                f"the token endpoint {self._settings.token_url} answered with a "
                f"redirect (HTTP {answer.status}); the credentials are not sent "
                "after it. Set api.token_url to the endpoint itself",
                status=answer.status,
                url=self._settings.token_url,
            )
        if answer.status in {401, 403} or (
            answer.status == 400 and _oauth_error(answer) is not None
        ):
            raise AuthenticationError(
                "the token endpoint refused the client credentials (HTTP "
                f"{answer.status}: {answer.snippet()}); check {CLIENT_ID_VARIABLE} "
                f"and {CLIENT_SECRET_VARIABLE}, and the token URL "
                f"{self._settings.token_url}",
                status=answer.status,
                url=self._settings.token_url,
            )

        payload = answer.payload if isinstance(answer.payload, dict) else {}
        value = payload.get("access_token")
        if answer.status != 200 or not isinstance(value, str) or not value:
            error = TransientApiError(
                f"the token endpoint answered HTTP {answer.status} without a token: "
                f"{answer.snippet() if answer.status != 200 else '(no access_token)'}",
                status=answer.status,
                url=self._settings.token_url,
            )
            retry_after = parse_retry_after(
                answer.headers.get("Retry-After"), cap=self._retry.max_retry_after
            )
            raise _TokenRetry(error, retry_after)

        lifetime = _lifetime(payload.get("expires_in"))
        margin = min(EXPIRY_MARGIN, lifetime / 10)
        logger.info("token.issued lifetime=%.0fs", lifetime)
        now = time.monotonic()
        remember(value)
        return _Token(value=value, issued_at=now, expires_at=now + lifetime - margin)


class _TokenRetry(Exception):  # noqa: N818 - a carrier, never shown to users
    """Carries a failure of the token endpoint that may recover."""

    def __init__(self, error: TransientApiError, retry_after: float | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def _advice(error: TransientApiError) -> str:
    if error.status == 400:
        return (
            "a maintenance window at Mapp is the likely cause (a bare 400); "
            "run again later"
        )
    return "run again later"


def _oauth_error(answer: Answer) -> str | None:
    """Return the OAuth ``error`` code of a token endpoint's answer, if any."""
    if isinstance(answer.payload, dict):
        code = answer.payload.get("error")
        return code if isinstance(code, str) else None
    return None


def _basic_authorization(credentials: Credentials) -> str:
    """Return the HTTP Basic value for the client id and secret, as Mapp expects it."""
    basic = remember_credentials(credentials.client_id, credentials.client_secret)
    return f"Basic {basic}"


def _lifetime(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str):
        try:
            return max(float(value), 1.0)
        except ValueError:
            pass
    return DEFAULT_LIFETIME
