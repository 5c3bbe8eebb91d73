"""Offline calibration of the ``auto`` kernel choice (:func:`nssr_cli.kernels.bank.select_kernel`)
on synthetic scenes only — never on photographs, never on the benchmark.

Each calibration input is a procedural scene of one of six kinds (dead leaves, 1/f^β fields,
periodic and stochastic textures, text and strokes, flat graphics:
:func:`~nssr_cli.synth.scenes.content_scene`), 48–160 LR pixels a side, most with a little
optical blur of its own (:func:`~nssr_cli.synth.pairs.synthetic_input`), then either sharp
(the classic bicubic downscale, half the time) or blurred (a DIV2KRK-recipe kernel, fresh
seeds); and each of those in every family a file can be in: clean, JPEG in the quality range
of ``q95``/``q85``/``q75``, noise in the σ range of ``n2``/``n5``
(:data:`nssr_cli.synth.levels.DEGRADATIONS`). Every step the rule may choose for that family is
applied and scored like the benchmark (8-bit output, PSNR on Y, ``s`` border pixels cropped).

Per (scale, family) the rule is a blur score — a weighted mean of the spectral and edge widths,
weights from a logistic regression of sharp vs blurred — and thresholds along it: the rising
step function of the score with the best total *utility* over the calibration inputs (exact, by
dynamic programming), where a loss against bicubic counts
:data:`~nssr_cli.kernels.bank.LOSS_WEIGHT` times a gain (the worst case matters more than the
mean). Only the inputs that reach a
family's rule count (:func:`reaches_rule`): a clean scene whose noise estimate sends it to plain
bicubic (many sharp textures read σ̂ ≥ 1) would otherwise pull the clean thresholds up with
losses ``auto`` never incurs. Clean inputs past a periodic gate (spectral peakiness: gratings,
bricks, tiles) get a rule of their own, :data:`PERIODIC`, the gate being the value with the
best total utility of the two clean rules fitted on either side of it (:func:`fit_gate`).

``python -m nssr_cli.quality.calibrate [--check] [--count=N] [--held-out=M] [SCALE...]`` refits
the rule on ``N`` scenes per scale (200 by default; thresholds fitted on 200 move by up to ±0.1
between random streams, on 1600 by about half that) and prints it (with ``--check``, scores the
shipped rule on held-out scenes instead); ``--held-out=M`` also scores the refit and the shipped
rule on two held-out streams of ``M`` scenes and says per family whether the refit should
replace the shipped rule (:func:`replaces`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nssr_cli.engine.plans import make_plan, upscale_planes
from nssr_cli.kernels.bank import (
    LOSS_WEIGHT,
    NOISE_CLASSES,
    PERIODIC,
    PERIODIC_GATE,
    RINGING_STEP,
    THRESHOLDS,
    WEIGHTS,
    bank_kernel,
    blur_score,
    steps,
)
from nssr_cli.kernels.estimate import Estimates
from nssr_cli.kernels.files import resolve_kernel
from nssr_cli.quality.metrics import psnr_y
from nssr_cli.synth.levels import DEGRADATIONS
from nssr_cli.synth.pairs import in_family, synthetic_input

FAMILIES = ("clean", *DEGRADATIONS)
Weights = tuple[float, float, float]  # of spectral width, edge width, −log10 ringing
Rule = dict[str, tuple[Weights, tuple[float, ...]]]  # family → (weights, thresholds)


def calibrate(scale: int, count: int = 200, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` synthetic scenes at ``scale``, each in every family: one row per (scene,
    family) with ``family``, ``kind``, ``sharp``, the estimates (``spectral``, ``edge``,
    ``noise``, ``peak``; for clean inputs also ``ringing``) and ``gain``: each of the family's
    steps' PSNR gain over bicubic (dB)."""
    rng = np.random.default_rng([seed, scale, 0xCA1])
    plans: dict[str, Any] = {"bicubic": make_plan(resolve_kernel("bicubic")[0], scale)}
    rows = []
    for _ in range(count):
        kind, hr, lr, sharp = synthetic_input(scale, rng)
        ref = hr[:, :, 0] * 255.0
        for family in FAMILIES:
            x = in_family(lr, family, rng)
            outs = {}
            for step in ("bicubic", *steps(family)):
                if step not in plans:
                    plans[step] = make_plan(bank_kernel(f"x{scale}-{step}"), scale)
                outs[step] = psnr_y(upscale_planes(x[:, :, 0], plans[step]), ref, scale)
            est = Estimates(x)  # one luminance crop for every estimate
            row = {
                "family": family,
                "kind": kind,
                "sharp": sharp,
                "spectral": est.spectral,
                "edge": est.edge,
                "noise": est.noise,
                "peak": est.peak,
                "gain": np.array([outs[st] - outs["bicubic"] for st in steps(family)]),
            }
            if family == "clean":
                row["ringing"] = est.ringing(bank_kernel(f"x{scale}-{RINGING_STEP}"), scale)
            rows.append(row)
    return rows


