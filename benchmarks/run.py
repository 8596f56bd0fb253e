"""Run every benchmark of mapp-export and print the figures as Markdown.

Run: ``python benchmarks/run.py [--quick] [--huge] [--repeat N] [--profile]``

``--quick`` measures 200,000 rows instead of 1,000,000 and skips the longest
parts (1.2 million rows, the 20 s and 60 s poll runs); ``--huge`` adds the
five-million-row export (it checks free disk first). Results are generated once
into ``benchmarks/.cache/results`` and kept for the next run. Every part talks
only to sandboxes it starts on loopback. The figures are also saved as JSON in
``benchmarks/.cache/last-run.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

import polling
from common import (
    CACHE,
    big_query,
    machine_facts,
    median,
    prepare_results,
    sandbox_process,
    scratch_folder,
)
from concurrency import many_queries, small_query
from memory import ExportRun, export_in_subprocess, free_disk
from throughput import (
    bare_openpyxl,
    bare_xlsxwriter,
    end_to_end,
    load_rows,
    profile_writer,
    raw_download,
)

MB = 1024 * 1024
HUGE_ROWS = 5_000_000
HUGE_DISK_NEEDED = 6 * 1024 * MB
"""Result files, spool, sheet files and workbook of 5 million rows, with room."""


@dataclass
class Report:
    """Figures gathered so far, as table rows and as JSON."""

    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def add(self, what: str, figure: str, target: str, verdict: str) -> None:
        """Add one line of the table of figures, and print it at once."""
        self.rows.append((what, figure, target, verdict))
        print(f"| {what} | {figure} | {target} | {verdict} |", flush=True)


def verdict(good: bool) -> str:  # noqa: FBT001  a plain yes or no
    """Say whether a target was met."""
    return "met" if good else "MISSED"


def main() -> None:
    """Measure everything asked for on the command line and print the figures."""
    arguments = _arguments()
    report = Report()
    report.figures["machine"] = machine_facts()
    for key, value in report.figures["machine"].items():
        print(f"- {key}: {value}")

    rows = 200_000 if arguments.quick else 1_000_000
    parts: list[Callable[[], None]] = [
        lambda: _polling(report, quick=arguments.quick),
        lambda: _concurrency(report, arguments.repeat),
        lambda: _throughput(report, rows, arguments.repeat),
        lambda: _memory(report, rows),
        lambda: _night_mix(report, arguments.repeat, quick=arguments.quick),
    ]
    if not arguments.quick:
        parts.append(lambda: _continuation(report))
    if arguments.huge:
        parts.append(lambda: _huge(report))
    if arguments.profile:
        parts.append(lambda: _profile(rows))

    print("\n| measurement | figure | target | verdict |\n| --- | --- | --- | --- |")
    for part in parts:
        part()

    (CACHE / "last-run.json").write_text(json.dumps(report.figures, indent=2))


def _arguments() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller and shorter")
    parser.add_argument("--huge", action="store_true", help="add 5,000,000 rows")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure")
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of the writer"
    )
    return parser.parse_args()


def _polling(report: Report, *, quick: bool) -> None:
    """Measure polls and lag: computed for each length, confirmed on sandboxes."""
    computed = [polling.computed(seconds) for seconds in polling.CALCULATIONS]
    observed_lengths = polling.CALCULATIONS[:3] if quick else polling.CALCULATIONS
    observed = anyio.run(polling.observe, observed_lengths)
    seen = {item.seconds: item for item in observed}
    report.figures["polling"] = {
        "computed": [vars(item) for item in computed],
        "observed": [vars(item) for item in observed],
    }
    for item in computed:
        confirmed = seen.get(item.seconds)
        sandbox = (
            f"; sandbox: {confirmed.polls} polls, lag {confirmed.lag:.2f} s"
            if confirmed
            else ""
        )
        good = item.lag_max <= item.lag_limit and (
            item.seconds > 20 or item.polls_max <= 18
        )
        report.add(
            f"polls and lag, {item.seconds:g} s calculation",
            f"polls {item.polls_median:g} (max {item.polls_max}); lag median "
            f"{item.lag_median:.2f} s, p95 {item.lag_p95:.2f} s, max "
            f"{item.lag_max:.2f} s{sandbox}",
            f"≤ 18 polls up to 20 s; lag ≤ {item.lag_limit:.2f} s",
            verdict(good),
        )


def _concurrency(report: Report, repeat: int) -> None:
    """Measure many calculations side by side against one calculation's time."""
    cases = (
        ("concurrency-20", 20, 2.0, "20 queries x 2 s, concurrency 20: wall", 4.0),
        ("concurrency", 100, 5.0, "100 queries x 5 s, concurrency 100: wall", 6.75),
    )
    for key, queries, seconds, label, limit in cases:
        walls = []
        for _ in range(repeat):
            with sandbox_process(calculation_seconds=seconds) as sandbox:
                walls.append(many_queries(sandbox, queries))

        ratio = median(walls) / seconds
        report.figures[key] = {"walls": walls, "ratio": ratio}
        report.add(
            f"{label} ÷ {seconds:g} s",
            f"{ratio:.2f} (walls {_list(walls)} s)",
            f"< {limit:g} s wall" if queries == 20 else "≤ 1.35",
            verdict(median(walls) < limit),
        )


