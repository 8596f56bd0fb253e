r"""Sheet titles that Excel accepts, decided once for the whole run.

Excel wants a title of 1 to 31 UTF-16 code units, without ``[ ] : * ? / \\``,
not beginning or ending with an apostrophe, not ``History`` (it keeps that name
for itself), and unique when case is ignored. Titles the user wrote are checked
and kept; titles derived from query names are cleaned and numbered ``Name (2)``,
``Name (3)`` where they would clash.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from mapp_export.cells import clean_label, cut_to_utf16, utf16_length

MAX_TITLE_LENGTH = 31
"""The most UTF-16 code units an Excel sheet title may have."""

SUMMARY_TITLE = "Summary"
"""The title of the sheet that sums the run up."""

_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_LINE_BREAKS_AND_TABS = re.compile("[\t\n\r]")
_EXCEL_RESERVED = "history"


def sheet_title_problem(
    title: str,
    reserved: Iterable[str] = (SUMMARY_TITLE,),
) -> str | None:
    """Say in words what is wrong with a title the user wrote, or None if fine."""
    forbidden = sorted(set(_FORBIDDEN.findall(title)))
    problems = (
        (not title.strip(), "is blank"),
        (
            utf16_length(title) > MAX_TITLE_LENGTH,
            (
                f"is {utf16_length(title)} characters long; Excel allows at most "
                f"{MAX_TITLE_LENGTH}"
            ),
        ),
        (
            bool(forbidden),
            f"contains {' '.join(forbidden)}, which Excel does not allow in a title",
        ),
        (
            title.startswith("'") or title.endswith("'"),
            "begins or ends with an apostrophe, which Excel does not allow",
        ),
        (
            clean_label(title) != title or bool(_LINE_BREAKS_AND_TABS.search(title)),
            "contains control characters",
        ),
        (title.casefold() == _EXCEL_RESERVED, "is reserved by Excel"),
        (
            title.casefold() in {name.casefold() for name in reserved},
            "is the title of the sheet mapp-export adds itself",
        ),
    )
    return next((reason for failed, reason in problems if failed), None)


def assign_sheet_titles(
    requests: Sequence[tuple[str, str | None]],
    reserved: Iterable[str] = (SUMMARY_TITLE,),
) -> list[str]:
    """Decide one valid, unique title per query, in the order given.

    Each request is a query's name and the title its ``sheet:`` asks for, if any.
    Titles asked for are kept as given (check them with
    :func:`sheet_title_problem` first) and win over derived ones; the others are
    cleaned from the query name and numbered where they clash.

    Raises:
        ValueError: two queries ask for the same title, ignoring case.
    """
    taken = {name.casefold() for name in reserved} | {_EXCEL_RESERVED}
    for name, title in requests:
        if title is None:
            continue

        if title.casefold() in taken:
            raise ValueError(
                f"query {name!r} asks for sheet title {title!r}, which another "
                "query or mapp-export already uses (case is ignored)"
            )

        taken.add(title.casefold())

    titles: list[str] = []
    for position, (name, asked) in enumerate(requests, start=1):
        title = asked
        if title is None:
            title = _unique(_derive_title(name, position), taken)
            taken.add(title.casefold())

        titles.append(title)

    return titles


def element_titles(
    base: str, labels: Sequence[str], planned_titles: Iterable[str]
) -> list[str]:
    """Title a saved report's element sheets ``<base> <label>``, unique in the run.

    ``labels`` are the element ids (or positions, when Mapp gives no id) and
    ``planned_titles`` every query's sheet title. ``validate`` and the run both
    call this, so they show the same titles.
    """
    taken = set(planned_titles)
    titles: list[str] = []
    for label in labels:
        suffix = f" {label}"
        room = MAX_TITLE_LENGTH - utf16_length(suffix)
        title = cut_to_utf16(base, room).rstrip() + suffix
        if title.casefold() in {used.casefold() for used in taken}:
            title = continuation_title(title, 2, taken)
        taken.add(title)
        titles.append(title)
    return titles


def continuation_title(base: str, part: int, taken: set[str]) -> str:
    """Name the ``part``-th sheet of a result too long for one: ``Base (2)``.

    ``taken`` holds every title in use or planned (compared ignoring case). When
    ``Base (2)`` is taken, the next free number is used instead. The caller adds
    the answer to ``taken``.
    """
    used = {title.casefold() for title in taken}
    number = part
    while True:
        title = _with_suffix(base, f" ({number})")
        if title.casefold() not in used:
            return title

        number += 1


def _derive_title(name: str, position: int) -> str:
    """Clean a query name into a valid title; ``Query 3`` if nothing is left."""
    title = _LINE_BREAKS_AND_TABS.sub(" ", clean_label(name))
    title = _FORBIDDEN.sub("_", title)
    title = _trim(cut_to_utf16(_trim(title), MAX_TITLE_LENGTH))
    return title or f"Query {position}"


def _unique(title: str, taken: set[str]) -> str:
    """Add ``(2)``, ``(3)``... to ``title`` until it is free."""
    candidate = title
    number = 2
    while candidate.casefold() in taken:
        candidate = _with_suffix(title, f" ({number})")
        number += 1

    return candidate


def _with_suffix(base: str, suffix: str) -> str:
    """Append ``suffix`` to ``base``, shortening ``base`` to stay within 31."""
    room = MAX_TITLE_LENGTH - utf16_length(suffix)
    return _trim(cut_to_utf16(base, room)) + suffix


def _trim(title: str) -> str:
    """Strip blanks and the apostrophes Excel refuses at either end."""
    trimmed = title.strip().strip("'")
    while trimmed != title:
        title = trimmed
        trimmed = title.strip().strip("'")

    return title
