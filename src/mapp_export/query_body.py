"""A query's request body: read from a file or the manifest, checked and completed.

Mapp's interface gives the body under "copy JSON" as
``{"resultType": "DATA_ONLY", "queryObject": {...}}``; users also paste just
the ``queryObject``. Both are accepted and sent as the full body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mapp_export.errors import ManifestError
from mapp_export.yaml_source import MAX_DEPTH

RESULT_TYPE = "DATA_ONLY"

_JSON_NESTING = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}\n]')


def parse_query_json(text: str, source: Path, *, first_line: int) -> Any:
    """Parse JSON text that starts at ``first_line`` of ``source``.

    Arrays and objects nested deeper than
    :data:`~mapp_export.yaml_source.MAX_DEPTH` are refused before parsing.
    """
    _check_json_depth(text, source, first_line)
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise ManifestError(
            f"the query is not valid JSON: {exc.msg}",
            path=source,
            line=first_line + exc.lineno - 1,
            column=exc.colno,
            hint="paste the JSON exactly as Mapp's 'copy JSON' gives it",
        ) from None
    except _DuplicateKeyError as exc:
        raise ManifestError(
            f"the query JSON has the key {exc.key!r} twice in one object",
            path=source,
            line=first_line,
            hint="keep one of them; JSON readers silently drop the first",
        ) from None


def _check_json_depth(text: str, source: Path, first_line: int) -> None:
    """Refuse JSON nested deeper than ``MAX_DEPTH``, naming the line it happens."""
    depth, line = 0, first_line
    for match in _JSON_NESTING.finditer(text):
        piece = match.group()
        if piece == "\n":
            line += 1
        elif piece in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ManifestError(
                    f"the query's arrays and objects are nested more than "
                    f"{MAX_DEPTH} deep",
                    path=source,
                    line=line,
                    hint="flatten the structure; no Mapp query needs such depth",
                )
        elif piece in "]}":
            depth -= 1
        else:
            line += piece.count("\n")


def complete_body(raw: Any) -> dict[str, Any]:
    """Return the full request body for Mapp's body or a bare ``queryObject``.

    Raises ``ValueError`` with what to write when ``raw`` is no query.
    """
    if not isinstance(raw, Mapping):
        message = "the query must be a JSON object"
        raise ValueError(message)  # noqa: TRY004 - the caller reports ValueError

    if "queryObject" in raw:
        body = {"resultType": RESULT_TYPE, **raw}
    else:
        body = {"resultType": RESULT_TYPE, "queryObject": dict(raw)}

    query_object = body["queryObject"]
    if not isinstance(query_object, Mapping) or not query_object:
        message = "the queryObject is empty or not an object"
        raise ValueError(message)
    return body


def row_window(body: Mapping[str, Any]) -> int | None:
    """Return how many rows the first column with limits lets the API return."""
    columns = body.get("queryObject", {}).get("columns", [])
    for column in columns if isinstance(columns, list) else []:
        if not isinstance(column, Mapping) or "upperLimit" not in column:
            continue

        upper, lower = column.get("upperLimit"), column.get("lowerLimit", 1)
        if isinstance(upper, int) and isinstance(lower, int) and upper >= lower:
            return upper - lower + 1
    return None


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result
