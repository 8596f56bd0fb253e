"""The run's journal: what an interrupted run had already paid for.

Every calculation costs the customer's monthly allowance, and orchestrators
stop and retry tasks. So a run keeps ``.<output name>.journal.json`` beside
the output, replaced in one step (temporary file, flush to disk, rename)
after every change that matters: a calculation created (its correlation id
and status URL, or a cached result's URL), a calculation finished (its id and
result URL), a result completely downloaded into the spool folder
``.<output name>.spool/`` beside it (with its size in bytes), or a
calculation that is no more (failed or aborted) forgotten again.

Entries are keyed by the query's key: the SHA-256 of its body as canonical
JSON, so a query changed since the interrupted run is submitted afresh and
equal queries share one entry. ``mapp-export run --resume`` reads the journal
and continues: it reuses a spool file whose size matches the journal, fetches
a result whose URL is known, polls a calculation that exists, and submits
only the rest. A successful run removes the journal and the spool folder; a
partial or interrupted run keeps both for ``--resume``. Nothing secret is
written: no credentials, no token, no query body.

.. note::
   A process killed after Mapp created a calculation but before the journal
   recorded it (the moment between Mapp's answer to the submit and the
   journal's rename) leaves a calculation nobody knows of: ``--resume``
   submits that query again, which costs one more calculation of the month's
   allowance, and the forgotten one runs to its end on Mapp's side. Saved
   reports (``report:``) are not journaled: ``--resume`` calculates them again.

.. note::
   Spool files are kept until the run succeeds, so a run needs room for every
   result at once, not only for those in flight.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio

from mapp_export.api import Submission
from mapp_export.atomic_file import flush_folder
from mapp_export.plan import canonical_json

logger = logging.getLogger("mapp_export")

JOURNAL_VERSION = 1
"""The layout of the journal file; a journal of another layout is not resumed."""


def journal_path(output: Path) -> Path:
    """Return the journal of the run writing ``output``."""
    return output.with_name(f".{output.name}.journal.json")


def spool_folder_of(output: Path) -> Path:
    """Return the folder the run writing ``output`` spools its results in."""
    return output.with_name(f".{output.name}.spool")


def query_key(body: dict[str, Any]) -> str:
    """Return the journal's key of a query: the SHA-256 of its canonical JSON."""
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


@dataclass
class JournalEntry:
    """What the journal knows of one calculation.

    ``inherited`` marks an entry read from an interrupted run's journal; it
    is not written to the file.
    """

    query: str
    correlation_id: str | None = None
    status_url: str | None = None
    calculation_id: str | None = None
    result_url: str | None = None
    spool_bytes: int | None = None
    inherited: bool = False

    def submission(self) -> Submission | None:
        """Return the calculation to poll again, if one was created."""
        if self.status_url is None:
            return None
        return Submission(self.correlation_id, self.status_url, None, None)

    def as_json(self) -> dict[str, Any]:
        """Return the entry as the journal file holds it."""
        fields = asdict(self)
        del fields["inherited"]
        return fields


