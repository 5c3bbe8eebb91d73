"""Planning a batch: which files to read, where each output goes, and what must be refused first.

Everything here happens before any pixel is touched: inputs are expanded
(:mod:`nssr_cli.batch.inputs`: files, folders, globs, ``-r``), output names computed
(``<stem>_x<S>.<ext>``, ``--suffix``, a mirrored tree under ``-o DIR``), and collisions,
outputs that would replace an input, existing outputs, names that would leave their
destination and unwritable folders are found up front (RELIABILITY.md). Earlier outputs of the
same run (``a_x2.png`` beside ``a.png``) are not taken as inputs.
Running the plan lives in :mod:`nssr_cli.batch.run`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nssr_cli.batch.inputs import Inputs, Source, expand_inputs, identity
from nssr_cli.batch.names import (
    check_file_output,
    check_suffix,
    inside_destination,
    names_a_folder,
    real,
)
from nssr_cli.errors import UsageError
from nssr_cli.files.atomic import existing_folder, probe_writable, publish_problem
from nssr_cli.files.encode import extension_for, format_for_path, format_name

__all__ = ["Inputs", "Job", "Options", "Source", "expand_inputs", "plan"]


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
    inputs = {identity(s.path) for s in sources if s.path is not None}
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
    if out is not None:
        _check_above(out)
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


def _check_above(out: Path) -> None:
    """Refuse a ``-o`` whose parent folder is missing: nssr makes a folder ``-o`` names
    (``-o big/``) and the input tree's folders under it, never the folders above (a typo is
    not created)."""
    nearest = existing_folder(out.parent)
    if nearest != out.parent and (nearest is None or nearest.is_dir()):
        # (a file in the way is a different mistake: _check_folders names it)
        raise UsageError(f"-o {out}: no such folder {out.parent}; nothing was done")


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
    folder) named as an earlier run would have named another's output: ``a_x2.*`` (this run's
    suffix, or ``_x<S>`` at any scale) beside a source ``a.*`` found in a folder, or in the
    folder this run writes ``a.*``'s output to (``-o big`` named as an input too, as ``in/*``
    does when ``big`` is in ``in``): upscaling it again would only make ``a_x2_x2.png``. Files
    named on the command line are only left out in the first case: naming one says it is
    wanted."""
    writes = {identity(j.output): j for j in jobs if j.output is not None}
    writes.pop(None, None)
    by_stem = {
        (real(j.output.parent), j.source.path.stem): j
        for j in jobs
        if j.source.path is not None and j.output is not None
    }
    by_stem.update(
        ((real(j.source.path.parent), j.source.path.stem), j)
        for j in jobs
        if j.source.path is not None and j.source.root is not None
    )
    kept = []
    for job in jobs:
        path = job.source.path
        maker = writes.get(identity(path)) if path is not None else None
        if maker is None and path is not None and job.source.root is not None:
            base = _earlier_output_of(path.stem, suffix)
            maker = by_stem.get((real(path.parent), base)) if base else None
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
    elif replaceable and identity(dst) in inputs and not opts.overwrite:
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
