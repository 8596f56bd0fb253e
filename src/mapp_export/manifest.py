"""The manifest: a YAML file of named Mapp queries, loaded into a run plan.

Loading checks everything that can be checked without the network: the YAML,
every key and value, the query files, and the sheet titles. Any problem is a
:class:`~mapp_export.errors.ManifestError` naming the file, line and column,
raised before a single request is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from mapp_export.manifest_errors import translate_validation_error
from mapp_export.manifest_model import (
    ApiSection,
    ManifestSection,
    PollSection,
    QuerySection,
    SheetSection,
)
from mapp_export.query_body import (
    complete_body,
    parse_query_json,
    read_query_file,
    row_window,
)
from mapp_export.settings import (
    KNOWN_MAPP_HOSTS,
    ApiSettings,
    Overrides,
    check_url,
    default_token_url,
)
from mapp_export.titles import assign_sheet_titles, sheet_title_problem
from mapp_export.workbook import SheetOptions
from mapp_export.yaml_source import YamlDocument, load_yaml


@dataclass(frozen=True)
class PollSettings:
    """Backoff bounds while a calculation runs, and its deadline, in seconds."""

    initial: float = 1.0
    max_interval: float = 30.0
    timeout: float = 1800.0


@dataclass(frozen=True)
class QueryPlan:
    """One query ready to run: its body, sheet title and settings."""

    index: int
    name: str
    sheet_title: str
    body: dict[str, Any]
    poll: PollSettings
    sheet_options: SheetOptions
    line: int | None = None


@dataclass(frozen=True)
class Plan:
    """Everything a run needs, resolved from the manifest and its overrides."""

    manifest_path: Path
    api: ApiSettings
    output: Path
    concurrency: int
    queries: tuple[QueryPlan, ...]


def load_plan(path: Path, overrides: Overrides | None = None) -> Plan:
    """Load and check the manifest at ``path`` and resolve it into a plan."""
    overrides = overrides or Overrides()
    document = load_yaml(path)
    section = _validate(document)

    return Plan(
        manifest_path=path,
        api=_resolve_api(section.api, overrides, document),
        output=overrides.output or (path.parent / section.output),
        concurrency=section.concurrency,
        queries=_plan_queries(section, document),
    )


def _validate(document: YamlDocument) -> ManifestSection:
    if not isinstance(document.data, Mapping):
        raise document.error(
            [],
            "the manifest must be a mapping with 'output' and 'queries'",
            hint="start from config/example.yaml",
        )

    try:
        section = ManifestSection.model_validate(document.data)
    except ValidationError as exc:
        raise translate_validation_error(exc, document, ManifestSection) from None

    _reject_duplicate_names(section, document)
    _check_explicit_titles(section, document)
    return section


def _reject_duplicate_names(section: ManifestSection, document: YamlDocument) -> None:
    first_of: dict[str, int] = {}
    for index, query in enumerate(section.queries):
        key = query.name.strip().casefold()
        if key not in first_of:
            first_of[key] = index
            continue

        first_line = document.line_of(["queries", first_of[key], "name"])
        raise document.error(
            ["queries", index, "name"],
            f"the query name {query.name!r} is used twice (first on line {first_line})",
            hint="give each query its own name; names become sheet titles",
        )


def _check_explicit_titles(section: ManifestSection, document: YamlDocument) -> None:
    for index, query in enumerate(section.queries):
        problem = sheet_title_problem(query.sheet) if query.sheet else None
        if problem is None:
            continue

        raise document.error(
            ["queries", index, "sheet"],
            f"the sheet title {query.sheet!r} cannot be used: {problem}",
            hint="choose another 'sheet:' title, or leave it out to derive one",
        )


def _resolve_api(
    section: ApiSection, overrides: Overrides, document: YamlDocument
) -> ApiSettings:
    if overrides.base_url:
        base_url = check_url(overrides.base_url, source=overrides.base_url_source)
    else:
        line = document.line_of(["api", "base_url"])
        base_url = check_url(section.base_url, source=document.path, line=line)

    default_url, default_scope = default_token_url(base_url)
    if overrides.token_url:
        token_url = check_url(overrides.token_url, source=overrides.token_url_source)
    elif section.token_url:
        line = document.line_of(["api", "token_url"])
        token_url = check_url(section.token_url, source=document.path, line=line)
    else:
        token_url = default_url

    scope = section.scope if "scope" in section.model_fields_set else default_scope
    return ApiSettings(
        base_url=base_url,
        token_url=token_url,
        scope=scope or None,
        trusted_hosts=_trusted_hosts(base_url, token_url, section.trusted_hosts),
    )


def _trusted_hosts(
    base_url: str, token_url: str, extra: Sequence[str]
) -> tuple[str, ...]:
    configured = [urlsplit(base_url).netloc, urlsplit(token_url).netloc]
    hosts = [*configured, *KNOWN_MAPP_HOSTS, *extra]
    return tuple(dict.fromkeys(host.lower() for host in hosts))


def _plan_queries(
    section: ManifestSection, document: YamlDocument
) -> tuple[QueryPlan, ...]:
    requested = [(query.name, query.sheet) for query in section.queries]
    titles = assign_sheet_titles(requested)

    plans = []
    for index, (query, title) in enumerate(zip(section.queries, titles, strict=True)):
        body = _query_body(query, document, ["queries", index])
        plans.append(
            QueryPlan(
                index=index,
                name=query.name,
                sheet_title=title,
                body=body,
                poll=_poll_settings(section.poll, section.defaults.poll, query.poll),
                sheet_options=_sheet_options(section.defaults, query, body),
                line=document.line_of(["queries", index]),
            )
        )
    return tuple(plans)


def _query_body(
    query: QuerySection, document: YamlDocument, location: list[str | int]
) -> dict[str, Any]:
    if query.query_file is not None:
        raw = _read_query_file(query.query_file, document, [*location, "query_file"])
    elif isinstance(query.query, str):
        first_line = document.line_of([*location, "query"]) or 1
        raw = parse_query_json(query.query, document.path, first_line=first_line)
    else:
        raw = query.query

    try:
        return complete_body(raw)
    except ValueError as exc:
        raise document.error(
            [*location, "query_file" if query.query_file else "query"],
            str(exc),
            hint="paste the JSON from Mapp's 'copy JSON', or its queryObject",
        ) from None


def _read_query_file(
    relative: str, document: YamlDocument, location: list[str | int]
) -> Any:
    path = document.path.parent / relative
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
