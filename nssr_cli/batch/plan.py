"""Planning a batch: which files to read, where each output goes, and what must be refused first.

Everything here happens before any pixel is touched: inputs are expanded (files, folders,
globs, ``-r``), output names computed (``<stem>_x<S>.<ext>``, ``--suffix``, a mirrored tree under
``-o DIR``), and collisions, outputs that would replace an input, existing outputs, names that
would leave their destination and unwritable folders are found up front (RELIABILITY.md).
Earlier outputs of the same run (``a_x2.png`` beside ``a.png``) are not taken as inputs.
Running the plan lives in :mod:`nssr_cli.batch.run`.
"""

from __future__ import annotations

import glob
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nssr_cli.batch.names import (
    check_file_output,
    check_suffix,
    inside,
    inside_destination,
    names_a_folder,
    nothing_found,
    real,
)
from nssr_cli.errors import UsageError
from nssr_cli.files.atomic import probe_writable, publish_problem
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
    if not found.sources:
        raise UsageError(nothing_found(specs, found.ignored, recursive))
    return found


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


def plan(sources: list[Source], opts: Options, ignored: list[str] | None = None) -> list[Job]:
    """Output paths and formats for every source, with refusals decided before any work.

    A source that is another source's output in this plan (``a_x2.png`` from a previous run,
    beside ``a.png``), or that a folder walk found beside another source under the name a run
    without ``-o`` would have given it (``a_x2.*`` beside ``a.*``: any format, this run's
    suffix or ``_x<S>`` at any scale), is left out, and said why in ``ignored``.
    """
    fmt = format_name(opts.fmt) if opts.fmt else None
    if opts.overwrite and opts.skip_existing:
        raise UsageError("--overwrite and --skip-existing contradict each other; choose one")
    if opts.output == "-":
        if len(sources) != 1:
            raise UsageError("-o - (stdout) takes exactly one input")
        return [Job(sources[0], None, fmt)]  # fmt None: the input's own format
    jobs = [
        Job(s, dst, format_for_path(dst) or fmt) for s, dst in _destinations(sources, opts, fmt)
    ]
    jobs = _without_earlier_outputs(jobs, _suffix(opts), ignored if ignored is not None else [])
    sources = [j.source for j in jobs]
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
    as_folder = opts.output is not None and names_a_folder(opts.output)
    if out is not None and not as_folder:
        check_file_output(
            out, fmt, several=len(sources) > 1 or any(s.root is not None for s in sources)
        )
    suffix = _suffix(opts)
    for s in sources:
        if s.path is None:
            if out is None or as_folder:
                raise UsageError(
                    "reading stdin needs -o FILE (with an extension), or -o - for stdout"
                )
            yield s, out
            continue
        name = s.path.stem + suffix + (extension_for(fmt) if fmt else s.path.suffix)
        if out is None:
            yield s, inside_destination(s.path.parent, Path(), name)
        elif as_folder:
            rel = s.path.parent.relative_to(s.root) if s.root is not None else Path()
            yield s, inside_destination(out, rel, name)
        else:
            yield s, out


def _suffix(opts: Options) -> str:
    """What ``nssr upscale`` adds to an output's name: ``--suffix``, else ``_x<S>``."""
    return check_suffix(opts.suffix if opts.suffix is not None else f"_x{opts.scale:g}")


# The default suffix at any scale: ``_x2``, ``_x3``, ``_x2.5`` (``f"_x{scale:g}"``).
_SCALE_SUFFIX = re.compile(r"(.+)_x\d+(?:\.\d+)?")


def _earlier_output_of(stem: str, suffix: str) -> str | None:
    """The stem of the input whose output a file named ``stem`` would be: with this run's
    ``suffix``, or the default one of any scale; None if neither ends ``stem``."""
    if stem.endswith(suffix) and len(stem) > len(suffix):
        return stem[: -len(suffix)]
    match = _SCALE_SUFFIX.fullmatch(stem)
    return match.group(1) if match else None


def _without_earlier_outputs(jobs: list[Job], suffix: str, ignored: list[str]) -> list[Job]:
    """Leave out every source that is the planned output of another source, or (found in a
    folder) named as an earlier run without ``-o`` would have named another's output beside it
    (``a_x2.*`` beside ``a.*``: this run's suffix, or ``_x<S>`` at any scale): upscaling it
    again would only make ``a_x2_x2.png``. Files named on the command line are only left out in
    the first case: naming one says it is wanted."""
    writes = {_identity(j.output): j for j in jobs if j.output is not None}
    writes.pop(None, None)
    by_stem = {
        (j.source.path.parent, j.source.path.stem): j
        for j in jobs
        if j.source.path is not None and j.source.root is not None
    }
    kept = []
    for job in jobs:
        path = job.source.path
        maker = writes.get(_identity(path)) if path is not None else None
        if maker is None and path is not None and job.source.root is not None:
            base = _earlier_output_of(path.stem, suffix)
            maker = by_stem.get((path.parent, base)) if base else None
        if maker is not None and maker is not job:
            ignored.append(f"{job.source.name} (the output of {maker.source.name}; not an input)")
        else:
            kept.append(job)
    return kept


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
    """An existing output: skipped, refused, or (``--overwrite``) checked for replacement by
    the publishing rule (:func:`nssr_cli.files.atomic.publish_problem`), as is its name."""
    dst = job.output
    if dst is None:
        return
    try:  # a symlink, or a regular file (also through a symlink)
        replaceable = dst.is_symlink() or dst.is_file()
    except OSError:  # e.g. a name too long to look up: publish_problem says why
        replaceable = False
    if replaceable and opts.skip_existing:
        job.skip = True
    elif replaceable and _identity(dst) in inputs and not opts.overwrite:
        job.error = (
            f"{dst}: this output is an input file (or a link to one); refusing to "
            "replace it. Choose another -o or --suffix, or pass --overwrite"
        )
    elif replaceable and not opts.overwrite:
        job.error = (
            f"{dst}: already exists; pass --overwrite to replace it, or --skip-existing to keep it"
        )
    else:
        job.error = publish_problem(dst, overwrite=opts.overwrite)
