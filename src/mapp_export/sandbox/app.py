"""The aiohttp applications that play Mapp's Analytics API and token endpoint.

The legacy layout serves everything under ``/analytics/api`` on one port, the token
endpoint included (``/analytics/api/oauth/token``). The current layout serves the API
under ``/api/analytics`` and the token endpoint ``/oauth2/token`` as a second
application, on a port of its own, as ``auth.mapp.com`` is a host of its own.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
from datetime import UTC, datetime
from typing import Any

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from mapp_export.sandbox import answers
from mapp_export.sandbox.bigresult import result_file
from mapp_export.sandbox.faults import fault_middleware
from mapp_export.sandbox.queries import (
    MalformedQueryError,
    canonical_json,
    check_posted_body,
    parse_json,
    query_errors,
)
from mapp_export.sandbox.reports import ReportDesk
from mapp_export.sandbox.results import iter_result_text
from mapp_export.sandbox.state import Calculation, SandboxState

LEGACY_PREFIX = "/analytics/api"
"""Where the legacy host serves the API."""

CURRENT_PREFIX = "/api/analytics"
"""Where the current host serves the API."""

LEGACY_TOKEN_PATH = LEGACY_PREFIX + "/oauth/token"
"""The legacy token endpoint, on the API's own host."""

CURRENT_TOKEN_PATH = "/oauth2/token"  # noqa: S105  a path, not a secret
"""The current token endpoint, on a host of its own."""

STALL_CHECK_SECONDS = 0.01
"""How often a stalled download checks whether its client has hung up."""


