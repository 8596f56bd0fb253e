"""Tests of loading a manifest into a plan, and of its error messages."""

from __future__ import annotations

import json
import textwrap
from datetime import date
from pathlib import Path

import pytest

from mapp_export.errors import ManifestError
from mapp_export.manifest import load_plan
from mapp_export.schema import manifest_json_schema
from mapp_export.settings import Overrides

QUERY = {
    "resultType": "DATA_ONLY",
    "queryObject": {
        "columns": [{"name": "pages", "lowerLimit": 1, "upperLimit": 20}],
        "variant": "LIST",
        "predefinedContainer": {
            "filters": [
                {
                    "name": "time_dynamic",
                    "filterPredicate": "LIKE",
                    "value1": "last_7_days",
                }
            ]
        },
    },
}


def write_manifest(folder: Path, text: str) -> Path:
    """Write a manifest from an indented literal and return its path."""
    path = folder / "manifest.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def error_of(path: Path, overrides: Overrides | None = None) -> ManifestError:
    """Load ``path`` expecting a manifest error, and return it."""
    with pytest.raises(ManifestError) as caught:
        load_plan(path, overrides)
    return caught.value


@pytest.fixture
def query_file(tmp_path: Path) -> Path:
    """Write a query file as Mapp's "copy JSON" gives it, in a subfolder."""
    folder = tmp_path / "queries"
    folder.mkdir()
    path = folder / "pages.json"
    path.write_text(json.dumps(QUERY, indent=2), encoding="utf-8")
    return path


class TestLoadPlan:
    """A valid manifest becomes a plan with everything resolved."""

    @pytest.mark.usefixtures("query_file")
    def test_reads_files_and_inline_queries_relative_to_the_manifest(
        self, tmp_path: Path
    ) -> None:
        """query_file and output are relative to the manifest's folder."""
        path = write_manifest(
            tmp_path,
            """
            output: out/report.xlsx
            queries:
              - name: From a file
                query_file: queries/pages.json
              - name: Inline
                query:
                  resultType: DATA_ONLY
                  queryObject: {columns: [{name: pages}], variant: LIST}
            """,
        )

        plan = load_plan(path)

        assert plan.output == tmp_path / "out" / "report.xlsx"
        assert [query.name for query in plan.queries] == ["From a file", "Inline"]
        assert plan.queries[0].body == QUERY
        assert plan.queries[0].sheet_options.row_window == 20
        assert plan.queries[1].body["queryObject"]["variant"] == "LIST"
        assert plan.concurrency == 8

    def test_wraps_a_bare_query_object_and_parses_pasted_json(
        self, tmp_path: Path
    ) -> None:
        """A bare queryObject is wrapped; a JSON string pasted into YAML is parsed."""
        pasted = json.dumps(QUERY)
        path = write_manifest(
            tmp_path,
            f"""
            output: x.xlsx
            queries:
              - name: Bare
                query: {{columns: [{{name: pages}}], variant: LIST}}
              - name: Pasted
                query: '{pasted}'
            """,
        )

        plan = load_plan(path)

        assert plan.queries[0].body == {
            "resultType": "DATA_ONLY",
            "queryObject": {"columns": [{"name": "pages"}], "variant": "LIST"},
        }
        assert plan.queries[1].body == QUERY

    def test_reads_durations_and_lets_a_query_override_the_poll_settings(
        self, tmp_path: Path
    ) -> None:
        """Manifest poll settings apply to all; a query's own poll block wins."""
        path = write_manifest(
            tmp_path,
            """
            output: x.xlsx
            poll: {initial: 200ms, max_interval: 0.5m, timeout: 1h}
            queries:
              - name: A
                query: {columns: []}
              - name: B
                query: {columns: []}
                poll: {timeout: 90}
            """,
        )

        first, second = load_plan(path).queries

        assert (first.poll.initial, first.poll.max_interval, first.poll.timeout) == (
            0.2,
            30.0,
            3600.0,
        )
        assert second.poll.timeout == 90.0
        assert second.poll.initial == 0.2

    def test_keeps_yaml_1_1_lookalikes_as_text(self, tmp_path: Path) -> None:
        """NO, 0123, 7241_11 and unquoted timestamps reach the query as typed."""
        path = write_manifest(
            tmp_path,
            """
            output: x.xlsx
            queries:
              - name: Text stays text
                query:
                  columns: [{name: pages}]
                  predefinedContainer:
                    filters:
                      - {name: user_country, value1: NO, value2: 0123}
                      - {name: pages, value1: 7241_11, value2: 2026-12-03 00:00:00}
            """,
        )

        filters = (
            load_plan(path)
            .queries[0]
            .body["queryObject"]["predefinedContainer"]["filters"]
        )

        assert filters[0]["value1"] == "NO"
        assert filters[0]["value2"] == "0123"
        assert filters[1]["value1"] == "7241_11"
        assert filters[1]["value2"] == "2026-12-03 00:00:00"


