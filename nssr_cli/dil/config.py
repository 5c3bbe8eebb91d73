"""What defines a training run: the objective, its data, the model's shape and the optimiser
(saved in every checkpoint, so a file says what it is)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from nssr_cli.dil.model import LCNNConfig

# What the scenes objective makes a kernel for unless told (--scale, --blur).
SCENES_SCALE = 2
SCENES_BLUR = "medium"
# Options only the dil objective uses (its Random Kernel Gallery and loss), and those only
# training by gradient descent uses (--solve computes the optimum directly).
GALLERY_OPTIONS = (
    "--kernel-size",
    "--sigma-min",
    "--sigma-max",
    "--lambda-area",
    "--lambda-center",
)
DESCENT_OPTIONS = ("--epochs", "--lr", "--batch-size", "--width")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (saved in the checkpoint).

    Paper values where the paper gives them (3,200 kernels of 21×21, σ ∈ [0.175, 6], the 5-layer
    L-CNN, 50 epochs, λ₁ = 0.8, λ₂ = 0.2); ``lr``, ``batch_size`` and the schedule are nssr's
    (README, "Deviations from the paper": the paper's lr 0.1 diverges).
    """

    objective: str = "dil"
    kernels: int = 3200
    kernel_size: int = 21
    sigma_min: float = 0.175
    sigma_max: float = 6.0
    model: LCNNConfig = field(default_factory=LCNNConfig)
    epochs: int = 50
    lambda_area: float = 0.8
    lambda_center: float = 0.2
    lr: float = 2e-3
    batch_size: int = 32
    lr_step: int = 15
    lr_gamma: float = 0.2
    scale: float | None = None
    blur: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def resolved(self) -> TrainConfig:
        """This config with what its objective uses unless told written in (the scenes
        objective's :data:`SCENES_SCALE` and :data:`SCENES_BLUR`), so that a checkpoint or a
        kernel file records what it was made for."""
        if self.objective != "scenes":
            return self
        scale = SCENES_SCALE if self.scale is None else self.scale
        return replace(self, scale=scale, blur=self.blur or SCENES_BLUR)

    def changed(self) -> dict[str, Any]:
        """The ``nssr train`` options of this run set away from their defaults for its
        objective, with their values (``{"--lr": 0.5}``), in the order of the fields."""
        mine, base = _options(self), _options(TrainConfig(objective=self.objective))
        return {"--" + k.replace("_", "-"): v for k, v in mine.items() if v != base[k]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(d)
        d["model"] = LCNNConfig(**d.get("model", {}))
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def _options(config: TrainConfig) -> dict[str, Any]:
    """A config's values by the ``nssr train`` option that sets each (the schedule has none)."""
    fields = asdict(config.resolved())
    for name in ("model", "lr_step", "lr_gamma"):
        del fields[name]
    return {**fields, "depth": config.model.depth, "width": config.model.width}
