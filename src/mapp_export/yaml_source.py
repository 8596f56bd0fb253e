"""Reading a YAML manifest strictly, keeping where every value was written.

PyYAML's safe loader follows YAML 1.1, which turns an unquoted ``NO`` into
``False``, ``0123`` into 83 and ``2026-12-03`` into a date. A manifest carries
Mapp filter values and names that must reach the API as the user typed them,
so this loader resolves plain scalars by a subset of YAML 1.2's core schema:
only ``true``/``false``, ``null``/``~``, decimal integers without leading zeros
and decimal floats become values; everything else is text, including what the
core schema would read as numbers in other spellings (``0x10``, ``0o17``,
``.inf``, ``.nan``), which stay the text written. Merge keys (``<<: *base``)
merge as PyYAML's safe loader does, a key of the mapping itself winning.

Some documents are refused outright, with the file, line and a hint:
duplicate keys (PyYAML silently keeps the last), collections nested deeper
than :data:`MAX_DEPTH`, and documents whose aliases would expand to more than
:data:`MAX_VALUES` values in all (a "billion laughs" document is a few lines
that expand to billions). Every walk of the node tree visits each distinct node
once, so aliases cost no time.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml

from mapp_export.errors import ManifestError
from mapp_export.regular_files import open_without_blocking

MAX_DEPTH = 100
"""The deepest nesting of lists and mappings a manifest or query may have."""

MAX_VALUES = 100_000
"""The most values a document's aliases may add, counted expanded.

