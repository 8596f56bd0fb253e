"""Fault injection: the failures a nightly run meets, served on purpose.

A share of requests is answered with a fault instead of the real answer: 429
with each form of ``Retry-After``, 5xx answers (some as a proxy's HTML page), a
bare 400 as during Mapp's maintenance windows, or a connection closed without
an answer. Faults are drawn before the request reaches its handler, so a fault
never creates a calculation; creating one (``POST /analysis-query``) meets
only the faults that cannot be mistaken for one that did: 429, 503, the bare
400, and ``drop-submit`` (closed before an answer; a careful client must not
send it again, since it cannot know).

The draw is deterministic: the n-th request for the same thing (the same
query body, the same calculation, the token endpoint) gets the same fault for
the same seed, whatever order concurrent requests arrive in. How many status
polls or token requests a run makes still depends on timing, so the totals of
a concurrent run may differ by a fault or two between runs. At most
``max_in_a_row`` faults in a row hit the same thing, so a client that retries
enough always gets through. :class:`SandboxState` counts the faults by kind.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from aiohttp.typedefs import Handler, Middleware

    from mapp_export.sandbox.state import SandboxState

RETRY_AFTER_SECONDS = "1"
"""The ``Retry-After`` of the ``429-seconds`` fault: whole seconds."""

RETRY_AFTER_FRACTION = "0.01"
"""The ``Retry-After`` of the ``429-fraction`` fault: fractional seconds."""

FUTURE_DATE_SECONDS = 2
"""How far ahead the ``429-date`` fault's HTTP date lies."""

HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
HTML_504 = HTML_502.replace("502 Bad Gateway", "504 Gateway Time-out")

SUBMIT_FAULTS = frozenset(
    {
        "429-seconds",
        "429-fraction",
        "429-date",
        "429-past-date",
        "503",
        "maintenance-400",
        "drop-submit",
    }
)
"""The faults ``POST /analysis-query`` may meet: none of them creates anything."""

FAULT_KINDS = (
    "429-seconds",
    "429-fraction",
    "429-date",
    "429-past-date",
    "500",
    "502-html",
    "503",
    "504",
    "maintenance-400",
    "drop",
    "drop-submit",
)
"""Every kind of fault, in the order shares are drawn."""

ENDPOINTS = frozenset(
    {"token", "submit", "status", "abort", "result", "usage", "other"}
)
"""The endpoints faults may hit; ``other`` is any path not named here."""


@dataclass(frozen=True)
class FaultOptions:
    """Which faults to inject, how often, and from which seed.

    ``shares`` pairs a kind of :data:`FAULT_KINDS` with the share of eligible
    requests that get it (their sum must stay below 1). ``drop`` applies to
    every request but a submit; ``drop-submit`` to submits only. ``endpoints``
    names the endpoints that meet faults (see :data:`ENDPOINTS`).
    """

    shares: tuple[tuple[str, float], ...] = ()
    seed: int = 0
    max_in_a_row: int = 2
    endpoints: frozenset[str] = ENDPOINTS

    def __post_init__(self) -> None:
        """Refuse unknown kinds, negative shares and shares that sum to 1 or more."""
        for kind, share in self.shares:
            if kind not in FAULT_KINDS:
                raise ValueError(
                    f"Unknown fault kind {kind!r}; use one of {', '.join(FAULT_KINDS)}."
                )
            if share < 0:
                raise ValueError(f"The share of {kind} must not be negative.")
        if sum(share for _, share in self.shares) >= 1:
            raise ValueError("The fault shares must add up to less than 1.")
        if self.max_in_a_row < 1:
            raise ValueError("max_in_a_row must be at least 1.")
        if not self.endpoints <= ENDPOINTS:
            unknown = ", ".join(sorted(self.endpoints - ENDPOINTS))
            raise ValueError(
                f"Unknown endpoint {unknown}; use {', '.join(sorted(ENDPOINTS))}."
            )

    @classmethod
    def parse(
        cls, pairs: list[str], *, seed: int = 0, endpoints: str | None = None
    ) -> FaultOptions:
        """Build options from ``KIND=SHARE`` texts, as the command line gives them.

        ``endpoints`` is a comma-separated list of :data:`ENDPOINTS` (all if None).
        """
        shares = []
        for pair in pairs:
            kind, separator, share = pair.partition("=")
            if not separator:
                raise ValueError(f"Write a fault as KIND=SHARE, not {pair!r}.")
            shares.append((kind.strip(), float(share)))

        chosen = (
            frozenset(name.strip() for name in endpoints.split(","))
            if endpoints
            else ENDPOINTS
        )
        return cls(shares=tuple(shares), seed=seed, endpoints=chosen)

    @property
    def active(self) -> bool:
        """Whether any fault may be injected."""
        return any(share > 0 for _, share in self.shares)


