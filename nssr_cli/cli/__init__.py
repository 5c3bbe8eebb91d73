"""The command line: the entry point (exit codes), the Typer app, one module per command.

Rank 6, the top layer: the only code that prints or exits. It may import every other part of
``nssr_cli``; nothing imports it. Heavy modules load inside the commands, so ``nssr --help``
imports neither torch nor numpy, and a plain ``nssr upscale`` not even Typer
(:mod:`nssr_cli.cli.quick`).
"""

from __future__ import annotations

from typing import Any

from nssr_cli.cli.entry import entry, main

__all__ = ["app", "entry", "main"]


def __getattr__(name: str) -> Any:
    if name == "app":  # the Typer app, imported only when asked for
        from nssr_cli.cli.program import app

        return app
    raise AttributeError(f"module 'nssr_cli.cli' has no attribute {name!r}")
