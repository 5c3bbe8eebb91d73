"""``nssr train`` and ``nssr export-kernel``: fit an L-CNN (or solve a kernel), collapse it."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from nssr_cli import __version__
from nssr_cli.cli.common import (
    Device,
    check_json_stdout,
    check_outputs,
    emit_json,
    err,
    file_option,
)
from nssr_cli.errors import UsageError


def train(
    output: Annotated[str, typer.Option("-o", "--output", help="Checkpoint to write.")] = "lcnn.pt",
    objective: Annotated[
        str,
        typer.Option(
            help="Training objective: dil (the paper's, on a Random Kernel Gallery) or scenes "
            "(a bank kernel: image-free scenes at --scale and --blur)."
        ),
    ] = "dil",
    kernels: Annotated[int, typer.Option(help="Kernels in the Random Kernel Gallery.")] = 3200,
    kernel_size: Annotated[int, typer.Option(help="Side of each gallery kernel (odd).")] = 21,
    sigma_min: Annotated[float, typer.Option(help="Smallest Gaussian σ in the gallery.")] = 0.175,
    sigma_max: Annotated[float, typer.Option(help="Largest Gaussian σ in the gallery.")] = 6.0,
    depth: Annotated[int, typer.Option(help="L-CNN layers (3×3 each).")] = 5,
    width: Annotated[int, typer.Option(help="L-CNN channels per hidden layer.")] = 32,
    epochs: Annotated[int, typer.Option(help="Passes over the gallery.")] = 50,
    lambda_area: Annotated[float, typer.Option(help="Weight of |1 − Σh| (λ₁).")] = 0.8,
    lambda_center: Annotated[
        float, typer.Option(help="Weight of |1 − (K⊛h)\\[centre]| (λ₂).")
    ] = 0.2,
    lr: Annotated[
        float, typer.Option(help="Adam learning rate (the paper's 0.1 diverges).")
    ] = 2e-3,
    batch_size: Annotated[int, typer.Option(help="Kernels per optimiser step.")] = 32,
    seed: Annotated[int, typer.Option(help="Seed for the gallery and the initial weights.")] = 0,
    scale: Annotated[
        int | None,
        typer.Option(help="Upscale factor the scenes objective targets: 2, 3 or 4 \\[default: 2]."),
    ] = None,
    blur: Annotated[
        str | None,
        typer.Option(
            help="Prior (scenes): a blur level (none, light, medium, heavy, div2krk), "
            "optionally with -q95/-q85/-q75 (JPEG) or -n2/-n5 (noise), e.g. none-q85 "
            "\\[default: medium]."
        ),
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
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing output file.")
    ] = False,
) -> None:
    """Train the L-CNN with Deep Identity Learning on a fresh Random Kernel Gallery.

    Example: [bold]nssr train -o lcnn.pt[/bold]  (the shipped default, a few minutes on a CPU)
    """
    from nssr_cli.dil.config import TrainConfig
    from nssr_cli.dil.model import LCNN, LCNNConfig
    from nssr_cli.dil.training import check_config, check_seed, checkpoint_payload
    from nssr_cli.dil.training import train as run_training
    from nssr_cli.engine.device import resolve_device
    from nssr_cli.kernels.checkpoints import save_checkpoint
    from nssr_cli.kernels.files import KERNEL_EXTENSIONS, kernel_outputs

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
    check_config(config, solve=solve)
    config = config.resolved()  # what the run makes its kernel for, recorded in the files
    check_seed(seed)
    check_json_stdout(as_json)
    output = file_option(output, "-o", "kernel.npy" if solve else "lcnn.pt")
    if not solve and output.suffix.lower() in KERNEL_EXTENSIONS:
        # A checkpoint under a kernel's name would later be refused by --kernel as binary.
        raise UsageError(
            f"{output}: nssr train writes a checkpoint (.pt); make the kernel file with "
            f"nssr export-kernel --checkpoint CHECKPOINT.pt -o {output.name}, "
            "or add --solve (scenes objective)"
        )
    outputs = kernel_outputs(output, overwrite=overwrite) if solve else [output]
    _require_folders(outputs)
    check_outputs(outputs, overwrite=overwrite)
    if solve:
        _solve_kernel(config, output, seed, as_json, overwrite)
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
    save_checkpoint(output, payload, overwrite=overwrite)
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


def _solve_kernel(config: Any, output: Path, seed: int, as_json: bool, overwrite: bool) -> None:
    """``train --solve``: the objective's exact optimum, written as a kernel with a sidecar."""
    import time

    from nssr_cli.dil.solve import solve_scenes
    from nssr_cli.kernels.files import save_kernel

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
    save_kernel(kernel, output, meta, overwrite=overwrite)
    err.print(
        f"solved in {seconds:.1f} s: mse {metrics['mse']:.6f}, "
        f"area {metrics['area']:.4f} → {output}"
    )
    if as_json:
        emit_json({"kernel": str(output), "seconds": seconds, "seed": seed, **meta})


