"""The calibrated ``auto`` rule as data: each family's steps, the classes that pick a family,
and per (scale, family) the periodic gate, the blur score's weights and the thresholds between
steps (:mod:`nssr_cli.quality.calibrate` prints them), and the bands that cut a step's range of
scores, each with a kernel of its own (:mod:`nssr_cli.quality.routes` prints them). How they
are applied to an image: :func:`nssr_cli.kernels.bank.select_kernel`."""

from __future__ import annotations


def steps(degradation: str) -> tuple[str, ...]:
    """The steps of a family's rule, mildest first (a scale's rule may stop short of the last:
    :func:`~nssr_cli.kernels.bank.choices`)."""
    if degradation == "clean":  # heavy alone only on request: where it misfires it costs 5–15 dB
        return ("none", "none+light", "light", "light+medium", "medium", "medium+heavy")
    if degradation.startswith("q"):
        d = degradation
        return (f"none-{d}", f"none-{d}+medium-{d}", f"medium-{d}")
    return ("bicubic",)  # noisy: every kernel, even one solved under noise, lost on photos


def periodic_rule(family: str) -> str:
    """The name of the rule for inputs of ``family`` past its periodic gate, e.g.
    ``"q85/periodic"`` (:data:`PERIODIC` for clean inputs)."""
    return f"{family}/periodic"


def dense_rule(family: str) -> str:
    """The name of the rule for inputs of ``family`` whose gradients are dense (below its
    :data:`SPARSE_GATE`), e.g. ``"q85/dense"``."""
    return f"{family}/dense"


NEVER = 9.0  # a threshold no blur score reaches: the steps past it are never chosen


def mildest_only(family: str) -> tuple[float, ...]:
    """Thresholds that keep every input of ``family`` at its mildest step (a periodic rule's)."""
    return (NEVER,) * (len(steps(family)) - 1)


# The rule, from `python -m nssr_cli.quality.calibrate` (synthetic scenes only): JPEG quality
# at or above which a file counts as q95 / q85 (below: q75); noise σ̂ (8-bit luminance) at or
# above which an input counts as n2 / n5; per (scale, family) the weights of (spectral σ̂,
# edge σ̂, −log10 ringing) in the blur score (blur_score) and the score thresholds between
# consecutive steps (a rule with fewer thresholds than its family has steps stops at the last
# it has one for). Past a family's periodic gate an input takes the family's mildest step.
# Which calibration run printed each rule, and the held-out verdicts (rules.replaces) behind
# it: docs/quality.md ("Where each shipped rule comes from"). Every clean rule, and every JPEG
# rule but ×4 q85 and q75 (the widths alone), weighs ringing corrected by the widths; each is
# what the calibration shipped on 6400 scenes (sharp ones from five downscalers: synth.pairs;
# the ×3 q95 and q85 rules, q85's with its dense part, on the scenes with bokeh).
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
    (3, "q95"): 3.6,
    (3, "q85"): 3.4,
    (3, "q75"): 2.9,
    (4, "q95"): 4.4,
    (4, "q85"): 4.5,
}
# The (scale, family) whose inputs past the gate get plain bicubic rather than the family's
# mildest step (a periodic rule without thresholds): at ×3 even `none` let sharp calibration
# gratings lose up to 13 dB (rules.plain_past_gate; held-out verdicts: docs/quality.md, "Gates
# that bound the worst case").
PERIODIC_PLAIN = frozenset({(3, f) for f in ("clean", "q95", "q85", "q75")})
# Per (scale, family): inputs below the periodic gate whose gradients are denser than this
# (Estimates.sparsity, the share of the gradient energy in the strongest tenth of the pixels:
# 0.33 for any Gaussian field; fields, textures, skies, text 0.27–0.50; photographs mostly
# 0.5–0.95) take the rule under (scale, dense_rule(family)): the family's weights, thresholds
# of their own. Soft dense content (skies, smooth fields) reads as blurred as photographs do and
# loses under sharpening; split off, it no longer holds the thresholds of sparse inputs up.
SPARSE_GATE: dict[tuple[int, str], float] = {(3, "q85"): 0.42}
PERIODIC = periodic_rule("clean")  # the rule of clean inputs past the periodic gate
WEIGHTS: dict[tuple[int, str], tuple[float, float, float]] = {
    (2, "clean"): (1.982, 0.235, 1.0),
    (2, "q95"): (0.916, 0.0, 1.0),
    (2, "q85"): (0.941, 0.202, 1.0),
    (2, "q75"): (0.981, 0.447, 1.0),
    (3, "clean"): (0.816, -0.29, 1.0),
    (3, "q95"): (0.979, 0.019, 1.0),
    (3, "q85"): (0.925, 0.195, 1.0),
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
    (3, "q95"): (1.66, 1.768),
    (3, "q85"): (1.667, 1.801),
    (3, "q85/dense"): (1.914, 1.978),
    (3, "q75"): (1.718, 1.785),
    (4, "clean"): (0.823, 0.843, 0.959, 1.072, 1.283),
    (4, "q95"): (1.317, 1.371),
    (4, "q85"): (0.779, 0.818),
    (4, "q75"): (0.804, 0.833),
}


# Per (scale, step): the blur scores that cut the step's range into bands, each with a kernel
# fitted to the inputs the rule sends to the step with a score in that band (bank entries
# x{s}-auto-{step}.1, .2, … from the lowest band; from `python -m nssr_cli.quality.routes`,
# which prints them). A step without bands has one route kernel, x{s}-auto-{step}.
ROUTE_BANDS: dict[tuple[int, str], tuple[float, ...]] = {
    (3, "none-q75"): (0.989, 1.1723, 1.3657, 1.5578),
    (3, "medium-q75"): (1.945,),
    (4, "none-q75"): (0.3801, 0.4913, 0.5763, 0.6477, 0.7321),
    (4, "medium-q75"): (0.9027,),
    (2, "none-q75"): (1.1664, 1.4002, 1.6204, 1.8413),
    (2, "medium-q75"): (2.2488,),
    (3, "none-q85"): (1.0033, 1.2134, 1.385, 1.54),
    (3, "medium-q85"): (2.1201,),
    (4, "none-q85"): (0.3603, 0.4819, 0.5724, 0.669),
    (4, "medium-q85"): (0.9014,),
    (2, "none-q95"): (0.8679, 1.0396, 1.1987, 1.3974),
    (2, "medium-q95"): (1.9132,),
    (3, "none-q95"): (0.9097, 1.103, 1.2585, 1.4226),
    (3, "medium-q95"): (2.0729,),
    (4, "none-q95"): (0.6722, 0.8032, 0.9316, 1.0899),
    (4, "medium-q95"): (1.5369, 1.695),
    (3, "none"): (0.6682, 0.8375),
    (3, "medium+heavy"): (2.0367,),
}


def band_of(score: float, cuts: tuple[float, ...]) -> int:
    """The band (1 for the lowest) of ``score`` among those ``cuts`` make (a cut is in the band
    above it)."""
    return 1 + sum(score >= c for c in cuts)