def _weights(rows: list[dict[str, Any]]) -> Weights:
    """(spectral, edge, 0) weights: a logistic regression of blurred vs sharp, normalised to
    sum 1 (so the score stays a width in pixels)."""
    x = np.array([[1.0, r["spectral"], r["edge"]] for r in rows])
    y = np.array([0.0 if r["sharp"] else 1.0 for r in rows])
    w = np.zeros(3)
    for _ in range(50):  # Newton's method, lightly regularised (the classes may separate)
        p = 1 / (1 + np.exp(-x @ w))
        hess = x.T @ (x * (p * (1 - p))[:, None]) + 1e-2 * np.eye(3)
        w -= np.linalg.solve(hess, x.T @ (p - y) + 1e-2 * w)
    ab = np.clip(w[1:], 0, None)
    ab = ab / ab.sum() if ab.sum() > 0 else np.array([1.0, 0.0])
    return round(float(ab[0]), 3), round(float(ab[1]), 3), 0.0


RINGING_WEIGHTS: Weights = (0.0, 0.0, 1.0)  # a rule on ringing alone: score −log10 ringing


def utility(gain: np.ndarray) -> np.ndarray:
    """A gain over bicubic as the rule weighs it: losses count :data:`LOSS_WEIGHT` times."""
    return np.where(gain < 0, LOSS_WEIGHT * gain, gain)


def _thresholds(score: np.ndarray, gains: np.ndarray) -> tuple[float, ...]:
    """The rising step function of ``score`` ``(N,)`` with the best total utility over the rows
    (``gains`` ``(N, C)``, steps mildest first), found exactly by dynamic programming over the
    rows in score order: one threshold per step after the first, midway between the last row
    below it and the first at or above it (9.0: never chosen)."""
    order = np.argsort(score)
    u = utility(gains[order])
    n, c = u.shape
    best = np.empty((n, c))
    best[0] = u[0]
    for j in range(1, n):  # best[j, k]: rows 0…j, row j given step k, steps rising
        best[j] = u[j] + np.maximum.accumulate(best[j - 1])
    steps_of = np.empty(n, dtype=int)
    k = int(np.argmax(best[-1]))
    for j in range(n - 1, -1, -1):
        k = int(np.argmax(best[j, : k + 1]))
        steps_of[j] = k
    s = score[order]
    out = []
    for k in range(1, c):
        first = int(np.argmax(steps_of >= k)) if (steps_of >= k).any() else n
        out.append(9.0 if first == n else float((s[first] + s[max(first - 1, 0)]) / 2))
    return tuple(round(t, 3) for t in out)


def reaches_rule(row: dict[str, Any]) -> bool:
    """Whether ``auto`` would weigh this row's blur at all: a clean input whose noise estimate
    reads σ̂ ≥ the first noise class goes to the noisy family (plain bicubic) instead, so it
    must not move the clean family's thresholds (textured scenes often read that noisy)."""
    return row["family"] != "clean" or row.get("noise", 0.0) < NOISE_CLASSES[0]


GATES = tuple(np.round(np.arange(1.0, 3.05, 0.1), 1))  # the periodic gates fit_gate tries


def rule_key(row: dict[str, Any], gate: float | None) -> str:
    """The rule a calibration row is judged by: its family's, or :data:`PERIODIC` for a clean
    input whose spectrum is at least ``gate`` periodic (``peak``: bricks, gratings, tiles)."""
    if gate is not None and row["family"] == "clean" and row.get("peak", 0.0) >= gate:
        return PERIODIC
    return row["family"]


