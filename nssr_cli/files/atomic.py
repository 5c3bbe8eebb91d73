"""Publishing output files: the one rule every nssr command follows (RELIABILITY.md).

1. An existing path is refused unless the caller says ``overwrite``; a folder, device, FIFO or
   socket is never replaced, whatever it says. :func:`publish_problem` answers this before any
   work, so a command can refuse up front.
2. The bytes go to a temp file in the destination folder (``.nssr-<host>-<pid>-<random>.tmp``:
   short, so it always fits the file system's name limit, and recognisably ours), fsync'd.
3. Publication: without ``overwrite`` the temp file is hard-linked onto the final name, which
   fails if anything appeared there meanwhile (another program's file is never clobbered); on a
   file system without hard links the name is reserved with ``O_EXCL`` first. With
   ``overwrite`` it is renamed over the old file: a new file (new inode), so other hard links
   of the old file keep the old bytes, a symlink is replaced (never written through), and the
   replaced file's permission bits are kept.

Publishing bytes that a regular file at the path already holds, exactly, is done without
writing anything: a Ray task retried after its worker died just after publishing, or a second
run of the same command, finds its own result there (with ``overwrite`` the file is rewritten).

A temp file is removed on every failure and interruption; one left by a killed nssr carries its
PID, and :func:`remove_stale_temps` removes those whose process is gone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

from nssr_cli.errors import OutputError

_PREFIX = ".nssr-"
_SUFFIX = ".tmp"
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK}


class DiskFullError(OutputError):
    """The disk (or quota) is full: the batch stops, because every later write would fail too."""


class PublishCancelled(OutputError):
    """The caller stopped the publication (an interrupt): the temp file was removed, nothing
    was written at the destination."""


def _host_tag() -> str:
    """Six hex digits naming this machine: a PID only proves a process dead on its own host
    (the folder may be shared over the network). A CRC, not a cryptographic hash: it only
    tells hosts apart, and OpenSSL's load (hashlib) costs every short-lived process ~4 ms."""
    if hasattr(os, "uname"):
        host = os.uname().nodename
    else:  # Windows
        import socket

        host = socket.gethostname()
    return f"{zlib.crc32(host.encode()):08x}"[:6]


_HOST = _host_tag()


def temp_name(pid: int | None = None) -> str:
    """A fresh temp file name for process ``pid`` (default: this one) on this host."""
    return f"{_PREFIX}{_HOST}-{os.getpid() if pid is None else pid}-{os.urandom(4).hex()}{_SUFFIX}"


def outputs_problem(paths: Iterable[Path], *, overwrite: bool) -> str | None:
    """The first reason one of ``paths`` could not be published (:func:`publish_problem`), or
    why its folder (or the nearest that exists) takes no new file (:func:`probe_writable`: a
    file made and removed, for /proc or a read-only mount), or ``None``."""
    paths = list(paths)
    for path in paths:
        problem = publish_problem(path, overwrite=overwrite)
        if problem is not None:
            return problem
    for folder in dict.fromkeys(Path(p).parent for p in paths):
        why = probe_writable(folder)
        if why is not None:
            return f"{folder}: cannot write there ({why})"
    return None


def publish_problem(path: Path, *, overwrite: bool) -> str | None:
    """Why ``path`` cannot be published (a sentence starting with the path), or ``None``.

    Checks what can be known before any work: an existing file without ``overwrite``, anything
    that is not a regular file, a read-only file, a name too long for the file system, and a
    destination folder that does not exist (or is not a folder, or cannot be written).
    """
    path = Path(path)
    folder = existing_folder(path.parent)
    limit = _name_max(folder) if folder is not None and folder.is_dir() else 255
    if len(os.fsencode(path.name)) > limit:
        return (
            f"{path}: the file name is too long for this file system "
            f"({len(os.fsencode(path.name))} bytes, at most {limit}); choose a shorter name"
        )
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        return f"{path}: cannot check the output path ({exc.strerror or exc})"
    if st is not None and not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        what = "a folder" if stat.S_ISDIR(st.st_mode) else "a device, FIFO or socket"
        return f"{path}: exists and is not a regular file ({what}); nssr never replaces one"
    if st is not None and not overwrite:
        return f"{path}: already exists; pass --overwrite to replace it"
    if st is not None and stat.S_ISREG(st.st_mode) and not st.st_mode & 0o222:
        return f"{path}: the existing file is read-only; make it writable or remove it"
    if folder is None:
        return f"{path}: no such folder {path.parent}"
    if not folder.is_dir():
        return f"{path}: {folder} is not a folder"
    if folder == path.parent and not os.access(folder, os.W_OK | os.X_OK):
        return f"{path}: the folder {folder} is not writable"
    return None


