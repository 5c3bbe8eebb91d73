"""The paper's Random Kernel Gallery (``nssr_cli.dil.gallery``)."""

from __future__ import annotations

import math

import pytest
import torch

from nssr_cli.dil.gallery import gaussian_kernels, random_kernel_gallery


def test_kernels_are_normalised_centred_and_non_negative() -> None:
    k = random_kernel_gallery(
        200, 21, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    assert k.shape == (200, 21, 21)
    torch.testing.assert_close(k.sum(dim=(1, 2)), torch.ones(200, dtype=torch.float64))
    assert (k >= 0).all()
    ax = torch.arange(-10, 11, dtype=torch.float64)
    com_y = (k.sum(2) * ax).sum(1)
    com_x = (k.sum(1) * ax).sum(1)
    assert com_y.abs().max() < 1e-9 and com_x.abs().max() < 1e-9  # Gaussians are centred


def test_sigma_and_angle_mean_what_they_say() -> None:
    k = gaussian_kernels(torch.tensor([3.0]), torch.tensor([0.8]), torch.tensor([0.0]), 41)[0]
    ax = torch.arange(-20, 21, dtype=k.dtype)
    var_x = (k.sum(0) * ax**2).sum()
    var_y = (k.sum(1) * ax**2).sum()
    assert abs(math.sqrt(var_x) - 3.0) < 0.02 and abs(math.sqrt(var_y) - 0.8) < 0.05
    rot = gaussian_kernels(
        torch.tensor([3.0]), torch.tensor([0.8]), torch.tensor([math.pi / 2]), 41
    )[0]
    torch.testing.assert_close(rot, k.T)


def test_seeded_and_reproducible() -> None:
    a = random_kernel_gallery(10, generator=torch.Generator().manual_seed(3))
    b = random_kernel_gallery(10, generator=torch.Generator().manual_seed(3))
    c = random_kernel_gallery(10, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize(
    "bad", [dict(n=0), dict(size=20), dict(sigma_min=0.0), dict(sigma_min=3, sigma_max=2)]
)
def test_rejects_bad_arguments(bad: dict) -> None:
    with pytest.raises(ValueError):
        random_kernel_gallery(**{"n": 4, **bad})
