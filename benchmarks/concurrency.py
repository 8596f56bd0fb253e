"""Many short calculations side by side: wall time against one calculation's.

A hundred distinct small queries of 5-second calculations at concurrency 100
with the default poll settings, against a sandbox in another process. A ratio
near 1 means the queries really ran side by side; what is left above 1 is the
poll that notices each finished calculation (about 0.8 s after 5 s, more with
jitter) and writing the sheets.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio

from common import SandboxProcess, scratch_folder, write_manifest
from mapp_export.manifest import load_plan
from mapp_export.runner import RunOptions, run_plan


def small_query(number: int) -> dict[str, Any]:
    """Build a small LIST query of pages, distinct for each ``number``."""
    return {
        "columns": [
            {"name": "pages", "lowerLimit": 1, "upperLimit": 10 + number},
            {"name": "pages_pageImpressions"},
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


async def timed_run(manifest: Path, sandbox: SandboxProcess) -> float:
    """Run a manifest in this process and answer its wall time; fail loudly."""
    plan = load_plan(manifest)
    started = time.perf_counter()
    outcome = await run_plan(plan, sandbox.credentials, RunOptions())
    wall = time.perf_counter() - started
    if outcome.exit_code != 0:
        failures = [record.error for record in outcome.records if record.error]
        raise RuntimeError(f"the run failed ({outcome.exit_code}): {failures[:3]}")

    return wall


def many_queries(sandbox: SandboxProcess, queries: int) -> float:
    """Run ``queries`` small queries at concurrency ``queries``; answer the wall."""
    with scratch_folder("concurrency") as folder:
        bodies = [small_query(number) for number in range(queries)]
        manifest = write_manifest(folder, sandbox, bodies, concurrency=queries)
        return anyio.run(timed_run, manifest, sandbox)
