"""The sandbox plays Mapp's Analytics API over real loopback HTTP."""

from __future__ import annotations

import base64
import copy
import json
import socket
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import pytest

from mapp_export import sandbox as sandbox_package
from mapp_export.sandbox import (
    OutcomeRule,
    Sandbox,
    SandboxOptions,
    build_result,
    running_sandbox,
    sandbox_in_thread,
    serve_forever,
    startup_lines,
)

CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret"  # noqa: S105
SCOPE = "mapp.intelligence-api"
INVALID_TOKEN = {
    "title": "Invalid Token",
    "status": 403,
    "detail": "Token not valid",
    "statusCode": "INVALID_TOKEN",
}
ANALYSIS_NOT_FOUND = {
    "title": "Analysis not found",
    "status": 404,
    "detail": "Analysis not found",
    "statusCode": "ANALYSIS_NOT_FOUND",
}
LAST_90_DAYS: dict[str, Any] = {
    "name": "time_dynamic",
    "filterPredicate": "LIKE",
    "connector": "AND",
    "caseSensitive": False,
    "context": "NONE",
    "intern": False,
    "value1": "last_90_days",
    "value2": "",
}
SAMPLE_COLUMNS: list[dict[str, Any]] = [
    {
        "name": "session_id",
        "scope": "OBJECT",
        "context": "SESSION",
        "variant": "NORMAL",
        "lowerLimit": 1,
        "upperLimit": 500,
    },
    {"name": "pages_pageImpressions", "columnPeriod": "ANALYSIS", "scope": "OBJECT"},
    {"name": "order_value", "columnPeriod": "ANALYSIS", "scope": "OBJECT"},
]
FOREIGN_HOSTS = ["0.0.0.0", "192.168.1.10", "localhost", "::"]  # noqa: S104
PIVOT_COLUMNS: list[dict[str, Any]] = [
    {
        "name": "time_days",
        "sortDirection": "ASCENDING",
        "sortIndex": 0,
        "upperLimit": 7,
    },
    {"name": "os_vendor", "lowerLimit": 1, "upperLimit": 10},
    {"name": "visits", "sortDirection": "DESCENDING", "sortIndex": 1},
    {"name": "visits_bounceRate"},
    {"name": "visits"},
]


def make_query(
    columns: list[dict[str, Any]] | None = None,
    *,
    variant: str = "LIST",
    filters: list[dict[str, Any]] | None = None,
    marker: str | None = None,
) -> dict[str, Any]:
    """Build a full analysis query body, by default the bundled sample's."""
    chosen = copy.deepcopy(SAMPLE_COLUMNS if columns is None else columns)
    chosen_filters = copy.deepcopy([LAST_90_DAYS] if filters is None else filters)
    if marker is not None:
        chosen_filters.append(
            {"name": "pages", "filterPredicate": "LIKE", "value1": marker, "value2": ""}
        )

    return {
        "resultType": "DATA_ONLY",
        "queryObject": {
            "columns": chosen,
            "variant": variant,
            "predefinedContainer": {"filters": chosen_filters, "containers": []},
        },
    }


def basic_auth(client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET) -> str:
    """Encode HTTP Basic credentials for the token endpoint."""
    pair = f"{client_id}:{secret}".encode()
    return "Basic " + base64.b64encode(pair).decode()


class FakeClock:
    """A monotonic clock that moves only when a test moves it."""

    def __init__(self) -> None:
        """Start at an arbitrary moment."""
        self.now = 1000.0

    def __call__(self) -> float:
        """Tell the time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time on."""
        self.now += seconds


