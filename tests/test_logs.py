"""Log formatting: redaction, JSON lines and the query a line is about."""

from __future__ import annotations

import json
import logging

from mapp_export.events import retry_extra
from mapp_export.logs import JsonFormatter, PlainFormatter, Redactor, query_of


def _record(message: str, *arguments: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "mapp_export", logging.WARNING, __file__, 1, message, arguments, None
    )
    record.__dict__.update(extra)
    return record


class TestRedactor:
    """Secrets never reach a log line."""

    def test_blanks_registered_secrets(self) -> None:
        """A secret the redactor was given is replaced wherever it appears."""
        redact = Redactor(["top-secret-value"])

        assert redact("id=x secret=top-secret-value!") == "id=x secret=[redacted]!"

    def test_blanks_token_shapes(self) -> None:
        """Bearer tokens, Authorization headers and access_token values are blanked."""
        redact = Redactor()

        text = redact(
            'Authorization: Bearer abc.DEF-123 {"access_token": "tok-456"} '
            "client_secret=xyz789"
        )

        assert "abc.DEF-123" not in text
        assert "tok-456" not in text
        assert "xyz789" not in text
        assert text.count("[redacted]") == 3


class TestJsonFormatter:
    """--log-format json."""

    def test_retry_line_carries_its_fields(self) -> None:
        """A retry becomes one object with its event, query and attempt."""
        formatter = JsonFormatter(Redactor(["s3cret"]))
        record = _record(
            "%s: retry attempt=%d",
            "Top pages",
            2,
            **retry_extra("Top pages", 2, 1.5, "HTTP 503 with s3cret"),
        )

        line = json.loads(formatter.format(record))

        assert line["event"] == "request.retry"
        assert line["query"] == "Top pages"
        assert (line["attempt"], line["wait_seconds"]) == (2, 1.5)
        assert line["reason"] == "HTTP 503 with [redacted]"
        assert line["level"] == "warning"

    def test_line_without_event_is_a_plain_log_event(self) -> None:
        """A line with no structured attributes still parses, event ``log``."""
        line = json.loads(JsonFormatter(Redactor()).format(_record("token.issued")))

        assert (line["event"], line["query"]) == ("log", None)


class TestQueryOf:
    """The query a line is about."""

    def test_taken_from_the_leading_name(self) -> None:
        """``"%s: ..."`` lines name their query by their first argument."""
        assert query_of(_record("%s: calculation aborted", "Pages")) == "Pages"

    def test_none_for_run_wide_lines(self) -> None:
        """A line about the whole run names no query."""
        assert query_of(_record("stopping the run: %s", "reason")) is None


class TestPlainFormatter:
    """Plain lines for cron."""

    def test_one_line_with_timestamp_and_level(self) -> None:
        """A plain line has an ISO timestamp, the level and the redacted message."""
        text = PlainFormatter(Redactor(["s3cret"])).format(
            _record("%s: failed: s3cret", "Pages")
        )

        assert text.split()[1:] == ["WARNING", "Pages:", "failed:", "[redacted]"]
        assert "T" in text.split()[0]
