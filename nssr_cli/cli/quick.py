"""The fast path into ``nssr upscale``: its command line parsed without Typer.

Typer (with pydantic and rich) costs ~0.2 s of start-up, more than upscaling a small photo;
a ``find … | xargs -n1 nssr upscale -s 2`` pipeline pays it once per file. So the entry point
first tries this parser, which knows ``upscale``'s options in their plain spellings
(``--scale 2``, ``--scale=2``, ``-s 2``, ``-q``, ``--``) and nothing else. Whatever it does not
recognise — ``--help``, another command, bundled short flags (``-qv``), a value out of range, a
typo — makes it step aside (``None``), and Typer parses the line as always, errors included. So
the two can only differ in speed; ``tests/test_cli_quick.py`` holds this table to the Typer
command's options (names, types, bounds, choices, defaults).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nssr_cli.cli.common import Device
from nssr_cli.cli.upscale_run import BLURS, UpscaleOptions


def _number(kind: type, low: float | None = None, high: float | None = None) -> Callable:
    def convert(raw: str) -> Any:
        if not raw.isascii():  # Python reads "２" or "٢" as 2; some Typer versions do not
            raise ValueError(raw)  # so Typer decides
        value = kind(raw)  # what Click does too: int("1_000"), float("2.5")
        if value != value and (low is not None or high is not None):  # NaN passes the bounds
            raise ValueError(raw)  # below; Typer refuses it there
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(raw)
        return value

    return convert


def _choice(choices: tuple[str, ...]) -> Callable:
    def convert(raw: str) -> str:
        if raw not in choices:
            raise ValueError(raw)
        return raw

    return convert


# Field of UpscaleOptions → (its flags, how a value is read; None: a flag without a value).
OPTIONS: dict[str, tuple[tuple[str, ...], Callable | None]] = {
    "scale": (("-s", "--scale"), _number(float)),
    "output": (("-o", "--output"), str),
    "fmt": (("-f", "--format"), str),
    "kernel": (("--kernel",), str),
    "blur": (("--blur",), _choice(BLURS)),
    "device": (("--device",), _choice(tuple(d.value for d in Device))),
    "tile": (("--tile",), _number(int, 16)),
    "quality": (("--quality",), _number(int, 1, 100)),
    "suffix": (("--suffix",), str),
    "recursive": (("-r", "--recursive"), None),
    "overwrite": (("--overwrite",), None),
    "skip_existing": (("--skip-existing",), None),
    "jobs": (("-j", "--jobs"), _number(int, 1, 32)),
    "max_pixels": (("--max-pixels",), _number(int, 1)),
    "as_json": (("--json",), None),
    "quiet": (("-q", "--quiet"), None),
    "verbose": (("-v", "--verbose"), None),
    "ray": (("--ray",), str),
    "gpus_per_worker": (("--gpus-per-worker",), _number(float, 0)),
}
_BY_FLAG = {flag: field for field, (flags, _) in OPTIONS.items() for flag in flags}


def parse(argv: list[str]) -> UpscaleOptions | None:
    """``argv`` (after the program's name) as :class:`UpscaleOptions` when it is an ``upscale``
    command line this parser fully understands, else ``None`` (Typer will parse it)."""
    if not argv or argv[0] != "upscale":
        return None
    inputs: list[str] = []
    values: dict[str, Any] = {}
    rest = iter(argv[1:])
    only_paths = False
    for token in rest:
        if only_paths or token == "-" or not token.startswith("-"):
            inputs.append(token)
            continue
        if token == "--":
            only_paths = True
            continue
        flag, eq, inline = token.partition("=") if token.startswith("--") else (token, "", "")
        field = _BY_FLAG.get(flag)
        if field is None:
            return None
        convert = OPTIONS[field][1]
        if convert is None:
            if eq:  # --overwrite=yes: let Typer say what it thinks of that
                return None
            values[field] = True
            continue
        raw = inline if eq else next(rest, None)
        if raw is None or (not eq and raw.startswith("-") and raw != "-"):
            return None
        try:
            values[field] = convert(raw)
        except ValueError:
            return None
    return UpscaleOptions(inputs, **values) if inputs else None
