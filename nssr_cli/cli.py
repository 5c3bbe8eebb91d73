"""The ``nssr`` command line: parse, resolve, call one core function, report.

The only module that prints or exits. stdout carries data only (images, JSON); messages,
progress and warnings go to stderr. Heavy imports happen inside commands, so ``--help`` is instant.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from nssr_cli import __version__
from nssr_cli.errors import NssrError

app = typer.Typer(
    name="nssr",
    help="Null-shot super-resolution: bicubic plus one learned inverse-blur convolution.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
err = Console(stderr=True, highlight=False, soft_wrap=True)
_state: dict[str, bool] = {"debug": False}


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nssr {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    _state["debug"] = debug


def emit_json(obj: Any) -> None:
    """One JSON document on stdout."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


@app.command()
def train(
    output: Annotated[Path, typer.Option("-o", "--output", help="Checkpoint to write.")] = Path(
        "lcnn.pt"
    ),
    objective: Annotated[str, typer.Option(help="Training objective (dil = the paper's).")] = "dil",
    kernels: Annotated[int, typer.Option(help="Kernels in the Random Kernel Gallery.")] = 3200,
    kernel_size: Annotated[int, typer.Option(help="Side of each gallery kernel (odd).")] = 21,
    sigma_min: Annotated[float, typer.Option(help="Smallest Gaussian σ in the gallery.")] = 0.175,
    sigma_max: Annotated[float, typer.Option(help="Largest Gaussian σ in the gallery.")] = 6.0,
    depth: Annotated[int, typer.Option(help="L-CNN layers (3×3 each).")] = 5,
    width: Annotated[int, typer.Option(help="L-CNN channels per hidden layer.")] = 32,
    epochs: Annotated[int, typer.Option(help="Passes over the gallery.")] = 50,
    lambda_area: Annotated[float, typer.Option(help="Weight of |1 − Σh| (λ₁).")] = 0.8,
    lambda_center: Annotated[float, typer.Option(help="Weight of |1 − (K⊛h)[centre]| (λ₂).")] = 0.2,
    lr: Annotated[
        float, typer.Option(help="Adam learning rate (the paper's 0.1 diverges).")
    ] = 2e-3,
    batch_size: Annotated[int, typer.Option(help="Kernels per optimiser step.")] = 32,
    seed: Annotated[int, typer.Option(help="Seed for the gallery and the initial weights.")] = 0,
    scale: Annotated[
        int | None, typer.Option(help="Upscale factor the objective targets (scenes: 2–4).")
    ] = None,
    blur: Annotated[
        str | None, typer.Option(help="Blur prior (scenes: none, light, medium, heavy...).")
    ] = None,
    solve: Annotated[
        bool,
        typer.Option(
            "--solve",
            help="Solve the collapsed kernel by least squares (scenes "
            "objective) and write it as a kernel file: -o takes a .npy path.",
        ),
    ] = False,
    device: Annotated[Device, typer.Option(help="Where to train.")] = Device.auto,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary on stdout.")
    ] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar.")] = False,
) -> None:
    """Train the L-CNN with Deep Identity Learning on a fresh Random Kernel Gallery.

    Example: [bold]nssr train -o lcnn.pt[/bold]  (the shipped default, a few minutes on a CPU)
    """
    from nssr_cli.engine import resolve_device
    from nssr_cli.model import LCNN, LCNNConfig
    from nssr_cli.store import save_checkpoint
    from nssr_cli.training import TrainConfig, checkpoint_payload
    from nssr_cli.training import train as run_training

    config = TrainConfig(
        objective=objective,
        kernels=kernels,
        kernel_size=kernel_size,
        sigma_min=sigma_min,
        sigma_max=sigma_max,
        model=_model_config(LCNNConfig, depth, width),
        epochs=epochs,
        lambda_area=lambda_area,
        lambda_center=lambda_center,
        lr=lr,
        batch_size=batch_size,
        scale=scale,
        blur=blur,
    )
    if solve:
        _solve_kernel(config, output, seed, as_json)
        return
    dev = resolve_device(device.value)
    n_params = LCNN(config.model).num_parameters()
    err.print(
        f"L-CNN: {config.model.depth} layers, width {config.model.width}, "
        f"{n_params:,} parameters, no bias, no activation; training on {dev}"
    )
    with _train_progress(config.epochs, enabled=not quiet) as on_step:
        result = run_training(config, device=dev, seed=seed, on_step=on_step)
    payload = checkpoint_payload(result, __version__)
    save_checkpoint(output, payload)
    terms = "  ".join(f"{k} {v:.5f}" for k, v in result.final.items() if k != "epoch")
    err.print(f"done in {result.seconds:.1f} s: {terms} → {output}")
    if as_json:
        emit_json(
            {
                "checkpoint": str(output),
                "seconds": result.seconds,
                "seed": seed,
                "parameters": n_params,
                "config": config.to_dict(),
                "final": result.final,
            }
        )


