"""``python -m nssr_cli`` runs the command-line tool."""

from nssr_cli.cli.entry import entry

entry()
