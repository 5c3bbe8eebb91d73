"""Run-time estimates for the kernel choice: JPEG quality from the file, noise from the pixels."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from nssr_cli.files.decode import decode
from nssr_cli.kernels.estimate import jpeg_quality, noise_sigma
from nssr_cli.synth.degradations import add_noise, jpeg_roundtrip
from nssr_cli.synth.scenes import dead_leaves


@pytest.mark.parametrize("quality", range(50, 96, 5))
def test_jpeg_quality_is_read_back_from_the_file(quality: int) -> None:
    img = (np.random.default_rng(quality).random((24, 32, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    info = decode(buf.getvalue(), "t.jpg").info
    assert abs(jpeg_quality(info["quantization"]) - quality) <= 5


def test_no_table_no_quality_and_pngs_carry_none() -> None:
    assert jpeg_quality(None) is None and jpeg_quality([1, 2, 3]) is None
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(buf, "PNG")
    assert "quantization" not in decode(buf.getvalue(), "t.png").info


def test_noise_estimate_rises_with_sigma_and_reads_flat_noise_right() -> None:
    scene = np.round(dead_leaves(160, np.random.default_rng(1)) * 255).astype(np.uint8)
    est = [noise_sigma(add_noise(scene, s, np.random.default_rng(7))) for s in (0, 1, 2, 4, 8)]
    assert est == sorted(est) and est[-1] > est[0] + 5
    flat = np.full((128, 128), 120, np.uint8)
    assert noise_sigma(add_noise(flat, 3.0, np.random.default_rng(2))) == pytest.approx(3, rel=0.15)
    assert noise_sigma(flat) == 0.0 and noise_sigma(np.zeros((8, 8), np.uint8)) == 0.0


def test_jpeg_roundtrip_keeps_shape_and_type() -> None:
    grey = np.round(dead_leaves(40, np.random.default_rng(3))[:, :, None] * 255).astype(np.uint8)
    out = jpeg_roundtrip(grey, 75)
    assert out.shape == grey.shape and out.dtype == np.uint8
    assert 0 < np.abs(out.astype(int) - grey).mean() < 10
    as_float = jpeg_roundtrip(grey / 255.0, 75)
    np.testing.assert_allclose(as_float * 255, out, atol=1e-6)
