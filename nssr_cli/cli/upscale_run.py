"""What ``nssr upscale`` does, without Typer: the parsed options, planning, running, streams.

Both ways in share it: the Typer command (:mod:`nssr_cli.cli.upscale`) and the fast path that
parses a plain ``nssr upscale`` without importing Typer (:mod:`nssr_cli.cli.quick`).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nssr_cli.cli.common import err, quiet_broken_pipe, refuse_empty, silence_stdout
from nssr_cli.cli.report import UpscaleReport, summarize
from nssr_cli.errors import NssrError, UsageError
from nssr_cli.synth.levels import LEVELS

# The --blur choices: auto, then the bank's levels (named once, in nssr_cli.synth.levels).
BLURS = ("auto", *LEVELS)


@dataclass(frozen=True)
class UpscaleOptions:
    """The parsed options of ``nssr upscale`` (see its help for each), with their defaults: the
    Typer command and the fast parser both take them from here."""

    inputs: list[str]
    scale: float = 2.0
    output: str | None = None
    fmt: str | None = None
    kernel: str | None = None
    blur: str = "auto"
    device: str = "auto"
    tile: int | None = None
    quality: int | None = None  # None: 95, and a lossless WebP stays lossless
    suffix: str | None = None
    recursive: bool = False
    overwrite: bool = False
    skip_existing: bool = False
    jobs: int | None = None  # decode/encode threads: 2 unless given (not with --ray)
    max_pixels: int = 90_000_000
    as_json: bool = False
    quiet: bool = False
    verbose: bool = False
    ray: str | None = None  # a Ray cluster's address (or local / auto): run there
    gpus_per_worker: float | None = None


DEFAULT = UpscaleOptions(inputs=[])


def upscale_command(o: UpscaleOptions) -> None:
    """``nssr upscale`` with options ``o``, however they were parsed: Ctrl-C, SIGTERM and a
    reader closing stdout become their errors (exit 130, 143, quiet 0)."""
    with _stop_cleanly(o.as_json):
        run_upscale(o)


def run_upscale(o: UpscaleOptions) -> None:
    """Plan the batch (refusing what must be refused before any work), then run it."""
    # One BLAS thread: the upscale path multiplies no large matrices (OpenCV convolves, with
    # its own threads), and OpenBLAS starting a pool per core costs ~0.1 s of CPU per process,
    # which `xargs -n1 nssr upscale` pays per file. Only before NumPy loads; a user's own
    # setting wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from nssr_cli.batch import plan as planning
    from nssr_cli.batch import run as running
    from nssr_cli.batch.pipeline import BatchRun
    from nssr_cli.engine.device import resolve_device
    from nssr_cli.engine.geometry import check_scale
    from nssr_cli.files.decode import configure_limits

    check_scale(o.scale)
    if o.gpus_per_worker is not None and not 0 <= o.gpus_per_worker < math.inf:  # NaN too
        raise UsageError(f"--gpus-per-worker must be a number ≥ 0, got {o.gpus_per_worker}")
    if o.ray is None and o.gpus_per_worker is not None:
        raise UsageError(
            "--gpus-per-worker sets the GPUs of each file's task on a Ray cluster; it applies "
            "with --ray only: add --ray, or leave it out"
        )
    if o.ray is not None and o.jobs is not None:
        raise UsageError(
            "-j does not apply with --ray: each task works on one file, and the cluster runs "
            "as many at once as it has CPUs (or GPU shares, --gpus-per-worker); leave out -j"
        )
    for flag, value in (("-o", o.output), ("--kernel", o.kernel), ("-f", o.fmt)):
        refuse_empty(flag, value)
    if o.kernel and o.blur != "auto":
        # Both choose the kernel; dropping one silently would give a result nobody asked for.
        raise UsageError(
            f"--kernel {o.kernel} and --blur {o.blur} both choose the kernel; give one of them"
        )
    found = planning.expand_inputs(
        o.inputs, recursive=o.recursive, exclude=_output_folder(o.output)
    )
    batch_options = planning.Options(
        o.scale, o.output, o.suffix, o.fmt, o.recursive, o.overwrite, o.skip_existing
    )
    jobs = planning.plan(found.sources, batch_options, found.ignored)
    stdin, stdout = _check_streams(jobs, o.as_json)
    if o.verbose:
        for why in found.ignored:
            err.print(f"ignored {why}", markup=False)
    # On a cluster each worker resolves the device (its own GPU, or none).
    device = o.device if o.ray is not None else resolve_device(o.device)
    upscaler = running.Upscaler(o.scale, o.kernel, o.blur, device, o.tile)
    configure_limits(o.max_pixels)
    threads = o.jobs or running.Settings.workers
    settings = running.Settings(
        o.quality, o.max_pixels, threads, scale=o.scale, overwrite=o.overwrite
    )
    bar = not o.quiet and err.is_terminal
    if o.ray is not None:
        results = _run_on_ray(o, jobs, upscaler, settings, bar)
    else:
        with UpscaleReport(len(jobs), as_json=o.as_json, verbose=o.verbose, bar=bar) as report:
            results = BatchRun(upscaler, report, settings, stdin=stdin, stdout=stdout).run(jobs)
    if stdout is not None and any(r.status != "done" for r in results):
        silence_stdout()  # what the failed write left buffered must not fail again at exit
    summarize(results, quiet=o.quiet)


def _run_on_ray(o: UpscaleOptions, jobs: list[Any], upscaler: Any, settings: Any, bar: bool) -> Any:
    """The same plan, one Ray task per file; results (and the bar) as files finish."""
    from nssr_cli.batch import cluster

    cluster.check_files(jobs)
    with _stdout_for_this_thread(), cluster.connect(o.ray) as ray:
        using = cluster.resources(ray, o.device, o.gpus_per_worker)
        with UpscaleReport(len(jobs), as_json=o.as_json, verbose=o.verbose, bar=bar) as report:
            return cluster.run(jobs, upscaler, settings, report, using=using)


@contextmanager
def _stdout_for_this_thread() -> Iterator[None]:
    """Ray's driver prints cluster events ("a worker died…") on ``sys.stdout`` from a thread of
    its own; stdout carries data only, so while Ray runs, other threads' writes go to stderr."""
    import threading

    data, owner = sys.stdout, threading.get_ident()

    class Router:
        def __getattr__(self, name: str) -> Any:
            return getattr(data if threading.get_ident() == owner else sys.stderr, name)

    sys.stdout = Router()  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout = data


