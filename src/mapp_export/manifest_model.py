"""The manifest's shape: every key it may hold, its type and its default.

These pydantic models only describe and check; :mod:`mapp_export.manifest`
turns a checked manifest into a plan.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from mapp_export.durations import parse_duration
from mapp_export.settings import LEGACY_BASE_URL

Duration = Annotated[float, BeforeValidator(parse_duration)]
NonEmptyText = Annotated[str, Field(min_length=1)]


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
    """How a running calculation is polled, and how long it may take."""

    initial: Duration | None = None
    max_interval: Duration | None = None
    timeout: Duration | None = None


class SheetSection(Section):
    """How a result becomes a sheet; shared by ``defaults`` and each query."""

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


class ManifestSection(Section):
    """The whole manifest file."""

    api: ApiSection = Field(default_factory=ApiSection)
    output: NonEmptyText
    concurrency: int = Field(default=8, ge=1, le=1000)
    poll: PollSection = Field(default_factory=PollSection)
    defaults: SheetSection = Field(default_factory=SheetSection)
    queries: list[QuerySection] = Field(min_length=1)
