"""The manifest: a YAML file of named Mapp queries, loaded into a run plan.

Loading checks everything that can be checked without the network: the YAML,
every key and value, the query files, and the sheet titles. Any problem is a
:class:`~mapp_export.errors.ManifestError` naming the file, line and column,
raised before a single request is sent.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from mapp_export.durations import parse_duration
from mapp_export.errors import ManifestError
from mapp_export.settings import (
    KNOWN_MAPP_HOSTS,
    LEGACY_BASE_URL,
    ApiSettings,
    Overrides,
    check_url,
    default_token_url,
)
from mapp_export.titles import assign_sheet_titles, sheet_title_problem
from mapp_export.workbook import SheetOptions
from mapp_export.yaml_source import YamlDocument, load_yaml

Duration = Annotated[float, BeforeValidator(parse_duration)]
NonEmptyText = Annotated[str, Field(min_length=1)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class ApiSection(_Section):
    """The ``api:`` block."""

    base_url: NonEmptyText = LEGACY_BASE_URL
    token_url: NonEmptyText | None = None
    scope: str | None = None
    trusted_hosts: list[NonEmptyText] = Field(default_factory=list)


class PollSection(_Section):
    """How a running calculation is polled, and how long it may take."""

    initial: Duration | None = None
    max_interval: Duration | None = None
    timeout: Duration | None = None


class SheetSection(_Section):
    """Settings of how a result becomes a sheet, shared by defaults and queries."""

    poll: PollSection | None = None
    nulls: Literal["empty", "zero"] | None = None
    totals: Literal["label", "keep", "drop"] | None = None
    failed_sheet: Literal["none", "placeholder"] | None = None
    columns: dict[NonEmptyText, NonEmptyText] | None = None


class QuerySection(SheetSection):
    """One entry of ``queries:``."""

    name: NonEmptyText
    query: dict[str, Any] | str | None = None
    query_file: NonEmptyText | None = None
    sheet: NonEmptyText | None = None

    @model_validator(mode="after")
    def _one_source(self) -> QuerySection:
        if (self.query is None) == (self.query_file is None):
            message = "give exactly one of 'query' (inline) or 'query_file'"
            raise ValueError(message)
        return self


class ManifestSection(_Section):
    """The whole manifest file."""

    api: ApiSection = Field(default_factory=ApiSection)
    output: NonEmptyText
    concurrency: int = Field(default=8, ge=1, le=1000)
    poll: PollSection = Field(default_factory=PollSection)
    defaults: SheetSection = Field(default_factory=SheetSection)
    queries: list[QuerySection] = Field(min_length=1)


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

    base_folder = path.parent
    api = _resolve_api(section.api, overrides, document)
    output = overrides.output or (base_folder / section.output)
    queries = _plan_queries(section, document, base_folder)

    return Plan(
        manifest_path=path,
        api=api,
        output=output,
        concurrency=section.concurrency,
        queries=queries,
    )


def _validate(document: YamlDocument) -> ManifestSection:
    if not isinstance(document.data, Mapping):
        raise ManifestError(
            "the manifest must be a mapping with 'output' and 'queries'",
            path=document.path,
            line=1,
            hint="start from config/example.yaml",
        )

    try:
        section = ManifestSection.model_validate(document.data)
    except ValidationError as exc:
        raise _translate(exc, document) from None

    _reject_duplicate_names(section, document)
    return section


def _translate(exc: ValidationError, document: YamlDocument) -> ManifestError:
    problems = [_problem(error, document) for error in exc.errors()]
    first, *others = problems
    first.others = tuple(others)
    return first


def _problem(error: Any, document: YamlDocument) -> ManifestError:
    location = [step for step in error["loc"] if not _is_union_tag(step)]
    kind = error["type"]
    where = _dotted(location)

    if kind == "extra_forbidden":
        key = str(location[-1])
        position = document.key_position(location)
        message = f"unknown key {key!r}" + (
            f" in {_dotted(location[:-1])}" if len(location) > 1 else ""
        )
        hint = _suggest(key, location[:-1])
    elif kind == "missing":
        position = document.position(location[:-1])
        message = f"missing key {str(location[-1])!r}" + (
            f" in {_dotted(location[:-1])}" if len(location) > 1 else ""
        )
        hint = _MISSING_HINTS.get(str(location[-1]))
    else:
        position = document.position(location)
        message = f"{where}: {_message(error)}"
        hint = _value_hint(error)

    line, column = position if position else (None, None)
    return ManifestError(
        message, path=document.path, line=line, column=column, hint=hint
    )


def _is_union_tag(step: object) -> bool:
    return isinstance(step, str) and ("[" in step or step in {"str", "dict[str,any]"})


def _dotted(location: Sequence[object]) -> str:
    text = ""
    for step in location:
        text += (
            f"[{step}]"
            if isinstance(step, int)
            else (f".{step}" if text else str(step))
        )
    return text or "the manifest"


def _message(error: Any) -> str:
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _value_hint(error: Any) -> str | None:
    if error["type"] in {"string_type"} and isinstance(
        error.get("input"), bool | int | float
    ):
        return (
            "YAML read this as a number or true/false; put it in quotes to keep it text"
        )
    if error["type"] == "literal_error":
        return f"write one of {error['ctx']['expected']}"
    return None


_MISSING_HINTS = {
    "output": "add 'output: output/report.xlsx' (relative to the manifest's folder)",
    "queries": "add a 'queries:' list with at least one '- name: ...' entry",
    "name": "give every query a 'name:'; it becomes the sheet title",
}


def _suggest(key: str, parent: Sequence[object]) -> str:
    valid = sorted(_valid_keys(parent))
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return "valid keys here: " + ", ".join(valid)


def _valid_keys(parent: Sequence[object]) -> set[str]:
    model: type[BaseModel] = ManifestSection
    for step in parent:
        if isinstance(step, int):
            continue
        field_info = model.model_fields.get(str(step))
        nested = _model_of(field_info.annotation) if field_info else None
        if nested is None:
            return set()
        model = nested
    return set(model.model_fields)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    candidates = [annotation, *getattr(annotation, "__args__", ())]
    for candidate in candidates:
        inner = getattr(candidate, "__args__", ())
        for option in [candidate, *inner]:
            if isinstance(option, type) and issubclass(option, BaseModel):
                return option
    return None


def _reject_duplicate_names(section: ManifestSection, document: YamlDocument) -> None:
    seen: dict[str, int] = {}
    for index, query in enumerate(section.queries):
        key = query.name.strip().casefold()
        if key in seen:
            position = document.position(["queries", index, "name"])
            first = document.position(["queries", seen[key], "name"])
            line, column = position if position else (None, None)
            raise ManifestError(
                f"the query name {query.name!r} is used twice"
                + (f" (first on line {first[0]})" if first else ""),
                path=document.path,
                line=line,
                column=column,
                hint="give each query its own name; names become sheet titles",
            )
        seen[key] = index


def _resolve_api(
    section: ApiSection, overrides: Overrides, document: YamlDocument
) -> ApiSettings:
    line_of = _line_finder(document)

    if overrides.base_url:
        base_url = check_url(overrides.base_url, source=overrides.base_url_source)
    else:
        base_url = check_url(
            section.base_url, source=document.path, line=line_of(["api", "base_url"])
        )

    default_url, default_scope = default_token_url(base_url)
    if overrides.token_url:
        token_url = check_url(overrides.token_url, source=overrides.token_url_source)
    elif section.token_url:
        token_url = check_url(
            section.token_url, source=document.path, line=line_of(["api", "token_url"])
        )
    else:
        token_url = default_url

    scope = section.scope if "scope" in section.model_fields_set else default_scope
    trusted = _trusted_hosts(base_url, token_url, section.trusted_hosts)
    return ApiSettings(
        base_url=base_url,
        token_url=token_url,
        scope=scope or None,
        trusted_hosts=trusted,
    )


def _trusted_hosts(
    base_url: str, token_url: str, extra: Sequence[str]
) -> tuple[str, ...]:
    from urllib.parse import urlsplit

    hosts = [
        urlsplit(base_url).netloc,
        urlsplit(token_url).netloc,
        *KNOWN_MAPP_HOSTS,
        *extra,
    ]
    return tuple(dict.fromkeys(host.lower() for host in hosts))


def _line_finder(document: YamlDocument) -> Any:
    def line_of(location: Sequence[str | int]) -> int | None:
        position = document.position(location)
        return position[0] if position else None

    return line_of


def _plan_queries(
    section: ManifestSection, document: YamlDocument, base_folder: Path
) -> tuple[QueryPlan, ...]:
    _check_explicit_titles(section, document)
    titles = assign_sheet_titles(
        [(query.name, query.sheet) for query in section.queries]
    )

    plans = []
    for index, (query, title) in enumerate(zip(section.queries, titles, strict=True)):
        location: list[str | int] = ["queries", index]
        position = document.position(location)
        body = _query_body(query, document, base_folder, location)
        plans.append(
            QueryPlan(
                index=index,
                name=query.name,
                sheet_title=title,
                body=body,
                poll=_poll_settings(section.poll, section.defaults.poll, query.poll),
                sheet_options=_sheet_options(section.defaults, query, body),
                line=position[0] if position else None,
            )
        )
    return tuple(plans)


def _check_explicit_titles(section: ManifestSection, document: YamlDocument) -> None:
    for index, query in enumerate(section.queries):
        if query.sheet is None:
            continue
        problem = sheet_title_problem(query.sheet)
        if problem is not None:
            position = document.position(["queries", index, "sheet"])
            line, column = position if position else (None, None)
            raise ManifestError(
                f"the sheet title {query.sheet!r} cannot be used: {problem}",
                path=document.path,
                line=line,
                column=column,
                hint="choose another 'sheet:' title, or leave it out to derive one",
            )


def _poll_settings(*layers: PollSection | None) -> PollSettings:
    values: dict[str, float] = {}
    for layer in layers:
        if layer is None:
            continue
        values.update(layer.model_dump(exclude_none=True))
    return PollSettings(**values)


def _sheet_options(
    defaults: SheetSection, query: QuerySection, body: Mapping[str, Any]
) -> SheetOptions:
    def pick(name: str, fallback: Any) -> Any:
        value = getattr(query, name)
        if value is None:
            value = getattr(defaults, name)
        return fallback if value is None else value

    return SheetOptions(
        nulls=pick("nulls", "empty"),
        totals=pick("totals", "label"),
        failed_sheet=pick("failed_sheet", "none"),
        columns=dict(pick("columns", {})),
        row_window=_row_window(body),
    )


def _row_window(body: Mapping[str, Any]) -> int | None:
    """Return how many rows the first limited column lets the API return."""
    columns = body.get("queryObject", {}).get("columns", [])
    for column in columns if isinstance(columns, list) else []:
        if not isinstance(column, Mapping) or "upperLimit" not in column:
            continue
        upper, lower = column.get("upperLimit"), column.get("lowerLimit", 1)
        if isinstance(upper, int) and isinstance(lower, int) and upper >= lower:
            return upper - lower + 1
    return None


def _query_body(
    query: QuerySection,
    document: YamlDocument,
    base_folder: Path,
    location: list[str | int],
) -> dict[str, Any]:
    if query.query_file is not None:
        source: Path | str = base_folder / query.query_file
        raw = _read_query_file(Path(source), document, [*location, "query_file"])
    elif isinstance(query.query, str):
        source = document.path
        raw = _parse_json(
            query.query, document.path, document.position([*location, "query"])
        )
    else:
        source = document.path
        raw = query.query

    return _normalise_body(raw, source, document.position([*location, "query"]))


def _read_query_file(
    path: Path, document: YamlDocument, location: list[str | int]
) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        position = document.position(location)
        line, column = position if position else (None, None)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ManifestError(
            f"the query file {str(path)!r} cannot be read: {reason}",
            path=document.path,
            line=line,
            column=column,
            hint="query_file is relative to the manifest's folder",
        ) from exc

    return _parse_json(text, path, (1, 1))


def _parse_json(text: str, source: Path, origin: tuple[int, int] | None) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        line = exc.lineno + (origin[0] if origin else 1) - 1
        raise ManifestError(
            f"the query is not valid JSON: {exc.msg}",
            path=source,
            line=line,
            column=exc.colno,
            hint="paste the JSON exactly as Mapp's 'copy JSON' gives it",
        ) from exc
    except _DuplicateKeyError as exc:
        raise ManifestError(
            f"the query JSON has the key {exc.key!r} twice in one object",
            path=source,
            line=origin[0] if origin else None,
            hint="keep one of them",
        ) from exc


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _normalise_body(
    raw: Any, source: Path | str, position: tuple[int, int] | None
) -> dict[str, Any]:
    """Accept Mapp's full request body or a bare ``queryObject``."""
    line, column = position if position else (None, None)
    if not isinstance(raw, Mapping):
        raise ManifestError(
            "the query must be a JSON object",
            path=source,
            line=line,
            column=column,
            hint="paste the JSON from Mapp's 'copy JSON', or its queryObject",
        )

    if "queryObject" in raw:
        body = dict(raw)
        body.setdefault("resultType", "DATA_ONLY")
    else:
        body = {"resultType": "DATA_ONLY", "queryObject": dict(raw)}

    if not isinstance(body["queryObject"], Mapping) or not body["queryObject"]:
        raise ManifestError(
            "the queryObject is empty or not an object",
            path=source,
            line=line,
            column=column,
            hint="it needs at least 'columns' and a time filter",
        )
    return body