def existing_folder(folder: Path) -> Path | None:
    """``folder`` or its nearest existing ancestor (what a ``mkdir -p`` would start from)."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            return None
        probe = probe.parent
    return probe


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def publish(
    path: Path,
    data: bytes,
    *,
    overwrite: bool = False,
    make_folders: bool = False,
    cancelled: Callable[[], bool] | None = None,
) -> None:
    """Write ``data`` to ``path`` by the rule in this module's docstring.

    ``cancelled`` is asked once the bytes are safely in the temp file, just before publication:
    if it says yes, the temp file is removed and :class:`PublishCancelled` raised. Raises
    :class:`OutputError` (:class:`DiskFullError` when the disk or quota is full) naming ``path``.
    """
    path = Path(path)
    problem = publish_problem(path, overwrite=overwrite)
    if problem is not None:
        if not overwrite and holds(path, data):
            return  # already there, byte for byte (module docstring)
        raise OutputError(problem)
    try:
        if make_folders:
            path.parent.mkdir(parents=True, exist_ok=True)
        _write_and_publish(path, data, overwrite, cancelled)
    except FileExistsError:
        if holds(path, data):
            return
        raise OutputError(
            f"{path}: another program created this file while nssr was working; "
            "left it as it is (pass --overwrite to replace it)"
        ) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(
                f"{path}: the disk is full ({reason}); nothing was written there. Free some "
                "space and rerun (with --skip-existing to resume a batch)"
            ) from None
        raise OutputError(f"{path}: cannot write ({reason})") from None


def holds(path: Path, data: bytes) -> bool:
    """Whether ``path`` is a regular file (not a symlink) holding exactly ``data``."""
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size != len(data):
            return False
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as f:
            return f.read(len(data) + 1) == data
    except OSError:
        return False


def _write_and_publish(
    path: Path, data: bytes, overwrite: bool, cancelled: Callable[[], bool] | None
) -> None:
    mode = 0o666 & ~_UMASK  # what open() would give a new file
    if overwrite:
        with contextlib.suppress(FileNotFoundError):
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                mode = stat.S_IMODE(st.st_mode) & 0o777  # keep a 0600 output 0600
    tmp, fd = _create_temp(path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if cancelled is not None and cancelled():
            raise PublishCancelled(f"{path}: not written (interrupted)")
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_exclusive(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_folder(path.parent)


def _create_temp(folder: Path) -> tuple[Path, int]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = folder / temp_name()
        try:
            return tmp, os.open(tmp, flags, 0o600)
        except FileExistsError:
            continue
    raise OutputError(f"{folder}: cannot create a temp file (too many name clashes)")


def _link_exclusive(tmp: Path, path: Path) -> None:
    """Give the temp file its final name only if nothing has that name (else FileExistsError)."""
    try:
        os.link(tmp, path)
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        # No hard links here (FAT, some network file systems): reserve the name, then rename
        # over our own empty reservation.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _sync_folder(folder: Path) -> None:
    """Make the new name durable too (best effort: not every file system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_stale_temps(folder: Path) -> list[Path]:
    """Remove temp files in ``folder`` that nssr made on this host in a process that no longer
    exists (killed before it could clean up). Anything else is left alone. Returns them."""
    removed = []
    mine = f"{_PREFIX}{_HOST}-"
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(mine)]
    except OSError:
        return removed
    for e in entries:
        pid = e.name[len(mine) :].split("-")[0]
        if not (e.name.endswith(_SUFFIX) and pid.isdigit()) or _alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            st = e.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
                os.unlink(e.path)
                removed.append(Path(e.path))
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, someone else's
        return True
    return True


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once, at import (before any worker thread): reading it means setting it, and a file
# another thread created in between would get no umask at all.
_UMASK = _read_umask()


def probe_writable(folder: Path) -> str | None:
    """``None`` if a file can be made in ``folder`` (or its nearest existing parent), else why."""
    probe = existing_folder(folder)
    if probe is None:
        return "no such folder"
    if not probe.is_dir():
        return f"{probe} is not a folder"
    try:
        tmp, fd = _create_temp(probe)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        if exc.errno == errno.ENOENT:  # the folder exists: a filesystem such as /proc refuses
            return "files cannot be created there"
        return exc.strerror or str(exc)
    return None