def _solve_kernel(config: Any, output: Path, seed: int, as_json: bool) -> None:
    """``train --solve``: the objective's exact optimum, written as a kernel with a sidecar."""
    import time

    from nssr_cli.errors import UsageError
    from nssr_cli.solve import solve_scenes
    from nssr_cli.store import save_kernel

    if config.objective != "scenes":
        raise UsageError("--solve needs --objective scenes (the DIL optimum is not what you want)")
    start = time.perf_counter()
    kernel, metrics = solve_scenes(config, seed)
    seconds = time.perf_counter() - start
    argv = " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("nssr") else None
    meta = {
        "orientation": "convolution",
        "objective": "scenes",
        "solver": "least squares",
        "scale": config.scale,
        "blur": config.blur,
        "pairs": config.kernels,
        "seed": seed,
        "command": f"nssr {argv}" if argv else None,
        "nssr_version": __version__,
        "metrics": metrics,
        "seconds": round(seconds, 1),
    }
    save_kernel(kernel, output, meta)
    err.print(
        f"solved in {seconds:.1f} s: mse {metrics['mse']:.6f}, "
        f"area {metrics['area']:.4f} → {output}"
    )
    if as_json:
        emit_json({"kernel": str(output), "seconds": seconds, "seed": seed, **meta})


