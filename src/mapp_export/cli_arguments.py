"""The command line's grammar: commands, options, their help and examples.

Only parsing lives here; :mod:`mapp_export.cli` acts on what was parsed.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from mapp_export import __version__
from mapp_export.dates import parse_day
from mapp_export.durations import parse_duration
from mapp_export.sandbox.faults import ENDPOINTS, FAULT_KINDS

EXAMPLES = """\
examples:
  mapp-export run config/example.yaml --sandbox      try it with the bundled sandbox
  mapp-export validate config/example.yaml           check a manifest, no network
  MAPP_CLIENT_ID=... MAPP_CLIENT_SECRET=... mapp-export run nightly.yaml
  mapp-export run nightly.yaml --log-format json     JSON log lines for a log shipper

exit codes: 0 all exported, 1 some failed, 2 refused before submitting,
3 nothing exported (workbook untouched), 130/143 stopped by SIGINT/SIGTERM
"""

RUN_EXAMPLES = """\
examples:
  mapp-export run config/example.yaml --sandbox
  mapp-export run nightly.yaml --credentials-file /etc/mapp-export/mapp.env
  mapp-export run nightly.yaml --output /srv/reports/nightly.xlsx -q
  mapp-export run nightly.yaml --log-format json --report /var/lib/mapp/nightly.json

On a terminal a live display shows every query; elsewhere (cron, CI, Airflow)
one plain line is logged per state change and per retry. The run report
<workbook stem>.report.json is written beside the workbook whatever the exit code.
"""


OUTPUT_DEFAULTS = {
    "verbose": False,
    "quiet": False,
    "log_format": "text",
    "progress": True,
}
"""Values of the options accepted before or after the command, when not given.

They are filled in after parsing, not as argparse defaults: the options'
actions are shared by the main parser and each command's parser, and a default
set on one would overwrite, in the command's parser, what was given before
the command.
"""


def parse_arguments(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> argparse.Namespace:
    """Parse ``argv`` and fill in the output options that were not given."""
    arguments = parser.parse_args(argv)
    for name, value in OUTPUT_DEFAULTS.items():
        if not hasattr(arguments, name):
            setattr(arguments, name, value)
    return arguments


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of every ``mapp-export`` command."""
    output_options = _output_options()
    parser = argparse.ArgumentParser(
        prog="mapp-export",
        description="Run many Mapp Intelligence analysis queries into one Excel "
        "workbook.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[output_options],
    )
    parser.set_defaults(command=None)
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run(commands, output_options)
    _add_validate(commands, output_options)
    _add_sandbox(commands, output_options)
    commands.add_parser(
        "schema",
        help="print the JSON Schema of the manifest, for editors",
        epilog="example:\n  mapp-export schema > mapp-export.schema.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands.add_parser(
        "run-report-schema",
        help="print the JSON Schema of the run report",
        epilog="example:\n  mapp-export run-report-schema > run-report.schema.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _output_options() -> argparse.ArgumentParser:
    """Options accepted before or after the command (``-v run x`` or ``run x -v``)."""
    options = argparse.ArgumentParser(add_help=False)
    hidden = argparse.SUPPRESS
    options.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=hidden,
        help="also log every poll (and, on a terminal, every state change)",
    )
    options.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=hidden,
        help="log only warnings, errors and the final line; no live display",
    )
    options.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=hidden,
        help="text (default) or json: one JSON object per line for log shippers",
    )
    options.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        default=hidden,
        help="no live display even on a terminal; log lines instead",
    )
    return options


def _add_run(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    output_options: argparse.ArgumentParser,
) -> None:
    run = commands.add_parser(
        "run",
        help="run a manifest and write the workbook",
        description="Run every query of a manifest and write the workbook.",
        epilog=RUN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[output_options],
    )
    run.add_argument("manifest", type=Path, help="the YAML manifest")
    _add_plan_options(run)
    run.add_argument("--output", type=Path, help="the workbook path (relative to here)")
    run.add_argument("--base-url", help="the API base URL (overrides MAPP_BASE_URL)")
    run.add_argument("--token-url", help="the token URL (overrides MAPP_TOKEN_URL)")
    run.add_argument(
        "--credentials-file",
        type=Path,
        help="an env-style file with MAPP_CLIENT_ID and MAPP_CLIENT_SECRET",
    )
    run.add_argument(
        "--report",
        type=Path,
        help="where to write the run report (default: <workbook stem>.report.json "
        "beside the workbook)",
    )
    run.add_argument(
        "--sandbox",
        action="store_true",
        help="run against the bundled sandbox on a free loopback port "
        "(no account needed)",
    )
    run.add_argument(
        "--deadline",
        type=_positive_duration,
        help="end the whole run after this long (2h, 30m, 90s; above zero; leave "
        "it out for no deadline): running calculations are aborted, what "
        "finished is written, exit code 1",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="submit even when the month's remaining calculations look too few",
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run of the same output from its journal: "
        "reuse fetched results, poll existing calculations, submit the rest",
    )
    run.add_argument(
        "--keep-running",
        action="store_true",
        help="on Ctrl-C or SIGTERM leave running calculations alive, journaled "
        "for a later --resume, instead of aborting them",
    )


