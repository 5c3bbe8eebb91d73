"""The shipped default: its kernel really is the collapsed checkpoint, and really inverts blur."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from nssr_cli.collapse import collapse
from nssr_cli.gallery import random_kernel_gallery
from nssr_cli.kernels import model_from_checkpoint
from nssr_cli.objectives import identity_error
from nssr_cli.store import builtin_kernels, load_checkpoint, load_kernel, shipped_checkpoint
from nssr_cli.training import TrainConfig


def best_linear_kernel(kernels: torch.Tensor, size: int = 11) -> torch.Tensor:
    """The least-squares 11×11 kernel for ``mean ‖K ⊛ h − δ‖²`` on these kernels (a yardstick)."""
    r, k = size // 2, kernels.shape[-1]
    pad = F.pad(kernels[:, None], (2 * r, 2 * r, 2 * r, 2 * r))
    cols = F.unfold(pad, size)  # (N, size², out²): correlation patches
    gram = torch.einsum("njy,nky->jk", cols, cols)
    centre = (k + 2 * r) ** 2 // 2
    g = torch.linalg.solve(gram, cols[:, :, centre].sum(0))
    return g.reshape(size, size).flip(0, 1)  # correlation weights → convolution kernel


def test_shipped_kernel_is_the_collapsed_shipped_checkpoint() -> None:
    ck = load_checkpoint(shipped_checkpoint())
    kernel, meta = load_kernel(builtin_kernels()["dil"])
    np.testing.assert_allclose(kernel, collapse(model_from_checkpoint(ck)), rtol=0, atol=1e-6)
    assert meta["orientation"] == "convolution"
    assert TrainConfig.from_dict(ck["config"]) == TrainConfig()  # trained with the defaults
    assert ck["parameters"] == 28_224


def test_shipped_kernel_inverts_blur_on_a_fresh_gallery() -> None:
    kernel, _ = load_kernel(builtin_kernels()["dil"])
    h = torch.from_numpy(kernel).double()
    gallery = random_kernel_gallery(
        1600, generator=torch.Generator().manual_seed(2026), dtype=torch.float64
    )
    ours = float(identity_error(gallery, h).mean())
    identity = float(identity_error(gallery, torch.ones(1, 1, dtype=torch.float64)).mean())
    best = float(identity_error(gallery, best_linear_kernel(gallery)).mean())
    assert best <= ours <= best + 0.0015, (ours, best)  # within a hair of the best possible
    assert ours < identity - 0.015, (ours, identity)
    assert abs(float(h.sum()) - 1.0) < 0.02
