"""Deterministic results shaped like Mapp's, built row by row.

The seed of a result is a hash of the query's canonical JSON with the columns'
``lowerLimit`` and ``upperLimit`` left out, so two windows of one query are two
slices of the same data. Rows are a generator, so a result of millions of rows is
streamed out without being held whole.

A LIST result has one row per rank of its first dimension inside that column's
window (fewer when the data holds fewer values) and ends with a grand total whose
dimension cells are ``"0000000000"``. A PIVOT result groups its rows by the first
dimension: each group ends with a subtotal whose second dimension is ``null``, and
the last row is the grand total with every dimension ``null``; their positions are
listed in the dimension headers' ``sumPositions``. ``PIVOT_AS_LIST`` and
``COMPARISON`` are built like LIST.

.. note::
   Which header flag does not apply (``metric`` of a dimension, ``dimension`` of a
   metric) is ``null`` for some queries and ``false`` for others, as both are seen.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, timedelta
from typing import Any

from mapp_export.sandbox.cells import DimensionSource, Metric, MetricSource, Totals
from mapp_export.sandbox.layout import Column, Group, plan_layout, read_columns
from mapp_export.sandbox.queries import (
    MalformedQueryError,
    canonical_json,
    check_shape,
    query_errors,
    query_object_of,
)
from mapp_export.sandbox.timerange import resolve_time_range

LIST_TOTAL = "0000000000"
"""The dimension value of the grand total row of a LIST result."""

_ROWS_PER_CHUNK = 1000


def build_result(body: dict[str, Any]) -> dict[str, Any]:
    """Return the result the sandbox serves for this query, whole.

    ``body`` is a full ``{"resultType", "queryObject"}`` body or a bare query
    object. Raises :class:`ValueError` for a query the sandbox would refuse.
    """
    plan = ResultPlan(query_object_of(body))
    return {
        "calculationDataType": "RAW_DATA",
        "rows": list(plan.rows()),
        **plan.summary(),
    }


def iter_result_text(body: dict[str, Any]) -> Iterator[str]:
    """Yield the JSON text of :func:`build_result`'s answer in chunks of rows."""
    plan = ResultPlan(query_object_of(body))
    yield '{"calculationDataType": "RAW_DATA", "rows": ['

    batch: list[str] = []
    separator = ""
    for row in plan.rows():
        batch.append(json.dumps(row))
        if len(batch) == _ROWS_PER_CHUNK:
            yield separator + ", ".join(batch)
            separator = ", "
            batch = []

    if batch:
        yield separator + ", ".join(batch)

    yield "], " + json.dumps(plan.summary())[1:]


def query_seed(query_object: dict[str, Any]) -> bytes:
    """Return the seed of a query's data: its canonical JSON without limits, hashed."""
    unlimited = dict(query_object)
    unlimited["columns"] = [
        {key: value for key, value in column.items() if not key.endswith("Limit")}
        for column in query_object.get("columns") or []
    ]
    return hashlib.sha256(canonical_json(unlimited).encode()).digest()


