"""The ``mapp-export`` command: the only code that prints or exits.

Standard output carries only what a command produces (the plan, the report
schema, the final table); logs, the live display and the last line go to
standard error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import tablib
from rich.console import Console

from mapp_export.cli_arguments import build_parser, parse_arguments
from mapp_export.errors import ApiError, CredentialsError, ManifestError
from mapp_export.logs import LogFormat, Redactor, configure_logging, log_always
from mapp_export.manifest import Plan, load_plan
from mapp_export.online_check import check_quota
from mapp_export.outcome import ExitCode, RunOutcome
from mapp_export.plan_view import describe_plan
from mapp_export.progress import ProgressDisplay
from mapp_export.records import QueryRecord
from mapp_export.run_report import (
    EXIT_MEANINGS,
    RunReport,
    default_report_path,
    write_report,
)
from mapp_export.run_report_schema import RUN_REPORT_SCHEMA
from mapp_export.runner import RunOptions, run_plan
from mapp_export.sandbox import (
    FaultOptions,
    SandboxOptions,
    running_sandbox,
    serve_forever,
    startup_lines,
)
from mapp_export.schema import manifest_json_schema
from mapp_export.settings import Credentials, Overrides, load_credentials

logger = logging.getLogger("mapp_export")

NEXT_STEPS = {
    ExitCode.OK: "",
    ExitCode.PARTIAL: "; each failed query's error is in the table and the report",
    ExitCode.REFUSED: "; fix what the error above names and run again",
    ExitCode.NOTHING_EXPORTED: "; see the errors above, then run again",
    ExitCode.INTERRUPTED: "; run again with --resume to export the rest",
    ExitCode.TERMINATED: "; run again with --resume to export the rest",
}

REDACTOR = Redactor()
"""Blanks the client secrets this process has seen in every log line."""


@dataclass(frozen=True)
class Screen:
    """Where output goes: the live display's console, if a terminal shows one."""

    console: Console | None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    parser = build_parser()
    arguments = parse_arguments(parser, argv)
    if arguments.verbose and arguments.quiet:
        parser.error("-v and -q cannot be used together; choose one")
    screen = _configure_output(arguments)

    if arguments.command == "run":
        return _run(arguments, screen)
    if arguments.command == "validate":
        return _validate(arguments)
    if arguments.command == "sandbox":
        return _serve_sandbox(arguments)
    if arguments.command == "schema":
        _say(json.dumps(manifest_json_schema(), indent=2))
        return int(ExitCode.OK)
    if arguments.command == "run-report-schema":
        _say(json.dumps(RUN_REPORT_SCHEMA, indent=2))
        return int(ExitCode.OK)

    parser.print_help(sys.stderr)
    return int(ExitCode.REFUSED)


def _configure_output(arguments: argparse.Namespace) -> Screen:
    """Set up logging on standard error and decide whether to draw the display."""
    log_format: LogFormat = arguments.log_format
    show_display = (
        arguments.command == "run"
        and arguments.progress
        and not arguments.quiet
        and log_format == "text"
        and sys.stderr.isatty()
        and os.environ.get("TERM") != "dumb"
    )
    console = Console(stderr=True) if show_display else None

    if arguments.verbose:
        level = logging.DEBUG
    elif arguments.quiet or show_display:
        level = logging.WARNING
    else:
        level = logging.INFO
    configure_logging(
        level=level, log_format=log_format, redactor=REDACTOR, console=console
    )
    return Screen(console=console)


