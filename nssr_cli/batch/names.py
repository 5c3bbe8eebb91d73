"""Output names and where they may go: the ``-o`` rule, ``--suffix``, staying inside the
destination, and what to say when a run finds no input at all.

``-o`` names a file or a folder by one rule: ``-`` is stdout; a name ending in ``/``, an
existing folder, or a name without an extension (``big``) is a folder; any other name
(``big.png``) is a file, which takes exactly one input. Every output path stays inside its
destination (the ``-o`` folder, or the input's own folder), whatever ``--suffix``, ``-f`` or the
input names say, also through a symlinked subfolder.
"""

from __future__ import annotations

import os
from pathlib import Path

from nssr_cli.errors import UsageError
from nssr_cli.files.encode import format_for_path, format_name


def names_a_folder(output: str) -> bool:
    """The ``-o`` rule: a trailing ``/``, an existing folder or no extension means a folder."""
    path = Path(output)
    return output.endswith(("/", os.sep)) or path.is_dir() or not path.suffix


def _as_folder(out: Path) -> Path:
    """A folder name for a file ``-o``: ``big.png`` → ``big``, ``set.v2`` stays."""
    return out.with_suffix("") if format_for_path(out) else out


def check_file_output(out: Path, fmt: str | None, *, several: bool) -> None:
    """Refuse, before any work, a file ``-o`` that cannot be: several inputs, an unknown
    extension without ``-f``, or a format Pillow reads but cannot write (``.psd``)."""
    if several:
        raise UsageError(
            f"-o {out}: names one file, but there are several inputs (or a folder); "
            f"give a folder instead (e.g. -o {_as_folder(out)}/)"
        )
    if fmt is None and not format_for_path(out):
        raise UsageError(
            f"-o {out}: unknown image extension {out.suffix!r}; use -f to choose a format, "
            "or end the name with / to make it a folder"
        )
    try:
        format_name(format_for_path(out) or fmt or "")
    except UsageError as exc:
        raise UsageError(f"-o {out}: {exc}") from None


def check_suffix(suffix: str) -> str:
    """``suffix``, or :class:`UsageError` if it holds a path separator (``/../../x``)."""
    if any(sep and sep in suffix for sep in ("/", os.sep, os.altsep, "\0")):
        raise UsageError(f"--suffix {suffix!r}: a suffix cannot hold a path separator")
    return suffix


def inside_destination(folder: Path, rel: Path, name: str) -> Path:
    """``folder / rel / name``, refused if it would end up outside ``folder`` (a name holding a
    separator or ``..``, or a symlinked subfolder in the destination pointing elsewhere)."""
    dst = folder / rel / name
    if name in ("", ".", "..") or Path(name).name != name or ".." in rel.parts:
        raise UsageError(f"{dst}: this output name would leave its folder {folder}; refusing")
    if not inside(real(dst.parent), real(folder)):
        raise UsageError(
            f"{dst}: this output would land outside the destination {folder} "
            f"({dst.parent} leads to {real(dst.parent)}); refusing"
        )
    return dst


def real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def nothing_found(specs: list[str], ignored: list[str], recursive: bool) -> str:
    where = " ".join(specs)
    folders = [why for why in ignored if why.endswith("use -r to include it)")]
    if folders and not recursive:
        return f"{where}: no image file here, only subfolders; add -r to take them"
    more = f" ({len(ignored)} other entries ignored; -v lists them)" if ignored else ""
    return f"{where}: no image file found{more}; nothing to do"
