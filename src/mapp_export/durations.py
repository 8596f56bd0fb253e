"""Durations as a manifest writes them: ``200ms``, ``0.5s``, ``30m``, ``1h``."""

from __future__ import annotations

import math
import re

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^\s*(?P<amount>\d+(?:\.\d+)?|\.\d+)\s*(?P<unit>ms|s|m|h)?\s*$")


def parse_duration(value: object) -> float:
    """Return the number of seconds a duration stands for.

    A bare number is seconds; a string is a number followed by ``ms``, ``s``,
    ``m`` or ``h``. Anything else, and any negative or infinite amount, raises
    ``ValueError`` with a message that shows how to write it; a value of the
    wrong type raises ``ValueError`` too, since that is what pydantic turns
    into a located manifest error.
    """
    if isinstance(value, bool):
        raise ValueError(_explain(value))  # noqa: TRY004 - see the docstring

    if isinstance(value, int | float):
        return _checked(float(value), value)

    if not isinstance(value, str):
        raise ValueError(_explain(value))  # noqa: TRY004 - see the docstring

    match = _DURATION.match(value)
    if match is None:
        raise ValueError(_explain(value))

    unit = match["unit"] or "s"
    return _checked(float(match["amount"]) * _UNIT_SECONDS[unit], value)


def _checked(seconds: float, original: object) -> float:
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(_explain(original))

    return seconds


def _explain(value: object) -> str:
    return (
        f"{value!r} is not a duration; write a number of seconds or a number with "
        "a unit, such as 200ms, 0.5s, 30s, 30m or 1h"
    )