class Client:
    """A minimal client of the sandbox, written from the contract for the tests."""

    def __init__(self, session: aiohttp.ClientSession, sandbox: Sandbox) -> None:
        """Talk to ``sandbox`` through ``session``."""
        self.session = session
        self.sandbox = sandbox
        self.token = ""

    async def request_token(
        self, *, authorization: str | None = None, **params: str
    ) -> aiohttp.ClientResponse:
        """Ask the token endpoint, by default with good credentials and scope."""
        query = {"grant_type": "client_credentials", "scope": SCOPE, **params}
        headers = {"Authorization": authorization or basic_auth()}
        async with self.session.post(
            self.sandbox.token_url, params=query, headers=headers
        ) as response:
            await response.read()
            return response

    async def log_in(self) -> None:
        """Get a token and use it from now on."""
        response = await self.request_token()
        self.token = (await response.json())["access_token"]

    async def call(
        self, method: str, url: str, body: Any = None, *, raw: bytes | None = None
    ) -> tuple[int, Any]:
        """Call the API with the current token; answer status and parsed body."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        data = raw if raw is not None else None
        async with self.session.request(
            method, url, json=body, data=data, headers=headers
        ) as response:
            text = await response.text()
            return response.status, json.loads(text) if text else None

    async def submit(self, body: Any) -> tuple[int, Any]:
        """Post an analysis query."""
        return await self.call("POST", f"{self.sandbox.base_url}/analysis-query", body)

    async def status(self, correlation_id: str) -> tuple[int, Any]:
        """Get a calculation's status."""
        url = f"{self.sandbox.base_url}/analysis-query/{correlation_id}"
        return await self.call("GET", url)

    async def wait_for_final(self, status_url: str) -> dict[str, Any]:
        """Poll a status URL in a bounded loop until the status is final."""
        for _ in range(400):
            status, answer = await self.call("GET", status_url)
            assert status == 200
            if answer["status"] not in {"INITIATED", "RUNNING"}:
                return dict(answer)

            await anyio.sleep(0.005)

        pytest.fail(f"{status_url} did not finish")


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[Client]:
    """Log a client in to the default sandbox."""
    async with aiohttp.ClientSession() as session:
        talker = Client(session, sandbox)
        await talker.log_in()
        yield talker


@pytest.fixture
def clock(sandbox: Sandbox) -> FakeClock:
    """Put the default sandbox on a clock the test moves."""
    fake = FakeClock()
    sandbox.state.clock = fake
    return fake


@pytest.mark.anyio
class TestTokenEndpoint:
    """The client credentials grant."""

    async def test_issues_a_bearer_token(
        self, client: Client, sandbox: Sandbox
    ) -> None:
        """Good credentials, grant and scope get a bearer token and its lifetime."""
        response = await client.request_token()
        answer = await response.json()

        assert response.status == 200
        assert answer["token_type"] == "Bearer"  # noqa: S105
        assert answer["expires_in"] == 3600
        assert len(answer["access_token"]) >= 20
        assert sandbox.state.token_requests == 2

    async def test_refuses_a_wrong_secret(
        self, client: Client, sandbox: Sandbox
    ) -> None:
        """A wrong client secret is answered 401 invalid_client and counted."""
        wrong = basic_auth(secret="nope")  # noqa: S106
        response = await client.request_token(authorization=wrong)

        assert response.status == 401
        assert (await response.json())["error"] == "invalid_client"
        assert sandbox.state.token_failures == 1

    async def test_refuses_missing_credentials(self, client: Client) -> None:
        """A request without Basic credentials is answered 401 invalid_client."""
        response = await client.request_token(authorization="Bearer something")

        assert response.status == 401
        assert (await response.json())["error"] == "invalid_client"

    async def test_refuses_a_wrong_grant_type(self, client: Client) -> None:
        """Another grant type is answered 400 unsupported_grant_type."""
        response = await client.request_token(grant_type="password")

        assert response.status == 400
        assert (await response.json())["error"] == "unsupported_grant_type"

    async def test_legacy_requires_the_scope(self, client: Client) -> None:
        """The legacy endpoint answers 400 invalid_scope without the API scope."""
        response = await client.request_token(scope="")

        assert response.status == 400
        assert (await response.json())["error"] == "invalid_scope"

    async def test_current_layout_has_its_own_token_port(self) -> None:
        """The current layout serves tokens on a second port and needs no scope."""
        options = SandboxOptions(layout="current", calculation_seconds=0.05)
        async with running_sandbox(options) as current, aiohttp.ClientSession() as s:
            talker = Client(s, current)
            response = await talker.request_token(scope="")

            await talker.log_in()
            status, queued = await talker.submit(make_query())

            assert response.status == 200
            assert status == 201
            assert queued["statusUrl"].startswith(current.base_url + "/analysis-query/")
            assert current.base_url.endswith("/api/analytics")
            assert current.token_url.endswith("/oauth2/token")
            assert urllib.parse.urlsplit(current.token_url).port != (
                urllib.parse.urlsplit(current.base_url).port
            )


