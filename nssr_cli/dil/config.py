"""What defines a training run: the objective, its data, the model's shape and the optimiser
(saved in every checkpoint, so a file says what it is)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from nssr_cli.dil.model import LCNNConfig


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

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(d)
        d["model"] = LCNNConfig(**d.get("model", {}))
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)
