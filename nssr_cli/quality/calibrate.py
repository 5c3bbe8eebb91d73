"""Offline calibration of the ``auto`` kernel choice (:func:`nssr_cli.kernels.bank.select_kernel`)
on synthetic scenes only — never on photographs, never on the benchmark.

Each calibration input is a procedural scene of one of eight kinds (dead leaves, 1/f^β fields,
periodic and stochastic textures, text and strokes, flat graphics, skies, bokeh:
:func:`~nssr_cli.synth.scenes.content_scene`), 48–160 LR pixels a side, most with a little
optical blur of its own (:func:`~nssr_cli.synth.pairs.synthetic_input`), then either sharp
(half the time: a plain downscale, Pillow's bicubic or, as often, its bilinear, Hamming,
Lanczos or box filter) or blurred (a DIV2KRK-recipe kernel, fresh seeds); and each of those in
every family a file can be in: clean, JPEG in the quality range of ``q95``/``q85``/``q75``,
noise in the σ range of ``n2``/``n5`` (:data:`nssr_cli.synth.levels.DEGRADATIONS`). Every
step the rule may choose for that family is applied and scored like the benchmark (8-bit
output, PSNR on Y, ``s`` border pixels cropped).

Per (scale, family) the rule is a blur score — a weighted mean of the spectral and edge widths,
or where the rows carry it (clean and JPEG inputs) −log10 of the ringing the mildest sharpening
step would cause, corrected by the widths; weights from a logistic regression of sharp vs
blurred — and thresholds along it: the rising step function of the score with the best total
*utility* over the calibration inputs (exact, by dynamic programming), where a loss against
bicubic counts :data:`~nssr_cli.kernels.bank.LOSS_WEIGHT` times a gain (the worst case matters
more than the mean). Only the inputs that reach a family's rule count (:func:`reaches_rule`): a
clean scene whose noise estimate sends it to plain bicubic (many sharp textures read σ̂ ≥ 1)
would otherwise pull the clean thresholds up with losses ``auto`` never incurs. Inputs past a
family's periodic gate (spectral peakiness: gratings, bricks, tiles) get a rule of their own
(:func:`~nssr_cli.kernels.bank.periodic_rule`: the family's mildest step, or plain bicubic where
even that step costs a sharp one over a dB: :func:`~nssr_cli.quality.rules.plain_past_gate`),
the gate being the value (or none) with the best total utility of the family's rules on either
side of it among those that bound the worst sharp loss (:func:`fit_gate`). Below a family's
sparse gate (:data:`~nssr_cli.kernels.rule_table.SPARSE_GATE`: dense gradients, as textures, fog
and skies have) thresholds are fitted apart, on the same weights: its dense rule.

``python -m nssr_cli.quality.calibrate [--check] [--count=N] [--held-out=M] [SCALE...]`` refits
the rule on ``N`` scenes per scale (200 by default; thresholds fitted on 200 move by up to ±0.1
between random streams, on 1600 by about half that; the shipped rules come from 6400) and prints
it (with ``--check``, scores the shipped rule on held-out scenes instead); ``--held-out=M`` also
scores the refit and the shipped rule on two held-out streams of ``M`` scenes and says per
family whether the refit should replace the shipped rule
(:func:`~nssr_cli.quality.rules.replaces`; how a rule is applied and judged lives in
:mod:`nssr_cli.quality.rules`), the same of the shipped rule with only its periodic gate
refitted (:func:`regate`), with only its rules past the gates decided again
(:func:`~nssr_cli.quality.rules.replant`) and with only its thresholds refitted on each side of
a sparse gate (:func:`~nssr_cli.quality.rules.resplit`) where that changes them, and which of
the candidates that pass to ship: the one with the higher utility on the held-out streams.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nssr_cli.engine.plans import make_plan, upscale_planes
from nssr_cli.kernels.bank import bank_kernel, blur_score, probe_ringing
from nssr_cli.kernels.estimate import Estimates
from nssr_cli.kernels.files import resolve_kernel
from nssr_cli.kernels.rule_table import (
    NEVER,
    NOISE_CLASSES,
    PERIODIC_GATE,
    dense_rule,
    periodic_rule,
    steps,
)
from nssr_cli.quality.metrics import psnr_y
from nssr_cli.quality.rules import (
    FAMILIES,
    TAIL_GAIN_DB,
    Gates,
    Rule,
    Weights,
    evaluate_rule,
    gate_of,
    judge,
    past_gate,
    periodic_entry,
    plain_past_gate,
    reaches_rule,
    replant,
    resplit,
    rule_key,
    shipped_rule,
    utility,
)
from nssr_cli.synth.pairs import in_family, synthetic_input


def calibrate(scale: int, count: int = 200, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` synthetic scenes at ``scale``, each in every family: one row per (scene,
    family) with ``family``, ``kind``, ``sharp``, the estimates (``spectral``, ``edge``,
    ``noise``, ``peak``; in a family with a choice also ``ringing``) and ``gain``: each of the
    family's steps' PSNR gain over bicubic (dB)."""
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
                "sparsity": est.sparsity,
                "scale": scale,
                "gain": np.array([outs[st] - outs["bicubic"] for st in steps(family)]),
            }
            if len(steps(family)) > 1:
                row["ringing"] = probe_ringing(est, scale)
            rows.append(row)
    return rows


