"""The ``nssr`` Typer app: its commands, ``--version`` and ``--debug``.

:mod:`nssr_cli.cli.entry` runs it (errors → messages and exit codes), unless the command line is
a plain ``nssr upscale`` that :mod:`nssr_cli.cli.quick` parses without importing Typer. Heavy
imports happen inside commands, so ``--help`` is instant.
"""

from __future__ import annotations

from typing import Annotated

import typer

from nssr_cli import __version__
from nssr_cli.cli import evaluate, train, upscale
from nssr_cli.cli.common import state

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
    state["debug"] = debug