class TestEndpoints:
    """Where the run talks to: manifest, environment and flags."""

    MANIFEST = """
        api:
          base_url: {base}
        output: x.xlsx
        queries:
          - name: A
            query: {{columns: []}}
        """

    def test_legacy_host_gets_its_token_url_and_scope(self, tmp_path: Path) -> None:
        """On the legacy host the token URL hangs below the base, with Mapp's scope."""
        base = "https://intelligence.eu.mapp.com/analytics/api"
        plan = load_plan(write_manifest(tmp_path, self.MANIFEST.format(base=base)))

        assert plan.api.token_url == f"{base}/oauth/token"
        assert plan.api.scope == "mapp.intelligence-api"

    def test_current_host_gets_the_auth_host_and_no_scope(self, tmp_path: Path) -> None:
        """On api.mapp.com the token comes from auth.mapp.com without a scope."""
        base = "https://api.mapp.com/api/analytics"
        plan = load_plan(write_manifest(tmp_path, self.MANIFEST.format(base=base)))

        assert plan.api.token_url == "https://auth.mapp.com/oauth2/token"  # noqa: S105
        assert plan.api.scope is None

    def test_environment_overrides_the_manifest_and_flags_override_both(
        self, tmp_path: Path
    ) -> None:
        """MAPP_BASE_URL beats the manifest; --base-url and --output beat it."""
        path = write_manifest(
            tmp_path, self.MANIFEST.format(base="https://api.mapp.com/x")
        )
        environment = {
            "MAPP_BASE_URL": "http://127.0.0.1:9/analytics/api",
            "MAPP_TOKEN_URL": "http://127.0.0.1:9/token",
        }

        from_environment = load_plan(path, Overrides.combine(environment))
        from_flags = load_plan(
            path,
            Overrides.combine(
                environment,
                base_url="http://localhost:8/analytics/api/",
                output=Path("here.xlsx"),
            ),
        )

        assert from_environment.api.base_url == "http://127.0.0.1:9/analytics/api"
        assert from_environment.api.token_url == "http://127.0.0.1:9/token"  # noqa: S105
        assert from_flags.api.base_url == "http://localhost:8/analytics/api"
        assert from_flags.output == Path("here.xlsx")

    def test_refuses_plain_http_to_a_remote_host(self, tmp_path: Path) -> None:
        """Credentials never travel unencrypted off this machine."""
        path = write_manifest(
            tmp_path, self.MANIFEST.format(base="http://intelligence.eu.mapp.com/api")
        )

        error = error_of(path)

        assert error.line == 2
        assert "unencrypted" in str(error)
        assert "https://" in str(error)

    def test_a_flag_error_names_the_flag(self, tmp_path: Path) -> None:
        """A bad --base-url is reported as the flag's, not the manifest's."""
        path = write_manifest(
            tmp_path, self.MANIFEST.format(base="https://api.mapp.com/x")
        )

        error = error_of(path, Overrides.combine({}, base_url="ftp://example"))

        assert str(error).startswith(
            "--base-url: 'ftp://example' is not an http(s) URL"
        )


