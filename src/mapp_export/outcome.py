"""What a run ended with: its exit code and every query's record."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from mapp_export.records import QueryRecord, RunFacts
from mapp_export.secret_values import redact


class ExitCode(enum.IntEnum):
    """The command's exit status; each value has one meaning for schedulers."""

    OK = 0
    """Every query was exported."""

    PARTIAL = 1
    """Some queries failed; the workbook holds the others."""

    REFUSED = 2
    """Refused before any calculation was submitted."""

    NOTHING_EXPORTED = 3
    """Nothing could be exported; the output path was left untouched."""

    INTERRUPTED = 130
    """Stopped by SIGINT (Ctrl-C) after writing what had finished."""

    TERMINATED = 143
    """Stopped by SIGTERM after writing what had finished."""


@dataclass
class RunOutcome:
    """The end of a run: the exit code, the records, and where the workbook went.

    ``facts`` are the run-wide facts (usage before and after, ...) when the run
    got far enough to gather them.
    """

    exit_code: ExitCode
    records: list[QueryRecord] = field(default_factory=list)
    workbook: Path | None = None
    message: str | None = None
    facts: RunFacts | None = None
    locked_out: bool = False
    """Refused as another run holds the output, whose report is not ours to replace."""

    def __post_init__(self) -> None:
        """Blank any secret a server echoed into the message."""
        if self.message is not None:
            self.message = redact(self.message)
