"""Reading a YAML manifest strictly, keeping where every value was written.

PyYAML's safe loader follows YAML 1.1, which turns an unquoted ``NO`` into
``False``, ``0123`` into 83 and ``2026-12-03`` into a date. A manifest carries
Mapp filter values and names that must reach the API as the user typed them,
so this loader resolves plain scalars as YAML 1.2's core schema does: only
``true``/``false``, ``null``/``~``, decimal numbers without leading zeros, and
everything else as text. Duplicate keys, which PyYAML silently collapses, are
errors here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml

from mapp_export.errors import ManifestError

_INTEGER = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_FLOAT = re.compile(
    r"^[-+]?(?:\.[0-9]+|(?:0|[1-9][0-9]*)(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"
)


class _CoreSchemaLoader(yaml.SafeLoader):
    """A safe loader with YAML 1.2 core scalars and no silent duplicate keys."""

    yaml_implicit_resolvers: ClassVar[  # type: ignore[misc]  # PyYAML's own design
        dict[str, list[tuple[str, re.Pattern[str]]]]
    ] = {}


_CoreSchemaLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
_CoreSchemaLoader.add_implicit_resolver(
    "tag:yaml.org,2002:null",
    re.compile(r"^(?:~|null|Null|NULL|)$"),
    ["~", "n", "N", ""],
)
_CoreSchemaLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", _INTEGER, list("-+0123456789")
)
_CoreSchemaLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", _FLOAT, list("-+.0123456789")
)


def _construct_core_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    return int(loader.construct_scalar(node))


def _construct_core_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    return float(loader.construct_scalar(node))


_CoreSchemaLoader.add_constructor("tag:yaml.org,2002:int", _construct_core_int)
_CoreSchemaLoader.add_constructor("tag:yaml.org,2002:float", _construct_core_float)


@dataclass(frozen=True)
class YamlDocument:
    """A loaded YAML document together with the node tree it came from."""

    path: Path
    data: Any
    root: yaml.Node | None

    def node_at(self, location: Sequence[str | int]) -> yaml.Node | None:
        """Return the node of the value at ``location``, or ``None`` if absent."""
        node = self.root
        for step in location:
            node = _child(node, step) if node is not None else None
        return node

    def position(self, location: Sequence[str | int]) -> tuple[int, int] | None:
        """Return the 1-based line and column of the value at ``location``.

        Walks as far down the location as the document goes, so a missing key
        points at the mapping that should have held it.
        """
        node = self.root
        if node is None:
            return None

        for step in location:
            child = _child(node, step)
            if child is None:
                break
            node = child

        return node.start_mark.line + 1, node.start_mark.column + 1

    def error(
        self,
        location: Sequence[str | int],
        message: str,
        *,
        hint: str | None = None,
        at_key: bool = False,
    ) -> ManifestError:
        """Return a :class:`ManifestError` pointing at ``location`` in this file."""
        position = self.key_position(location) if at_key else self.position(location)
        line, column = position or (None, None)
        return ManifestError(
            message, path=self.path, line=line, column=column, hint=hint
        )

    def line_of(self, location: Sequence[str | int]) -> int | None:
        """Return the line of the value at ``location``, if the document has one."""
        position = self.position(location)
        return position[0] if position else None

    def key_position(self, location: Sequence[str | int]) -> tuple[int, int] | None:
        """Return the line and column of the key that ends ``location``."""
        *parent_location, last = location
        parent = self.root
        for step in parent_location:
            parent = _child(parent, step) if parent is not None else None

        if isinstance(parent, yaml.MappingNode):
            for key_node, _ in parent.value:
                if key_node.value == last:
                    return key_node.start_mark.line + 1, key_node.start_mark.column + 1

        return self.position(location)


def load_yaml(path: Path) -> YamlDocument:
    """Read and parse ``path``, raising :class:`ManifestError` with its line."""
    text = _read_text(path)

    try:
        root = yaml.compose(text, Loader=_CoreSchemaLoader)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(path, exc, text) from exc

    if root is not None:
        _reject_duplicate_keys(path, root)

    loader = _CoreSchemaLoader(text)
    try:
        data = loader.construct_document(root) if root is not None else None
    except yaml.constructor.ConstructorError as exc:
        raise _constructor_error(path, exc) from exc
    finally:
        loader.dispose()

    return YamlDocument(path=path, data=data, root=root)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ManifestError("the manifest does not exist", path=path) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(
            f"the manifest cannot be read: {exc}",
            path=path,
            hint="save it as UTF-8 text",
        ) from exc


def _child(node: yaml.Node, step: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == step:
                found: yaml.Node = value_node
                return found
    elif (
        isinstance(node, yaml.SequenceNode)
        and isinstance(step, int)
        and 0 <= step < len(node.value)
    ):
        item: yaml.Node = node.value[step]
        return item
    return None


def _reject_duplicate_keys(path: Path, node: yaml.Node) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ManifestError(
                    f"the key {key!r} appears twice in one mapping "
                    f"(first on line {seen[key]})",
                    path=path,
                    line=line,
                    column=key_node.start_mark.column + 1,
                    hint="keep one of them; YAML would silently drop the first",
                )
            seen[key] = line
            _reject_duplicate_keys(path, value_node)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _reject_duplicate_keys(path, item)


def _syntax_error(path: Path, exc: yaml.MarkedYAMLError, text: str) -> ManifestError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    column = mark.column + 1 if mark else None
    problem = exc.problem or "the YAML cannot be parsed"

    if mark is not None and _tab_in_indentation(text, mark.line):
        return ManifestError(
            "a tab is used for indentation",
            path=path,
            line=line,
            column=column,
            hint="YAML indents with spaces only; replace the tab with spaces",
        )

    return ManifestError(
        f"invalid YAML: {problem}",
        path=path,
        line=line,
        column=column,
        hint="check the indentation and quoting around this place",
    )


def _tab_in_indentation(text: str, line_index: int) -> bool:
    lines = text.splitlines()
    candidates = lines[max(0, line_index - 1) : line_index + 1]
    return any("\t" in line[: len(line) - len(line.lstrip())] for line in candidates)


def _constructor_error(
    path: Path, exc: yaml.constructor.ConstructorError
) -> ManifestError:
    mark = exc.problem_mark
    return ManifestError(
        "a YAML tag that builds a program object is not allowed",
        path=path,
        line=mark.line + 1 if mark else None,
        column=mark.column + 1 if mark else None,
        hint="remove the '!!' tag and write the plain value",
    )
