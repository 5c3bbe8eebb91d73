"""The L-CNN collapses exactly into one convolution kernel ``h``: ``LCNN(x) == x ⊛ h``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nssr_cli.dil.collapse import apply_kernel, collapse, impulse_response
from nssr_cli.dil.model import LCNN, LCNNConfig


@pytest.mark.parametrize(
    "config",
    [LCNNConfig(), LCNNConfig(depth=3, width=8), LCNNConfig(depth=2, width=4, kernel_size=5)],
)
def test_random_lcnn_equals_its_collapsed_kernel(config: LCNNConfig) -> None:
    torch.manual_seed(1)
    model = LCNN(config)
    for p in model.parameters():  # well away from the default init: a harder, denser kernel
        torch.nn.init.normal_(p, std=0.3)
    h = collapse(model)
    assert h.shape == (config.receptive_field,) * 2 and h.dtype == np.float32
    x = torch.rand(2, 1, 40, 37)
    with torch.no_grad():
        net = model(x)
    conv = apply_kernel(x, torch.from_numpy(h))
    r = config.receptive_field // 2
    inner = (
        slice(None),
        slice(None),
        slice(r, -r),
        slice(r, -r),
    )  # zero padding differs at borders
    scale = float(net[inner].abs().max())
    torch.testing.assert_close(conv[inner], net[inner], rtol=0, atol=2e-6 * max(scale, 1.0))


def test_exported_kernel_is_a_true_convolution_not_a_correlation() -> None:
    """An asymmetric network must give an asymmetric kernel in convolution orientation:
    an impulse at the origin reproduces ``h`` itself, not its flip."""
    model = LCNN(LCNNConfig(depth=1, width=1))
    with torch.no_grad():
        model.layers[0].weight.copy_(torch.arange(9.0).reshape(1, 1, 3, 3))
    h = collapse(model)
    np.testing.assert_array_equal(h, np.arange(9.0)[::-1].reshape(3, 3))  # conv2d correlates
    x = torch.zeros(1, 1, 7, 7)
    x[0, 0, 3, 3] = 1
    np.testing.assert_array_equal(apply_kernel(x, torch.from_numpy(h))[0, 0, 2:5, 2:5].numpy(), h)


def test_parameter_count_matches_the_paper() -> None:
    assert LCNN().num_parameters() == 28_224
    assert LCNNConfig().receptive_field == 11


def test_differentiable_impulse_response_has_gradients() -> None:
    model = LCNN(LCNNConfig(depth=2, width=3))
    impulse_response(model, differentiable=True).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
