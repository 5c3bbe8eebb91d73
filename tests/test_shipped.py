"""The shipped default: its kernel really is the collapsed checkpoint, and really inverts blur."""

from __future__ import annotations

import numpy as np
import torch

from nssr_cli.dil.collapse import collapse
from nssr_cli.dil.gallery import random_kernel_gallery
from nssr_cli.dil.objectives import best_linear_kernel, identity_error
from nssr_cli.dil.training import TrainConfig
from nssr_cli.kernels.checkpoints import load_checkpoint
from nssr_cli.kernels.export import model_from_checkpoint
from nssr_cli.kernels.files import builtin_kernels, load_kernel, shipped_checkpoint


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