def fit(rows: list[dict[str, Any]], gate: float | None = None) -> Rule:
    """Per family (and :data:`PERIODIC` where ``gate`` is given): the blur score's weights and
    the thresholds between its steps, from the rows that reach the rule (:func:`reaches_rule`,
    :func:`rule_key`). The clean family scores by ringing (:data:`RINGING_WEIGHTS`) where its
    rows carry it, the others (and :data:`PERIODIC`) by the widths."""
    rule = {}
    for key in (*FAMILIES, PERIODIC):
        family = key.split("/")[0]
        part = [r for r in rows if rule_key(r, gate) == key and reaches_rule(r)]
        if len(steps(family)) == 1 or not part:
            continue
        ringing = key == "clean" and all("ringing" in r for r in part)
        weights = RINGING_WEIGHTS if ringing else _weights(part)
        score = np.array([blur_score(r, weights) for r in part])
        rule[key] = (weights, _thresholds(score, np.stack([r["gain"] for r in part])))
    return rule


def fit_gate(rows: list[dict[str, Any]]) -> float | None:
    """The periodic gate (of :data:`GATES`) whose clean rules, fitted with it, have the best
    total utility on the clean rows; None (no gate) where the clean rule scores by ringing: a
    gate keeps gratings, which read blurred whether or not they are, from a rule on the widths,
    and a sharpened sharp grating rings like any sharp input."""
    clean = [r for r in rows if r["family"] == "clean"]
    if clean and all("ringing" in r for r in clean):
        return None
    score = {g: evaluate_rule(clean, fit(clean, g), g)["clean"]["utility"] for g in GATES}
    return max(GATES, key=lambda g: (score[g], g))


def pick(row: dict[str, Any], rule: Rule, gate: float | None = None) -> int | None:
    """The step index ``rule`` (with its periodic ``gate``) gives a calibration row (its family
    known); None where the noise estimate sends it to plain bicubic (:func:`reaches_rule`)."""
    if not reaches_rule(row):
        return None
    key = rule_key(row, gate)
    if key not in rule:
        return 0
    weights, thresholds = rule[key]
    return min(sum(blur_score(row, weights) >= t for t in thresholds), len(row["gain"]) - 1)


def evaluate_rule(
    rows: list[dict[str, Any]], rule: Rule, gate: float | None = None
) -> dict[str, dict[str, float]]:
    """Per family: mean and worst gain of sharp and of blurred inputs under ``rule``, the
    blurred inputs' oracle (best step per input), the mean :func:`utility` of all inputs and,
    of the sharp inputs that reach the rule (the tail a default must bound; inputs sent to
    bicubic count 0 dB everywhere else), ``sharp_p2``: the 2nd percentile and ``sharp_share``:
    the percentage that lose more than :data:`LOSS_DB` to bicubic."""
    out = {}
    for family in FAMILIES:
        part = [r for r in rows if r["family"] == family]
        if not part:
            continue
        picks = [(r, pick(r, rule, gate)) for r in part]
        gain = np.array([0.0 if k is None else r["gain"][k] for r, k in picks])
        sharp = np.array([r["sharp"] for r in part])
        reached = sharp & np.array([k is not None for _, k in picks])
        best = np.array([r["gain"].max() for r in part])
        out[family] = {
            "sharp_mean": round(float(gain[sharp].mean()), 3),
            "sharp_worst": round(float(gain[sharp].min()), 3),
            "sharp_p2": round(float(np.percentile(gain[reached], 2)), 3) if reached.any() else 0.0,
            "sharp_share": round(float(100 * np.mean(gain[reached] < -LOSS_DB)), 2)
            if reached.any()
            else 0.0,
            "blurred_mean": round(float(gain[~sharp].mean()), 3),
            "blurred_oracle": round(float(best[~sharp].mean()), 3),
            "utility": round(float(utility(gain).mean()), 3),
        }
    return out


