"""``nssr eval``: the quality benchmark on HR photos."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from nssr_cli.cli.common import Device, check_json_stdout, emit_json, err, refuse_empty
from nssr_cli.cli.upscale_run import DEFAULT
from nssr_cli.errors import NssrError, UsageError


class Protocol(str, Enum):
    div2krk = "div2krk"
    classic = "classic"
    both = "both"
    jpeg = "jpeg"
    noisy = "noisy"
    all = "all"
    downscalers = "downscalers"


def evaluate(
    paths: Annotated[list[Path], typer.Argument(help="HR images or folders of them.")],
    kernel: Annotated[
        list[str] | None,
        typer.Option(
            "--kernel",
            "-k",
            help="Method to compare with bicubic, repeatable: a blur level (auto, none, "
            "light, medium, heavy), a kernel name (dil, x2-medium, …) or a .npy \\[default: auto].",
        ),
    ] = None,
    scale: Annotated[
        list[int] | None,
        typer.Option("--scale", "-s", help="Scale, 2, 3 or 4 (repeatable) \\[default: all three]."),
    ] = None,
    protocol: Annotated[
        Protocol,
        typer.Option(
            help="How each HR photo is made small: div2krk (a random anisotropic Gaussian blur, "
            "then every s-th pixel), classic (Pillow's bicubic downscale), both; jpeg or noisy: "
            "both, then JPEG at quality 75/85/95 or noise σ 2/5; all: every one of those; "
            "downscalers: sharp by Pillow's bilinear, hamming, lanczos and box filters."
        ),
    ] = Protocol.both,
    oracle: Annotated[
        bool,
        typer.Option(
            help="Also score the best bank kernel per image (oracle) and the best of what auto "
            "may choose for it (reach): both see the HR."
        ),
    ] = True,
    compare: Annotated[
        Path | None, typer.Option(help="Write side-by-side PNG crops into this folder.")
    ] = None,
    device: Annotated[Device, typer.Option(help="Where to upscale.")] = Device.cpu,
    max_pixels: Annotated[
        int, typer.Option(min=1, help="Refuse images with more pixels, as upscale does (bombs).")
    ] = DEFAULT.max_pixels,
    as_json: Annotated[bool, typer.Option("--json", help="All scores as JSON on stdout.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Per-image scores too.")] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace existing --compare crops.")
    ] = False,
) -> None:
    """Score bicubic and kernels on HR photos: degrade, upscale back, Y-channel PSNR/SSIM.

    Example: [bold]nssr eval photos/ --kernel dil --kernel auto[/bold]
    """
    from rich.table import Table

    from nssr_cli.files.decode import configure_limits
    from nssr_cli.quality.evaluation import evaluate as run_eval
    from nssr_cli.quality.protocols import protocol_names
    from nssr_cli.quality.scores import ORACLES

    check_json_stdout(as_json)
    scales = scale or [2, 3, 4]
    if any(s not in (2, 3, 4) for s in scales):
        raise UsageError("the benchmark protocols are defined for scales 2, 3 and 4")
    for k in kernel or []:  # `-k "$K"` with K unset
        refuse_empty("--kernel", k)
    protocols = protocol_names(protocol.value)
    methods = ["bicubic", *(kernel or ["auto"])]
    configure_limits(max_pixels)
    report = run_eval(
        paths,
        scales=scales,
        protocols=protocols,
        methods=methods,
        device=device.value,
        compare_dir=compare,
        overwrite=overwrite,
        on_error=lambda message: err.print(f"Error: {message}", markup=False),
        with_oracle=oracle,
        max_pixels=max_pixels,
    )
    table = Table(title="Y-channel PSNR (dB) / SSIM, border cropped")
    extra = ["image", "kernel"] if verbose else []
    for col in ("protocol", "scale", "method", *extra, "PSNR", "SSIM"):
        right = col in ("PSNR", "SSIM", "scale")  # text wraps rather than being cut: "classi…"
        table.add_column(col, justify="right" if right else "left", overflow="fold")
    rows = [{**r, "image": "mean", "kernel": ""} for r in report.means()]
    if verbose:
        rows += [{**vars(r)} for r in report.scores]
    shown = {c: _short_names(r[c] for r in rows) for c in ("method", "kernel")}
    for r in rows:
        cells = [shown.get(c, {}).get(r[c], r[c]) for c in extra]
        table.add_row(
            r["protocol"],
            f"×{r['scale']}",
            shown["method"][r["method"]],
            *cells,
            f"{r['psnr']:.2f}",
            f"{r['ssim']:.4f}",
        )
    if report.scores:
        err.print(table)
    summary = report.summary()
    oracles = [o for o in ORACLES if any(r[o] is not None for r in summary)]  # --no-oracle: none
    gains = Table(
        title="Gain over bicubic (Y PSNR dB): mean, worst image" + (", oracles" if oracles else "")
    )
    for col in ("protocol", "scale", "method", "mean", "SSIM", "worst", "image", *oracles):
        left = col in ("protocol", "method", "image")
        gains.add_column(col, justify="left" if left else "right", overflow="fold")
    methods = _short_names(r["method"] for r in summary)
    for r in summary:
        gains.add_row(
            r["protocol"],
            f"×{r['scale']}",
            methods[r["method"]],
            f"{r['gain']:+.2f}",
            f"{r['ssim_gain']:+.4f}",
            f"{r['worst']:+.2f}",
            r["worst_image"],
            *("" if r[o] is None else f"{r[o]:+.2f}" for o in oracles),
        )
    if summary:
        err.print(gains)
    elif report.scores:  # bicubic alone (--no-oracle): a gains table would have no rows
        err.print(
            "no gain over bicubic to show: bicubic is the only method scored; add one to "
            "compare with it (-k auto, -k dil, a kernel file) or leave out --no-oracle",
            markup=False,
        )
    if as_json:
        emit_json(report.to_dict())
    if report.failed or report.skipped_scales:
        n = len(report.failed) + len({s.image for s in report.scores})
        parts = [f"{len(report.failed)} of {n} images could not be scored"] * bool(report.failed)
        if report.skipped_scales:
            parts.append(f"{len(report.skipped_scales)} of {n} not at every scale")
        raise NssrError(f"{', '.join(parts)} (see above)")


def _short_names(names: Iterable[str]) -> dict[str, str]:
    """How a table shows each method or kernel: a kernel file by the fewest last parts of its
    path that tell it from the others (``k.npy``; ``a/k.npy`` beside ``b/k.npy``), so that
    long paths neither fill the table nor get cut to the same ``/home/…``."""
    names = list(dict.fromkeys(names))
    parts = {n: Path(n).parts for n in names}
    out = {}
    for n in names:
        out[n] = n  # when no tail tells it apart (or it has no parts), as given
        for k in range(1, len(parts[n])):
            tail = str(Path(*parts[n][-k:]))
            if not any(m != n and (m == tail or parts[m][-k:] == parts[n][-k:]) for m in names):
                out[n] = tail
                break
    return out