class TestManifestErrors:
    """Every manifest error names the file, the line and what to write instead."""

    def test_invalid_yaml(self, tmp_path: Path) -> None:
        """Broken YAML is reported at its line."""
        path = write_manifest(tmp_path, "output: x.xlsx\nqueries: [\n  - name: a\n")

        error = error_of(path)

        assert error.path == path
        assert error.line is not None
        assert str(error).startswith(f"{path}:")

    def test_unknown_key_suggests_the_closest(self, tmp_path: Path) -> None:
        """A misspelt key is refused with the key it probably meant."""
        path = write_manifest(
            tmp_path,
            """
            output: x.xlsx
            concurency: 4
            queries:
              - name: A
                query: {columns: []}
            """,
        )

        error = error_of(path)

        assert (error.line, error.column) == (2, 1)
        assert "unknown key 'concurency'" in str(error)
        assert "did you mean 'concurrency'?" in str(error)

    def test_unknown_key_inside_a_query_entry(self, tmp_path: Path) -> None:
        """Keys of a query entry are checked too, with their own suggestions."""
        path = write_manifest(
            tmp_path,
            """
            output: x.xlsx
            queries:
              - name: A
                query: {columns: []}
                shet: Pages
            """,
        )

        error = error_of(path)

        assert error.line == 5
        assert "did you mean 'sheet'?" in str(error)

    def test_missing_field(self, tmp_path: Path) -> None:
        """A missing required key names itself and shows what to add."""
        path = write_manifest(
            tmp_path,
            """
            queries:
              - name: A
                query: {columns: []}
            """,
        )

        error = error_of(path)

        assert "missing key 'output'" in str(error)
        assert "output: output/report.xlsx" in str(error)

    def test_duplicate_query_name(self, tmp_path: Path) -> None:
        """Two queries of one name are refused at the second, naming the first."""
        path = write_manifest(
            tmp_path,
            """
            output: x.xlsx
            queries:
              - name: Pages
                query: {columns: []}
              - name: pages
                query: {columns: []}
            """,
        )

        error = error_of(path)

        assert error.line == 5
        assert "used twice (first on line 3)" in str(error)

    def test_unreadable_query_file(self, tmp_path: Path) -> None:
        """A query file that is not there is reported at the line that names it."""
        path = write_manifest(
            tmp_path,
            """
            output: x.xlsx
            queries:
              - name: A
                query_file: queries/missing.json
            """,
        )

        error = error_of(path)

        assert error.line == 4
        assert "missing.json" in str(error)
        assert "relative to the manifest's folder" in str(error)

    def test_query_file_with_invalid_json(
        self, tmp_path: Path, query_file: Path
    ) -> None:
        """Invalid JSON in a query file names that file and its line."""
        query_file.write_text('{\n  "queryObject": {\n    "columns": [,]\n  }\n}\n')
        path = write_manifest(
            tmp_path,
            """
            output: x.xlsx
            queries:
              - name: A
                query_file: queries/pages.json
            """,
        )

        error = error_of(path)

        assert error.path == query_file
        assert error.line == 3

    def test_query_and_query_file_together(self, tmp_path: Path) -> None:
        """A query needs exactly one source."""
        path = write_manifest(
            tmp_path,
            """
            output: x.xlsx
            queries:
              - name: A
                query: {columns: []}
                query_file: a.json
            """,
        )

        assert "exactly one of 'query'" in str(error_of(path))

    def test_several_problems_are_reported_together(self, tmp_path: Path) -> None:
        """Every problem of one check is listed, a line each."""
        path = write_manifest(
            tmp_path,
            """
            output: x.xlsx
            concurrency: 0
            queries:
              - name: A
                query: {columns: []}
                nulls: zeros
            """,
        )

        lines = str(error_of(path)).splitlines()

        assert len(lines) == 2
        assert ":2:" in lines[0]
        assert ":6:" in lines[1]
        assert "'empty' or 'zero'" in lines[1]

    def test_a_number_where_text_belongs_says_to_quote_it(self, tmp_path: Path) -> None:
        """YAML's numbers in a text field get the hint to quote them."""
        path = write_manifest(
            tmp_path,
            """
            output: x.xlsx
            queries:
              - name: 2024
                query: {columns: []}
            """,
        )

        error = error_of(path)

        assert error.line == 3
        assert "quote it to keep it text" in str(error)

    def test_duplicate_yaml_key(self, tmp_path: Path) -> None:
        """A key written twice in one mapping is an error, not a silent overwrite."""
        path = write_manifest(
            tmp_path,
            """
            output: x.xlsx
            queries:
              - name: A
                query: {columns: []}
                name: B
            """,
        )

        error = error_of(path)

        assert error.line == 5
        assert "appears twice" in str(error)

    def test_tab_indentation(self, tmp_path: Path) -> None:
        """A tab used to indent gets a plain message, not a tokenizer trace."""
        path = tmp_path / "manifest.yaml"
        path.write_text("output: x.xlsx\nqueries:\n\t- name: A\n", encoding="utf-8")

        assert "tab is used for indentation" in str(error_of(path))

    def test_python_object_tag(self, tmp_path: Path) -> None:
        """A tag that would build a Python object is refused."""
        path = write_manifest(
            tmp_path,
            """
            output: !!python/object/apply:os.getcwd []
            queries: []
            """,
        )

        error = error_of(path)

        assert error.line == 1
        assert "tag" in str(error)

    def test_missing_manifest(self, tmp_path: Path) -> None:
        """A manifest that does not exist says so."""
        assert "does not exist" in str(error_of(tmp_path / "nope.yaml"))


