"""The command line: the Typer app (``app``), one module per command, exit codes.

Rank 6, the top layer: the only code that prints or exits. It may import every other part of
``nssr_cli``; nothing imports it. Heavy modules load inside the commands, so ``nssr --help``
imports neither torch nor numpy.
"""

from nssr_cli.cli.program import app, entry, main

__all__ = ["app", "entry", "main"]
