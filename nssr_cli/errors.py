"""Errors a user can act on. Core code raises these; only ``cli.py`` prints them and exits."""

from __future__ import annotations

import os
import sys


class NssrError(Exception):
    """Base class: the message is shown to the user as ``Error: <message>``."""

    exit_code: int = 1


class UsageError(NssrError):
    """Bad options or arguments: nothing was attempted (exit code 2)."""

    exit_code = 2


class InputError(NssrError):
    """One input could not be read or decoded; a batch goes on with the others."""


class OutputError(NssrError):
    """An output could not be written (unwritable folder, disk full, refused overwrite)."""


class KernelError(NssrError):
    """A kernel or checkpoint file is missing, malformed or not a valid kernel."""

    exit_code = 2


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread by the command line's signal handler: everything
    that stops cleanly on Ctrl-C stops the same way, and the exit code is 143, not 130."""


_received = {"sigterm": False}


def note_sigterm(received: bool = True) -> None:
    """Record that SIGTERM arrived (or, as a command starts, that it has not). A library may
    turn a KeyboardInterrupt raised inside its waits into a plain one (Ray's ``ray.wait``
    does), so the exception's type alone does not always say that it was SIGTERM."""
    _received["sigterm"] = received


def interruption(exc: KeyboardInterrupt) -> tuple[str, int]:
    """How a stopped batch says why it stopped, and its exit code: SIGTERM 143, Ctrl-C 130."""
    if isinstance(exc, Terminated) or _received["sigterm"]:
        return "terminated (SIGTERM)", 143
    return "interrupted", 130


class NssrWarning(UserWarning):
    """Something the user should know that does not stop the work (the command line prints it
    as one ``Warning:`` line)."""


def caller_stacklevel() -> int:
    """The ``stacklevel`` for a warning that the calling function issues which points at the
    first frame outside nssr's package: the library user's own line, however deep in nssr the
    warning began."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level
