"""The CPU engine (NumPy + OpenCV) equals ``engine.reference`` and never needs PyTorch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from nssr_cli.engine import cpu_rows
from nssr_cli.engine.cpu import CpuPlan
from nssr_cli.engine.geometry import output_size
from nssr_cli.engine.plans import make_plan, upscale_planes
from nssr_cli.engine.polyphase import polyphase_weights
from nssr_cli.engine.reference import reference_upscale

PEAK = {np.uint8: 255, np.uint16: 65535, np.float32: 1.0}


def random_kernel(size: int, rng: np.random.Generator) -> np.ndarray:
    """A random sharpening-like convolution kernel of area 1."""
    k = rng.normal(0, 0.05, (size, size))
    k[size // 2, size // 2] += 1 - k.sum()
    return k.astype(np.float32)


def random_image(shape: tuple[int, ...], dtype: type, rng: np.random.Generator) -> np.ndarray:
    if dtype is np.float32:
        return rng.random(shape, dtype=np.float32)
    return rng.integers(0, PEAK[dtype] + 1, shape).astype(dtype)


def reference(img: np.ndarray, h: np.ndarray, scale: float) -> np.ndarray:
    """The reference upscale in float64, clamped and rounded to ``img``'s dtype, (H', W', C)."""
    peak = PEAK[img.dtype.type]
    planes = img if img.ndim == 3 else img[:, :, None]
    x = torch.from_numpy(planes.astype(np.float64) / peak).permute(2, 0, 1)[None]
    up = reference_upscale(x, torch.from_numpy(h.astype(np.float64)), scale)[0].clamp(0, 1)
    out = up.permute(1, 2, 0).numpy()
    if img.dtype == np.float32:
        return out.astype(np.float32)
    return np.floor(out * peak + 0.5).astype(img.dtype)


def assert_matches_reference(out: np.ndarray, ref: np.ndarray, peak: float) -> None:
    """The project's bar: PSNR ≥ 50 dB and ≥ 99.9 % of pixels within one 8-bit level (one
    level of the output's own depth for integers), borders included."""
    assert out.shape == ref.shape and out.dtype == ref.dtype
    diff = np.abs(out.astype(np.float64) - ref.astype(np.float64)) / peak
    mse = float(np.mean(diff**2))
    assert mse == 0 or 10 * np.log10(1 / mse) >= 50
    level = 1 / peak if ref.dtype != np.float32 else 1 / 255
    assert np.mean(diff <= level * 1.0001) >= 0.999


