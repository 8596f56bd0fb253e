"""The ``mapp-export`` command: the only code that prints or exits."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import tablib

from mapp_export import __version__
from mapp_export.errors import CredentialsError, ManifestError
from mapp_export.manifest import Plan, load_plan
from mapp_export.outcome import ExitCode, RunOutcome
from mapp_export.runner import RunOptions, run_plan
from mapp_export.settings import Credentials, Overrides, load_credentials

logger = logging.getLogger("mapp_export")

EXAMPLES = """\
examples:
  mapp-export run config/example.yaml --sandbox      try it with the bundled sandbox
  mapp-export validate config/example.yaml           check a manifest, no network
  MAPP_CLIENT_ID=... MAPP_CLIENT_SECRET=... mapp-export run nightly.yaml
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    parser = _parser()
    arguments = parser.parse_args(argv)
    _configure_logging(arguments.verbose, arguments.quiet)

    if arguments.command == "run":
        return _run(arguments)
    if arguments.command == "validate":
        return _validate(arguments)
    if arguments.command == "sandbox":
        return _serve_sandbox(arguments)

    parser.print_help(sys.stderr)
    return int(ExitCode.REFUSED)


def entry_point() -> None:
    """The console script: exit with :func:`main`'s code."""
    sys.exit(main())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mapp-export",
        description="Run many Mapp Intelligence analysis queries into one Excel workbook.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also log every poll"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="log only warnings and errors"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run a manifest and write the workbook",
        epilog="example:\n  mapp-export run config/example.yaml --sandbox",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("manifest", type=Path, help="the YAML manifest")
    run.add_argument("--output", type=Path, help="the workbook path (relative to here)")
    run.add_argument("--base-url", help="the API base URL (overrides MAPP_BASE_URL)")
    run.add_argument("--token-url", help="the token URL (overrides MAPP_TOKEN_URL)")
    run.add_argument(
        "--credentials-file",
        type=Path,
        help="an env-style file with MAPP_CLIENT_ID and MAPP_CLIENT_SECRET",
    )
    run.add_argument(
        "--sandbox",
        action="store_true",
        help="run against the bundled sandbox on a free loopback port (no account needed)",
    )

    validate = commands.add_parser(
        "validate",
        help="check a manifest and print the plan; sends nothing",
        epilog="example:\n  mapp-export validate config/example.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("manifest", type=Path, help="the YAML manifest")

    sandbox = commands.add_parser(
        "sandbox",
        help="serve the bundled sandbox of Mapp's API on loopback",
        epilog="example:\n  mapp-export sandbox --port 8080",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sandbox.add_argument(
        "--port", type=int, default=0, help="port to listen on (default: free)"
    )
    sandbox.add_argument(
        "--calculation-seconds",
        type=float,
        default=2.0,
        help="how long each calculation takes",
    )
    sandbox.add_argument(
        "--layout",
        choices=("legacy", "current"),
        default="legacy",
        help="legacy (/analytics/api) or current (/api/analytics, token on a second port)",
    )
    return parser


def _configure_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def _run(arguments: argparse.Namespace) -> int:
    try:
        plan = _load(arguments)
        credentials = (
            None
            if arguments.sandbox
            else load_credentials(os.environ, arguments.credentials_file)
        )
    except (ManifestError, CredentialsError) as exc:
        _error(str(exc))
        return int(ExitCode.REFUSED)

    outcome = anyio.run(_run_async, plan, credentials, arguments.sandbox)
    _print_outcome(outcome)
    return int(outcome.exit_code)


def _load(arguments: argparse.Namespace) -> Plan:
    overrides = Overrides.combine(
        os.environ,
        base_url=getattr(arguments, "base_url", None),
        token_url=getattr(arguments, "token_url", None),
        output=getattr(arguments, "output", None),
    )
    return load_plan(arguments.manifest, overrides)


async def _run_async(
    plan: Plan, credentials: Credentials | None, use_sandbox: bool
) -> RunOutcome:
    options = RunOptions(handle_signals=True)
    if not use_sandbox:
        assert credentials is not None
        return await run_plan(plan, credentials, options)

    async with _sandbox_plan(plan) as (sandbox_plan, sandbox_credentials):
        return await run_plan(sandbox_plan, sandbox_credentials, options)


@asynccontextmanager
async def _sandbox_plan(plan: Plan) -> AsyncIterator[tuple[Plan, Credentials]]:
    from dataclasses import replace

    from mapp_export.sandbox import SandboxOptions, running_sandbox

    credentials = Credentials(
        client_id=f"sandbox-{secrets.token_hex(4)}",
        client_secret=secrets.token_urlsafe(24),
    )
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
                _netloc(sandbox.base_url),
                _netloc(sandbox.token_url),
            ),
        )
        yield replace(plan, api=api), credentials


def _netloc(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc


def _validate(arguments: argparse.Namespace) -> int:
    try:
        plan = _load(arguments)
    except ManifestError as exc:
        _error(str(exc))
        return int(ExitCode.REFUSED)

    table = tablib.Dataset(headers=["#", "query", "sheet", "timeout", "line"])
    for query in plan.queries:
        table.append(
            [
                query.index + 1,
                query.name,
                query.sheet_title,
                f"{query.poll.timeout:g}s",
                query.line or "",
            ]
        )

    print(f"manifest: {plan.manifest_path}")
    print(f"api:      {plan.api.base_url} (token: {plan.api.token_url})")
    print(f"output:   {plan.output}")
    print(f"calculations: {len(plan.queries)}, at most {plan.concurrency} at once\n")
    print(table.export("cli", tablefmt="simple"))
    return int(ExitCode.OK)


def _serve_sandbox(arguments: argparse.Namespace) -> int:
    from mapp_export.sandbox import SandboxOptions, serve_forever, startup_lines

    options = SandboxOptions(
        port=arguments.port,
        calculation_seconds=arguments.calculation_seconds,
        layout=arguments.layout,
    )
    serve_forever(options, on_ready=lambda sandbox: _announce(startup_lines(sandbox)))
    return int(ExitCode.OK)


def _announce(lines: list[str]) -> None:
    print("\n".join(lines), flush=True)


def _print_outcome(outcome: RunOutcome) -> None:
    table = tablib.Dataset(
        headers=["query", "status", "rows", "seconds", "sheet", "error"]
    )
    for record in outcome.records:
        rows = record.sheet.rows_written if record.sheet else ""
        seconds = (
            f"{record.duration_seconds:.1f}"
            if record.duration_seconds is not None
            else ""
        )
        table.append(
            [
                record.name,
                record.state.value,
                rows,
                seconds,
                record.sheet_title if record.succeeded else "",
                record.error or "",
            ]
        )

    if outcome.records:
        print(table.export("cli", tablefmt="simple"))
    if outcome.workbook is not None:
        print(f"\nworkbook: {outcome.workbook}")
    if outcome.message:
        _error(outcome.message)
    print(
        f"exit code {int(outcome.exit_code)}: {_meaning(outcome.exit_code)}",
        file=sys.stderr,
    )


def _meaning(code: ExitCode) -> str:
    return {
        ExitCode.OK: "every query exported",
        ExitCode.PARTIAL: "some queries failed; the workbook holds the others",
        ExitCode.REFUSED: "refused before submitting anything",
        ExitCode.NOTHING_EXPORTED: "nothing exported; the output was left untouched",
        ExitCode.INTERRUPTED: "stopped by Ctrl-C after writing what had finished",
        ExitCode.TERMINATED: "stopped by SIGTERM after writing what had finished",
    }[code]


def _error(message: str) -> None:
    print(f"mapp-export: error: {message}", file=sys.stderr)
