"""Tests of the cell rules: text cleaning, exact numbers, headings, writers."""

from __future__ import annotations

from typing import Any

import pytest

from mapp_export.cells import (
    TEXT_LIMIT,
    CellCounts,
    CellTarget,
    clean_text,
    column_headings,
    cut_to_utf16,
    exact_number,
    json_text,
    metric_cell_writer,
    text_cell_writer,
    utf16_length,
)

EMOJI = "\U0001f600"


class RecordingTarget:
    """A sheet stand-in that records each typed write."""

    def __init__(self) -> None:
        self.cells: list[tuple[str, int, int, Any]] = []

    def write_text(self, line: int, column: int, text: str) -> None:
        """Record a text cell."""
        self.cells.append(("text", line, column, text))

    def write_number(self, line: int, column: int, number: float) -> None:
        """Record a number cell."""
        self.cells.append(("number", line, column, number))

    @property
    def target(self) -> CellTarget:
        """The recorder as the target cell writers expect."""
        return CellTarget(self.write_text, self.write_number)


class TestCleanText:
    """Removing what Excel cannot hold from text, and counting it."""

    def test_plain_text_is_unchanged_and_uncounted(self) -> None:
        """Umlauts, CJK, emoji, tabs, newlines and carriage returns stay as sent."""
        counts = CellCounts()
        text = f"Grüße 東京 {EMOJI}\tline\r\nnext"

        assert clean_text(text, counts) == text
        assert counts == CellCounts()

    def test_control_characters_are_removed_and_counted_once_per_text(self) -> None:
        """XML-invalid control characters go; the text is counted once."""
        counts = CellCounts()

        assert clean_text("a\x00b\x08c\x0bd\x0ce\x1ff", counts) == "abcdef"
        assert counts.controls_removed == 1

    def test_unpaired_surrogates_and_nonchars_are_removed(self) -> None:
        """Unpaired surrogates, U+FFFE and U+FFFF are removed like controls."""
        counts = CellCounts()

        assert clean_text("a\ud800b\udc00c\ufffed\uffff", counts) == "abcd"
        assert counts.controls_removed == 1

    def test_long_text_is_cut_to_the_cell_limit_and_counted(self) -> None:
        """A 40,000-character text is cut to 32,767 code units."""
        counts = CellCounts()

        cut = clean_text("x" * 40_000, counts)

        assert len(cut) == TEXT_LIMIT
        assert counts.texts_cut == 1

    def test_cut_never_splits_a_surrogate_pair(self) -> None:
        """An emoji straddling the limit is dropped whole, not halved."""
        counts = CellCounts()
        text = "a" * (TEXT_LIMIT - 1) + EMOJI + "tail"

        cut = clean_text(text, counts)

        assert cut == "a" * (TEXT_LIMIT - 1)
        assert utf16_length(cut) == TEXT_LIMIT - 1

    def test_emoji_fitting_exactly_at_the_limit_is_kept(self) -> None:
        """An emoji ending exactly at the limit survives the cut."""
        text = "a" * (TEXT_LIMIT - 2) + EMOJI + "tail"

        assert cut_to_utf16(text, TEXT_LIMIT) == "a" * (TEXT_LIMIT - 2) + EMOJI

    def test_text_at_the_limit_in_utf16_units_is_not_cut(self) -> None:
        """Emoji count two units each, so the limit is measured in UTF-16."""
        counts = CellCounts()
        text = EMOJI * (TEXT_LIMIT // 2)

        assert clean_text(text, counts) == text
        assert counts.texts_cut == 0


class TestExactNumber:
    """Reading numeric strings as numbers only when no digit is lost."""

    @pytest.mark.parametrize(
        ("text", "number"),
        [
            ("42", 42),
            ("-7", -7),
            ("007", 7),
            ("3.25", 3.25),
            (".5", 0.5),
            ("5.", 5.0),
            ("1e3", 1000.0),
            ("-2.5E-3", -0.0025),
            ("123456789012345", 123456789012345),
            ("1.00000000000000000000", 1.0),
            ("100000000000000000000", 10**20),
        ],
    )
    def test_numeric_strings_become_numbers(self, text: str, number: float) -> None:
        """Numeric strings with at most 15 significant digits become numbers."""
        assert exact_number(text) == number

    def test_integers_stay_integers(self) -> None:
        """An integer string becomes an int, not a float."""
        assert type(exact_number("12")) is int

    @pytest.mark.parametrize(
        "text",
        [
            "1234567890123456",
            "0.1234567890123456",
            "",
            "-",
            ".",
            "e5",
            " 5",
            "5 ",
            "+5",
            "1,5",
            "n/a",
            "NaN",
            "inf",
            "0x10",
            "1_000",
            "١٢",
            "1e400",
            "1e-400",
        ],
    )
    def test_other_strings_are_not_numbers(self, text: str) -> None:
        """Sixteen significant digits, blanks, words and overflows stay text."""
        assert exact_number(text) is None


class TestJsonText:
    """Spelling values that are not strings."""

    @pytest.mark.parametrize(
        ("value", "text"),
        [
            (True, "true"),
            (False, "false"),
            (12, "12"),
            (1.5, "1.5"),
            ([1, "a"], '[1, "a"]'),
        ],
    )
    def test_values_are_spelled_as_json(self, value: Any, text: str) -> None:
        """Non-string values are spelled the way JSON spells them."""
        assert json_text(value) == text


class TestColumnHeadings:
    """Header row names: renames and numbered duplicates."""

    def test_duplicates_are_numbered(self) -> None:
        """Repeated names become ``visits``, ``visits (2)``, ``visits (3)``."""
        assert column_headings(["visits", "pages", "visits", "visits"], {}) == [
            "visits",
            "pages",
            "visits (2)",
            "visits (3)",
        ]

    def test_renames_apply_to_every_column_of_a_name_then_deduplicate(self) -> None:
        """A rename reaches every column of that name; clashes are then numbered."""
        headings = column_headings(
            ["visits", "pages", "visits"], {"visits": "Visits", "pages": "Visits"}
        )

        assert headings == ["Visits", "Visits (2)", "Visits (3)"]

    def test_headings_are_cleaned(self) -> None:
        """Control characters are removed from headings too."""
        assert column_headings(["a\x00b"], {}) == ["ab"]


class TestTextCellWriter:
    """Writing dimension values: always exact text."""

    def test_dimension_values_stay_text_exactly(self) -> None:
        """Leading zeros, long ids, dates, TRUE, None, 0 and "" stay text."""
        recorder = RecordingTarget()
        write = text_cell_writer(1, recorder.target, CellCounts())
        values = ["00123", "12345678901234567890", "20210826", "TRUE", "None", "0", ""]

        for line, value in enumerate(values, start=1):
            write(line, value)

        assert recorder.cells == [
            ("text", line, 1, value) for line, value in enumerate(values, start=1)
        ]

    def test_null_dimension_is_not_written(self) -> None:
        """A null dimension leaves the cell empty."""
        recorder = RecordingTarget()

        text_cell_writer(0, recorder.target, CellCounts())(1, None)

        assert recorder.cells == []

    def test_number_in_a_dimension_column_is_written_as_its_text(self) -> None:
        """A JSON number in a dimension column becomes text, never a number."""
        recorder = RecordingTarget()

        text_cell_writer(0, recorder.target, CellCounts())(1, 42)

        assert recorder.cells == [("text", 1, 0, "42")]

    def test_dimension_controls_are_removed_and_counted(self) -> None:
        """Control characters in a dimension are removed and counted."""
        recorder = RecordingTarget()
        counts = CellCounts()

        text_cell_writer(0, recorder.target, counts)(1, "a\x01b")

        assert recorder.cells == [("text", 1, 0, "ab")]
        assert counts.controls_removed == 1


class TestMetricCellWriter:
    """Writing metric values: numbers, or counted text."""

    def test_json_numbers_are_written_as_they_are(self) -> None:
        """Ints and floats from the JSON are written unchanged as numbers."""
        recorder = RecordingTarget()
        write = metric_cell_writer(2, recorder.target, CellCounts(), null_as_zero=False)

        write(1, 7)
        write(2, 38.333333333333336)

        assert recorder.cells == [
            ("number", 1, 2, 7),
            ("number", 2, 2, 38.333333333333336),
        ]

    def test_numeric_strings_become_numbers(self) -> None:
        """A numeric string in a metric column becomes a number."""
        recorder = RecordingTarget()
        counts = CellCounts()
        write = metric_cell_writer(0, recorder.target, counts, null_as_zero=False)

        write(1, "00120")
        write(2, "3.5")

        assert recorder.cells == [("number", 1, 0, 120), ("number", 2, 0, 3.5)]
        assert counts.metrics_kept_as_text == 0

    def test_non_numbers_stay_text_and_are_counted(self) -> None:
        """Sixteen digits, words, formulas and booleans stay text, each counted."""
        recorder = RecordingTarget()
        counts = CellCounts()
        write = metric_cell_writer(0, recorder.target, counts, null_as_zero=False)

        for line, value in enumerate(["1234567890123456", "n/a", "=1+2", True], 1):
            write(line, value)

        assert [cell[0] for cell in recorder.cells] == ["text"] * 4
        assert recorder.cells[0][3] == "1234567890123456"
        assert recorder.cells[3][3] == "true"
        assert counts.metrics_kept_as_text == 4

    def test_null_is_empty_by_default(self) -> None:
        """A null metric leaves the cell empty."""
        recorder = RecordingTarget()

        metric_cell_writer(0, recorder.target, CellCounts(), null_as_zero=False)(
            1, None
        )

        assert recorder.cells == []

    def test_null_is_zero_when_asked(self) -> None:
        """With nulls as zero, a null metric is written as the number 0."""
        recorder = RecordingTarget()

        metric_cell_writer(0, recorder.target, CellCounts(), null_as_zero=True)(1, None)

        assert recorder.cells == [("number", 1, 0, 0)]

    def test_json_integers_beyond_fifteen_digits_stay_text(self) -> None:
        """A JSON integer of 16+ significant digits stays text; 10**20 is a number."""
        recorder = RecordingTarget()
        counts = CellCounts()
        write = metric_cell_writer(0, recorder.target, counts, null_as_zero=False)

        for line, value in enumerate(
            [1234567890123456, -999999999999999, 10**20, -12345678901234567890], 1
        ):
            write(line, value)

        assert recorder.cells == [
            ("text", 1, 0, "1234567890123456"),
            ("number", 2, 0, -999999999999999),
            ("number", 3, 0, 10**20),
            ("text", 4, 0, "-12345678901234567890"),
        ]
        assert counts.metrics_kept_as_text == 2
