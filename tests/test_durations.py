"""Tests of duration parsing."""

from __future__ import annotations

import pytest

from mapp_export.durations import parse_duration


class TestParseDuration:
    """Durations as a manifest writes them."""

    @pytest.mark.parametrize(
        ("text", "seconds"),
        [
            ("200ms", 0.2),
            ("0.5s", 0.5),
            ("30s", 30.0),
            ("30m", 1800.0),
            ("1h", 3600.0),
            (" 2 s ", 2.0),
            (".5s", 0.5),
            ("45", 45.0),
            (12, 12.0),
            (1.5, 1.5),
        ],
    )
    def test_accepts_every_documented_form(self, text: object, seconds: float) -> None:
        """Each documented spelling gives its number of seconds."""
        assert parse_duration(text) == pytest.approx(seconds)

    @pytest.mark.parametrize(
        "text", ["", "fast", "10 minutes", "-1s", "1d", True, None, "inf"]
    )
    def test_refuses_anything_else_with_the_forms_to_use(self, text: object) -> None:
        """A value that is not a duration says how to write one."""
        with pytest.raises(ValueError, match=r"such as 200ms, 0\.5s, 30s, 30m or 1h"):
            parse_duration(text)