def _weights(rows: list[dict[str, Any]], ringing: bool = False) -> Weights:
    """The score's weights from a logistic regression of blurred vs sharp: of (spectral, edge)
    normalised to sum 1 (the score stays a width in pixels); with ``ringing``, of (spectral,
    edge, −log10 ringing) normalised to a ringing weight of 1 (the widths then correct the
    ringing score, and may do so either way), :data:`RINGING_WEIGHTS` where ringing does not
    help to separate the two."""
    cols = [_feature(r, ringing) for r in rows]
    x = np.array([[1.0, *c] for c in cols])
    y = np.array([0.0 if r["sharp"] else 1.0 for r in rows])
    w = np.zeros(x.shape[1])
    for _ in range(50):  # Newton's method, lightly regularised (the classes may separate)
        p = 1 / (1 + np.exp(-x @ w))
        hess = x.T @ (x * (p * (1 - p))[:, None]) + 1e-2 * np.eye(len(w))
        w -= np.linalg.solve(hess, x.T @ (p - y) + 1e-2 * w)
    if ringing:
        if w[3] <= 0:
            return RINGING_WEIGHTS
        a, b = w[1:3] / w[3]
        return round(float(a), 3), round(float(b), 3), 1.0
    ab = np.clip(w[1:], 0, None)
    ab = ab / ab.sum() if ab.sum() > 0 else np.array([1.0, 0.0])
    return round(float(ab[0]), 3), round(float(ab[1]), 3), 0.0


def _feature(row: dict[str, Any], ringing: bool) -> list[float]:
    out = [row["spectral"], row["edge"]]
    if ringing:
        out.append(blur_score(row, RINGING_WEIGHTS))
    return out


RINGING_WEIGHTS: Weights = (0.0, 0.0, 1.0)  # a rule on ringing alone: score −log10 ringing


def _thresholds(score: np.ndarray, gains: np.ndarray) -> tuple[float, ...]:
    """The rising step function of ``score`` ``(N,)`` with the best total utility over the rows
    (``gains`` ``(N, C)``, steps mildest first), found exactly by dynamic programming over the
    rows in score order: one threshold per step after the first, midway between the last row
    below it and the first at or above it (:data:`~nssr_cli.kernels.rule_table.NEVER`: never
    chosen)."""
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
        out.append(NEVER if first == n else float((s[first] + s[max(first - 1, 0)]) / 2))
    return tuple(round(t, 3) for t in out)


