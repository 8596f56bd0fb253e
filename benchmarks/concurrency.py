"""How long 20 queries of 2-second calculations take at concurrency 20.

Run: ``python benchmarks/concurrency.py [--queries 20] [--seconds 2] [--repeat 3]``

Prints the wall time of each run against the sandbox on loopback and its ratio
to one calculation's time: near 1 means the queries really ran side by side.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anyio
import yaml

from mapp_export.manifest import load_plan
from mapp_export.runner import RunOptions, run_plan
from mapp_export.sandbox import SandboxOptions, running_sandbox
from mapp_export.settings import Credentials


def manifest_for(folder: Path, base_url: str, queries: int) -> Path:
    """Write a manifest of distinct small queries with the default poll settings."""
    entries = [
        {
            "name": f"Query {n}",
            "query": {
                "columns": [
                    {"name": "pages", "lowerLimit": 1, "upperLimit": 10 + n},
                    {"name": "pages_pageImpressions"},
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
            },
        }
        for n in range(queries)
    ]
    manifest = {
        "api": {"base_url": base_url},
        "output": "bench.xlsx",
        "concurrency": queries,
        "queries": entries,
    }
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump(manifest), encoding="utf-8")
    return path


async def one_run(queries: int, seconds: float) -> float:
    """Run once against a fresh sandbox and return the wall time."""
    options = SandboxOptions(calculation_seconds=seconds)
    async with running_sandbox(options) as sandbox:
        with tempfile.TemporaryDirectory() as folder:
            plan = load_plan(manifest_for(Path(folder), sandbox.base_url, queries))
            credentials = Credentials(options.client_id, options.client_secret)

            started = time.perf_counter()
            outcome = await run_plan(plan, credentials, RunOptions())
            wall = time.perf_counter() - started

    if outcome.exit_code != 0:
        message = f"the run failed with exit code {outcome.exit_code}"
        raise SystemExit(message)
    return wall


def main() -> None:
    """Measure and print the wall times and their median ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()

    walls = [
        anyio.run(one_run, arguments.queries, arguments.seconds)
        for _ in range(arguments.repeat)
    ]
    for wall in walls:
        print(f"wall {wall:.2f} s  ratio {wall / arguments.seconds:.2f}")
    median = statistics.median(walls)
    print(
        f"{arguments.queries} queries x {arguments.seconds:g} s at concurrency "
        f"{arguments.queries}: median wall {median:.2f} s, "
        f"ratio {median / arguments.seconds:.2f} (serial would be "
        f"{arguments.queries * arguments.seconds:g} s)"
    )


if __name__ == "__main__":
    main()
