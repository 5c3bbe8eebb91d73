"""Publishing output files safely (RELIABILITY.md, "How outputs are written").

Every file nssr writes goes through a temp file in the destination folder, flushed, fsync'd and
``os.replace``'d onto its name: a failed or interrupted write never leaves a partial file and
never damages an existing one, and a symlink at the destination is replaced, not followed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from nssr_cli.errors import OutputError


class DiskFullError(OutputError):
    """The disk (or quota) is full: the batch stops, because every later write would fail too."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write bytes via a temp file in the same folder, fsync, then ``os.replace``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give what open() would
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once, at import (before any worker thread): reading it means setting it, and a file
# another thread created in between would get no umask at all.
_UMASK = _read_umask()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in its folder, fsync and ``os.replace``.

    A symlink at ``path`` is replaced, not followed. Raises :class:`OutputError`
    (:class:`DiskFullError` when the disk or quota is full).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(
                f"{path}: the disk is full ({reason}); nothing was written "
                "there and the batch stops. Free some space and rerun "
                "with --skip-existing"
            ) from None
        raise OutputError(f"{path}: cannot write ({reason})") from None


def probe_writable(folder: Path) -> str | None:
    """``None`` if a file can be made in ``folder`` (or its nearest existing parent), else why."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            return "no such folder"
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a folder"
    try:
        import tempfile

        fd, tmp = tempfile.mkstemp(dir=probe, prefix=".nssr-probe-")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None