@pytest.mark.anyio
class TestTokenChecks:
    """Every API call needs a good bearer token."""

    async def test_no_token_is_forbidden(
        self, client: Client, sandbox: Sandbox
    ) -> None:
        """A call without a token is answered 403 INVALID_TOKEN and counted."""
        client.token = ""
        status, answer = await client.submit(make_query())

        assert (status, answer) == (403, INVALID_TOKEN)
        assert sandbox.state.rejected_tokens == 1
        assert sandbox.state.received_queries == []

    async def test_unknown_token_is_forbidden(self, client: Client) -> None:
        """A token the sandbox never issued is answered 403 INVALID_TOKEN."""
        client.token = "made-up"  # noqa: S105
        status, answer = await client.status("anything")

        assert (status, answer) == (403, INVALID_TOKEN)

    async def test_expired_tokens_are_forbidden(
        self, client: Client, sandbox: Sandbox
    ) -> None:
        """After expire_tokens() the token in use is refused and a new one works."""
        status, _ = await client.submit(make_query())
        assert status == 201

        sandbox.state.expire_tokens()
        assert await client.submit(make_query()) == (403, INVALID_TOKEN)

        await client.log_in()
        status, _ = await client.submit(make_query(marker="again"))
        assert status == 201

    async def test_tokens_expire_after_their_lifetime(self) -> None:
        """A token stops working once its lifetime has passed on the sandbox's clock."""
        options = SandboxOptions(token_lifetime_seconds=1)
        async with running_sandbox(options) as short, aiohttp.ClientSession() as s:
            fake = FakeClock()
            short.state.clock = fake
            talker = Client(s, short)
            await talker.log_in()
            assert (await talker.status("unknown"))[0] == 404

            fake.advance(1.5)
            assert await talker.status("unknown") == (403, INVALID_TOKEN)

    async def test_current_layout_answers_401_problem(self) -> None:
        """The current gateway answers a bad token with 401 application/problem+json."""
        options = SandboxOptions(layout="current")
        async with running_sandbox(options) as current, aiohttp.ClientSession() as s:
            url = f"{current.base_url}/analysis-usage/current"
            headers = {"Authorization": "Bearer wrong"}
            async with s.get(url, headers=headers) as response:
                answer = await response.json(content_type=None)

            assert response.status == 401
            assert response.content_type == "application/problem+json"
            assert answer["status"] == 401


