"""Soak: a hundred queries under a mix of transient faults lose nothing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from faults_helpers import (
    FAST_RETRY_MANIFEST,
    captured_logs,
    run_manifest,
    secrets_of,
    written_texts,
)
from helpers import list_query, sheets_by_openpyxl, write_manifest
from mapp_export.outcome import ExitCode
from mapp_export.sandbox import (
    FaultOptions,
    SandboxOptions,
    build_result,
    running_sandbox,
)

pytestmark = pytest.mark.anyio

QUERIES = 100

FAULT_MIX = FaultOptions(
    shares=(
        ("429-seconds", 0.02),
        ("429-fraction", 0.02),
        ("429-date", 0.02),
        ("429-past-date", 0.02),
        ("500", 0.02),
        ("502-html", 0.03),
        ("503", 0.03),
        ("504", 0.02),
        ("maintenance-400", 0.03),
        ("drop", 0.04),
    ),
    seed=2026,
)
"""About a quarter of all requests meet a fault; submits meet only safe ones."""


class TestSoak:
    """Every row arrives, every query is calculated once, nothing leaks."""

    async def test_hundred_queries_under_faults(self, tmp_path: Path) -> None:
        """A hundred queries under faults: all sheets complete, one calculation each."""
        options = SandboxOptions(
            calculation_seconds=0.01,
            token_lifetime_seconds=1,
            faults=FAULT_MIX,
        )
        dimensions = ("pages", "browser_fullName")
        queries = [
            (f"Q{n:03d}", list_query(dimensions[n % 2], n % 40 + 1, marker=f"m{n}"))
            for n in range(QUERIES)
        ]
        async with running_sandbox(options) as sandbox:
            manifest = write_manifest(
                tmp_path,
                queries,
                base_url=sandbox.base_url,
                concurrency=25,
                extra={
                    "retry": FAST_RETRY_MANIFEST,
                    "poll": {
                        "initial": "5ms",
                        "max_interval": "20ms",
                        "timeout": "30s",
                    },
                },
            )
            with captured_logs() as logs:
                outcome = await run_manifest(sandbox, manifest)

        state = sandbox.state
        assert outcome.exit_code is ExitCode.OK, [r.error for r in outcome.records]
        assert outcome.workbook is not None
        sheets = sheets_by_openpyxl(outcome.workbook)
        lost = sum(
            len(build_result(body)["rows"]) - (len(sheets[name]) - 1)
            for name, body in queries
        )
        per_query = Counter(
            calculation.calculation_id for calculation in state.calculations.values()
        )
        duplicates = sum(count - 1 for count in per_query.values())
        texts = [*logs.lines, *(text for _, text in written_texts(tmp_path))]
        leaked = [
            secret[:6]
            for secret in secrets_of(sandbox)
            for text in texts
            if secret in text
        ]
        print_figures(state.faults_injected, lost, duplicates, len(leaked))
        print(  # noqa: T201 - the soak's figures, shown with pytest -s
            f"soak: token_requests={state.token_requests} "
            f"refused_tokens={state.rejected_tokens}"
        )

        assert lost == 0
        assert len(per_query) == QUERIES
        assert duplicates == 0
        assert state.cached_answers == 0
        assert leaked == []
        assert sum(state.faults_injected.values()) >= QUERIES // 2


def print_figures(
    faults: dict[str, int], lost: int, duplicates: int, leaks: int
) -> None:
    """Write the soak figures where ``pytest -s`` shows them."""
    kinds = ", ".join(f"{kind}={count}" for kind, count in sorted(faults.items()))
    print(  # noqa: T201 - the soak's figures, shown with pytest -s
        f"\nsoak: queries={QUERIES} faults={sum(faults.values())} ({kinds}) "
        f"rows_lost={lost} duplicate_calculations={duplicates} "
        f"secrets_found={leaks}"
    )
