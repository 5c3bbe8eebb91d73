"""Y-channel PSNR/SSIM pinned by hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nssr_cli.quality.metrics import MAX_PSNR, psnr_y, rgb_to_y, ssim_y


def test_luma_of_black_and_white_is_studio_range() -> None:
    img = np.array([[[0, 0, 0], [255, 255, 255]]], dtype=np.uint8)
    np.testing.assert_allclose(rgb_to_y(img), [[16.0, 235.0]])


def test_psnr_of_a_constant_grey_offset() -> None:
    ref = np.full((20, 20, 3), 100, dtype=np.uint8)
    out = np.full((20, 20, 3), 110, dtype=np.uint8)
    dy = 10 * (65.481 + 128.553 + 24.966) / 255  # = 10·219/255
    assert psnr_y(out, ref) == pytest.approx(10 * math.log10(255**2 / dy**2), abs=1e-9)


def test_border_is_cropped_before_scoring() -> None:
    ref = np.random.default_rng(0).integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    out = ref.copy()
    out[:2] = 0
    out[:, -2:] = 255
    assert psnr_y(out, ref, border=2) == MAX_PSNR  # identical once cropped: capped, not inf
    assert psnr_y(out, ref, border=1) < 30


def test_ssim_identical_is_one_and_noise_lowers_it() -> None:
    rng = np.random.default_rng(1)
    ref = rng.integers(0, 256, size=(32, 32, 3)).astype(np.uint8)
    assert ssim_y(ref, ref, 2) == pytest.approx(1.0)
    noisy = np.clip(ref + rng.normal(0, 40, ref.shape), 0, 255).astype(np.uint8)
    assert ssim_y(noisy, ref, 2) < 0.99


def test_ssim_of_constant_images_follows_wang_formula() -> None:
    # Flat images: σ = 0, so SSIM = (2μxμy + C1)/(μx² + μy² + C1) everywhere.
    a, b = np.full((24, 24), 100.0), np.full((24, 24), 120.0)
    ya, yb = 16 + 100 * 219 / 255, 16 + 120 * 219 / 255
    c1 = (0.01 * 255) ** 2
    assert ssim_y(a, b) == pytest.approx((2 * ya * yb + c1) / (ya**2 + yb**2 + c1), rel=1e-9)