def _run(arguments: argparse.Namespace, screen: Screen) -> int:
    started_at = datetime.now(UTC)
    try:
        plan = _load(arguments)
    except ManifestError as exc:
        _refuse(exc)
        return int(ExitCode.REFUSED)

    report_path = arguments.report or default_report_path(plan.output)
    try:
        credentials = (
            None
            if arguments.sandbox
            else load_credentials(os.environ, arguments.credentials_file)
        )
    except CredentialsError as exc:
        _refuse(exc)
        report = _refusal_report(plan, started_at, str(exc), sandbox=arguments.sandbox)
        saved = _save_report(report_path, report)
        _finish_line(report, report_path if saved else None)
        return int(ExitCode.REFUSED)

    if credentials is not None:
        REDACTOR.add(credentials.client_secret)
    outcome, api_host = anyio.run(
        partial(
            _run_async,
            use_sandbox=arguments.sandbox,
            options=RunOptions(
                handle_signals=True,
                timezone=plan.timezone,
                force=arguments.force,
                deadline=arguments.deadline,
                resume=arguments.resume,
                keep_running=arguments.keep_running,
            ),
        ),
        plan,
        credentials,
        screen,
    )
    report = RunReport(
        started_at=started_at,
        finished_at=datetime.now(UTC),
        exit_code=outcome.exit_code,
        manifest=plan.manifest_path,
        output=plan.output,
        api_host=api_host,
        sandbox=arguments.sandbox,
        records=outcome.records,
        workbook_written=outcome.workbook is not None,
        message=outcome.message,
        facts=outcome.facts,
    )
    _print_outcome(outcome)
    saved = not outcome.locked_out and _save_report(report_path, report)
    _finish_line(report, report_path if saved else None)
    return int(outcome.exit_code)


def _load(arguments: argparse.Namespace) -> Plan:
    overrides = Overrides.combine(
        os.environ,
        base_url=getattr(arguments, "base_url", None),
        token_url=getattr(arguments, "token_url", None),
        output=getattr(arguments, "output", None),
        run_date=arguments.date,
        only=tuple(arguments.only),
        report=getattr(arguments, "report", None),
    )
    return load_plan(arguments.manifest, overrides)


async def _run_async(
    plan: Plan,
    credentials: Credentials | None,
    screen: Screen,
    *,
    use_sandbox: bool,
    options: RunOptions,
) -> tuple[RunOutcome, str]:
    """Run the plan (against the sandbox if asked); return the outcome and API host."""
    display = (
        ProgressDisplay([query.name for query in plan.queries], screen.console)
        if screen.console is not None
        else None
    )
    listener = display.listener if display is not None else None

    with display if display is not None else nullcontext():
        if not use_sandbox:
            assert credentials is not None
            outcome = await run_plan(plan, credentials, options, listener=listener)
            return outcome, plan.api.api_host

        async with _sandbox_plan(plan) as (sandbox_plan, sandbox_credentials):
            outcome = await run_plan(
                sandbox_plan, sandbox_credentials, options, listener=listener
            )
            return outcome, sandbox_plan.api.api_host


@asynccontextmanager
async def _sandbox_plan(plan: Plan) -> AsyncIterator[tuple[Plan, Credentials]]:
    credentials = Credentials(
        client_id=f"sandbox-{secrets.token_hex(4)}",
        client_secret=secrets.token_urlsafe(24),
    )
    REDACTOR.add(credentials.client_secret)
    options = SandboxOptions(
        client_id=credentials.client_id, client_secret=credentials.client_secret
    )
    async with running_sandbox(options) as sandbox:
        logger.info("sandbox: serving Mapp's API at %s", sandbox.base_url)
        api = replace(
            plan.api,
            base_url=sandbox.base_url,
            token_url=sandbox.token_url,
            scope="mapp.intelligence-api",
            trusted_hosts=(
                *plan.api.trusted_hosts,
                urlsplit(sandbox.base_url).netloc,
                urlsplit(sandbox.token_url).netloc,
            ),
        )
        yield replace(plan, api=api), credentials


def _refusal_report(
    plan: Plan, started_at: datetime, message: str, *, sandbox: bool
) -> RunReport:
    records = [
        QueryRecord(index=query.index, name=query.name, sheet_title=query.sheet_title)
        for query in plan.queries
    ]
    return RunReport(
        started_at=started_at,
        finished_at=datetime.now(UTC),
        exit_code=ExitCode.REFUSED,
        manifest=plan.manifest_path,
        output=plan.output,
        api_host=plan.api.api_host,
        sandbox=sandbox,
        records=records,
        message=message,
    )


def _save_report(path: Path, report: RunReport) -> bool:
    """Write the run report; on failure log why and what to do, and return False."""
    try:
        write_report(path, report)
    except OSError as exc:
        logger.error(  # noqa: TRY400 - the reason is in the line; no traceback
            "the run report could not be written to %s (%s); pass --report with a "
            "writable path",
            path,
            exc.strerror or exc,
        )
        return False
    return True


