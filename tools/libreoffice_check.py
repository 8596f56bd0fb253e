# ruff: noqa: INP001, T201  a script run by hand that prints its findings
"""Check the example workbook as LibreOffice reads it, sheet by sheet.

Run from the repository (needs LibreOffice, e.g. ``apt-get install
libreoffice-calc-nogui``; never part of CI)::

    python tools/libreoffice_check.py [--manifest config/example.yaml] [--keep DIR]

1. Runs ``mapp-export run MANIFEST --sandbox --output <tmp>/example.xlsx``.
2. Converts every sheet to CSV with LibreOffice headless, text cells quoted,
   numbers unformatted (the CSV filter's sheet option ``-1``: all sheets).
3. For each query of the plan, builds what the sandbox sent for its body
   (:func:`mapp_export.sandbox.build_result`), applies the workbook's documented
   transformations (``expected_sheet`` in ``tests/workbook_helpers.py``, the
   one spelling of those rules, shared with the tests) and compares cell by
   cell: a text must be a quoted field equal to it, a number an unquoted field
   of the same value, an empty cell an empty unquoted field.
4. Checks that the summary says ``done`` and the right row count for each query.

Prints, per sheet, the rows compared and every mismatch; exits 1 on any
mismatch, 2 if LibreOffice or the run is missing or fails.

.. note::
   LibreOffice writes numbers into CSV with at most 15 significant digits
   (``75.95419847328245`` becomes ``75.9541984732825``), so a fraction only
   has to agree in 15 digits here; the test suite checks all 17 with openpyxl
   and python-calamine.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mapp_export.manifest import load_plan
from mapp_export.sandbox import build_result

REPOSITORY = Path(__file__).resolve().parent.parent
EXAMPLE = REPOSITORY / "config" / "example.yaml"
CSV_FILTER = (
    "csv:Text - txt - csv (StarCalc):44,34,UTF8,1,,0,true,true,false,false,false,-1"
)
"""Comma, double quote, UTF-8, quote every text cell, raw numbers, all sheets."""

MISMATCHES_SHOWN = 10
DIGITS_TOLERANCE = 1e-14
"""How far apart two numbers that agree in 15 significant digits may be."""


@dataclass(frozen=True)
class Field:
    """One CSV field and whether it was quoted (LibreOffice quotes text cells)."""

    text: str
    quoted: bool


def main(argv: Sequence[str] | None = None) -> int:
    """Run the example, convert it with LibreOffice, compare; answer the exit code."""
    arguments = _parse_arguments(argv)
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        print("LibreOffice is not installed: apt-get install libreoffice-calc-nogui")
        return 2

    with tempfile.TemporaryDirectory(prefix="mapp-export-lo-") as temporary:
        folder = Path(arguments.keep or temporary)
        folder.mkdir(parents=True, exist_ok=True)
        workbook = folder / "example.xlsx"
        try:
            _run_example(arguments.manifest, workbook)
            sheets = _convert_to_csv(soffice, workbook, folder)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            print(f"failed: {exc}")
            return 2

        mismatches = _compare_all(arguments.manifest, sheets)

    print(f"total mismatches: {mismatches}")
    return 1 if mismatches else 0


def _parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, default=EXAMPLE)
    parser.add_argument(
        "--keep", type=Path, help="write the workbook and CSV files here and keep them"
    )
    return parser.parse_args(argv)


def _run_example(manifest: Path, workbook: Path) -> None:
    """Run the manifest on the sandbox into ``workbook``."""
    command = [sys.executable, "-m", "mapp_export", "run", str(manifest)]
    command += ["--sandbox", "--output", str(workbook)]
    print("$ mapp-export " + " ".join(command[3:]))
    environment = {**os.environ, "MAPP_CLIENT_ID": "", "MAPP_CLIENT_SECRET": ""}
    completed = subprocess.run(  # noqa: S603  our own program, arguments we built
        command, check=False, timeout=300, env=environment, capture_output=True
    )
    if completed.returncode != 0:
        print(completed.stderr.decode(errors="replace"))
        completed.check_returncode()


def _convert_to_csv(soffice: str, workbook: Path, folder: Path) -> dict[str, Path]:
    """Convert every sheet to ``<stem>-<title>.csv``; answer the files by title."""
    output = folder / "csv"
    profile = (folder / "libreoffice-profile").as_uri()
    command = [soffice, f"-env:UserInstallation={profile}", "--headless"]
    command += ["--convert-to", CSV_FILTER, str(workbook), "--outdir", str(output)]
    print(f"$ soffice --headless --convert-to '{CSV_FILTER}' {workbook.name}")
    version = subprocess.run(  # noqa: S603  LibreOffice, arguments we built
        [soffice, "--version"], check=True, timeout=60, capture_output=True, text=True
    )
    print(version.stdout.strip())
    subprocess.run(  # noqa: S603  LibreOffice, arguments we built
        command, check=True, timeout=300, capture_output=True
    )

    prefix = f"{workbook.stem}-"
    return {path.stem.removeprefix(prefix): path for path in output.glob("*.csv")}


def _compare_all(manifest: Path, sheets: dict[str, Path]) -> int:
    """Compare each query's sheets and the summary; print and count mismatches."""
    expected_sheet = _expected_sheet_function()
    summary = _summary_by_query(_read_csv(sheets["Summary"]))
    plan = load_plan(manifest)
    mismatches = 0
    for query in plan.queries:
        expected = expected_sheet(build_result(query.body), query.sheet_options)
        titles = summary.get(query.name, {}).get("Sheets", query.sheet_title)
        missing = [title for title in titles.split(", ") if title not in sheets]
        if missing:
            _print_sheet(titles, 0, [f"no CSV for the sheet(s) {missing}"])
            mismatches += 1
            continue

        parts = [_read_csv(sheets[title]) for title in titles.split(", ")]
        problems = _compare_sheet(expected, _joined_parts(parts))
        problems += _compare_summary(summary.get(query.name, {}), len(expected) - 1)
        _print_sheet(titles, len(expected), problems)
        mismatches += len(problems)

    return mismatches


