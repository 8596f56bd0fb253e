"""The secret values this process has seen, so no text we write can carry them.

A misbehaving server may echo what it was sent: an error page that quotes the
``Authorization`` header, a Problem body that repeats the token. Every secret
the client handles (the client secret, the HTTP Basic value in both spellings,
each token issued) is remembered here the moment it exists, and every text the
product writes from a server's answer passes through :func:`redact` first:
query errors, run messages, the summary sheet, the run report and log lines.
"""

from __future__ import annotations

import base64
import threading

REDACTED = "[redacted]"
MINIMUM_LENGTH = 4
"""Shorter values are not blanked: they would mangle ordinary text."""

_lock = threading.Lock()
_values: set[str] = set()


def remember(value: str | None) -> None:
    """Blank ``value`` in every text redacted from now on."""
    if not value or len(value) < MINIMUM_LENGTH:
        return

    with _lock:
        _values.add(value)


def remember_credentials(client_id: str, client_secret: str) -> str:
    """Remember a client's secret and its Basic value; return that value."""
    pair = f"{client_id}:{client_secret}".encode()
    basic = base64.b64encode(pair).decode("ascii")
    remember(client_secret)
    remember(basic)
    return basic


def redact(text: str) -> str:
    """Return ``text`` with every remembered secret replaced by ``[redacted]``."""
    with _lock:
        values = sorted(_values, key=len, reverse=True)

    for value in values:
        if value in text:
            text = text.replace(value, REDACTED)
    return text
