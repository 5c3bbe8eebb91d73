"""The ``nssr`` program: the Typer app, its commands, and errors → messages and exit codes.

The only code that prints or exits (with the command modules beside it). stdout carries data
only; messages go to stderr. Heavy imports happen inside commands, so ``--help`` is instant.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from nssr_cli import __version__
from nssr_cli.cli import evaluate, train, upscale
from nssr_cli.cli.common import err, exit_now, quiet_broken_pipe
from nssr_cli.errors import NssrError

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
_state: dict[str, bool] = {"debug": False}


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
    try:
        # Typer returns (not raises) an exit code: Ctrl-C comes back as 130.
        rc = app(standalone_mode=False)
        if rc == 130:
            _exit_interrupted("Interrupted.")
        sys.exit(rc if isinstance(rc, int) else 0)
    except NssrError as exc:
        if _state["debug"]:
            raise
        if exc.exit_code == 130:
            _exit_interrupted(f"Error: {exc}")
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

    Once PyTorch is loaded, the interpreter's teardown takes ~0.5 s of every run, and none of
    it is ours: by the time :func:`main` returns, every output is written, fsynced and renamed
    and every worker thread has finished. So leave with the same exit code, without the
    teardown. (Tests call :func:`main`, which exits normally.)
    """
    try:
        main()
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    if "torch" not in sys.modules:
        sys.exit(code)
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): print it, fail
        err.print(str(code), markup=False)
        code = 1
    exit_now(code)


def _exit_interrupted(message: str) -> None:
    """Exit 130 right away. A Ctrl-C that lands inside an import (torch's takes seconds) can
    leave a KeyboardInterrupt for interpreter shutdown, which then dies by SIGINT (-2) instead;
    everything worth keeping is already written and fsynced, so skip the shutdown."""
    err.print(message, markup=False)
    exit_now(130)
