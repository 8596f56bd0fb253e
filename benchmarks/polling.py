"""Polls per query and detection lag, for calculations of several lengths.

Computed from the pure poll intervals of :mod:`mapp_export.backoff` (the
default settings: first wait 1 s, longest 30 s, growth 1.25, jitter ±10 %)
over many jitter draws, then confirmed against sandboxes on loopback: one run
per calculation length, all side by side in one event loop.
"""

from __future__ import annotations

import random
import statistics
import tempfile
from dataclasses import dataclass
from itertools import accumulate, islice
from pathlib import Path

import anyio
import yaml

from mapp_export.backoff import poll_intervals
from mapp_export.manifest import load_plan
from mapp_export.runner import RunOptions, run_plan
from mapp_export.sandbox import SandboxOptions, running_sandbox
from mapp_export.settings import Credentials

INITIAL = 1.0
MAX_INTERVAL = 30.0
CALCULATIONS = (0.5, 2.0, 5.0, 20.0, 60.0)
DRAWS = 10_000
_MOST_POLLS = 1000


@dataclass(frozen=True)
class PollFigures:
    """Polls and lag of one calculation length, over many jitter draws."""

    seconds: float
    polls_median: float
    polls_max: int
    lag_median: float
    lag_p95: float
    lag_max: float

    @property
    def lag_limit(self) -> float:
        """The target: 30 % of the calculation time plus the first wait."""
        return 0.3 * self.seconds + INITIAL


def detection(seconds: float, randomness: random.Random) -> tuple[int, float]:
    """Answer the polls needed and the lag after a calculation of ``seconds``."""
    intervals = poll_intervals(INITIAL, MAX_INTERVAL, randomness=randomness)
    for polls, moment in enumerate(accumulate(islice(intervals, _MOST_POLLS)), start=1):
        if moment >= seconds:
            return polls, moment - seconds

    raise RuntimeError(f"no poll after {seconds} s")


def computed(seconds: float, draws: int = DRAWS) -> PollFigures:
    """Compute polls and lag of a ``seconds`` calculation over ``draws`` draws."""
    randomness = random.Random(42)
    results = [detection(seconds, randomness) for _ in range(draws)]
    polls = [count for count, _ in results]
    lags = sorted(lag for _, lag in results)
    return PollFigures(
        seconds=seconds,
        polls_median=statistics.median(polls),
        polls_max=max(polls),
        lag_median=statistics.median(lags),
        lag_p95=lags[int(0.95 * (len(lags) - 1))],
        lag_max=lags[-1],
    )


@dataclass(frozen=True)
class Observed:
    """What one real run against the sandbox showed."""

    seconds: float
    polls: int
    lag: float


async def observe(seconds_list: tuple[float, ...]) -> list[Observed]:
    """Run one query per calculation length, side by side, with default polling."""
    found: list[Observed] = []

    async def one(seconds: float) -> None:
        found.append(await _observe_one(seconds))

    async with anyio.create_task_group() as group:
        for seconds in seconds_list:
            group.start_soon(one, seconds)

    return sorted(found, key=lambda observed: observed.seconds)


async def _observe_one(seconds: float) -> Observed:
    """One query with a calculation of ``seconds`` and the default poll settings."""
    options = SandboxOptions(calculation_seconds=seconds)
    async with running_sandbox(options) as sandbox:
        with tempfile.TemporaryDirectory() as folder:
            manifest = Path(folder) / "manifest.yaml"
            manifest.write_text(
                yaml.safe_dump(
                    {
                        "api": {"base_url": sandbox.base_url},
                        "output": "poll.xlsx",
                        "queries": [{"name": "Poll", "query": _small_query()}],
                    }
                ),
                encoding="utf-8",
            )
            credentials = Credentials(options.client_id, options.client_secret)
            outcome = await run_plan(load_plan(manifest), credentials, RunOptions())

    record = outcome.records[0]
    if record.calculated_after is None:
        raise RuntimeError(f"the {seconds} s calculation failed: {record.error}")

    return Observed(seconds, record.polls, record.calculated_after - seconds)


def _small_query() -> dict[str, object]:
    """Build a query of ten pages."""
    return {
        "columns": [
            {"name": "pages", "lowerLimit": 1, "upperLimit": 10},
            {"name": "visits"},
        ],
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
    }