@contextmanager
def _train_progress(epochs: int, *, enabled: bool) -> Iterator[Any]:
    """A rich progress bar on stderr fed by ``train``'s ``on_step`` callback."""
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    if not enabled:
        yield None
        return
    columns = (
        TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"),
        BarColumn(),
        TextColumn("{task.fields[terms]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task("train", total=None, epoch=0, epochs=epochs, terms="")

        def on_step(info: Any) -> None:
            total = epochs * info.steps_per_epoch
            done = info.epoch * info.steps_per_epoch + info.step + 1
            terms = " ".join(f"{k} {v:.4f}" for k, v in info.terms.items())
            bar.update(task, total=total, completed=done, epoch=info.epoch + 1, terms=terms)

        yield on_step


def _model_config(cls: Any, depth: int, width: int) -> Any:
    from nssr_cli.errors import UsageError

    try:
        return cls(depth=depth, width=width)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


@app.command("export-kernel")
def export_kernel(
    checkpoint: Annotated[
        Path | None, typer.Option(help="L-CNN checkpoint (default: the shipped one).")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write the kernel: .npy, .txt or .json."),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Draw the kernel and its frequency response to a PNG.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary on stdout.")
    ] = False,
) -> None:
    """Collapse an L-CNN into its single 11×11 convolution kernel, cache it, and export it.

    Example: [bold]nssr export-kernel --checkpoint lcnn.pt -o kernel.npy --plot kernel.png[/bold]
    """
    from nssr_cli.kernels import export_kernel as collapse_checkpoint
    from nssr_cli.store import save_kernel, shipped_checkpoint

    exported = collapse_checkpoint(checkpoint or shipped_checkpoint())
    written = save_kernel(exported.kernel, output, exported.meta) if output else []
    if plot:
        from nssr_cli.plotting import kernel_figure
        from nssr_cli.store import atomic_write_bytes

        buf = io.BytesIO()
        kernel_figure(
            exported.kernel, title=f"nssr kernel from {exported.meta['checkpoint']}"
        ).save(buf, "PNG")
        atomic_write_bytes(plot, buf.getvalue())
        written.append(plot)
    s = exported.summary
    err.print(
        f"kernel {s['size']}×{s['size']}: area {s['area']:.4f}, centre tap "
        f"{s['centre_tap']:.4f}, range [{s['min']:.4f}, {s['max']:.4f}]"
    )
    err.print(
        f"cached: {exported.cache_path}" + (" (read from cache)" if exported.from_cache else "")
    )
    for p in written:
        err.print(f"wrote {p}")
    if as_json:
        emit_json({**s, "cache": str(exported.cache_path), "written": [str(p) for p in written]})


class Blur(str, Enum):
    auto = "auto"
    none = "none"
    light = "light"
    medium = "medium"
    heavy = "heavy"


_Str = Optional[str]  # noqa: UP045 (typer needs a runtime type here on Python 3.10)


@app.command()
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
    from types import SimpleNamespace

    with _stop_cleanly():
        _upscale(SimpleNamespace(**locals()))


def _upscale(a: Any) -> None:
    """The body of ``upscale``; ``a`` holds its parsed options."""
    from nssr_cli import batch, runner
    from nssr_cli.engine import check_scale, resolve_device
    from nssr_cli.imaging import configure_limits

    check_scale(a.scale)
    found = batch.expand_inputs(a.inputs, recursive=a.recursive, exclude=_output_folder(a.output))
    opts = batch.Options(
        a.scale, a.output, a.suffix, a.fmt, a.recursive, a.overwrite, a.skip_existing
    )
    plan = batch.plan(found.sources, opts)
    _check_streams(plan, a.as_json)
    if a.verbose:
        for why in found.ignored:
            err.print(f"ignored {why}", markup=False)
        if a.kernel and a.blur != Blur.auto:
            err.print(f"--kernel {a.kernel} given: --blur {a.blur.value} is not used", markup=False)
    upscaler = runner.Upscaler(
        a.scale, a.kernel, a.blur.value, resolve_device(a.device.value), a.tile
    )
    configure_limits(a.max_pixels)
    settings = runner.Settings(a.quality, a.max_pixels, a.jobs)
    bar = not a.quiet and err.is_terminal
    with _UpscaleReport(len(plan), as_json=a.as_json, verbose=a.verbose, bar=bar) as report:
        results = runner.run(
            plan, upscaler, report, settings, stdin=sys.stdin.buffer, stdout=sys.stdout.buffer
        )
    _summary(results, quiet=a.quiet)


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
        _quiet_broken_pipe()


def _output_folder(output: str | None) -> Path | None:
    return Path(output) if output and output != "-" else None


def _check_streams(plan: list[Any], as_json: bool) -> None:
    from nssr_cli.errors import UsageError

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
    from nssr_cli.errors import NssrError

    kinds = ("done", "skipped", "failed", "not attempted")
    counts = {k: sum(r.status == k for r in results) for k in kinds}
    bad = counts["failed"] + counts["not attempted"]
    line = ", ".join(f"{n} {k}" for k, n in counts.items() if n or k == "done")
    if not quiet and (len(results) > 1 or bad):
        err.print(f"{len(results)} file{'s' * (len(results) != 1)}: {line}", markup=False)
    if bad:
        plural = "s" * (len(results) != 1)
        raise NssrError(f"{bad} of {len(results)} file{plural} not upscaled (see above)")


class Protocol(str, Enum):
    div2krk = "div2krk"
    classic = "classic"
    both = "both"


@app.command("eval")
def evaluate(
    paths: Annotated[list[Path], typer.Argument(help="HR images or folders of them.")],
    kernel: Annotated[
        list[str] | None,
        typer.Option(
            "--kernel",
            "-k",
            help="Method to compare with bicubic, repeatable: a "
            "blur level (auto, none, light, medium, heavy), a kernel name or a .npy.",
        ),
    ] = None,
    scale: Annotated[
        list[int] | None, typer.Option("--scale", "-s", help="Scale (repeatable; 2 3 4).")
    ] = None,
    protocol: Annotated[Protocol, typer.Option(help="Degradation: DESIGN §4.")] = Protocol.both,
    compare: Annotated[
        Path | None, typer.Option(help="Write side-by-side PNG crops into this folder.")
    ] = None,
    device: Annotated[Device, typer.Option(help="Where to upscale.")] = Device.cpu,
    as_json: Annotated[bool, typer.Option("--json", help="All scores as JSON on stdout.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Per-image scores too.")] = False,
) -> None:
    """Score bicubic and kernels on HR photos: degrade, upscale back, Y-channel PSNR/SSIM.

    Example: [bold]nssr eval photos/ --kernel dil --kernel auto[/bold]
    """
    from rich.table import Table

    from nssr_cli.errors import UsageError
    from nssr_cli.evaluation import PROTOCOLS
    from nssr_cli.evaluation import evaluate as run_eval

    scales = scale or [2, 3, 4]
    if any(s not in (2, 3, 4) for s in scales):
        raise UsageError("the benchmark protocols are defined for scales 2, 3 and 4")
    protocols = PROTOCOLS if protocol is Protocol.both else (protocol.value,)
    methods = ["bicubic", *(kernel or ["auto"])]
    report = run_eval(
        paths,
        scales=scales,
        protocols=protocols,
        methods=methods,
        device=device.value,
        compare_dir=compare,
    )
    table = Table(title="Y-channel PSNR (dB) / SSIM, border cropped")
    extra = ["image", "kernel"] if verbose else []
    for col in ("protocol", "scale", "method", *extra, "PSNR", "SSIM"):
        table.add_column(col, justify="right" if col in ("PSNR", "SSIM", "scale") else "left")
    rows = [{**r, "image": "mean", "kernel": ""} for r in report.means()]
    if verbose:
        rows += [{**vars(r)} for r in report.scores]
    for r in rows:
        cells = [r[c] for c in extra]
        table.add_row(
            r["protocol"],
            f"×{r['scale']}",
            r["method"],
            *cells,
            f"{r['psnr']:.2f}",
            f"{r['ssim']:.4f}",
        )
    err.print(table)
    if as_json:
        emit_json(report.to_dict())


def main() -> None:
    """Console entry point: maps errors to messages and exit codes (RELIABILITY.md)."""
    try:
        # Typer returns (not raises) an exit code: Ctrl-C comes back as 130.
        rc = app(standalone_mode=False)
        if rc == 130:
            _exit_interrupted("Interrupted.")
        sys.exit(rc if isinstance(rc, int) else 0)
    except NssrError as exc:
        if _state["debug"]:
            raise
        if exc.exit_code == 130:
            _exit_interrupted(f"Error: {exc}")
        err.print(f"Error: {exc}", markup=False)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _exit_interrupted("Interrupted.")
    except BrokenPipeError:
        _quiet_broken_pipe()
    except Exception as exc:
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):  # Click's usage errors
            exc.show()
            sys.exit(exc.exit_code)
        if _state["debug"]:
            raise
        err.print(
            f"Error: internal error: {type(exc).__name__}: {exc} (run with --debug "
            "for the traceback, and please report it)",
            markup=False,
        )
        sys.exit(1)


