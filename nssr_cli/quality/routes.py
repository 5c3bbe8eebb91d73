"""Kernels fitted to what ``auto`` sends each step: the bank's ``x{s}-auto-{step}`` entries.

A family's calibrated rule (:mod:`nssr_cli.quality.calibrate`) routes an input to a step —
``none`` … ``medium+heavy`` for clean inputs, ``none-q85`` … ``medium-q85`` for a JPEG — and
each step's kernel was solved under one prior. But the inputs that reach a step are a mixture:
sharp textures that read a little blurred, blurred photographs that read a little sharp. The
kernel that serves that mixture best is not the prior's: here it is fitted, per step, on the
synthetic calibration scenes the shipped rule sends there (never on photographs), to the
rule's own objective — the mean *utility* of the PSNR gain over bicubic, a loss weighing
:data:`~nssr_cli.kernels.bank.LOSS_WEIGHT` times a gain. Where many scenes reach a step, its
range of blur scores is cut into bands of :data:`BAND_SCENES` scenes, a kernel fitted to each
(``x{s}-auto-{step}.{j}``; the cuts go into ``ROUTE_BANDS``,
:mod:`nssr_cli.kernels.rule_table`): the mixture shifts along the score, from mostly sharp to
mostly blurred. The route stays the rule's; only the kernel at the end of it changes. Inputs
past the periodic gate keep the prior's kernel.

Each scene enters as a quadratic form in the taps (:mod:`nssr_cli.quality.forms`), so a
kernel's gain on every scene is exact arithmetic on small matrices. The kernel is D4-symmetric
(21 free taps: the priors are rotation-invariant) and sums to 1; the utility is maximised by
L-BFGS from the prior's kernel. A fitted set replaces what the bank ships only if it passes the
test a refitted rule must pass on two held-out streams (:func:`~nssr_cli.quality.rules.replaces`).

``python -m nssr_cli.quality.routes [--count=N] [--held-out=M] [--family=F] [--write] SCALE...``
fits on ``N`` scenes per scale (default 3200) in family ``F`` (``clean``, the default, or a JPEG
quality class ``q95``/``q85``/``q75``: the scenes saved as such a JPEG), judges on two streams
of ``M`` (800), and with ``--write`` writes the kernels into ``weights/bank`` and prints the
``ROUTE_BANDS`` entries."""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from nssr_cli import __version__
from nssr_cli.kernels.bank import LOSS_WEIGHT, bank_kernel, routed_name
from nssr_cli.kernels.files import save_kernel, weights_dir
from nssr_cli.kernels.rule_table import band_of, steps
from nssr_cli.quality.forms import (
    SIZE,
    UNREACHED,
    Forms,
    centre,
    gains,
    scene_forms,
    symmetric_basis,
    taps,
)
from nssr_cli.quality.rules import Scores, gain_scores, replaces

# dB of mean utility a fitted kernel pays per unit of squared distance from its prior. Bicubic
# leaves no content at the low-resolution grid's frequencies (m/s cycles per pixel): a kernel's
# response there is free, and without this anchor the fit wandered into kernels of 10× the
# prior's energy at ×3 (taps ±4) that no scene could tell apart, and borders would show them.
ANCHOR = 0.01
MIN_SCENES = 20  # a step reached by fewer calibration scenes keeps its own kernel
# A step reached by at least twice this many fitting scenes has its range of scores cut into
# bands of about this many each (at their quantiles), a kernel fitted to each: 21 free taps
# per band, fitted on hundreds of scenes.
BAND_SCENES = 360


def fit_step(forms: Forms, sel: np.ndarray, start: np.ndarray, iters: int = 200) -> np.ndarray:
    """The symmetric 11×11 convolution kernel, summing to 1, of the highest mean utility over
    the scenes ``sel`` selects, less :data:`ANCHOR` × its squared distance from ``start`` (the
    step's prior kernel), found by L-BFGS from ``start``. The utility's kink at 0 dB is
    smoothed over about a tenth of a dB so the gradient exists."""
    basis, mid = symmetric_basis(), centre()
    w0 = taps(start)
    z0 = torch.linalg.lstsq(basis, w0[:, None]).solution[:, 0]
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([z], lr=0.5, max_iter=iters, line_search_fn="strong_wolfe")

    def weights() -> torch.Tensor:
        w = basis @ z
        return w + (1 - w.sum()) * mid  # the sum fixed at 1 through the centre tap

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


