"""Checking a saved workbook's package the way Excel does before it opens it.

Excel asks to "repair" a workbook whose XML is not well formed, holds characters
XML 1.0 forbids, names a sheet badly or twice, points a relationship or a defined
name at nothing, or has a cell Excel cannot hold. :func:`package_problems` lists
every such problem it finds, in words; an empty list is a clean package.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RELATIONSHIPS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PACKAGE_RELATIONSHIPS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
CONTENT_TYPES = "{http://schemas.openxmlformats.org/package/2006/content-types}"
WORKSHEET_TYPE = (
    "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
)

ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
CHARACTER_REFERENCE = re.compile(r"&#(x[0-9A-Fa-f]+|[0-9]+);")
EXCEL_ESCAPE = re.compile("_x([0-9A-Fa-f]{4})_")
FORBIDDEN_IN_TITLE = re.compile(r"[\[\]:*?/\\]")
MAX_ROWS = 1_048_576
TEXT_LIMIT = 32_767


def package_problems(path: Path) -> list[str]:
    """List what would make Excel offer to repair the workbook at ``path``."""
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}

    problems = [problem for name, data in parts.items() for problem in _xml(name, data)]
    if problems:
        return problems

    titles = _sheet_titles(parts)
    problems += [problem for title in titles for problem in _title(title)]
    if len({title.casefold() for title in titles}) != len(titles):
        problems.append(f"sheet titles repeat, ignoring case: {titles}")

    problems += _relationships(parts)
    problems += _defined_names(parts, titles)
    for name, data in parts.items():
        if name.startswith("xl/worksheets/") and name.endswith(".xml"):
            problems += _cells(name, parse(data))

    return problems


def parse(data: bytes) -> ET.Element:
    """Parse one XML part of a workbook we wrote ourselves."""
    return ET.fromstring(data)  # noqa: S314  our own output, read in a test


def utf16_length(text: str) -> int:
    """Count the UTF-16 code units of ``text``."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _xml(name: str, data: bytes) -> list[str]:
    """Parse one part; report bad XML and characters XML 1.0 forbids."""
    if not name.endswith((".xml", ".rels")):
        return []

    text = data.decode("utf-8")
    problems = [
        f"{name}: forbidden character {found!r}" for found in ILLEGAL_XML.findall(text)
    ]
    for reference in CHARACTER_REFERENCE.findall(text):
        number = int(reference[1:], 16) if reference.startswith("x") else int(reference)
        if ILLEGAL_XML.match(chr(number)) and chr(number) not in "\t\n\r":
            problems.append(f"{name}: reference to forbidden character {number}")
    try:
        parse(data)
    except ET.ParseError as exc:
        problems.append(f"{name}: not well-formed XML: {exc}")

    return problems


def _sheet_titles(parts: dict[str, bytes]) -> list[str]:
    """Read the sheet titles from workbook.xml, in order."""
    workbook = parse(parts["xl/workbook.xml"])
    return [sheet.attrib["name"] for sheet in workbook.iter(f"{MAIN}sheet")]


def _title(title: str) -> list[str]:
    """Check one sheet title against Excel's rules."""
    checks = (
        (not title.strip(), "is blank"),
        (utf16_length(title) > 31, "is longer than 31"),
        (FORBIDDEN_IN_TITLE.search(title) is not None, "has a forbidden character"),
        (re.search("[\x00-\x1f]", title) is not None, "has a control character"),
        (title.startswith("'") or title.endswith("'"), "has an apostrophe at an end"),
        (title.casefold() == "history", "is reserved"),
    )
    return [f"sheet title {title!r} {reason}" for failed, reason in checks if failed]


def _relationships(parts: dict[str, bytes]) -> list[str]:
    """Check that each sheet's relationship leads to a worksheet part."""
    workbook = parse(parts["xl/workbook.xml"])
    rels = parse(parts["xl/_rels/workbook.xml.rels"])
    targets = {
        rel.attrib["Id"]: "xl/" + rel.attrib["Target"].removeprefix("/xl/")
        for rel in rels.iter(f"{PACKAGE_RELATIONSHIPS}Relationship")
    }
    types = parse(parts["[Content_Types].xml"])
    worksheets = {
        override.attrib["PartName"].lstrip("/")
        for override in types.iter(f"{CONTENT_TYPES}Override")
        if override.attrib["ContentType"] == WORKSHEET_TYPE
    }
    problems = []
    for sheet in workbook.iter(f"{MAIN}sheet"):
        target = targets.get(sheet.attrib[f"{RELATIONSHIPS}id"])
        if target not in parts or target not in worksheets:
            problems.append(f"sheet {sheet.attrib['name']!r} leads to {target}")

    return problems


def _defined_names(parts: dict[str, bytes], titles: list[str]) -> list[str]:
    """Check that each defined name refers to a sheet that exists."""
    workbook = parse(parts["xl/workbook.xml"])
    problems = []
    for defined in workbook.iter(f"{MAIN}definedName"):
        reference = defined.text or ""
        quoted = re.fullmatch(r"'((?:[^']|'')+)'!.+", reference)
        bare = re.fullmatch(r"([^'!]+)!.+", reference)
        sheet = quoted.group(1).replace("''", "'") if quoted else bare and bare.group(1)
        local = int(defined.attrib.get("localSheetId", "-1"))
        if sheet not in titles or (local >= 0 and titles[local] != sheet):
            problems.append(f"defined name {reference!r} refers to no sheet")

    return problems


def _cells(name: str, sheet: ET.Element) -> list[str]:
    """Check every cell of a worksheet: no formula, exact types, sizes Excel holds."""
    problems = []
    if sheet.find(f".//{MAIN}f") is not None:
        problems.append(f"{name}: has a formula")

    rows = [int(row.attrib["r"]) for row in sheet.iter(f"{MAIN}row")]
    if rows != sorted(set(rows)) or not all(1 <= row <= MAX_ROWS for row in rows):
        problems.append(f"{name}: rows out of order or outside the sheet")

    for cell in sheet.iter(f"{MAIN}c"):
        problems += _cell(name, cell)

    for column in sheet.iter(f"{MAIN}col"):
        if float(column.attrib.get("width", "0")) > 255:
            problems.append(f"{name}: a column is wider than 255")

    return problems


def _cell(name: str, cell: ET.Element) -> list[str]:
    """Check one cell: an inline string within the limit, or a finite number."""
    kind = cell.attrib.get("t", "n")
    reference = f"{name}!{cell.attrib.get('r')}"
    if kind == "inlineStr":
        text = "".join(cell.find(f"{MAIN}is").itertext())  # type: ignore[union-attr]
        decoded = EXCEL_ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), text)
        if utf16_length(decoded) > TEXT_LIMIT:
            return [f"{reference}: text longer than {TEXT_LIMIT}"]
        return []

    if kind == "n":
        value = cell.findtext(f"{MAIN}v")
        if value is None or not _finite(value):
            return [f"{reference}: number {value!r} is not a finite number"]
        return []

    return [f"{reference}: unexpected cell type {kind!r}"]


def _finite(value: str) -> bool:
    """Tell whether ``value`` is a finite number as Excel reads one."""
    try:
        number = float(value)
    except ValueError:
        return False

    return math.isfinite(number)