class Journal:
    """The calculations of one run by query key, saved beside the output.

    A journal without an ``output`` is kept in memory only: its ``path`` and
    ``spool_folder`` are ``None``.
    """

    def __init__(
        self,
        output: Path | None,
        api_base_url: str,
        entries: dict[str, JournalEntry] | None = None,
    ) -> None:
        """Start the journal of ``output`` for calculations of ``api_base_url``."""
        self.path = journal_path(output) if output is not None else None
        self.spool_folder = spool_folder_of(output) if output is not None else None
        self.api_base_url = api_base_url
        self.entries = entries or {}
        self._saving = anyio.Lock()
        self._changes = 0
        self._changes_saved = 0

    @classmethod
    def unsaved(cls) -> Journal:
        """Return a journal kept in memory only, for runs that need no resume."""
        return cls(None, "")

    @classmethod
    def open(
        cls, output: Path, api_base_url: str, keys: Iterable[str], *, resume: bool
    ) -> Journal:
        """Open the journal of ``output``: the interrupted run's with ``resume``.

        ``keys`` are the keys of the run's queries; what the interrupted run
        knew of any other query (one changed since) is dropped. Without
        ``resume`` a journal left by an interrupted run is set aside with a
        warning, and so is one made against another API; with ``resume`` but
        no journal the run starts afresh with a warning.
        """
        journal = cls(output, api_base_url)
        path = journal_path(output)
        entries = _read_entries(path, api_base_url) if resume else None
        if entries is None and not resume and path.exists():
            logger.warning(
                "an interrupted run left its journal %s; starting afresh (run with "
                "--resume to continue it instead)",
                path,
            )
        if entries is None:
            journal.remove()
        spool_folder_of(output).mkdir(exist_ok=True)
        if entries is None:
            return journal

        wanted = set(keys)
        journal.entries = {
            key: entry for key, entry in entries.items() if key in wanted
        }
        for key in entries.keys() - wanted:
            (spool_folder_of(output) / cls.spool_name(key)).unlink(missing_ok=True)
        logger.info(
            "resuming from %s: of the interrupted run's calculations %d known, "
            "%d dropped as their queries changed",
            path,
            len(journal.entries),
            len(entries) - len(journal.entries),
        )
        return journal

    def entry(self, key: str) -> JournalEntry | None:
        """Return what the journal knows of the query with ``key``."""
        return self.entries.get(key)

    @staticmethod
    def spool_name(key: str) -> str:
        """Return the file name of the spooled result of the query with ``key``."""
        return f"{key}.json"

    def complete_spool(self, key: str, folder: Path) -> Path | None:
        """Return the spool file of ``key`` in ``folder`` if it was fully written."""
        entry = self.entries.get(key)
        if entry is None or entry.spool_bytes is None:
            return None

        spool = folder / self.spool_name(key)
        try:
            size = spool.stat().st_size
        except FileNotFoundError:
            size = None
        if size == entry.spool_bytes:
            return spool

        entry.spool_bytes = None
        return None

    async def submitted(self, key: str, query: str, submission: Submission) -> None:
        """Record a calculation Mapp created (or a cached result it pointed to)."""
        self.entries[key] = JournalEntry(
            query=query,
            correlation_id=submission.correlation_id,
            status_url=submission.status_url,
            calculation_id=submission.calculation_id,
            result_url=submission.result_url,
        )
        await self.save()

    async def calculated(
        self, key: str, calculation_id: str | None, result_url: str
    ) -> None:
        """Record that the calculation of ``key`` succeeded, and where its result is."""
        entry = self.entries.get(key)
        if entry is None:
            return

        entry.calculation_id = calculation_id or entry.calculation_id
        entry.result_url = result_url
        await self.save()

    async def spooled(self, key: str, spool: Path, size: int) -> None:
        """Record that ``spool`` holds the whole result of ``key`` (``size`` bytes)."""
        entry = self.entries.get(key)
        if entry is None:
            return

        if self.path is not None:
            await anyio.to_thread.run_sync(_flush_file, spool)
        entry.spool_bytes = size
        await self.save()

    async def forget(self, key: str) -> None:
        """Drop the calculation of ``key``: it ended, so a resume submits afresh."""
        if self.entries.pop(key, None) is not None:
            await self.save()

    async def save(self) -> None:
        """Replace the journal file with the current entries, in one step.

        Saves are committed in groups: a task whose change was already
        written by another task's save returns at once, so a hundred queries
        submitted together cost a few writes, not a hundred.
        """
        if self.path is None:
            return

        path = self.path
        self._changes += 1
        change = self._changes
        with anyio.CancelScope(shield=True):
            async with self._saving:
                if self._changes_saved >= change:
                    return

                covered = self._changes
                text = self._render()
                await anyio.to_thread.run_sync(_write_atomically, path, text)
                self._changes_saved = covered

    async def close(self, *, keep: bool) -> None:
        """End the run's journal: keep it for ``--resume``, or remove it all.

        Nothing is kept when no calculation is known.
        """
        if self.path is None:
            return

        if keep and self.entries:
            await self.save()
            logger.warning(
                "kept the journal %s and %d spooled result(s): run again with "
                "--resume to continue without paying for the same calculations",
                self.path,
                sum(entry.spool_bytes is not None for entry in self.entries.values()),
            )
            return

        await anyio.to_thread.run_sync(self.remove)

    def remove(self) -> None:
        """Delete the journal file and the spool folder, if they exist."""
        if self.path is None:
            return

        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        if self.spool_folder is not None:
            shutil.rmtree(self.spool_folder, ignore_errors=True)

    def _render(self) -> str:
        document = {
            "version": JOURNAL_VERSION,
            "api_base_url": self.api_base_url,
            "calculations": {
                key: entry.as_json() for key, entry in sorted(self.entries.items())
            },
        }
        return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _read_entries(path: Path, api_base_url: str) -> dict[str, JournalEntry] | None:
    """Read an interrupted run's entries; ``None`` (with a warning) if unusable."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        logger.warning(
            "--resume: no journal of an interrupted run at %s; running every query",
            path,
        )
        return None
    except (OSError, ValueError) as exc:
        logger.warning(
            "--resume: the journal %s cannot be read (%s); running every query",
            path,
            exc,
        )
        return None

    problem = _journal_problem(document, api_base_url)
    if problem is not None:
        logger.warning("--resume: %s %s; running every query", path, problem)
        return None

    entries = {}
    for key, fields in document["calculations"].items():
        entries[key] = JournalEntry(**_known_fields(fields), inherited=True)
    return entries


def _journal_problem(document: Any, api_base_url: str) -> str | None:
    if not isinstance(document, dict) or document.get("version") != JOURNAL_VERSION:
        return "was written by another version of mapp-export"
    if document.get("api_base_url") != api_base_url:
        return f"was made against {document.get('api_base_url')}, not {api_base_url}"
    calculations = document.get("calculations")
    if not isinstance(calculations, dict) or not all(
        isinstance(fields, dict) and isinstance(fields.get("query"), str)
        for fields in calculations.values()
    ):
        return "is damaged"
    return None


def _known_fields(fields: dict[str, Any]) -> dict[str, Any]:
    texts = ("query", "correlation_id", "status_url", "calculation_id", "result_url")
    known: dict[str, Any] = {
        name: str(fields[name]) for name in texts if fields.get(name) is not None
    }
    size = fields.get("spool_bytes")
    if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
        known["spool_bytes"] = size
    return known


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a flushed temporary file and a rename."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    temporary.replace(path)
    flush_folder(path.parent)


def _flush_file(path: Path) -> None:
    with path.open("rb") as file:
        os.fsync(file.fileno())
