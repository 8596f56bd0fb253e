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
from pathlib import Path
from typing import Any

from mapp_export.body_check import BodyCheck, BodyValueError, UnknownKey, check_body
from mapp_export.dates import DateRange, parse_day, resolve_keyword, with_time_range
from mapp_export.errors import ManifestError
from mapp_export.manifest_model import (
    DaysSection,
    ManifestSection,
    PollSection,
    QuerySection,
    SheetSection,
    TimeSetting,
)
from mapp_export.plan import PollSettings, QueryPlan, ReportPlan
from mapp_export.query_body import complete_body, parse_query_json, row_window
from mapp_export.titles import assign_sheet_titles
from mapp_export.workbook import SheetOptions
from mapp_export.yaml_source import YamlDocument, compose_positions, read_text_file


@dataclass
class PlannedQueries:
    """The query plans, and what is worth telling the manifest's author."""

    queries: list[QueryPlan] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    query_files: list[Path] = field(default_factory=list)


def plan_queries(
    section: ManifestSection, document: YamlDocument, run_date: date
) -> PlannedQueries:
    """Plan every query of the manifest, in the manifest's order."""
    requested = [(query.name, query.sheet) for query in section.queries]
    titles = assign_sheet_titles(requested)

    planned = PlannedQueries()
    for index, (query, title) in enumerate(zip(section.queries, titles, strict=True)):
        location: list[str | int] = ["queries", index]
        days = _time_range(query, section.defaults, run_date, document, location)
        if days is not None and days.note:
            planned.notes.append(f"{query.name}: {days.note}")

        report = None
        if query.report is not None:
            report = ReportPlan(query.report, tuple(query.elements or ()))
            body = _report_body(report, days)
        else:
            body = _query_body(query, document, location, planned)
            body = with_time_range(body, days) if days is not None else body

        expect = query.expect or section.defaults.expect
        planned.queries.append(
            QueryPlan(
                index=index,
                name=query.name,
                sheet_title=title,
                body=body,
                poll=_poll_settings(section, query, document, location),
                sheet_options=_sheet_options(section.defaults, query, body),
                line=document.line_of(location),
                time_range=days,
                min_rows=expect.min_rows if expect is not None else None,
                report=report,
            )
        )
    return planned


def _time_range(
    query: QuerySection,
    defaults: SheetSection,
    run_date: date,
    document: YamlDocument,
    location: list[str | int],
) -> DateRange | None:
    setting: TimeSetting | None = query.time or defaults.time
    if setting is None:
        return None
    if isinstance(setting, DaysSection):
        return DateRange(parse_day(setting.first), parse_day(setting.last))

    try:
        return resolve_keyword(setting, run_date)
    except ValueError as exc:
        where = [*location, "time"] if query.time else ["defaults", "time"]
        raise document.error(
            where,
            f"query {query.name!r}: {exc}",
            hint="pass a --date the days before which exist, such as 2026-12-04",
        ) from None


def _report_body(report: ReportPlan, days: DateRange | None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": report.report_id}
    if report.element_ids:
        body["elementIds"] = list(report.element_ids)
    if days is not None:
        body["timeFilter"] = days.time_filter()
    return body


@dataclass(frozen=True)
class _Source:
    """Where a query body was written: the file, and its JSON text if JSON."""

    path: Path
    json_text: str | None = None
    first_line: int = 1


def _query_body(
    query: QuerySection,
    document: YamlDocument,
    location: list[str | int],
    planned: PlannedQueries,
) -> dict[str, Any]:
    source_key = "query_file" if query.query_file is not None else "query"
    node = None
    if query.query_file is not None:
        path = document.path.parent / query.query_file
        text = _read_query_file(path, document, [*location, "query_file"])
        planned.query_files.append(path)
        source = _Source(path, text)
        raw = parse_query_json(text, path, first_line=1)
    elif isinstance(query.query, str):
        first_line = document.line_of([*location, "query"]) or 1
        source = _Source(document.path, query.query, first_line)
        raw = parse_query_json(query.query, document.path, first_line=first_line)
    else:
        source = _Source(document.path)
        node = document.node_at([*location, "query"])
        raw = query.query

    checked = _check_body(raw, node, source, query.name)
    fallback = document.line_of([*location, source_key])
    for unknown in checked.unknown_keys:
        line = unknown.line or (fallback if source.path == document.path else None)
        planned.warnings.append(
            _unknown_key_warning(query.name, source.path, line, unknown)
        )

    try:
        return complete_body(checked.body)
    except ValueError as exc:
        raise document.error(
            [*location, source_key],
            str(exc),
            hint="paste the JSON from Mapp's 'copy JSON', or its queryObject",
        ) from None


def _check_body(raw: Any, node: Any, source: _Source, name: str) -> BodyCheck:
    """Check the body; refuse a wrong value at its file, line and column.

    A JSON body carries no positions; when one of its values is wrong, the
    JSON is read again as YAML to find where that value was written.
    """
    try:
        return check_body(raw, node)
    except BodyValueError as exc:
        problem = exc
    if problem.line is None and source.json_text is not None:
        located = compose_positions(source.json_text)
        try:
            check_body(raw, located)
        except BodyValueError as again:
            problem = again

    line = problem.line
    if line is not None:
        line += source.first_line - 1
    raise ManifestError(
        f"query {name!r}: {problem.message}",
        path=source.path,
        line=line,
        column=problem.column if line is not None else None,
        hint=problem.hint,
    )


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
    path: Path, document: YamlDocument, location: list[str | int]
) -> str:
    try:
        return read_text_file(path, what="query file")
    except ManifestError as exc:
        hint = exc.hint or "query_file is relative to the manifest's folder"
        raise document.error(
            location, f"{exc.reason}: {str(path)!r}", hint=hint
        ) from None


def _poll_settings(
    section: ManifestSection,
    query: QuerySection,
    document: YamlDocument,
    location: list[str | int],
) -> PollSettings:
    """Layer the poll settings (query over defaults over top level) and check them."""
    layers: list[tuple[PollSection | None, list[str | int]]] = [
        (section.poll, ["poll"]),
        (section.defaults.poll, ["defaults", "poll"]),
        (query.poll, [*location, "poll"]),
    ]
    values: dict[str, float] = {}
    where: list[str | int] = ["poll"]
    for layer, layer_location in layers:
        if layer is not None and layer.model_fields_set:
            values.update(layer.model_dump(exclude_none=True))
            where = layer_location

    settings = PollSettings(**values)
    if settings.max_interval < settings.initial:
        raise document.error(
            where,
            f"query {query.name!r}: poll max_interval ({settings.max_interval:g}s) "
            f"is below poll initial ({settings.initial:g}s)",
            hint="make max_interval at least initial; the interval grows from "
            "initial up to max_interval",
        )
    return settings


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
