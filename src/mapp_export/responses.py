"""Reading the API's answers: JSON when it is JSON, a short snippet when not.

Proxies answer with HTML pages, and a maintenance window once answered every
request with a bare 400; none of that may surface as a decoding traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp

from mapp_export.errors import (
    ApiError,
    CalculationNotFoundError,
    QueryRejectedError,
    TransientApiError,
)
from mapp_export.secret_values import redact
from mapp_export.trust import origin

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Statuses that may recover by themselves (a bare 400 joins them)."""

SNIPPET_LENGTH = 200
MAX_ERROR_BODY = 64 * 1024


@dataclass(frozen=True)
class Answer:
    """A whole small answer: status, decoded JSON (if it was JSON) and raw text."""

    status: int
    payload: Any
    text: str
    headers: dict[str, str]

    @property
    def mapp_status_code(self) -> str | None:
        """Mapp's ``statusCode`` field (such as ``INVALID_TOKEN``), if present."""
        if isinstance(self.payload, dict):
            code = self.payload.get("statusCode")
            return code if isinstance(code, str) else None
        return None

    @property
    def has_mapp_error_body(self) -> bool:
        """Whether the body is one of Mapp's Problem objects."""
        return isinstance(self.payload, dict) and any(
            key in self.payload for key in ("statusCode", "errors", "title")
        )

    def snippet(self) -> str:
        """Return the start of the body on one line, secrets blanked, for messages."""
        flat = redact(" ".join(self.text.split()))
        if len(flat) > SNIPPET_LENGTH:
            return flat[:SNIPPET_LENGTH] + "…"
        return flat or "(empty body)"

    def describe_problem(self) -> str:
        """Say in words what a Mapp Problem body reports, else give a snippet.

        Any secret the server echoed is blanked.
        """
        if not isinstance(self.payload, dict):
            return self.snippet()

        parts = [
            str(self.payload[key])
            for key in ("title", "detail")
            if self.payload.get(key)
        ]
        errors = self.payload.get("errors")
        if isinstance(errors, list):
            parts.extend(_describe_error(error) for error in errors)

        return redact("; ".join(dict.fromkeys(parts))) or self.snippet()


async def read_answer(response: aiohttp.ClientResponse) -> Answer:
    """Read a response body of bounded size and decode it as JSON if it is JSON."""
    raw = await response.content.read(MAX_ERROR_BODY)
    text = raw.decode("utf-8", errors="replace")
    try:
        payload = json.loads(text) if text.strip() else None
    except ValueError:
        payload = None

    return Answer(
        status=response.status,
        payload=payload,
        text=text,
        headers=dict(response.headers),
    )


def is_transient(answer: Answer) -> bool:
    """Whether the answer may recover by itself: 429, 5xx, or a bare 400.

    Mapp answered every request with a 400 without its error body during a
    maintenance window; a 400 that carries Mapp's body is the query's fault.
    """
    if answer.status in RETRIED_STATUSES:
        return True
    return answer.status == 400 and not answer.has_mapp_error_body


def classify(answer: Answer, url: str, query: str) -> ApiError:
    """Turn an unsuccessful answer into the most specific of mapp-export's errors."""
    status = answer.status
    if is_transient(answer):
        cause = (
            " (a bare 400, as Mapp sends during maintenance)" if status == 400 else ""
        )
        return TransientApiError(
            f"{query}: HTTP {status} from {origin(url)}{cause}: {answer.snippet()}",
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
        f"{query}: HTTP {status} from {origin(url)}: {answer.describe_problem()}",
        status=status,
        url=url,
    )


def token_refused(answer: Answer) -> bool:
    """Whether the API refused the token: 401, or 403 with Mapp's INVALID_TOKEN."""
    if answer.status == 401:
        return True
    return answer.status == 403 and (
        answer.mapp_status_code == "INVALID_TOKEN" or not answer.text.strip()
    )


def _describe_error(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error)

    name = str(error.get("name", "error"))
    parameters = error.get("parameters")
    names = parameters.get("names") if isinstance(parameters, dict) else None
    if isinstance(names, list) and names:
        return f"{name}: {', '.join(str(item) for item in names)}"
    return name
