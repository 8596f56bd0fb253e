"""Building manifests and reading workbooks back, for the end-to-end tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
import yaml
from python_calamine import CalamineWorkbook

from mapp_export.sandbox import Sandbox
from mapp_export.settings import Credentials


def list_query(
    dimension: str = "pages",
    upper_limit: int = 5,
    *,
    marker: str | None = None,
    metrics: Sequence[str] = ("pages_pageImpressions", "visits"),
) -> dict[str, Any]:
    """Return a small LIST query; ``marker`` lands in a filter value for the sandbox."""
    filters: list[dict[str, Any]] = [
        {
            "name": "time_dynamic",
            "filterPredicate": "LIKE",
            "connector": "AND",
            "value1": "last_7_days",
            "value2": "",
        }
    ]
    if marker is not None:
        filters.append(
            {
                "name": dimension,
                "filterPredicate": "UNEQUAL",
                "value1": marker,
                "value2": "",
            }
        )

    return {
        "resultType": "DATA_ONLY",
        "queryObject": {
            "columns": [
                {
                    "name": dimension,
                    "scope": "OBJECT",
                    "lowerLimit": 1,
                    "upperLimit": upper_limit,
                },
                *({"name": metric, "columnPeriod": "ANALYSIS"} for metric in metrics),
            ],
            "variant": "LIST",
            "predefinedContainer": {"filters": filters, "containers": []},
        },
    }


def write_manifest(
    folder: Path,
    queries: Sequence[tuple[str, dict[str, Any]]],
    *,
    base_url: str,
    token_url: str | None = None,
    concurrency: int = 8,
    timeout: str = "30s",
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a manifest whose queries poll fast, and return its path."""
    api: dict[str, Any] = {"base_url": base_url}
    if token_url is not None:
        api["token_url"] = token_url

    manifest: dict[str, Any] = {
        "api": api,
        "output": "out/report.xlsx",
        "concurrency": concurrency,
        "poll": {"initial": "10ms", "max_interval": "50ms", "timeout": timeout},
        "queries": [{"name": name, "query": body} for name, body in queries],
        **(extra or {}),
    }
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    return path


def sheets_by_openpyxl(path: Path) -> dict[str, list[list[Any]]]:
    """Read every sheet's cell values with openpyxl."""
    workbook = openpyxl.load_workbook(path, read_only=True)
    try:
        return {
            sheet.title: [list(row) for row in sheet.iter_rows(values_only=True)]
            for sheet in workbook.worksheets
        }
    finally:
        workbook.close()


def sheets_by_calamine(path: Path) -> dict[str, list[list[Any]]]:
    """Read every sheet's cell values with python-calamine, an independent reader."""
    workbook = CalamineWorkbook.from_path(str(path))
    return {
        name: workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
        for name in workbook.sheet_names
    }


def summary_rows(path: Path) -> dict[str, dict[str, Any]]:
    """Return the Summary sheet's query table as one mapping per query name."""
    rows = sheets_by_openpyxl(path)["Summary"]
    header_index = next(i for i, row in enumerate(rows) if row and row[0] == "Query")
    headers = [str(cell).lower() for cell in rows[header_index]]
    return {
        str(row[0]): dict(zip(headers, row, strict=False))
        for row in rows[header_index + 1 :]
        if row and row[0] is not None
    }


def dumped(body: dict[str, Any]) -> str:
    """Return a query body as canonical JSON, for comparing what the sandbox got."""
    return json.dumps(body, sort_keys=True)


def credentials_of(sandbox: Sandbox) -> Credentials:
    """Return the sandbox's client credentials."""
    return Credentials(sandbox.options.client_id, sandbox.options.client_secret)