@contextmanager
def _stop_cleanly(as_json: bool) -> Iterator[None]:
    """Ctrl-C → exit 130, SIGTERM → 143 (before the batch starts; the batch says what it kept),
    and the reader of stdout going away → quiet exit 141 during an image (``-o - | head -c``),
    as ``cat`` would, or exit 1 with a line for ``--json``: either way not a success."""
    from nssr_cli.errors import interruption

    try:
        yield
    except KeyboardInterrupt as exc:
        raise _Stopped(*interruption(exc)) from None
    except BrokenPipeError:
        if not as_json:
            quiet_broken_pipe()
        silence_stdout()
        raise NssrError(
            "standard output was closed by its reader (e.g. | head); the batch stopped "
            "there: finished outputs were kept, rerun with --skip-existing to resume"
        ) from None


class _Stopped(NssrError):
    """Interrupted outside the batch's run (planning, loading the kernel, the summary)."""

    def __init__(self, how: str, exit_code: int) -> None:
        super().__init__(f"{how}: no output was being written; finished ones are kept")
        self.exit_code = exit_code


def _output_folder(output: str | None) -> Path | None:
    return Path(output) if output and output != "-" else None


def _check_streams(plan: list[Any], as_json: bool) -> tuple[Any, Any]:
    """The binary stdin and stdout the batch needs (``None`` where it needs none), refusing a
    closed stream, and a terminal where image bytes would go (or come from)."""
    to_stdout = any(job.output is None for job in plan)
    from_stdin = any(job.source.path is None for job in plan)
    if to_stdout and as_json:
        raise UsageError("--json and -o - both need stdout; write the image to a file instead")
    if (to_stdout or as_json) and sys.stdout is None:
        raise UsageError("standard output is closed (>&-); give -o FILE, or open it")
    if from_stdin and sys.stdin is None:
        raise UsageError("standard input is closed (<&-); pipe an image in, or name a file")
    if to_stdout and sys.stdout.isatty():
        raise UsageError(
            "refusing to write image bytes to a terminal; redirect (> out.png) "
            "or pipe stdout, or give -o FILE"
        )
    if from_stdin and sys.stdin.isatty():
        raise UsageError(
            "refusing to read an image from a terminal; pipe one in (< photo.png) or name the file"
        )
    return (
        sys.stdin.buffer if from_stdin else None,
        sys.stdout.buffer if to_stdout else None,
    )