@pytest.mark.anyio
class TestCalculationCycle:
    """Submit, poll, fetch, abort and count, as the contract describes."""

    async def test_runs_to_success_on_the_real_clock(
        self, client: Client, sandbox: Sandbox
    ) -> None:
        """A query is queued (201), polled to SUCCESS and its result fetched."""
        status, queued = await client.submit(make_query())
        final = await client.wait_for_final(queued["statusUrl"])
        result_status, result = await client.call("GET", final["resultUrl"])

        assert status == 201
        assert queued["statusUrl"].startswith(sandbox.base_url + "/analysis-query/")
        assert final["status"] == "SUCCESS"
        assert final["resultUrl"].startswith("http://127.0.0.1:")
        assert result_status == 200
        assert result == build_result(make_query())
        assert sandbox.state.result_fetches == 1

    async def test_status_moves_through_initiated_and_running(
        self, client: Client, sandbox: Sandbox, clock: FakeClock
    ) -> None:
        """The status is INITIATED, then RUNNING, then SUCCESS as time passes."""
        _, queued = await client.submit(make_query())
        correlation_id = queued["correlationId"]
        seen = []
        for step in (0.005, 0.02, 0.04):
            clock.advance(step)
            _, answer = await client.status(correlation_id)
            seen.append(answer)

        assert [answer["status"] for answer in seen] == [
            "INITIATED",
            "RUNNING",
            "SUCCESS",
        ]
        assert "resultUrl" not in seen[1]
        assert set(seen[2]) == {"calculationId", "status", "resultUrl", "details"}
        assert isinstance(seen[2]["details"]["lastUpdatedAt"], int)
        assert sandbox.state.status_polls == {correlation_id: 3}

    async def test_a_finished_query_is_answered_from_cache(
        self, client: Client, sandbox: Sandbox, clock: FakeClock
    ) -> None:
        """The same query again after SUCCESS gets 200 with the result URL."""
        _, queued = await client.submit(make_query())
        clock.advance(1)
        reordered = json.loads(json.dumps(make_query(), sort_keys=True))
        status, cached = await client.submit(reordered)
        _, final = await client.status(queued["correlationId"])

        assert status == 200
        assert cached == {
            "calculationId": final["calculationId"],
            "resultUrl": final["resultUrl"],
        }
        assert sandbox.state.calculations_created == 1
        assert sandbox.state.cached_answers == 1

    @pytest.mark.usefixtures("clock")
    async def test_a_running_query_is_not_answered_from_cache(
        self, client: Client, sandbox: Sandbox
    ) -> None:
        """The same query while the first still runs starts a second calculation."""
        first_status, first = await client.submit(make_query())
        second_status, second = await client.submit(make_query())

        assert (first_status, second_status) == (201, 201)
        assert first["correlationId"] != second["correlationId"]
        assert sandbox.state.calculations_created == 2

    async def test_unknown_ids_are_not_found(self, client: Client) -> None:
        """Unknown correlation and calculation ids are answered 404."""
        base = client.sandbox.base_url

        assert await client.status("nope") == (404, ANALYSIS_NOT_FOUND)
        assert await client.call("DELETE", f"{base}/analysis-query/nope") == (
            404,
            ANALYSIS_NOT_FOUND,
        )
        assert await client.call("GET", f"{base}/analysis-result/nope") == (
            404,
            ANALYSIS_NOT_FOUND,
        )

    @pytest.mark.usefixtures("clock")
    async def test_an_unfinished_result_is_not_found(self, client: Client) -> None:
        """The result of a calculation still running is answered 404."""
        _, queued = await client.submit(make_query())
        _, answer = await client.status(queued["correlationId"])
        url = f"{client.sandbox.base_url}/analysis-result/{answer['calculationId']}"

        assert await client.call("GET", url) == (404, ANALYSIS_NOT_FOUND)

    async def test_delete_aborts_and_is_recorded(
        self, client: Client, sandbox: Sandbox, clock: FakeClock
    ) -> None:
        """DELETE answers 200, the calculation ends ABORTED and is recorded."""
        _, queued = await client.submit(make_query())
        correlation_id = queued["correlationId"]
        url = f"{sandbox.base_url}/analysis-query/{correlation_id}"
        status, _ = await client.call("DELETE", url)
        clock.advance(1)
        _, answer = await client.status(correlation_id)

        assert status == 200
        assert answer["status"] == "ABORTED"
        assert sandbox.state.deletes == [correlation_id]
        assert sandbox.state.in_flight == 0

    @pytest.mark.parametrize(
        ("outcome", "expected"),
        [("FAILED", "FAILED"), ("ABORTED", "ABORTED"), ("NEVER", "RUNNING")],
    )
    async def test_outcome_rules_set_the_final_status(
        self, outcome: str, expected: str
    ) -> None:
        """A query carrying a rule's marker ends with the rule's status."""
        rule = OutcomeRule(marker="sandbox-fail", status=outcome)
        options = SandboxOptions(calculation_seconds=0.05, outcomes=(rule,))
        async with running_sandbox(options) as ruled, aiohttp.ClientSession() as s:
            fake = FakeClock()
            ruled.state.clock = fake
            talker = Client(s, ruled)
            await talker.log_in()
            _, marked = await talker.submit(make_query(marker="sandbox-fail"))
            _, plain = await talker.submit(make_query(marker="fine"))
            fake.advance(60)

            assert (await talker.status(marked["correlationId"]))[1]["status"] == (
                expected
            )
            assert (await talker.status(plain["correlationId"]))[1]["status"] == (
                "SUCCESS"
            )
            assert ruled.state.in_flight == (1 if outcome == "NEVER" else 0)

    async def test_counts_calculations_in_flight(
        self, client: Client, sandbox: Sandbox, clock: FakeClock
    ) -> None:
        """max_in_flight is the most calculations unfinished at one moment."""
        for marker in ("a", "b", "c"):
            await client.submit(make_query(marker=marker))
        clock.advance(0.03)
        await client.submit(make_query(marker="d"))
        clock.advance(0.03)

        assert sandbox.state.max_in_flight == 4
        assert sandbox.state.in_flight == 1

        clock.advance(1)
        await client.submit(make_query(marker="e"))

        assert sandbox.state.max_in_flight == 4
        assert sandbox.state.in_flight == 1

    async def test_usage_counts_new_calculations_only(
        self, client: Client, clock: FakeClock
    ) -> None:
        """The usage endpoint counts calculations created, not cached answers."""
        await client.submit(make_query())
        clock.advance(1)
        await client.submit(make_query())
        url = f"{client.sandbox.base_url}/analysis-usage/current"
        status, usage = await client.call("GET", url)

        assert status == 200
        assert usage["calculationsCount"] == 1
        assert usage["maxCalculationsAllowed"] == 310_000
        assert 1 <= usage["month"] <= 12
        assert usage["year"] >= 2024