def _validate(arguments: argparse.Namespace) -> int:
    try:
        plan = _load(arguments)
    except ManifestError as exc:
        _refuse(exc)
        return int(ExitCode.REFUSED)

    lines = describe_plan(plan)
    lines.insert(4, f"report:   {default_report_path(plan.output)}")
    _say("\n".join(lines))
    if not arguments.online:
        return int(ExitCode.OK)

    return _check_online(plan, arguments.credentials_file)


def _check_online(plan: Plan, credentials_file: Path | None) -> int:
    """Fetch a token and the usage counter; say whether the allowance suffices."""
    try:
        credentials = load_credentials(os.environ, credentials_file)
        REDACTOR.add(credentials.client_secret)
        check = anyio.run(check_quota, plan, credentials)
    except (CredentialsError, ApiError) as exc:
        _refuse(exc)
        return int(ExitCode.REFUSED)

    _say(f"online:   token fetched; {check.describe()}")
    return int(ExitCode.OK if check.fits else ExitCode.REFUSED)


def _serve_sandbox(arguments: argparse.Namespace) -> int:
    try:
        faults = FaultOptions.parse(
            arguments.fault,
            seed=arguments.fault_seed,
            endpoints=arguments.fault_endpoints,
        )
    except ValueError as exc:
        _refuse(exc)
        return int(ExitCode.REFUSED)

    options = SandboxOptions(
        port=arguments.port,
        calculation_seconds=arguments.calculation_seconds,
        layout=arguments.layout,
        faults=faults,
        token_lifetime_seconds=arguments.token_lifetime,
    )
    serve_forever(options, on_ready=lambda sandbox: _announce(startup_lines(sandbox)))
    return int(ExitCode.OK)


def _announce(lines: list[str]) -> None:
    _say("\n".join(lines))


def _print_outcome(outcome: RunOutcome) -> None:
    """Print the final table on standard output, and say why if the run stopped."""
    table = tablib.Dataset(
        headers=["query", "status", "rows", "seconds", "sheet", "error"]
    )
    for record in outcome.records:
        rows = record.sheet.rows_written if record.sheet else ""
        seconds = record.duration_seconds if record.duration_seconds is not None else ""
        sheets = ", ".join(record.sheet.titles) if record.sheet else ""
        shown = (sheets or record.sheet_title) if record.succeeded else ""
        if record.left_out and record.carried is not None:
            rows, shown = record.carried.rows, ", ".join(record.carried.titles)
        table.append(
            [
                record.name,
                record.status_text,
                rows,
                seconds,
                shown,
                record.error or "",
            ]
        )

    if outcome.records:
        _say(table.export("cli", tablefmt="simple", floatfmt=".1f"))
    if outcome.workbook is not None:
        _say(f"\nworkbook: {outcome.workbook}")
    if outcome.message:
        log_always(logging.ERROR, "run.error", outcome.message)


def _finish_line(report: RunReport, report_path: Path | None) -> None:
    """Log the run's last line, whatever the log level."""
    code = report.exit_code
    counts = report.as_dict()["counts"]
    seconds = (report.finished_at - report.started_at).total_seconds()
    where = f"; report: {report_path}" if report_path is not None else ""
    carried = counts["carried_over"]
    kept = f"{carried} carried over, " if carried else ""
    message = (
        f"exit code {int(code)}: {EXIT_MEANINGS[code]} ({counts['exported']} of "
        f"{counts['queries']} exported, {counts['failed']} failed, {kept}"
        f"{seconds:.1f} s){where}{NEXT_STEPS[code]}"
    )
    level = {ExitCode.OK: logging.INFO, ExitCode.PARTIAL: logging.WARNING}.get(
        code, logging.ERROR
    )
    log_always(
        level,
        "run.finished",
        message,
        exit_code=int(code),
        exported=counts["exported"],
        failed=counts["failed"],
        queries=counts["queries"],
        seconds=round(seconds, 3),
        report=str(report_path) if report_path is not None else None,
        workbook=str(report.output) if report.workbook_written else None,
    )


def _say(text: str) -> None:
    """Write ``text`` and a newline to standard output, the command's product."""
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()


def _refuse(error: Exception) -> None:
    """Log why the command refused to go on, whatever the log level."""
    log_always(logging.ERROR, "run.refused", f"error: {error}")
