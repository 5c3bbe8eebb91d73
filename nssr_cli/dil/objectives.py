"""Training objectives. Each one scores the L-CNN through its collapsed kernel ``h``.

The L-CNN is linear, so ``LCNN(K) == K ⊛ h`` exactly when ``K`` is zero-padded enough not to
be clipped; scoring ``h`` (its differentiable impulse response) gives the same loss and the
same gradients as running the network on every kernel, at a fraction of the cost.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import ClassVar

import torch
import torch.nn.functional as F

from nssr_cli.dil.config import SCENES_BLUR, SCENES_SCALE, TrainConfig
from nssr_cli.dil.gallery import random_kernel_gallery
from nssr_cli.synth.pairs import scene_pairs

Terms = dict[str, torch.Tensor]


class Objective(ABC):
    """A training objective: owns its data and turns a kernel ``h`` into a scalar loss."""

    name: ClassVar[str]

    @abstractmethod
    def __init__(
        self, config: TrainConfig, *, generator: torch.Generator, device: torch.device
    ): ...

    @abstractmethod
    def batches(self, generator: torch.Generator) -> Iterator[torch.Tensor]:
        """One epoch of training batches, in an order drawn from ``generator``."""

    @abstractmethod
    def loss(self, h: torch.Tensor, batch: torch.Tensor) -> tuple[torch.Tensor, Terms]:
        """``h``: ``(R, R)`` convolution kernel (differentiable). Returns (loss, named terms)."""


def convolve_full(kernels: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Full 2-D convolution ``K ⊛ h``: ``(N, k, k) × (R, R) → (N, k+R−1, k+R−1)``."""
    r = h.shape[-1] // 2
    x = F.pad(kernels[:, None], (2 * r, 2 * r, 2 * r, 2 * r))
    return F.conv2d(x, h.flip(-1, -2)[None, None])[:, 0]


def identity_error(kernels: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Per-kernel ``‖K ⊛ h − δ‖²`` (full convolution, δ at the centre): ``(N,)``."""
    out = convolve_full(kernels, h)
    c = out.shape[-1] // 2
    out = out.clone()
    out[:, c, c] -= 1.0
    return out.pow(2).sum(dim=(1, 2))


class DeepIdentityLearning(Objective):
    """The paper's DIL loss on a Random Kernel Gallery (:mod:`nssr_cli.dil.gallery`):

    ``‖K ⊛ h − δ‖² + λ₁·|1 − Σh| + λ₂·|1 − (K ⊛ h)[centre]|``, averaged over the batch;
    ``K ⊛ h`` the full convolution, δ the impulse at its centre, λ₁ = ``lambda_area``,
    λ₂ = ``lambda_center``.
    """

    name = "dil"

    def __init__(self, config: TrainConfig, *, generator: torch.Generator, device: torch.device):
        self.batch_size = config.batch_size
        self.lambda_area = config.lambda_area
        self.lambda_center = config.lambda_center
        self.kernels = random_kernel_gallery(
            config.kernels,
            config.kernel_size,
            config.sigma_min,
            config.sigma_max,
            generator=generator,
        ).to(device)

    def batches(self, generator: torch.Generator) -> Iterator[torch.Tensor]:
        order = torch.randperm(len(self.kernels), generator=generator).to(self.kernels.device)
        for i in range(0, len(order), self.batch_size):
            yield self.kernels[order[i : i + self.batch_size]]

    def loss(self, h: torch.Tensor, batch: torch.Tensor) -> tuple[torch.Tensor, Terms]:
        out = convolve_full(batch, h)
        c = out.shape[-1] // 2
        target = torch.zeros_like(out[0])
        target[c, c] = 1.0
        identity = (out - target).pow(2).sum(dim=(1, 2)).mean()
        area = (1.0 - h.sum()).abs()
        center = (1.0 - out[:, c, c]).abs().mean()
        total = identity + self.lambda_area * area + self.lambda_center * center
        return total, {"identity": identity, "area": area, "center": center}


class SceneRestoration(Objective):
    """Image-free restoration: ``‖bicubic(y) ⊛ h − X‖²`` (mean per pixel) on procedural scenes
    ``X`` degraded to ``y`` under the blur prior of bank level ``config.blur`` at
    ``config.scale`` (``config.kernels`` scene/kernel pairs). Quadratic in ``h``, so
    :func:`nssr_cli.dil.solve.solve_kernel` finds its optimum directly."""

    name = "scenes"

    def __init__(self, config: TrainConfig, *, generator: torch.Generator, device: torch.device):
        self.batch_size = config.batch_size
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        self.u, self.x = scene_pairs(
            int(config.scale or SCENES_SCALE), config.blur or SCENES_BLUR, config.kernels, seed=seed
        )
        self.u, self.x = self.u.to(device), self.x.to(device)

    def batches(self, generator: torch.Generator) -> Iterator[torch.Tensor]:
        order = torch.randperm(len(self.u), generator=generator).to(self.u.device)
        for i in range(0, len(order), self.batch_size):
            yield order[i : i + self.batch_size]

    def inputs(self, size: int, batch: torch.Tensor | None = None) -> torch.Tensor:
        """The upsampled inputs (of ``batch``), cropped to the context a ``size×size`` kernel
        needs: a valid convolution of them is exactly the size of the targets."""
        u = self.u if batch is None else self.u[batch]
        r = (u.shape[-1] - self.x.shape[-1]) // 2 - size // 2  # extra context beyond the kernel
        return u[..., r:-r, r:-r] if r > 0 else u

    def loss(self, h: torch.Tensor, batch: torch.Tensor) -> tuple[torch.Tensor, Terms]:
        u, x = self.inputs(h.shape[-1], batch), self.x[batch]
        mse = (F.conv2d(u, h.flip(-1, -2)[None, None]) - x).pow(2).mean()
        return mse, {"mse": mse, "area": h.sum()}


OBJECTIVES: dict[str, type[Objective]] = {
    DeepIdentityLearning.name: DeepIdentityLearning,
    SceneRestoration.name: SceneRestoration,
}


def best_linear_kernel(kernels: torch.Tensor, size: int = 11) -> torch.Tensor:
    """The ``size × size`` convolution kernel with the least mean ``‖K ⊛ h − δ‖²`` over
    ``kernels`` ``(N, k, k)`` (ordinary least squares; a yardstick, not a training objective)."""
    r, k = size // 2, kernels.shape[-1]
    pad = F.pad(kernels[:, None], (2 * r, 2 * r, 2 * r, 2 * r))
    cols = F.unfold(pad, size)  # (N, size², out²): correlation patches
    gram = torch.einsum("njy,nky->jk", cols, cols)
    centre = (k + 2 * r) ** 2 // 2
    g = torch.linalg.solve(gram, cols[:, :, centre].sum(0))
    return g.reshape(size, size).flip(0, 1)  # correlation weights → convolution kernel
