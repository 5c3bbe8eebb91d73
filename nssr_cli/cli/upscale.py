"""``nssr upscale``: files, folders and streams, through the batch planner and runner."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from nssr_cli.cli.common import Device, err, quiet_broken_pipe, silence_stdout
from nssr_cli.cli.report import UpscaleReport, summarize
from nssr_cli.errors import NssrError, UsageError
from nssr_cli.synth.levels import LEVELS

# The --blur choices: auto, then the bank's levels (named once, in nssr_cli.synth.levels).
Blur = Enum("Blur", {name: name for name in ("auto", *LEVELS)}, type=str)  # type: ignore[misc]

_Str = Optional[str]  # noqa: UP045 (typer needs a runtime type here on Python 3.10)


def upscale(
    inputs: Annotated[
        list[str],
        typer.Argument(help="Image files, folders or globs; '-' reads stdin.", metavar="PATH"),
    ],
    scale: Annotated[float, typer.Option("-s", "--scale", help="Scale factor, 1–16.")] = 2.0,
    output: Annotated[
        _Str,
        typer.Option(
            "-o", "--output", help="Output file, folder (mirrors input folders), or '-' (stdout)."
        ),
    ] = None,
    fmt: Annotated[
        _Str,
        typer.Option(
            "-f", "--format", help="Output format (png, jpeg, webp, tiff…) if -o has no extension."
        ),
    ] = None,
    kernel: Annotated[
        _Str, typer.Option(help="dil, bicubic, x2-medium… or a .npy path \\[default: per image].")
    ] = None,
    blur: Annotated[Blur, typer.Option(help="Blur of the inputs, without --kernel.")] = Blur.auto,
    device: Annotated[Device, typer.Option(help="Where to compute.")] = Device.auto,
    tile: Annotated[
        int | None,
        typer.Option(  # noqa: UP045
            min=16, help="Output tile side in pixels (bounds memory)."
        ),
    ] = None,
    quality: Annotated[int, typer.Option(min=1, max=100, help="JPEG/WebP quality.")] = 95,
    suffix: Annotated[_Str, typer.Option(help="Output name suffix \\[default: _x<S>].")] = None,
    recursive: Annotated[bool, typer.Option("-r", "--recursive", help="Take subfolders.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace outputs.")] = False,
    skip_existing: Annotated[
        bool,
        typer.Option("--skip-existing", help="Skip inputs whose output exists (resume a batch)."),
    ] = False,
    jobs: Annotated[
        int, typer.Option("-j", "--jobs", min=1, max=32, help="Decode/encode threads.")
    ] = 2,
    max_pixels: Annotated[
        int,
        typer.Option(min=1, help="Refuse inputs with more pixels, all frames together (bombs)."),
    ] = 90_000_000,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON object per file.")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress or summary.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Report every file.")] = False,
    ray: Annotated[
        _Str,
        typer.Option(
            "--ray",
            metavar="ADDRESS",
            help="Run on a Ray cluster, a task per file: 'local' (start Ray here), 'auto' "
            "(RAY_ADDRESS) or HOST:PORT. Paths must be on a shared filesystem. Needs nssr\\[ray].",
        ),
    ] = None,
    gpus_per_worker: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            min=0, help="With --ray: GPUs per file's task \\[default: 1 if the cluster has GPUs]."
        ),
    ] = None,
) -> None:
    """Upscale images: bicubic plus one learned inverse-blur convolution (alpha: bicubic only).

    Examples: [bold]nssr upscale photo.jpg -s 2[/bold] (writes photo_x2.jpg);
    [bold]nssr upscale shots/ -r -o big/ -f png[/bold];
    [bold]cat a.png | nssr upscale - -o - > b.png[/bold];
    [bold]nssr upscale /shared/in -r -o /shared/out --ray auto[/bold]
    """
    options = UpscaleOptions(
        inputs, scale, output, fmt, kernel, blur.value, device.value, tile, quality, suffix,
        recursive, overwrite, skip_existing, jobs, max_pixels, as_json, quiet, verbose, ray,
        gpus_per_worker,
    )  # fmt: skip
    with _stop_cleanly(as_json):
        run_upscale(options)


@dataclass(frozen=True)
class UpscaleOptions:
    """The parsed options of ``nssr upscale`` (see its help for each)."""

    inputs: list[str]
    scale: float
    output: str | None
    fmt: str | None
    kernel: str | None
    blur: str
    device: str
    tile: int | None
    quality: int
    suffix: str | None
    recursive: bool
    overwrite: bool
    skip_existing: bool
    jobs: int
    max_pixels: int
    as_json: bool
    quiet: bool
    verbose: bool
    ray: str | None = None  # a Ray cluster's address (or local / auto): run there
    gpus_per_worker: float | None = None


def run_upscale(o: UpscaleOptions) -> None:
    """Plan the batch (refusing what must be refused before any work), then run it."""
    from nssr_cli.batch import plan as planning
    from nssr_cli.batch import run as running
    from nssr_cli.batch.pipeline import BatchRun
    from nssr_cli.engine.device import resolve_device
    from nssr_cli.engine.geometry import check_scale
    from nssr_cli.files.decode import configure_limits

    check_scale(o.scale)
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
    settings = running.Settings(
        o.quality, o.max_pixels, o.jobs, scale=o.scale, overwrite=o.overwrite
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
    and the reader of stdout going away → quiet exit 0 after an image (``-o - | head -c``),
    but exit 1 for ``--json``: the batch stopped early and must not look like a success."""
    from nssr_cli.errors import Terminated

    try:
        yield
    except KeyboardInterrupt as exc:
        raise _Stopped(
            "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted",
            143 if isinstance(exc, Terminated) else 130,
        ) from None
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
