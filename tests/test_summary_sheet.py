"""Tests of the Summary sheet: run facts, one row per query, every text cleaned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from mapp_export.records import QueryState
from mapp_export.workbook import SheetOptions, WorkbookWriter
from workbook_helpers import (
    PAGE,
    VISITS,
    calamine_rows,
    openpyxl_rows,
    record,
    run_facts,
    spool,
)


def naive(day: int, hour: int, minute: int, second: int = 0) -> datetime:
    """Make a December 2026 datetime without tzinfo, as Excel stores them."""
    return datetime(2026, 12, day, hour, minute, second, tzinfo=UTC).replace(
        tzinfo=None
    )


def summary_table(target: Path) -> list[dict[str, Any]]:
    """Read the summary's query table with openpyxl, one mapping per query."""
    rows = openpyxl_rows(target, "Summary")
    heading = next(i for i, row in enumerate(rows) if row[0] == "Query")
    return [dict(zip(rows[heading], row, strict=True)) for row in rows[heading + 1 :]]


class TestSummary:
    """The Summary sheet: run facts, then one row per query."""

    def test_summary_lists_run_facts_and_queries(self, tmp_path: Path) -> None:
        """Facts and a row per query, datetimes naive in the run's time zone."""
        target = tmp_path / "export.xlsx"
        zone = timezone(timedelta(hours=1))
        writer = WorkbookWriter(target, timezone=zone)
        done, failed = record(0, "Visits"), record(1, "Broken")
        headers = [PAGE, VISITS]
        rows = [["a\x00", 1], ["0000000000", 1]]
        done.sheet = writer.write_result(
            done, spool(tmp_path, headers, rows), SheetOptions()
        )
        done.state, done.calculation_id, done.polls = QueryState.DONE, "calc-1", 4
        done.submitted_at = datetime(2026, 12, 4, 5, 0, tzinfo=UTC)
        done.finished_at = datetime(2026, 12, 4, 5, 1, 30, tzinfo=UTC)
        failed.state, failed.error = QueryState.FAILED, "the calculation ended FAILED"
        run = run_facts()
        run.usage_before = "4012 of 310000"

        writer.finish([failed, done], run)

        rows_read = openpyxl_rows(target, "Summary")
        assert rows_read[:7] == [
            ["Manifest", "reports/daily.yaml", *[None] * 17],
            ["Run started", naive(4, 7, 0), *[None] * 17],
            ["Time zone", "Europe/Berlin", *[None] * 17],
            ["API host", "api.mapp.com", *[None] * 17],
            ["Exit status", 0, *[None] * 17],
            ["Usage before", "4012 of 310000", *[None] * 17],
            [None] * 19,
        ]
        table = [dict(zip(rows_read[7], row, strict=True)) for row in rows_read[8:]]
        assert [row["Query"] for row in table] == ["query 0", "query 1"]
        assert table[0] == {
            "Query": "query 0", "Sheets": "Visits", "Status": "done",
            "Rows written": 2, "Totals": "label", "Controls removed": 1,
            "Texts cut": 0, "Metrics kept as text": 0, "API warnings": None,
            "Notes": None, "Sampled": "no", "Time range": None, "Timestamp": None,
            "Calculation id": "calc-1", "Started": naive(4, 6, 0),
            "Finished": naive(4, 6, 1, 30), "Duration (s)": 90,
            "Polls": 4, "Error": None,
        }  # fmt: skip
        assert table[1]["Status"] == "failed"
        assert table[1]["Error"] == "the calculation ended FAILED"
        assert table[1]["Rows written"] is None

    def test_error_page_is_cleaned_and_cut(self, tmp_path: Path) -> None:
        """An error with control characters and 40,000 characters fits its cell."""
        target = tmp_path / "export.xlsx"
        writer = WorkbookWriter(target)
        failed = record(0, "Broken")
        failed.state = QueryState.FAILED
        failed.error = "<html>\x00\x1b<body>" + "e" * 40_000
        good = record(1, "Good")
        good.sheet = writer.write_result(
            good, spool(tmp_path, [PAGE], [["x"]]), SheetOptions()
        )
        good.state = QueryState.DONE

        writer.finish([failed, good], run_facts())

        expected = ("<html><body>" + "e" * 40_000)[:32_767]
        assert summary_table(target)[0]["Error"] == expected
        calamine_summary = calamine_rows(target, "Summary")
        assert calamine_summary[-2][-1] == expected

    def test_query_names_are_literal_text(self, tmp_path: Path) -> None:
        """Query names beginning with = + - @ are text; control characters go."""
        target = tmp_path / "export.xlsx"
        writer = WorkbookWriter(target)
        names = ["=HYPERLINK(1)", "+1", "-1", "@me\x07"]
        queries = []
        for index, name in enumerate(names):
            query = record(index, f"Sheet {index}")
            query.name, query.state, query.error = name, QueryState.FAILED, name
            queries.append(query)
        queries[0].sheet = writer.write_result(
            queries[0], spool(tmp_path, [PAGE], [["x"]]), SheetOptions()
        )
        queries[0].state, queries[0].error = QueryState.DONE, None

        writer.finish(queries, run_facts())

        expected = ["=HYPERLINK(1)", "+1", "-1", "@me"]
        assert [row["Query"] for row in summary_table(target)] == expected
        assert [row[0] for row in calamine_rows(target, "Summary")[-4:]] == expected

    def test_cell_counts_are_reported_per_query(self, tmp_path: Path) -> None:
        """Controls removed, texts cut and metrics kept as text are each query's own."""
        target = tmp_path / "export.xlsx"
        writer = WorkbookWriter(target)
        rows_by_query: list[list[list[Any]]] = [
            [["a\x01", "n/a"], ["b\x02", 1], ["x" * 40_000, "1234567890123456"]],
            [["clean", 2]],
        ]
        queries = []
        for index, rows in enumerate(rows_by_query):
            query = record(index, f"Sheet {index}")
            query.sheet = writer.write_result(
                query, spool(tmp_path, [PAGE, VISITS], rows), SheetOptions()
            )
            query.state = QueryState.DONE
            queries.append(query)

        writer.finish(queries, run_facts())

        counts = [
            (row["Controls removed"], row["Texts cut"], row["Metrics kept as text"])
            for row in summary_table(target)
        ]
        assert counts == [(2, 1, 2), (0, 0, 0)]
        notes = summary_table(target)[0]["Notes"]
        assert "2 metric value(s) are not numbers" in notes
        assert summary_table(target)[1]["Notes"] is None
