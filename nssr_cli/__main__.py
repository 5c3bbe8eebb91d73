"""``python -m nssr_cli`` runs the command-line tool."""

from nssr_cli.cli import entry

entry()
