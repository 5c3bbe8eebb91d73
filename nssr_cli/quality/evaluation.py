"""The quality benchmark runner (the protocol: README, "Quality"): degrade HR photos, upscale
them back with bicubic and with each kernel, score the rounded 8-bit output (Y-channel PSNR/SSIM,
``s`` border cropped).

Upscaling goes through the engine's fast path (:func:`~nssr_cli.engine.plans.cached_plan` +
:func:`~nssr_cli.engine.plans.upscale_planes`), so the benchmark measures what users get.
Methods: ``bicubic``, ``auto``/``none``/``light``/``medium``/``heavy`` (the bank, as
``nssr upscale --blur`` picks), or any kernel name or ``.npy`` path.

HR images are read like ``nssr upscale`` reads its inputs (regular files only, the same decoder
with its format allow-list and pixel limit). An image that cannot be read, or is too small to
score at a requested scale, is reported and left out; the others are still scored. PSNR is
capped at :data:`~nssr_cli.quality.metrics.MAX_PSNR` (100 dB), which an output equal to its
reference scores, so means and gains stay finite.

Protocols: ``div2krk`` (blurred) and ``classic`` (sharp), each also followed by what real files
carry: a JPEG round trip at quality 75, 85 or 95 (``div2krk+jpeg85``; the LR goes
through nssr's own decoder, so ``auto`` sees the file's quantization tables as a user's JPEG
would) or Gaussian noise of σ 2 or 5 on the 8-bit scale (``classic+noise5``; a fixed seed per
image, scale and σ); and sharp inputs made by other downscalers (``bilinear``, ``hamming``,
``lanczos``, ``box``: :mod:`~nssr_cli.quality.protocols`). Next to each method's scores the
report keeps two oracles, which see the HR: **oracle**, the bank entry with the best PSNR for
each image (what the bank could give), and **reach**, the best of what ``auto`` may choose for
that image (the steps of the family it reads the input as that its rule at this scale can
take: clean, a JPEG quality, or noisy, whose only step is plain bicubic; ``heavy`` alone is
never among them). The first shows what the bank lacks, the second how far the selector is from
its own choices' best.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nssr_cli.engine.plans import cached_plan, upscale_planes
from nssr_cli.errors import InputError, NssrError, UsageError
from nssr_cli.files.atomic import outputs_problem
from nssr_cli.files.decode import DEFAULT_MAX_PIXELS, decode
from nssr_cli.files.formats import image_extensions
from nssr_cli.files.regular import read_regular
from nssr_cli.kernels.bank import (
    BLUR_LEVELS,
    bank_kernel,
    choices,
    degradation_of,
    route_kernels,
    select_kernel,
)
from nssr_cli.kernels.files import resolve_kernel
from nssr_cli.kernels.names import bank_entries, bank_scale
from nssr_cli.quality.comparison import save_comparison
from nssr_cli.quality.metrics import psnr_y, require_scikit_image, ssim_y
from nssr_cli.quality.protocols import (
    BASES,
    PROTOCOL_SETS,
    PROTOCOLS,
    make_lr,
)
from nssr_cli.quality.scores import Report, Score
from nssr_cli.synth.degradations import (
    modcrop,
)

HR_FILE_BYTES = 1 << 30  # a 90 MP 16-bit RGB TIFF, uncompressed, is 540 MB
# SSIM's window needs this many pixels a side left after the border crop: scikit-image's
# Gaussian window of σ 1.5 is truncated at 3.5 σ, 2·⌊3.5·1.5 + 0.5⌋ + 1 = 11 pixels
SSIM_WINDOW = 11


@dataclass
class EvalReport(Report):
    """A :class:`Report` that knows which input each image label stands for: ``--json`` gives
    every score row its ``path`` as given, so two files of one name are told apart."""

    paths: dict[str, str] = field(default_factory=dict)  # label → the input's path
    # one message per image left out at some of the scales only (too small for the others)
    skipped_scales: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        doc = super().to_dict()
        for row in doc["scores"]:
            row["path"] = self.paths.get(row["image"])
        return {**doc, "skipped_scales": list(self.skipped_scales)}


def find_images(paths: Iterable[Path]) -> list[Path]:
    """Image files among ``paths`` (folders are searched, not recursively, for regular files
    with an image extension), sorted per folder, each real file once."""
    exts = image_extensions()
    found: list[Path] = []
    paths = [Path(p) for p in paths]
    for p in paths:
        if p.is_dir():
            found += sorted(q for q in p.iterdir() if q.suffix.lower() in exts and q.is_file())
        elif p.exists() or p.is_symlink():
            found.append(p)  # not a regular file: reported when it is read
        else:
            raise UsageError(f"{p}: no such file or folder")
    unique = list({os.path.realpath(p): p for p in reversed(found)}.values())[::-1]
    if not unique:
        where = ", ".join(map(str, paths[:3])) + (", …" if len(paths) > 3 else "")
        raise UsageError(
            f"{where}: no images found (a folder is searched for image files, not recursively)"
        )
    return unique


def labels(paths: list[Path]) -> list[str]:
    """A distinct name per image for scores and crop files: its stem, or ``stem-2``, ``stem-3``
    … for later files of the same stem (``a/x.png``, ``b/x.png``), skipping any name that is
    another input's own stem (``b/x.png`` is ``x-3`` beside ``c/x-2.png``)."""
    taken = {p.stem for p in paths}  # every input's own name stays its own
    used: set[str] = set()
    out = []
    for p in paths:
        label, n = p.stem, 1
        while label in used or (n > 1 and label in taken):
            n += 1
            label = f"{p.stem}-{n}"
        used.add(label)
        out.append(label)
    return out


