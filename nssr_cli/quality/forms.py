"""The calibration scenes of :mod:`nssr_cli.quality.routes` as quadratic forms: each scene's
mean squared error (8-bit scale, PSNR's) after bicubic and an 11×11 kernel, as a quadratic in
the kernel's taps (``A``, ``b``, ``c`` over at most :data:`PIXELS` target pixels; plus
:data:`ROUNDING`, the output's 8-bit rounding), so a kernel's gain on every scene is exact
arithmetic on small matrices; with the step the shipped rule routes each scene to, and the
blur score it read there."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from nssr_cli.kernels.bank import blur_score, probe_ringing
from nssr_cli.kernels.estimate import Estimates
from nssr_cli.kernels.rule_table import dense_rule, steps
from nssr_cli.quality.rules import pick, rule_key, shipped_rule
from nssr_cli.synth.pairs import in_family, synthetic_input

SIZE = 11
PIXELS = 40_000  # target pixels a scene contributes at most (a stride over larger ones)
ROUNDING = 1 / 12  # the variance of rounding the output to 8 bits
UNREACHED = -9  # a scene the noise estimate sends to plain bicubic


@dataclass
class Forms:
    """The calibration scenes of one stream as quadratic forms: scene ``i``'s mean squared
    error (8-bit scale) under correlation taps ``w`` is ``(wᵀa[i]w − 2wᵀb[i] + c[i]) / n[i]``
    plus :data:`ROUNDING`; ``step`` is the shipped clean rule's step index for it
    (:data:`UNREACHED`, or ``rules.PLAIN``), ``routed`` whether its own clean rule (not the
    periodic one) chose it, ``score`` the blur score it read there."""

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    n: np.ndarray
    step: np.ndarray
    routed: np.ndarray
    sharp: np.ndarray
    score: np.ndarray | None = None  # the family rule's blur score (routed scenes; else NaN)


def scene_forms(scale: int, count: int, seed: int, family: str = "clean") -> Forms:
    """``count`` calibration scenes (:func:`~nssr_cli.synth.pairs.synthetic_input`, a stream
    salted apart from the rule's) in ``family`` (clean, or a JPEG quality class) as
    :class:`Forms`."""
    rng = np.random.default_rng([seed, scale, 0x7047E])
    rule, gates = shipped_rule(scale)
    cols: dict[str, list] = {k: [] for k in ("a", "b", "c", "n", "step", "routed", "sharp")}
    cols["score"] = []
    border = scale + SIZE // 2  # the benchmark crops `scale` pixels; the taps need the rest
    for _ in range(count):
        _, hr, lr, sharp = synthetic_input(scale, rng)
        x8 = in_family(lr, family, rng)
        est = Estimates(x8)
        row = {"family": family, "gain": np.zeros(len(steps(family)))}
        row.update(spectral=est.spectral, edge=est.edge, noise=est.noise, peak=est.peak)
        row.update(sparsity=est.sparsity, scale=scale)
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
        routed = rule_key(row, gates) in (family, dense_rule(family))  # weights shared
        cols["routed"].append(routed)
        cols["score"].append(blur_score(row, rule[family][0]) if routed else np.nan)
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


def symmetric_basis() -> torch.Tensor:
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


def centre() -> torch.Tensor:
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
    return 10 * torch.log10(_mse(forms, sel, centre()) / _mse(forms, sel, w))
