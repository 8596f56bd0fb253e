"""Turning the checked ``queries:`` entries into query plans.

Each entry's body is read (inline, pasted JSON or a file), its text fields are
made text (see :mod:`mapp_export.body_check`), its time setting is resolved
against the run date, and the ``defaults:`` block fills in what the entry
leaves out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from mapp_export.body_check import UnknownKey, check_body
from mapp_export.dates import DateRange, parse_day, resolve_keyword, with_time_range
from mapp_export.manifest_model import (
    DaysSection,
    ManifestSection,
    PollSection,
    QuerySection,
    SheetSection,
    TimeSetting,
)
from mapp_export.plan import PollSettings, QueryPlan, ReportPlan
from mapp_export.query_body import (
    complete_body,
    parse_query_json,
    read_query_file,
    row_window,
)
from mapp_export.titles import assign_sheet_titles
from mapp_export.workbook import SheetOptions
from mapp_export.yaml_source import YamlDocument


@dataclass
class PlannedQueries:
    """The query plans, and what is worth telling the manifest's author."""

    queries: list[QueryPlan] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan_queries(
    section: ManifestSection, document: YamlDocument, run_date: date
) -> PlannedQueries:
    """Plan every query of the manifest, in the manifest's order."""
    requested = [(query.name, query.sheet) for query in section.queries]
    titles = assign_sheet_titles(requested)

    planned = PlannedQueries()
    for index, (query, title) in enumerate(zip(section.queries, titles, strict=True)):
        days = _time_range(query.time or section.defaults.time, run_date)
        if days is not None and days.note:
            planned.notes.append(f"{query.name}: {days.note}")

        location: list[str | int] = ["queries", index]
        report = None
        if query.report is not None:
            report = ReportPlan(query.report, tuple(query.elements or ()))
            body = _report_body(report, days)
        else:
            body = _query_body(query, document, location, planned.warnings)
            body = with_time_range(body, days) if days is not None else body

        expect = query.expect or section.defaults.expect
        planned.queries.append(
            QueryPlan(
                index=index,
                name=query.name,
                sheet_title=title,
                body=body,
                poll=_poll_settings(section.poll, section.defaults.poll, query.poll),
                sheet_options=_sheet_options(section.defaults, query, body),
                line=document.line_of(location),
                time_range=days,
                min_rows=expect.min_rows if expect is not None else None,
                report=report,
            )
        )
    return planned


def _time_range(setting: TimeSetting | None, run_date: date) -> DateRange | None:
    if setting is None:
        return None
    if isinstance(setting, DaysSection):
        return DateRange(parse_day(setting.first), parse_day(setting.last))
    return resolve_keyword(setting, run_date)


def _report_body(report: ReportPlan, days: DateRange | None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": report.report_id}
    if report.element_ids:
        body["elementIds"] = list(report.element_ids)
    if days is not None:
        body["timeFilter"] = days.time_filter()
    return body


def _query_body(
    query: QuerySection,
    document: YamlDocument,
    location: list[str | int],
    warnings: list[str],
) -> dict[str, Any]:
    source_key = "query_file" if query.query_file is not None else "query"
    node = None
    if query.query_file is not None:
        source = document.path.parent / query.query_file
        raw = _read_query_file(source, document, [*location, "query_file"])
    elif isinstance(query.query, str):
        source = document.path
        first_line = document.line_of([*location, "query"]) or 1
        raw = parse_query_json(query.query, document.path, first_line=first_line)
    else:
        source = document.path
        node = document.node_at([*location, "query"])
        raw = query.query

    checked = check_body(raw, node)
    fallback = document.line_of([*location, source_key])
    for unknown in checked.unknown_keys:
        line = unknown.line or (fallback if source == document.path else None)
        warnings.append(_unknown_key_warning(query.name, source, line, unknown))

    try:
        return complete_body(checked.body)
    except ValueError as exc:
        raise document.error(
            [*location, source_key],
            str(exc),
            hint="paste the JSON from Mapp's 'copy JSON', or its queryObject",
        ) from None


def _unknown_key_warning(
    name: str, source: object, line: int | None, unknown: UnknownKey
) -> str:
    where = f"{source}:{line}" if line else str(source)
    if line and unknown.column:
        where += f":{unknown.column}"
    hint = f" (did you mean {unknown.suggestion!r}?)" if unknown.suggestion else ""
    return (
        f"{where}: query {name!r}: {unknown.path!r} is not in Mapp's published "
        f"query schema; it is sent unchanged{hint}"
    )


def _read_query_file(
    path: Any, document: YamlDocument, location: list[str | int]
) -> Any:
    try:
        return read_query_file(path)
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise document.error(
            location,
            f"the query file {str(path)!r} cannot be read: {reason}",
            hint="query_file is relative to the manifest's folder",
        ) from None


def _poll_settings(*layers: PollSection | None) -> PollSettings:
    values: dict[str, float] = {}
    for layer in layers:
        if layer is not None:
            values.update(layer.model_dump(exclude_none=True))
    return PollSettings(**values)


def _sheet_options(
    defaults: SheetSection, query: QuerySection, body: Mapping[str, Any]
) -> SheetOptions:
    def pick(name: str, fallback: Any) -> Any:
        for layer in (query, defaults):
            value = getattr(layer, name)
            if value is not None:
                return value
        return fallback

    return SheetOptions(
        nulls=pick("nulls", "empty"),
        totals=pick("totals", "label"),
        failed_sheet=pick("failed_sheet", "none"),
        columns=dict(pick("columns", {})),
        row_window=row_window(body),
    )
