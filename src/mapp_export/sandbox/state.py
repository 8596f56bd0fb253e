"""What the sandbox remembers: tokens, calculations, and counters tests assert on.

A calculation's status follows the sandbox's own clock: ``INITIATED`` for the first
fifth of ``calculation_seconds``, ``RUNNING`` after, then ``SUCCESS`` (or the final
status an :class:`OutcomeRule` gives it; ``NEVER`` keeps it ``RUNNING``). A DELETE
makes a calculation that has not finished ``ABORTED`` at once.

The counters are plain attributes, changed only on the sandbox's event loop; reading
them from another thread after the requests are answered is safe.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mapp_export.sandbox.options import NEVER, SandboxOptions

ACCOUNT_ID = "100000000000042"
"""The account number the sandbox puts at the end of every calculation id."""

_INITIATED_SHARE = 0.2


@dataclass
class Calculation:
    """One calculation the sandbox was asked for."""

    correlation_id: str
    calculation_id: str
    body: dict[str, Any]
    created_at: float
    created_at_epoch: float
    outcome: str
    aborted_at: float | None = None

    def status(self, now: float, duration: float) -> str:
        """Return the status at ``now`` of a calculation lasting ``duration``."""
        if self.aborted_at is not None and self.aborted_at <= now:
            return "ABORTED"

        elapsed = now - self.created_at
        if elapsed < duration * _INITIATED_SHARE:
            return "INITIATED"
        if elapsed < duration or self.outcome == NEVER:
            return "RUNNING"

        return self.outcome

    def finished_at(self, duration: float) -> float | None:
        """When the calculation reaches a final status; ``None`` if it never does."""
        if self.aborted_at is not None:
            return self.aborted_at
        if self.outcome == NEVER:
            return None

        return self.created_at + duration

    def last_updated_ms(self, now: float, duration: float) -> int:
        """Epoch milliseconds of the calculation's last change of status."""
        if self.aborted_at is not None:
            moment = self.aborted_at - self.created_at
        else:
            ends = [] if self.outcome == NEVER else [duration]
            changes = [0.0, duration * _INITIATED_SHARE, *ends]
            moment = max(
                change for change in changes if change <= now - self.created_at
            )

        return int((self.created_at_epoch + moment) * 1000)


@dataclass
class SandboxState:
    """Counters and memory of one running sandbox.

    ``clock`` is the monotonic clock every status and token expiry is judged by; a
    test may replace it with a fake one before the first request, to move time on
    without waiting. ``received_queries`` holds every posted body that parsed as
    JSON, including the ones refused with 400 or 422; ``received_report_queries``
    likewise every body posted to ``/report-query``. ``faults_injected`` counts
    the injected faults by kind; ``tokens_issued`` lists every token handed out.
    ``fetches_by_calculation`` counts the result downloads of each calculation id.
    """

    options: SandboxOptions = field(default_factory=SandboxOptions)
    clock: Callable[[], float] = time.monotonic
    token_requests: int = 0
    token_failures: int = 0
    rejected_tokens: int = 0
    calculations_created: int = 0
    cached_answers: int = 0
    max_in_flight: int = 0
    result_fetches: int = 0
    fetches_by_calculation: dict[str, int] = field(default_factory=dict)
    deletes: list[str] = field(default_factory=list)
    received_queries: list[dict[str, Any]] = field(default_factory=list)
    received_report_queries: list[Any] = field(default_factory=list)
    status_polls: dict[str, int] = field(default_factory=dict)
    calculations: dict[str, Calculation] = field(default_factory=dict)
    faults_injected: dict[str, int] = field(default_factory=dict)
    tokens_issued: list[str] = field(default_factory=list)
    _tokens: dict[str, float] = field(default_factory=dict)

    @property
    def in_flight(self) -> int:
        """Calculations created but not yet at a final status by the sandbox's clock."""
        now = self.clock()
        duration = self.options.calculation_seconds
        return sum(
            1
            for calculation in list(self.calculations.values())
            if (finished := calculation.finished_at(duration)) is None or finished > now
        )

    def issue_token(self) -> str:
        """Make a new access token valid for the configured lifetime."""
        token = secrets.token_urlsafe(32)
        self._tokens[token] = self.clock() + self.options.token_lifetime_seconds
        self.tokens_issued.append(token)
        return token

    def token_is_valid(self, token: str) -> bool:
        """Whether the token was issued here and has not expired."""
        expires_at = self._tokens.get(token)
        return expires_at is not None and self.clock() < expires_at

    def expire_tokens(self) -> None:
        """Make every token issued so far invalid, as if its lifetime had run out."""
        self._tokens.clear()

    def create_calculation(self, body: dict[str, Any], canonical: str) -> Calculation:
        """Start a new calculation of a query and count it."""
        calculation = Calculation(
            correlation_id=str(uuid.uuid4()),
            calculation_id=calculation_id_of(canonical),
            body=body,
            created_at=self.clock(),
            created_at_epoch=time.time(),
            outcome=self.options.outcome_for(canonical),
        )
        self.calculations[calculation.correlation_id] = calculation
        self.calculations_created += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return calculation

    def status_of(self, calculation: Calculation) -> str:
        """Return the calculation's status now."""
        return calculation.status(self.clock(), self.options.calculation_seconds)

    def last_updated_ms(self, calculation: Calculation) -> int:
        """Epoch milliseconds of the calculation's last change of status."""
        return calculation.last_updated_ms(
            self.clock(), self.options.calculation_seconds
        )

    def cached_success(self, canonical: str) -> Calculation | None:
        """Return a finished ``SUCCESS`` calculation of the same query, if any."""
        return self.succeeded(calculation_id_of(canonical))

    def succeeded(self, calculation_id: str) -> Calculation | None:
        """Return a calculation with this id that has finished ``SUCCESS``, if any."""
        for calculation in list(self.calculations.values()):
            if calculation.calculation_id != calculation_id:
                continue
            if self.status_of(calculation) == "SUCCESS":
                return calculation

        return None

    def abort(self, calculation: Calculation) -> None:
        """Abort a calculation that has not reached a final status, and record it."""
        self.deletes.append(calculation.correlation_id)
        if self.status_of(calculation) in {"INITIATED", "RUNNING"}:
            calculation.aborted_at = self.clock()


def calculation_id_of(canonical: str) -> str:
    """Return a query's calculation id; the same query always gets the same."""
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"{digest}_{ACCOUNT_ID}"
