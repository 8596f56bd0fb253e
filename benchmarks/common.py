"""What every benchmark shares: the machine, a sandbox process, queries, manifests.

The sandbox runs in a process of its own, so it never competes with the
exporter for the interpreter lock, and serves large results from files it
generated once (see :mod:`mapp_export.sandbox.bigresult`).
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import queue
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from mapp_export.sandbox import Sandbox, SandboxOptions, serve_forever
from mapp_export.sandbox.bigresult import result_file
from mapp_export.sandbox.results import ResultPlan
from mapp_export.settings import Credentials

BENCHMARKS = Path(__file__).resolve().parent
CACHE = BENCHMARKS / ".cache"
"""Generated results and scratch workbooks (ignored by git; delete to reclaim)."""

BIG_METRICS = (
    "visits",
    "pages_pageImpressions",
    "visits_bounceRate",
    "visit_duration_avg",
    "order_value",
    "pages_exitRate",
)
"""The six metrics of a big result: counts, rates, durations and money."""

LIBRARIES = ("aiohttp", "anyio", "ijson", "XlsxWriter", "openpyxl")


@dataclass(frozen=True)
class SandboxProcess:
    """A sandbox serving from another process: where it is and how to log in."""

    base_url: str
    token_url: str
    credentials: Credentials


def median(values: list[float]) -> float:
    """Return the median of ``values``."""
    return statistics.median(values)


def machine_facts() -> dict[str, str]:
    """Describe the machine and the software the figures were measured with."""
    facts = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": _cpu_model(),
        "nproc": str(os.cpu_count()),
        "memory": _run(["free", "-h"]).splitlines()[1].split()[1],
        "python": platform.python_version(),
    }
    for library in LIBRARIES:
        facts[library] = metadata.version(library)

    facts["ijson backend"] = _ijson_backend()
    return facts


def _cpu_model() -> str:
    """Read the CPU's model name from /proc/cpuinfo."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()

    return platform.processor() or "unknown"


def _ijson_backend() -> str:
    """Name the ijson backend mapp-export parses with."""
    import ijson  # noqa: PLC0415  only to name it

    return str(ijson.backend)


def _run(command: list[str]) -> str:
    """Run a read-only system command and answer its output."""
    return subprocess.run(command, capture_output=True, text=True, check=False).stdout  # noqa: S603


def big_query(rows: int, *, salt: int = 0) -> dict[str, Any]:
    """Return a LIST query of exactly ``rows`` data rows plus a total, 8 columns.

    Columns: ``pages`` (ranked), ``session_id`` (20-digit ids kept as text) and
    six metrics. The sandbox gives some queries fewer pages than asked for; the
    filter value is varied from ``salt`` on until the data holds enough.
    """
    for attempt in range(salt, salt + 1000):
        body = _page_query(rows, f"bench-{attempt}")
        if ResultPlan(body["queryObject"]).layout.data_rows == rows:
            return body

    raise RuntimeError(f"no query of {rows} rows found")


def _page_query(rows: int, marker: str) -> dict[str, Any]:
    """Build a LIST query of pages; the filter ``marker`` only changes the seed."""
    return {
        "resultType": "DATA_ONLY",
        "queryObject": {
            "columns": [
                {"name": "pages", "lowerLimit": 1, "upperLimit": rows},
                {"name": "session_id"},
                *({"name": metric} for metric in BIG_METRICS),
            ],
            "variant": "LIST",
            "predefinedContainer": {
                "filters": [
                    {
                        "name": "time_dynamic",
                        "filterPredicate": "LIKE",
                        "value1": "last_7_days",
                    },
                    {"name": "pages", "filterPredicate": "UNEQUAL", "value1": marker},
                ]
            },
        },
    }


def prepare_results(bodies: list[dict[str, Any]]) -> list[Path]:
    """Generate the result files of ``bodies`` now, outside any timing."""
    return [result_file(CACHE / "results", body) for body in bodies]


def write_manifest(
    folder: Path,
    sandbox: SandboxProcess,
    bodies: list[dict[str, Any]],
    *,
    concurrency: int = 8,
    poll: dict[str, str] | None = None,
) -> Path:
    """Write a manifest of ``bodies`` against the sandbox; answer its path."""
    manifest: dict[str, Any] = {
        "api": {"base_url": sandbox.base_url, "token_url": sandbox.token_url},
        "output": "bench.xlsx",
        "concurrency": concurrency,
        "queries": [
            {"name": f"Query {n}", "query": body} for n, body in enumerate(bodies)
        ],
    }
    if poll is not None:
        manifest["poll"] = poll

    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump(manifest), encoding="utf-8")
    return path


@contextmanager
def sandbox_process(
    calculation_seconds: float = 0.0,
) -> Iterator[SandboxProcess]:
    """Serve a sandbox from another process with a result folder, until exit."""
    options = SandboxOptions(
        calculation_seconds=calculation_seconds,
        result_folder=CACHE / "results",
        token_lifetime_seconds=86_400,
    )
    context = multiprocessing.get_context("spawn")
    ready: Any = context.Queue()
    process = context.Process(target=_serve, args=(options, ready), daemon=True)
    process.start()
    try:
        base_url, token_url = _wait_until_ready(process, ready)
        yield SandboxProcess(
            base_url,
            token_url,
            Credentials(options.client_id, options.client_secret),
        )
    finally:
        process.terminate()
        process.join(10)


def _wait_until_ready(process: Any, ready: Any) -> tuple[str, str]:
    """Wait for the sandbox process to say where it listens; fail if it dies."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            base_url, token_url = ready.get(timeout=0.2)
        except queue.Empty:
            if not process.is_alive():
                raise RuntimeError(
                    "the sandbox process ended before it listened"
                ) from None
            continue

        return str(base_url), str(token_url)

    raise RuntimeError("the sandbox process did not listen within 60 s")


def _serve(options: SandboxOptions, ready: Any) -> None:
    """Run in the sandbox's process: serve and report where."""

    def announce(sandbox: Sandbox) -> None:
        ready.put((sandbox.base_url, sandbox.token_url))

    serve_forever(options, on_ready=announce)


@contextmanager
def scratch_folder(name: str) -> Iterator[Path]:
    """Make a fresh folder under the cache for one measurement; remove it after."""
    folder = CACHE / "scratch" / f"{name}-{os.getpid()}-{time.monotonic_ns()}"
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def timed(action: Callable[[], object]) -> float:
    """Run ``action`` and answer how many seconds it took."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def python_command() -> list[str]:
    """Return the interpreter running the benchmarks, to start the exporter."""
    return [sys.executable]
