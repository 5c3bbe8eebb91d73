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
whether or not they are: past a periodic gate they keep the family's mildest step. Between
two entries it may pick their average kernel (``"light+medium"``: still one 11×11 kernel). Where
a rule's score chose the step, its kernel is the one fitted to what the rule sends there
(``x2-auto-light``: :mod:`nssr_cli.quality.routes`)."""

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


def steps(degradation: str) -> tuple[str, ...]:
    """The steps of a family's rule, mildest first (a scale's rule may stop short of the last:
    :func:`choices`)."""
    if degradation == "clean":  # heavy alone only on request: where it misfires it costs 5–15 dB
        return ("none", "none+light", "light", "light+medium", "medium", "medium+heavy")
    if degradation.startswith("q"):
        d = degradation
        return (f"none-{d}", f"none-{d}+medium-{d}", f"medium-{d}")
    return ("bicubic",)  # noisy: every kernel, even one solved under noise, lost on photos


def choices(scale: int, degradation: str) -> tuple[str, ...]:
    """The steps ``auto`` may take for a family at bank scale ``scale``: :func:`steps` up to the
    strongest one the family's calibrated rule has a threshold for (clean: up to
    ``medium+heavy`` at every scale; JPEG: all three)."""
    options = steps(degradation)
    return options[: len(THRESHOLDS.get((scale, degradation), ())) + 1]


def rule_weights(scale: int, rule: str) -> tuple[float, float, float]:
    """The weights of (spectral, edge, −log10 ringing) in the blur score of ``rule`` (a family,
    or one past its periodic gate: :func:`periodic_rule`) at bank scale ``scale``; the spectral
    width alone if it has none."""
    return WEIGHTS.get((scale, rule), (1.0, 0.0, 0.0))


def needs_widths(scale: int, family: str) -> bool:
    """Whether the rule of ``family`` at bank scale ``scale`` reads the spectral or edge width
    (or a periodic gate, which reads the spectrum)."""
    weights = rule_weights(scale, family)
    return bool(weights[0] or weights[1]) or (scale, family) in PERIODIC_GATE


def periodic_rule(family: str) -> str:
    """The name of the rule for inputs of ``family`` past its periodic gate, e.g.
    ``"q85/periodic"`` (:data:`PERIODIC` for clean inputs)."""
    return f"{family}/periodic"


NEVER = 9.0  # a threshold no blur score reaches: the steps past it are never chosen


def mildest_only(family: str) -> tuple[float, ...]:
    """Thresholds that keep every input of ``family`` at its mildest step (a periodic rule's)."""
    return (NEVER,) * (len(steps(family)) - 1)


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
            if rule != degradation and (s, degradation) in PERIODIC_PLAIN:
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
                routed = rule == degradation  # the family's own rule, not a periodic one
    if blur == "bicubic":
        return Selection(bank_kernel(f"x{s}-bicubic"), "bicubic", blur, why)
    name = routed_name(s, blur) if routed else f"x{s}-{blur}"
    return Selection(bank_kernel(name), name, blur, why)


@lru_cache(maxsize=64)
def routed_name(scale: int, step: str) -> str:
    """The kernel at the end of a rule's route to ``step``: the one fitted to the inputs the
    rule sends there (``x2-auto-light``, ``x2-auto-none-q85``: :mod:`nssr_cli.quality.routes`)
    where the bank has it, else the step's own (``x2-light``)."""
    fitted = f"x{scale}-auto-{step}"
    return fitted if fitted in builtin_kernels() else f"x{scale}-{step}"


# The rule, from `python -m nssr_cli.quality.calibrate` (synthetic scenes only): JPEG quality
# at or above which a file counts as q95 / q85 (below: q75); noise σ̂ (8-bit luminance) at or
# above which an input counts as n2 / n5; per (scale, family) the weights of (spectral σ̂,
# edge σ̂, −log10 ringing) in the blur score (blur_score) and the score thresholds between
# consecutive steps (a rule with fewer thresholds than its family has steps stops at the last
# it has one for). Past a family's periodic gate an input takes the family's mildest step.
# Which calibration run printed each rule, and the held-out verdicts (rules.replaces) behind
# it: README, Quality ("Where each shipped rule comes from"). Every clean rule, and every JPEG
# rule but ×4 q85 and q75 (the widths alone), weighs ringing corrected by the widths; each is
# what the calibration shipped on 6400 scenes (sharp ones from five downscalers: synth.pairs).
JPEG_CLASSES = (90, 80)
NOISE_CLASSES = (1.0, 2.3)
# Per (scale, family): inputs whose spectrum is at least this periodic (Estimates.peak: log10 of
# a frequency ring's max over median power; gratings 3–7, bricks and tiles 1.2–3.5, the public
# images 0.3–3.7) take the rule under (scale, periodic_rule(family)) instead.
PERIODIC_GATE: dict[tuple[int, str], float] = {
    (2, "clean"): 3.3,
    (2, "q95"): 3.3,
    (2, "q85"): 3.9,
    (2, "q75"): 3.5,
    (3, "clean"): 4.7,
    (4, "clean"): 6.0,
    (3, "q95"): 4.0,
    (3, "q85"): 3.7,
    (3, "q75"): 2.9,
    (4, "q95"): 4.4,
    (4, "q85"): 4.5,
}
# The (scale, family) whose inputs past the gate get plain bicubic rather than the family's
# mildest step (a periodic rule without thresholds): at ×3 even `none` let sharp calibration
# gratings lose up to 13 dB (rules.plain_past_gate; held-out verdicts in README, Quality).
PERIODIC_PLAIN = frozenset({(3, f) for f in ("clean", "q95", "q85", "q75")})
PERIODIC = periodic_rule("clean")  # the rule of clean inputs past the periodic gate
WEIGHTS: dict[tuple[int, str], tuple[float, float, float]] = {
    (2, "clean"): (1.982, 0.235, 1.0),
    (2, "q95"): (0.916, 0.0, 1.0),
    (2, "q85"): (0.941, 0.202, 1.0),
    (2, "q75"): (0.981, 0.447, 1.0),
    (3, "clean"): (0.816, -0.29, 1.0),
    (3, "q95"): (0.488, -0.259, 1.0),
    (3, "q85"): (0.64, -0.083, 1.0),
    (3, "q75"): (0.754, 0.256, 1.0),
    (4, "clean"): (0.57, -0.406, 1.0),
    (4, "q95"): (0.669, -0.042, 1.0),
    (4, "q85"): (0.582, 0.418, 0.0),
    (4, "q75"): (0.504, 0.496, 0.0),
}
THRESHOLDS: dict[tuple[int, str], tuple[float, ...]] = {
    (2, "clean"): (2.205, 2.46, 2.723, 2.916, 3.182),
    **{
        (s, periodic_rule(f)): () if (s, f) in PERIODIC_PLAIN else mildest_only(f)
        for s, f in PERIODIC_GATE
    },
    (2, "q95"): (1.609, 1.712),
    (2, "q85"): (1.775, 1.83),
    (2, "q75"): (2.017, 2.076),
    (3, "clean"): (1.086, 1.183, 1.277, 1.538, 1.762),
    (3, "q95"): (1.088, 1.162),
    (3, "q85"): (1.353, 1.41),
    (3, "q75"): (1.718, 1.785),
    (4, "clean"): (0.823, 0.843, 0.959, 1.072, 1.283),
    (4, "q95"): (1.317, 1.371),
    (4, "q85"): (0.779, 0.818),
    (4, "q75"): (0.804, 0.833),
}
