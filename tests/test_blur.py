"""The blur estimator: ordering on inputs of known blur, and the level it picks."""

from __future__ import annotations

import numpy as np
import pytest

from nssr_cli.blur import THRESHOLDS, estimate_sigma, level_for, luminance
from nssr_cli.degrade import (
    blur_subsample,
    classic_lr,
    gaussian,
    quantize,
    sampling_centre,
    shift_to,
)
from nssr_cli.scenes import dead_leaves


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return dead_leaves(192, np.random.default_rng(3))[:, :, None]


def _blurred(hr: np.ndarray, sigma_lr: float, scale: int = 2) -> np.ndarray:
    lam = (sigma_lr * scale) ** 2
    k = shift_to(gaussian(11, lam, lam, 0.0), sampling_centre(11, scale))
    return quantize(blur_subsample(hr, k / k.sum(), scale))


def test_estimate_grows_with_the_true_blur(scene: np.ndarray) -> None:
    est = [estimate_sigma(_blurred(scene, s)) for s in (0.4, 0.6, 0.8, 1.0)]
    assert est == sorted(est) and est[-1] > est[0] + 0.3


def test_sharp_input_maps_to_none_and_blurred_to_a_blur_level(scene: np.ndarray) -> None:
    assert level_for(estimate_sigma(classic_lr(scene, 2)), 2) == "none"
    assert level_for(estimate_sigma(_blurred(scene, 1.0)), 2) == "heavy"


def test_thresholds_rise_and_nearest_scale_is_used() -> None:
    for t in THRESHOLDS.values():
        assert list(t) == sorted(t)
    assert level_for(0.0, 2.4) == "none" and level_for(5.0, 7.0) == "heavy"


def test_dtypes_and_tiny_images() -> None:
    img8 = np.full((20, 20, 3), 200, np.uint8)
    np.testing.assert_allclose(luminance(img8), 200.0)
    np.testing.assert_allclose(luminance(img8.astype(np.uint16) * 257), 200.0)
    np.testing.assert_allclose(luminance(img8.astype(np.float32) / 255), 200.0, rtol=1e-6)
    assert estimate_sigma(np.zeros((8, 8), np.uint8)) == 0.0
