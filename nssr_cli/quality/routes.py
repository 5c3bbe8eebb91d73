"""Kernels fitted to what ``auto`` sends each step: the bank's ``x{s}-auto-{step}`` entries.

A family's calibrated rule (:mod:`nssr_cli.quality.calibrate`) routes an input to a step —
``none`` … ``medium+heavy`` for clean inputs, ``none-q85`` … ``medium-q85`` for a JPEG — and
each step's kernel was solved under one prior. But the
inputs that reach a step are a mixture: sharp textures that read a little blurred, blurred
photographs that read a little sharp. The kernel that serves that mixture best is not the
prior's: here it is fitted, per step, on the synthetic calibration scenes the shipped rule
sends there (never on photographs), to the rule's own objective — the mean *utility* of the
PSNR gain over bicubic, a loss weighing :data:`~nssr_cli.kernels.bank.LOSS_WEIGHT` times a
gain. The route stays the rule's; only the kernel at the end of it changes. Inputs past the
periodic gate keep the prior's kernel.

Each scene enters as the quadratic form of its squared error in the 11×11 kernel's taps
(``A``, ``b``, ``c`` over at most :data:`PIXELS` target pixels; plus 1/12, the 8-bit rounding of
the output), so a kernel's gain on every scene is exact arithmetic on small matrices. The
kernel is D4-symmetric (21 free taps: the priors are rotation-invariant) and sums to 1; the
utility is maximised by L-BFGS from the prior's kernel. A fitted set replaces the prior's only
if it passes the test a refitted rule must pass on two held-out streams
(:func:`~nssr_cli.quality.rules.replaces`).

``python -m nssr_cli.quality.routes [--count=N] [--held-out=M] [--family=F] [--write] SCALE...``
fits on ``N`` scenes per scale (default 3200) in family ``F`` (``clean``, the default, or a JPEG
quality class ``q95``/``q85``/``q75``: the scenes saved as such a JPEG), judges on two streams
of ``M`` (800), and with ``--write`` writes the kernels into ``weights/bank``.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from nssr_cli import __version__
from nssr_cli.kernels.bank import LOSS_WEIGHT, bank_kernel, probe_ringing, steps
from nssr_cli.kernels.estimate import Estimates
from nssr_cli.kernels.files import save_kernel, weights_dir
from nssr_cli.quality.rules import (
    LOSS_DB,
    Scores,
    pick,
    replaces,
    rule_key,
    shipped_rule,
    utility,
)
from nssr_cli.synth.pairs import in_family, synthetic_input

SIZE = 11
PIXELS = 40_000  # target pixels a scene contributes at most (a stride over larger ones)
ROUNDING = 1 / 12  # the variance of rounding the output to 8 bits
UNREACHED = -9  # a scene the noise estimate sends to plain bicubic
# dB of mean utility a fitted kernel pays per unit of squared distance from its prior. Bicubic
# leaves no content at the low-resolution grid's frequencies (m/s cycles per pixel): a kernel's
# response there is free, and without this anchor the fit wandered into kernels of 10× the
# prior's energy at ×3 (taps ±4) that no scene could tell apart, and borders would show them.
ANCHOR = 0.01
MIN_SCENES = 20  # a step reached by fewer calibration scenes keeps its own kernel


@dataclass
class Forms:
    """The calibration scenes of one stream as quadratic forms: scene ``i``'s mean squared
    error (8-bit scale) under correlation taps ``w`` is ``(wᵀa[i]w − 2wᵀb[i] + c[i]) / n[i]``
    plus :data:`ROUNDING`; ``step`` is the shipped clean rule's step index for it
    (:data:`UNREACHED`, or ``rules.PLAIN``), ``routed`` whether its own clean rule (not the
    periodic one) chose it."""

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    n: np.ndarray
    step: np.ndarray
    routed: np.ndarray
    sharp: np.ndarray


def scene_forms(scale: int, count: int, seed: int, family: str = "clean") -> Forms:
    """``count`` calibration scenes (:func:`~nssr_cli.synth.pairs.synthetic_input`, a stream
    salted apart from the rule's) in ``family`` (clean, or a JPEG quality class) as
    :class:`Forms`."""
    rng = np.random.default_rng([seed, scale, 0x7047E])
    rule, gates = shipped_rule(scale)
    cols: dict[str, list] = {k: [] for k in ("a", "b", "c", "n", "step", "routed", "sharp")}
    border = scale + SIZE // 2  # the benchmark crops `scale` pixels; the taps need the rest
    for _ in range(count):
        _, hr, lr, sharp = synthetic_input(scale, rng)
        x8 = in_family(lr, family, rng)
        est = Estimates(x8)
        row = {"family": family, "gain": np.zeros(len(steps(family)))}
        row.update(spectral=est.spectral, edge=est.edge, noise=est.noise, peak=est.peak)
        row["ringing"] = probe_ringing(est, scale)
        k = pick(row, rule, gates)
        lr_t = torch.from_numpy(x8[:, :, 0] * 1.0)[None, None]
        u = F.interpolate(lr_t, scale_factor=scale, mode="bicubic", align_corners=False)
        t = torch.from_numpy(hr[:, :, 0] * 255.0)
        h, w = t.shape
        stride = max(1, int(np.ceil(np.sqrt((h - 2 * border) * (w - 2 * border) / PIXELS))))
        form = _form(u, t, border, stride)
        for key, value in zip(("a", "b", "c", "n"), form, strict=True):
            cols[key].append(value)
        cols["step"].append(UNREACHED if k is None else k)
        cols["routed"].append(rule_key(row, gates) == family)
        cols["sharp"].append(sharp)
    return Forms(**{k: np.array(v) for k, v in cols.items()})


def _form(u: torch.Tensor, t: torch.Tensor, border: int, stride: int) -> tuple:
    """The quadratic form of the error of ``u`` (upsampled, ``(1, 1, H, W)``) convolved with
    11×11 taps against ``t`` (``(H, W)``), over the targets ``border`` px in, every ``stride``."""
    r, (h, w) = SIZE // 2, t.shape
    target = t[border : h - border : stride, border : w - border : stride].reshape(-1)
    plane = u[0, 0]
    patches = torch.stack(  # the taps in correlation order, each a strided view of u
        [
            plane[
                border + i - r : h - border + i - r : stride,
                border + j - r : w - border + j - r : stride,
            ]
            for i in range(SIZE)
            for j in range(SIZE)
        ]
    ).reshape(SIZE * SIZE, -1)
    a = (patches @ patches.T).numpy()
    b = (patches @ target).numpy()
    return a, b, float(target @ target), target.numel()


def _symmetric_basis() -> torch.Tensor:
    """``(121, 21)``: each column sets the taps of one orbit of the square's symmetries."""
    r = SIZE // 2
    orbits: dict[tuple[int, int], list[int]] = {}
    for i in range(SIZE):
        for j in range(SIZE):
            a, b = abs(i - r), abs(j - r)
            orbits.setdefault((max(a, b), min(a, b)), []).append(i * SIZE + j)
    basis = torch.zeros(SIZE * SIZE, len(orbits), dtype=torch.float64)
    for col, key in enumerate(sorted(orbits)):
        basis[orbits[key], col] = 1.0
    return basis


def _centre() -> torch.Tensor:
    d = torch.zeros(SIZE * SIZE, dtype=torch.float64)
    d[SIZE * SIZE // 2] = 1.0
    return d


def taps(kernel: np.ndarray) -> torch.Tensor:
    """A convolution kernel (≤ 11×11, centred) as the 121 correlation taps of the forms."""
    k = np.zeros((SIZE, SIZE))
    h = np.asarray(kernel, dtype=np.float64)
    o = (SIZE - h.shape[0]) // 2
    k[o : o + h.shape[0], o : o + h.shape[1]] = h
    return torch.from_numpy(k[::-1, ::-1].ravel().copy())


def _mse(forms: Forms, sel: np.ndarray, w: torch.Tensor) -> torch.Tensor:
    a, b = torch.from_numpy(forms.a[sel]), torch.from_numpy(forms.b[sel])
    c, n = torch.from_numpy(forms.c[sel]), torch.from_numpy(forms.n[sel]).double()
    return (torch.einsum("i,nij,j->n", w, a, w) - 2 * b @ w + c) / n + ROUNDING


def gains(forms: Forms, sel: np.ndarray, w: torch.Tensor) -> torch.Tensor:
    """PSNR gain over bicubic (dB) of taps ``w`` on the scenes ``sel`` selects."""
    return 10 * torch.log10(_mse(forms, sel, _centre()) / _mse(forms, sel, w))


def fit_step(forms: Forms, sel: np.ndarray, start: np.ndarray, iters: int = 200) -> np.ndarray:
    """The symmetric 11×11 convolution kernel, summing to 1, of the highest mean utility over
    the scenes ``sel`` selects, less :data:`ANCHOR` × its squared distance from ``start`` (the
    step's prior kernel), found by L-BFGS from ``start``. The utility's kink at 0 dB is
    smoothed over about a tenth of a dB so the gradient exists."""
    basis, centre = _symmetric_basis(), _centre()
    w0 = taps(start)
    z0 = torch.linalg.lstsq(basis, w0[:, None]).solution[:, 0]
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([z], lr=0.5, max_iter=iters, line_search_fn="strong_wolfe")

    def weights() -> torch.Tensor:
        w = basis @ z
        return w + (1 - w.sum()) * centre  # the sum fixed at 1 through the centre tap

    def closure() -> torch.Tensor:
        opt.zero_grad()
        g = gains(forms, sel, weights())
        smooth = g - (LOSS_WEIGHT - 1) * F.softplus(-8 * g) / 8
        loss = ANCHOR * ((weights() - w0) ** 2).sum() - smooth.mean()
        loss.backward()
        return loss

    opt.step(closure)
    w = weights().detach().numpy().reshape(SIZE, SIZE)
    return w[::-1, ::-1].astype(np.float32).copy()  # correlation taps → convolution kernel


def fit_routes(scale: int, forms: Forms, family: str = "clean") -> dict[str, np.ndarray]:
    """Per step of ``family``'s rule that at least :data:`MIN_SCENES` scenes reach, the kernel
    :func:`fit_step` fits on them (a step with fewer keeps its own kernel: nothing to fit on)."""
    out = {}
    for k, step in enumerate(steps(family)):
        sel = forms.routed & (forms.step == k)
        if sel.sum() >= MIN_SCENES:
            out[step] = fit_step(forms, sel, bank_kernel(f"x{scale}-{step}"))
    return out


def route_scores(
    scale: int, forms: Forms, kernels: dict[str, np.ndarray] | None, family: str = "clean"
) -> Scores:
    """``family``'s scores (as :func:`~nssr_cli.quality.rules.evaluate_rule` gives them) of
    the shipped rule with ``kernels`` at the end of its routes (None: the steps' own)."""
    gain = np.zeros(len(forms.step))
    for k, step in enumerate(steps(family)):
        prior = bank_kernel(f"x{scale}-{step}")
        for own, kernel in ((True, (kernels or {}).get(step, prior)), (False, prior)):
            sel = (forms.step == k) & (forms.routed == own)
            if sel.any():
                gain[sel] = gains(forms, sel, taps(kernel)).numpy()
    sharp, reached = forms.sharp, forms.sharp & (forms.step != UNREACHED)
    return {
        "sharp_mean": round(float(gain[sharp].mean()), 3),
        "sharp_worst": round(float(gain[sharp].min()), 3),
        "sharp_p2": round(float(np.percentile(gain[reached], 2)), 3),
        "sharp_share": round(float(100 * np.mean(gain[reached] < -LOSS_DB)), 2),
        "blurred_mean": round(float(gain[~sharp].mean()), 3),
        "utility": round(float(utility(gain).mean()), 3),
    }


def write_routes(scale: int, kernels: dict[str, np.ndarray], count: int, command: str) -> None:
    """The fitted kernels as ``weights/bank/x{scale}-auto-{step}.npy`` with their sidecars."""
    for step, kernel in kernels.items():
        meta = {
            "orientation": "convolution",
            "objective": "routes",
            "solver": "L-BFGS on the mean utility (losses weighed 4×)",
            "scale": scale,
            "step": step,
            "scenes": count,
            "command": command,
            "nssr_version": __version__,
        }
        path = weights_dir() / "bank" / f"x{scale}-auto-{step}.npy"
        save_kernel(kernel, path, meta, overwrite=True)


def main(argv: list[str]) -> int:
    opts = {a.split("=")[0]: a.split("=")[1] for a in argv if a.startswith("--") and "=" in a}
    count, held = int(opts.get("--count", 3200)), int(opts.get("--held-out", 800))
    family = opts.get("--family", "clean")
    scales = [int(a) for a in argv if not a.startswith("--")] or [2, 3, 4]
    for scale in scales:
        t0 = time.time()
        kernels = fit_routes(scale, scene_forms(scale, count, 0, family), family)
        streams = [scene_forms(scale, held, k, family) for k in (1, 2)]
        fitted = [route_scores(scale, f, kernels, family) for f in streams]
        shipped = [route_scores(scale, f, None, family) for f in streams]
        verdict = replaces(fitted, shipped)
        print(
            f"x{scale} {family}: {'replace' if verdict else 'keep'} the steps' own kernels "
            f"({time.time() - t0:.0f} s)"
        )
        for k, (f, sh) in enumerate(zip(fitted, shipped, strict=True), 1):
            print(
                f"    held-out {k}: routes {json.dumps(f)}\n                priors {json.dumps(sh)}"
            )
        if "--write" in argv and verdict:
            write_routes(
                scale, kernels, count, "python -m nssr_cli.quality.routes " + " ".join(argv)
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
