"""``nssr upscale``'s Typer declaration: its options and help. What it does is
:mod:`nssr_cli.cli.upscale_run` (which also serves the fast path, :mod:`nssr_cli.cli.quick`)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from nssr_cli.cli.common import Device
from nssr_cli.cli.upscale_run import BLURS, DEFAULT, UpscaleOptions, upscale_command

# The --blur choices: auto, then the bank's levels (named once, in nssr_cli.synth.levels).
Blur = Enum("Blur", {name: name for name in BLURS}, type=str)  # type: ignore[misc]

_Str = Optional[str]  # noqa: UP045 (typer needs a runtime type here on Python 3.10)


def upscale(
    inputs: Annotated[
        list[str],
        typer.Argument(help="Image files, folders or globs; '-' reads stdin.", metavar="PATH"),
    ],
    scale: Annotated[
        float, typer.Option("-s", "--scale", help="Scale factor, 1–16.")
    ] = DEFAULT.scale,
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
    blur: Annotated[Blur, typer.Option(help="Blur of the inputs, without --kernel.")] = Blur(
        DEFAULT.blur
    ),
    device: Annotated[Device, typer.Option(help="Where to compute.")] = Device(DEFAULT.device),
    tile: Annotated[
        int | None,
        typer.Option(  # noqa: UP045
            min=16, help="Output tile side in pixels (bounds memory)."
        ),
    ] = None,
    quality: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            min=1,
            max=100,
            help="JPEG/WebP quality \\[default: 95; a lossless WebP stays lossless without it].",
        ),
    ] = DEFAULT.quality,
    suffix: Annotated[_Str, typer.Option(help="Output name suffix \\[default: _x<S>].")] = None,
    recursive: Annotated[bool, typer.Option("-r", "--recursive", help="Take subfolders.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace outputs.")] = False,
    skip_existing: Annotated[
        bool,
        typer.Option("--skip-existing", help="Skip inputs whose output exists (resume a batch)."),
    ] = False,
    jobs: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "-j",
            "--jobs",
            min=1,
            max=32,
            help="Decode/encode threads \\[default: 2]; not with --ray.",
        ),
    ] = DEFAULT.jobs,
    max_pixels: Annotated[
        int,
        typer.Option(min=1, help="Refuse inputs with more pixels, all frames together (bombs)."),
    ] = DEFAULT.max_pixels,
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
    upscale_command(options)
