"""The image-free ``scenes`` objective and its direct least-squares solve."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nssr_cli.dil.objectives import OBJECTIVES
from nssr_cli.dil.solve import solve_kernel
from nssr_cli.dil.training import TrainConfig
from nssr_cli.synth.pairs import scene_pairs


def test_solve_recovers_a_known_convolution_kernel() -> None:
    g = torch.Generator().manual_seed(0)
    h = torch.rand(5, 5, generator=g, dtype=torch.float64)
    h = h / h.sum()
    h[0, 4] += 0.1  # not symmetric, so a flip would show
    h = h / h.sum()
    u = torch.rand(6, 1, 24, 24, generator=g, dtype=torch.float64)
    x = F.conv2d(u, h.flip(-1, -2)[None, None])  # x = u ⊛ h, valid part
    np.testing.assert_allclose(solve_kernel(u, x, 5, ridge=0.0), h.numpy(), atol=1e-8)


def test_scene_pairs_shapes_and_range() -> None:
    u, x = scene_pairs(3, "light", 2, seed=0, size=60)
    assert u.shape == (2, 1, 58, 58) and x.shape == (2, 1, 28, 28)
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    with pytest.raises(ValueError):
        scene_pairs(2, "foggy", 1, seed=0)


def test_scenes_objective_is_lowest_at_the_solved_kernel() -> None:
    cfg = TrainConfig(objective="scenes", kernels=6, scale=2, blur="medium", batch_size=3)
    obj = OBJECTIVES["scenes"](
        cfg, generator=torch.Generator().manual_seed(0), device=torch.device("cpu")
    )
    batch = next(iter(obj.batches(torch.Generator().manual_seed(1))))
    assert len(batch) == 3
    everything = torch.arange(len(obj.u))
    c = (obj.u.shape[-1] - obj.x.shape[-1]) // 2 - 5
    best = torch.from_numpy(solve_kernel(obj.u[..., c:-c, c:-c], obj.x, 11)).float()
    delta = torch.zeros(11, 11)
    delta[5, 5] = 1.0
    h = best.clone().requires_grad_(True)
    loss, terms = obj.loss(h, everything)
    loss.backward()
    assert float(loss.detach()) < float(obj.loss(delta, everything)[0])
    g = h.grad
    assert float((g - g.mean()).abs().max()) < 1e-5  # stationary but for the Σh = 1 multiplier
    assert set(terms) == {"mse", "area"}
