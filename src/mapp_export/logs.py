"""Log output of the command line: plain lines, JSON lines, or lines above a display.

The package logs through ``logging.getLogger("mapp_export")`` and configures no
handler; :func:`configure_logging` gives it exactly one, writing to standard
error:

- ``text`` without a terminal: one plain line per record, with an ISO 8601
  timestamp and the level, no colour codes (cron, CI, Airflow);
- ``json``: one JSON object per line with ``timestamp``, ``level``, ``event``,
  ``query``, ``message`` and the record's structured fields (see
  :mod:`mapp_export.events`);
- on a terminal with the live display: short lines printed above the display.

Lines that carry no event name get ``event: "log"``; their ``query`` is taken
from the package's convention that a line about a query starts with its name
(``"%s: ..."`` with the name as first argument), else it is ``null``.

Every line passes through a :class:`Redactor` first, which blanks the client
secret, the access token and anything that looks like a bearer token or an
``Authorization`` header, so none of them reaches a log.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from rich.console import Console
from rich.text import Text

from mapp_export.secret_values import redact

LogFormat = Literal["text", "json"]

REDACTED = "[redacted]"

logger = logging.getLogger("mapp_export")

_SECRET_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(
        r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?:(?:bearer|basic)\s+)?"
        r"[^\s\"',}]+"
    ),
    re.compile(
        r"(?i)((?:access_token|client_secret)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}&]+"
    ),
)
_LEVEL_STYLES = {
    "DEBUG": "dim",
    "INFO": "cyan",
    "WARNING": "yellow",
    "ERROR": "bold red",
    "CRITICAL": "bold red",
}


class Redactor:
    """Blank known secrets and anything shaped like a token in log text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Blank ``secret`` wherever it appears from now on (short ones are ignored)."""
        if secret and len(secret) >= 4:
            self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        """Return ``text`` with every secret replaced by ``[redacted]``."""
        text = redact(text)
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        for pattern in _SECRET_PATTERNS:
            text = pattern.sub(rf"\g<1>{REDACTED}", text)
        return text


class PlainFormatter(logging.Formatter):
    """One line per record: timestamp, level and message, no colour codes."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(message)s")
        self._redactor = redactor

    def formatTime(  # noqa: N802 - the name logging calls
        self, record: logging.LogRecord, datefmt: str | None = None
    ) -> str:
        """Return the record's local time in ISO 8601 with its UTC offset."""
        del datefmt
        moment = datetime.fromtimestamp(record.created, UTC).astimezone()
        return moment.isoformat(timespec="seconds")

    def format(self, record: logging.LogRecord) -> str:
        """Return the redacted line, with any newline in the message indented."""
        text = self._redactor(super().format(record))
        return text.replace("\n", "\n    ")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, for log shippers."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one line of JSON, every text redacted."""
        moment = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, Any] = {
            "timestamp": moment.isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", "log"),
            "query": query_of(record),
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(
                {key: value for key, value in fields.items() if key not in line}
            )
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(self._redacted(line), ensure_ascii=False, default=str)

    def _redacted(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._redactor(value)
        if isinstance(value, dict):
            return {key: self._redacted(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._redacted(item) for item in value]
        return value


class ConsoleHandler(logging.Handler):
    """Print records through a rich console, above its live display."""

    def __init__(self, console: Console, redactor: Redactor) -> None:
        super().__init__()
        self._console = console
        self._redactor = redactor

    def emit(self, record: logging.LogRecord) -> None:
        """Print one short, coloured line."""
        try:
            moment = datetime.fromtimestamp(record.created, UTC).astimezone()
            line = Text(f"{moment:%H:%M:%S} ", style="dim")
            line.append(
                f"{record.levelname:<7} ", style=_LEVEL_STYLES.get(record.levelname)
            )
            line.append(self._redactor(record.getMessage()))
            self._console.print(line, soft_wrap=True, highlight=False)
        except Exception:  # noqa: BLE001 - logging must never break the run
            self.handleError(record)


def query_of(record: logging.LogRecord) -> str | None:
    """Return the query a record is about, or ``None`` for run-wide lines."""
    query = getattr(record, "query", None)
    if isinstance(query, str):
        return query
    if (
        isinstance(record.msg, str)
        and record.msg.startswith("%s: ")
        and isinstance(record.args, tuple)
        and record.args
        and isinstance(record.args[0], str)
    ):
        return record.args[0]
    return None


def configure_logging(
    *,
    level: int,
    log_format: LogFormat,
    redactor: Redactor,
    console: Console | None = None,
    stream: TextIO | None = None,
) -> None:
    """Give the package logger one handler on standard error, at ``level``.

    With ``console`` the lines go through it (above the live display); otherwise
    they are plain or JSON lines on ``stream`` (standard error by default).
    """
    handler: logging.Handler
    if console is not None:
        handler = ConsoleHandler(console, redactor)
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
        formatter: logging.Formatter = (
            JsonFormatter(redactor)
            if log_format == "json"
            else PlainFormatter(redactor)
        )
        handler.setFormatter(formatter)

    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def log_always(level: int, event: str, message: str, **fields: Any) -> None:
    """Log one line whatever the logger's level: the run's last words, or a refusal."""
    record = logger.makeRecord(
        logger.name,
        level,
        __file__,
        0,
        message,
        (),
        None,
        extra={"event": event, "fields": fields},
    )
    logger.handle(record)
