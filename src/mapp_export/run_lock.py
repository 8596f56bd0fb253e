"""One run per output at a time: a lock file beside the workbook.

Two runs writing the same workbook would create every calculation twice and
fight over the journal and the spool files. A run therefore holds an exclusive
:func:`fcntl.flock` on ``.<output name>.lock`` beside the output for its whole
lifetime; the file names the holder's process id, host and start time, so the
run that is turned away can say who holds the output. The kernel lets go of
the lock when the holding process ends in any way, ``SIGKILL`` included, so a
lock file left behind by a dead run is taken over without asking. The file is
removed when its run ends normally.

.. note::
   ``flock`` is advisory and, on network file systems, only as good as the
   server's locking: two machines writing one output folder over NFS or SMB
   may not see each other's lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from mapp_export.errors import RunLockedError


def lock_path(output: Path) -> Path:
    """Return the lock file of the run writing ``output``."""
    return output.with_name(f".{output.name}.lock")


class RunLock:
    """The held lock of one run on one output; release it when the run ends."""

    def __init__(self, path: Path, handle: int) -> None:
        """Wrap the open, locked ``handle`` of the lock file at ``path``."""
        self.path = path
        self._handle: int | None = handle

    @classmethod
    def acquire(cls, output: Path) -> RunLock:
        """Lock ``output`` for this process, or refuse because another run has it.

        Raises:
            RunLockedError: another living process holds the lock.
            OSError: the lock file cannot be created in the output folder.
        """
        path = lock_path(output)
        while True:
            handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(handle)
                os.close(handle)
                raise _locked_error(output, path, holder) from None

            if _still_at(path, handle):
                break
            os.close(handle)

        _write_holder(handle)
        return cls(path, handle)

    def release(self) -> None:
        """Remove the lock file and let go of the lock; safe to call twice."""
        if self._handle is None:
            return

        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self._handle)
        self._handle = None

    def __enter__(self) -> Self:
        """Hold the lock inside a ``with`` block."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Release the lock at the end of the ``with`` block."""
        self.release()


def _still_at(path: Path, handle: int) -> bool:
    """Whether ``handle`` is still the file at ``path``.

    A run that ends removes its lock file while holding the lock; a process
    that opened the old file just before may then lock a file no one else can
    find, so it must open the path again.
    """
    try:
        on_disk = path.stat()
    except FileNotFoundError:
        return False

    held = os.fstat(handle)
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)


def _write_holder(handle: int) -> None:
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    os.ftruncate(handle, 0)
    os.pwrite(handle, json.dumps(holder).encode(), 0)
    os.fsync(handle)


def _read_holder(handle: int) -> str | None:
    """Describe the run that holds the lock, from what it wrote into the file."""
    try:
        holder = json.loads(os.pread(handle, 4096, 0))
        return (
            f"process {int(holder['pid'])} on {holder['host']}, "
            f"started {holder['started_at']}"
        )
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _locked_error(output: Path, path: Path, holder: str | None) -> RunLockedError:
    who = f" ({holder})" if holder else ""
    return RunLockedError(
        f"another mapp-export run{who} is writing {output} right now, so this run "
        f"did not start; wait for it to finish or stop it, or choose another "
        f"--output (the lock is {path})",
        holder=holder,
    )