NO_FAULTS = FaultOptions()
"""The options of a sandbox that injects nothing."""


def fault_middleware(state: SandboxState) -> Middleware:
    """Build a middleware that answers a deterministic share of requests with faults."""
    injector = _Injector(state)

    @web.middleware
    async def inject(request: web.Request, handler: Handler) -> web.StreamResponse:
        kind = await injector.draw(request)
        if kind is None:
            return await handler(request)

        state.faults_injected[kind] = state.faults_injected.get(kind, 0) + 1
        return _fault_answer(request, kind)

    return inject


class _Injector:
    """Draws the fault of each request from the seed and what the request is for."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.options = state.options.faults
        self.seen: dict[str, int] = {}
        self.in_a_row: dict[str, int] = {}

    async def draw(self, request: web.Request) -> str | None:
        """Return the fault kind for this request, or None to serve it."""
        if not self.options.active:
            return None

        if endpoint_of(request) not in self.options.endpoints:
            return None

        key = await self._key(request)
        occurrence = self.seen.get(key, 0)
        self.seen[key] = occurrence + 1
        if self.in_a_row.get(key, 0) >= self.options.max_in_a_row:
            self.in_a_row[key] = 0
            return None

        kind = self._pick(f"{self.options.seed}|{key}|{occurrence}", request)
        self.in_a_row[key] = self.in_a_row.get(key, 0) + 1 if kind else 0
        return kind

    def _pick(self, seed_text: str, request: web.Request) -> str | None:
        submit = request.method == "POST" and request.path.endswith("/analysis-query")
        draw = random.Random(seed_text).random()  # noqa: S311 - test data
        threshold = 0.0
        for kind, share in self.options.shares:
            eligible = kind in SUBMIT_FAULTS if submit else kind != "drop-submit"
            if not eligible:
                continue
            threshold += share
            if draw < threshold:
                return kind
        return None

    async def _key(self, request: web.Request) -> str:
        """Name what the request is for, the same way in every run."""
        if request.method == "POST" and request.can_read_body:
            digest = hashlib.sha256(await request.read()).hexdigest()[:16]
            return f"POST {request.path} {digest}"

        last = request.path.rsplit("/", 1)[-1]
        calculation = self.state.calculations.get(last)
        if calculation is not None:
            prefix = request.path.rsplit("/", 1)[0]
            return f"{request.method} {prefix}/{calculation.calculation_id}"
        return f"{request.method} {request.path}"


def endpoint_of(request: web.Request) -> str:
    """Name the endpoint a request is for, as :data:`ENDPOINTS` names them."""
    path = request.path
    if path.endswith("/token"):
        return "token"
    if "/analysis-query" in path:
        if request.method == "POST":
            return "submit"
        return "abort" if request.method == "DELETE" else "status"
    if "/analysis-result/" in path:
        return "result"
    if path.endswith("/analysis-usage/current"):
        return "usage"
    return "other"


def _fault_answer(request: web.Request, kind: str) -> web.StreamResponse:
    if kind.startswith("429"):
        return web.Response(
            status=429,
            text="Too Many Requests",
            headers={"Retry-After": _retry_after(kind)},
        )
    if kind in {"drop", "drop-submit"}:
        return _drop(request)
    if kind == "maintenance-400":
        return web.Response(status=400)
    if kind == "502-html":
        return web.Response(status=502, text=HTML_502, content_type="text/html")
    if kind == "504":
        return web.Response(status=504, text=HTML_504, content_type="text/html")
    return web.json_response(
        {"status": int(kind), "error": "sandbox fault"}, status=int(kind)
    )


def _retry_after(kind: str) -> str:
    now = datetime.now(UTC)
    if kind == "429-seconds":
        return RETRY_AFTER_SECONDS
    if kind == "429-fraction":
        return RETRY_AFTER_FRACTION
    if kind == "429-date":
        return format_datetime(
            now + timedelta(seconds=FUTURE_DATE_SECONDS), usegmt=True
        )
    return format_datetime(now - timedelta(hours=1), usegmt=True)


def _drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without an answer."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=500)
