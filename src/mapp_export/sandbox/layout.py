"""The columns of a result and where its rows and totals fall.

A result's columns follow the query's columns in order. Each gets the alias
``arrangeType|n``, ``n`` counting earlier columns of the same object. When no column
asks for a sort order, the first metric (or the first column) is sorted descending
and the result carries a ``SortingEnforced`` warning, as Mapp does. Ranks are
1-based: a ``lowerLimit`` below 1 is read as 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mapp_export.sandbox.catalogue import CATALOGUE, CatalogueEntry, Role
from mapp_export.sandbox.cells import DimensionSource, draw

DEFAULT_LOWER_LIMIT = 1
"""The first rank of a dimension column that gives no ``lowerLimit``."""

DEFAULT_UPPER_LIMIT = 100
"""The last rank of a dimension column that gives no ``upperLimit``."""


@dataclass(frozen=True)
class Column:
    """One column of a result, as the query asked for it."""

    position: int
    name: str
    entry: CatalogueEntry
    alias: str
    lower: int
    upper: int
    sort_direction: str | None = None
    sort_index: int | None = None
    sort_enforced: bool = False
    leads_sort: bool = False

    @property
    def is_dimension(self) -> bool:
        """Whether the column is a dimension rather than a metric."""
        return self.entry.role is Role.DIMENSION

    @property
    def window(self) -> int:
        """How many ranks the column's limits let through."""
        return max(0, self.upper - self.lower + 1)

    @property
    def leads_sort_with(self) -> str | None:
        """The sort direction when the result is sorted by this column first."""
        return self.sort_direction if self.leads_sort else None


def read_columns(query_object: dict[str, Any]) -> list[Column]:
    """Return the result's columns, with the sorting Mapp would enforce."""
    raw_columns: list[dict[str, Any]] = query_object["columns"]
    enforced = not any(column.get("sortDirection") for column in raw_columns)
    sorted_positions = _sort_order(raw_columns, enforced=enforced)
    seen: dict[str, int] = {}
    columns = []
    for position, raw in enumerate(raw_columns):
        arrange_type = CATALOGUE[raw["name"]].arrange_type
        repeat = seen.get(arrange_type, 0)
        seen[arrange_type] = repeat + 1
        columns.append(
            _column(position, raw, repeat, sorted_positions, enforced=enforced)
        )

    return columns


def _sort_order(raw_columns: list[dict[str, Any]], *, enforced: bool) -> list[int]:
    """Positions of the sorted columns, the one sorted by first leading."""
    if enforced:
        metrics = [
            position
            for position, raw in enumerate(raw_columns)
            if CATALOGUE[raw["name"]].role is Role.METRIC
        ]
        return metrics[:1] or [0]

    sorted_columns = [
        (_sort_index_or(raw, len(raw_columns)), position)
        for position, raw in enumerate(raw_columns)
        if raw.get("sortDirection")
    ]
    return [position for _, position in sorted(sorted_columns)]


def _sort_index_or(raw: dict[str, Any], default: int) -> int:
    """Return the column's ``sortIndex``, or ``default`` when it gives none."""
    index = raw.get("sortIndex")
    return default if index is None else int(index)


def _column(
    position: int,
    raw: dict[str, Any],
    repeat: int,
    sorted_positions: list[int],
    *,
    enforced: bool,
) -> Column:
    """Describe one column from its part of the query."""
    entry = CATALOGUE[raw["name"]]
    direction = raw.get("sortDirection") or None
    index = raw.get("sortIndex")
    if enforced and position in sorted_positions:
        direction, index = "DESCENDING", 0
    if direction is not None and index is None:
        index = sorted_positions.index(position)

    return Column(
        position=position,
        name=raw["name"],
        entry=entry,
        alias=f"{entry.arrange_type}|{repeat}",
        lower=max(1, raw.get("lowerLimit", DEFAULT_LOWER_LIMIT)),
        upper=raw.get("upperLimit", DEFAULT_UPPER_LIMIT),
        sort_direction=direction,
        sort_index=index,
        sort_enforced=enforced and direction is not None,
        leads_sort=bool(sorted_positions) and sorted_positions[0] == position,
    )


@dataclass(frozen=True)
class Group:
    """One group of a pivot result: how many inner ranks, starting where."""

    size: int
    start: int


@dataclass(frozen=True)
class Layout:
    """Where a result's data rows and total rows fall.

    ``lead`` is the first dimension's position (-1 when there is none), ``inner``
    the second's in a grouped pivot. ``groups`` is ``None`` unless the result is a
    pivot with at least two dimensions.
    """

    lead: int = -1
    lead_lower: int = 1
    inner: int = -1
    inner_lower: int = 1
    inner_reach: int = 0
    groups: list[Group] | None = None
    data_rows: int = 1
    has_total: bool = False
    sum_positions: dict[int, list[int]] = field(default_factory=dict)
    pivot_groups: list[int] = field(default_factory=list)

    @property
    def row_count(self) -> int:
        """Every row of the result, totals included."""
        subtotals = len(self.groups) if self.groups is not None else 0
        return self.data_rows + subtotals + int(self.has_total)


def plan_layout(
    columns: Sequence[Column],
    sources: Mapping[int, DimensionSource],
    seed: bytes,
    *,
    pivot: bool,
) -> Layout:
    """Decide how many rows a result has and where its totals are."""
    dimensions = [column for column in columns if column.is_dimension]
    if not dimensions:
        return Layout()

    lead = dimensions[0]
    lead_reach = _reach(lead, sources[lead.position])
    if not pivot or len(dimensions) == 1:
        positions = {lead.position: [lead_reach]} if pivot else {}
        return Layout(
            lead=lead.position,
            lead_lower=lead.lower,
            data_rows=lead_reach,
            has_total=True,
            sum_positions=positions,
        )

    inner = dimensions[1]
    inner_reach = _reach(inner, sources[inner.position])
    groups = [_group(seed, offset, inner_reach) for offset in range(lead_reach)]
    return _grouped_layout(lead, inner, inner_reach, groups)


def _reach(column: Column, source: DimensionSource) -> int:
    """How many ranks of the column's window the data fills."""
    return max(0, min(column.window, source.available - column.lower + 1))


def _group(seed: bytes, offset: int, inner_reach: int) -> Group:
    """Decide the size of one pivot group and the inner rank it starts at."""
    if inner_reach == 0:
        return Group(size=0, start=0)

    fewer = draw(seed, "group", offset) % max(1, inner_reach // 2)
    return Group(size=inner_reach - fewer, start=draw(seed, "start", offset))


def _grouped_layout(
    lead: Column, inner: Column, inner_reach: int, groups: list[Group]
) -> Layout:
    """Lay out a pivot: groups, each closed by a subtotal, then the total."""
    position = 0
    starts: list[int] = []
    subtotals: list[int] = []
    for group in groups:
        starts.append(position)
        position += group.size
        subtotals.append(position)
        position += 1

    return Layout(
        lead=lead.position,
        lead_lower=lead.lower,
        inner=inner.position,
        inner_lower=inner.lower,
        inner_reach=inner_reach,
        groups=groups,
        data_rows=sum(group.size for group in groups),
        has_total=True,
        sum_positions={
            lead.position: [position],
            inner.position: [*subtotals, position],
        },
        pivot_groups=[*starts, position],
    )
