"""Replacing a file in one step: last night's file or the new one, never half.

The new file is written to a hidden ``.<name>.<random>.tmp`` beside the
target, flushed to disk, given the old file's permissions and renamed onto
the target; the rename is then flushed too, where the system allows it.
"""

from __future__ import annotations

import glob
import os
import re
import secrets
import shutil
import stat
from pathlib import Path

from mapp_export.errors import WorkbookError

_LEFTOVER = re.compile(r"[0-9a-f]{12}\.tmp")
"""The random part and suffix that :func:`create_temp_beside` gives a name."""


def create_temp_beside(target: Path) -> Path:
    """Create the hidden temporary file the new ``target`` is written to first.

    Unlike :func:`tempfile.mkstemp` (owner-only), the file gets the usual
    permissions of a new file, as the saved file should.

    Raises:
        WorkbookError: the folder is missing or not writable, or ``target``
            is a folder.
    """
    folder = target.parent
    if not folder.is_dir():
        raise WorkbookError(
            f"the folder {folder} for the workbook does not exist; create it or "
            "choose another output path"
        )

    if target.is_dir():
        raise WorkbookError(f"the workbook path {target} is a folder; name a file")

    while True:
        path = folder / f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        except OSError as exc:
            raise WorkbookError(
                f"the folder {folder} does not let the workbook be written: {exc}"
            ) from exc

        return path


def parts_folder_of(target: Path) -> Path:
    """Return the hidden folder where the writer keeps ``target``'s parts."""
    return target.parent / f".{target.name}.parts"


def create_parts_folder(target: Path) -> Path:
    """Create the folder for the parts of ``target`` written before it is saved.

    XlsxWriter keeps each sheet's rows, and each part while it builds the
    file, in temporary files; in their own folder, what a killed run leaves
    is found and removed by the next run.
    """
    folder = parts_folder_of(target)
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise WorkbookError(
            f"the folder {target.parent} does not let the workbook be written: {exc}"
        ) from exc
    return folder


def remove_parts_folder(target: Path) -> None:
    """Remove the parts folder of ``target`` and all it holds, if it exists."""
    shutil.rmtree(parts_folder_of(target), ignore_errors=True)


def remove_leftover_temps(target: Path) -> list[Path]:
    """Remove temporary files an earlier, killed run left beside ``target``.

    Only call this while holding the output's lock: a temporary file of a run
    that is still writing would otherwise be taken from under it.
    """
    removed = []
    parts = parts_folder_of(target)
    if parts.is_dir():
        remove_parts_folder(target)
        removed.append(parts)
    for path in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        if _LEFTOVER.fullmatch(path.name.removeprefix(f".{target.name}.")):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def move_into_place(temp_path: Path, target: Path) -> None:
    """Flush ``temp_path`` to disk and rename it onto ``target`` in one step.

    Raises:
        OSError: flushing or renaming failed; ``target`` is as it was.
    """
    _flush_to_disk(temp_path)
    _keep_mode(temp_path, target)
    temp_path.replace(target)


def flush_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable where the system allows it."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return

    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _keep_mode(temp_path: Path, target: Path) -> None:
    """Give the new file the permissions of the file it replaces, if any."""
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        return

    temp_path.chmod(mode)


def _flush_to_disk(path: Path) -> None:
    """Make sure the bytes of ``path`` are on disk, not only in a cache."""
    with path.open("rb") as saved:
        os.fsync(saved.fileno())
