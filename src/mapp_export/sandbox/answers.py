"""The error answers of the sandbox, worded as Mapp words them.

The bodies of 403 ``INVALID_TOKEN`` and 404 ``ANALYSIS_NOT_FOUND`` are the examples of
the contract. The contract gives no ``statusCode`` for a 400 or a 422, so the
sandbox's ``BAD_REQUEST`` and ``INVALID_ANALYSIS_QUERY`` are its own words.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

PROBLEM_JSON = "application/problem+json"
"""The content type of RFC 9457 problem bodies, used by the current gateway."""


def problem(
    status: int,
    title: str,
    detail: str,
    status_code: str,
    **extra: Any,
) -> web.Response:
    """Answer with a Problem body (title, status, detail, statusCode and more)."""
    body = {
        "title": title,
        "status": status,
        "detail": detail,
        "statusCode": status_code,
        **extra,
    }
    return web.json_response(body, status=status)


def invalid_token_legacy() -> web.Response:
    """Answer a missing, unknown or expired token as the legacy host does."""
    return problem(403, "Invalid Token", "Token not valid", "INVALID_TOKEN")


def invalid_token_current() -> web.Response:
    """Answer a missing, unknown or expired token as the current gateway does."""
    body = {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "detail": "The access token is missing, unknown or expired.",
    }
    return web.json_response(
        body,
        status=401,
        content_type=PROBLEM_JSON,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def analysis_not_found() -> web.Response:
    """Answer an unknown correlation id or calculation id."""
    return problem(
        404, "Analysis not found", "Analysis not found", "ANALYSIS_NOT_FOUND"
    )


def bad_request(detail: str) -> web.Response:
    """Answer a body that cannot be read as an analysis query."""
    error = {"name": "MalformedRequest", "parameters": {}}
    return problem(400, "Bad Request", detail, "BAD_REQUEST", errors=[error])


def unprocessable(errors: list[dict[str, Any]]) -> web.Response:
    """Answer a query that reads well but cannot be calculated."""
    names = ", ".join(error["name"] for error in errors)
    return problem(
        422,
        "Invalid analysis query",
        f"The analysis query cannot be calculated: {names}.",
        "INVALID_ANALYSIS_QUERY",
        errors=errors,
        warnings=[],
    )


def oauth_error(status: int, error: str, description: str) -> web.Response:
    """Answer a token request with an OAuth 2 error."""
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="mapp-sandbox"'

    body = {"error": error, "error_description": description}
    return web.json_response(body, status=status, headers=headers)
