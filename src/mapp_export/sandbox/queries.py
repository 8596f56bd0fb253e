"""What a posted analysis query is: its canonical text, its shape and its errors.

A body that cannot be read as an analysis query at all is a 400; a query that reads
well but names unknown objects or lacks a time filter is a 422 with Mapp's error
names (``UnmappedName``, ``TimeFilterMissing``).

.. note::
   Only table queries (``TableQuery`` in the contract) are calculated. A KPI query
   (``KpiQuery``, without ``columns``) is answered with a 400, and the names inside
   ``viewMode`` are not checked against the catalogue.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mapp_export.sandbox.catalogue import CATALOGUE, TIME_FILTER_NAMES, Role
from mapp_export.sandbox.timerange import iter_filters

VARIANTS = frozenset({"LIST", "PIVOT", "PIVOT_AS_LIST", "COMPARISON"})
"""The table variants the contract allows."""


class MalformedQueryError(ValueError):
    """The body cannot be read as an analysis query."""


def canonical_json(value: Any) -> str:
    """Return the one text of a JSON value: sorted keys, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def query_object_of(body: dict[str, Any]) -> dict[str, Any]:
    """Return the ``queryObject`` of a full body, or the body when it is bare."""
    inner = body.get("queryObject")
    if isinstance(inner, dict):
        return inner

    return body


def parse_json(raw: bytes) -> Any:
    """Parse a posted body as JSON."""
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedQueryError(f"The body is not JSON: {exc}.") from exc


def check_posted_body(body: Any) -> None:
    """Raise :class:`MalformedQueryError` unless this is an analysis query body."""
    if not isinstance(body, dict):
        raise MalformedQueryError("The body must be a JSON object.")
    if body.get("resultType") != "DATA_ONLY":
        raise MalformedQueryError('"resultType" must be "DATA_ONLY".')

    query_object = body.get("queryObject")
    if not isinstance(query_object, dict):
        raise MalformedQueryError('"queryObject" must be a JSON object.')

    check_shape(query_object)


def check_shape(query_object: dict[str, Any]) -> None:
    """Raise :class:`MalformedQueryError` unless this is a table query."""
    columns = query_object.get("columns")
    if not isinstance(columns, list) or not columns:
        raise MalformedQueryError('"columns" must be a non-empty array.')
    if query_object.get("variant") not in VARIANTS:
        raise MalformedQueryError(f'"variant" must be one of {sorted(VARIANTS)}.')

    for position, column in enumerate(columns):
        _check_column(position, column)


def _check_column(position: int, column: Any) -> None:
    """Raise :class:`MalformedQueryError` unless the column has a name and limits."""
    if not isinstance(column, dict) or not isinstance(column.get("name"), str):
        raise MalformedQueryError(f"Column {position} must be an object with a name.")

    for key in ("lowerLimit", "upperLimit", "sortIndex"):
        value = column.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int)
        ):
            raise MalformedQueryError(
                f'"{key}" of column {position} must be an integer.'
            )


def query_errors(query_object: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the 422 errors of a well-shaped query; empty when it can be run."""
    errors: list[dict[str, Any]] = []
    unmapped = _unmapped_names(query_object)
    if unmapped:
        errors.append({"name": "UnmappedName", "parameters": {"names": unmapped}})

    if not _has_time_filter(query_object):
        errors.append({"name": "TimeFilterMissing", "parameters": {}})

    return errors


def _unmapped_names(query_object: dict[str, Any]) -> list[str]:
    """Names of columns and filters that the catalogue does not know, in order."""
    unmapped: list[str] = []
    for name, may_be_filter_only in _named_objects(query_object):
        entry = CATALOGUE.get(name)
        known = entry is not None and (
            may_be_filter_only or entry.role is not Role.FILTER
        )
        if not known and name not in unmapped:
            unmapped.append(name)

    return unmapped


def _named_objects(query_object: dict[str, Any]) -> Iterator[tuple[str, bool]]:
    """Yield each column name and each filter name, saying whether it is a filter."""
    for column in query_object.get("columns") or []:
        yield str(column.get("name")), False
        for item in iter_filters(column.get("predefinedContainer")):
            yield str(item.get("name")), True

    for item in iter_filters(query_object.get("predefinedContainer")):
        yield str(item.get("name")), True


def _has_time_filter(query_object: dict[str, Any]) -> bool:
    """Whether the query's own container holds a time filter at any depth."""
    return any(
        item.get("name") in TIME_FILTER_NAMES
        for item in iter_filters(query_object.get("predefinedContainer"))
    )
