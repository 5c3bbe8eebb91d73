"""Offline calibration of the run-time blur estimate (:mod:`nssr_cli.kernels.estimate`) on
synthetic scenes only — dead leaves and 1/f^β fields, sharp (the classic bicubic downscale) or
blurred with DIV2KRK-recipe kernels from fresh seeds — never on photographs.

Every bank level is applied to every calibration input and scored as the benchmark scores; the
rule's thresholds are where another choice has the best expected gain.
``python -m nssr_cli.quality.calibrate [--check] [--levels] [SCALE...]`` reruns it or checks the
current rule on held-out scenes.
"""

from __future__ import annotations

import math

import numpy as np

from nssr_cli.engine.plans import make_plan, upscale_planes
from nssr_cli.kernels.bank import bank_kernel
from nssr_cli.kernels.estimate import (
    LEVELS,
    STEPS,
    THRESHOLDS,
    WEIGHTS,
    edge_sigma,
    estimate_sigma,
    level_for,
)
from nssr_cli.kernels.files import resolve_kernel
from nssr_cli.quality.metrics import psnr_y, ssim_y
from nssr_cli.synth.degradations import (
    blur_subsample,
    classic_lr,
    degrade,
    div2krk_lr,
    effective_sigma,
    gaussian,
    modcrop,
    recipe_kernel,
)
from nssr_cli.synth.scenes import dead_leaves, power_law_field, scene


def _synthetic_input(
    scale: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, bool, float]:
    """One calibration pair ``(hr, lr, sharp, lr_sigma)``: a dead-leaves scene or a 1/f^β field
    (β ~ U[1.6, 3]; photos vary) of 64–200 LR pixels a side, most with a little optical blur
    of their own (σ ~ U[0, 1.5] HR pixels), then either the classic bicubic downscale (half the
    time) or a DIV2KRK-recipe blur with a fresh kernel."""
    size = int(rng.integers(64, 200)) * scale
    if rng.uniform() < 0.6:
        hr = dead_leaves(size, rng)
    else:
        hr = power_law_field(size, rng, rng.uniform(1.6, 3.0))
    hr = modcrop(hr[:, :, None], scale)
    optics = rng.uniform(0, 1.5)
    if rng.uniform() < 0.7 and optics > 0.05:
        r = math.ceil(3 * optics)
        k = gaussian(2 * r + 1, optics**2, optics**2, 0.0)
        hr = blur_subsample(hr, k / k.sum(), 1)
    if rng.uniform() < 0.5:
        return hr, classic_lr(hr, scale), True, 0.0
    k = recipe_kernel(scale, rng)
    return hr, div2krk_lr(hr, k, scale), False, effective_sigma(k, scale)


def calibrate(scale: int, count: int = 240, seed: int = 0) -> np.ndarray:
    """``count`` synthetic inputs at ``scale`` (:func:`_synthetic_input`), each upscaled with
    bicubic and every bank level and scored as the benchmark scores (8-bit output, Y PSNR and
    SSIM, ``scale`` border pixels cropped; needs scikit-image). Returns ``(count, 4 + 2·N)``
    rows (N = ``len(STEPS)``): sharp (0/1), true LR blur width (0 for sharp), spectral σ̂, edge
    σ̂, then each step's PSNR gain over bicubic, then each step's SSIM gain."""
    rng = np.random.default_rng([seed, scale, 0xB10B])
    kernels = [resolve_kernel("bicubic")[0]] + [bank_kernel(f"x{scale}-{lv}") for lv in LEVELS]
    plans = [make_plan(k, scale, "cpu") for k in kernels]
    rows = []
    for _ in range(count):
        hr, lr, sharp, true = _synthetic_input(scale, rng)
        ref = hr[:, :, 0] * 255.0
        outs = [upscale_planes(lr.astype(np.float32), p)[:, :, 0].astype(np.float64) for p in plans]
        steps = [outs[0]] + [
            outs[1 + LEVELS.index(a)]
            if not b
            else (outs[1 + LEVELS.index(a)] + outs[1 + LEVELS.index(b)]) / 2
            for a, _, b in (st.partition("+") for st in STEPS)
        ]  # the upscale is linear in the kernel: averaging outputs = averaging kernels
        scores = []
        for out in steps:
            out = np.clip(np.round(out * 255.0), 0, 255)
            scores.append((psnr_y(out, ref, scale), ssim_y(out, ref, scale)))
        psnr = [p - scores[0][0] for p, _ in scores[1:]]
        ssim = [q - scores[0][1] for _, q in scores[1:]]
        rows.append([float(sharp), true, estimate_sigma(lr), edge_sigma(lr), *psnr, *ssim])
    return np.array(rows)


