"""The manifest's shape: every key it may hold, its type and its default.

These pydantic models only describe and check; :mod:`mapp_export.manifest`
turns a checked manifest into a plan.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictInt,
    Tag,
    WithJsonSchema,
    model_validator,
)

from mapp_export.dates import TimeKeyword, check_end, load_timezone, parse_day
from mapp_export.durations import parse_duration
from mapp_export.settings import LEGACY_BASE_URL, first_control_character

Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^\s*[0-9.]+\s*(ms|s|m|h)?\s*$"},
            ],
            "description": "200ms, 0.5s, 30s, 30m, 1h, or a number of seconds",
        }
    ),
]
NonEmptyText = Annotated[str, Field(min_length=1)]
PositiveDuration = Annotated[Duration, Field(gt=0)]


def control_character_problem(text: str) -> str | None:
    """Say which control character ``text`` holds and where, or ``None``."""
    index = first_control_character(text)
    if index is None:
        return None
    return (
        f"contains the control character U+{ord(text[index]):04X} at position "
        f"{index + 1}; remove it (names and paths are plain text)"
    )


def _no_control_characters(text: str) -> str:
    problem = control_character_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text


def _query_text_or_mapping(value: Any) -> Any:
    if value is None or isinstance(value, str | dict):
        return value
    message = (
        "the query must be a mapping (the request body, or its queryObject) or "
        "the JSON text of Mapp's 'copy JSON'"
    )
    raise ValueError(message)


PlainText = Annotated[NonEmptyText, AfterValidator(_no_control_characters)]


def _check_day(text: str) -> str:
    parse_day(text)
    return text


def _check_timezone(name: str) -> str:
    load_timezone(name)
    return name


Day = Annotated[
    str,
    AfterValidator(_check_day),
    WithJsonSchema({"type": "string", "format": "date"}),
]
TimezoneName = Annotated[
    str,
    AfterValidator(_check_timezone),
    WithJsonSchema(
        {"type": "string", "description": "an IANA time zone, e.g. Europe/Berlin"}
    ),
]


class Section(BaseModel):
    """A block of the manifest: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiSection(Section):
    """The ``api:`` block."""

    base_url: NonEmptyText = LEGACY_BASE_URL
    token_url: NonEmptyText | None = None
    scope: str | None = None
    trusted_hosts: list[NonEmptyText] = Field(default_factory=list)


class PollSection(Section):
    """How a running calculation is polled, and how long it may take.

    Every value must be above zero; that ``max_interval`` is at least
    ``initial`` is checked once the layers are combined.
    """

    initial: PositiveDuration | None = None
    max_interval: PositiveDuration | None = None
    timeout: PositiveDuration | None = None


class RetrySection(Section):
    """How a request that failed transiently is retried (see ``RetryPolicy``)."""

    attempts: int | None = Field(default=None, ge=1, le=100)
    initial: Duration | None = None
    max_interval: Duration | None = None
    total: Duration | None = None
    max_retry_after: Duration | None = None


class DaysSection(Section):
    """Fixed days for ``time:``, both included: ``{from: 2026-12-01, to: ...}``."""

    model_config = ConfigDict(populate_by_name=True)

    first: Day = Field(alias="from")
    last: Day = Field(alias="to")

    @model_validator(mode="after")
    def _in_order(self) -> DaysSection:
        if parse_day(self.last) < parse_day(self.first):
            message = f"'to' ({self.last}) is before 'from' ({self.first})"
            raise ValueError(message)
        check_end(parse_day(self.last))
        return self


def _time_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "keyword"
    if isinstance(value, dict | DaysSection):
        return "days"
    return None


TimeSetting = Annotated[
    Annotated[TimeKeyword, Tag("keyword")] | Annotated[DaysSection, Tag("days")],
    Discriminator(
        _time_kind,
        custom_error_type="time_setting",
        custom_error_message=(
            "write a keyword (yesterday, last_7_days, last_30_days, "
            "month_to_date, previous_month) or {from: YYYY-MM-DD, to: YYYY-MM-DD}"
        ),
    ),
]


class ExpectSection(Section):
    """What a good result looks like; a result that falls short fails the query."""

    min_rows: StrictInt = Field(ge=0)


class SheetSection(Section):
    """Settings shared by ``defaults`` and each query; a query's own win."""

    poll: PollSection | None = None
    nulls: Literal["empty", "zero"] | None = None
    totals: Literal["label", "keep", "drop"] | None = None
    failed_sheet: Literal["none", "placeholder"] | None = None
    columns: dict[NonEmptyText, NonEmptyText] | None = None
    time: TimeSetting | None = None
    expect: ExpectSection | None = None


class QuerySection(SheetSection):
    """One entry of ``queries:``."""

    name: PlainText
    query: Annotated[
        dict[str, Any] | str | None, BeforeValidator(_query_text_or_mapping)
    ] = None
    query_file: PlainText | None = None
    report: StrictInt | None = Field(default=None, ge=1)
    elements: list[Annotated[StrictInt, Field(ge=1)]] | None = Field(
        default=None, min_length=1
    )
    sheet: NonEmptyText | None = None

    @model_validator(mode="after")
    def _one_source(self) -> QuerySection:
        sources = [self.query, self.query_file, self.report]
        if sum(source is not None for source in sources) != 1:
            message = (
                "give exactly one of 'query' (inline), 'query_file' or "
                "'report' (a saved report's id)"
            )
            raise ValueError(message)
        if self.elements is not None and self.report is None:
            message = "'elements' picks elements of a saved report; add 'report:'"
            raise ValueError(message)
        return self


class ManifestSection(Section):
    """The whole manifest file."""

    api: ApiSection = Field(default_factory=ApiSection)
    output: PlainText
    timezone: TimezoneName | None = None
    concurrency: int = Field(default=8, ge=1, le=1000)
    poll: PollSection = Field(default_factory=PollSection)
    retry: RetrySection = Field(default_factory=RetrySection)
    run_timeout: PositiveDuration | None = None
    defaults: SheetSection = Field(default_factory=SheetSection)
    queries: list[QuerySection] = Field(min_length=1)
