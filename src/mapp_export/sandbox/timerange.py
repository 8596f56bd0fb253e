"""The time range a query asks for, read from its time filters.

.. note::
   Dynamic time filters (``last_7_days`` and the like) are resolved against a fixed
   sandbox day, :data:`REFERENCE_DAY`, not against today, so the same query gives the
   same result on every day. A dynamic name the sandbox does not know falls back to
   the last 30 days instead of being refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

REFERENCE_DAY = date(2026, 6, 22)
"""The day the sandbox treats as today when it resolves dynamic time filters."""

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
"""How Mapp writes moments in filters and in a result's ``timerange``."""

_FALLBACK_DAYS = 30
_RELATIVE = re.compile(r"(last|before)_(\d+)_(days|weeks)(_previous_year)?")


@dataclass(frozen=True)
class TimeRange:
    """A half-open span of time, ``start`` included and ``end`` excluded."""

    start: datetime
    end: datetime

    @property
    def days(self) -> list[date]:
        """Every calendar day the span touches, oldest first."""
        last = (self.end - timedelta(microseconds=1)).date()
        count = (last - self.start.date()).days + 1
        return [self.start.date() + timedelta(days=i) for i in range(max(count, 1))]

    def as_strings(self) -> list[str]:
        """Return the span as the two strings of a result's ``timerange``."""
        return [self.start.strftime(TIME_FORMAT), self.end.strftime(TIME_FORMAT)]


def iter_filters(container: Any) -> Iterator[dict[str, Any]]:
    """Yield every filter of a container and of its nested containers, depth first."""
    if not isinstance(container, dict):
        return

    for item in container.get("filters") or []:
        if isinstance(item, dict):
            yield item

    for child in container.get("containers") or []:
        yield from iter_filters(child)


def resolve_time_range(query_object: dict[str, Any]) -> TimeRange:
    """Return the span of the first time filter of the query's container."""
    for item in iter_filters(query_object.get("predefinedContainer")):
        if item.get("name") == "time_range":
            return _fixed_range(item)
        if item.get("name") == "time_dynamic":
            return _dynamic_range(str(item.get("value1", "")))

    return _days_before(REFERENCE_DAY, _FALLBACK_DAYS)


def _fixed_range(item: dict[str, Any]) -> TimeRange:
    """Read a ``time_range`` filter's two moments, mending what cannot be read."""
    start = _parse_moment(item.get("value1"))
    end = _parse_moment(item.get("value2"))
    if start is None:
        return _days_before(REFERENCE_DAY, _FALLBACK_DAYS)

    if end is None or end <= start:
        end = start + timedelta(days=1)

    return TimeRange(start, end)


def _parse_moment(value: Any) -> datetime | None:
    """Parse ``yyyy-MM-dd HH:mm:ss`` or ``yyyy-MM-dd``; ``None`` when neither fits."""
    for pattern in (TIME_FORMAT, "%Y-%m-%d"):
        try:
            return datetime.strptime(str(value), pattern)  # noqa: DTZ007
        except ValueError:
            continue

    return None


def _dynamic_range(name: str) -> TimeRange:
    """Resolve a dynamic time filter name against the reference day."""
    today = REFERENCE_DAY
    named = {
        "today": (today, 1),
        "yesterday": (today - timedelta(days=1), 1),
        "this_week": (today - timedelta(days=today.weekday()), today.weekday() + 1),
        "last_week": (today - timedelta(days=today.weekday() + 7), 7),
        "this_month": (today.replace(day=1), today.day),
    }
    if name in named:
        first, count = named[name]
        return _span(first, count)

    if name == "last_month":
        end = today.replace(day=1)
        return _span((end - timedelta(days=1)).replace(day=1), 0, end)

    return _relative_range(name)


def _relative_range(name: str) -> TimeRange:
    """Resolve ``last_N_days``, ``before_N_days``, ``last_N_weeks`` and their kin."""
    match = _RELATIVE.fullmatch(name)
    if match is None:
        return _days_before(REFERENCE_DAY, _FALLBACK_DAYS)

    which, number, unit, previous_year = match.groups()
    days = int(number) * (7 if unit == "weeks" else 1)
    today = REFERENCE_DAY
    if previous_year:
        today = today.replace(year=today.year - 1)

    if which == "before":
        return _span(today - timedelta(days=days), 1)

    return _days_before(today, days)


def _days_before(day: date, count: int) -> TimeRange:
    """Return the ``count`` whole days that end just before ``day``."""
    return _span(day - timedelta(days=count), count)


def _span(first: date, count: int, end: date | None = None) -> TimeRange:
    """Span from midnight of ``first`` for ``count`` days, or up to ``end``."""
    start = datetime(first.year, first.month, first.day)  # noqa: DTZ001
    if end is None:
        return TimeRange(start, start + timedelta(days=max(count, 1)))

    return TimeRange(start, datetime(end.year, end.month, end.day))  # noqa: DTZ001
