"""Hostile manifests and command lines: each gets a clear refusal, exit code 2.

Every refusal names the file, the line where there is one, and what to write
instead; none ends in a traceback, a hang or a silently accepted value.
"""

from __future__ import annotations

import json
import os
import textwrap
from datetime import date
from pathlib import Path

import pytest

from mapp_export import settings
from mapp_export.cli import main
from mapp_export.errors import CredentialsError, ManifestError
from mapp_export.manifest import load_plan
from mapp_export.settings import Overrides, load_credentials

QUERY = "{columns: [{name: pages}], variant: LIST}"


def write_manifest(folder: Path, text: str, name: str = "manifest.yaml") -> Path:
    """Write a manifest from an indented literal and return its path."""
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def with_query(folder: Path, query_lines: str, *, head: str = "") -> Path:
    """Write a one-query manifest whose query entry ends with ``query_lines``."""
    entry = textwrap.indent(textwrap.dedent(query_lines).strip("\n"), "    ")
    text = f"{head}output: out.xlsx\nqueries:\n  - name: Pages\n{entry}\n"
    return write_manifest(folder, text)


def error_of(path: Path, overrides: Overrides | None = None) -> ManifestError:
    """Load ``path`` expecting a manifest error, and return it."""
    with pytest.raises(ManifestError) as caught:
        load_plan(path, overrides, environment={})
    return caught.value