# Issue 5's bars ask for +1.0 dB and +0.04 SSIM over bicubic, so the choice weighs an SSIM gain
# 25× a PSNR gain in dB: one unit of either bar counts the same.
SSIM_WEIGHT = 25.0


def _utility(rows: np.ndarray) -> np.ndarray:
    n = len(STEPS)
    return rows[:, 4 : 4 + n] + SSIM_WEIGHT * rows[:, 4 + n : 4 + 2 * n]


def fit(rows: np.ndarray, bandwidth: float = 0.04) -> tuple[tuple[float, float], tuple[float, ...]]:
    """Weights and thresholds from :func:`calibrate` rows. The weights: a logistic regression of
    sharp vs blurred on the two estimates, normalised to sum 1 (so the score stays a width). The
    thresholds: along the score, the level with the highest expected gain (PSNR gain plus
    :data:`SSIM_WEIGHT` × SSIM gain; a Gaussian-weighted mean over rows of similar score,
    ``bandwidth`` wide), forced to rise with the score."""
    x = np.c_[np.ones(len(rows)), rows[:, 2:4]]
    y = 1.0 - rows[:, 0]
    w = np.zeros(3)
    for _ in range(50):  # Newton's method, lightly regularised (the classes may separate)
        p = 1 / (1 + np.exp(-x @ w))
        hess = x.T @ (x * (p * (1 - p))[:, None]) + 1e-2 * np.eye(3)
        w -= np.linalg.solve(hess, x.T @ (p - y) + 1e-2 * w)
    ab = np.clip(w[1:], 0, None)
    ab = ab / ab.sum() if ab.sum() > 0 else np.array([1.0, 0.0])
    score = rows[:, 2:4] @ ab
    grid = np.linspace(0.0, float(np.percentile(score, 99.5)), 400)
    wt = np.exp(-0.5 * ((grid[:, None] - score[None, :]) / bandwidth) ** 2)
    expected = (wt @ _utility(rows)) / np.maximum(wt.sum(axis=1, keepdims=True), 1e-300)
    choice = np.maximum.accumulate(expected.argmax(axis=1))
    thresholds = tuple(
        round(float(grid[np.argmax(choice >= lv)]) if (choice >= lv).any() else 9.0, 3)
        for lv in range(1, len(STEPS))
    )
    return (round(float(ab[0]), 3), round(float(ab[1]), 3)), thresholds


