"""Tests of sheet titles: checking, deriving, de-duplicating, continuing."""

from __future__ import annotations

import pytest

from mapp_export.cells import utf16_length
from mapp_export.titles import (
    assign_sheet_titles,
    continuation_title,
    sheet_title_problem,
)

EMOJI = "\U0001f600"


def is_valid(title: str) -> bool:
    """Tell whether Excel would accept ``title`` on its own."""
    return sheet_title_problem(title, reserved=()) is None


class TestSheetTitleProblem:
    """Explaining what is wrong with a title the user wrote."""

    def test_good_title_has_no_problem(self) -> None:
        """An ordinary title with spaces, umlauts and an emoji is fine."""
        assert sheet_title_problem(f"Besuche März {EMOJI}") is None

    @pytest.mark.parametrize(
        ("title", "words"),
        [
            ("", "blank"),
            ("   ", "blank"),
            ("x" * 32, "32 characters"),
            (EMOJI * 16, "32 characters"),
            ("a/b", "contains /"),
            ("[x]", "contains [ ]"),
            ("a:b*c?d\\e", "contains * : ? \\"),
            ("'quoted", "apostrophe"),
            ("quoted'", "apostrophe"),
            ("a\x01b", "control characters"),
            ("a\tb", "control characters"),
            ("History", "reserved by Excel"),
            ("hIsToRy", "reserved by Excel"),
            ("summary", "adds itself"),
        ],
    )
    def test_bad_titles_are_explained(self, title: str, words: str) -> None:
        """Each rule Excel enforces is explained in words."""
        problem = sheet_title_problem(title)

        assert problem is not None
        assert words in problem

    def test_thirty_one_characters_are_allowed(self) -> None:
        """Exactly 31 characters is the limit, not over it."""
        assert sheet_title_problem("x" * 31) is None


class TestAssignSheetTitles:
    """Deciding one valid, unique title per query."""

    def test_names_become_titles(self) -> None:
        """A valid name is its own title."""
        assert assign_sheet_titles([("Visits", None), ("Pages", None)]) == [
            "Visits",
            "Pages",
        ]

    def test_long_name_is_cut_to_31(self) -> None:
        """A 40-character name is cut to a 31-character title."""
        (title,) = assign_sheet_titles([("a" * 40, None)])

        assert title == "a" * 31

    def test_forbidden_characters_are_replaced(self) -> None:
        """Characters Excel refuses become underscores; apostrophes at ends go."""
        (title,) = assign_sheet_titles([("'Visits [EU]: a/b\\c*d?'", None)])

        assert title == "Visits _EU__ a_b_c_d_"
        assert is_valid(title)

    def test_names_equal_but_for_case_get_distinct_titles(self) -> None:
        """Excel ignores case, so ``visits`` after ``Visits`` is numbered."""
        assert assign_sheet_titles([("Visits", None), ("visits", None)]) == [
            "Visits",
            "visits (2)",
        ]

    def test_long_names_equal_in_their_first_31_get_distinct_titles(self) -> None:
        """Two long names sharing 31 characters get distinct valid titles."""
        common = "Page impressions by device and "
        titles = assign_sheet_titles([(common + "day", None), (common + "week", None)])

        assert titles == [common.strip(), "Page impressions by device (2)"]
        assert all(is_valid(title) and utf16_length(title) <= 31 for title in titles)

    def test_history_is_renamed(self) -> None:
        """A query named History gets another title, Excel keeps that one."""
        assert assign_sheet_titles([("History", None)]) == ["History (2)"]

    def test_summary_is_left_for_the_summary_sheet(self) -> None:
        """A query named Summary does not take the summary sheet's title."""
        assert assign_sheet_titles([("summary", None)]) == ["summary (2)"]

    def test_explicit_titles_win_over_derived_ones(self) -> None:
        """An explicit title is kept; an earlier derived one moves aside."""
        titles = assign_sheet_titles([("Visits", None), ("Other", "visits")])

        assert titles == ["Visits (2)", "visits"]

    def test_two_explicit_titles_clashing_are_refused(self) -> None:
        """Two queries asking for one title is an error naming the query."""
        with pytest.raises(ValueError, match="'Second'"):
            assign_sheet_titles([("First", "Data"), ("Second", "data")])

    def test_blank_name_gets_a_numbered_title(self) -> None:
        """A name with nothing usable in it becomes ``Query <n>``."""
        assert assign_sheet_titles([("a", None), ("''", None)]) == ["a", "Query 2"]

    def test_titles_are_deterministic(self) -> None:
        """The same requests always give the same titles."""
        requests = [("x" * 40, None), ("X" * 40, None), ("y", "Y (2)"), ("y", None)]

        assert assign_sheet_titles(requests) == assign_sheet_titles(requests)

    def test_numbering_keeps_an_emoji_whole(self) -> None:
        """Shortening for a suffix never splits an emoji."""
        name = "a" * 26 + EMOJI + "b" * 10
        titles = assign_sheet_titles([(name, None), (name, None)])

        assert titles[1] == "a" * 26 + " (2)"
        assert all(is_valid(title) for title in titles)

    def test_every_derived_title_is_valid_and_unique(self) -> None:
        """Awkward names, each twice, give valid titles, unique ignoring case."""
        names = [
            "bell\x07 and\ttab\n", "'[a]:b*c?d/e\\f'", "History", "  ", "''",
            "x" * 40, "X" * 40, f"{EMOJI * 20}", "Summary", "it's", "IT'S",
        ]  # fmt: skip
        titles = assign_sheet_titles([(name, None) for name in names * 2])

        assert all(is_valid(title) for title in titles)
        assert len({title.casefold() for title in titles} | {"summary"}) == 23
        assert titles[0] == "bell and tab"


class TestContinuationTitle:
    """Naming the further sheets of a result too long for one."""

    def test_parts_are_numbered(self) -> None:
        """The second part of ``Visits`` is ``Visits (2)``."""
        assert continuation_title("Visits", 2, {"Visits"}) == "Visits (2)"

    def test_taken_titles_are_skipped_ignoring_case(self) -> None:
        """A planned ``visits (2)`` pushes the continuation to ``Visits (3)``."""
        assert continuation_title("Visits", 2, {"Visits", "visits (2)"}) == "Visits (3)"

    def test_long_base_is_shortened_to_fit(self) -> None:
        """A 31-character base is shortened so the suffix fits."""
        title = continuation_title("x" * 31, 12, {"x" * 31})

        assert title == "x" * 26 + " (12)"
        assert is_valid(title)
