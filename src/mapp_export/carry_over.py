"""Keeping the other queries' sheets when ``--only`` re-runs a few of them.

``mapp-export run MANIFEST --only NAME`` writes into the same output path as a
run of the whole manifest. The queries it names get fresh sheets; every other
query keeps the sheets it has in the workbook already there (see
:mod:`mapp_export.previous_workbook`), copied row by row (see
:mod:`mapp_export.sheet_copy`) into the new workbook, in manifest order. The
``Summary`` says which queries were re-run and which carried over, and from
which run; the run report gives them the status ``carried_over``.

- **No previous workbook**: only the re-run queries' sheets are written, with
  a warning; the others are ``not_in_previous_workbook``, and so is a query
  whose sheets the previous workbook lacks.
- **A previous workbook that cannot be read** refuses the run before anything
  is submitted (exit code 2); one that fails while its sheets are copied
  leaves the output untouched (exit code 3). Either way it is never replaced
  by a workbook missing sheets it held.
- **A re-run query that fails** keeps its older sheets, marked ``stale`` in the
  ``Summary``; the run report counts it as failed. When every re-run query
  fails nothing is written and the previous workbook stays as it was.

The previous workbook is read while the new one is written to its temporary
file, so before the new one is moved onto it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from mapp_export.plan import Plan
from mapp_export.previous_workbook import (
    PreviousWorkbook,
    open_previous,
    read_previous_workbook,
    unreadable,
)
from mapp_export.records import CarriedSheets, QueryRecord, QueryState

if TYPE_CHECKING:
    from mapp_export.workbook import WorkbookWriter

logger = logging.getLogger("mapp_export")


class CarryOver:
    """The queries a run leaves out, and the sheets it keeps for them."""

    def __init__(
        self,
        plan: Plan,
        previous: PreviousWorkbook | None = None,
        left_out: Sequence[QueryRecord] = (),
    ) -> None:
        self.plan = plan
        self.previous = previous
        self.left_out = list(left_out)

    @classmethod
    def prepare(cls, plan: Plan) -> CarryOver:
        """Find the left-out queries' sheets in the previous workbook, if any.

        Raises:
            WorkbookError: a file is at the output path but cannot be read.
        """
        if not plan.left_out:
            return cls(plan)

        left_out = [
            QueryRecord(
                index=query.index,
                name=query.name,
                sheet_title=query.sheet_title,
                left_out=True,
            )
            for query in plan.left_out
        ]
        everything = sorted(
            [*left_out, *_records_of(plan)], key=lambda record: record.index
        )
        planned = [record.sheet_title for record in everything]
        previous = read_previous_workbook(plan.output, everything, planned)
        carry = cls(plan, previous, left_out)
        carry.match_left_out()
        return carry

    def match_left_out(self) -> None:
        """Give each left-out query its previous sheets, or say it has none."""
        previous = self.previous
        if previous is None:
            return

        if not previous.found:
            logger.warning(
                "no workbook at %s to keep the other queries' sheets from: only the "
                "re-run queries' sheets are written; %s have none until they run again",
                previous.path,
                ", ".join(repr(record.name) for record in self.left_out),
            )

        for record in self.left_out:
            record.carried = previous.sheets.get(record.index)
            if record.carried is None:
                record.error = self._absent(record, previous)

    def _absent(self, record: QueryRecord, previous: PreviousWorkbook) -> str:
        """Say that a left-out query has no sheet to keep, and what to do."""
        where = (
            f"the previous workbook at {previous.path} has no sheet of it"
            if previous.found
            else f"no workbook was at {previous.path}"
        )
        message = (
            f"not re-run (--only) and {where}; run it with --only "
            f"{record.name!r} or run the whole manifest"
        )
        if previous.found:
            logger.warning("%s: %s", record.name, message)
        return message

    @property
    def reserved_titles(self) -> list[str]:
        """Titles that continuation sheets of re-run queries must leave free.

        The left-out queries' planned titles and their kept sheets' titles; a
        re-run query's own older titles stay free for its fresh sheets.
        """
        planned = [record.sheet_title for record in self.left_out]
        kept = [
            title
            for record in self.left_out
            if record.carried is not None
            for title in record.carried.titles
        ]
        return [*planned, *kept]

    @property
    def rerun(self) -> tuple[str, ...]:
        """The names of the queries ``--only`` named; empty for a whole run."""
        if not self.plan.left_out:
            return ()
        return tuple(query.name for query in self.plan.queries)

    @property
    def carried_from(self) -> datetime | str | None:
        """Where the kept sheets come from, for the ``Summary``'s facts."""
        return self.previous.describe() if self.previous is not None else None

    def write(self, writer: WorkbookWriter, records: Sequence[QueryRecord]) -> None:
        """Copy the kept sheets: the left-out queries', and failed ones' older sheets.

        Raises:
            WorkbookError: the previous workbook failed while being read.
        """
        previous = self.previous
        if previous is None or not previous.found:
            return

        wanted = [
            (record, record.carried)
            for record in self.left_out
            if record.carried is not None
        ]
        wanted += [
            (record, previous.sheets[record.index])
            for record in records
            if record.state is QueryState.FAILED and record.index in previous.sheets
        ]
        if not wanted:
            return

        with open_previous(previous.path) as source:
            for record, sheets in sorted(wanted, key=lambda pair: pair[0].index):
                self._copy(writer, record, sheets, source)

    def _copy(
        self,
        writer: WorkbookWriter,
        record: QueryRecord,
        sheets: CarriedSheets,
        source: object,
    ) -> None:
        """Copy one query's sheets; mark a failed re-run query's as stale."""
        previous = self.previous
        assert previous is not None
        try:
            sheets.rows = writer.copy_sheets(record, sheets.titles, source)
        except OSError:
            raise
        except Exception as exc:
            raise unreadable(previous.path, exc) from exc

        record.carried = sheets
        if not record.left_out:
            logger.warning(
                "%s: failed; its sheets from the previous workbook (%s) were kept "
                "and are marked stale in the Summary",
                record.name,
                ", ".join(sheets.titles),
            )

    def all_records(self, records: Sequence[QueryRecord]) -> list[QueryRecord]:
        """Return the re-run queries' and the left-out queries' records, in order."""
        return sorted([*records, *self.left_out], key=lambda record: record.index)


def _records_of(plan: Plan) -> list[QueryRecord]:
    """Make records naming the re-run queries, to look their older sheets up."""
    return [
        QueryRecord(index=query.index, name=query.name, sheet_title=query.sheet_title)
        for query in plan.queries
    ]