# The periodic gates fit_gate tries: the whole range calibration scenes' peakiness spans
# (gratings reach about 7.7). Until they went past 3.0, most fitted gates sat on that cap.
GATES = tuple(np.round(np.arange(1.0, 8.05, 0.1), 1))


def fit(rows: list[dict[str, Any]], gates: Gates | None = None) -> Rule:
    """Per family (and per gated family's periodic rule, ``gates``): the blur score's weights
    and the thresholds between its steps, from the rows that reach the rule
    (:func:`reaches_rule`, :func:`rule_key`). A family whose rows carry ringing scores by it,
    corrected by the widths (:func:`_weights`); one whose rows do not, by the widths. A
    family's periodic rule keeps the mildest step: fitted on the few periodic scenes, its
    thresholds let held-out gratings lose up to 10 dB (JPEG) or 21 dB (clean)."""
    rule = {}
    for key in (*FAMILIES, *(periodic_rule(f) for f in (gates or {}))):
        family = key.split("/")[0]
        part = [r for r in rows if rule_key(r, gates) == key and reaches_rule(r)]
        if len(steps(family)) == 1 or not part:
            continue
        if key == periodic_rule(family):
            rule[key] = periodic_entry(family, plain_past_gate(part))
            continue
        dense = [r for r in rows if rule_key(r, gates) == dense_rule(key) and reaches_rule(r)]
        both = part + dense  # one weighting of the estimates; thresholds on each side
        weights = _weights(both, ringing=all("ringing" in r for r in both))
        for sub, rows_of in ((key, part), (dense_rule(key), dense)):
            if rows_of:
                score = np.array([blur_score(r, weights) for r in rows_of])
                gains = np.stack([r["gain"] for r in rows_of])
                rule[sub] = (weights, _thresholds(score, gains))
    return rule


def fit_gate(
    rows: list[dict[str, Any]], family: str = "clean", rule: Rule | None = None
) -> float | None:
    """The periodic gate for ``family`` (one of :data:`GATES`, or None: no gate) whose rules,
    fitted with it, have the best total utility on the family's rows among the gates that bound
    the worst case: whose worst sharp input loses at most
    :data:`~nssr_cli.quality.rules.TAIL_GAIN_DB` more than the least any gate gives. (Utility
    alone let a sharp ×2 grating lose 13.7 dB for blurred inputs' gain: gate 5.2, not 3.3.) A
    gate keeps gratings, which read blurred whether or not they are, from a rule that weighs
    the widths. Given ``rule`` (the shipped one), only the gate is chosen: :func:`regate`."""
    part = [r for r in rows if r["family"] == family]
    if not part or len(steps(family)) == 1 or (rule is not None and family not in rule):
        return None

    def rule_for(gate: float | None) -> Rule:
        if rule is None:
            return fit(part, gate_of(family, gate))
        plain = plain_past_gate(past_gate(part, family, gate))
        return {family: rule[family], periodic_rule(family): periodic_entry(family, plain)}

    scores = {
        g: evaluate_rule(part, rule_for(g), gate_of(family, g))[family] for g in (None, *GATES)
    }
    floor = max(sc["sharp_worst"] for sc in scores.values()) - TAIL_GAIN_DB
    bounded = [g for g, sc in scores.items() if sc["sharp_worst"] >= floor]
    best = max(bounded, key=lambda g: (scores[g]["utility"], g is None, g or 0.0))
    return None if best is None else float(best)


def regate(rows: list[dict[str, Any]], rule: Rule) -> tuple[Rule, Gates]:
    """``rule`` with each family's periodic gate refitted on ``rows`` (or dropped, where no gate
    is better) and nothing else changed, and the new gates: the candidate for a shipped rule
    whose weights and thresholds hold but whose gate does not (or that has none), judged like a
    refit (:func:`replaces`)."""
    gates = {f: fit_gate(rows, f, rule) for f in FAMILIES}
    new_gates = {f: g for f, g in gates.items() if g is not None}
    periodic = {periodic_rule(f) for f in FAMILIES}
    return replant(rows, {k: v for k, v in rule.items() if k not in periodic}, new_gates)


