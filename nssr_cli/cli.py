"""The ``nssr`` command line: parse, resolve, call one core function, report.

The only module that prints or exits. stdout carries data only (images, JSON); messages,
progress and warnings go to stderr. Heavy imports happen inside commands, so ``--help`` is instant.
"""

from __future__ import annotations

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
err = Console(stderr=True, highlight=False)
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
    output: Annotated[Path, typer.Option("-o", "--output", help="Checkpoint to write.")] = Path("lcnn.pt"),
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
    lr: Annotated[float, typer.Option(help="Adam learning rate (the paper's 0.1 diverges).")] = 1e-3,
    batch_size: Annotated[int, typer.Option(help="Kernels per optimiser step.")] = 32,
    seed: Annotated[int, typer.Option(help="Seed for the gallery and the initial weights.")] = 0,
    device: Annotated[Device, typer.Option(help="Where to train.")] = Device.auto,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar.")] = False,
) -> None:
    """Train the L-CNN with Deep Identity Learning on a fresh Random Kernel Gallery.

    Example: [bold]nssr train -o lcnn.pt[/bold]  (the shipped default, a few minutes on a CPU)
    """
    from nssr_cli.engine import resolve_device
    from nssr_cli.model import LCNN, LCNNConfig
    from nssr_cli.training import TrainConfig
    from nssr_cli.store import save_checkpoint
    from nssr_cli.training import checkpoint_payload
    from nssr_cli.training import train as run_training

    config = TrainConfig(
        objective=objective, kernels=kernels, kernel_size=kernel_size, sigma_min=sigma_min,
        sigma_max=sigma_max, model=_model_config(LCNNConfig, depth, width), epochs=epochs,
        lambda_area=lambda_area, lambda_center=lambda_center, lr=lr, batch_size=batch_size,
    )
    dev = resolve_device(device.value)
    n_params = LCNN(config.model).num_parameters()
    err.print(f"L-CNN: {config.model.depth} layers, width {config.model.width}, "
              f"{n_params:,} parameters, no bias, no activation; training on {dev}")
    with _train_progress(config.epochs, enabled=not quiet) as on_step:
        result = run_training(config, device=dev, seed=seed, on_step=on_step)
    payload = checkpoint_payload(result, __version__)
    save_checkpoint(output, payload)
    terms = "  ".join(f"{k} {v:.5f}" for k, v in result.final.items() if k != "epoch")
    err.print(f"done in {result.seconds:.1f} s: {terms} → {output}")
    if as_json:
        emit_json({"checkpoint": str(output), "seconds": result.seconds, "seed": seed,
                   "parameters": n_params, "config": config.to_dict(), "final": result.final})


@contextmanager
def _train_progress(epochs: int, *, enabled: bool) -> Iterator[Any]:
    """A rich progress bar on stderr fed by ``train``'s ``on_step`` callback."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    if not enabled:
        yield None
        return
    columns = (TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"), BarColumn(),
               TextColumn("{task.fields[terms]}"), TimeElapsedColumn(), TimeRemainingColumn())
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
        Optional[Path], typer.Option(help="L-CNN checkpoint (default: the shipped one).")
    ] = None,
    output: Annotated[
        Optional[Path], typer.Option("-o", "--output", help="Write the kernel: .npy, .txt or .json.")
    ] = None,
    plot: Annotated[
        Optional[Path], typer.Option(help="Draw the kernel and its frequency response to a PNG.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
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
        kernel_figure(exported.kernel, title=f"nssr kernel from {exported.meta['checkpoint']}").save(buf, "PNG")
        atomic_write_bytes(plot, buf.getvalue())
        written.append(plot)
    s = exported.summary
    err.print(f"kernel {s['size']}×{s['size']}: area {s['area']:.4f}, centre tap "
              f"{s['centre_tap']:.4f}, range [{s['min']:.4f}, {s['max']:.4f}]")
    err.print(f"cached: {exported.cache_path}" + (" (read from cache)" if exported.from_cache else ""))
    for p in written:
        err.print(f"wrote {p}")
    if as_json:
        emit_json({**s, "cache": str(exported.cache_path), "written": [str(p) for p in written]})


def main() -> None:
    """Console entry point: maps errors to messages and exit codes (RELIABILITY.md)."""
    try:
        app(standalone_mode=False)
    except NssrError as exc:
        if _state["debug"]:
            raise
        err.print(f"Error: {exc}", markup=False)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("Interrupted.")
        sys.exit(130)
    except BrokenPipeError:
        _quiet_broken_pipe()
    except Exception as exc:
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):  # Click's usage errors
            exc.show()
            sys.exit(exc.exit_code)
        if _state["debug"]:
            raise
        err.print(f"Error: internal error: {type(exc).__name__}: {exc} (run with --debug "
                  "for the traceback, and please report it)", markup=False)
        sys.exit(1)


def _quiet_broken_pipe() -> None:
    """The reader went away (``| head``): exit quietly without a second EPIPE at shutdown."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(0)
