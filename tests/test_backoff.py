"""Tests of the pure backoff functions: no test here waits."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime

import pytest

from mapp_export.backoff import (
    RetryPolicy,
    next_retry_wait,
    parse_retry_after,
    poll_intervals,
    retry_delay,
)


class TestPollIntervals:
    """The waits between status polls."""

    def test_start_at_initial_and_grow_to_the_cap(self) -> None:
        """Without jitter the intervals grow geometrically and stop at the cap."""
        waits = list(itertools.islice(poll_intervals(1.0, 5.0, jitter=0.0), 12))

        assert waits[0] == 1.0
        assert waits == sorted(waits)
        assert max(waits) == 5.0
        assert waits[-1] == 5.0

    def test_jitter_stays_within_its_share(self) -> None:
        """Jitter moves each wait by at most its share of the interval."""
        waits = itertools.islice(
            poll_intervals(2.0, 2.0, jitter=0.1, randomness=random.Random(7)), 200
        )

        assert all(1.8 <= wait <= 2.2 for wait in waits)

    @pytest.mark.parametrize("calculation", [0.5, 2.0, 5.0, 20.0, 60.0])
    def test_default_policy_is_prompt_and_cheap(self, calculation: float) -> None:
        """A calculation is noticed within 30 % of its time plus 1 s, in few polls."""
        elapsed, polls = 0.0, 0
        for wait in poll_intervals(1.0, 30.0, randomness=random.Random(1)):
            elapsed += wait
            polls += 1
            if elapsed >= calculation:
                break

        assert elapsed - calculation <= 0.3 * calculation + 1.0
        if calculation <= 20:
            assert polls <= 18


class TestRetryDelay:
    """The waits between retries of a failed request."""

    def test_doubles_per_attempt_up_to_the_cap(self) -> None:
        """Retry delays double and never pass the policy's cap (plus jitter)."""
        policy = RetryPolicy(initial=0.5, max_interval=4.0)
        delays = [
            retry_delay(n, policy, randomness=random.Random(3)) for n in range(1, 8)
        ]

        assert 0.45 <= delays[0] <= 0.55
        assert 0.9 <= delays[1] <= 1.1
        assert all(delay <= 4.4 for delay in delays)


class TestRetryAfter:
    """Parsing the Retry-After header in all its forms."""

    NOW = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)

    @pytest.mark.parametrize(
        ("header", "seconds"),
        [
            ("7", 7.0),
            ("0.25", 0.25),
            ("Fri, 04 Dec 2026 12:00:30 GMT", 30.0),
            ("Fri, 04 Dec 2026 11:00:00 GMT", 0.0),
            ("100000", 120.0),
            ("-3", 0.0),
        ],
    )
    def test_reads_seconds_fractions_and_dates(
        self, header: str, seconds: float
    ) -> None:
        """Seconds, fractions and HTTP dates are honoured, past means now, capped."""
        assert parse_retry_after(header, now=self.NOW, cap=120.0) == pytest.approx(
            seconds
        )

    @pytest.mark.parametrize("header", [None, "", "soon", "nan"])
    def test_ignores_what_it_cannot_read(self, header: str | None) -> None:
        """An absent or unreadable header leaves the choice to the backoff."""
        assert parse_retry_after(header, now=self.NOW) is None


class TestNextRetryWait:
    """The bounds on retrying: attempts, total time, and Retry-After."""

    POLICY = RetryPolicy(attempts=4, initial=1.0, max_interval=8.0, total=10.0)

    def test_gives_up_after_the_last_attempt(self) -> None:
        """After ``attempts`` tries no further wait is offered."""
        assert next_retry_wait(3, 0.0, self.POLICY) is not None
        assert next_retry_wait(4, 0.0, self.POLICY) is None

    def test_gives_up_when_the_wait_would_pass_the_total(self) -> None:
        """A wait that would end past ``total`` is not made."""
        assert next_retry_wait(1, 8.5, self.POLICY) is not None
        assert next_retry_wait(2, 8.5, self.POLICY) is None

    def test_retry_after_replaces_the_computed_wait(self) -> None:
        """The server's (capped) Retry-After is the wait, still within total."""
        assert next_retry_wait(1, 0.0, self.POLICY, retry_after=3.0) == 3.0
        assert next_retry_wait(1, 8.0, self.POLICY, retry_after=3.0) is None
