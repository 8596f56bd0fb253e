"""Writing one result into the workbook, and holding it to the query's ``expect:``.

A result with fewer data rows than ``expect.min_rows`` is taken out of the
workbook again and its query fails with the reason in words: a failed query
has no data sheet (only the placeholder that ``failed_sheet: placeholder``
asks for), so a short result never passes for a good one. Data rows are the
rows written less the total rows, so a result that holds only its grand total
counts as empty.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from mapp_export.errors import ExpectationError
from mapp_export.records import QueryRecord, SheetFacts
from mapp_export.workbook import SheetOptions

if TYPE_CHECKING:
    from mapp_export.journey import Workshop


def data_rows(facts: SheetFacts) -> int:
    """Return the rows of real data a written result holds, totals left out."""
    totals_written = 0 if facts.totals_policy == "drop" else facts.total_rows
    return max(facts.rows_written - totals_written, 0)


def shortfall(facts: SheetFacts, min_rows: int | None) -> str | None:
    """Say why the result falls short of ``min_rows``, or ``None`` if it does not."""
    rows = data_rows(facts)
    if min_rows is None or rows >= min_rows:
        return None

    return (
        f"the result has {rows} data row{'s' if rows != 1 else ''}, fewer than "
        f"expect.min_rows ({min_rows}), so its sheet was left out; check the "
        "query's filters and time range in Mapp, or lower expect.min_rows"
    )


async def write_checked(
    workshop: Workshop,
    record: QueryRecord,
    spool: Path,
    options: SheetOptions,
    min_rows: int | None,
) -> SheetFacts:
    """Write the spooled result as ``record``'s sheet(s), or fail on a short one."""
    writer = workshop.writer
    facts = await anyio.to_thread.run_sync(
        writer.write_result, record, spool, options, limiter=workshop.writing
    )
    problem = shortfall(facts, min_rows)
    if problem is not None:
        await anyio.to_thread.run_sync(
            writer.drop_result, facts, limiter=workshop.writing
        )
        raise ExpectationError(f"{record.name}: {problem}")
    return facts