def filters_of(path: Path, index: int = 0, **kwargs: object) -> list[dict[str, object]]:
    """Load ``path`` and return the top-level filters of one query's body."""
    plan = load_plan(path, **kwargs)  # type: ignore[arg-type]
    body = plan.queries[index].body
    result: list[dict[str, object]] = body["queryObject"]["predefinedContainer"][
        "filters"
    ]
    return result


class TestTextFields:
    """Fields Mapp's schema types as text reach the API as the text written."""

    def test_numbers_and_booleans_keep_their_source_text(self, tmp_path: Path) -> None:
        """Unquoted true, 12, 1.50 and 0123 in text fields stay exactly as typed."""
        path = write_manifest(
            tmp_path,
            """
            output: x.xlsx
            queries:
              - name: A
                query:
                  columns: [{name: 12, lowerLimit: 1, upperLimit: 5}]
                  predefinedContainer:
                    filters:
                      - {name: pages, value1: true, value2: 1.50}
                      - {name: pages, values1: [NO, 0123, 7.0], caseSensitive: true}
            """,
        )

        plan = load_plan(path)
        query_object = plan.queries[0].body["queryObject"]
        filters = query_object["predefinedContainer"]["filters"]

        assert query_object["columns"][0] == {
            "name": "12",
            "lowerLimit": 1,
            "upperLimit": 5,
        }
        assert filters[0] == {"name": "pages", "value1": "true", "value2": "1.50"}
        assert filters[1] == {
            "name": "pages",
            "values1": ["NO", "0123", "7.0"],
            "caseSensitive": True,
        }

    def test_json_numbers_in_text_fields_become_their_json_text(
        self, tmp_path: Path
    ) -> None:
        """In a query file, a JSON number or boolean in a text field is sent as text."""
        (tmp_path / "q.json").write_text(
            json.dumps(
                {
                    "columns": [{"name": "pages"}],
                    "predefinedContainer": {
                        "filters": [{"name": "pages", "value1": 7241, "value2": False}]
                    },
                }
            ),
            encoding="utf-8",
        )
        path = write_manifest(
            tmp_path,
            """
            output: x.xlsx
            queries:
              - name: A
                query_file: q.json
            """,
        )

        assert filters_of(path)[0] == {
            "name": "pages",
            "value1": "7241",
            "value2": "false",
        }