def refusal(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the command line expecting exit code 2; return what it wrote."""
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2
    return captured.out + captured.err


def line_of(path: Path, text: str) -> int:
    """Return the 1-based number of the first line of ``path`` holding ``text``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def alias_bomb(levels: int, width: int) -> str:
    """Return YAML lines of a "billion laughs": each level repeats the last."""
    lines = ["    bomb0: &l0 [lol]"]
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*l{level - 1}"] * width)
        lines.append(f"    bomb{level}: &l{level} [{aliases}]")
    return "\n".join(lines)


class TestAliases:
    """Aliases may repeat small values; a document they blow up is refused."""

    def test_billion_laughs_is_refused_at_the_alias_that_overflows(
        self, tmp_path: Path
    ) -> None:
        """Nine levels of nine aliases: refused at once, at the alias's line."""
        path = with_query(
            tmp_path,
            f"query:\n  columns: [{{name: pages}}]\n  extra:\n{alias_bomb(9, 9)}",
        )

        error = error_of(path)

        assert error.path == path
        assert (
            error.reason == "the document's aliases expand to more than 100,000 values"
        )
        assert error.line == line_of(path, "bomb5:")
        assert error.hint is not None
        assert "repeat less" in error.hint

    def test_small_anchors_keep_working(self, tmp_path: Path) -> None:
        """A body written once with an anchor and reused by alias is sent twice."""
        path = write_manifest(
            tmp_path,
            f"""
            output: out.xlsx
            queries:
              - name: First
                query: &pages {QUERY}
              - name: Second
                query: *pages
            """,
        )

        plan = load_plan(path, environment={})

        assert plan.queries[0].body == plan.queries[1].body

    def test_an_alias_inside_its_own_anchor_is_refused(self, tmp_path: Path) -> None:
        """A recursive alias has no finite expansion: refused with its line."""
        path = with_query(tmp_path, "query: &self {columns: [*self]}")

        error = error_of(path)

        assert "refers to the collection it is inside of" in error.reason
        assert error.line == line_of(path, "&self")

    def test_merge_keys_merge_with_the_mapping_own_keys_winning(
        self, tmp_path: Path
    ) -> None:
        """``<<: *base`` merges; no literal '<<' key reaches Mapp."""
        path = write_manifest(
            tmp_path,
            """
            output: out.xlsx
            queries:
              - name: Pages
                query:
                  columns: [{name: pages}]
                  predefinedContainer:
                    filters:
                      - &filter {name: browser, filterPredicate: LIKE, value1: a}
                      - {<<: *filter, value1: b}
            """,
        )

        plan = load_plan(path, environment={})

        filters = plan.queries[0].body["queryObject"]["predefinedContainer"]["filters"]
        assert filters[1] == {
            "name": "browser",
            "filterPredicate": "LIKE",
            "value1": "b",
        }

    def test_a_wrong_value_after_a_merge_points_at_the_override(
        self, tmp_path: Path
    ) -> None:
        """The line of a merged mapping's own key is the one reported."""
        path = write_manifest(
            tmp_path,
            """
            output: out.xlsx
            queries:
              - name: Pages
                query:
                  columns: [{name: pages}]
                  predefinedContainer:
                    filters:
                      - &filter {name: browser, filterPredicate: LIKE, value1: a}
                      - <<: *filter
                        filterPredicate: ALMOST
            """,
        )

        error = error_of(path)

        assert error.line == line_of(path, "ALMOST")
        assert "'ALMOST'" in error.reason


class TestDepth:
    """Nesting deeper than 100 is refused in YAML and in JSON, with its line."""

    def test_deep_yaml_is_refused(self, tmp_path: Path) -> None:
        """5000 nested lists in a query: refused, no RecursionError."""
        path = with_query(
            tmp_path,
            "query:\n  columns: [{name: pages}]\n  deep: " + "[" * 5000 + "]" * 5000,
        )

        error = error_of(path)

        assert "nested more than 100 deep" in error.reason
        assert error.line == line_of(path, "deep:")

    def test_deep_json_query_file_is_refused(self, tmp_path: Path) -> None:
        """A query file 5000 arrays deep: refused naming the query file."""
        query_file = tmp_path / "deep.json"
        query_file.write_text(
            '{"columns": [],\n "deep": ' + "[" * 5000 + "]" * 5000 + "}",
            encoding="utf-8",
        )
        path = with_query(tmp_path, "query_file: deep.json")

        error = error_of(path)

        assert error.path == query_file
        assert error.line == 2
        assert "nested more than 100 deep" in error.reason

    def test_brackets_inside_json_strings_do_not_count(self, tmp_path: Path) -> None:
        """A value full of brackets is text, not nesting."""
        query_file = tmp_path / "brackets.json"
        body = {"columns": [{"name": "pages"}], "note": "[" * 500 + '\\"{'}
        query_file.write_text(json.dumps(body), encoding="utf-8")
        path = with_query(tmp_path, "query_file: brackets.json")

        plan = load_plan(path, environment={})

        assert plan.queries[0].body["queryObject"]["note"].startswith("[[[")


class TestDates:
    """A run date whose time range is not in the calendar is refused."""

    def test_year_one_with_yesterday(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--date 0001-01-01 with time: yesterday: exit 2 naming the time line."""
        path = with_query(tmp_path, f"time: yesterday\nquery: {QUERY}")

        logged = refusal(["validate", str(path), "--date", "0001-01-01"], capsys)

        assert f"{path}:{line_of(path, 'time:')}" in logged
        assert "before the calendar's first day" in logged
        assert "pass a --date" in logged

    def test_the_last_day_of_the_calendar_cannot_end_a_range(
        self, tmp_path: Path
    ) -> None:
        """to: 9999-12-31 has no next day for Mapp's exclusive end."""
        path = with_query(
            tmp_path, f"time: {{from: 9999-12-01, to: 9999-12-31}}\nquery: {QUERY}"
        )

        error = error_of(path)

        assert "calendar's last day" in error.reason
        assert error.line == line_of(path, "time:")


class TestPaths:
    """Output and query file paths must be plain, regular and sensibly sized."""

    def test_nul_in_the_output_is_refused(self, tmp_path: Path) -> None:
        """A NUL byte in output: refused with the line, no ValueError traceback."""
        path = write_manifest(
            tmp_path,
            f'output: "x.xlsx\\0y"\nqueries:\n  - {{name: P, query: {QUERY}}}\n',
        )

        error = error_of(path)

        assert error.line == 1
        assert "control character U+0000" in error.reason

    def test_a_device_as_query_file_is_refused_at_once(self, tmp_path: Path) -> None:
        """query_file: /dev/zero is no regular file; nothing is read from it."""
        path = with_query(tmp_path, "query_file: /dev/zero")

        error = error_of(path)

        assert error.line == line_of(path, "query_file")
        assert "not a regular file" in error.reason
        assert "/dev/zero" in error.reason

    def test_a_huge_query_file_is_refused(self, tmp_path: Path) -> None:
        """A query file over 10 MB is refused before it is read."""
        huge = tmp_path / "huge.json"
        with huge.open("wb") as stream:
            stream.truncate(11 * 1024 * 1024)
        path = with_query(tmp_path, "query_file: huge.json")

        error = error_of(path)

        assert "larger than 10 MB" in error.reason
        assert error.line == line_of(path, "query_file")

    def test_an_output_not_ending_in_xlsx_is_refused(self, tmp_path: Path) -> None:
        """output: x.csv would get an xlsx file under a csv name: refused."""
        path = write_manifest(
            tmp_path, f"output: x.csv\nqueries:\n  - {{name: P, query: {QUERY}}}\n"
        )

        error = error_of(path)

        assert error.line == 1
        assert "does not end in .xlsx" in error.reason
        assert error.hint is not None
        assert "'x.xlsx'" in error.hint

    def test_the_output_flag_is_checked_too(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--output report.csv is refused with the flag's name."""
        path = with_query(tmp_path, f"query: {QUERY}")

        logged = refusal(["run", str(path), "--sandbox", "--output", "r.csv"], capsys)

        assert "--output: the output 'r.csv' does not end in .xlsx" in logged


class TestPipes:
    """A pipe named as any input is refused at once instead of waiting for a writer."""

    def test_a_pipe_as_manifest(self, tmp_path: Path) -> None:
        """A FIFO manifest is no regular file; reading never blocks on it."""
        pipe = tmp_path / "manifest.yaml"
        os.mkfifo(pipe)

        assert "not a regular file" in error_of(pipe).reason

    def test_a_pipe_as_query_file(self, tmp_path: Path) -> None:
        """A FIFO query file is refused at the line that names it."""
        os.mkfifo(tmp_path / "query.json")
        path = with_query(tmp_path, "query_file: query.json")

        error = error_of(path)

        assert error.line == line_of(path, "query_file")
        assert "not a regular file" in error.reason

    def test_a_pipe_as_credentials_file(self, tmp_path: Path) -> None:
        """A FIFO credentials file is refused without reading from it."""
        pipe = tmp_path / "mapp.env"
        os.mkfifo(pipe)

        with pytest.raises(CredentialsError, match="not a regular file"):
            load_credentials({}, pipe)


class TestCollisions:
    """Neither the workbook nor the run report may overwrite the run's own files."""

    def test_report_on_a_device_is_refused(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--report /dev/null would be replaced by a plain file: exit 2 instead."""
        path = with_query(tmp_path, f"query: {QUERY}")

        logged = refusal(
            ["run", str(path), "--sandbox", "--report", os.devnull], capsys
        )

        assert "is not a regular file" in logged
        assert Path(os.devnull).is_char_device()

    def test_output_on_a_folder_is_refused(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An output path that is a folder is refused before anything is sent."""
        path = with_query(tmp_path, f"query: {QUERY}")
        folder = tmp_path / "taken.xlsx"
        folder.mkdir()

        logged = refusal(
            ["run", str(path), "--sandbox", "--output", str(folder)], capsys
        )

        assert "is not a regular file" in logged
        assert folder.is_dir()

    def test_report_on_the_workbook(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--report equal to the workbook: exit 2, nothing written."""
        path = with_query(tmp_path, f"query: {QUERY}")
        workbook = tmp_path / "out.xlsx"

        logged = refusal(
            ["run", str(path), "--sandbox", "--report", str(workbook)], capsys
        )

        assert "--report" in logged
        assert "is the workbook" in logged
        assert not workbook.exists()

    def test_report_on_the_manifest(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--report naming the manifest by another spelling leaves it untouched."""
        path = with_query(tmp_path, f"query: {QUERY}")
        before = path.read_text(encoding="utf-8")
        detour = tmp_path / "sub" / ".." / path.name

        logged = refusal(
            ["run", str(path), "--sandbox", "--report", str(detour)], capsys
        )

        assert "is the manifest" in logged
        assert path.read_text(encoding="utf-8") == before

    def test_report_on_a_query_file(self, tmp_path: Path) -> None:
        """A report path equal to a query file is refused."""
        query_file = tmp_path / "q.json"
        query_file.write_text(json.dumps({"columns": [{"name": "pages"}]}), "utf-8")
        path = with_query(tmp_path, "query_file: q.json")

        error = error_of(path, Overrides(report=query_file))

        assert error.path == "--report"
        assert "is the query file" in error.reason

    def test_output_on_the_manifest(self, tmp_path: Path) -> None:
        """A workbook path equal to the manifest is refused."""
        path = write_manifest(
            tmp_path,
            f"output: book.xlsx\nqueries:\n  - {{name: P, query: {QUERY}}}\n",
            name="book.xlsx",
        )

        error = error_of(path)

        assert "is the manifest" in error.reason
        assert error.hint == "write the workbook to its own .xlsx path"

    def test_output_flag_on_the_manifest(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--output naming the manifest: exit 2 and the manifest is untouched."""
        path = with_query(tmp_path, f"query: {QUERY}")
        before = path.read_text(encoding="utf-8")

        refusal(["run", str(path), "--sandbox", "--output", str(path)], capsys)

        assert path.read_text(encoding="utf-8") == before


class TestUrlsAndHosts:
    """URLs carry no credentials, query or fragment; trusted hosts are well formed."""

    def test_credentials_in_the_base_url_are_refused_and_not_shown(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """user:pw@ in api.base_url: exit 2, and the password appears nowhere."""
        path = with_query(
            tmp_path,
            f"query: {QUERY}",
            head="api: {base_url: 'http://user:s3cr3t@127.0.0.1:18080/analytics/api'}\n",
        )

        logged = refusal(["validate", str(path)], capsys)

        assert f"{path}:1" in logged
        assert "carries a user name or password" in logged
        assert "MAPP_CLIENT_SECRET" in logged
        assert "s3cr3t" not in logged

    @pytest.mark.parametrize("suffix", ["?x=1", "#top"])
    def test_query_and_fragment_are_refused(self, tmp_path: Path, suffix: str) -> None:
        """A base URL with ?query or #fragment is refused with a hint."""
        url = f"https://api.example.com/analytics/api{suffix}"
        path = with_query(
            tmp_path, f"query: {QUERY}", head=f"api: {{base_url: '{url}'}}\n"
        )

        error = error_of(path)

        assert "'?query' or '#fragment'" in error.reason
        assert error.line == 1

    @pytest.mark.parametrize(
        "entry", ["127.0.0.1:99999", "127.0.0.1:*", "::1", "bad host", "h:0", "[::1"]
    )
    def test_bad_trusted_hosts_are_refused(self, tmp_path: Path, entry: str) -> None:
        """Each trusted host is host or host:port with a port of 1 to 65535."""
        path = with_query(
            tmp_path, f"query: {QUERY}", head=f"api: {{trusted_hosts: ['{entry}']}}\n"
        )

        error = error_of(path)

        assert error.line == 1
        assert error.reason.startswith("api.trusted_hosts:")
        assert error.hint is not None
        assert "host:port" in error.hint

    @pytest.mark.parametrize(
        "entry", ["api.example.com", "127.0.0.1:8080", "[::1]:8080", "[::1]", "a-b.c."]
    )
    def test_good_trusted_hosts_pass(self, entry: str) -> None:
        """Names, IPv4 with a port and bracketed IPv6 are accepted."""
        assert settings.check_host(entry) is None


class TestNames:
    """A query name holds no control characters."""

    @pytest.mark.parametrize("escape", ["\\0", "\\n", "\\e", "\\x7f"])
    def test_control_characters_in_names(self, tmp_path: Path, escape: str) -> None:
        """NUL, newline, ESC and DEL in a name: refused with its line."""
        path = write_manifest(
            tmp_path,
            f'output: out.xlsx\nqueries:\n  - name: "a{escape}b"\n    query: {QUERY}\n',
        )

        error = error_of(path)

        assert error.line == 3
        assert "control character" in error.reason
        assert "remove it" in error.reason


class TestBodyValues:
    """Known fields of a query body must have the type or words Mapp's schema says."""

    @pytest.mark.parametrize(
        ("entry", "field", "wanted"),
        [
            ("upperLimit: fifty", "upperLimit", "a whole number"),
            ("sortIndex: first", "sortIndex", "a whole number"),
            ("sortDirection: UPWARDS", "sortDirection", "'ASCENDING', 'DESCENDING'"),
            ("upperLimit: 0x10", "upperLimit", "a whole number"),
        ],
    )
    def test_column_values(
        self, tmp_path: Path, entry: str, field: str, wanted: str
    ) -> None:
        """A column's integer and enum fields: refused at file:line:col."""
        path = with_query(
            tmp_path, f"query:\n  columns:\n    - {{name: pages, {entry}}}"
        )

        error = error_of(path)

        assert error.path == path
        line = line_of(path, entry)
        value = entry.partition(": ")[2]
        assert error.line == line
        assert (
            error.column
            == path.read_text("utf-8").splitlines()[line - 1].index(value) + 1
        )
        assert f"queryObject.columns[0].{field}" in error.reason
        assert wanted in f"{error.reason} {error.hint}"

    @pytest.mark.parametrize(
        ("result_type", "variant", "wanted"),
        [
            ("DATA_ONLY", "LISTX", "'LIST', 'PIVOT', 'PIVOT_AS_LIST', 'COMPARISON'"),
            ("WRONG", "LIST", "'DATA_ONLY'"),
        ],
    )
    def test_query_level_words(
        self, tmp_path: Path, result_type: str, variant: str, wanted: str
    ) -> None:
        """The variant and the resultType accept only Mapp's words."""
        path = with_query(
            tmp_path,
            f"""
            query:
              resultType: {result_type}
              queryObject: {{columns: [{{name: p}}], variant: {variant}}}
            """,
        )

        error = error_of(path)

        wrong = variant if variant != "LIST" else result_type
        assert error.line == line_of(path, wrong)
        assert error.hint is not None
        assert wanted in error.hint

    def test_filter_booleans(self, tmp_path: Path) -> None:
        """caseSensitive: yes is text in YAML 1.2, and refused."""
        path = with_query(
            tmp_path,
            "query:\n  columns: [{name: p}]\n  predefinedContainer:\n"
            "    filters: [{name: p, filterPredicate: LIKE, caseSensitive: yes}]",
        )

        error = error_of(path)

        assert "caseSensitive is 'yes'" in error.reason
        assert error.hint == "write true or false, without quotes"

    def test_a_query_file_value_is_located_in_the_file(self, tmp_path: Path) -> None:
        """A wrong value in a JSON query file names the file, line and column."""
        query_file = tmp_path / "q.json"
        query_file.write_text(
            '{\n  "columns": [\n    {"name": "pages", "upperLimit": "fifty"}\n  ]\n}',
            encoding="utf-8",
        )
        path = with_query(tmp_path, "query_file: q.json")

        error = error_of(path)

        column = query_file.read_text("utf-8").splitlines()[2].index('"fifty"') + 1
        assert (error.path, error.line, error.column) == (query_file, 3, column)
        assert "columns[0].upperLimit is 'fifty'" in error.reason

    def test_unknown_keys_still_pass_with_a_warning(self, tmp_path: Path) -> None:
        """A key outside the schema is sent unchanged and reported."""
        path = with_query(tmp_path, "query: {columns: [{name: p, upperLimitt: 5}]}")

        plan = load_plan(path, environment={})

        assert plan.queries[0].body["queryObject"]["columns"][0]["upperLimitt"] == 5
        assert "did you mean 'upperLimit'?" in plan.warnings[0]

    def test_null_and_empty_context_pass(self, tmp_path: Path) -> None:
        """A null is sent as written; an empty context means the object's default."""
        path = with_query(
            tmp_path, "query: {columns: [{name: p, context: '', upperLimit: null}]}"
        )

        plan = load_plan(path, environment={})

        column = plan.queries[0].body["queryObject"]["columns"][0]
        assert column == {"name": "p", "context": "", "upperLimit": None}


class TestPollAndDeadline:
    """Poll settings and the deadline must leave each query some time."""

    @pytest.mark.parametrize("key", ["timeout", "initial", "max_interval"])
    def test_zero_is_refused(self, tmp_path: Path, key: str) -> None:
        """poll.<key>: 0 fails every query at once: refused with a hint."""
        path = with_query(tmp_path, f"query: {QUERY}", head=f"poll: {{{key}: 0}}\n")

        error = error_of(path)

        assert error.line == 1
        assert f"poll.{key}: 0 is too small; it must be above 0" in error.reason
        assert error.hint is not None
        assert "above zero" in error.hint

    def test_max_interval_below_initial_across_layers(self, tmp_path: Path) -> None:
        """The combined settings are checked, at the layer that set them last."""
        path = with_query(
            tmp_path,
            f"poll: {{max_interval: 1s}}\nquery: {QUERY}",
            head="poll: {initial: 5s}\n",
        )

        error = error_of(path)

        assert error.line == line_of(path, "max_interval")
        assert "max_interval (1s) is below poll initial (5s)" in error.reason
        assert error.hint is not None
        assert "at least initial" in error.hint

    def test_zero_deadline_is_refused(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--deadline 0 is refused; leaving it out means no deadline."""
        path = with_query(tmp_path, f"query: {QUERY}")

        with pytest.raises(SystemExit) as caught:
            main(["run", str(path), "--sandbox", "--deadline", "0"])

        assert caught.value.code == 2
        assert "write a duration above zero" in capsys.readouterr().err

    def test_zero_run_timeout_is_refused(self, tmp_path: Path) -> None:
        """run_timeout: 0 is refused like the flag."""
        path = with_query(tmp_path, f"query: {QUERY}", head="run_timeout: 0s\n")

        error = error_of(path)

        assert "run_timeout" in error.reason
        assert "above 0" in error.reason


class TestCredentialsFile:
    """The credentials file follows the usual .env rules, strictly."""

    def test_byte_order_mark_is_ignored(self, tmp_path: Path) -> None:
        """A UTF-8 BOM does not hide the first key."""
        path = tmp_path / "mapp.env"
        path.write_bytes(b"\xef\xbb\xbfMAPP_CLIENT_ID=id\nMAPP_CLIENT_SECRET=secret\n")

        credentials = load_credentials({}, path)

        assert credentials.client_id == "id"

    def test_inline_comments(self, tmp_path: Path) -> None:
        """An unquoted value ends before ' #'; a quoted one keeps its '#'."""
        path = tmp_path / "mapp.env"
        path.write_text(
            "MAPP_CLIENT_ID=a#b # the id\nMAPP_CLIENT_SECRET='x # y' # note\n",
            encoding="utf-8",
        )

        credentials = load_credentials({}, path)

        assert (credentials.client_id, credentials.client_secret) == ("a#b", "x # y")

    def test_a_key_set_twice_is_refused(self, tmp_path: Path) -> None:
        """A duplicate key is refused with both lines, never its value."""
        path = tmp_path / "mapp.env"
        path.write_text(
            "MAPP_CLIENT_ID=a\nMAPP_CLIENT_SECRET=one\nMAPP_CLIENT_SECRET=two\n",
            encoding="utf-8",
        )

        with pytest.raises(CredentialsError) as caught:
            load_credentials({}, path)

        message = str(caught.value)
        assert f"{path}:3: MAPP_CLIENT_SECRET is set twice (first on line 2)" in message
        assert "one" not in message.replace("keep one", "")

    def test_garbage_is_refused_with_its_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A line that is not KEY=VALUE: exit 2 with the line, not its text."""
        credentials = tmp_path / "mapp.env"
        credentials.write_text("MAPP_CLIENT_ID=a\nhunter2\n", encoding="utf-8")
        path = with_query(tmp_path, f"query: {QUERY}")

        logged = refusal(
            ["run", str(path), "--credentials-file", str(credentials)], capsys
        )

        assert f"{credentials}:2: this line is not KEY=VALUE" in logged
        assert "hunter2" not in logged


class TestSandboxCommand:
    """The sandbox command refuses impossible settings before serving."""

    @pytest.mark.parametrize(
        "argv",
        [
            ["--port", "99999"],
            ["--port", "-1"],
            ["--calculation-seconds", "-1"],
            ["--calculation-seconds", "nan"],
            ["--token-lifetime", "0"],
        ],
    )
    def test_refused_with_exit_code_2(
        self, argv: list[str], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Each impossible value exits 2 with what to write."""
        with pytest.raises(SystemExit) as caught:
            main(["sandbox", *argv])

        assert caught.value.code == 2
        assert "write" in capsys.readouterr().err


class TestPlainWords:
    """pydantic's wording is replaced by what to write."""

    def test_a_word_where_a_number_belongs(self, tmp_path: Path) -> None:
        """concurrency: eight says it is not a whole number and how to write one."""
        path = with_query(tmp_path, f"query: {QUERY}", head="concurrency: eight\n")

        error = error_of(path)

        assert error.reason == "concurrency: 'eight' is not a whole number"
        assert error.hint == "write a whole number such as 8, without quotes"

    def test_a_list_as_query_gives_one_error(self, tmp_path: Path) -> None:
        """query: [] is one problem, said once."""
        path = with_query(tmp_path, "query: []")

        error = error_of(path)

        assert error.others == ()
        assert "must be a mapping" in error.reason
        assert error.line == line_of(path, "query:")

    def test_empty_queries(self, tmp_path: Path) -> None:
        """queries: [] asks for at least one entry."""
        path = write_manifest(tmp_path, "output: out.xlsx\nqueries: []\n")

        error = error_of(path)

        assert error.reason == "queries: needs at least 1 entry"
        assert error.hint is not None
        assert "- name:" in error.hint


class TestFallbackVariables:
    """``${NAME:-fallback}`` falls back when the variable is unset or empty."""

    def test_fallback_and_value(self, tmp_path: Path) -> None:
        """Unset: the fallback; set: the variable."""
        path = write_manifest(
            tmp_path,
            f"""
            output: ${{DIR:-books}}/{{date}}.xlsx
            queries:
              - {{name: P, query: {QUERY}}}
            """,
        )
        overrides = Overrides(run_date=date(2026, 12, 4))

        unset = load_plan(path, overrides, environment={}).output
        set_ = load_plan(
            path, overrides, environment={"DIR": os.fspath(tmp_path / "x")}
        )

        assert unset == tmp_path / "books" / "2026-12-04.xlsx"
        assert set_.output == tmp_path / "x" / "2026-12-04.xlsx"