def _throughput(report: Report, rows: int, repeat: int) -> None:
    """End to end against the faster bare writer, and the sandbox's raw speed."""
    body = big_query(rows)
    (result,) = prepare_results([body])
    downloads: list[float] = []
    exports: list[float] = []
    xlsx: list[float] = []
    openpyxl_walls: list[float] = []
    with sandbox_process() as sandbox:
        for _ in range(repeat):
            downloads.append(raw_download(sandbox, body)[0])
            exports.append(end_to_end(sandbox, body))

    loaded = load_rows(result)
    with scratch_folder("bare") as folder:
        for run in range(repeat):
            xlsx.append(bare_xlsxwriter(loaded, folder / f"x{run}.xlsx"))
            if run == 0 or median(openpyxl_walls) < 1.2 * median(xlsx):
                openpyxl_walls.append(bare_openpyxl(loaded, folder / f"o{run}.xlsx"))
    del loaded

    size = result.stat().st_size
    bare = min(median(xlsx), median(openpyxl_walls))
    ratio = bare / median(exports)
    report.figures["throughput"] = {
        "rows": rows,
        "json_bytes": size,
        "raw_download": downloads,
        "end_to_end": exports,
        "xlsxwriter": xlsx,
        "openpyxl": openpyxl_walls,
        "ratio": ratio,
    }
    report.add(
        f"sandbox raw download, {rows:,} rows ({size / MB:.0f} MB JSON, gzip)",
        f"{median(downloads):.2f} s = {rows / median(downloads):,.0f} rows/s",
        "far above the exporter",
        verdict(median(downloads) < 0.2 * median(exports)),
    )
    report.add(
        f"{rows:,} rows x 8 end to end vs bare writer",
        f"exporter {median(exports):.1f} s ({rows / median(exports):,.0f} rows/s); "
        f"XlsxWriter {median(xlsx):.1f} s; openpyxl {median(openpyxl_walls):.1f} s; "
        f"ratio {ratio:.2f}",
        "≥ 0.9",
        verdict(ratio >= 0.9),
    )


def _memory(report: Report, rows: int) -> None:
    """Peak memory of the exporter subprocess on the big result."""
    body = big_query(rows)
    prepare_results([body])
    runs = []
    for _ in range(2):
        with sandbox_process() as sandbox:
            runs.append(export_in_subprocess(sandbox, [body]))

    peak = max(run.peak_rss for run in runs)
    report.figures["memory"] = [vars(run) for run in runs]
    report.add(
        f"peak RSS of `mapp-export run`, {rows:,} rows",
        f"{peak / MB:.0f} MB (wall {_list([run.wall for run in runs])} s)",
        "≤ 200 MB",
        verdict(peak <= 200 * MB and all(run.exit_code == 0 for run in runs)),
    )


