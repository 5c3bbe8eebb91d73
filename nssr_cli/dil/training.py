"""The training loop: fit an L-CNN to an objective. Knows nothing of files or the terminal."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from nssr_cli.dil.collapse import impulse_response
from nssr_cli.dil.config import DESCENT_OPTIONS, GALLERY_OPTIONS, TrainConfig
from nssr_cli.dil.model import LCNN
from nssr_cli.dil.objectives import OBJECTIVES
from nssr_cli.errors import NssrError, UsageError
from nssr_cli.synth.levels import split_prior

# Bounds that keep a run's memory sane (checked before any work): the gallery is
# kernels × kernel_size² floats (100 000 × 63² = 1.6 GB); a scene pair takes ~0.2 MB.
MAX_GALLERY = 100_000
MAX_SCENE_PAIRS = 10_000
MAX_GALLERY_SIDE = 63
SCENE_KERNEL_SIDE = 31  # the scene pairs keep context for kernels up to 31×31
# Adam's first step is lr / (1 − β₁) = 10·lr, which PyTorch holds as a float32 (at most
# 3.4e38): any --lr up to this stays far from overflowing, and already diverges.
MAX_LR = 1e30


def check_config(config: TrainConfig, *, solve: bool = False) -> None:
    """:class:`UsageError` naming the first option that cannot make a sensible run, or that
    the run would not use (``solve``: the kernel is solved directly, not trained)."""
    if config.objective not in OBJECTIVES:
        raise UsageError(
            f"unknown objective {config.objective!r}; choose from {', '.join(OBJECTIVES)}"
        )
    most = MAX_SCENE_PAIRS if config.objective == "scenes" else MAX_GALLERY
    _whole("--kernels", config.kernels, 1, most)
    _whole("--epochs", config.epochs, 1, 100_000)
    _whole("--batch-size", config.batch_size, 1, most)
    _whole("--kernel-size", config.kernel_size, 1, MAX_GALLERY_SIDE)
    if config.kernel_size % 2 == 0:
        raise UsageError(f"--kernel-size must be odd (a centred kernel), got {config.kernel_size}")
    _positive("--sigma-min", config.sigma_min)
    _positive("--sigma-max", config.sigma_max)
    if config.sigma_min > config.sigma_max:
        raise UsageError(
            f"--sigma-min ({config.sigma_min:g}) must not exceed --sigma-max ({config.sigma_max:g})"
        )
    _positive("--lr", config.lr)
    if config.lr > MAX_LR:
        raise UsageError(f"--lr must be at most {MAX_LR:g}, got {config.lr:g}")
    for name, value in (
        ("--lambda-area", config.lambda_area),
        ("--lambda-center", config.lambda_center),
    ):
        if not (math.isfinite(value) and value >= 0):
            raise UsageError(f"{name} must be a finite number ≥ 0, got {value}")
    if config.scale is not None and config.scale not in (2, 3, 4):
        raise UsageError(f"--scale must be 2, 3 or 4, got {config.scale:g}")
    if config.blur is not None:
        try:
            split_prior(config.blur)  # a blur level, optionally with a JPEG or noise degradation
        except ValueError as exc:
            raise UsageError(f"--blur: {exc}") from None
    if config.objective != "scenes" and (config.blur is not None or config.scale is not None):
        raise UsageError(
            "--blur and --scale set the scenes objective's degradation; add --objective scenes "
            f"(the {config.objective} objective trains on random blur kernels alone)"
        )
    _check_unused(config, solve)
    side = config.model.receptive_field
    if config.objective == "scenes" and side > SCENE_KERNEL_SIDE:
        raise UsageError(
            f"--depth {config.model.depth} collapses to {side}×{side}; the scenes objective "
            f"takes kernels up to {SCENE_KERNEL_SIDE}×{SCENE_KERNEL_SIDE} (--depth ≤ 15)"
        )


def _check_unused(config: TrainConfig, solve: bool) -> None:
    """An option set that this run ignores is a mistake to say, as ``--scale`` without the
    scenes objective is: the user believes it shaped the result."""
    if solve and config.objective != "scenes":
        raise UsageError("--solve needs --objective scenes (the DIL optimum is not what you want)")
    changed = config.changed()
    gallery = [o for o in changed if o in GALLERY_OPTIONS]
    if config.objective == "scenes" and gallery:
        raise UsageError(
            f"{', '.join(gallery)}: only the dil objective uses {_them(gallery)} (its Random "
            f"Kernel Gallery and loss); the scenes objective ignores {_them(gallery, 'it')}, "
            f"so leave {_them(gallery, 'it')} out"
        )
    descent = [o for o in changed if o in DESCENT_OPTIONS]
    if solve and descent:
        raise UsageError(
            f"{', '.join(descent)}: --solve computes the kernel directly, without training, "
            f"and ignores {_them(descent, 'it')}; leave {_them(descent, 'it')} out, or train "
            "without --solve"
        )


def _them(options: list[str], one: str = "this option") -> str:
    return one if len(options) == 1 else {"it": "them"}.get(one, "these options")


def check_seed(seed: int) -> None:
    """PyTorch's generators take a seed in [0, 2⁶⁴); NumPy's any integer ≥ 0."""
    _whole("--seed", seed, 0, 2**63 - 1)


def _whole(option: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise UsageError(f"{option} must be between {low:,} and {high:,}, got {value:,}")


def _positive(option: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{option} must be a finite number > 0, got {value}")


# A run whose last epoch's mean loss is this many times the untrained model's (its first
# step's) made the model worse, not better: it diverged, even if every number stayed finite.
DIVERGED_RATIO = 10.0


class TrainingDiverged(NssrError):
    """The loss (or a weight) became NaN or infinite, or the loss ended far above where it
    started (:data:`DIVERGED_RATIO`): nothing worth saving was learnt."""

    def __init__(self, where: str, config: TrainConfig) -> None:
        changed = config.changed()  # any of them may be the cause (--sigma-min 1e-300: NaN)
        if not changed:
            hint = f"Try a smaller --lr (now {config.lr:g})"
        else:
            values = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                               for k, v in changed.items())  # fmt: skip
            hint = f"Options set away from their defaults: {values}; try them nearer the defaults"
        super().__init__(f"training diverged {where}; no checkpoint was written. {hint}")


def _at(epoch: int, step: int, loss: float) -> str:
    return f"at epoch {epoch + 1}, step {step + 1} (the loss is {loss})"


@dataclass(frozen=True)
class StepInfo:
    """Reported after every optimiser step: position, and the epoch-so-far mean of each term."""

    epoch: int
    step: int
    steps_per_epoch: int
    lr: float
    terms: dict[str, float]


@dataclass
class TrainResult:
    model: LCNN
    config: TrainConfig
    seed: int
    history: list[dict[str, float]]
    seconds: float

    @property
    def final(self) -> dict[str, float]:
        return self.history[-1] if self.history else {}


def train(
    config: TrainConfig,
    *,
    device: torch.device | str = "cpu",
    seed: int = 0,
    on_step: Callable[[StepInfo], None] | None = None,
) -> TrainResult:
    """Train an L-CNN from a seed. Same seed and device → same weights.

    Raises :class:`UsageError` for a config that cannot make a sensible run (before any work)
    and :class:`TrainingDiverged` as soon as the loss or the weights stop being finite, or at
    the end when the loss ended far above the untrained model's.
    """
    check_config(config)
    config = config.resolved()  # the checkpoint records the scale and blur it trained for
    device = torch.device(device)
    data_gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LCNN(config.model)
    model.to(device)
    objective = OBJECTIVES[config.objective](config, generator=data_gen, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.9, 0.999))
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=config.lr_step, gamma=config.lr_gamma)
    history: list[dict[str, float]] = []
    initial = math.inf  # the first step's loss
    start = time.perf_counter()
    for epoch in range(config.epochs):
        sums: dict[str, float] = {}
        batches = list(objective.batches(data_gen))
        for step, batch in enumerate(batches):
            h = impulse_response(model, differentiable=True)
            loss, terms = objective.loss(h, batch)
            if not torch.isfinite(loss):
                raise TrainingDiverged(_at(epoch, step, float(loss.detach())), config)
            if not history and step == 0:  # the untrained model's
                initial = float(loss.detach())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for name, value in {"loss": loss, **terms}.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach())
            if on_step is not None:
                means = {k: v / (step + 1) for k, v in sums.items()}
                on_step(StepInfo(epoch, step, len(batches), opt.param_groups[0]["lr"], means))
        history.append({"epoch": epoch, **{k: v / len(batches) for k, v in sums.items()}})
        sched.step()
    with torch.no_grad():  # the last step is checked too: finite weights can still collapse
        h = impulse_response(model)  # into an infinite kernel
    if not bool(torch.isfinite(h).all()) or not all(
        bool(torch.isfinite(p).all()) for p in model.parameters()
    ):
        raise TrainingDiverged(_at(config.epochs - 1, len(batches) - 1, float("nan")), config)
    final = history[-1]["loss"]
    if final > DIVERGED_RATIO * initial:
        ratio = f"{final / initial:.3g}× the untrained model's {initial:.3g}"
        raise TrainingDiverged(f"(its final loss, {final:.3g}, is {ratio})", config)
    model.eval()
    return TrainResult(model.cpu(), config, seed, history, time.perf_counter() - start)


def checkpoint_payload(result: TrainResult, version: str) -> dict[str, Any]:
    """What a checkpoint stores: config beside the weights, final metrics, history, version."""
    return {
        "nssr_version": version,
        "config": result.config.to_dict(),
        "seed": result.seed,
        "state_dict": {
            k: v.detach().cpu().contiguous() for k, v in result.model.state_dict().items()
        },
        "metrics": dict(result.final),
        "history": result.history,
        "seconds": result.seconds,
        "parameters": result.model.num_parameters(),
    }