def _expected_sheet_function() -> Callable[[dict[str, Any], Any], list[list[Any]]]:
    """Load ``expected_sheet`` from the tests, the one spelling of the rules."""
    sys.path.insert(0, str(REPOSITORY / "tests"))
    helpers = importlib.import_module("workbook_helpers")
    function: Callable[[dict[str, Any], Any], list[list[Any]]] = helpers.expected_sheet
    return function


def _joined_parts(parts: list[list[list[Field]]]) -> list[list[Field]]:
    """Join a result's sheets into one: the first header, then every part's rows."""
    joined = list(parts[0])
    for part in parts[1:]:
        joined += part[1:]

    return joined


def _compare_sheet(expected: list[list[Any]], actual: list[list[Field]]) -> list[str]:
    """List every cell where LibreOffice read something else than expected."""
    problems = []
    if len(actual) != len(expected):
        problems.append(f"{len(actual)} rows, expected {len(expected)}")

    for line, (wanted, got) in enumerate(zip(expected, actual, strict=False), 1):
        padded = got + [Field("", quoted=False)] * (len(wanted) - len(got))
        for column, (value, field) in enumerate(zip(wanted, padded, strict=False)):
            if not _same(value, field):
                where = f"{_column_letter(column)}{line}"
                problems.append(f"{where}: expected {value!r:.60}, got {field!r:.80}")

        if any(field.text for field in got[len(wanted) :]):
            problems.append(f"row {line}: cells beyond the header's columns")

    return problems


def _same(value: Any, field: Field) -> bool:
    """Tell whether a CSV field is the cell ``value`` should be."""
    if value is None:
        return field == Field("", quoted=False)

    if isinstance(value, str):
        return field == Field(value, quoted=True)

    if field.quoted or not field.text:
        return False

    if isinstance(value, int):
        return float(field.text) == value

    return math.isclose(float(field.text), value, rel_tol=DIGITS_TOLERANCE)


def _compare_summary(row: dict[str, str], data_rows: int) -> list[str]:
    """Check the summary's status and row count of one query."""
    if row.get("Status") != "done":
        return [f"Summary: status {row.get('Status')!r}, expected 'done'"]

    if row.get("Rows written") != str(data_rows):
        return [
            f"Summary: {row.get('Rows written')} rows written, expected {data_rows}"
        ]

    return []


def _summary_by_query(rows: list[list[Field]]) -> dict[str, dict[str, str]]:
    """Read the summary's table as one mapping of heading to text per query."""
    texts = [[field.text for field in row] for row in rows]
    heading = next(i for i, row in enumerate(texts) if row and row[0] == "Query")
    return {
        row[0]: dict(zip(texts[heading], row, strict=False))
        for row in texts[heading + 1 :]
        if row and row[0]
    }


def _print_sheet(title: str, rows: int, problems: list[str]) -> None:
    """Print one sheet's line and its first mismatches."""
    print(f"{title}: {rows} rows compared, {len(problems)} mismatches")
    for problem in problems[:MISMATCHES_SHOWN]:
        print(f"    {problem}")

    if len(problems) > MISMATCHES_SHOWN:
        print(f"    ... and {len(problems) - MISMATCHES_SHOWN} more")


def _read_csv(path: Path) -> list[list[Field]]:
    """Read a CSV file, keeping whether each field was quoted."""
    return list(_parse_csv(path.read_text("utf-8")))


def _parse_csv(text: str) -> Iterable[list[Field]]:
    """Split CSV text into rows of fields; quotes may hold commas and newlines."""
    row: list[Field] = []
    position = 0
    while position < len(text):
        if text[position] == '"':
            end = position + 1
            while (end := text.index('"', end)) + 1 < len(text) and text[
                end + 1
            ] == '"':
                end += 2
            field = Field(text[position + 1 : end].replace('""', '"'), quoted=True)
            position = end + 1
            if text.startswith("\r\n", position):
                position += 1
        else:
            end = min(_find(text, ",", position), _find(text, "\n", position))
            field = Field(text[position:end].removesuffix("\r"), quoted=False)
            position = end

        row.append(field)
        if position >= len(text) or text[position] == "\n":
            yield row
            row = []
        position += 1


def _find(text: str, character: str, start: int) -> int:
    """Find ``character`` from ``start``, or answer the end of ``text``."""
    found = text.find(character, start)
    return len(text) if found < 0 else found


def _column_letter(column: int) -> str:
    """Spell a 0-based column index as Excel's letters."""
    letters = ""
    column += 1
    while column:
        column, remainder = divmod(column - 1, 26)
        letters = chr(ord("A") + remainder) + letters

    return letters


if __name__ == "__main__":
    sys.exit(main())
