"""How long to wait: pure functions for poll intervals and retry delays.

Nothing here sleeps or reads a clock it was not given, so every rule is tested
directly, without waiting.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

POLL_GROWTH = 1.25
"""Each poll interval is this much longer than the one before.

A calculation that finishes just after a poll is noticed one interval later,
so the growth bounds the detection lag to about a quarter of the time the
calculation took, while a 20-second calculation still needs fewer than ten
polls.
"""

JITTER = 0.1
"""Each wait is moved by up to this share, so that many queries started at
once do not poll in lockstep."""


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds for retrying a request that failed transiently.

    ``attempts`` counts every try, the first included. ``initial`` is the first
    wait, doubled per retry up to ``max_interval``. ``total`` caps the seconds
    from the first try to the start of the last: a retry whose wait would end
    past it is not made. ``max_retry_after`` caps what a ``Retry-After`` header
    may ask for. The manifest's ``retry:`` section sets each of them.
    """

    attempts: int = 6
    initial: float = 0.5
    max_interval: float = 30.0
    total: float = 120.0
    max_retry_after: float = 120.0


def poll_intervals(
    initial: float,
    max_interval: float,
    *,
    growth: float = POLL_GROWTH,
    jitter: float = JITTER,
    randomness: random.Random | None = None,
) -> Iterator[float]:
    """Yield the waits between status polls: growing from ``initial`` to the cap."""
    source = randomness or random.Random()  # noqa: S311 - spreading load, not secrecy
    interval = initial
    while True:
        yield _jittered(min(interval, max_interval), jitter, source)
        interval *= growth


def retry_delay(
    attempt: int,
    policy: RetryPolicy,
    *,
    randomness: random.Random | None = None,
) -> float:
    """Return the wait before retry number ``attempt`` (counting from 1)."""
    source = randomness or random.Random()  # noqa: S311 - spreading load, not secrecy
    interval = policy.initial * 2 ** (attempt - 1)
    return _jittered(min(interval, policy.max_interval), JITTER, source)


def next_retry_wait(
    attempt: int,
    elapsed: float,
    policy: RetryPolicy,
    *,
    retry_after: float | None = None,
    randomness: random.Random | None = None,
) -> float | None:
    """Return the wait before retry number ``attempt``, or None to give up.

    ``elapsed`` is the time since the first try. The answer is None once
    ``attempt`` tries were made or when the wait would end past
    ``policy.total``. A ``retry_after`` the server asked for (already capped)
    replaces the computed wait.
    """
    if attempt >= policy.attempts:
        return None

    wait = (
        retry_after
        if retry_after is not None
        else retry_delay(attempt, policy, randomness=randomness)
    )
    if elapsed + wait > policy.total:
        return None
    return wait


def parse_retry_after(
    value: str | None, *, now: datetime | None = None, cap: float = 120.0
) -> float | None:
    """Return the seconds a ``Retry-After`` header asks for, capped; None if unusable.

    Accepts whole or fractional seconds and an HTTP date; a date in the past
    means "now" (zero).
    """
    if value is None or not value.strip():
        return None

    text = value.strip()
    seconds: float | None
    try:
        seconds = float(text)
    except ValueError:
        seconds = _seconds_until(text, now or datetime.now(UTC))

    if seconds is None or math.isnan(seconds):
        return None

    return min(max(seconds, 0.0), cap)


def _seconds_until(text: str, now: datetime) -> float | None:
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None

    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - now).total_seconds()


def _jittered(value: float, jitter: float, source: random.Random) -> float:
    return value * (1 + source.uniform(-jitter, jitter))
