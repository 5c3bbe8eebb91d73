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

from nssr_cli.cli.common import Device, emit_json, err, quiet_broken_pipe
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
        _Str, typer.Option(help="Built-in kernel name or .npy path [default: chosen per image].")
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
        int, typer.Option(min=1, help="Refuse larger inputs (decompression bombs).")
    ] = 90_000_000,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON object per file.")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress or summary.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Report every file.")] = False,
) -> None:
    """Upscale images: bicubic plus one learned inverse-blur convolution (alpha: bicubic only).

    Examples: [bold]nssr upscale photo.jpg -s 2[/bold] (writes photo_x2.jpg);
    [bold]nssr upscale shots/ -r -o big/ -f png[/bold];
    [bold]cat a.png | nssr upscale - -o - > b.png[/bold]
    """
    options = UpscaleOptions(
        inputs, scale, output, fmt, kernel, blur.value, device.value, tile, quality, suffix,
        recursive, overwrite, skip_existing, jobs, max_pixels, as_json, quiet, verbose,
    )  # fmt: skip
    with _stop_cleanly():
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


def run_upscale(o: UpscaleOptions) -> None:
    """Plan the batch (refusing what must be refused before any work), then run it."""
    from nssr_cli.batch import plan as planning
    from nssr_cli.batch import run as running
    from nssr_cli.engine.device import resolve_device
    from nssr_cli.engine.geometry import check_scale
    from nssr_cli.files.decode import configure_limits

    check_scale(o.scale)
    found = planning.expand_inputs(
        o.inputs, recursive=o.recursive, exclude=_output_folder(o.output)
    )
    batch_options = planning.Options(
        o.scale, o.output, o.suffix, o.fmt, o.recursive, o.overwrite, o.skip_existing
    )
    jobs = planning.plan(found.sources, batch_options)
    _check_streams(jobs, o.as_json)
    if o.verbose:
        for why in found.ignored:
            err.print(f"ignored {why}", markup=False)
        if o.kernel and o.blur != "auto":
            err.print(f"--kernel {o.kernel} given: --blur {o.blur} is not used", markup=False)
    upscaler = running.Upscaler(o.scale, o.kernel, o.blur, resolve_device(o.device), o.tile)
    configure_limits(o.max_pixels)
    settings = running.Settings(o.quality, o.max_pixels, o.jobs)
    bar = not o.quiet and err.is_terminal
    with _UpscaleReport(len(jobs), as_json=o.as_json, verbose=o.verbose, bar=bar) as report:
        runner = running.BatchRun(
            upscaler, report, settings, stdin=sys.stdin.buffer, stdout=sys.stdout.buffer
        )
        results = runner.run(jobs)
    _summary(results, quiet=o.quiet)


class _Interrupted(NssrError):
    exit_code = 130


@contextmanager
def _stop_cleanly() -> Iterator[None]:
    """Ctrl-C → exit 130 and a closed stdout pipe → quiet exit 0, without relying on the
    framework (which turns both into return values or exit 1)."""
    try:
        yield
    except KeyboardInterrupt:
        raise _Interrupted(
            "interrupted: finished outputs were kept, the one in progress "
            "was removed; rerun with --skip-existing to resume"
        ) from None
    except BrokenPipeError:
        quiet_broken_pipe()


def _output_folder(output: str | None) -> Path | None:
    return Path(output) if output and output != "-" else None


def _check_streams(plan: list[Any], as_json: bool) -> None:
    to_stdout = any(job.output is None for job in plan)
    if to_stdout and as_json:
        raise UsageError("--json and -o - both need stdout; write the image to a file instead")
    if to_stdout and sys.stdout.isatty():
        raise UsageError(
            "refusing to write image bytes to a terminal; redirect (> out.png) "
            "or pipe stdout, or give -o FILE"
        )


class _UpscaleReport:
    """Per-file reporting for ``upscale``: errors, -v lines, --json objects and the progress bar."""

    def __init__(self, total: int, *, as_json: bool, verbose: bool, bar: bool) -> None:
        self.total, self.as_json, self.verbose, self.bar = total, as_json, verbose, bar
        self.progress: Any = None
        self.megapixels = 0.0
        self.start = 0.0

    def __enter__(self) -> _UpscaleReport:
        import time

        self.start = time.perf_counter()
        if self.bar:
            from rich import progress as rp

            self.progress = rp.Progress(
                rp.TextColumn("upscaling"),
                rp.BarColumn(),
                rp.MofNCompleteColumn(),
                rp.TextColumn("{task.fields[rate]}"),
                rp.TimeRemainingColumn(),
                console=err,
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task("upscale", total=self.total, rate="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, res: Any) -> None:
        import time

        if res.status == "failed":
            err.print(f"Error: {res.error}", markup=False)
        elif self.verbose:
            k = res.kernel
            blur = f", blur {k['blur']}" if k and k["blur"] else ""
            if k and (k.get("blur_info") or {}).get("why"):
                blur += f": {k['blur_info']['why']}"
            how = f" (kernel {k['kernel']}{blur})" if k else ""
            dst = res.job.output or "<stdout>"
            err.print(f"{res.status}: {res.job.source.name} → {dst}{how}", markup=False)
        if self.as_json:
            emit_json(res.to_json())
        if res.output_size:
            self.megapixels += res.output_size[0] * res.output_size[1] / 1e6
        if self.progress is not None:
            rate = self.megapixels / max(time.perf_counter() - self.start, 1e-6)
            self.progress.update(self.task, advance=1, rate=f"{rate:.1f} MP/s")


def _summary(results: list[Any], *, quiet: bool) -> None:
    kinds = ("done", "skipped", "failed", "not attempted")
    counts = {k: sum(r.status == k for r in results) for k in kinds}
    bad = counts["failed"] + counts["not attempted"]
    line = ", ".join(f"{n} {k}" for k, n in counts.items() if n or k == "done")
    if not quiet and (len(results) > 1 or bad):
        err.print(f"{len(results)} file{'s' * (len(results) != 1)}: {line}", markup=False)
    if bad:
        plural = "s" * (len(results) != 1)
        raise NssrError(f"{bad} of {len(results)} file{plural} not upscaled (see above)")
