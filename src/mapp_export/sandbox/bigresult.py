"""Large results served from files: generated once, then streamed from disk.

Building a result costs the sandbox about 12 µs a row, so a five-million-row
result would take a minute of the sandbox's time on every fetch, and a
benchmark would measure the sandbox rather than the exporter. With a result
folder (:attr:`SandboxOptions.result_folder`) each result's JSON text, exactly
what :func:`~mapp_export.sandbox.results.iter_result_text` yields, is written
once to ``<key>.json`` beside a gzip copy ``<key>.json.gz``, and every fetch is
answered from the files: the gzip copy with ``Content-Encoding: gzip`` to a
client that accepts it (as the plain sandbox compresses on the fly), the plain
file to one that does not. The key is a hash of the query object, so the folder
may be kept between runs and shared by sandboxes.

.. note::
   The files are never removed by the sandbox; a five-million-row result takes
   about 0.7 GB of disk for both copies. Delete the folder to reclaim it.
"""

from __future__ import annotations

import gzip
import hashlib
import secrets
from pathlib import Path
from typing import Any

from mapp_export.sandbox.queries import canonical_json, query_object_of
from mapp_export.sandbox.results import iter_result_text

FORMAT_VERSION = "1"
"""Part of every file's key: raise it when the generated text changes."""

GZIP_LEVEL = 6
"""The compression of the gzip copy: zlib's default, as aiohttp compresses."""


def result_key(body: dict[str, Any]) -> str:
    """Name a query's result file: a hash of its query object and the format."""
    text = FORMAT_VERSION + canonical_json(query_object_of(body))
    return hashlib.sha256(text.encode()).hexdigest()


def result_file(folder: Path, body: dict[str, Any]) -> Path:
    """Return the plain JSON file of a query's result, generating it if missing.

    The gzip copy is the same path with ``.gz`` added. Both are written to
    hidden temporary files first and moved into place, the gzip copy last, so a
    result whose plain file exists is whole. Blocking: call it from a thread.
    """
    path = folder / f"{result_key(body)}.json"
    if path.exists() and _gzip_path(path).exists():
        return path

    folder.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(4)
    plain_temp = folder / f".{path.name}.{token}.tmp"
    gzip_temp = folder / f".{path.name}.gz.{token}.tmp"
    try:
        _write_both(body, plain_temp, gzip_temp)
        plain_temp.replace(path)
        gzip_temp.replace(_gzip_path(path))
    finally:
        plain_temp.unlink(missing_ok=True)
        gzip_temp.unlink(missing_ok=True)

    return path


def _write_both(body: dict[str, Any], plain_path: Path, gzip_path: Path) -> None:
    """Write the result's JSON text to a plain and a gzip file in one pass."""
    with (
        plain_path.open("wb") as plain,
        gzip.open(gzip_path, "wb", compresslevel=GZIP_LEVEL) as packed,
    ):
        for chunk in iter_result_text(body):
            data = chunk.encode()
            plain.write(data)
            packed.write(data)


def _gzip_path(path: Path) -> Path:
    """Return the path of a plain result file's gzip copy."""
    return path.with_name(path.name + ".gz")