Values written out count against :data:`MAX_FILE_BYTES` instead, so a long
manifest of thousands of queries is not refused."""

MAX_FILE_BYTES = 10 * 1024 * 1024
"""The largest manifest or query file read, in bytes."""

_INTEGER = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_FLOAT = re.compile(
    r"^[-+]?(?:\.[0-9]+|(?:0|[1-9][0-9]*)(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"
)


class _LimitError(Exception):
    """A document exceeds a limit at ``event``; ``hint`` says what to do."""

    def __init__(self, message: str, event: yaml.Event, hint: str) -> None:
        super().__init__(message)
        self.message = message
        mark = event.start_mark
        self.line = mark.line + 1 if mark is not None else None
        self.column = mark.column + 1 if mark is not None else None
        self.hint = hint


class _CoreSchemaLoader(yaml.SafeLoader):
    """A safe loader with YAML 1.2 core scalars and bounded depth and size.

    While composing, it counts how deep the current node is nested and how
    many values the aliases add once expanded; each node's expanded size is
    computed once, when the node is complete.
    """

    yaml_implicit_resolvers: ClassVar[  # type: ignore[misc]  # PyYAML's own design
        dict[str, list[tuple[str, re.Pattern[str]]]]
    ] = {}

    def __init__(self, stream: str) -> None:
        """Start counting depth and expanded size for ``stream``."""
        super().__init__(stream)
        self.depth = 0
        self.expanded_values = 0
        self.sizes: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """Compose one node, refusing deep nesting and runaway aliases."""
        event = self._next_event()
        if isinstance(event, yaml.AliasEvent):
            aliased = super().compose_node(parent, index)
            self._count_alias(aliased, event)
            return aliased

        opens = isinstance(event, yaml.CollectionStartEvent)
        if opens and self.depth >= MAX_DEPTH:
            raise _LimitError(
                f"the lists and mappings here are nested more than {MAX_DEPTH} deep",
                event,
                "flatten the structure; no Mapp query needs such depth",
            )

        self.depth += opens
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= opens
        if node is not None:
            self.sizes[id(node)] = 1 + sum(self._children_sizes(node))
        return node

    def _next_event(self) -> yaml.Event:
        # PyYAML's stubs leave peek_event untyped.
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
        return event

    def _children_sizes(self, node: yaml.Node) -> list[int]:
        if isinstance(node, yaml.SequenceNode):
            return [self.sizes.get(id(item), 1) for item in node.value]
        if isinstance(node, yaml.MappingNode):
            return [
                self.sizes.get(id(key), 1) + self.sizes.get(id(value), 1)
                for key, value in node.value
            ]
        return []

    def _count_alias(self, node: yaml.Node | None, event: yaml.Event) -> None:
        size = self.sizes.get(id(node)) if node is not None else None
        if size is None:
            raise _LimitError(
                "this alias refers to the collection it is inside of",
                event,
                "an alias may only repeat a value that is complete before it",
            )
        self._count(size, event)

    def _count(self, values: int, event: yaml.Event) -> None:
        self.expanded_values += values
        if self.expanded_values > MAX_VALUES:
            raise _LimitError(
                f"the document's aliases expand to more than {MAX_VALUES:,} values",
                event,
                "repeat less through aliases (&anchor / *alias); a manifest "
                "needs far fewer values",
            )


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
    "tag:yaml.org,2002:merge", re.compile(r"^<<$"), ["<"]
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
    text = read_text_file(path, what="manifest")

    try:
        root = yaml.compose(text, Loader=_CoreSchemaLoader)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(path, exc, text) from exc
    except _LimitError as exc:
        raise ManifestError(
            exc.message,
            path=path,
            line=exc.line,
            column=exc.column,
            hint=exc.hint,
        ) from None

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


def compose_positions(text: str) -> yaml.Node | None:
    """Return the node tree of JSON or YAML ``text``, for positions; ``None`` if not.

    JSON is nearly always YAML, so a query file's values can be given a line
    and column this way; where it is not, callers go without.
    """
    try:
        return yaml.compose(text, Loader=_CoreSchemaLoader)
    except (yaml.YAMLError, _LimitError):
        return None


def read_text_file(path: Path, *, what: str) -> str:
    """Read a regular UTF-8 file of at most :data:`MAX_FILE_BYTES`.

    ``what`` names the file in messages ("manifest", "query file"). A device,
    a pipe or a folder is refused before anything is read from it, so
    ``/dev/zero`` cannot hang the run.

    Raises:
        ManifestError: the file is missing, unreadable, not a regular file,
            too large or not UTF-8.
    """
    try:
        with open_without_blocking(path) as stream:
            status = os.fstat(stream.fileno())
            _check_regular(path, status, what)
            data = stream.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError as exc:
        raise ManifestError(f"the {what} does not exist", path=path) from exc
    except OSError as exc:
        raise ManifestError(
            f"the {what} cannot be read: {exc.strerror or exc}", path=path
        ) from exc

    if len(data) > MAX_FILE_BYTES:
        raise _too_large(path, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(
            f"the {what} is not UTF-8 text ({exc.reason} at byte {exc.start})",
            path=path,
            hint="save it as UTF-8 text",
        ) from None


def _check_regular(path: Path, status: os.stat_result, what: str) -> None:
    if not stat.S_ISREG(status.st_mode):
        raise ManifestError(
            f"the {what} is not a regular file (a folder, device or pipe)",
            path=path,
            hint=f"name a {what} saved on disk",
        )
    if status.st_size > MAX_FILE_BYTES:
        raise _too_large(path, what)


def _too_large(path: Path, what: str) -> ManifestError:
    return ManifestError(
        f"the {what} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB",
        path=path,
        hint=f"a {what} holds settings and queries, not data; check the path",
    )


def _child(node: yaml.Node, step: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        # The last entry wins, as in the loaded data (merge keys come first).
        for key_node, value_node in reversed(node.value):
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


def _reject_duplicate_keys(path: Path, root: yaml.Node) -> None:
    """Refuse a mapping with a key twice; each distinct node is visited once."""
    visited: set[int] = set()
    pending = [root]
    while pending:
        node = pending.pop()
        if id(node) in visited:
            continue

        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            _check_mapping_keys(path, node)
            pending.extend(value for _, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)


def _check_mapping_keys(path: Path, node: yaml.MappingNode) -> None:
    seen: dict[str, int] = {}
    for key_node, _ in node.value:
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
