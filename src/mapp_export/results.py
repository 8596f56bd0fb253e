"""Reading a spooled analysis result without holding its rows in memory.

A result body is one JSON object whose ``rows`` may come before its ``headers``
(Mapp's own example does that), so it is read twice: :func:`read_result_meta`
takes everything but the rows, skipping them without building them, and
:func:`iter_result_rows` then hands the rows over one by one. Numbers arrive as
Python ``int`` and ``float``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import takewhile
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import ijson

from mapp_export.errors import ResultFormatError, WorkbookError

SAMPLED_DATA_TYPE = "RAW_DATA_SAMPLING"
"""The ``calculationDataType`` of a result calculated from a sample."""

_ROWS_END = ("rows", "end_array", None)

_T = TypeVar("_T")


@dataclass(frozen=True)
class ResultHeader:
    """One column of a result, as its header describes it."""

    name: str
    alias: str
    is_metric: bool
    is_dimension: bool
    sum_positions: tuple[int, ...]


@dataclass(frozen=True)
class ResultMeta:
    """Everything in a result body but its rows."""

    headers: tuple[ResultHeader, ...]
    row_count: int | None
    data_type: str | None
    warnings: tuple[str, ...]
    timerange: tuple[str, ...]
    timestamp: str | None

    @property
    def sampled(self) -> bool:
        """Whether Mapp calculated the result from a sample of the raw data."""
        return self.data_type == SAMPLED_DATA_TYPE

    @property
    def total_positions(self) -> frozenset[int]:
        """The row indexes that any header lists as a (sub)total row."""
        return frozenset(
            position for header in self.headers for position in header.sum_positions
        )


def read_result_meta(path: Path) -> ResultMeta:
    """Read the headers and facts of the result spooled at ``path``.

    Raises:
        ResultFormatError: the file is not JSON, or not an analysis result.
    """
    body = _read_all_but_rows(path)
    if not isinstance(body, dict):
        raise ResultFormatError(f"the result in {path} is not a JSON object")

    if not isinstance(body.get("rows"), list):
        raise ResultFormatError(f"the result in {path} has no rows array")

    return ResultMeta(
        headers=_read_headers(body.get("headers"), path),
        row_count=_optional(body.get("rowCount"), int),
        data_type=_optional(body.get("calculationDataType"), str),
        warnings=_read_warnings(body.get("warnings")),
        timerange=tuple(str(bound) for bound in _list(body.get("timerange"))),
        timestamp=_optional(body.get("timestamp"), str),
    )


def iter_result_rows(path: Path, *, width: int | None = None) -> Iterator[list[Any]]:
    """Yield the rows of the result spooled at ``path``, one list at a time.

    Raises:
        ResultFormatError: the file stops being valid JSON, a row is not an
            array, or (when ``width`` is given) a row has another width.
    """
    with _open(path) as spool:
        try:
            for position, row in enumerate(
                ijson.items(spool, "rows.item", use_float=True)
            ):
                if row.__class__ is not list or (
                    width is not None and len(row) != width
                ):
                    raise ResultFormatError(_bad_row(path, position, row, width))

                yield row
        except ijson.JSONError as exc:
            raise ResultFormatError(
                f"the result in {path} is not valid JSON: {exc}"
            ) from exc


def _read_all_but_rows(path: Path) -> Any:
    """Build the body from its events, putting an empty list in place of rows."""
    builder = ijson.ObjectBuilder()
    with _open(path) as spool:
        events = ijson.parse(spool, use_float=True)
        try:
            for prefix, event, value in events:
                if prefix == "rows" and event == "start_array":
                    deque(takewhile(_ROWS_END.__ne__, events), maxlen=0)
                    builder.event("start_array", None)
                    builder.event("end_array", None)
                else:
                    builder.event(event, value)
        except ijson.JSONError as exc:
            raise ResultFormatError(
                f"the result in {path} is not valid JSON: {exc}"
            ) from exc

    return getattr(builder, "value", None)


def _read_headers(headers: Any, path: Path) -> tuple[ResultHeader, ...]:
    """Turn the ``headers`` array into typed headers; refuse a missing one."""
    if not isinstance(headers, list) or not headers:
        raise ResultFormatError(f"the result in {path} has no headers")

    return tuple(_read_header(header, path) for header in headers)


def _read_header(header: Any, path: Path) -> ResultHeader:
    """Turn one header object into a :class:`ResultHeader`."""
    if not isinstance(header, dict) or not isinstance(header.get("name"), str):
        raise ResultFormatError(f"the result in {path} has a header without a name")

    positions = _list(header.get("sumPositions"))
    if not all(position.__class__ is int for position in positions):
        raise ResultFormatError(
            f"the result in {path} has sumPositions that are not row numbers"
        )

    name = header["name"]
    return ResultHeader(
        name=name,
        alias=_optional(header.get("alias"), str) or name,
        is_metric=header.get("metric") is True,
        is_dimension=header.get("dimension") is True,
        sum_positions=tuple(positions),
    )


def _read_warnings(warnings: Any) -> tuple[str, ...]:
    """Name each warning; a warning without a name is shown as JSON."""
    names: list[str] = []
    for warning in _list(warnings):
        if isinstance(warning, dict) and isinstance(warning.get("name"), str):
            names.append(warning["name"])
        else:
            names.append(str(warning))

    return tuple(names)


def _bad_row(path: Path, position: int, row: Any, width: int | None) -> str:
    """Describe a row that does not fit the headers."""
    if row.__class__ is not list:
        return f"row {position} of the result in {path} is not an array"

    return (
        f"row {position} of the result in {path} has {len(row)} values, "
        f"but the headers name {width} columns"
    )


def _optional(value: Any, kind: type[_T]) -> _T | None:
    """Answer ``value`` if it is of ``kind`` (never a bool for int), else None."""
    if isinstance(value, kind) and not isinstance(value, bool):
        return value

    return None


def _list(value: Any) -> list[Any]:
    """Answer ``value`` if it is a list, else an empty list."""
    return value if isinstance(value, list) else []


def _open(path: Path) -> BinaryIO:
    """Open a spool for reading; a spool that cannot be read is a local fault."""
    try:
        return path.open("rb")
    except OSError as exc:
        raise WorkbookError(f"the result spool {path} cannot be read: {exc}") from exc