class SandboxApi:
    """The handlers of one sandbox, sharing its state and its API base URL."""

    def __init__(self, state: SandboxState, base_url: str) -> None:
        """Serve ``state`` with absolute URLs built on ``base_url``."""
        self.state = state
        self.options = state.options
        self.base_url = base_url
        self.links_base_url = state.options.links_base_url or base_url

    def api_application(self) -> web.Application:
        """Build the API application (with the token endpoint in the legacy layout)."""
        legacy = self.options.layout == "legacy"
        prefix = LEGACY_PREFIX if legacy else CURRENT_PREFIX
        token_path = LEGACY_TOKEN_PATH if legacy else None
        app = web.Application(
            middlewares=[fault_middleware(self.state), self._token_guard(token_path)]
        )
        app.add_routes(
            [
                web.post(f"{prefix}/analysis-query", self.create_query),
                web.get(
                    f"{prefix}/analysis-query/{{correlation_id}}", self.query_status
                ),
                web.delete(
                    f"{prefix}/analysis-query/{{correlation_id}}", self.abort_query
                ),
                web.get(f"{prefix}/analysis-result/{{calculation_id}}", self.result),
                web.get(f"{prefix}/analysis-usage/current", self.usage),
            ]
        )
        app.add_routes(ReportDesk(self.state, self.links_base_url).routes(prefix))
        if token_path is not None:
            app.router.add_post(token_path, self.issue_token)

        return app

    def token_application(self) -> web.Application:
        """Build the separate token application of the current layout."""
        app = web.Application(middlewares=[fault_middleware(self.state)])
        app.router.add_post(CURRENT_TOKEN_PATH, self.issue_token)
        return app

    def _token_guard(self, token_path: str | None) -> Middleware:
        """Build a middleware that turns away every API call without a good token."""

        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path == token_path or self._has_valid_token(request):
                return await handler(request)

            self.state.rejected_tokens += 1
            if self.options.layout == "legacy":
                return answers.invalid_token_legacy()

            return answers.invalid_token_current()

        return guard

    def _has_valid_token(self, request: web.Request) -> bool:
        """Whether the request carries ``Bearer <token>`` with a token issued here."""
        scheme, _, token = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
        return scheme.lower() == "bearer" and self.state.token_is_valid(token.strip())

    async def issue_token(self, request: web.Request) -> web.Response:
        """``POST {token}``: the client credentials grant."""
        self.state.token_requests += 1
        refusal = self._token_refusal(request)
        if refusal is not None:
            self.state.token_failures += 1
            return refusal

        body = {
            "access_token": self.state.issue_token(),
            "token_type": "Bearer",
            "expires_in": self.options.token_lifetime_seconds,
        }
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    def _token_refusal(self, request: web.Request) -> web.Response | None:
        """Return the OAuth error for a token request, or ``None`` when it is good."""
        if not self._client_is_known(request):
            return answers.oauth_error(
                401, "invalid_client", "Client authentication failed."
            )

        grant_type = request.query.get("grant_type")
        if grant_type is None:
            return answers.oauth_error(400, "invalid_request", "grant_type is missing.")
        if grant_type != "client_credentials":
            return answers.oauth_error(
                400, "unsupported_grant_type", f"{grant_type} is not supported."
            )

        required = self.options.scope
        scopes = request.query.get("scope", "").split()
        if self.options.layout == "legacy" and required and required not in scopes:
            return answers.oauth_error(
                400, "invalid_scope", f"Scope {required} is needed."
            )

        return None

    def _client_is_known(self, request: web.Request) -> bool:
        """Whether HTTP Basic auth names the sandbox's client id and secret."""
        credentials = _basic_credentials(request.headers.get(hdrs.AUTHORIZATION, ""))
        if credentials is None:
            return False

        client_id, client_secret = credentials
        known_id = _same(client_id, self.options.client_id)
        known_secret = _same(client_secret, self.options.client_secret)
        return known_id and known_secret

    async def create_query(self, request: web.Request) -> web.Response:
        """``POST /analysis-query``: answer a cached result or start a calculation."""
        try:
            body = parse_json(await request.read())
            self.state.received_queries.append(body)
            check_posted_body(body)
        except MalformedQueryError as exc:
            return answers.bad_request(str(exc))

        errors = query_errors(body["queryObject"])
        if errors:
            return answers.unprocessable(errors)

        canonical = canonical_json(body)
        cached = self.state.cached_success(canonical)
        if cached is not None:
            self.state.cached_answers += 1
            answer = {
                "calculationId": cached.calculation_id,
                "resultUrl": self._result_url(cached.calculation_id),
            }
            return web.json_response(answer, status=200)

        calculation = self.state.create_calculation(body, canonical)
        answer = {
            "correlationId": calculation.correlation_id,
            "statusUrl": (
                f"{self.links_base_url}/analysis-query/{calculation.correlation_id}"
            ),
        }
        return web.json_response(answer, status=201)

    async def query_status(self, request: web.Request) -> web.Response:
        """``GET /analysis-query/{correlationId}``: the calculation's status now."""
        correlation_id = request.match_info["correlation_id"]
        calculation = self.state.calculations.get(correlation_id)
        if calculation is None:
            return answers.analysis_not_found()

        polls = self.state.status_polls
        polls[correlation_id] = polls.get(correlation_id, 0) + 1
        status = self.state.status_of(calculation)
        answer: dict[str, Any] = {
            "calculationId": calculation.calculation_id,
            "status": status,
        }
        if status == "SUCCESS":
            answer["resultUrl"] = self._result_url(calculation.calculation_id)

        answer["details"] = {"lastUpdatedAt": self.state.last_updated_ms(calculation)}
        return web.json_response(answer)

    async def abort_query(self, request: web.Request) -> web.Response:
        """``DELETE /analysis-query/{correlationId}``: abort the calculation."""
        calculation = self.state.calculations.get(request.match_info["correlation_id"])
        if calculation is None:
            return answers.analysis_not_found()

        self.state.abort(calculation)
        return web.Response(status=200)

    async def result(self, request: web.Request) -> web.StreamResponse:
        """``GET /analysis-result/{calculationId}``: the result, streamed in chunks."""
        calculation = self.state.succeeded(request.match_info["calculation_id"])
        if calculation is None:
            return answers.analysis_not_found()

        self.state.result_fetches += 1
        fetches = self.state.fetches_by_calculation
        fetches[calculation.calculation_id] = (
            fetches.get(calculation.calculation_id, 0) + 1
        )
        folder = self.options.result_folder
        if folder is not None:
            path = await asyncio.to_thread(result_file, folder, calculation.body)
            return web.FileResponse(path)

        stall = self._stall_seconds(calculation)
        response = web.StreamResponse()
        response.content_type = "application/json"
        if not stall:
            response.enable_compression()
        await response.prepare(request)
        if stall:
            if not await _write_with_stall(request, response, calculation.body, stall):
                return response
        else:
            for chunk in iter_result_text(calculation.body):
                await response.write(chunk.encode())

        await response.write_eof()
        return response

    async def usage(self, _request: web.Request) -> web.Response:
        """``GET /analysis-usage/current``: the calculations counted this month."""
        today = datetime.now(UTC)
        answer = {
            "calculationsCount": self.options.calculations_used
            + self.state.calculations_created,
            "maxCalculationsAllowed": self.options.max_calculations_allowed,
            "month": today.month,
            "year": today.year,
        }
        return web.json_response(answer)

    def _stall_seconds(self, calculation: Calculation) -> float:
        """How long this download pauses after its first part (see the options)."""
        options = self.options
        first = self.state.fetches_by_calculation[calculation.calculation_id] == 1
        stalled = options.result_stall_marker in canonical_json(calculation.body)
        return options.result_stall_seconds if first and stalled else 0.0

    def _result_url(self, calculation_id: str) -> str:
        """Return the absolute URL of a calculation's result."""
        return f"{self.links_base_url}/analysis-result/{calculation_id}"


async def _write_with_stall(
    request: web.Request,
    response: web.StreamResponse,
    body: dict[str, Any],
    seconds: float,
) -> bool:
    """Send the first half of the result, wait ``seconds``, then send the rest.

    The wait ends early when the client hangs up: then nothing more is sent
    and the answer is False.
    """
    text = "".join(iter_result_text(body)).encode()
    half = len(text) // 2
    await response.write(text[:half])

    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if request.transport is None or request.transport.is_closing():
            return False
        await asyncio.sleep(STALL_CHECK_SECONDS)

    await response.write(text[half:])
    return True


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """Read ``Basic base64(id:secret)``; ``None`` when the header is not that."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None

    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None

    client_id, colon, client_secret = decoded.partition(":")
    return (client_id, client_secret) if colon else None


def _same(given: str, expected: str) -> bool:
    """Compare two secrets in constant time, whatever characters they hold."""
    return secrets.compare_digest(given.encode(), expected.encode())