@contextmanager
def _train_progress(epochs: int, *, enabled: bool) -> Iterator[Any]:
    """Progress on stderr fed by ``train``'s ``on_step`` callback: a rich bar on a terminal;
    elsewhere (``2> train.log``, a pipe) plain lines, :func:`_epoch_lines`."""
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
    if not err.is_terminal:  # a bar there is only its last frame, cut to 80 columns
        yield _epoch_lines(epochs)
        return
    columns = (
        TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"),
        BarColumn(),
        TextColumn("{task.fields[terms]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err.console, transient=False) as bar:
        task = bar.add_task("train", total=None, epoch=0, epochs=epochs, terms="")

        def on_step(info: Any) -> None:
            total = epochs * info.steps_per_epoch
            done = info.epoch * info.steps_per_epoch + info.step + 1
            terms = " ".join(f"{k} {v:.4f}" for k, v in info.terms.items())
            bar.update(task, total=total, completed=done, epoch=info.epoch + 1, terms=terms)

        yield on_step


def _epoch_lines(epochs: int) -> Callable[[Any], None]:
    """An ``on_step`` that logs one whole line per epoch, its mean loss and terms (for a long
    run every ``⌈epochs/100⌉``-th epoch and the last: at most about 100 lines)."""
    every = -(-epochs // 100)

    def on_step(info: Any) -> None:
        n = info.epoch + 1
        if info.step + 1 < info.steps_per_epoch or (n % every and n != epochs):
            return
        terms = "  ".join(f"{k} {v:.5f}" for k, v in info.terms.items())
        err.print(f"epoch {n}/{epochs}: {terms}", markup=False)

    return on_step


def _model_config(cls: Any, depth: int, width: int) -> Any:
    try:
        return cls(depth=depth, width=width)
    except ValueError as exc:  # the model's own words name depth or width, not the options
        raise UsageError(f"--depth {depth}, --width {width}: {exc}") from None


def export_kernel(
    checkpoint: Annotated[
        Path | None, typer.Option(help="L-CNN checkpoint (default: the shipped one).")
    ] = None,
    output: Annotated[
        str | None,
        typer.Option("-o", "--output", help="Write the kernel: .npy, .txt or .json."),
    ] = None,
    plot: Annotated[
        str | None, typer.Option(help="Draw the kernel and its frequency response to a PNG.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary on stdout.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace existing output files.")
    ] = False,
) -> None:
    """Collapse an L-CNN into its single 11×11 convolution kernel, cache it, and export it.

    Example: [bold]nssr export-kernel --checkpoint lcnn.pt -o kernel.npy --plot kernel.png[/bold]
    """
    from nssr_cli.kernels.export import export_kernel as collapse_checkpoint
    from nssr_cli.kernels.files import kernel_outputs, save_kernel, shipped_checkpoint

    check_json_stdout(as_json)
    output = file_option(output, "-o", "kernel.npy")
    plot = file_option(plot, "--plot", "kernel.png")
    if plot is not None and plot.suffix.lower() != ".png":
        raise UsageError(f"--plot {plot}: the drawing is a PNG; name it .png")
    targets = [
        *(kernel_outputs(output, overwrite=overwrite) if output else []),
        *([plot] if plot else []),
    ]
    _require_folders(targets)
    check_outputs(targets, overwrite=overwrite)
    exported = collapse_checkpoint(checkpoint or shipped_checkpoint())
    written = (
        save_kernel(exported.kernel, output, exported.meta, overwrite=overwrite) if output else []
    )
    if plot:
        from nssr_cli.files.atomic import publish
        from nssr_cli.kernels.plot import kernel_figure

        buf = io.BytesIO()
        kernel_figure(
            exported.kernel, title=f"nssr kernel from {exported.meta['checkpoint']}"
        ).save(buf, "PNG")
        publish(plot, buf.getvalue(), overwrite=overwrite)
        written.append(plot)
    s = exported.summary
    err.print(
        f"kernel {s['size']}×{s['size']}: area {s['area']:.4f}, centre tap "
        f"{s['centre_tap']:.4f}, range [{s['min']:.4f}, {s['max']:.4f}]"
    )
    if exported.cache_path is not None:
        cached = " (read from cache)" if exported.from_cache else ""
        err.print(f"cached: {exported.cache_path}{cached}", markup=False)
    for p in written:
        err.print(f"wrote {p}", markup=False)
    if as_json:
        cache = None if exported.cache_path is None else str(exported.cache_path)
        emit_json({**s, "cache": cache, "written": [str(p) for p in written]})


def _require_folders(paths: list[Path]) -> None:
    """Outputs go into existing folders only (a mistyped folder is not created): a usage error
    before any work, naming the folder."""
    for path in paths:
        if not path.parent.is_dir():
            why = "is not a folder" if path.parent.exists() else "no such folder"
            raise UsageError(f"{path.parent}: {why} (for {path}); create it first")