def min_side(scale: int) -> int:
    """The smallest HR side scorable at ``scale``: after the modcrop and the ``scale``-pixel
    border crop, SSIM's 11×11 window must fit (16, 18 and 20 pixels at ×2, ×3 and ×4)."""
    return scale * math.ceil((2 * scale + SSIM_WINDOW) / scale)


def load_rgb(
    path: Path, scales: Iterable[int] = (2,), max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """An HR image as ``(H, W, 3)`` uint8 RGB (16-bit rounded to 8, gray repeated, alpha
    dropped), read as ``nssr upscale`` reads inputs. :class:`~nssr_cli.errors.InputError`
    naming ``path`` if it cannot be read, has more than ``max_pixels`` or several frames, or
    is too small for ``scales``."""
    pic = decode(read_regular(path, HR_FILE_BYTES), str(path), max_pixels=max_pixels)
    if len(pic.frames) > 1:
        raise InputError(f"{path}: has {len(pic.frames)} frames; eval scores still images")
    color = pic.frames[0].color
    if color.dtype == np.uint16:
        color = np.round(color / 257.0).astype(np.uint8)
    if color.ndim == 2:
        color = np.repeat(color[:, :, None], 3, axis=2)
    scales = list(scales)
    if not scorable(color, scales):
        raise InputError(too_small(path, color, scales))
    return np.ascontiguousarray(color)


def scorable(hr: np.ndarray, scales: list[int]) -> list[int]:
    """The ``scales`` at which an HR image ``(H, W, …)`` is large enough to score."""
    return [s for s in scales if min(hr.shape[:2]) >= min_side(s)]


def too_small(path: Path, hr: np.ndarray, scales: list[int]) -> str:
    """The message for an HR image too small to score at ``scales`` (:func:`min_side`); it
    says at which of the requested scales it is still scored, if any."""
    h, w = hr.shape[:2]
    left_out = [s for s in scales if s not in scorable(hr, scales)]
    need = min_side(min(left_out))
    at = " or ".join(f"×{s}" for s in left_out)
    kept = [f"×{s}" for s in scorable(hr, scales)]
    only = f"; scored at {', '.join(kept)} only" if kept else ""
    return f"{path}: {w}×{h} is too small to score at {at} (at least {need}×{need} pixels){only}"


def upscale(
    lr: np.ndarray, scale: int, method: str, device: str, info: dict[str, Any] | None = None
) -> tuple[np.ndarray, str]:
    """``lr`` upscaled by one method, and the name of the kernel it used."""
    if method in BLUR_LEVELS:
        sel = select_kernel(lr, scale, method, info=info)
        kernel, name = sel.kernel, sel.name
    else:
        kernel, name = resolve_kernel(method)
    return upscale_planes(lr, cached_plan(kernel, scale, device)), name


def oracle(
    lr: np.ndarray, hr: np.ndarray, scale: int, device: str, names: Iterable[str] | None = None
) -> tuple[str, float, float]:
    """The kernel with the best PSNR on this image (it sees ``hr``): name, PSNR, SSIM. Among
    ``names`` (bank kernel names, ``x2-bicubic`` for plain bicubic; default: every bank entry)."""
    scored = []
    for name in bank_entries(scale) if names is None else names:
        out = upscale_planes(lr, cached_plan(bank_kernel(name), scale, device))
        scored.append((psnr_y(out, hr, scale), name, out))
    p, name, out = max(scored, key=lambda t: t[0])
    shown = "bicubic" if name.endswith("-bicubic") else name  # as --kernel takes it
    return shown, p, ssim_y(out, hr, scale)


def reach(lr: np.ndarray, scale: int, info: dict[str, Any] | None) -> list[str]:
    """The kernels ``auto`` may choose for ``lr``: the steps of the family it reads the input as
    (:func:`~nssr_cli.kernels.bank.degradation_of`; plain bicubic for a noisy one) that its rule
    at this scale can take (:func:`~nssr_cli.kernels.bank.choices`), as bank kernel names: each
    step's own kernel and those fitted to its route, where the bank has them
    (:func:`~nssr_cli.kernels.bank.route_kernels`)."""
    family, _ = degradation_of(lr, info)
    s = bank_scale(scale)
    names = [f"x{s}-{step}" for step in choices(s, family)]
    names += [n for step in choices(s, family) for n in route_kernels(s, step)]
    return list(dict.fromkeys(names))


def evaluate(
    paths: Iterable[Path],
    *,
    scales: Iterable[int] = (2, 3, 4),
    protocols: Iterable[str] = PROTOCOLS,
    methods: Iterable[str] = ("bicubic", "auto"),
    device: str = "cpu",
    compare_dir: Path | None = None,
    on_score: Callable[[Score], None] | None = None,
    on_error: Callable[[str], None] | None = None,
    overwrite: bool = False,
    with_oracle: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> EvalReport:
    """Score every method on every image, scale and protocol (``base`` or ``base+variant``, as
    :func:`protocol_names` lists them); with ``with_oracle`` also the methods ``oracle`` (the
    best bank entry for each image) and ``reach`` (the best of what ``auto`` may choose).

    Options, methods and ``compare_dir`` are checked before any image is read
    (:class:`UsageError`): comparison crops follow the publishing rule (existing ones are
    refused unless ``overwrite``). An image that cannot be scored (unreadable, above
    ``max_pixels`` pixels, too small) is reported through ``on_error``, recorded in
    :attr:`Report.failed` and left out."""
    require_scikit_image()
    scales, protocols = list(dict.fromkeys(scales)), list(dict.fromkeys(protocols))  # -s 2 -s 2
    for protocol in protocols:
        base, _, variant = protocol.partition("+")
        if base not in BASES or (variant and variant not in PROTOCOL_SETS["all"][1]):
            raise UsageError(
                f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOL_SETS)}"
            )
    methods = list(dict.fromkeys(methods))
    for method in methods:
        if method not in BLUR_LEVELS:
            resolve_kernel(method)  # a bad kernel is a usage error before any work
    images = find_images(paths)
    names = labels(images)
    if compare_dir is not None:
        _check_compare(Path(compare_dir), names, protocols, scales, overwrite)
    report = EvalReport(paths={label: str(path) for path, label in zip(images, names, strict=True)})
    for path, label in zip(images, names, strict=True):
        try:
            hr_full = load_rgb(path, scales, max_pixels)
        except NssrError as exc:
            report.failed.append(str(exc))
            if on_error:
                on_error(str(exc))
            continue
        fits = scorable(hr_full, scales)
        if len(fits) < len(scales):  # too small for the larger scales: left out of those only
            report.skipped_scales.append(too_small(path, hr_full, scales))
            if on_error:
                on_error(report.skipped_scales[-1])
        for protocol in protocols:
            for scale in fits:
                hr = modcrop(hr_full, scale)
                lr, info = make_lr(hr, scale, protocol, path.stem)
                outs = []
                for method in methods:
                    out, used = upscale(lr, scale, method, device, info)
                    score = Score(
                        protocol,
                        scale,
                        method,
                        label,
                        psnr_y(out, hr, scale),
                        ssim_y(out, hr, scale),
                        used,
                    )
                    report.scores.append(score)
                    outs.append(out)
                    if on_score:
                        on_score(score)
                if with_oracle:
                    for name, among in (("oracle", None), ("reach", reach(lr, scale, info))):
                        best, p, q = oracle(lr, hr, scale, device, among)
                        score = Score(protocol, scale, name, label, p, q, best)
                        report.scores.append(score)
                        if on_score:
                            on_score(score)
                if compare_dir is not None:
                    dest = _crop_path(Path(compare_dir), label, protocol, scale)
                    save_comparison(dest, lr, outs, hr, scale, overwrite=overwrite)
    return report


def _crop_path(folder: Path, label: str, protocol: str, scale: int) -> Path:
    return folder / f"{label}-{protocol}-x{scale}.png"


def _check_compare(
    folder: Path, names: list[str], protocols: list[str], scales: list[int], overwrite: bool
) -> None:
    """``folder`` exists as a folder afterwards and no crop would replace a file unless
    ``overwrite``, or :class:`UsageError` says why not. Only ``folder`` itself is made: a
    missing folder above it is a usage error, as for every output (a typo is not created)."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder}: --compare needs a folder, and this is a file")
    if not folder.parent.is_dir():
        why = "is not a folder" if folder.parent.exists() else "no such folder"
        raise UsageError(f"{folder.parent}: {why} (for --compare {folder}); create it first")
    crops = [_crop_path(folder, n, p, s) for n in names for p in protocols for s in scales]
    problem = outputs_problem(crops, overwrite=overwrite)  # before any scoring, not after
    if problem is not None:
        raise UsageError(problem)
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"{folder}: cannot make the --compare folder ({exc.strerror or exc})"
        ) from None