class TestUnknownBodyKeys:
    """Keys Mapp's schema does not know pass unchanged, with a warning."""

    def test_unknown_key_is_sent_and_warned_with_line_and_suggestion(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A misspelt column key stays in the body; the warning names its line."""
        path = write_manifest(
            tmp_path,
            """
            output: x.xlsx
            queries:
              - name: A
                query:
                  columns:
                    - {name: pages, sortIndx: 0, futureFlag: on}
            """,
        )

        plan = load_plan(path)

        column = plan.queries[0].body["queryObject"]["columns"][0]
        assert column == {"name": "pages", "sortIndx": 0, "futureFlag": "on"}
        assert plan.warnings == (
            (
                f"{path}:6:25: query 'A': 'queryObject.columns[0].sortIndx' is not "
                "in Mapp's published query schema; it is sent unchanged (did you "
                "mean 'sortIndex'?)"
            ),
            (
                f"{path}:6:38: query 'A': 'queryObject.columns[0].futureFlag' is "
                "not in Mapp's published query schema; it is sent unchanged"
            ),
        )
        assert plan.warnings[0] in caplog.text


class TestVariablesAndPlaceholders:
    """${VAR} in api settings and output; {date} and friends in output."""

    MANIFEST = """
        api:
          base_url: ${BASE}/analytics/api
        output: ${FOLDER}/{manifest}-{date}.xlsx
        queries:
          - name: A
            query: {columns: []}
        """

    def test_fills_variables_and_placeholders(self, tmp_path: Path) -> None:
        """Environment values and the run date make the URL and the path."""
        path = write_manifest(tmp_path, self.MANIFEST)
        environment = {"BASE": "http://127.0.0.1:9", "FOLDER": "out"}

        plan = load_plan(
            path,
            Overrides(run_date=date(2026, 12, 3)),
            environment=environment,
        )

        assert plan.api.base_url == "http://127.0.0.1:9/analytics/api"
        assert plan.output == tmp_path / "out" / "manifest-2026-12-03.xlsx"

    def test_unset_variable_names_itself_and_its_line(self, tmp_path: Path) -> None:
        """A variable that is not set is a manifest error at its line."""
        path = write_manifest(tmp_path, self.MANIFEST)

        with pytest.raises(ManifestError) as caught:
            load_plan(path, environment={"BASE": "http://127.0.0.1:9"})

        assert str(caught.value).startswith(
            f"{path}:3:9: the environment variable FOLDER is not set"
        )

    def test_unknown_placeholder_lists_the_known_ones(self, tmp_path: Path) -> None:
        """{week} is not a placeholder; the error says which ones are."""
        path = write_manifest(
            tmp_path,
            """
            output: out/{week}.xlsx
            queries:
              - name: A
                query: {columns: []}
            """,
        )

        assert "{week} is unknown; known: {date}, {year}" in str(error_of(path))


class TestTimeSettings:
    """time: in defaults or a query replaces the query's time filters."""

    MANIFEST = """
        output: x.xlsx
        timezone: Europe/Berlin
        defaults:
          time: yesterday
        queries:
          - name: Default
            query: {columns: [], predefinedContainer: {filters: [{name: time_dynamic}]}}
          - name: Own
            time: {from: 2026-11-01, to: 2026-11-30}
            query: {columns: []}
        """

    def test_query_time_wins_over_defaults(self, tmp_path: Path) -> None:
        """defaults.time applies where a query has none; its own time wins."""
        path = write_manifest(tmp_path, self.MANIFEST)
        overrides = Overrides(run_date=date(2027, 1, 1))

        assert filters_of(path, 0, overrides=overrides)[0]["value1"] == (
            "2026-12-31 00:00:00"
        )
        second = filters_of(path, 1, overrides=overrides)
        assert [item["value1"] for item in second] == ["2026-11-01 00:00:00"]
        assert second[0]["value2"] == "2026-12-01 00:00:00"

    def test_without_time_the_query_keeps_its_filters(self, tmp_path: Path) -> None:
        """A query with no time setting anywhere is sent as written."""
        path = write_manifest(
            tmp_path,
            """
            output: x.xlsx
            queries:
              - name: A
                query:
                  columns: []
                  predefinedContainer: {filters: [{name: time_dynamic}]}
            """,
        )

        assert filters_of(path) == [{"name": "time_dynamic"}]

    def test_bad_time_settings_are_refused_with_their_line(
        self, tmp_path: Path
    ) -> None:
        """An unknown keyword, a reversed range and a bad zone name each point home."""
        path = write_manifest(
            tmp_path,
            """
            output: x.xlsx
            timezone: Europe/Atlantis
            queries:
              - name: A
                time: yesterdy
                query: {columns: []}
              - name: B
                time: {from: 2026-12-02, to: 2026-12-01}
                query: {columns: []}
            """,
        )

        text = str(error_of(path))

        assert f"{path}:2:11: timezone: 'Europe/Atlantis' is not an IANA" in text
        assert f"{path}:5:11: queries[0].time: " in text
        assert "'yesterday'" in text
        assert "'to' (2026-12-01) is before 'from' (2026-12-02)" in text


class TestOnly:
    """--only keeps the named queries, with the titles they would have had."""

    MANIFEST = """
        output: x.xlsx
        queries:
          - name: First
            query: {columns: []}
          - name: Second
            query: {columns: []}
        """

    def test_keeps_named_queries(self, tmp_path: Path) -> None:
        """Names are matched ignoring case; indexes and titles are kept."""
        path = write_manifest(tmp_path, self.MANIFEST)

        plan = load_plan(path, Overrides(only=("second",)))

        assert [(query.index, query.sheet_title) for query in plan.queries] == [
            (1, "Second")
        ]

    def test_unknown_name_suggests_the_closest(self, tmp_path: Path) -> None:
        """A name no query has is refused with the closest one."""
        path = write_manifest(tmp_path, self.MANIFEST)

        error = error_of(path, Overrides(only=("Secnd",)))

        assert str(error) == (
            "--only: no query is named 'Secnd' (did you mean 'Second'?)"
        )


class TestSchema:
    """The manifest's JSON Schema describes the keys the loader accepts."""

    def test_schema_lists_the_nightly_keys(self) -> None:
        """Time keywords, from/to, expect and report appear in the schema."""
        text = json.dumps(manifest_json_schema())

        for word in (
            '"previous_month"',
            '"from"',
            '"min_rows"',
            '"report"',
            '"$schema"',
        ):
            assert word in text
