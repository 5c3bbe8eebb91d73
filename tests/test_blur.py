"""The blur estimator: ordering on inputs of known blur, and the level it picks."""

from __future__ import annotations

import numpy as np
import pytest

from nssr_cli.kernels.estimate import (
    STEPS,
    THRESHOLDS,
    WEIGHTS,
    blur_score,
    edge_sigma,
    estimate_sigma,
    level_for,
    luminance,
)
from nssr_cli.quality.calibrate import evaluate_rule, fit
from nssr_cli.synth.degradations import (
    blur_subsample,
    classic_lr,
    div2krk_lr,
    gaussian,
    quantize,
    recipe_kernel,
    sampling_centre,
    shift_to,
)
from nssr_cli.synth.scenes import dead_leaves


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


def test_edge_estimate_grows_with_the_true_blur_and_ignores_contrast(scene: np.ndarray) -> None:
    est = [edge_sigma(_blurred(scene, s)) for s in (0.4, 0.6, 0.8, 1.0)]
    assert est == sorted(est) and est[-1] > est[0] + 0.3
    img = _blurred(scene, 0.7)
    assert abs(edge_sigma(0.25 + 0.5 * img) - edge_sigma(img)) < 0.05
    assert edge_sigma(np.full((40, 40), 0.5)) == 0.0 and edge_sigma(np.zeros((8, 8))) == 0.0


def test_weights_are_a_mean_and_the_score_keeps_its_parts() -> None:
    for a, b in WEIGHTS.values():
        assert a >= 0 and b >= 0 and abs(a + b - 1) < 1e-6
    img = (dead_leaves(128, np.random.default_rng(5)) * 255).astype(np.uint8)
    score, parts = blur_score(img, 4)
    # The parts are the two estimators' own answers, and the score a weighted mean of them.
    assert parts["spectral"] == estimate_sigma(img)
    assert parts.get("edge", edge_sigma(img)) == edge_sigma(img)
    assert min(parts.values()) - 1e-12 <= score <= max(parts.values()) + 1e-12


@pytest.mark.parametrize("scale", [4])
def test_small_sharp_inputs_get_none_and_strong_blur_a_blur_level(scale: int) -> None:
    """A rate over many independent scenes, not one lucky seed: at least 22 of 24 sharp inputs
    get no blur kernel, and 22 of 24 strongly blurred ones at least ``medium`` (120 of 120 each
    when this was written)."""
    sharp_ok = blurred_ok = 0
    trials = 24
    for seed in range(trials):
        rng = np.random.default_rng([seed, scale, 0xB1A5])
        hr = dead_leaves(80 * scale, rng)[:, :, None]
        sharp = level_for(blur_score(classic_lr(hr, scale), scale)[0], scale)
        sharp_ok += sharp in ("none", "none+light")  # never a kernel fitted to blurred inputs
        lr = div2krk_lr(hr, recipe_kernel(scale, rng, (4.0, 5.0)), scale)
        blurred = level_for(blur_score(lr, scale)[0], scale)
        blurred_ok += STEPS.index(blurred) >= STEPS.index("medium")
    assert sharp_ok >= trials - 2 and blurred_ok >= trials - 2, (sharp_ok, blurred_ok)


def _toy_rows(rng: np.random.Generator, n: int = 200) -> np.ndarray:
    """Calibration-like rows: sharp inputs score ≈ 0.4 and lose badly to strong kernels, blurred
    ones score ≈ 1.0 and gain most from them."""
    sharp = rng.uniform(size=n) < 0.5
    spec = np.where(sharp, 0.4, 1.0) + rng.normal(0, 0.08, n)
    edge = np.where(sharp, 0.4, 1.0) + rng.normal(0, 0.08, n)
    psnr = np.where(
        sharp[:, None], [0.5, 0, -0.5, -2, -5, -8, -10], [0.1, 0.4, 0.6, 1, 1.4, 1.6, 1.8]
    )
    ssim = np.where(sharp[:, None], [1, 0, -1, -5, -10, -20, -30], [1, 2, 2, 4, 5, 5, 6]) / 100
    return np.c_[sharp, np.where(sharp, 0.0, 1.0), spec, edge, psnr, ssim]


def test_fit_separates_sharp_from_blurred_and_is_cautious() -> None:
    rows = _toy_rows(np.random.default_rng(0))
    weights, thresholds = fit(rows)
    assert abs(sum(weights) - 1) < 1e-3 and min(weights) >= 0
    assert list(thresholds) == sorted(thresholds) and len(thresholds) == len(STEPS) - 1
    assert thresholds[0] > 0.4 and thresholds[-1] < 1.0
    held_out = evaluate_rule(_toy_rows(np.random.default_rng(1)), weights, thresholds)
    assert held_out["sharp_as_none"] > 0.95 and held_out["blurred_gain"] > 1.5
    # a rule with its first threshold at the midpoint is less cautious: it must not do better
    naive = evaluate_rule(rows, weights, (0.7,) * (len(STEPS) - 1))
    assert evaluate_rule(rows, weights, thresholds)["sharp_worst"] >= naive["sharp_worst"]


def test_level_for_names_a_level_or_a_blend_of_neighbours() -> None:
    for scale in THRESHOLDS:
        picks = [level_for(x, scale) for x in np.linspace(0, 2, 81)]
        assert set(picks) <= set(STEPS) and picks[0] == "none" and picks[-1] == "heavy"
        order = [STEPS.index(p) for p in picks]
        assert order == sorted(order)
