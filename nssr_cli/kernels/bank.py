"""Choosing the kernel for an image: the shipped bank of kernels per (scale, prior), and the
``auto`` choice that fails safe (the bank's names and scales: :mod:`nssr_cli.kernels.names`).

The bank holds ``weights/bank/x{s}-{prior}.npy`` for s ∈ {2, 3, 4}: 11×11 convolution kernels
solved on procedural scenes (``nssr train --objective scenes --solve``; README) under a prior
named in :mod:`nssr_cli.synth.levels` — a blur level (``none`` = the classic sharp downscale,
``light``, ``medium``, ``heavy``), and for real files also the same after JPEG (``none-q85``,
``medium-q85``, …). Under compression the best linear inverse sharpens less (a Wiener
trade-off), so those kernels are milder. Noisy inputs get plain bicubic: kernels solved under
noise (``nssr train --blur none-n5``) still lost to it on noisy photographs. Fractional scales
use the kernels of the nearest integer scale in 2…4.

``auto`` (:func:`select_kernel`) first asks what the file carries: a JPEG's quality read from its
quantization table (:func:`~nssr_cli.kernels.estimate.jpeg_quality`), else the noise level
(:func:`~nssr_cli.kernels.estimate.noise_sigma`). That picks a family of kernels; within it, a
blur score picks how strong — how much the mildest sharpening step would ring
(:func:`~nssr_cli.kernels.estimate.ringing`), corrected by the spectral and edge widths (two
×4 JPEG rules weigh the widths alone) — by thresholds
calibrated on synthetic scenes only (textures, text, flat graphics included;
:mod:`nssr_cli.quality.calibrate`) to maximise the expected gain with losses weighed
:data:`LOSS_WEIGHT` times — over-sharpening a sharp input costs 5–15 dB, under-sharpening a
blurred one a fraction of the gain. Strongly periodic inputs (gratings, tiles) read blurred
whether or not they are: past a periodic gate they keep the family's mildest step. JPEGs
whose gradients are dense (:mod:`~nssr_cli.kernels.sparsity`: textures, skies, fog) take
thresholds of their own (×3 q85), so that they no longer hold back those of photographs. Between
two entries it may pick their average kernel (``"light+medium"``: still one 11×11 kernel). Where
a rule's score chose the step, its kernel is the one fitted to what the rule sends there
(``x2-auto-light``: :mod:`nssr_cli.quality.routes`), or to the band of the step's scores the
input's falls in (``x3-auto-none.2``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from nssr_cli.errors import KernelError
from nssr_cli.kernels.estimate import Estimates, blur_parts, jpeg_quality
from nssr_cli.kernels.files import builtin_kernels, load_kernel
from nssr_cli.kernels.names import bank_scale
from nssr_cli.kernels.rule_table import (
    JPEG_CLASSES,
    NOISE_CLASSES,
    PERIODIC_GATE,
    PERIODIC_PLAIN,
    ROUTE_BANDS,
    SPARSE_GATE,
    THRESHOLDS,
    WEIGHTS,
    band_of,
    dense_rule,
    periodic_rule,
    steps,
)
from nssr_cli.synth.levels import LEVELS

BLUR_LEVELS = ("auto", *LEVELS)
# The blur score of a rule weighing ringing reads it for this step's kernel: the mildest that
# sharpens (it rings on any sharp input; a blurred one takes it without overshoot).
RINGING_STEP = "light"
RINGING_FLOOR = 1e-4  # ringing below this reads as this (the score stays finite)
LOSS_WEIGHT = 4.0  # in the calibration: a dB lost to bicubic counts as much as this many gained


@dataclass(frozen=True)
class Selection:
    """The kernel chosen for one image, and why."""

    kernel: np.ndarray  # (k, k) float32 convolution kernel
    name: str  # what to show the user, e.g. "x2-medium" or "x2-none-q85+medium-q85"
    blur: str  # the bank prior used (never "auto"), or "a+b": the mean of two entries' kernels
    info: dict[str, Any] = field(default_factory=dict)  # the estimates behind the choice


@lru_cache(maxsize=64)
def bank_kernel(name: str) -> np.ndarray:
    """The shipped bank kernel ``name`` (e.g. ``"x2-medium"``), read once; ``"a+b"`` names
    (``"x2-light+medium"``) give the mean of two entries' kernels, ``"x2-bicubic"`` plain
    bicubic (the 1×1 identity). An entry of its own comes first: ``"x2-auto-light+medium"``
    (:func:`routed_name`) is one fitted kernel, not a mean."""
    if name.endswith("-bicubic"):
        return np.ones((1, 1), np.float32)
    if "+" in name and name not in builtin_kernels():
        first, second = name.split("+")
        other = first[: first.index("-") + 1] + second
        return ((bank_kernel(first) + bank_kernel(other)) / np.float32(2)).astype(np.float32)
    path = builtin_kernels().get(name)
    if path is None or path.parent.name != "bank":
        raise KernelError(f"the kernel bank entry {name} is missing from the installed weights")
    return load_kernel(path)[0]


def degradation_of(
    image: np.ndarray | Estimates, info: Mapping[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    """Which family of kernels fits ``image``: ``"clean"``, a JPEG quality class (``"q95"``,
    ``"q85"``, ``"q75"``; from the file's quantization table in ``info``) or a noise class
    (``"n2"``, ``"n5"``; estimated), and the number behind it."""
    quality = jpeg_quality((info or {}).get("quantization"))
    if quality is not None:
        hi, mid = JPEG_CLASSES
        return ("q95" if quality >= hi else "q85" if quality >= mid else "q75"), {
            "jpeg_quality": quality
        }
    sigma = (image if isinstance(image, Estimates) else Estimates(image)).noise
    cls = "clean" if sigma < NOISE_CLASSES[0] else "n2" if sigma < NOISE_CLASSES[1] else "n5"
    return cls, {"noise": round(sigma, 3)}


def choices(scale: int, degradation: str) -> tuple[str, ...]:
    """The steps ``auto`` may take for a family at bank scale ``scale``: :func:`steps` up to the
    strongest one the family's calibrated rule has a threshold for (clean: up to
    ``medium+heavy`` at every scale; JPEG: all three)."""
    options = steps(degradation)
    return options[: len(THRESHOLDS.get((scale, degradation), ())) + 1]


def rule_weights(scale: int, rule: str) -> tuple[float, float, float]:
    """The weights of (spectral, edge, −log10 ringing) in the blur score of ``rule`` (a family,
    one past its periodic gate: :func:`periodic_rule`, or its dense inputs': :func:`dense_rule`,
    which shares the family's) at bank scale ``scale``; the spectral width alone if it has none."""
    family, _, part = rule.partition("/")
    return WEIGHTS.get((scale, family if part == "dense" else rule), (1.0, 0.0, 0.0))


def needs_widths(scale: int, family: str) -> bool:
    """Whether the rule of ``family`` at bank scale ``scale`` reads the spectral or edge width
    (or a periodic gate, which reads the spectrum)."""
    weights = rule_weights(scale, family)
    return bool(weights[0] or weights[1]) or (scale, family) in PERIODIC_GATE


def rule_parts(est: Estimates, scale: int, rule: str) -> dict[str, float]:
    """The estimates the rule ``rule`` (a family, or :func:`periodic_rule`) at bank scale
    ``scale`` weighs, by name (:func:`blur_score`): only those it has a weight for."""
    weights = rule_weights(scale, rule)
    _prepare(est, scale, rule)
    parts: dict[str, float] = {}
    if weights[0] or weights[1]:
        parts.update(blur_parts(est, need_edge=weights[1] != 0.0))
    if weights[2]:
        parts["ringing"] = probe_ringing(est, scale)
    return parts


def probe_ringing(est: Estimates, scale: int) -> float:
    """The ringing a rule weighs: that of :data:`RINGING_STEP`, the mildest sharpening step, at
    bank scale ``scale`` (remembered by ``est``)."""
    return est.ringing(bank_kernel(f"x{scale}-{RINGING_STEP}"), scale)


def _prepare(est: Estimates, scale: int, rule: str) -> None:
    """Compute here the estimates of ``rule`` other than the spectral one (ringing, edge), so
    that they run while the spectral estimate ends on another core
    (:meth:`~nssr_cli.kernels.estimate.Estimates.start_spectral`); each is remembered."""
    weights = rule_weights(scale, rule)
    if weights[2]:
        probe_ringing(est, scale)
    if weights[1]:
        _ = est.edge


def blur_score(parts: Mapping[str, float], weights: tuple[float, float, float]) -> float:
    """A rule's blur score from its estimates (``spectral``, ``edge``: widths in input
    pixels; ``ringing``: :func:`~nssr_cli.kernels.estimate.ringing` of the
    :data:`RINGING_STEP` kernel) and its weights for (spectral, edge, −log10 ringing): higher
    means more blurred, a stronger step."""
    a, b, c = weights
    score = a * parts.get("spectral", 0.0) + b * parts.get("edge", 0.0)
    if c:
        score += c * -math.log10(max(parts.get("ringing", 1.0), RINGING_FLOOR))
    return score


def _score_words(parts: Mapping[str, float], weights: tuple[float, float, float]) -> str:
    return f"ringing {parts['ringing']:.3f}, blur score" if weights[2] else "blur score"


def choose(score: float, scale: int, degradation: str, rule: str | None = None) -> str:
    """The step of :func:`steps` for a blur ``score`` under the calibrated thresholds of
    ``rule`` (the family's own by default; ``"clean/periodic"``: a periodic clean input; a
    plain periodic rule, PERIODIC_PLAIN, has no thresholds: select_kernel gives bicubic)."""
    options = steps(degradation)
    thresholds = THRESHOLDS.get((scale, rule or degradation), ())
    return options[min(sum(score >= t for t in thresholds), len(options) - 1)]


def select_kernel(
    image: np.ndarray, scale: float, blur: str = "auto", *, info: Mapping[str, Any] | None = None
) -> Selection:
    """The kernel for ``image`` (``H×W`` or ``H×W×C``, uint8/uint16/float32) at ``scale``.

    ``blur``: one of :data:`BLUR_LEVELS`; ``auto`` estimates it from ``image`` (the LR input) and
    ``info`` (the decoded file's ``Picture.info``: a JPEG's ``"quantization"`` table)."""
    if blur not in BLUR_LEVELS:
        raise ValueError(f"blur must be one of {BLUR_LEVELS}")
    s = bank_scale(scale)
    why: dict[str, Any] = {"bank_scale": s}
    routed = False  # whether a family's rule's score chose the step (not a gate, not the user)
    score: float | None = None  # the blur score that chose the step, where one did
    if blur == "auto" and scale == 1:  # the bank's kernels undo a resampling that never happens
        return Selection(
            bank_kernel("x2-bicubic"), "bicubic", "bicubic", {"why": "scale 1, nothing resampled"}
        )
    if blur == "auto":
        est = Estimates(image)  # one luminance crop for every estimate
        if (info or {}).get("quantization") is not None or needs_widths(s, "clean"):
            est.start_spectral()  # on another core, while the noise (if needed) runs here
        degradation, measured = degradation_of(est, info)
        source = (
            f"JPEG quality {measured['jpeg_quality']:.0f}"
            if "jpeg_quality" in measured
            else f"noise σ {measured['noise']:.2f}"
        )
        why.update(measured, degradation=degradation)
        if len(steps(degradation)) == 1:  # nothing left to choose: skip the blur estimate
            blur = steps(degradation)[0]
            why["why"] = f"{source} → {degradation} → {blur}"
        else:
            rule, gate = degradation, PERIODIC_GATE.get((s, degradation))
            if gate is not None:
                _prepare(est, s, rule)  # while the spectrum, which the gate reads, ends
                why["periodic"] = round(est.peak, 3)
                if est.peak >= gate:
                    rule = periodic_rule(degradation)
                    source += f", periodic {est.peak:.2f}"
            sparse = SPARSE_GATE.get((s, degradation))
            if rule == degradation and sparse is not None:
                why["sparsity"] = round(est.sparsity, 3)
                if est.sparsity < sparse:
                    rule = dense_rule(degradation)
                    source += f", dense gradients {est.sparsity:.2f}"
            if rule == periodic_rule(degradation) and (s, degradation) in PERIODIC_PLAIN:
                blur = "bicubic"  # nothing to score: even the mildest step costs such inputs
                why["why"] = f"{source} → {rule} → {blur}"
            else:
                weights = rule_weights(s, rule)
                parts = rule_parts(est, s, rule)
                score = blur_score(parts, weights)
                blur = choose(score, s, degradation, rule)
                why["blur_score"] = round(score, 4)
                why.update({k: round(v, 4) for k, v in parts.items()})
                words = _score_words(parts, weights)
                why["why"] = f"{source} → {rule}; {words} {score:.3f} → {blur}"
                routed = rule in (degradation, dense_rule(degradation))  # not a periodic one
    if blur == "bicubic":
        return Selection(bank_kernel(f"x{s}-bicubic"), "bicubic", blur, why)
    name = routed_name(s, blur, score) if routed else f"x{s}-{blur}"
    return Selection(bank_kernel(name), name, blur, why)


def routed_name(scale: int, step: str, score: float | None = None) -> str:
    """The kernel at the end of a rule's route to ``step``: the one fitted to the inputs the
    rule sends there (``x2-auto-light``, ``x2-auto-none-q85``: :mod:`nssr_cli.quality.routes`)
    — where the step's range of scores is cut into bands (``ROUTE_BANDS``), the one fitted to
    the band of ``score`` (``x3-auto-none.2``) — where the bank has it, else the step's own
    (``x2-light``)."""
    edges = ROUTE_BANDS.get((scale, step), ())
    if edges and score is not None:
        band = f"x{scale}-auto-{step}.{band_of(score, edges)}"
        if _shipped(band):
            return band
    fitted = f"x{scale}-auto-{step}"
    return fitted if _shipped(fitted) else f"x{scale}-{step}"


def route_kernels(scale: int, step: str) -> list[str]:
    """Every kernel :func:`routed_name` may give for ``step`` at bank scale ``scale``."""
    bands = len(ROUTE_BANDS.get((scale, step), ())) + 1
    names = [f"x{scale}-auto-{step}.{j}" for j in range(1, bands + 1) if bands > 1]
    return [n for n in names if _shipped(n)] or [routed_name(scale, step)]


@lru_cache(maxsize=256)
def _shipped(name: str) -> bool:
    return name in builtin_kernels()
