"""The L-CNN: a stack of 3×3 convolutions with no bias and no activation (the paper's learner).

Being linear and shift-invariant, the whole network is one convolution; ``collapse.py`` extracts it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from nssr_cli.engine.geometry import MAX_KERNEL_SIDE

MAX_WIDTH = 512  # 31 layers of 512 channels are 68 M weights (270 MB); wider only wastes memory


@dataclass(frozen=True)
class LCNNConfig:
    """Shape of the L-CNN. The paper's: 5 layers, 3×3, width 32 (28,224 weights)."""

    depth: int = 5
    width: int = 32
    kernel_size: int = 3

    def __post_init__(self) -> None:
        if self.depth < 1 or self.width < 1:
            raise ValueError("depth and width must be positive")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError("kernel_size must be a positive odd number")
        k, most = self.kernel_size, MAX_KERNEL_SIDE
        if self.receptive_field > most or self.depth > most // 2:
            raise ValueError(
                f"depth {self.depth} with {k}×{k} layers is too deep: the collapsed kernel may "
                f"be at most {most}×{most} (depth ≤ {most // 2} with 3×3 layers)"
            )
        if self.width > MAX_WIDTH:
            raise ValueError(f"width must be at most {MAX_WIDTH}, got {self.width}")

    @property
    def receptive_field(self) -> int:
        """Side of the collapsed kernel: ``1 + depth·(kernel_size − 1)`` (11 for the paper's)."""
        return 1 + self.depth * (self.kernel_size - 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LCNN(nn.Module):
    """``(B, 1, H, W) → (B, 1, H, W)``, zero-padded 'same' convolutions, any float dtype/device."""

    def __init__(self, config: LCNNConfig | None = None) -> None:
        super().__init__()
        self.config = config or LCNNConfig()
        c = self.config
        channels = [1] + [c.width] * (c.depth - 1) + [1]
        self.layers = nn.Sequential(
            *(
                nn.Conv2d(cin, cout, c.kernel_size, padding=c.kernel_size // 2, bias=False)
                for cin, cout in zip(channels[:-1], channels[1:], strict=True)
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
