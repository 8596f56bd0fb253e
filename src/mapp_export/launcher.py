"""The ``mapp-export`` console script: a stop during start-up is still a clean stop.

Loading the command line's modules takes a noticeable moment. A scheduler that
sends SIGTERM, or a user who presses Ctrl-C, in that moment must still see
exit code 143 or 130, not a traceback or a death by signal. So the handlers
are set before anything heavy is imported; once a run starts, the runner takes
the signals over and aborts what is running.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

INTERRUPTED = 130
TERMINATED = 143


def main() -> None:
    """Run the command line and exit with its code."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        from mapp_export.cli import main as command_line  # noqa: PLC0415 - after the handlers

        code = command_line()
    except KeyboardInterrupt:
        print("mapp-export: stopped by Ctrl-C", file=sys.stderr)  # noqa: T201
        code = INTERRUPTED
    sys.exit(code)


def _terminate(signal_number: int, frame: FrameType | None) -> None:
    del signal_number, frame
    print("mapp-export: stopped by SIGTERM", file=sys.stderr)  # noqa: T201
    raise SystemExit(TERMINATED)