def old_weights(h: np.ndarray, s: int) -> np.ndarray:
    """The polyphase weights as the PyTorch engine built them: the reference's response to one
    LR impulse, cut to the same support."""
    r = h.shape[0] // 2
    m = -(-r // s) + 4
    x = torch.zeros(1, 1, 2 * m + 1, 2 * m + 1, dtype=torch.float64)
    x[0, 0, m, m] = 1
    resp = reference_upscale(x, torch.from_numpy(h.astype(np.float64)), s)[0, 0].numpy()
    n = 2 * m + 1
    return resp.reshape(n, s, n, s).transpose(1, 3, 0, 2)[:, :, ::-1, ::-1]  # (p, q, a, b)


@pytest.mark.parametrize("size", [1, 3, 11, 13])
@pytest.mark.parametrize("s", [1, 2, 3, 4, 5])
def test_polyphase_weights_are_the_reference_impulse_response(size: int, s: int) -> None:
    h = random_kernel(size, np.random.default_rng(size * 10 + s)).astype(np.float64)
    weight, lo, hi = polyphase_weights(h, s)
    full = old_weights(h, s)
    m = (full.shape[-1] - 1) // 2
    t = weight.shape[-1]
    assert t == lo + hi + 1
    cut = full[:, :, m - lo : m - lo + t, m - lo : m - lo + t].reshape(s * s, 1, t, t)
    np.testing.assert_allclose(weight, cut, rtol=0, atol=1e-12)
    assert np.abs(full).sum() == pytest.approx(np.abs(cut).sum(), abs=1e-12)  # nothing cut off


@pytest.mark.parametrize("scale", [2, 3, 4, 2.5, 1.5])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_cpu_engine_equals_reference(scale: float, dtype: type, channels: int) -> None:
    rng = np.random.default_rng(channels * 100 + int(scale * 10))
    img = random_image((19, 26, channels), dtype, rng)
    h = random_kernel(11, rng)
    plan = make_plan(h, scale, "cpu")
    assert isinstance(plan, CpuPlan)
    out = upscale_planes(img, plan)
    assert_matches_reference(out, reference(img, h, scale), PEAK[dtype])
    for tile in (1, 7, 32):  # full-width bands of 1 row up to one band: the very same bytes
        np.testing.assert_array_equal(upscale_planes(img, plan, tile=tile), out)


@pytest.mark.parametrize("scale", [2, 3, 2.5])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_where_opencv_would_take_a_dft_the_kernel_is_still_applied_directly(
    monkeypatch: pytest.MonkeyPatch, scale: float, channels: int
) -> None:
    """On CPUs without SSE3 (ARM) OpenCV's filter2D takes a DFT from 50 taps: the ×2 phases (81)
    and the 11×11 convolution (121) go through blocks of taps instead. Run here by moving the
    switch to ARM's: the result still matches the reference, and bands agree to the byte."""
    monkeypatch.setattr(cpu_rows, "DFT_TAPS", 50)
    rng = np.random.default_rng(channels * 10 + int(scale * 10))
    img, h = random_image((41, 29, channels), np.uint16, rng), random_kernel(11, rng)
    plan = make_plan(h, scale, "cpu")
    out = upscale_planes(img, plan)
    assert_matches_reference(out, reference(img, h, scale), 65535)
    for tile in (1, 6, 17):
        np.testing.assert_array_equal(upscale_planes(img, plan, tile=tile), out)


@pytest.mark.parametrize("size", [1, 7, 9, 11])
def test_blocks_of_taps_sum_to_the_whole_correlation(
    monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """The blocks cover every tap once, each read at its own offset, whatever the border. Small
    integers in and out: every sum is exact in float32, in any order, so the two must be equal."""
    rng = np.random.default_rng(size)
    src = rng.integers(0, 256, (23, 31, 2)).astype(np.float32)
    k = rng.integers(-3, 4, (size, size)).astype(np.float32)
    for border in (cv2.BORDER_REPLICATE, cv2.BORDER_CONSTANT):
        for anchor in {0, size // 2, size - 1}:
            whole = cpu_rows.correlate(src, k, anchor, border, 0.5)
            monkeypatch.setattr(cpu_rows, "DFT_TAPS", 1)  # every tap a block of its own
            assert np.array_equal(cpu_rows.correlate(src, k, anchor, border, 0.5), whole)
            monkeypatch.setattr(cpu_rows, "DFT_TAPS", 10)
            assert np.array_equal(cpu_rows.correlate(src, k, anchor, border, 0.5), whole)
            monkeypatch.undo()


@pytest.mark.parametrize("scale", [1, 2, 3, 2.5, 16])
@pytest.mark.parametrize("hw", [(1, 1), (1, 5), (2, 3), (6, 2)])
def test_tiny_images_smaller_than_the_kernel(scale: float, hw: tuple[int, int]) -> None:
    rng = np.random.default_rng(hw[0] * 7 + hw[1])
    img, h = random_image((*hw, 3), np.uint8, rng), random_kernel(11, rng)
    out = upscale_planes(img, make_plan(h, scale, "cpu"))
    assert_matches_reference(out, reference(img, h, scale), 255)


@pytest.mark.parametrize("size", [1, 3, 15, 21])
@pytest.mark.parametrize("scale", [2, 3, 2.5])
def test_kernels_of_any_size(size: int, scale: float) -> None:
    rng = np.random.default_rng(size)
    img, h = random_image((23, 17), np.uint16, rng), random_kernel(size, rng)
    plan = make_plan(h, scale, "cpu")
    out = upscale_planes(img, plan)
    assert out.shape == output_size(23, 17, scale)
    assert_matches_reference(out[:, :, None], reference(img, h, scale), 65535)
    np.testing.assert_array_equal(upscale_planes(img, plan, tile=5), out)


def test_many_channels_are_each_upscaled_alone() -> None:
    rng = np.random.default_rng(5)
    img, h = random_image((9, 11, 6), np.uint8, rng), random_kernel(11, rng)
    plan = make_plan(h, 3, "cpu")
    out = upscale_planes(img, plan)
    for c in range(6):
        np.testing.assert_array_equal(out[:, :, c], upscale_planes(img[:, :, c], plan))


@pytest.mark.parametrize("scale", [2, 2.5])
def test_cpu_engine_agrees_with_the_pytorch_engine(scale: float) -> None:
    rng = np.random.default_rng(9)
    img, h = random_image((31, 40, 3), np.uint8, rng), random_kernel(11, rng)
    ours = upscale_planes(img, make_plan(h, scale, "cpu"))
    theirs = upscale_planes(img, make_plan(h, scale, "cpu", torch=True))
    assert np.abs(ours.astype(int) - theirs).max() <= 1
    assert np.mean(ours == theirs) >= 0.999


@pytest.mark.parametrize(
    ("text", "gpu"),
    [
        ("cuda: Optional[str] = None\nhip: Optional[str] = None\n", False),
        ("cuda: Optional[str] = '12.4'\nhip: Optional[str] = None\n", True),
        ("cuda = None\nhip = '6.2.4'\n", True),
        ("something else entirely\n", True),  # unsure: let PyTorch decide
    ],
)
def test_gpu_build_is_read_from_torch_version_file(tmp_path: Path, text: str, gpu: bool) -> None:
    from nssr_cli.engine.device import _gpu_build

    (tmp_path / "version.py").write_text("__version__ = '2.13.0'\n" + text)
    assert _gpu_build(tmp_path / "version.py") is gpu
    assert _gpu_build(tmp_path / "missing.py") is True


def test_device_auto_without_a_gpu_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from nssr_cli.engine.device import gpu_possible, resolve_device\n"
        "print(gpu_possible(), resolve_device('auto'), 'torch' in sys.modules)\n"
    )
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no GPU, on any machine
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "cpu", "False"]


@pytest.mark.parametrize("name", ["mps", "gpu", "cuda:x"])
def test_unknown_devices_are_usage_errors(name: str) -> None:
    from nssr_cli.engine.device import resolve_device
    from nssr_cli.errors import UsageError

    with pytest.raises(UsageError):
        resolve_device(name)


@pytest.mark.parametrize("scale", [1.5, 2.5, 3])
def test_any_band_height_gives_the_same_floats_on_a_larger_image(scale: float) -> None:
    """The row path (fractional scales, and the polyphase path's border strips) resizes bands
    of rows with OpenCV, whose IPP code computes a call's edge rows and small calls differently:
    bands of 1 row up to the whole image must still give the very same float32 output. Fewer
    channels give the same values within float32 rounding (OpenCV's filters run other code for
    one channel than for four: 2e-7 apart at the right edge)."""
    rng = np.random.default_rng(int(scale * 10))
    img = random_image((150, 203, 4), np.float32, rng)
    plan = make_plan(random_kernel(11, rng), scale, "cpu")
    whole = upscale_planes(img, plan, tile=100_000)
    for tile in (1, 9, 64, 300):
        np.testing.assert_array_equal(upscale_planes(img, plan, tile=tile), whole)
    for c in (1, 2, 3):
        part = upscale_planes(np.ascontiguousarray(img[:, :, :c]), plan, tile=64)
        part = part.reshape(whole.shape[:2] + (c,))
        np.testing.assert_allclose(part, whole[:, :, :c], rtol=0, atol=1e-6)
