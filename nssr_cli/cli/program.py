"""The ``nssr`` program: the Typer app, its commands, and errors → messages and exit codes.

The only code that prints or exits (with the command modules beside it). stdout carries data
only; messages go to stderr. Heavy imports happen inside commands, so ``--help`` is instant.
"""

from __future__ import annotations

import os
import signal
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from nssr_cli import __version__
from nssr_cli.cli import evaluate, train, upscale
from nssr_cli.cli.common import err, exit_now, quiet_broken_pipe
from nssr_cli.errors import NssrError, Terminated

app = typer.Typer(
    name="nssr",
    help="Null-shot super-resolution: bicubic plus one learned inverse-blur convolution.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.command("train")(train.train)
app.command("export-kernel")(train.export_kernel)
app.command("upscale")(upscale.upscale)
app.command("eval")(evaluate.evaluate)
_state: dict[str, Any] = {"debug": False, "signal": None}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nssr {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    _state["debug"] = debug


def main() -> None:
    """Console entry point: maps errors to messages and exit codes (RELIABILITY.md)."""
    with _signals_stop_cleanly():
        _main()


def _main() -> None:
    _occupy_closed_standard_fds()
    warnings.showwarning = _show_warning
    try:
        # Typer returns (not raises) an exit code: Ctrl-C comes back as 130.
        rc = app(standalone_mode=False)
        if rc == 130:
            _exit_interrupted("Interrupted.")
        sys.exit(rc if isinstance(rc, int) else 0)
    except NssrError as exc:
        if _state["debug"]:
            raise
        if exc.exit_code in (130, 143):
            _exit_interrupted(f"Error: {exc}", exc.exit_code)
        err.print(f"Error: {exc}", markup=False)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _exit_interrupted("Interrupted.")
    except BrokenPipeError:
        quiet_broken_pipe()
    except Exception as exc:
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):  # Click's usage errors
            exc.show()
            sys.exit(exc.exit_code)
        if _state["debug"]:
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
    if _state["debug"]:
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
        code = 143 if _state["signal"] == signal.SIGTERM else 130
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
        if _state["signal"] is not None:
            return
        _state["signal"] = signum
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    handled = [s for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) != signal.SIG_IGN]
    previous = {s: signal.signal(s, stop) for s in handled}
    _state["signal"] = None
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
