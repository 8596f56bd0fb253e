"""Turning pydantic's validation errors into messages a manifest author can act on.

Each error points at the file, line and column of the offending key or value,
suggests the closest valid key for a misspelt one, and says what to write.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from mapp_export.errors import ManifestError
from mapp_export.yaml_source import YamlDocument

MISSING_KEY_HINTS = {
    "output": "add 'output: output/report.xlsx' (relative to the manifest's folder)",
    "queries": "add a 'queries:' list with at least one '- name: ...' entry",
    "name": "give every query a 'name:'; it becomes the sheet title",
}


def translate_validation_error(
    exc: ValidationError, document: YamlDocument, model: type[BaseModel]
) -> ManifestError:
    """Return one :class:`ManifestError` carrying every problem pydantic found."""
    first, *others = [_problem(error, document, model) for error in exc.errors()]
    first.others = tuple(others)
    return first


def _problem(
    error: ErrorDetails, document: YamlDocument, model: type[BaseModel]
) -> ManifestError:
    names_a_key = error["type"] in {"extra_forbidden", "missing"}
    location = document_location(error["loc"], document.data, keep_last=names_a_key)
    parent, last = location[:-1], location[-1] if location else ""
    inside = f" in {dotted(parent)}" if parent else ""

    if error["type"] == "extra_forbidden":
        return document.error(
            location,
            f"unknown key {last!r}{inside}",
            hint=_suggest(str(last), _valid_keys(model, parent)),
            at_key=True,
        )
    if error["type"] == "missing":
        return document.error(
            parent,
            f"missing key {last!r}{inside}",
            hint=MISSING_KEY_HINTS.get(str(last)),
        )
    message, hint = _plain_words(error)
    return document.error(location, f"{dotted(location)}: {message}", hint=hint)


def document_location(
    location: Sequence[int | str], data: Any, *, keep_last: bool = True
) -> list[int | str]:
    """Keep the steps of pydantic's location that exist in the document.

    pydantic adds the name of each member of a union it tried (``str``,
    ``dict[str,any]``); those are not keys of the YAML and are dropped. With
    ``keep_last`` the last step is kept: it names the missing or unknown key.
    """
    kept: list[int | str] = []
    node = data
    for position, step in enumerate(location):
        is_last = keep_last and position == len(location) - 1
        if _has_step(node, step):
            node = node[step]
        elif not is_last:
            continue
        kept.append(step)
    return kept


def _has_step(node: Any, step: int | str) -> bool:
    if isinstance(node, Mapping):
        return step in node
    return isinstance(node, list) and isinstance(step, int) and step < len(node)


def dotted(location: Sequence[int | str]) -> str:
    """Write a location as people read it: ``queries[2].poll.timeout``."""
    text = ""
    for step in location:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += f".{step}" if text else step
    return text or "the manifest"


def _plain_words(error: ErrorDetails) -> tuple[str, str | None]:
    """Say what is wrong and what to write, in place of pydantic's wording."""
    kind, given = error["type"], error.get("input")
    context = error.get("ctx", {})
    shown = _shown(given)
    words: dict[str, tuple[str, str | None]] = {
        "int_parsing": (f"{shown} is not a whole number", _WHOLE_NUMBER),
        "int_type": (f"{shown} is not a whole number", _WHOLE_NUMBER),
        "int_from_float": (f"{shown} is not a whole number", _WHOLE_NUMBER),
        "bool_parsing": (f"{shown} is not true or false", "write true or false"),
        "bool_type": (f"{shown} is not true or false", "write true or false"),
        "float_parsing": (f"{shown} is not a number", "write a number such as 2.5"),
        "float_type": (f"{shown} is not a number", "write a number such as 2.5"),
        "greater_than": (
            f"{shown} is too small; it must be above {context.get('gt')}",
            "write a value above zero, such as 30s for a duration",
        ),
        "greater_than_equal": (
            f"{shown} is too small; it must be at least {context.get('ge')}",
            None,
        ),
        "less_than_equal": (
            f"{shown} is too large; it must be at most {context.get('le')}",
            None,
        ),
        "string_too_short": ("is empty", "write a value, or leave the key out"),
        "too_short": (
            f"needs at least {context.get('min_length')} entry",
            MISSING_KEY_HINTS["queries"]
            if error["loc"][-1:] == ("queries",)
            else "add an entry, or leave the key out",
        ),
        "dict_type": (f"{shown} is not a mapping", _MAPPING),
        "model_type": (f"{shown} is not a mapping", _MAPPING),
        "model_attributes_type": (f"{shown} is not a mapping", _MAPPING),
        "list_type": (
            f"{shown} is not a list",
            "write one '- item' line per entry, or [a, b]",
        ),
    }
    if kind in words:
        return words[kind]
    return error["msg"].removeprefix("Value error, "), _value_hint(error)


_WHOLE_NUMBER = "write a whole number such as 8, without quotes"
_MAPPING = "write 'key: value' lines indented below this key, or {key: value}"


def _shown(value: Any) -> str:
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _value_hint(error: ErrorDetails) -> str | None:
    if error["type"] == "string_type" and isinstance(
        error.get("input"), bool | int | float
    ):
        return "YAML read this as a number or true/false; quote it to keep it text"
    if error["type"] == "literal_error":
        return f"write one of {error.get('ctx', {}).get('expected')}"
    return None


def _suggest(key: str, valid: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(valid), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return "valid keys here: " + ", ".join(sorted(valid))


def _valid_keys(model: type[BaseModel], parent: Sequence[int | str]) -> set[str]:
    current: type[BaseModel] | None = model
    for step in parent:
        if isinstance(step, int) or current is None:
            continue
        field = current.model_fields.get(step)
        current = _nested_model(field.annotation) if field else None
    if current is None:
        return set()
    return {field.alias or name for name, field in current.model_fields.items()}


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """Find the model inside ``X``, ``X | None`` or ``list[X]``."""
    pending = [annotation]
    while pending:
        candidate = pending.pop()
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        pending.extend(getattr(candidate, "__args__", ()))
    return None
