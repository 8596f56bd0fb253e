"""Tests of reading a spooled result: metadata first, rows streamed after."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mapp_export.errors import ApiError, ResultFormatError, WorkbookError
from mapp_export.results import ResultHeader, iter_result_rows, read_result_meta

HEADERS: list[dict[str, Any]] = [
    {
        "name": "time_days",
        "alias": "time_days|0",
        "dimension": True,
        "metric": None,
        "sumPositions": [2],
    },
    {
        "name": "visits",
        "alias": "visits|0",
        "dimension": None,
        "metric": True,
    },
]


def spool(tmp_path: Path, body: dict[str, Any] | str) -> Path:
    """Write a result body to a spool file, rows first as Mapp's example has it."""
    path = tmp_path / "result.json"
    path.write_text(body if isinstance(body, str) else json.dumps(body), "utf-8")
    return path


def result_body(rows: list[Any], **extra: Any) -> dict[str, Any]:
    """Build a result body whose rows come before its headers."""
    return {
        "calculationDataType": "RAW_DATA",
        "rows": rows,
        "rowCount": len(rows),
        "headers": HEADERS,
        **extra,
    }


class TestReadResultMeta:
    """Reading everything of a result body but its rows."""

    def test_headers_after_rows_are_read(self, tmp_path: Path) -> None:
        """Headers that follow the rows are found, with null flags as false."""
        path = spool(tmp_path, result_body([["20210826", 7]]))

        meta = read_result_meta(path)

        assert meta.headers == (
            ResultHeader(
                name="time_days",
                alias="time_days|0",
                is_metric=False,
                is_dimension=True,
                sum_positions=(2,),
            ),
            ResultHeader(
                name="visits",
                alias="visits|0",
                is_metric=True,
                is_dimension=False,
                sum_positions=(),
            ),
        )
        assert meta.row_count == 1
        assert meta.data_type == "RAW_DATA"
        assert not meta.sampled

    def test_facts_are_read(self, tmp_path: Path) -> None:
        """Warnings by name, time range, timestamp and sampling are read."""
        body = result_body(
            [],
            calculationDataType="RAW_DATA_SAMPLING",
            warnings=[{"name": "SortingEnforced", "parameters": {}}, "Odd"],
            timerange=["2026-12-03 00:00:00", "2026-12-04 00:00:00"],
            timestamp="2026-12-04T09:15:43.567+01:00",
        )

        meta = read_result_meta(spool(tmp_path, body))

        assert meta.warnings == ("SortingEnforced", "Odd")
        assert meta.timerange == ("2026-12-03 00:00:00", "2026-12-04 00:00:00")
        assert meta.timestamp == "2026-12-04T09:15:43.567+01:00"
        assert meta.sampled

    def test_total_positions_join_every_header(self, tmp_path: Path) -> None:
        """Total positions are the union of every header's sumPositions."""
        headers = [
            dict(HEADERS[0], sumPositions=[3, 7]),
            dict(HEADERS[1], sumPositions=[7, 8]),
        ]
        body = result_body([], headers=headers)

        assert read_result_meta(spool(tmp_path, body)).total_positions == {3, 7, 8}

    @pytest.mark.parametrize(
        ("body", "words"),
        [
            ("<html>Bad gateway</html>", "not valid JSON"),
            ('{"rows": [["a", 1]], "headers": [', "not valid JSON"),
            ("[1, 2]", "not a JSON object"),
            ({"rows": [], "headers": []}, "no headers"),
            ({"rows": []}, "no headers"),
            ({"headers": HEADERS}, "no rows"),
            ({"rows": [], "headers": [{"alias": "x"}]}, "without a name"),
            ({"rows": [], "headers": [{"name": "x", "sumPositions": ["1"]}]}, "sumPos"),
        ],
    )
    def test_bodies_that_are_not_results_are_refused(
        self, tmp_path: Path, body: dict[str, Any] | str, words: str
    ) -> None:
        """A body that is not an analysis result raises ResultFormatError."""
        with pytest.raises(ResultFormatError, match=words) as caught:
            read_result_meta(spool(tmp_path, body))

        assert isinstance(caught.value, ApiError)

    def test_missing_spool_is_a_local_error(self, tmp_path: Path) -> None:
        """A spool that is not there is a WorkbookError, not the API's fault."""
        with pytest.raises(WorkbookError, match="cannot be read"):
            read_result_meta(tmp_path / "missing.json")


class TestIterResultRows:
    """Streaming the rows of a result body."""

    def test_rows_are_yielded_with_json_types(self, tmp_path: Path) -> None:
        """Strings stay strings, integers are ints and decimals are floats."""
        rows = [["00123", 7, 38.333333333333336, None], ["TRUE", "5", 0.1, True]]
        path = spool(tmp_path, result_body(rows))

        read = list(iter_result_rows(path))

        assert read == rows
        assert type(read[0][1]) is int
        assert type(read[0][2]) is float

    def test_row_of_the_wrong_width_is_refused(self, tmp_path: Path) -> None:
        """A row wider or narrower than the headers raises ResultFormatError."""
        path = spool(tmp_path, result_body([["a", 1], ["b", 2, 3]]))

        with pytest.raises(ResultFormatError, match=r"row 1 .* 3 values"):
            list(iter_result_rows(path, width=2))

    def test_row_that_is_not_an_array_is_refused(self, tmp_path: Path) -> None:
        """A row that is an object, not an array, raises ResultFormatError."""
        path = spool(tmp_path, result_body([{"a": 1}]))

        with pytest.raises(ResultFormatError, match="not an array"):
            list(iter_result_rows(path))

    def test_body_broken_partway_is_refused(self, tmp_path: Path) -> None:
        """A body cut off inside the rows raises after the good rows."""
        path = spool(tmp_path, '{"rows": [["a", 1], ["b", 2], ["c"')
        rows = iter_result_rows(path)

        assert next(rows) == ["a", 1]
        with pytest.raises(ResultFormatError, match="not valid JSON"):
            list(rows)
