"""Which files a run takes as inputs: files, folders (``-r`` for subfolders, symlinks followed
without looping), globs, or stdin; each real file once. Files under the output folder are never
inputs when that folder lies inside a walked one or under a glob's fixed folder, so a rerun does
not upscale earlier outputs. Naming and refusing outputs is :mod:`nssr_cli.batch.plan`'s.
"""

from __future__ import annotations

import glob
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from nssr_cli.batch.names import inside, nothing_found, real
from nssr_cli.errors import UsageError
from nssr_cli.files.formats import image_extensions


@dataclass(frozen=True)
class Source:
    """One input: a file (``root`` = the folder it was found in, for mirroring) or stdin."""

    path: Path | None  # None = standard input
    root: Path | None = None

    @property
    def name(self) -> str:
        return "<stdin>" if self.path is None else str(self.path)


@dataclass
class Inputs:
    sources: list[Source] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # "path (why)", shown with -v


def expand_inputs(specs: list[str], *, recursive: bool, exclude: Path | None = None) -> Inputs:
    """Files, folders and globs → sources, each real file once (symlinks and hard links too).

    Folders yield files with an image extension; with ``recursive`` their subfolders too,
    following symlinks without looping. Files under ``exclude`` (the output folder) are skipped.
    A name that matches nothing, or finding no image at all, is a :class:`UsageError`.
    """
    found = Inputs()
    if "-" in specs:
        if len(specs) > 1:
            raise UsageError("'-' (stdin) cannot be combined with other inputs")
        return Inputs([Source(None)])
    skip = real(exclude) if exclude is not None else None
    exts = image_extensions()
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            _walk(path, recursive, exts, skip, found)
        elif path.exists() or path.is_symlink():
            found.sources.append(Source(path))
        elif glob.has_magic(spec):
            matches = sorted(glob.glob(spec, recursive=recursive))
            if not matches:
                raise UsageError(f"{spec}: no file matches this pattern")
            held = _holding_outputs(spec, skip)
            for m in map(Path, matches):
                if held is not None and inside(real(m), held):
                    found.ignored.append(f"{m} (inside the output folder)")
                elif m.is_dir():
                    _walk(m, recursive, exts, skip, found)
                elif m.suffix.lower() in exts:
                    found.sources.append(Source(m))
                else:
                    found.ignored.append(f"{m} (not an image extension)")
        else:
            raise UsageError(f"{spec}: no such file or folder")
    found.sources = _unique(found.sources)
    if not found.sources:
        raise UsageError(nothing_found(specs, found.ignored, recursive))
    return found


def _holding_outputs(pattern: str, output: Path | None) -> Path | None:
    """``output`` (real) if earlier outputs there could match ``pattern``: the output folder lies
    strictly inside the folder the pattern starts from (``in/*`` with ``-o in/big``), as for a
    walked folder; else None (``photos/*.jpg -o photos`` writes beside its inputs)."""
    parts = Path(pattern).parts
    fixed = next((k for k, part in enumerate(parts) if glob.has_magic(part)), len(parts))
    base = real(Path(*parts[:fixed]) if fixed else Path("."))
    return output if output is not None and output != base and inside(output, base) else None


def _walk(root: Path, recursive: bool, exts: set[str], skip: Path | None, found: Inputs) -> None:
    if skip is not None and not (skip != real(root) and inside(skip, real(root))):
        skip = None  # only an output folder *inside* the walked one holds earlier outputs
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
            if (st.st_dev, st.st_ino) in seen:
                continue  # a symlink loop, or a folder reached twice
            seen.add((st.st_dev, st.st_ino))
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            found.ignored.append(f"{folder} (cannot list: {exc.strerror})")
            continue
        subfolders = []
        for e in entries:
            p = Path(e.path)
            if skip is not None and inside(real(p), skip):
                found.ignored.append(f"{p} (inside the output folder)")
            elif _is(e, stat.S_ISDIR):
                if recursive:
                    subfolders.append(p)
                else:
                    found.ignored.append(f"{p} (a folder; use -r to include it)")
            elif _is(e, stat.S_ISREG) and p.suffix.lower() in exts:
                found.sources.append(Source(p, root))
            else:
                found.ignored.append(f"{p} (not an image file)")
        stack.extend(reversed(subfolders))


def _is(entry: os.DirEntry[str], test: object) -> bool:
    try:
        return bool(test(entry.stat(follow_symlinks=True).st_mode))  # type: ignore[operator]
    except OSError:
        return False  # a dangling symlink


def identity(path: Path) -> tuple[int, int] | None:
    """The file ``path`` is (device, inode), whatever its name or links; None if missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _unique(sources: list[Source]) -> list[Source]:
    """Drop repeats of the same real file (named twice, or via a symlink or hard link)."""
    seen: set[tuple[int, int]] = set()
    out = []
    for s in sources:
        key = identity(s.path) if s.path is not None else None
        if key is not None and key in seen:
            continue
        if key is not None:
            seen.add(key)
        out.append(s)
    return out
