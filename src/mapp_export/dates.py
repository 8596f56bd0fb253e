"""Dates for nightly runs: the run date, time keywords and the time filter.

A nightly manifest says ``time: yesterday`` once; each night this module turns
it into whole days before the run date (the run date itself is never
included, as its data is not complete) and writes them into the query as
Mapp's fixed ``time_range`` filter, ``yyyy-MM-dd HH:mm:ss`` with the end
exclusive. Days are calendar days of the manifest's time zone, so a daylight
saving change makes no day shorter or longer here. Time zones come from the
pinned ``tzdata`` package, not from the machine, so every machine computes the
same run date.
"""

from __future__ import annotations

import calendar
import copy
import importlib.resources
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

TimeKeyword = Literal[
    "yesterday", "last_7_days", "last_30_days", "month_to_date", "previous_month"
]
"""The relative time ranges a manifest may name."""

TIME_FILTER_NAMES = frozenset({"time_range", "time_dynamic"})
"""The filters that set a query's analysis time range."""

_DAYS_BACK = {"yesterday": 1, "last_7_days": 7, "last_30_days": 30}


@dataclass(frozen=True)
class DateRange:
    """Whole days from ``first`` to ``last``, both included."""

    first: date
    last: date
    note: str | None = None
    """Something worth saying about how the range was chosen, for the log."""

    @property
    def end(self) -> date:
        """The day after ``last``: the exclusive end Mapp's filter wants."""
        return self.last + timedelta(days=1)

    @property
    def days(self) -> int:
        """How many days the range covers."""
        return (self.last - self.first).days + 1

    def describe(self) -> str:
        """Say the range as people read it: ``2026-12-01 to 2026-12-07 (7 days)``."""
        unit = "day" if self.days == 1 else "days"
        return f"{self.first} to {self.last} ({self.days} {unit})"

    def time_filter(self) -> dict[str, Any]:
        """Return Mapp's ``time_range`` filter for these days, end exclusive."""
        return {
            "name": "time_range",
            "filterPredicate": "BETWEEN",
            "connector": "AND",
            "caseSensitive": False,
            "context": "NONE",
            "intern": False,
            "value1": _midnight(self.first),
            "value2": _midnight(self.end),
        }


def load_timezone(name: str) -> ZoneInfo:
    """Return the IANA time zone ``name`` from the bundled ``tzdata`` package.

    Raises:
        ValueError: ``name`` is no time zone that ``tzdata`` knows.
    """
    parts = name.split("/")
    if not name or any(part in {"", ".", ".."} for part in parts):
        raise ValueError(f"{name!r} is not an IANA time zone name")

    resource = importlib.resources.files("tzdata.zoneinfo").joinpath(*parts)
    try:
        with resource.open("rb") as data:
            return ZoneInfo.from_file(data, key=name)
    except (OSError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone name") from None


def today_in(zone: ZoneInfo | None, now: datetime | None = None) -> date:
    """Return the date it is ``now`` (default: this moment) in ``zone``.

    ``zone`` ``None`` means the machine's local time zone.
    """
    moment = now or datetime.now().astimezone()
    return moment.astimezone(zone).date() if zone else moment.astimezone().date()


def parse_day(text: str) -> date:
    """Read ``YYYY-MM-DD`` strictly; raise ``ValueError`` saying what is wrong."""
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        raise ValueError(f"{text!r} is not a date written YYYY-MM-DD")

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a day of the calendar") from None


def resolve_keyword(keyword: TimeKeyword, run_date: date) -> DateRange:
    """Return the whole days before ``run_date`` that ``keyword`` names.

    Raises:
        ValueError: the days fall before the first day of the calendar
            (a ``run_date`` in January of year 1).
    """
    try:
        return _resolve(keyword, run_date)
    except OverflowError:
        raise ValueError(
            f"{keyword} cannot be counted back from the run date {run_date}: "
            "those days are before the calendar's first day"
        ) from None


def check_end(last: date) -> None:
    """Refuse a last day whose next day (Mapp's exclusive end) does not exist."""
    if last == date.max:
        raise ValueError(
            f"{last} is the calendar's last day; Mapp's filter needs the day "
            "after it, so end the range earlier"
        )


def _resolve(keyword: TimeKeyword, run_date: date) -> DateRange:
    last = run_date - timedelta(days=1)
    if keyword in _DAYS_BACK:
        return DateRange(run_date - timedelta(days=_DAYS_BACK[keyword]), last)

    if keyword == "previous_month":
        first_of_month = run_date.replace(day=1)
        previous_last = first_of_month - timedelta(days=1)
        return DateRange(previous_last.replace(day=1), previous_last)

    if run_date.day == 1:
        return DateRange(
            last.replace(day=1),
            last,
            note=(
                f"month_to_date on the first of the month covers the whole "
                f"previous month, {calendar.month_name[last.month]} {last.year}"
            ),
        )
    return DateRange(run_date.replace(day=1), last)


def with_time_range(body: Mapping[str, Any], days: DateRange) -> dict[str, Any]:
    """Return a copy of ``body`` whose time filters are replaced by ``days``.

    Every ``time_range`` and ``time_dynamic`` filter anywhere in the
    ``queryObject``'s ``predefinedContainer`` is removed; the new filter takes
    the place of the first one of the top level, or comes first there. Column
    containers keep their own time filters (``columnPeriod: COLUMN``).
    """
    result = copy.deepcopy(dict(body))
    query_object = result.setdefault("queryObject", {})
    container = query_object.get("predefinedContainer")
    if not isinstance(container, dict):
        container = {"filters": [], "containers": []}
        query_object["predefinedContainer"] = container

    filters = container.get("filters")
    filters = filters if isinstance(filters, list) else []
    position = next((i for i, item in enumerate(filters) if _is_time_filter(item)), 0)
    for inner in _containers(container):
        if isinstance(inner.get("filters"), list):
            inner["filters"] = [f for f in inner["filters"] if not _is_time_filter(f)]

    kept: list[Any] = container["filters"] if filters else []
    container["filters"] = [*kept[:position], days.time_filter(), *kept[position:]]
    return result


def _containers(container: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield ``container`` and every container nested in it."""
    pending = [container]
    while pending:
        current = pending.pop()
        yield current
        nested = current.get("containers")
        if isinstance(nested, list):
            pending.extend(item for item in nested if isinstance(item, dict))


def _is_time_filter(item: Any) -> bool:
    return isinstance(item, Mapping) and item.get("name") in TIME_FILTER_NAMES


def _midnight(day: date) -> str:
    return f"{day.isoformat()} 00:00:00"
