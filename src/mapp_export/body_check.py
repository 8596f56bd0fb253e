"""Checking a query body against Mapp's contract before it is sent.

Three things are done while walking the body beside the YAML it came from:

- A value the contract types as text that YAML read as a number or as
  ``true``/``false`` (an unquoted ``12``, ``1.50`` or ``true``) is replaced by
  the exact text the user wrote, taken from the YAML node, so ``value1: 1.50``
  is sent as ``"1.50"`` and never as ``1.5`` or ``false``. In a JSON source
  (a query file, pasted JSON) the value's JSON spelling is used.
- A value the contract types as an integer, a boolean or one of listed words
  (``upperLimit``, ``caseSensitive``, ``sortDirection``, ...) must be one:
  anything else is refused with :class:`BodyValueError`, saying what to write.
  ``null`` is sent as written.
- A key the contract does not know is kept unchanged and reported, with its
  line and the closest known key, so the manifest's author can spot a typo.

.. note::
   A JSON number in a text field is spelt as Python writes it back, so a
   ``1.50`` written in a query *file* is sent as ``"1.5"``; write it as the
   string ``"1.50"`` there. YAML sources keep the exact text.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from mapp_export.body_schema import (
    SCHEMAS,
    Boolean,
    Choice,
    Integer,
    Object,
    ObjectList,
    Text,
    TextList,
)
from mapp_export.body_schema import Field as SchemaField


class BodyValueError(ValueError):
    """A value of the body is not of the type or among the words the contract says.

    ``line`` and ``column`` are 1-based and ``None`` when the body came without
    a YAML node to take them from.
    """

    def __init__(
        self, message: str, *, line: int | None, column: int | None, hint: str
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.hint = hint


@dataclass(frozen=True)
class UnknownKey:
    """A key of a query body that Mapp's published schema does not describe."""

    path: str
    line: int | None
    column: int | None
    suggestion: str | None


@dataclass
class BodyCheck:
    """The body with text fields made text, and the unknown keys found in it."""

    body: Any
    unknown_keys: list[UnknownKey] = field(default_factory=list)


def check_body(raw: Any, node: yaml.Node | None) -> BodyCheck:
    """Walk ``raw`` (Mapp's full body or a bare ``queryObject``) beside ``node``.

    ``node`` is the YAML node the body was built from, or ``None`` when the body
    came from JSON.
    """
    schema = "AnalysisQuery"
    if isinstance(raw, Mapping) and "queryObject" not in raw:
        schema = "QueryObject"

    check = BodyCheck(body=None)
    prefix = "" if schema == "AnalysisQuery" else "queryObject"
    check.body = _walk(raw, node, Object(schema), prefix, check)
    return check


def _walk(
    value: Any, node: yaml.Node | None, kind: SchemaField, path: str, check: BodyCheck
) -> Any:
    if isinstance(kind, Text):
        return _as_text(value, node)
    if isinstance(kind, Integer | Boolean | Choice):
        _check_value(value, node, kind, path)
        return value
    if isinstance(kind, TextList) and isinstance(value, list):
        return [
            _as_text(item, _item_node(node, index)) for index, item in enumerate(value)
        ]
    if isinstance(kind, ObjectList) and isinstance(value, list):
        return [
            _walk(
                item,
                _item_node(node, index),
                Object(kind.schema),
                f"{path}[{index}]",
                check,
            )
            for index, item in enumerate(value)
        ]
    if isinstance(kind, Object) and isinstance(value, Mapping):
        return _walk_object(value, node, kind.schema, path, check)
    return value


def _walk_object(
    value: Mapping[str, Any],
    node: yaml.Node | None,
    schema: str,
    path: str,
    check: BodyCheck,
) -> dict[str, Any]:
    known = SCHEMAS[schema]
    result: dict[str, Any] = {}
    for key, item in value.items():
        key_node, value_node = _entry_nodes(node, key)
        where = f"{path}.{key}" if path else str(key)
        kind = known.get(key)
        if kind is None:
            check.unknown_keys.append(_unknown(where, key, known, key_node or node))
            result[key] = item
        else:
            result[key] = _walk(item, value_node, kind, where, check)
    return result


def _unknown(
    where: str, key: Any, known: Mapping[str, Any], node: yaml.Node | None
) -> UnknownKey:
    close = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.6)
    mark = node.start_mark if node is not None else None
    return UnknownKey(
        path=where,
        line=mark.line + 1 if mark else None,
        column=mark.column + 1 if mark else None,
        suggestion=close[0] if close else None,
    )


def _check_value(
    value: Any, node: yaml.Node | None, kind: Integer | Boolean | Choice, path: str
) -> None:
    """Refuse a value that is not the integer, boolean or word ``kind`` wants."""
    if value is None:
        return

    if isinstance(kind, Integer):
        fits = isinstance(value, int) and not isinstance(value, bool)
        wanted, hint = "a whole number", "write a number such as 50, without quotes"
    elif isinstance(kind, Boolean):
        fits = isinstance(value, bool)
        wanted, hint = "true or false", "write true or false, without quotes"
    else:
        fits = isinstance(value, str) and value in kind.allowed
        words = ", ".join(repr(word) for word in kind.allowed)
        wanted, hint = "one of Mapp's words", f"write one of {words} (case matters)"
    if fits:
        return

    mark = node.start_mark if node is not None else None
    raise BodyValueError(
        f"{path} is {_written(value, node)}, but Mapp's query schema wants {wanted}",
        line=mark.line + 1 if mark else None,
        column=mark.column + 1 if mark else None,
        hint=hint,
    )


def _written(value: Any, node: yaml.Node | None) -> str:
    if isinstance(node, yaml.ScalarNode):
        return repr(str(node.value))
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _as_text(value: Any, node: yaml.Node | None) -> Any:
    """Return a number or boolean as the text it was written as; others as given."""
    if isinstance(value, str) or value is None:
        return value
    if not isinstance(value, bool | int | float):
        return value
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    return json.dumps(value)


def _entry_nodes(
    node: yaml.Node | None, key: Any
) -> tuple[yaml.Node | None, yaml.Node | None]:
    if isinstance(node, yaml.MappingNode):
        # The last entry wins, as in the loaded data (merge keys come first).
        for key_node, value_node in reversed(node.value):
            if key_node.value == key:
                return key_node, value_node
    return None, None


def _item_node(node: yaml.Node | None, index: int) -> yaml.Node | None:
    if isinstance(node, yaml.SequenceNode) and index < len(node.value):
        item: yaml.Node = node.value[index]
        return item
    return None
