"""Aborting a calculation on the server when a query gives up on it.

A calculation left running keeps costing the customer's allowance, so it is
aborted whatever ended the query: its deadline, a transient failure, a stop
of the whole run. The abort runs shielded from that cancellation and within a
grace period, and its own failure is logged, never raised: it must not hide
why the query ended.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio

from mapp_export.errors import MappExportError

logger = logging.getLogger("mapp_export")

ABORT_GRACE_SECONDS = 10.0
"""How long an abort may take before the run moves on without it."""


async def abort_quietly(
    abort: Callable[[], Awaitable[None]], *, query: str, what: str
) -> None:
    """Run ``abort`` shielded and bounded; log, never raise, when it fails."""
    with anyio.move_on_after(ABORT_GRACE_SECONDS, shield=True):
        try:
            await abort()
        except MappExportError as exc:
            logger.warning("%s: the %s could not be aborted: %s", query, what, exc)