# A refit replaces a shipped rule only if, on every held-out stream, it is at least as useful,
# its worst sharp input no more than TAIL_GAIN_DB worse, and its sharp tail either clearly
# safer (2nd percentile up by TAIL_GAIN_DB) or no less safe: 2nd percentile no more than
# TAIL_SLACK_DB below the shipped one (or below 0 dB, where the shipped one is above it) and the
# share of sharp inputs losing more than LOSS_DB up by no more than SHARE_SLACK points. The
# second way is for a shipped tail that is already small: there a 2nd percentile cannot rise
# by a whole dB, and the first test alone would keep a rule however much less useful it is.
TAIL_GAIN_DB = 1.0
TAIL_SLACK_DB = 0.25
LOSS_DB = 0.5
SHARE_SLACK = 1.0


def replaces(fitted: dict[str, float], shipped: dict[str, float]) -> bool:
    """Whether one family's :func:`evaluate_rule` scores on one held-out stream favour the
    refit (the test above: as useful, and clearly safer or no less safe)."""
    clearly_safer = fitted["sharp_p2"] >= shipped["sharp_p2"] + TAIL_GAIN_DB
    as_safe = (
        fitted["sharp_p2"] >= min(shipped["sharp_p2"], 0.0) - TAIL_SLACK_DB
        and fitted["sharp_share"] <= shipped["sharp_share"] + SHARE_SLACK
    )
    return (
        fitted["utility"] >= shipped["utility"]
        and fitted["sharp_worst"] >= shipped["sharp_worst"] - TAIL_GAIN_DB
        and (clearly_safer or as_safe)
    )


def noise_classes(rows: list[dict[str, Any]]) -> tuple[float, float]:
    """Noise σ̂ thresholds between clean / n2 / n5: midway (geometrically) between the medians
    of the families' estimates on the calibration scenes."""
    med = {f: float(np.median([r["noise"] for r in rows if r["family"] == f])) for f in FAMILIES}
    return (
        round(math.sqrt(max(med["clean"], 0.05) * med["n2"]), 2),
        round(math.sqrt(med["n2"] * med["n5"]), 2),
    )


def shipped_rule(scale: int) -> tuple[Rule, float | None]:
    """The rule in :mod:`nssr_cli.kernels.bank` for ``scale``, as :func:`fit` returns it, and
    its periodic gate (None: none)."""
    rule = {
        f: (WEIGHTS[(scale, f)], THRESHOLDS[(scale, f)])
        for f in (*FAMILIES, PERIODIC)
        if (scale, f) in THRESHOLDS
    }
    return rule, PERIODIC_GATE.get(scale)


if __name__ == "__main__":
    # python -m nssr_cli.quality.calibrate [--check] [--count=N] [--held-out=M] [SCALE...]
    import sys

    def _option(name: str, default: int) -> int:
        return next((int(a[len(name) :]) for a in sys.argv if a.startswith(name)), default)

    held_out = "--check" in sys.argv
    count, streams = _option("--count=", 200), _option("--held-out=", 0)
    for s in [int(a) for a in sys.argv[1:] if a.isdigit()] or [2, 3, 4]:
        rows = calibrate(s, count, seed=1 if held_out else 0)
        if held_out:
            print(f"x{s}: shipped rule on held-out scenes: {evaluate_rule(rows, *shipped_rule(s))}")
            continue
        gate = fit_gate(rows)
        rule = fit(rows, gate)
        print(f"x{s}: noise classes {noise_classes(rows)} (shipped {NOISE_CLASSES})")
        print(f"x{s}: PERIODIC_GATE {gate} (shipped {PERIODIC_GATE.get(s)})")
        for family, (weights, thresholds) in rule.items():
            print(f"x{s} {family}: WEIGHTS {weights} THRESHOLDS {thresholds}")
        print(f"x{s}: fitted rule on its own scenes: {evaluate_rule(rows, rule, gate)}")
        if streams:  # the fitted and the shipped rule on two held-out streams
            scores = [
                (evaluate_rule(held, rule, gate), evaluate_rule(held, *shipped_rule(s)))
                for held in (calibrate(s, streams, seed=k) for k in (1, 2))
            ]
            for family in (f for f in FAMILIES if f in rule):
                verdict = all(replaces(f[family], sh[family]) for f, sh in scores)
                print(f"x{s} {family}: {'replace' if verdict else 'keep'} the shipped rule")
                for k, (f, sh) in enumerate(scores, 1):
                    print(f"    held-out {k}: fitted  {f[family]}")
                    print(f"                shipped {sh[family]}")
