"""Writing one result into a workbook and reading it back, for the workbook tests.

Also the spelled-out rules of what a sheet should hold for a result
(:func:`expected_sheet`), written from the README's cell rules without the
product's code, to compare whole sheets with what the sandbox sent.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
from python_calamine import CalamineWorkbook

from mapp_export.records import QueryRecord, QueryState, RunFacts, SheetFacts
from mapp_export.workbook import SheetOptions, WorkbookWriter

EMOJI = "\U0001f600"
DAY: dict[str, Any] = {
    "name": "time_days",
    "alias": "time_days|0",
    "dimension": True,
    "metric": None,
}
PAGE: dict[str, Any] = {
    "name": "pages",
    "alias": "pages|0",
    "dimension": True,
    "metric": None,
}
VISITS: dict[str, Any] = {
    "name": "visits",
    "alias": "visits|0",
    "dimension": None,
    "metric": True,
}
ORDERS: dict[str, Any] = {
    "name": "orders",
    "alias": "orders|0",
    "dimension": None,
    "metric": True,
}
TOTAL_MARKER = "0000000000"

_UNWANTED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NUMBER = re.compile(r"-?[0-9]*\.?[0-9]*(?:[eE][+-]?[0-9]+)?")


def spool(folder: Path, headers: Sequence[dict[str, Any]], rows: list[Any]) -> Path:
    """Write a result body with its rows before its headers, as Mapp does."""
    path = folder / f"spool-{len(list(folder.glob('spool-*')))}.json"
    body = {"calculationDataType": "RAW_DATA", "rows": rows, "headers": headers}
    path.write_text(json.dumps(body), "utf-8")
    return path


def run_facts() -> RunFacts:
    """Facts of a run, as the runner would give them."""
    return RunFacts(
        manifest_path="reports/daily.yaml",
        started_at=datetime(2026, 12, 4, 6, 0, tzinfo=UTC),
        timezone_name="Europe/Berlin",
        api_host="api.mapp.com",
        exit_status=0,
    )


def record(index: int, title: str) -> QueryRecord:
    """Make the record of a query that is about to be written."""
    return QueryRecord(index=index, name=f"query {index}", sheet_title=title)


def write_one(
    folder: Path,
    headers: Sequence[dict[str, Any]],
    rows: list[Any],
    options: SheetOptions | None = None,
    **writer_options: Any,
) -> tuple[Path, SheetFacts]:
    """Write one result as the sheet ``Data`` of a saved workbook."""
    target = folder / "export.xlsx"
    writer = WorkbookWriter(target, **writer_options)
    query = record(0, "Data")
    query.sheet = writer.write_result(
        query, spool(folder, headers, rows), options or SheetOptions()
    )
    query.state = QueryState.DONE
    writer.finish([query], run_facts())
    return target, query.sheet


def openpyxl_rows(target: Path, title: str = "Data") -> list[list[Any]]:
    """Read a sheet's values with openpyxl."""
    workbook = openpyxl.load_workbook(target)
    return [list(row) for row in workbook[title].iter_rows(values_only=True)]


def calamine_rows(target: Path, title: str = "Data") -> list[list[Any]]:
    """Read a sheet's values with python-calamine; empty cells read as ""."""
    workbook = CalamineWorkbook.from_path(str(target))
    return workbook.get_sheet_by_name(title).to_python(skip_empty_area=False)


def column(rows: list[list[Any]], index: int) -> list[Any]:
    """Take one column of data rows, without the header row."""
    return [row[index] for row in rows[1:]]


def expected_sheet(result: dict[str, Any], options: SheetOptions) -> list[list[Any]]:
    """Spell out the header and rows a sheet should hold for ``result``.

    Empty cells are None, as openpyxl reads them.
    """
    headers = result["headers"]
    metric = [header.get("metric") is True for header in headers]
    totals = {
        position for header in headers for position in header.get("sumPositions", [])
    }
    first_text = metric.index(False) if False in metric else None
    sheet = [_headings([header["name"] for header in headers], options)]
    for position, row in enumerate(result["rows"]):
        is_total = position in totals or (
            first_text is not None and row[first_text] == TOTAL_MARKER
        )
        if is_total and options.totals == "drop":
            continue

        values = (
            _labelled(row, metric) if is_total and options.totals == "label" else row
        )
        sheet.append(
            [
                _cell(value, options, is_metric=is_metric)
                for value, is_metric in zip(values, metric, strict=True)
            ]
        )

    return sheet


def _headings(names: list[str], options: SheetOptions) -> list[str]:
    """Rename, then number repeats ``x (2)``."""
    headings: list[str] = []
    for name in names:
        heading = options.columns.get(name, name)
        candidate, number = heading, 2
        while candidate in headings:
            candidate, number = f"{heading} ({number})", number + 1
        headings.append(candidate)

    return headings


def _labelled(row: list[Any], metric: list[bool]) -> list[Any]:
    """Write ``Total`` in the first empty or marker dimension cell, clear markers."""
    labelled = list(row)
    label: str | None = "Total"
    for position, is_metric in enumerate(metric):
        if not is_metric and labelled[position] in {None, TOTAL_MARKER}:
            labelled[position], label = label, None

    return labelled


def _cell(value: Any, options: SheetOptions, *, is_metric: bool) -> Any:
    """Give the value one cell should read back as."""
    if value is None:
        return 0 if is_metric and options.nulls == "zero" else None

    if not is_metric:
        return _text(value if isinstance(value, str) else json.dumps(value))

    return _number(value)


def _number(value: Any) -> Any:
    """Give a metric as a number if no digit is lost, else as its text."""
    if isinstance(value, float):
        return value

    text = value if isinstance(value, str) else json.dumps(value)
    digits = re.sub(r"[eE].*|[^0-9]", "", text).strip("0")
    if _NUMBER.fullmatch(text) and re.search("[0-9]", text) and len(digits) <= 15:
        number = float(text)
        if not math.isfinite(number):
            return _text(text)
        return int(number) if number.is_integer() and abs(number) < 2**53 else number

    return _text(text)


def _text(text: str) -> str:
    """Text without forbidden characters, cut to 32,767 UTF-16 units."""
    text = _UNWANTED.sub("", text)
    units = text.encode("utf-16-le", "surrogatepass")[: 2 * 32_767]
    if len(units) >= 2 and 0xD800 <= int.from_bytes(units[-2:], "little") <= 0xDBFF:
        units = units[:-2]

    return units.decode("utf-16-le", "surrogatepass")
