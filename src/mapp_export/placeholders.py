"""Filling ``${VAR}`` environment references and ``{date}``-style placeholders.

``${NAME}`` takes the value of the environment variable ``NAME``, and
``${NAME:-fallback}`` the same or, when ``NAME`` is unset or empty, the text
``fallback`` (as in a shell); it is allowed in the ``api`` settings and in the
output path, so one manifest serves several accounts or machines.
``{date}``, ``{manifest}`` and the others in :data:`OUTPUT_PLACEHOLDERS` are
allowed in the output path only, so each night
writes a file of its own. ``{{`` and ``}}`` stand for a literal brace.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

OUTPUT_PLACEHOLDERS = {
    "date": "the run date, 2026-12-04",
    "year": "the run date's year, 2026",
    "month": "the run date's month, 12",
    "day": "the run date's day of the month, 04",
    "manifest": "the manifest's file name without its extension",
}
"""The placeholders an output path may use, and what each becomes."""

_TOKEN = re.compile(r"\$\{(?P<variable>[^}]*)\}|\{\{|\}\}|\{(?P<name>[^{}]*)\}")
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PlaceholderError(ValueError):
    """A reference cannot be filled; the message says which and why."""


def expand_variables(text: str, environment: Mapping[str, str]) -> str:
    """Replace every ``${NAME}`` in ``text`` by the environment's value.

    Raises:
        PlaceholderError: a variable is not set, is empty, or is badly named.
    """
    return _fill(text, environment, None)


def fill_output(
    text: str, environment: Mapping[str, str], run_date: date, manifest: str
) -> str:
    """Replace ``${NAME}`` references and the output placeholders in ``text``."""
    return _fill(text, environment, output_values(run_date, manifest))


def output_values(run_date: date, manifest: str) -> dict[str, str]:
    """Return what each output placeholder becomes for this run."""
    return {
        "date": run_date.isoformat(),
        "year": f"{run_date.year:04d}",
        "month": f"{run_date.month:02d}",
        "day": f"{run_date.day:02d}",
        "manifest": manifest,
    }


def _fill(
    text: str, environment: Mapping[str, str], values: Mapping[str, str] | None
) -> str:
    def replace(match: re.Match[str]) -> str:
        variable, name = match.group("variable"), match.group("name")
        if variable is not None:
            return _variable(variable, environment)
        if values is None:
            return match.group(0)
        if name is None:
            return match.group(0)[0]
        if name not in values:
            known = ", ".join(f"{{{key}}}" for key in values)
            raise PlaceholderError(
                f"the placeholder {{{name}}} is unknown; known: {known} "
                "(write {{ and }} for a literal brace)"
            )
        return values[name]

    return _TOKEN.sub(replace, text)


def _variable(reference: str, environment: Mapping[str, str]) -> str:
    name, has_fallback, fallback = reference.partition(":-")
    if not _VARIABLE_NAME.match(name):
        raise PlaceholderError(
            f"${{{reference}}} is not a variable reference; write ${{NAME}} or "
            "${NAME:-fallback} with letters, digits and underscores in NAME"
        )
    value = environment.get(name)
    if not value and has_fallback:
        return fallback
    if not value:
        state = "is empty" if value == "" else "is not set"
        raise PlaceholderError(
            f"the environment variable {name} {state}; set it before the run "
            "(for cron, in the crontab or the job's environment), or write "
            f"${{{name}:-fallback}} to fall back to a value"
        )
    return value
