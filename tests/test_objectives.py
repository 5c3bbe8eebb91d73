"""The DIL objective scored through the collapsed kernel equals the paper's formulation,
which runs the L-CNN on every gallery kernel."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nssr_cli.dil.collapse import impulse_response
from nssr_cli.dil.gallery import random_kernel_gallery
from nssr_cli.dil.model import LCNN
from nssr_cli.dil.objectives import DeepIdentityLearning, convolve_full, identity_error
from nssr_cli.dil.training import TrainConfig


def test_loss_through_the_kernel_equals_loss_through_the_network() -> None:
    torch.manual_seed(0)
    model = LCNN().double()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    gen = torch.Generator().manual_seed(0)
    objective = DeepIdentityLearning(
        TrainConfig(kernels=16), generator=gen, device=torch.device("cpu")
    )
    batch = objective.kernels.double()
    loss_h, terms = objective.loss(impulse_response(model, differentiable=True), batch)

    # The paper's way: LCNN(K) on a canvas big enough that nothing is clipped, against δ.
    r = model.config.receptive_field // 2
    out = model(F.pad(batch[:, None], (r, r, r, r)))[:, 0]
    c = out.shape[-1] // 2
    delta = torch.zeros_like(out[0])
    delta[c, c] = 1
    h = impulse_response(model)
    identity = (out - delta).pow(2).sum(dim=(1, 2)).mean()
    area = (1 - h.sum()).abs()
    center = (1 - out[:, c, c]).abs().mean()
    expected = identity + 0.8 * area + 0.2 * center
    torch.testing.assert_close(loss_h, expected)
    torch.testing.assert_close(terms["identity"], identity)


def test_identity_error_of_the_impulse_is_the_distance_of_k_to_delta() -> None:
    k = random_kernel_gallery(8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    delta = torch.zeros(1, 1, dtype=torch.float64) + 1
    direct = (
        (k - F.pad(torch.ones(1, 1, 1, dtype=torch.float64), (10, 10, 10, 10)))
        .pow(2)
        .sum(dim=(1, 2))
    )
    torch.testing.assert_close(identity_error(k, delta), direct)
    assert convolve_full(k, torch.ones(3, 3, dtype=torch.float64)).shape == (8, 23, 23)