def entry() -> None:
    """The ``nssr`` program (and ``python -m nssr_cli``): :func:`main`, then a fast exit.

    Once PyTorch is loaded, the interpreter's teardown takes ~0.5 s of every run, and none of
    it is ours: by the time :func:`main` returns, every output is written, fsynced and renamed
    and every worker thread has finished. So leave with the same exit code, without the
    teardown. (Tests call :func:`main`, which exits normally.)
    """
    try:
        main()
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    if "torch" not in sys.modules:
        sys.exit(code)
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): print it, fail
        err.print(str(code), markup=False)
        code = 1
    _exit_now(code)


def _exit_interrupted(message: str) -> None:
    """Exit 130 right away. A Ctrl-C that lands inside an import (torch's takes seconds) can
    leave a KeyboardInterrupt for interpreter shutdown, which then dies by SIGINT (-2) instead;
    everything worth keeping is already written and fsynced, so skip the shutdown."""
    err.print(message, markup=False)
    _exit_now(130)


def _exit_now(code: int) -> None:
    """Flush what we printed and end the process with ``code``, skipping interpreter shutdown."""
    import os

    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away after the last write: not an error
        pass
    except OSError as exc:
        err.print(f"Error: cannot write to standard output ({exc.strerror or exc})", markup=False)
        code = code or 1
    except Exception:  # a closed stream
        pass
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(code)


def _quiet_broken_pipe() -> None:
    """The reader went away (``| head``): exit quietly without a second EPIPE at shutdown."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(0)
