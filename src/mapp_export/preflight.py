"""Checks made before any calculation is spent: disk space and the month's quota.

Each calculation counts against a monthly allowance, so a run that is bound to
fail (an output folder that is full or read-only, an allowance that cannot
cover the manifest) is refused before the first one is submitted.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from mapp_export.api import MappClient, Usage
from mapp_export.errors import (
    AllowanceError,
    ApiError,
    AuthenticationError,
    TokenRejectedError,
    WorkbookError,
)

logger = logging.getLogger("mapp_export")

MEBIBYTE = 1024 * 1024


def check_output_folder(folder: Path, min_free_bytes: int) -> None:
    """Create ``folder`` if needed; refuse it unless writable with room to spare."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorkbookError(
            f"the output folder {folder} cannot be created: {exc.strerror}"
        ) from None

    if not os.access(folder, os.W_OK):
        raise WorkbookError(
            f"the output folder {folder} is not writable; choose another --output"
        )

    free = shutil.disk_usage(folder).free
    if free < min_free_bytes:
        raise WorkbookError(
            f"the output folder {folder} has {free / MEBIBYTE:.0f} MiB free, less "
            f"than the {min_free_bytes / MEBIBYTE:.0f} MiB a run needs for its "
            "spool files and workbook; free some space or choose another --output"
        )


async def read_usage(client: MappClient, moment: str) -> Usage | None:
    """Read the month's usage; log and return None when the API cannot say.

    A refused token is not a usage problem: it ends the run, so it is raised.
    """
    try:
        usage = await client.usage()
    except (AuthenticationError, TokenRejectedError):
        raise
    except ApiError as exc:
        logger.warning("usage %s the run is unknown: %s", moment, exc)
        return None

    logger.info("usage %s the run: %s", moment, usage.describe())
    return usage


def check_allowance(usage: Usage | None, needed: int, *, force: bool) -> None:
    """Refuse a run that needs more calculations than the month has left.

    ``force`` turns the refusal into a warning. Unknown usage is not refused:
    the API's usage endpoint failing must not stop a nightly run. Cached
    results cost nothing, so the run may well need fewer than ``needed``.
    """
    if usage is None or needed <= usage.remaining:
        return

    message = (
        f"the manifest needs up to {needed} calculations but only "
        f"{usage.remaining} remain this month ({usage.describe()})"
    )
    if force:
        logger.warning("%s; submitting anyway (--force)", message)
        return
    raise AllowanceError(
        f"{message}; nothing was submitted. Run with --force to submit anyway, "
        "or wait until the allowance renews"
    )