@pytest.mark.anyio
class TestQueryValidation:
    """Queries the API refuses, and how."""

    async def test_a_query_without_time_filter_is_unprocessable(
        self, client: Client, sandbox: Sandbox
    ) -> None:
        """A query with no time filter is answered 422 TimeFilterMissing."""
        status, answer = await client.submit(make_query(filters=[]))

        assert status == 422
        assert [error["name"] for error in answer["errors"]] == ["TimeFilterMissing"]
        assert sandbox.state.calculations_created == 0

    async def test_a_nested_time_filter_counts(self, client: Client) -> None:
        """A time filter inside a nested container is enough."""
        body = make_query(filters=[])
        nested = {"filters": [LAST_90_DAYS], "containers": []}
        body["queryObject"]["predefinedContainer"]["containers"] = [nested]

        assert (await client.submit(body))[0] == 201

    async def test_unknown_names_are_unprocessable(self, client: Client) -> None:
        """Unknown column and filter names are listed in a 422 UnmappedName."""
        columns: list[dict[str, Any]] = [*SAMPLE_COLUMNS, {"name": "no_such_metric"}]
        filters: list[dict[str, Any]] = [
            LAST_90_DAYS,
            {"name": "no_such_filter", "value1": "x"},
        ]
        status, answer = await client.submit(make_query(columns, filters=filters))

        assert status == 422
        assert answer["errors"] == [
            {
                "name": "UnmappedName",
                "parameters": {"names": ["no_such_metric", "no_such_filter"]},
            }
        ]

    async def test_a_body_that_is_not_json_is_a_bad_request(
        self, client: Client
    ) -> None:
        """A body that is not JSON is answered 400 with a statusCode and errors."""
        url = f"{client.sandbox.base_url}/analysis-query"
        status, answer = await client.call("POST", url, raw=b"{not json")

        assert status == 400
        assert answer["statusCode"] == "BAD_REQUEST"
        assert answer["errors"]

    async def test_a_body_without_query_object_is_a_bad_request(
        self, client: Client, sandbox: Sandbox
    ) -> None:
        """A body without queryObject is answered 400 and still recorded."""
        status, _ = await client.submit({"resultType": "DATA_ONLY"})

        assert status == 400
        assert sandbox.state.received_queries == [{"resultType": "DATA_ONLY"}]


