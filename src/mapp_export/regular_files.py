"""Opening a file the user named without hanging on a pipe or a device.

Opening a FIFO for reading blocks until something writes to it, before any
check on what the path is could run. Opening without blocking, then asking
what was opened, lets a manifest, query or credentials path that names a pipe
be refused at once.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO


def open_without_blocking(path: Path) -> BinaryIO:
    """Open ``path`` for binary reading without waiting for a pipe's writer.

    The caller checks with ``os.fstat`` what was opened before reading.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    return os.fdopen(descriptor, "rb")


def is_regular(stream: BinaryIO) -> bool:
    """Whether an open stream reads a regular file."""
    return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
