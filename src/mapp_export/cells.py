"""Turning the values of an analysis result into exact cells.

An analyst reads the workbook, so a value that changes on its way into a cell is
lost data. The rules:

- Dimension cells stay text exactly as the API sent them (``00123``, ``TRUE``,
  ``20210826``, ids of twenty digits); nothing is guessed into a number.
- Metric cells are numbers. Numeric strings, and JSON integers, become numbers
  when no digit is lost (at most 15 significant digits, what Excel keeps);
  anything else stays text and is counted. JSON fractions are doubles already
  and are written with the digits that read back as the same double.
- Text loses only what Excel cannot hold: control characters, unpaired
  surrogates, ``U+FFFE`` and ``U+FFFF``, and whatever runs past 32,767 UTF-16 code
  units. Both are counted.

The functions here are pure. :func:`text_cell_writer` and
:func:`metric_cell_writer` build, once per column, the small function that
converts and writes each value of that column: the hot path of the product.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

TEXT_LIMIT = 32_767
"""The most UTF-16 code units an Excel cell holds."""

TOTAL_MARKER = "0000000000"
"""The first dimension value of the grand-total row of a list result."""

MAX_EXACT_DIGITS = 15
"""The most significant digits Excel keeps of a number."""

_EXACT_INTEGER_BOUND = 10**MAX_EXACT_DIGITS

_UNWANTED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NUMERIC = re.compile(r"-?([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?")

WriteText = Callable[[int, int, str], object]
WriteNumber = Callable[[int, int, float], object]
CellWriter = Callable[[int, Any], None]


@dataclass(slots=True)
class CellCounts:
    """How many cells of one result had to change or stay text."""

    controls_removed: int = 0
    texts_cut: int = 0
    metrics_kept_as_text: int = 0


@dataclass(frozen=True, slots=True)
class CellTarget:
    """Where converted cells go: one sheet's typed write functions."""

    write_text: WriteText
    write_number: WriteNumber


def utf16_length(text: str) -> int:
    """Count the UTF-16 code units of ``text``, the unit Excel measures in."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def cut_to_utf16(text: str, limit: int) -> str:
    """Keep the first ``limit`` UTF-16 code units of ``text``, never half a pair."""
    if len(text) * 2 <= limit:
        return text

    units = text.encode("utf-16-le", "surrogatepass")[: limit * 2]
    if len(units) >= 2 and 0xD800 <= int.from_bytes(units[-2:], "little") <= 0xDBFF:
        units = units[:-2]

    return units.decode("utf-16-le", "surrogatepass")


def clean_text(text: str, counts: CellCounts) -> str:
    """Remove what Excel cannot hold from ``text`` and count each change."""
    if not text.isprintable() and _UNWANTED.search(text):
        text = _UNWANTED.sub("", text)
        counts.controls_removed += 1

    if len(text) > TEXT_LIMIT // 2 and utf16_length(text) > TEXT_LIMIT:
        text = cut_to_utf16(text, TEXT_LIMIT)
        counts.texts_cut += 1

    return text


def clean_label(text: str) -> str:
    """Clean text written by us (headings, summary, errors) without counting it."""
    return clean_text(text, CellCounts())


def exact_number(text: str) -> int | float | None:
    """Read ``text`` as a number if it is one and no digit of it would be lost.

    Accepts JSON's number syntax, also with leading zeros or a bare point
    (``007``, ``.5``, ``5.``). Answers None for anything else, for more than
    :data:`MAX_EXACT_DIGITS` significant digits, and for numbers beyond a double.
    """
    match = _NUMERIC.fullmatch(text)
    if match is None:
        return None

    integer_digits, fraction_digits, exponent = match.groups()
    digits = integer_digits + (fraction_digits or "")
    if not digits or len(digits.strip("0")) > MAX_EXACT_DIGITS:
        return None

    number = float(text)
    if not math.isfinite(number) or (number == 0 and digits.strip("0")):
        return None

    if fraction_digits is None and exponent is None:
        return int(text)

    return number


def json_text(value: Any) -> str:
    """Spell a value that is not a string the way the JSON body spelled it."""
    if isinstance(value, bool):
        return "true" if value else "false"

    if isinstance(value, int | float):
        return repr(value)

    return json.dumps(value, ensure_ascii=False)


def column_headings(names: Iterable[str], renames: Mapping[str, str]) -> list[str]:
    """Turn column names into unique headings: renamed first, then ``x (2)``."""
    headings: list[str] = []
    seen: set[str] = set()
    for name in names:
        heading = clean_label(renames.get(name, name))
        candidate = heading
        copy = 2
        while candidate in seen:
            candidate = f"{heading} ({copy})"
            copy += 1

        seen.add(candidate)
        headings.append(candidate)

    return headings


def text_cell_writer(column: int, target: CellTarget, counts: CellCounts) -> CellWriter:
    """Build the writer of a dimension column: every value stays text."""
    write_text = target.write_text
    half_limit = TEXT_LIMIT // 2

    def write(line: int, value: Any) -> None:
        if value.__class__ is str:
            if len(value) > half_limit or not value.isprintable():
                value = clean_text(value, counts)
            write_text(line, column, value)
        elif value is not None:
            write_text(line, column, clean_text(json_text(value), counts))

    return write


def metric_cell_writer(
    column: int,
    target: CellTarget,
    counts: CellCounts,
    *,
    null_as_zero: bool,
) -> CellWriter:
    """Build the writer of a metric column: numbers, or counted text.

    A JSON integer of more than 15 significant digits is treated like the same
    digits sent as a string: Excel would lose its last digits, so it stays text.
    """
    write_number = target.write_number

    def write_other(line: int, value: Any) -> None:
        if isinstance(value, str) or value.__class__ is int:
            text = str(value)
            number = exact_number(text)
            if number is not None:
                write_number(line, column, number)
                return
        else:
            text = json_text(value)

        counts.metrics_kept_as_text += 1
        target.write_text(line, column, clean_text(text, counts))

    def write(line: int, value: Any) -> None:
        kind = value.__class__
        if kind is float or (
            kind is int and -_EXACT_INTEGER_BOUND < value < _EXACT_INTEGER_BOUND
        ):
            write_number(line, column, value)
        elif value is None:
            if null_as_zero:
                write_number(line, column, 0)
        else:
            write_other(line, value)

    return write