def data_rows(result: dict[str, Any]) -> list[list[Any]]:
    """Return the rows of a LIST result without its grand total."""
    return list(result["rows"][:-1])


def with_upper_limit(upper: int, marker: str) -> dict[str, Any]:
    """Return the sample query with another window and a marker to vary its seed."""
    body = make_query(marker=marker)
    body["queryObject"]["columns"][0]["upperLimit"] = upper
    return body


class TestListResults:
    """The shape of LIST results."""

    def test_ends_with_the_grand_total(self) -> None:
        """The last row is the grand total with dimension value 0000000000."""
        result = build_result(make_query())

        assert result["rows"][-1][0] == "0000000000"
        assert result["rowCount"] == len(result["rows"])
        assert result["rowCountTotal"] == result["rowCount"] - 1
        assert result["columnCount"] == 3
        assert result["calculationDataType"] == "RAW_DATA"

    def test_row_count_stays_inside_the_window(self) -> None:
        """Data rows never exceed the window; some queries fill it, some fall short."""
        counts = [
            len(data_rows(build_result(with_upper_limit(30, f"seed-{i}"))))
            for i in range(12)
        ]

        assert max(counts) == 30
        assert min(counts) < 30
        assert all(0 <= count <= 30 for count in counts)

    def test_a_lower_limit_shifts_the_window(self) -> None:
        """Ranks 11 to 20 are the second ten rows of ranks 1 to 20."""
        wide = with_upper_limit(20, "window")
        later = copy.deepcopy(wide)
        later["queryObject"]["columns"][0]["lowerLimit"] = 11
        wide_rows, later_rows = data_rows(build_result(wide)), build_result(later)

        assert data_rows(later_rows) == wide_rows[10:]

    def test_cells_have_json_types(self) -> None:
        """Dimension cells are strings; metric cells are numbers or null."""
        rows = data_rows(build_result(make_query(marker="types")))
        metric_cells = [cell for row in rows for cell in row[1:]]

        assert all(isinstance(row[0], str) for row in rows)
        assert all(isinstance(cell, int | float | None) for cell in metric_cells)
        assert any(cell is None for cell in metric_cells)
        assert any(isinstance(cell, float) for cell in metric_cells)

    def test_session_ids_keep_leading_zeros_and_length(self) -> None:
        """Session ids are digit strings longer than 15 digits with leading zeros."""
        rows = data_rows(build_result(make_query(marker="types")))

        assert all(row[0].isdigit() and len(row[0]) > 15 for row in rows)
        assert all(row[0].startswith("0") for row in rows)

    def test_page_names_may_look_like_formulas(self) -> None:
        """Some page names begin with =, + and @, as real ones do."""
        columns: list[dict[str, Any]] = [
            {"name": "pages", "upperLimit": 20},
            {"name": "visits"},
        ]
        names = [row[0] for row in data_rows(build_result(make_query(columns)))]

        assert {name[0] for name in names} >= {"=", "+", "@"}

    def test_days_count_back_from_the_end_of_the_range(self) -> None:
        """time_days values are yyyyMMdd keys from the last day of the range down."""
        fixed: dict[str, Any] = {
            "name": "time_range",
            "filterPredicate": "BETWEEN",
            "value1": "2026-12-01 00:00:00",
            "value2": "2026-12-04 00:00:00",
        }
        columns: list[dict[str, Any]] = [{"name": "time_days"}, {"name": "visits"}]
        result = build_result(make_query(columns, filters=[fixed]))

        assert [row[0] for row in data_rows(result)] == [
            "20261203",
            "20261202",
            "20261201",
        ]
        assert result["timerange"] == ["2026-12-01 00:00:00", "2026-12-04 00:00:00"]

    def test_headers_name_each_column(self) -> None:
        """Headers carry name, alias counting repeats, arrangeType and flags."""
        columns: list[dict[str, Any]] = [
            {"name": "pages"},
            {"name": "visits"},
            {"name": "visits"},
        ]
        headers = build_result(make_query(columns))["headers"]

        assert [header["alias"] for header in headers] == [
            "content_name|0",
            "visits|0",
            "visits|1",
        ]
        assert headers[0]["dimension"] is True
        assert headers[0]["metric"] in {None, False}
        assert headers[1]["metric"] is True
        assert headers[1]["dimension"] in {None, False}

    def test_warns_when_sorting_was_enforced(self) -> None:
        """A query sorted by nothing gets a SortingEnforced warning."""
        result = build_result(make_query())

        assert result["warnings"] == [
            {
                "name": "SortingEnforced",
                "parameters": {"aliases": ["page_impressions|0"]},
            }
        ]

    def test_keys_come_in_mapp_order(self) -> None:
        """Keys follow the spec example's order, rows before headers."""
        assert list(build_result(make_query())) == [
            "calculationDataType",
            "rows",
            "rowCount",
            "rowCountTotal",
            "headers",
            "columnCount",
            "warnings",
            "timerange",
            "timestamp",
        ]

    def test_is_deterministic(self) -> None:
        """The same query gives the same result, bare queryObject or full body."""
        body = make_query(PIVOT_COLUMNS, variant="PIVOT")

        assert build_result(body) == build_result(copy.deepcopy(body))
        assert build_result(body["queryObject"]) == build_result(body)

    def test_refuses_a_query_the_api_refuses(self) -> None:
        """build_result raises ValueError for an unmapped name."""
        with pytest.raises(ValueError, match="UnmappedName"):
            build_result(make_query([{"name": "no_such_thing"}]))


