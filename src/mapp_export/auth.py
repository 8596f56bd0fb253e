"""One OAuth token for the whole run, refreshed by one task while others wait."""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import dataclass, field

import aiohttp
import anyio

from mapp_export.backoff import RetryPolicy, retry_delay
from mapp_export.errors import AuthenticationError, TransientApiError
from mapp_export.responses import Answer, read_answer
from mapp_export.settings import (
    CLIENT_ID_VARIABLE,
    CLIENT_SECRET_VARIABLE,
    ApiSettings,
    Credentials,
)

logger = logging.getLogger("mapp_export")

DEFAULT_LIFETIME = 3600.0
EXPIRY_MARGIN = 60.0


@dataclass(frozen=True)
class _Token:
    value: str = field(repr=False)
    expires_at: float

    def is_fresh(self, now: float) -> bool:
        return now < self.expires_at


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

    async def replace(self, rejected: str) -> str:
        """Return a new token after the API rejected ``rejected``."""
        async with self._lock:
            if self._token is not None and self._token.value != rejected:
                return self._token.value

            logger.info("token.refresh reason=rejected")
            self._token = await self._fetch()
            return self._token.value

    async def _fetch(self) -> _Token:
        for attempt in range(1, self._retry.attempts + 1):
            try:
                return await self._request_token()
            except TransientApiError as exc:
                if attempt == self._retry.attempts:
                    raise
                delay = retry_delay(attempt, self._retry)
                logger.warning(
                    "token.retry attempt=%d wait=%.2fs error=%s", attempt, delay, exc
                )
                await anyio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

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
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientApiError(
                f"the token endpoint {self._settings.token_url} could not be reached "
                f"({type(exc).__name__})",
                url=self._settings.token_url,
            ) from None

        return self._token_from(answer)

    def _token_from(self, answer: Answer) -> _Token:
        if answer.status in {400, 401, 403}:
            raise AuthenticationError(
                f"the token endpoint refused the client credentials (HTTP {answer.status}: "
                f"{answer.snippet()}); check {CLIENT_ID_VARIABLE} and "
                f"{CLIENT_SECRET_VARIABLE}, and the token URL {self._settings.token_url}",
                status=answer.status,
                url=self._settings.token_url,
            )

        payload = answer.payload if isinstance(answer.payload, dict) else {}
        value = payload.get("access_token")
        if answer.status != 200 or not isinstance(value, str) or not value:
            raise TransientApiError(
                f"the token endpoint answered HTTP {answer.status} without a token: "
                f"{answer.snippet() if answer.status != 200 else '(no access_token)'}",
                status=answer.status,
                url=self._settings.token_url,
            )

        lifetime = _lifetime(payload.get("expires_in"))
        margin = min(EXPIRY_MARGIN, lifetime / 10)
        logger.info("token.issued lifetime=%.0fs", lifetime)
        return _Token(value=value, expires_at=time.monotonic() + lifetime - margin)


def _basic_authorization(credentials: Credentials) -> str:
    """Return the HTTP Basic value for the client id and secret, as Mapp expects it."""
    pair = f"{credentials.client_id}:{credentials.client_secret}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _lifetime(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    if isinstance(value, str):
        try:
            return max(float(value), 1.0)
        except ValueError:
            pass
    return DEFAULT_LIFETIME
