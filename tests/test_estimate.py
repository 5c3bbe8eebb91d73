"""Run-time estimates for the kernel choice: JPEG quality from the file, noise and gradient
sparsity from the pixels."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from nssr_cli.files.decode import decode
from nssr_cli.kernels.estimate import Estimates, jpeg_quality, noise_sigma
from nssr_cli.kernels.sparsity import gradient_sparsity
from nssr_cli.synth.degradations import add_noise, jpeg_roundtrip
from nssr_cli.synth.scenes import _bokeh, content_scene, dead_leaves, power_law_field


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


@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0, 3.0])
def test_a_gaussian_field_reads_a_third_whatever_its_spectrum(exponent: float) -> None:
    """Squared gradients of a Gaussian field are exponential: the top tenth holds
    0.1·(1 + ln 10) of the energy (a 256² field samples it to within a few hundredths)."""
    field = np.random.default_rng(int(exponent)).standard_normal((256, 256))
    if exponent:
        field = power_law_field(256, np.random.default_rng(int(exponent)), exponent) * 255
    assert abs(gradient_sparsity(field) - 0.1 * (1 + np.log(10))) < 0.04


def test_edges_on_flat_ground_read_sparse_and_contrast_does_not_matter() -> None:
    leaves = dead_leaves(256, np.random.default_rng(5), r_min=8, discs=40) * 255
    value = gradient_sparsity(leaves)
    assert value > 0.8
    assert gradient_sparsity(0.25 * leaves + 40) == pytest.approx(value, rel=1e-4)
    assert gradient_sparsity(np.full((64, 64), 7.0)) == 0.0
    assert gradient_sparsity(np.ones((2, 9))) == 0.0
    rgb = np.repeat(np.round(leaves).astype(np.uint8)[:, :, None], 3, axis=2)
    assert Estimates(rgb).sparsity == pytest.approx(gradient_sparsity(np.round(leaves)), rel=1e-4)


def test_a_bokeh_scene_is_a_sharp_subject_on_a_soft_ground() -> None:
    """Most of its gradient energy sits in the sharp subject: sparser than the dead leaves it is
    made of, yet it has flat-looking (defocused) regions a plain leaves scene lacks."""
    for seed in range(4):
        scene = _bokeh(192, np.random.default_rng(seed), 2)
        assert scene.shape == (192, 192) and scene.min() >= 0.0 and scene.max() <= 1.0
        assert gradient_sparsity(scene * 255) > 0.5
    kinds = {content_scene(64, np.random.default_rng(k), 2)[0] for k in range(60)}
    assert "bokeh" in kinds