class TestPivotResults:
    """The shape of PIVOT results."""

    def test_sum_positions_point_at_the_total_rows(self) -> None:
        """Inner sumPositions list every subtotal and the total, outer the total."""
        result = build_result(make_query(PIVOT_COLUMNS, variant="PIVOT"))
        rows, headers = result["rows"], result["headers"]
        subtotals = [i for i, row in enumerate(rows) if row[1] is None]

        assert headers[1]["sumPositions"] == subtotals
        assert headers[0]["sumPositions"] == [len(rows) - 1]
        assert rows[-1][:2] == [None, None]
        assert all(rows[i][0] is not None for i in subtotals[:-1])

    def test_counts_rows_with_and_without_totals(self) -> None:
        """The rowCount counts every row, the rowCountTotal only the data rows."""
        result = build_result(make_query(PIVOT_COLUMNS, variant="PIVOT"))
        totals = len(result["headers"][1]["sumPositions"])

        assert result["rowCount"] == len(result["rows"])
        assert result["rowCountTotal"] == result["rowCount"] - totals
        assert len({row[0] for row in result["rows"][:-1]}) == 7

    def test_subtotals_sum_their_group(self) -> None:
        """A subtotal's count is the sum of its group's counts."""
        result = build_result(make_query(PIVOT_COLUMNS, variant="PIVOT"))
        rows, first_subtotal = result["rows"], result["headers"][1]["sumPositions"][0]
        group = rows[:first_subtotal]

        expected = sum(row[2] for row in group if row[2] is not None)
        assert rows[first_subtotal][2] == expected


@pytest.mark.anyio
class TestServedResults:
    """The served body is build_result's answer, streamed."""

    async def test_streams_exactly_build_result(
        self, client: Client, clock: FakeClock
    ) -> None:
        """A result of several thousand rows arrives as the same JSON text."""
        fixed: dict[str, Any] = {
            "name": "time_range",
            "filterPredicate": "BETWEEN",
            "value1": "2010-01-01 00:00:00",
            "value2": "2026-01-01 00:00:00",
        }
        columns: list[dict[str, Any]] = [
            {"name": "time_days", "upperLimit": 3000},
            {"name": "visits"},
        ]
        body = make_query(columns, filters=[fixed])
        _, queued = await client.submit(body)
        clock.advance(1)
        _, final = await client.status(queued["correlationId"])
        headers = {"Authorization": f"Bearer {client.token}"}
        async with client.session.get(final["resultUrl"], headers=headers) as response:
            text = await response.text()

        assert response.content_type == "application/json"
        assert text == json.dumps(build_result(body))
        assert json.loads(text)["rowCount"] == 3001


