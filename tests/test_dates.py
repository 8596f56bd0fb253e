"""Tests of run dates, time keywords and the time filter they write."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from mapp_export.dates import (
    DateRange,
    load_timezone,
    parse_day,
    resolve_keyword,
    today_in,
    with_time_range,
)


def days(keyword: Any, run_date: date) -> tuple[str, str]:
    """Resolve ``keyword`` and return its first and last day as text."""
    resolved = resolve_keyword(keyword, run_date)
    return resolved.first.isoformat(), resolved.last.isoformat()


class TestKeywords:
    """Keywords count whole days before the run date, which is never included."""

    @pytest.mark.parametrize(
        ("keyword", "expected"),
        [
            ("yesterday", ("2026-02-28", "2026-02-28")),
            ("last_7_days", ("2026-02-22", "2026-02-28")),
            ("last_30_days", ("2026-01-30", "2026-02-28")),
            ("month_to_date", ("2026-02-01", "2026-02-28")),
            ("previous_month", ("2026-02-01", "2026-02-28")),
        ],
    )
    def test_across_a_month_boundary(
        self, keyword: str, expected: tuple[str, str]
    ) -> None:
        """Run on 1 March, each keyword reaches back into February (or January)."""
        assert days(keyword, date(2026, 3, 1)) == expected

    @pytest.mark.parametrize(
        ("keyword", "expected"),
        [
            ("yesterday", ("2026-12-31", "2026-12-31")),
            ("last_7_days", ("2026-12-25", "2026-12-31")),
            ("last_30_days", ("2026-12-02", "2026-12-31")),
            ("month_to_date", ("2026-12-01", "2026-12-31")),
            ("previous_month", ("2026-12-01", "2026-12-31")),
        ],
    )
    def test_across_a_year_boundary(
        self, keyword: str, expected: tuple[str, str]
    ) -> None:
        """Run on 1 January, each keyword lands in the previous year."""
        assert days(keyword, date(2027, 1, 1)) == expected

    @pytest.mark.parametrize(
        ("keyword", "expected"),
        [
            ("yesterday", ("2026-03-29", "2026-03-29")),
            ("last_7_days", ("2026-03-23", "2026-03-29")),
            ("last_30_days", ("2026-02-28", "2026-03-29")),
            ("month_to_date", ("2026-03-01", "2026-03-29")),
            ("previous_month", ("2026-02-01", "2026-02-28")),
        ],
    )
    def test_across_a_daylight_saving_change(
        self, keyword: str, expected: tuple[str, str]
    ) -> None:
        """Run the day after clocks go forward (29 March 2026), days stay whole."""
        assert days(keyword, date(2026, 3, 30)) == expected
        end = date.fromisoformat(expected[1]) + timedelta(days=1)
        resolved = resolve_keyword(keyword, date(2026, 3, 30))  # type: ignore[arg-type]
        value2 = resolved.time_filter()["value2"]
        assert value2 == f"{end} 00:00:00"

    def test_month_to_date_mid_month_excludes_the_run_date(self) -> None:
        """On the 15th, month_to_date is the 1st to the 14th, with no note."""
        resolved = resolve_keyword("month_to_date", date(2026, 12, 15))

        assert (resolved.first, resolved.last) == (
            date(2026, 12, 1),
            date(2026, 12, 14),
        )
        assert resolved.note is None

    def test_month_to_date_on_the_first_says_so(self) -> None:
        """On the 1st, month_to_date is the whole previous month, and says so."""
        resolved = resolve_keyword("month_to_date", date(2026, 12, 1))

        assert resolved.note == (
            "month_to_date on the first of the month covers the whole previous "
            "month, November 2026"
        )


class TestCalendarEdges:
    """Ranges that would leave the calendar are refused, not overflowed."""

    @pytest.mark.parametrize(
        "keyword",
        ["yesterday", "last_7_days", "last_30_days", "previous_month", "month_to_date"],
    )
    def test_year_one(self, keyword: Any) -> None:
        """Counting back from 0001-01-01 raises ValueError saying why."""
        with pytest.raises(ValueError, match="before the calendar's first day"):
            resolve_keyword(keyword, date(1, 1, 1))

    def test_the_last_day_still_resolves(self) -> None:
        """9999-12-31 as run date ends its range on the day before it."""
        assert days("yesterday", date.max) == ("9999-12-30", "9999-12-30")


class TestRunDate:
    """The run date is today in the manifest's time zone, from bundled tzdata."""

    def test_today_depends_on_the_time_zone_across_a_dst_change(self) -> None:
        """At 22:30 UTC on 28 March 2026 it is already the 29th in Berlin (CET)."""
        moment = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)

        assert today_in(load_timezone("Europe/Berlin"), moment) == date(2026, 3, 29)
        assert today_in(load_timezone("America/New_York"), moment) == date(2026, 3, 28)

    def test_unknown_time_zone_is_refused(self) -> None:
        """A name tzdata does not know, or a path trick, is a ValueError."""
        for name in ("Europe/Atlantis", "../etc/passwd", ""):
            with pytest.raises(ValueError, match="not an IANA time zone"):
                load_timezone(name)

    def test_parse_day_is_strict(self) -> None:
        """Only YYYY-MM-DD of a real calendar day is a day."""
        assert parse_day("2028-02-29") == date(2028, 2, 29)
        for text in ("2026-2-1", "2026-02-30", "01.02.2026"):
            with pytest.raises(ValueError, match=text):
                parse_day(text)


class TestTimeFilter:
    """The exporter writes Mapp's time_range filter, end exclusive."""

    def test_filter_text(self) -> None:
        """One day runs from its midnight to the next midnight."""
        one_day = DateRange(date(2026, 12, 31), date(2026, 12, 31))

        assert one_day.time_filter() == {
            "name": "time_range",
            "filterPredicate": "BETWEEN",
            "connector": "AND",
            "caseSensitive": False,
            "context": "NONE",
            "intern": False,
            "value1": "2026-12-31 00:00:00",
            "value2": "2027-01-01 00:00:00",
        }

    def test_replaces_time_filters_anywhere_in_the_container(self) -> None:
        """Every time filter, nested ones included, gives way to one at its place."""
        other = {"name": "pages", "filterPredicate": "EQUAL", "value1": "home"}
        body = {
            "queryObject": {
                "columns": [{"name": "pages"}],
                "predefinedContainer": {
                    "filters": [
                        other,
                        {"name": "time_dynamic", "value1": "last_7_days"},
                    ],
                    "containers": [
                        {"filters": [{"name": "time_range", "value1": "x"}, other]}
                    ],
                },
            }
        }
        one_day = DateRange(date(2026, 12, 3), date(2026, 12, 3))

        result = with_time_range(body, one_day)

        container = result["queryObject"]["predefinedContainer"]
        assert container["filters"] == [other, one_day.time_filter()]
        assert container["containers"] == [{"filters": [other]}]
        assert "last_7_days" in str(body)

    def test_adds_a_container_when_the_query_has_none(self) -> None:
        """A query without predefinedContainer gets one holding the time filter."""
        one_day = DateRange(date(2026, 12, 3), date(2026, 12, 3))

        result = with_time_range({"queryObject": {"columns": []}}, one_day)

        assert result["queryObject"]["predefinedContainer"] == {
            "filters": [one_day.time_filter()],
            "containers": [],
        }