def fit_gates(rows: list[dict[str, Any]]) -> Gates:
    """:func:`fit_gate` for every family that has a gate."""
    gates = {f: fit_gate(rows, f) for f in FAMILIES}
    return {f: g for f, g in gates.items() if g is not None}


def noise_cut(rows: list[dict[str, Any]]) -> str:
    """What the shipped clean / noisy cut (:data:`~nssr_cli.kernels.bank.NOISE_CLASSES`) does on
    the calibration scenes: the share of noisy inputs (σ 1–2 on the luminance, ``n2``) that read
    below it and would reach a clean rule, and of clean ones at or above it, sent to bicubic."""
    cut = NOISE_CLASSES[0]
    n2 = np.array([r["noise"] for r in rows if r["family"] == "n2"])
    clean = [r for r in rows if r["family"] == "clean"]
    away = [r for r in clean if r["noise"] >= cut]
    sharp = sum(r["sharp"] for r in away)
    return (
        f"noise cut {cut}: n2 inputs below it {100 * np.mean(n2 < cut):.1f} % (their 1st "
        f"percentile σ̂ {np.percentile(n2, 1):.2f}); clean inputs at or above it, given bicubic, "
        f"{100 * len(away) / len(clean):.1f} % ({sharp} sharp, {len(away) - sharp} blurred)"
    )


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
        gates = fit_gates(rows)
        rule = fit(rows, gates)
        print(f"x{s}: {noise_cut(rows)}")
        for family in (f for f in FAMILIES if len(steps(f)) > 1):
            was = PERIODIC_GATE.get((s, family))
            print(f"x{s} {family}: PERIODIC_GATE {gates.get(family)} (shipped {was})")
        for family, (weights, thresholds) in rule.items():
            what = f"WEIGHTS {weights} THRESHOLDS {thresholds}" if thresholds else "plain bicubic"
            print(f"x{s} {family}: {what}")
        print(f"x{s}: fitted rule on its own scenes: {evaluate_rule(rows, rule, gates)}")
        if streams:  # the refit, and the shipped rule regated, against it on held-out streams
            held = [calibrate(s, streams, seed=k) for k in (1, 2)]
            shipped = shipped_rule(s)
            regated, replanted = regate(rows, shipped[0]), replant(rows, *shipped)
            resplit_ = resplit(rows, *shipped, _thresholds)
            for family in (f for f in FAMILIES if f in rule):
                passed = {
                    "the refit": judge(
                        f"x{s} {family}: refit", family, held, (rule, gates), shipped
                    )
                }
                gate, old = regated[1].get(family), shipped[1].get(family)
                past = periodic_rule(family)
                moved = gate != old or regated[0].get(past) != shipped[0].get(past)
                if family in regated[0] and moved:  # its gate, or what lies past the gate
                    title = f"x{s} {family}: shipped rule, gate {old} → {gate}"
                    passed["the regated rule"] = judge(title, family, held, regated, shipped)
                if replanted[0].get(past) != shipped[0].get(past):  # only what lies past it
                    title = f"x{s} {family}: shipped rule, plain bicubic past its gate"
                    passed["the replanted rule"] = judge(title, family, held, replanted, shipped)
                if resplit_[0].get(dense_rule(family)) != shipped[0].get(dense_rule(family)):
                    title = f"x{s} {family}: shipped rule, thresholds refitted on each side"
                    passed["the resplit rule"] = judge(title, family, held, resplit_, shipped)
                ok = {k: u for k, u in passed.items() if u is not None}
                if ok:  # of the candidates that passed, the more useful on held-out scenes
                    best = max(ok, key=ok.__getitem__)
                    print(f"x{s} {family}: ship {best} (held-out utility {ok[best]:.3f})")
