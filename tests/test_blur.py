"""The blur estimators (ordering on inputs of known blur) and the calibration's rule fit."""

from __future__ import annotations

import numpy as np
import pytest

from nssr_cli.kernels.bank import steps
from nssr_cli.kernels.estimate import edge_sigma, estimate_sigma, luminance
from nssr_cli.quality.calibrate import evaluate_rule, fit
from nssr_cli.synth.degradations import (
    blur_subsample,
    gaussian,
    quantize,
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


def _toy_rows(rng: np.random.Generator, n: int = 200) -> list[dict]:
    """Calibration-like rows of the clean family: sharp inputs score ≈ 0.4 and lose badly to
    strong kernels, blurred ones score ≈ 1.0 and gain most from them."""
    rows = []
    for _ in range(n):
        sharp = bool(rng.uniform() < 0.5)
        centre = 0.4 if sharp else 1.0
        gain = [0.5, 0, -0.5, -2, -5] if sharp else [0.1, 0.4, 0.6, 1, 1.4]
        rows.append(
            {
                "family": "clean",
                "sharp": sharp,
                "spectral": centre + rng.normal(0, 0.08),
                "edge": centre + rng.normal(0, 0.08),
                "gain": np.array(gain, dtype=np.float64),
            }
        )
    return rows


def test_fit_separates_sharp_from_blurred_and_is_cautious() -> None:
    rows = _toy_rows(np.random.default_rng(0))
    (weights, thresholds) = fit(rows)["clean"]
    assert abs(sum(weights) - 1) < 1e-3 and min(weights) >= 0
    assert list(thresholds) == sorted(thresholds) and len(thresholds) == len(steps("clean")) - 1
    assert thresholds[0] > 0.4 and thresholds[-1] < 1.0
    rule = {"clean": (weights, thresholds)}
    held_out = evaluate_rule(_toy_rows(np.random.default_rng(1)), rule)["clean"]
    assert held_out["sharp_worst"] >= 0 and held_out["blurred_mean"] > 1.2
    # a rule with its first threshold at the midpoint is less cautious: it must not do better
    naive = evaluate_rule(rows, {"clean": (weights, (0.7,) * len(thresholds))})["clean"]
    assert evaluate_rule(rows, rule)["clean"]["sharp_worst"] >= naive["sharp_worst"]
