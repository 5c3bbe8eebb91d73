"""Reading a named file whose contents nobody vouches for: regular files only, size-capped.

``/dev/zero`` would be read until memory runs out, a FIFO would block forever and a folder
cannot be read at all; each is refused with one line naming the file, before any read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from nssr_cli.errors import InputError


def read_regular(path: Path, limit: int, *, what: str = "file") -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes.

    Raises :class:`InputError` (naming ``path``) for a missing file, a folder, a device, FIFO
    or socket, a file over ``limit`` bytes, or a read error. The file is opened non-blocking and
    checked again through its descriptor, so a FIFO swapped in after the first check cannot
    block the read.
    """
    try:
        kind = _kind(os.stat(path).st_mode)
        if kind is None:
            fd = os.open(path, os.O_RDONLY | _NONBLOCK)
            with os.fdopen(fd, "rb") as f:
                st = os.fstat(f.fileno())
                kind = _kind(st.st_mode)
                if kind is None and st.st_size <= limit:
                    data = f.read(limit + 1)
                    if len(data) <= limit:
                        return data
    except FileNotFoundError:
        raise InputError(f"{path}: no such {what}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read this {what} ({exc.strerror or exc})") from None
    if kind is not None:
        raise InputError(f"{path}: is {kind}, not a {what}")
    raise InputError(f"{path}: larger than a {what} can be ({limit:,} bytes at most)")


_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # not on Windows, which has no FIFOs at paths either


def _kind(mode: int) -> str | None:
    """``None`` for a regular file, else what the path is (for the message)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"
