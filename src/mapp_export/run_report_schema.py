"""The JSON Schema (draft 2020-12) of the run report.

``mapp-export run-report-schema`` prints it.
"""

from __future__ import annotations

from typing import Any

_TEXT_OR_NULL = {"type": ["string", "null"]}
_TIME = {"type": "string", "format": "date-time"}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_SECONDS_OR_NULL = {"type": ["number", "null"], "minimum": 0}
_COUNT = {"type": "integer", "minimum": 0}

_CARRIED_OVER = {
    "type": ["object", "null"],
    "required": ["sheet_titles", "rows", "result_from", "stale"],
    "properties": {
        "sheet_titles": {"type": "array", "items": {"type": "string"}},
        "rows": _COUNT,
        "result_from": _TIME_OR_NULL,
        "stale": {"type": "boolean"},
    },
    "description": (
        "the sheets kept from the previous workbook by a run with --only: a left-out "
        "query's, or a failed re-run query's older ones (stale); null if none"
    ),
}

_QUERY: dict[str, Any] = {
    "type": "object",
    "required": [
        "index",
        "name",
        "status",
        "last_state",
        "sheet_titles",
        "rows",
        "warnings",
        "correlation_id",
        "calculation_id",
        "cached",
        "polls",
        "submitted_at",
        "finished_at",
        "duration_seconds",
        "calculation_seconds",
        "error",
    ],
    "properties": {
        "index": {**_COUNT, "description": "position in the manifest, from 0"},
        "name": {"type": "string"},
        "status": {
            "enum": [
                "exported",
                "failed",
                "not_started",
                "not_saved",
                "carried_over",
                "not_in_previous_workbook",
            ],
            "description": "what became of the query",
        },
        "last_state": {
            "enum": [
                "queued",
                "submitted",
                "calculating",
                "fetching",
                "writing",
                "done",
                "failed",
            ]
        },
        "sheet_titles": {
            "type": "array",
            "items": {"type": "string"},
            "description": (
                "the sheets holding the result; empty unless exported or carried_over"
            ),
        },
        "rows": {"type": ["integer", "null"], "minimum": 0},
        "warnings": {"type": "array", "items": {"type": "string"}},
        "sampled": {"type": ["boolean", "null"]},
        "correlation_id": _TEXT_OR_NULL,
        "calculation_id": _TEXT_OR_NULL,
        "cached": {"type": "boolean"},
        "polls": _COUNT,
        "submitted_at": _TIME_OR_NULL,
        "finished_at": _TIME_OR_NULL,
        "duration_seconds": _SECONDS_OR_NULL,
        "calculation_seconds": _SECONDS_OR_NULL,
        "error": _TEXT_OR_NULL,
        "carried_over": _CARRIED_OVER,
    },
}

RUN_REPORT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "mapp-export run report",
    "type": "object",
    "required": [
        "report_version",
        "tool",
        "started_at",
        "finished_at",
        "duration_seconds",
        "exit_code",
        "outcome",
        "outcome_meaning",
        "message",
        "manifest",
        "workbook",
        "api_host",
        "sandbox",
        "usage",
        "counts",
        "queries",
    ],
    "properties": {
        "report_version": {"const": 1},
        "tool": {
            "type": "object",
            "required": ["name", "version"],
            "properties": {
                "name": {"const": "mapp-export"},
                "version": {"type": "string"},
            },
        },
        "started_at": _TIME,
        "finished_at": _TIME,
        "duration_seconds": {"type": "number", "minimum": 0},
        "exit_code": {"enum": [0, 1, 2, 3, 130, 143]},
        "outcome": {
            "enum": [
                "ok",
                "partial",
                "refused",
                "nothing_exported",
                "interrupted",
                "terminated",
            ]
        },
        "outcome_meaning": {"type": "string"},
        "message": _TEXT_OR_NULL,
        "manifest": {"type": "string"},
        "workbook": {
            "type": "object",
            "required": ["path", "written"],
            "properties": {"path": {"type": "string"}, "written": {"type": "boolean"}},
        },
        "api_host": {"type": "string"},
        "sandbox": {"type": "boolean"},
        "usage": {
            "type": "object",
            "required": ["before", "after"],
            "description": "the API quota before and after the run, when known",
        },
        "counts": {
            "type": "object",
            "required": [
                "queries",
                "exported",
                "failed",
                "not_started",
                "not_saved",
                "carried_over",
                "not_in_previous_workbook",
            ],
            "additionalProperties": _COUNT,
        },
        "queries": {"type": "array", "items": _QUERY},
    },
}