def _add_validate(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    output_options: argparse.ArgumentParser,
) -> None:
    validate = commands.add_parser(
        "validate",
        help="check a manifest and print the plan; sends nothing",
        description="Check a manifest and print the plan; sends nothing.",
        epilog="example:\n  mapp-export validate config/example.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[output_options],
    )
    validate.add_argument("manifest", type=Path, help="the YAML manifest")
    _add_plan_options(validate)
    validate.add_argument(
        "--online",
        action="store_true",
        help="also fetch a token and the month's usage, and say whether the "
        "allowance covers the run (calculates nothing)",
    )
    validate.add_argument(
        "--credentials-file",
        type=Path,
        help="with --online: an env-style file with MAPP_CLIENT_ID and "
        "MAPP_CLIENT_SECRET",
    )


def _add_plan_options(command: argparse.ArgumentParser) -> None:
    """Add the options that choose the run date and the queries to run."""
    command.add_argument(
        "--date",
        type=_run_date,
        help="the run date YYYY-MM-DD, for backfills (default: today in the "
        "manifest's time zone); time keywords count the days before it",
    )
    command.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only the query of this name (repeatable); the output path "
        "stays the same",
    )


def _run_date(text: str) -> date:
    try:
        return parse_day(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_sandbox(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    output_options: argparse.ArgumentParser,
) -> None:
    sandbox = commands.add_parser(
        "sandbox",
        help="serve the bundled sandbox of Mapp's API on loopback",
        description="Serve the bundled sandbox of Mapp's API on loopback until Ctrl-C.",
        epilog="example:\n  mapp-export sandbox --port 8080 --calculation-seconds 5",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[output_options],
    )
    sandbox.add_argument(
        "--port",
        type=_port,
        default=0,
        help="port to listen on, 1-65535 (default 0: a free one)",
    )
    sandbox.add_argument(
        "--calculation-seconds",
        type=_seconds,
        default=2.0,
        help="how long each calculation takes, in seconds (0 or more)",
    )
    sandbox.add_argument(
        "--layout",
        choices=("legacy", "current"),
        default="legacy",
        help="legacy (/analytics/api) or current (/api/analytics, token on a "
        "second port)",
    )
    sandbox.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND=SHARE",
        help="answer this share of requests with a fault, e.g. 503=0.1; kinds: "
        + ", ".join(FAULT_KINDS),
    )
    sandbox.add_argument(
        "--fault-seed", type=int, default=0, help="seed of the fault draw"
    )
    sandbox.add_argument(
        "--fault-endpoints",
        metavar="LIST",
        help="comma-separated endpoints that meet faults (default: all): "
        + ", ".join(sorted(ENDPOINTS)),
    )
    sandbox.add_argument(
        "--token-lifetime",
        type=_positive_whole_number,
        default=3600,
        help="seconds each token stays valid (default 3600)",
    )


def _positive_duration(text: str) -> float:
    """Read a duration flag (``2h``, ``30m``, ``90s``) above zero for argparse."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        message = f"{text!r} is no time at all; write a duration above zero such as 2h"
        raise argparse.ArgumentTypeError(message)
    return seconds


_LAST_PORT = 65535


def _port(text: str) -> int:
    """Read a TCP port for argparse: 0 (a free one) to 65535."""
    if not text.strip().isdigit() or int(text) > _LAST_PORT:
        message = f"{text!r} is not a port; write a number from 1 to 65535, or 0"
        raise argparse.ArgumentTypeError(message)
    return int(text)


def _seconds(text: str) -> float:
    """Read a number of seconds, zero or more, for argparse."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        message = f"{text!r} is not a number of seconds; write 0 or more, like 2.5"
        raise argparse.ArgumentTypeError(message)
    return seconds


def _positive_whole_number(text: str) -> int:
    """Read a whole number above zero for argparse."""
    if not text.strip().isdigit() or int(text) == 0:
        message = f"{text!r} is not a whole number above zero; write one like 3600"
        raise argparse.ArgumentTypeError(message)
    return int(text)
