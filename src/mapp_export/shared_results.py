"""Equal queries calculated once: one calculation, one download, several sheets.

Two queries whose bodies are equal as canonical JSON (after their dates are
resolved) would cost the monthly allowance twice for the same numbers. The
first of them to start leads: it calculates and downloads; the others wait for
its spool and write their own sheets from it, with their own sheet settings.
If the leader fails, each follower fails with the leader's reason. The spool
is removed when the last of them has written it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import anyio

from mapp_export.errors import MappExportError
from mapp_export.plan import QueryPlan
from mapp_export.records import QueryRecord

logger = logging.getLogger("mapp_export")


class SharedResult:
    """The one calculation of several equal queries."""

    def __init__(self, readers: int) -> None:
        self.readers = readers
        self.leader: QueryRecord | None = None
        self.spool: Path | None = None
        self.failure: MappExportError | None = None
        self.done = anyio.Event()

    def succeed(self, spool: Path) -> None:
        """Hand the downloaded result to the followers."""
        self.spool = spool
        self.done.set()

    def fail(self, error: BaseException) -> None:
        """Tell the followers the leader got no result, and why."""
        if isinstance(error, MappExportError):
            self.failure = error
        else:
            self.failure = MappExportError(f"it ended unexpectedly ({error!r})")
        self.done.set()

    async def follow(self, record: QueryRecord) -> Path:
        """Wait for the leader's result; raise the leader's failure if it had one."""
        leader = self.leader
        assert leader is not None
        logger.info(
            "%s: the same query as %r after its dates are resolved; "
            "calculated once, its result is reused",
            record.name,
            leader.name,
        )
        await self.done.wait()
        record.calculation_id = leader.calculation_id
        record.cached = leader.cached
        if self.spool is None:
            reason = self.failure or MappExportError("it got no result")
            raise type(reason)(f"the same query as {leader.name!r} failed: {reason}")
        return self.spool


class SharedResults:
    """The shared calculations of one run, by body fingerprint."""

    def __init__(self, queries: Iterable[QueryPlan]) -> None:
        counts = Counter(query.fingerprint for query in queries if not query.report)
        self._by_fingerprint = {
            fingerprint: SharedResult(count)
            for fingerprint, count in counts.items()
            if count > 1
        }

    def of(self, query: QueryPlan) -> SharedResult | None:
        """Return the shared calculation ``query`` takes part in, if any."""
        if query.report is not None:
            return None
        return self._by_fingerprint.get(query.fingerprint)

    async def release(self, query: QueryPlan, spool: Path) -> None:
        """Remove ``spool`` once every query that reads it has written its sheet."""
        shared = self.of(query)
        if shared is not None:
            shared.readers -= 1
            if shared.readers > 0:
                return
        await anyio.to_thread.run_sync(lambda: spool.unlink(missing_ok=True))