class ResultPlan:
    """Everything about one result that can be known before its rows are made."""

    def __init__(self, query_object: dict[str, Any]) -> None:
        """Plan the result of a query; raise :class:`ValueError` if it is refused."""
        check_shape(query_object)
        errors = query_errors(query_object)
        if errors:
            names = ", ".join(error["name"] for error in errors)
            raise MalformedQueryError(f"The sandbox refuses this query: {names}.")

        self.seed = query_seed(query_object)
        self.time_range = resolve_time_range(query_object)
        self.columns = read_columns(query_object)
        self.pivot = query_object.get("variant") == "PIVOT"
        self.dimension_sources = {
            column.position: self._dimension_source(column)
            for column in self.columns
            if column.is_dimension
        }
        self.metric_sources = {
            column.position: self._metric_source(column)
            for column in self.columns
            if not column.is_dimension
        }
        self.layout = plan_layout(
            self.columns, self.dimension_sources, self.seed, pivot=self.pivot
        )
        self.null_flag = None if self.seed[0] % 2 else False

    def _dimension_source(self, column: Column) -> DimensionSource:
        """Prepare a dimension column's values, days ranked by its sort direction."""
        days = self.time_range.days
        if column.sort_direction != "ASCENDING":
            days.reverse()

        return DimensionSource(column.entry, self._column_seed(column), days)

    def _metric_source(self, column: Column) -> MetricSource:
        """Prepare a metric column's values, ranked when a LIST is sorted by it."""
        direction = None if self.pivot else column.leads_sort_with
        return MetricSource(column.entry, self._column_seed(column), direction)

    def _column_seed(self, column: Column) -> bytes:
        """Return a seed of the column's own."""
        return self.seed + column.position.to_bytes(2, "big")

    def rows(self) -> Iterator[list[Any]]:
        """Yield every row, totals included, in order."""
        if self.layout.groups is not None:
            yield from self._grouped_rows(self.layout.groups)
        else:
            yield from self._ranked_rows()

    def _ranked_rows(self) -> Iterator[list[Any]]:
        """Rows ranked by the first dimension, then the grand total."""
        totals = self._totals()
        lower = self.layout.lead_lower
        for rank in range(lower, lower + self.layout.data_rows):
            row = self._row(rank, self.layout.lead, rank)
            totals.add(self._metrics_of(row))
            yield row

        if self.layout.has_total:
            marker = None if self.pivot else LIST_TOTAL
            yield self._total_row(totals, dict.fromkeys(self.dimension_sources, marker))

    def _grouped_rows(self, groups: list[Group]) -> Iterator[list[Any]]:
        """Rows grouped by the first dimension with subtotals, then the grand total."""
        layout = self.layout
        lead_source = self.dimension_sources[layout.lead]
        grand = self._totals()
        for offset, group in enumerate(groups):
            lead_value = lead_source.value(layout.lead_lower + offset)
            subtotal = self._totals()
            for step in range(group.size):
                rank = layout.inner_lower + (group.start + step) % layout.inner_reach
                row = self._row(rank, layout.inner, offset, rank)
                row[layout.lead] = lead_value
                subtotal.add(self._metrics_of(row))
                grand.add(self._metrics_of(row))
                yield row

            fixed = dict.fromkeys(self.dimension_sources)
            fixed[layout.lead] = lead_value
            yield self._total_row(subtotal, fixed)

        yield self._total_row(grand, dict.fromkeys(self.dimension_sources))

    def _row(self, rank: int, ranked_position: int, *key: object) -> list[Any]:
        """One data row: the ranked dimension at ``rank``, the rest drawn by key."""
        row: list[Any] = []
        for column in self.columns:
            if column.position == ranked_position:
                row.append(self.dimension_sources[column.position].value(rank))
            elif column.is_dimension:
                source = self.dimension_sources[column.position]
                row.append(source.any_value(*key))
            else:
                row.append(self.metric_sources[column.position].value(rank, *key))

        return row

    def _totals(self) -> Totals:
        """Empty totals for this result's metric columns."""
        return Totals([source.entry.kind for source in self.metric_sources.values()])

    def _metrics_of(self, row: list[Any]) -> list[Metric]:
        """Return the metric cells of a row, in column order."""
        return [row[position] for position in self.metric_sources]

    def _total_row(
        self, totals: Totals, dimensions: dict[int, str | None]
    ) -> list[Any]:
        """Build a total row from its dimension cells and the metrics' totals."""
        row: list[Any] = [None] * len(self.columns)
        for position, value in dimensions.items():
            row[position] = value
        for position, total in zip(self.metric_sources, totals.cells(), strict=True):
            row[position] = total

        return row

    def summary(self) -> dict[str, Any]:
        """Return the keys that follow ``rows``, in the order Mapp sends them."""
        return {
            "rowCount": self.layout.row_count,
            "rowCountTotal": self.layout.data_rows,
            "headers": [self._header(column) for column in self.columns],
            "columnCount": len(self.columns),
            "warnings": self._warnings(),
            "timerange": self.time_range.as_strings(),
            "timestamp": self._timestamp(),
        }

    def _header(self, column: Column) -> dict[str, Any]:
        """Build a column's header object, keys in the order of Mapp's example."""
        header: dict[str, Any] = {
            "alias": column.alias,
            "arrangeType": column.entry.arrange_type,
        }
        positions = self.layout.sum_positions.get(column.position)
        if positions is not None:
            header["sumPositions"] = positions
        if column.position == self.layout.lead and self.layout.pivot_groups:
            header["pivotGroups"] = self.layout.pivot_groups

        header["name"] = column.name
        header["metric"] = self.null_flag if column.is_dimension else True
        header["dimension"] = True if column.is_dimension else self.null_flag
        if column.sort_direction is not None:
            header["sortIndex"] = column.sort_index
            header["sortDirection"] = column.sort_direction

        return header

    def _warnings(self) -> list[dict[str, Any]]:
        """Warn ``SortingEnforced`` when the query sorted by nothing."""
        enforced = [column.alias for column in self.columns if column.sort_enforced]
        if not enforced:
            return []

        return [{"name": "SortingEnforced", "parameters": {"aliases": enforced}}]

    def _timestamp(self) -> str:
        """When the result was calculated: a fixed while after its time range."""
        end = self.time_range.end.replace(tzinfo=UTC)
        after = timedelta(
            milliseconds=int.from_bytes(self.seed[1:5], "big") % 7_200_000
        )
        return (end + after).isoformat(timespec="milliseconds")