def fit_routes(
    scale: int, forms: Forms, family: str = "clean"
) -> tuple[dict[str, np.ndarray], dict[str, tuple[float, ...]]]:
    """Per step of ``family``'s rule that at least :data:`MIN_SCENES` scenes reach, the kernels
    :func:`fit_step` fits on them — one per band of :data:`BAND_SCENES` scenes of the step's
    scores, named ``{step}.{j}``, or one, named ``{step}``, where too few reach it to cut — and
    per cut step the scores between its bands (a step that fewer reach keeps its own kernel)."""
    kernels, edges = {}, {}
    for k, step in enumerate(steps(family)):
        sel = forms.routed & (forms.step == k)
        start = bank_kernel(f"x{scale}-{step}")
        bands = int(sel.sum()) // BAND_SCENES
        if bands < 2:
            if sel.sum() >= MIN_SCENES:
                kernels[step] = fit_step(forms, sel, start)
            continue
        scores = forms.score[sel]
        cuts = np.quantile(scores, np.arange(1, bands) / bands)
        edges[step] = tuple(round(float(c), 4) for c in cuts)
        band = np.searchsorted(np.array(edges[step]), forms.score, side="right")
        for j in range(bands):
            kernels[f"{step}.{j + 1}"] = fit_step(forms, sel & (band == j), start)
    return kernels, edges


def _route_kernel(scale: int, step: str, score: float, candidate: tuple | None) -> np.ndarray:
    """The kernel at the end of ``step``'s route for a scene of ``score``: the candidate's
    (:func:`fit_routes`' kernels and edges), or with None what the bank ships."""
    if candidate is None:
        return bank_kernel(routed_name(scale, step, score))
    kernels, edges = candidate
    cuts = edges.get(step)
    name = f"{step}.{band_of(score, cuts)}" if cuts else step
    return kernels.get(name, bank_kernel(f"x{scale}-{step}"))


def route_scores(
    scale: int, forms: Forms, candidate: tuple | None, family: str = "clean"
) -> Scores:
    """``family``'s scores (as :func:`~nssr_cli.quality.rules.evaluate_rule` gives them) of
    the shipped rule with ``candidate``'s kernels (:func:`fit_routes`) at the end of its routes
    (None: the kernels the bank ships there)."""
    gain = np.zeros(len(forms.step))
    groups: dict[int, tuple[np.ndarray, list[int]]] = {}
    for i, k in enumerate(forms.step):
        if k < 0:
            continue
        step = steps(family)[k]
        if forms.routed[i]:
            kernel = _route_kernel(scale, step, float(forms.score[i]), candidate)
        else:  # past the periodic gate: the step's own kernel
            kernel = bank_kernel(f"x{scale}-{step}")
        groups.setdefault(id(kernel), (kernel, []))[1].append(i)
    for kernel, idx in groups.values():
        sel = np.zeros(len(gain), bool)
        sel[idx] = True
        gain[sel] = gains(forms, sel, taps(kernel)).numpy()
    return gain_scores(gain, forms.sharp, forms.sharp & (forms.step != UNREACHED))


def write_routes(scale: int, family: str, candidate: tuple, count: int, command: str) -> None:
    """The fitted kernels (:func:`fit_routes`) as ``weights/bank/x{scale}-auto-{step}.npy``
    (a band's ``x{scale}-auto-{step}.{j}.npy``, its range of scores in the sidecar), with their
    sidecars, in place of every earlier route kernel of ``family``'s steps at ``scale``; and the
    ``ROUTE_BANDS`` entries for :mod:`nssr_cli.kernels.rule_table`, printed."""
    kernels, edges = candidate
    bank = weights_dir() / "bank"
    for step in steps(family):
        for old in [
            *bank.glob(f"x{scale}-auto-{step}.npy"),
            *bank.glob(f"x{scale}-auto-{step}.*.npy"),
        ]:
            old.unlink()
            old.with_suffix(".json").unlink(missing_ok=True)
    for name, kernel in kernels.items():
        step, _, band = name.partition(".")
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
        if band:
            cuts = (None, *edges[step], None)
            meta.update(band=int(band), scores=[cuts[int(band) - 1], cuts[int(band)]])
        save_kernel(kernel, bank / f"x{scale}-auto-{name}.npy", meta, overwrite=True)
    for step, cuts in edges.items():
        print(f"    ({scale}, {step!r}): {cuts},")


def main(argv: list[str]) -> int:
    opts = {a.split("=")[0]: a.split("=")[1] for a in argv if a.startswith("--") and "=" in a}
    count, held = int(opts.get("--count", 3200)), int(opts.get("--held-out", 800))
    family = opts.get("--family", "clean")
    scales = [int(a) for a in argv if not a.startswith("--")] or [2, 3, 4]
    for scale in scales:
        t0 = time.time()
        candidate = fit_routes(scale, scene_forms(scale, count, 0, family), family)
        streams = [scene_forms(scale, held, k, family) for k in (1, 2)]
        fitted = [route_scores(scale, f, candidate, family) for f in streams]
        shipped = [route_scores(scale, f, None, family) for f in streams]
        verdict = replaces(fitted, shipped)
        print(
            f"x{scale} {family}: {'replace' if verdict else 'keep'} the shipped kernels "
            f"({time.time() - t0:.0f} s)"
        )
        for k, (f, sh) in enumerate(zip(fitted, shipped, strict=True), 1):
            print(f"    held-out {k}: fitted  {json.dumps(f)}")
            print(f"                shipped {json.dumps(sh)}")
        if "--write" in argv and verdict:
            command = "python -m nssr_cli.quality.routes " + " ".join(argv)
            write_routes(scale, family, candidate, count, command)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