class TestThreadedSandbox:
    """The sandbox serves synchronous callers from a thread of its own."""

    def test_answers_synchronous_code(self, threaded_sandbox: Sandbox) -> None:
        """Plain blocking HTTP from the test's thread gets a token."""
        query = urllib.parse.urlencode(
            {"grant_type": "client_credentials", "scope": SCOPE}
        )
        request = urllib.request.Request(  # noqa: S310  the URL is the sandbox's own
            f"{threaded_sandbox.token_url}?{query}",
            method="POST",
            headers={"Authorization": basic_auth()},
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            answer = json.load(response)

        assert answer["token_type"] == "Bearer"  # noqa: S105
        assert threaded_sandbox.state.token_requests == 1

    def test_stops_listening_on_exit(self) -> None:
        """Leaving the context closes the port."""
        with sandbox_in_thread(SandboxOptions()) as running:
            port = urllib.parse.urlsplit(running.base_url).port
            assert port is not None

        with pytest.raises(ConnectionRefusedError), socket.socket() as probe:
            probe.connect(("127.0.0.1", port))


SPEC_NAMES = [
    "browser_fullName",
    "visits",
    "time_range",
    "time_dynamic",
    "pages",
    "pages_pageImpressions",
    "pages_durationAvg",
    "visits_bounceRate",
    "pages_exitRate",
    "time_days",
    "os_vendor",
    "visits_newShare",
    "visit_duration_avg",
    "alexaRanking",
    "attribution_1_order_qty",
    "custom_metric_1000853",
    "media_chapter_1",
    "page_category_number_13_sum",
    "products_viewed_qty",
    "attribution_1",
    "attribution_2",
    "device_deviceClass",
    "device_model",
    "user_country",
    "user_gender",
    "user_id",
    "user_lastVisit",
    "user_lastVisitWithPurchase",
    "user_macroStatus",
    "visitors_newVsReturning",
    "session_id",
    "order_value",
]


class TestPublicFace:
    """The package's public names and its catalogue."""

    def test_all_is_sorted_and_importable(self) -> None:
        """The package's __all__ is sorted and names only what it exports."""
        assert sandbox_package.__all__ == sorted(sandbox_package.__all__)
        assert all(hasattr(sandbox_package, name) for name in sandbox_package.__all__)

    def test_catalogue_knows_every_name_of_the_contract(self) -> None:
        """Every name in the spec's examples and the sample query is known."""
        assert set(SPEC_NAMES) <= set(sandbox_package.CATALOGUE)


class TestOptions:
    """Settings the sandbox refuses, and the start-up helpers."""

    @pytest.mark.parametrize("host", FOREIGN_HOSTS)
    def test_refuses_a_host_beyond_loopback(self, host: str) -> None:
        """Only a loopback address may be served on."""
        with pytest.raises(ValueError, match="loopback"):
            SandboxOptions(host=host)

    def test_refuses_an_unknown_outcome(self) -> None:
        """An outcome rule needs a final status the sandbox knows."""
        with pytest.raises(ValueError, match="status"):
            OutcomeRule(marker="x", status="SUCCESS")

    @pytest.mark.anyio
    async def test_startup_lines_say_where_and_who(self, sandbox: Sandbox) -> None:
        """The start-up lines name both URLs and the credentials."""
        text = "\n".join(startup_lines(sandbox))

        for expected in (sandbox.base_url, sandbox.token_url, CLIENT_ID, CLIENT_SECRET):
            assert expected in text

    def test_serve_forever_returns_on_interrupt(self) -> None:
        """serve_forever starts a sandbox and returns when interrupted."""
        started: list[Sandbox] = []

        def interrupt(running: Sandbox) -> None:
            started.append(running)
            raise KeyboardInterrupt

        serve_forever(SandboxOptions(), on_ready=interrupt)

        assert len(started) == 1
        assert started[0].base_url.startswith("http://127.0.0.1:")
