"""The training loop: fit an L-CNN to an objective. Knows nothing of files or the terminal."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from nssr_cli.dil.collapse import impulse_response
from nssr_cli.dil.config import TrainConfig
from nssr_cli.dil.model import LCNN
from nssr_cli.dil.objectives import OBJECTIVES
from nssr_cli.errors import UsageError


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
    """Train an L-CNN from a seed. Same seed and device → same weights."""
    if config.objective not in OBJECTIVES:
        raise UsageError(
            f"unknown objective {config.objective!r}; choose from {sorted(OBJECTIVES)}"
        )
    if config.epochs < 1 or config.batch_size < 1 or config.kernels < 1 or not config.lr > 0:
        raise UsageError("epochs, batch size, kernel count and learning rate must be positive")
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
    start = time.perf_counter()
    for epoch in range(config.epochs):
        sums: dict[str, float] = {}
        batches = list(objective.batches(data_gen))
        for step, batch in enumerate(batches):
            h = impulse_response(model, differentiable=True)
            loss, terms = objective.loss(h, batch)
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
