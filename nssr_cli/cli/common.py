"""What every command shares: the stderr console, JSON on stdout, the device option.

stdout carries data only (images, JSON); messages, progress and warnings go to stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Any

from nssr_cli.errors import OutputError, UsageError

# This run's --debug (the Typer app sets it) and the signal that stopped it, if any.
state: dict[str, Any] = {"debug": False, "signal": None}


class _Stderr:
    """rich's Console on stderr, made on first use: importing rich costs ~30 ms, which a quiet
    ``nssr upscale`` in a ``find | xargs`` loop (one process per file) never needs to pay.
    Attributes are the console's (``err.print``, ``err.is_terminal``); ``err.console`` is the
    Console itself, for rich objects that take one."""

    _console: Any = None

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True, highlight=False, soft_wrap=True)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)

    def print(self, *objects: Any, **options: Any) -> None:
        """The console's ``print``, with every text shown :func:`printable`."""
        self.console.print(*(printable(o) if isinstance(o, str) else o for o in objects), **options)


err = _Stderr()


def printable(text: str) -> str:
    """``text`` with what a terminal would not show as itself written as an escape: newlines,
    ESC and other control or format characters (``\\n``, ``\\x1b``, ``\\u202e``), and the bytes
    of a file name that are not UTF-8 (``\\udcff``). A file name then cannot break a message into
    two lines, forge an ``Error:`` line, or send the terminal a command."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def emit_json(obj: Any) -> None:
    """One JSON document on stdout. A closed or full stdout is an :class:`OutputError`; a
    reader that went away (``| head``) raises ``BrokenPipeError`` for the command to judge."""
    if sys.stdout is None:
        raise OutputError("cannot print JSON: standard output is closed (>&-)")
    try:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        silence_stdout()
        raise OutputError(
            f"<stdout>: cannot write the JSON report to standard output ({exc.strerror or exc})"
        ) from None


def check_json_stdout(as_json: bool) -> None:
    """``--json`` prints on stdout: a closed one (``>&-``) is a usage error before any work,
    not a failure once the work is done."""
    if as_json and sys.stdout is None:
        raise UsageError(
            "standard output is closed (>&-); --json prints there: open it, or leave out --json"
        )


def refuse_empty(option: str, value: str | None) -> None:
    """A blank value (``-o "$OUT"`` with OUT unset) is a usage error naming the option."""
    if value is not None and not value.strip():
        raise UsageError(f"{option} is empty; give a value or leave the option out")


def file_option(value: str | None, option: str, example: str) -> Path | None:
    """An option naming one output file, as typed: a trailing ``/`` names a folder, which such an
    option cannot take (``Path`` would drop the slash and write a file of that name)."""
    if value is None:
        return None
    if not value or value.endswith(("/", os.sep)):
        raise UsageError(f"{option} {value!r}: give a file name, e.g. {value}{example}")
    return Path(value)


def check_outputs(paths: list[Path], *, overwrite: bool) -> None:
    """Exit 2 before any work if a command could not publish one of ``paths`` (it exists and
    no ``--overwrite``, it is a folder or device, its folder is missing or takes no new files…),
    or names one twice."""
    from nssr_cli.files.atomic import outputs_problem

    if len({os.path.abspath(p) for p in paths}) < len(paths):
        raise UsageError(f"{', '.join(map(str, paths))}: two outputs have the same name")
    problem = outputs_problem(paths, overwrite=overwrite)
    if problem is not None:
        raise UsageError(problem)


def exit_now(code: int) -> None:
    """Flush what we printed and end the process with ``code``, skipping interpreter shutdown."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away after the last write: not an error
        pass
    except OSError as exc:
        err.print(f"Error: cannot write to standard output ({exc.strerror or exc})", markup=False)
        code = code or 1
    except Exception:  # a closed stream
        pass
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(code)


# What a shell reports for a program its pipe's reader left (128 + SIGPIPE), as for `cat`.
BROKEN_PIPE_EXIT = 141


def quiet_broken_pipe() -> None:
    """The reader went away (``| head``): exit quietly, without a second EPIPE at shutdown, with
    :data:`BROKEN_PIPE_EXIT`: what was asked for was not all written, so not 0."""
    silence_stdout()
    sys.exit(BROKEN_PIPE_EXIT)


def silence_stdout() -> None:
    """Point stdout at /dev/null (its reader is gone, or the device full), dropping what is
    buffered, so that shutdown's final flush cannot fail a second time."""
    with contextlib.suppress(Exception):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