def _night_mix(report: Report, repeat: int, *, quick: bool) -> None:
    """One big result and fifty small ones, 2-second calculations each."""
    big_rows = 100_000 if quick else 500_000
    calculation = 2.0
    body = big_query(big_rows, salt=1)
    (result,) = prepare_results([body])
    bodies = [body, *(small_query(number) for number in range(50))]
    walls, bare = [], []
    for run in range(repeat):
        with sandbox_process(calculation_seconds=calculation) as sandbox:
            walls.append(export_in_subprocess(sandbox, bodies, concurrency=51).wall)
        loaded = load_rows(result)
        with scratch_folder("night") as folder:
            bare.append(bare_xlsxwriter(loaded, folder / f"bare{run}.xlsx"))
        del loaded

    bound = max(median(bare), calculation)
    ratio = median(walls) / bound
    own_ratio = median(walls) / (median(bare) + calculation)
    report.figures["night_mix"] = {
        "big_rows": big_rows,
        "walls": walls,
        "bare": bare,
        "ratio": ratio,
        "ratio_with_its_calculation": own_ratio,
    }
    report.add(
        f"night mix: {big_rows:,} rows + 50 small, 2 s calculations",
        f"wall {median(walls):.1f} s; bare write {median(bare):.1f} s; "
        f"ratio {ratio:.2f} (÷ its calculation + bare write: {own_ratio:.2f})",
        "≤ 1.15",
        verdict(ratio <= 1.15),
    )


def _continuation(report: Report) -> None:
    """1.2 million rows: a continuation sheet, in flat memory."""
    body = big_query(1_200_000, salt=2)
    prepare_results([body])
    with sandbox_process() as sandbox:
        run = export_in_subprocess(sandbox, [body])

    report.figures["continuation"] = vars(run)
    good = run.peak_rss <= 200 * MB and len(run.sheets) == 3 and run.exit_code == 0
    report.add(
        "1,200,000 rows: continuation sheet",
        f"sheets {', '.join(run.sheets)}; peak RSS {run.peak_rss / MB:.0f} MB; "
        f"wall {run.wall:.1f} s",
        "≤ 200 MB",
        verdict(good),
    )


def _huge(report: Report) -> None:
    """Five million rows: time, memory, disk; only with room on the disk."""
    free = free_disk(CACHE)
    if free < HUGE_DISK_NEEDED:
        report.add(
            "5,000,000 rows",
            f"skipped: {free / MB:,.0f} MB free, {HUGE_DISK_NEEDED / MB:,.0f} needed",
            "reported",
            "skipped",
        )
        return

    body = big_query(HUGE_ROWS, salt=3)
    (result,) = prepare_results([body])
    with sandbox_process() as sandbox:
        run = export_in_subprocess(sandbox, [body])

    report.figures["huge"] = {**vars(run), "json_bytes": result.stat().st_size}
    report.add(
        "5,000,000 rows",
        _huge_figure(run, result.stat().st_size),
        "reported",
        "reported" if run.exit_code == 0 else f"FAILED ({run.exit_code})",
    )


def _huge_figure(run: ExportRun, json_bytes: int) -> str:
    """Describe the five-million-row run."""
    return (
        f"wall {run.wall:.0f} s ({HUGE_ROWS / run.wall:,.0f} rows/s); peak RSS "
        f"{run.peak_rss / MB:.0f} MB; peak disk {run.peak_disk / MB:,.0f} MB "
        f"(JSON {json_bytes / MB:,.0f} MB, workbook {run.workbook_size / MB:,.0f} "
        f"MB, {len(run.sheets) - 1} sheets)"
    )


def _profile(rows: int) -> None:
    """Print where the writer's time goes."""
    (result,) = prepare_results([big_query(rows)])
    with scratch_folder("profile") as folder:
        print(profile_writer(result, folder, 25), file=sys.stderr)


def _list(values: list[float]) -> str:
    """Show measured values briefly."""
    return ", ".join(f"{value:.2f}" for value in values)


if __name__ == "__main__":
    main()
