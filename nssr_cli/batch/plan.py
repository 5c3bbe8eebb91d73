"""Planning a batch: which files to read, where each output goes, and what must be refused first.

Everything here happens before any pixel is touched: inputs are expanded (files, folders,
globs, ``-r``), output names computed (``<stem>_x<S>.<ext>``, ``--suffix``, a mirrored tree under
``-o DIR``), and collisions, outputs that would replace an input, existing outputs and unwritable
folders are found up front (RELIABILITY.md). Running the plan lives in :mod:`nssr_cli.batch.run`.
"""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nssr_cli.errors import UsageError
from nssr_cli.files.atomic import probe_writable
from nssr_cli.files.encode import extension_for, format_for_path, format_name
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
class Job:
    """One planned output. ``output`` None = stdout; ``fmt`` None = the input's own format."""

    source: Source
    output: Path | None
    fmt: str | None
    skip: bool = False  # --skip-existing and the output exists
    error: str | None = None  # refused while planning; reported as a failure


@dataclass
class Options:
    """The batch options of ``nssr upscale``."""

    scale: float
    output: str | None = None
    suffix: str | None = None
    fmt: str | None = None
    recursive: bool = False
    overwrite: bool = False
    skip_existing: bool = False


@dataclass
class Inputs:
    sources: list[Source] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # "path (why)", shown with -v


def expand_inputs(specs: list[str], *, recursive: bool, exclude: Path | None = None) -> Inputs:
    """Files, folders and globs → sources, each real file once (symlinks and hard links too).

    Folders yield files with an image extension; with ``recursive`` their subfolders too,
    following symlinks without looping. Files under ``exclude`` (the output folder) are skipped.
    A name that matches nothing is a :class:`UsageError`.
    """
    found = Inputs()
    if "-" in specs:
        if len(specs) > 1:
            raise UsageError("'-' (stdin) cannot be combined with other inputs")
        return Inputs([Source(None)])
    skip = _real(exclude) if exclude is not None else None
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
            for m in map(Path, matches):
                if m.is_dir():
                    _walk(m, recursive, exts, skip, found)
                elif m.suffix.lower() in exts:
                    found.sources.append(Source(m))
                else:
                    found.ignored.append(f"{m} (not an image extension)")
        else:
            raise UsageError(f"{spec}: no such file or folder")
    found.sources = _unique(found.sources)
    return found


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _walk(root: Path, recursive: bool, exts: set[str], skip: Path | None, found: Inputs) -> None:
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
            if skip is not None and _inside(_real(p), skip):
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


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _identity(path: Path) -> tuple[int, int] | None:
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
        key = _identity(s.path) if s.path is not None else None
        if key is not None and key in seen:
            continue
        if key is not None:
            seen.add(key)
        out.append(s)
    return out


def plan(sources: list[Source], opts: Options) -> list[Job]:
    """Output paths and formats for every source, with refusals decided before any work."""
    fmt = format_name(opts.fmt) if opts.fmt else None
    if opts.overwrite and opts.skip_existing:
        raise UsageError("--overwrite and --skip-existing contradict each other; choose one")
    if opts.output == "-":
        if len(sources) != 1:
            raise UsageError("-o - (stdout) takes exactly one input")
        return [Job(sources[0], None, fmt or "PNG")]
    jobs = [
        Job(s, dst, format_for_path(dst) or fmt) for s, dst in _destinations(sources, opts, fmt)
    ]
    _check_collisions(jobs)
    _check_folders(jobs)
    inputs = {_identity(s.path) for s in sources if s.path is not None}
    for job in jobs:
        _check_existing(job, inputs, opts)
    return jobs


def _destinations(
    sources: list[Source], opts: Options, fmt: str | None
) -> Iterator[tuple[Source, Path]]:
    out = Path(opts.output) if opts.output else None
    as_folder = out is not None and (
        out.is_dir()
        or opts.output.endswith(("/", os.sep))
        or len(sources) > 1  # type: ignore[union-attr]
        or any(s.root is not None for s in sources)
    )
    if as_folder and out is not None and out.suffix and format_for_path(out) and not out.is_dir():
        raise UsageError(f"-o {out}: several inputs (or a folder) need -o to name a folder")
    if (
        out is not None
        and not as_folder
        and fmt is None
        and not format_for_path(out)
        and out.suffix
    ):
        raise UsageError(f"-o {out}: unknown image extension {out.suffix!r}; use -f to choose")
    suffix = opts.suffix if opts.suffix is not None else f"_x{opts.scale:g}"
    for s in sources:
        if s.path is None:
            if out is None:
                raise UsageError("reading stdin needs -o FILE, or -o - for stdout")
            yield s, out
            continue
        name = s.path.stem + suffix + (extension_for(fmt) if fmt else s.path.suffix)
        if out is None:
            yield s, s.path.parent / name
        elif as_folder:
            rel = s.path.parent.relative_to(s.root) if s.root is not None else Path()
            yield s, out / rel / name
        else:
            yield s, out


def _check_collisions(jobs: list[Job]) -> None:
    by_dst: dict[str, list[Job]] = {}
    for job in jobs:
        by_dst.setdefault(os.path.normcase(os.path.abspath(str(job.output))), []).append(job)
    clashes = [js for js in by_dst.values() if len(js) > 1]
    if clashes:
        lines = [
            " and ".join(j.source.name for j in js) + f" would all write {js[0].output}"
            for js in clashes[:5]
        ]
        raise UsageError(
            "outputs collide (nothing was written): "
            + "; ".join(lines)
            + ". Use -f, --suffix or separate runs so each output name is unique"
        )


def _check_folders(jobs: list[Job]) -> None:
    for folder in sorted({j.output.parent for j in jobs if j.output is not None}):
        why = probe_writable(folder)
        if why is not None:
            raise UsageError(
                f"cannot write to the output folder {folder} ({why}); nothing was done"
            )


def _check_existing(job: Job, inputs: set[tuple[int, int] | None], opts: Options) -> None:
    dst = job.output
    if dst is None or not (dst.exists() or dst.is_symlink()):
        return
    if not dst.is_symlink() and not dst.is_file():
        job.error = (
            f"{dst}: exists and is not a regular file (a folder or device); not replacing it"
        )
    elif opts.skip_existing:
        job.skip = True
    elif _identity(dst) in inputs and not opts.overwrite:
        job.error = (
            f"{dst}: this output is an input file (or a link to one); refusing to "
            "replace it. Choose another -o or --suffix, or pass --overwrite"
        )
    elif not opts.overwrite:
        job.error = f"{dst}: already exists; pass --overwrite to replace it or --skip-existing"
    elif not dst.is_symlink() and not os.lstat(dst).st_mode & 0o222:
        job.error = f"{dst}: the existing output is read-only; make it writable or remove it"
