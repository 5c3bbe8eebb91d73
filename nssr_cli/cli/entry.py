"""The ``nssr`` program's entry point: errors → messages and exit codes, signals, a fast exit.

The only code that decides how the process ends (RELIABILITY.md). stdout carries data only;
messages go to stderr. A plain ``nssr upscale …`` is parsed by :mod:`nssr_cli.cli.quick` and run
without importing Typer, pydantic or rich (~0.2 s of start-up per process, which a
``find | xargs -n1 nssr upscale`` pipeline pays per file); anything else, help and every
parse error included, goes through the Typer app (:mod:`nssr_cli.cli.program`).
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nssr_cli.cli import quick
from nssr_cli.cli.common import err, exit_now, quiet_broken_pipe, state
from nssr_cli.cli.upscale_run import upscale_command
from nssr_cli.errors import NssrError, Terminated, note_sigterm


def main() -> None:
    """Console entry point: maps errors to messages and exit codes (RELIABILITY.md)."""
    with _signals_stop_cleanly():
        _main()


def _main() -> None:
    _occupy_closed_standard_fds()
    warnings.showwarning = _show_warning
    try:
        options = quick.parse(sys.argv[1:])
        if options is not None:  # a plain `nssr upscale …`: no Typer, no rich unless printing
            state["debug"] = False
            upscale_command(options)
            sys.exit(0)
        from nssr_cli.cli.program import app

        # Typer returns (not raises) an exit code: Ctrl-C comes back as 130.
        rc = app(standalone_mode=False)
        if rc == 130:
            _exit_interrupted("Interrupted.")
        sys.exit(rc if isinstance(rc, int) else 0)
    except NssrError as exc:
        if state["debug"]:  # the traceback asked for, and the exit code all the same
            traceback.print_exc()
            sys.exit(exc.exit_code)
        if exc.exit_code in (130, 143):
            _exit_interrupted(f"Error: {exc}", exc.exit_code)
        err.print(f"Error: {exc}", markup=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _exit_interrupted("Interrupted.")
    except BrokenPipeError:
        quiet_broken_pipe()
    except Exception as exc:
        typer = sys.modules.get("typer")  # its exceptions can only come from a loaded Typer
        if typer is not None and isinstance(exc, typer.Exit):
            sys.exit(exc.exit_code)
        if typer is not None and isinstance(exc, typer.Abort):
            _exit_interrupted("Interrupted.")
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):  # Click's usage errors
            ctx = getattr(exc, "ctx", None)  # one line, as every other error (RELIABILITY.md)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            err.print(f"Error: {exc.format_message()}{hint}", markup=False)
            sys.exit(exc.exit_code)
        if state["debug"]:
            raise
        err.print(
            f"Error: internal error: {type(exc).__name__}: {exc} (run with --debug "
            "for the traceback, and please report it)",
            markup=False,
        )
        sys.exit(1)


def entry() -> None:
    """The ``nssr`` program (and ``python -m nssr_cli``): :func:`main`, then a fast exit.

    The interpreter's teardown costs every run ~0.2 s of CPU without PyTorch (NumPy, OpenCV,
    pydantic; a third of a small upscale) and ~0.5 s with it, and none of it is ours: by the
    time :func:`main` returns, every output is written, fsynced and renamed and every worker
    thread has finished. So leave with the same exit code, without the teardown. (Tests call
    :func:`main`, which exits normally.)
    """
    try:
        main()
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): print it, fail
        err.print(str(code), markup=False)
        code = 1
    exit_now(code)


_warned: set[str] = set()


def _show_warning(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
    """A warning reaches the user as one ``Warning:`` line, once per message: never the
    library's source line (``--debug`` shows Python's usual form)."""
    text = (str(message).strip().splitlines() or [category.__name__])[0]
    if state["debug"]:
        err.print(f"Warning ({category.__name__}): {message}", markup=False)
    elif text not in _warned:
        _warned.add(text)
        err.print(f"Warning: {text}", markup=False)


def _exit_interrupted(message: str, code: int | None = None) -> None:
    """Exit 130 (Ctrl-C) or 143 (SIGTERM) right away. A Ctrl-C that lands inside an import
    (torch's takes seconds) can leave a KeyboardInterrupt for interpreter shutdown, which then
    dies by SIGINT (-2) instead; everything worth keeping is already written and fsynced (or
    its temp file removed), so skip the shutdown."""
    if code is None:
        code = 143 if state["signal"] == signal.SIGTERM else 130
    if message == "Interrupted." and code == 143:
        message = "Terminated."
    err.print(message, markup=False)
    exit_now(code)


@contextmanager
def _signals_stop_cleanly() -> Iterator[None]:
    """SIGTERM raises :class:`~nssr_cli.errors.Terminated` (a KeyboardInterrupt) in the main
    thread, so a kill stops as cleanly as Ctrl-C: temp files removed, exit 143. Once one of
    the two arrived, more are ignored, so the clean-up itself is not cut short."""
    import threading

    if threading.current_thread() is not threading.main_thread():  # only it may set handlers
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        if state["signal"] is not None:
            return
        state["signal"] = signum
        if signum == signal.SIGTERM:
            note_sigterm()
            raise Terminated()
        raise KeyboardInterrupt()

    handled = [s for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) != signal.SIG_IGN]
    previous = {s: signal.signal(s, stop) for s in handled}
    state["signal"] = None
    note_sigterm(False)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _occupy_closed_standard_fds() -> None:
    """Put /dev/null on a closed stdin, stdout or stderr (``<&-``, ``>&-``): else the next file
    nssr opens would get that number, and a stray write to "stdout" would land in it. Python
    has already set ``sys.stdin``/``sys.stdout`` to None for them, which the commands check."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            with_flags = os.O_RDONLY if fd == 0 else os.O_WRONLY
            opened = os.open(os.devnull, with_flags)
            if opened != fd:
                os.dup2(opened, fd)
                os.close(opened)