def evaluate_rule(
    rows: np.ndarray, weights: tuple[float, float], thresholds: tuple[float, ...]
) -> dict[str, float]:
    """How a rule does on :func:`calibrate` rows: mean gain over bicubic on the sharp and on the
    blurred inputs, the worst sharp input, how often a sharp input gets ``none`` and a blurred
    one does, and the blurred inputs' mean gain with the best level for each (the oracle)."""
    score = rows[:, 2:4] @ np.asarray(weights)
    pick = np.searchsorted(np.asarray(thresholds), score, side="right")
    if len(thresholds) == len(LEVELS) - 1:  # a levels-only rule: level i is step 2i
        pick = 2 * pick
    gain = rows[np.arange(len(rows)), 4 + pick]
    ssim = rows[np.arange(len(rows)), 4 + len(STEPS) + pick]
    sharp = rows[:, 0] == 1
    return {
        "sharp_gain": round(float(gain[sharp].mean()), 3),
        "sharp_worst": round(float(gain[sharp].min()), 3),
        "sharp_as_none": round(float(np.mean(pick[sharp] == 0)), 3),
        "blurred_as_none": round(float(np.mean(pick[~sharp] == 0)), 3),
        "blurred_gain": round(float(gain[~sharp].mean()), 3),
        "blurred_oracle": round(float(rows[~sharp, 4 : 4 + len(STEPS)].max(axis=1).mean()), 3),
        "sharp_ssim_gain": round(float(ssim[sharp].mean()), 4),
        "blurred_ssim_gain": round(float(ssim[~sharp].mean()), 4),
    }


def calibrate_levels(
    scales: tuple[int, ...] = (2, 3), per_level: int = 24, size: int = 264, seed: int = 0
) -> dict[int, dict[str, np.ndarray]]:
    """The spectral-only calibration the ×2/×3 thresholds come from: σ̂ of ``per_level``
    synthetic scenes per (scale, level), degraded under each level's prior (``none``: the
    classic bicubic downscale). Returns ``{scale: {level: (per_level,) σ̂}}``."""
    rng = np.random.default_rng([seed, 0xB10B])
    out: dict[int, dict[str, np.ndarray]] = {}
    for s in scales:
        out[s] = {}
        for level in LEVELS:
            est = [
                estimate_sigma(degrade(modcrop(scene(size, rng)[:, :, None], s), s, level, rng))
                for _ in range(per_level)
            ]
            out[s][level] = np.array(est)
    return out


def thresholds_from(samples: dict[str, np.ndarray], quantile: float = 90.0) -> tuple[float, ...]:
    """Levels-only thresholds (×2/×3): each the ``quantile``-th percentile of the weaker level's
    σ̂ (but at least the midpoint of the two medians)."""
    out = []
    for weak, strong in zip(LEVELS, LEVELS[1:], strict=False):
        mid = (np.median(samples[weak]) + np.median(samples[strong])) / 2
        out.append(round(float(max(mid, np.percentile(samples[weak], quantile))), 3))
    return tuple(out)


def level_accuracy(samples: dict[str, np.ndarray], scale: int) -> dict[str, float]:
    """Fraction of each level's samples that :func:`level_for` assigns to that level (for the
    spectral-only, levels-only scales)."""
    return {
        lvl: float(np.mean([level_for(v, scale) == lvl for v in samples[lvl]])) for lvl in LEVELS
    }


if __name__ == "__main__":  # python -m nssr_cli.quality.calibrate [--check] [--levels] [SCALE...]
    import sys

    held_out = "--check" in sys.argv
    scales = [int(a) for a in sys.argv[1:] if a.isdigit()] or [2, 3, 4]
    if "--levels" in sys.argv:  # the spectral-only, levels-only calibration of ×2/×3
        for s, samples in calibrate_levels(tuple(scales), seed=1 if held_out else 0).items():
            print(
                f"x{s}: thresholds {thresholds_from(samples)}  "
                f"accuracy with current {THRESHOLDS[s]}: {level_accuracy(samples, s)}"
            )
        sys.exit()
    for s in scales:
        rows = calibrate(s, seed=1 if held_out else 0)
        current = evaluate_rule(rows, WEIGHTS[s], THRESHOLDS[s])
        if held_out:
            print(f"x{s}: current rule {WEIGHTS[s]} {THRESHOLDS[s]} on held-out scenes: {current}")
        else:
            weights, thresholds = fit(rows)
            fitted = evaluate_rule(rows, weights, thresholds)
            print(f"x{s}: fitted WEIGHTS {weights} THRESHOLDS {thresholds}: {fitted}")
            print(f"x{s}: current rule {WEIGHTS[s]} {THRESHOLDS[s]}: {current}")
