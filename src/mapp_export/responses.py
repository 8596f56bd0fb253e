"""Reading the API's answers: JSON when it is JSON, a short snippet when not.

Proxies answer with HTML pages, and a maintenance window once answered every
request with a bare 400; none of that may surface as a decoding traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp

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
    def is_json(self) -> bool:
        """Whether the body decoded as JSON."""
        return self.payload is not None

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
        """Return the start of the body on one line, for messages."""
        flat = " ".join(self.text.split())
        if len(flat) > SNIPPET_LENGTH:
            return flat[:SNIPPET_LENGTH] + "…"
        return flat or "(empty body)"

    def describe_problem(self) -> str:
        """Say in words what a Mapp Problem body reports, else give a snippet."""
        if not isinstance(self.payload, dict):
            return self.snippet()

        parts = [
            str(self.payload[key])
            for key in ("title", "detail")
            if self.payload.get(key)
        ]
        errors = self.payload.get("errors")
        for error in errors if isinstance(errors, list) else []:
            parts.append(_describe_error(error))

        return "; ".join(dict.fromkeys(parts)) or self.snippet()


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


def _describe_error(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error)

    name = str(error.get("name", "error"))
    parameters = error.get("parameters")
    names = parameters.get("names") if isinstance(parameters, dict) else None
    if isinstance(names, list) and names:
        return f"{name}: {', '.join(str(item) for item in names)}"
    return name
