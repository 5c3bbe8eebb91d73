"""The shipped kernel bank and the ``auto`` choice."""

from __future__ import annotations

import numpy as np
import pytest

from nssr_cli.kernels.bank import BLUR_LEVELS, bank_scale, select_kernel
from nssr_cli.kernels.files import builtin_kernels, load_kernel
from nssr_cli.synth.degradations import classic_lr, div2krk_lr, recipe_kernel
from nssr_cli.synth.scenes import dead_leaves

LEVELS = [lvl for lvl in BLUR_LEVELS if lvl != "auto"]


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("level", LEVELS)
def test_shipped_bank_kernels_load_and_are_sane(scale: int, level: str) -> None:
    path = builtin_kernels()[f"x{scale}-{level}"]
    k, meta = load_kernel(path)
    assert k.ndim == 2 and k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert np.isfinite(k).all() and abs(float(k.sum()) - 1) < 1e-3
    assert meta["orientation"] == "convolution" and meta["scale"] == scale and meta["blur"] == level
    assert meta["command"].startswith("nssr train --objective scenes")


def test_stronger_levels_sharpen_more() -> None:
    centre = [load_kernel(builtin_kernels()[f"x2-{lvl}"])[0][5, 5] for lvl in LEVELS]
    assert centre == sorted(centre)


def test_auto_picks_none_for_sharp_and_a_blur_level_for_blurred() -> None:
    hr = dead_leaves(192, np.random.default_rng(11))[:, :, None]
    sharp = classic_lr(hr, 2)
    blurred = div2krk_lr(hr, recipe_kernel(2, np.random.default_rng(0), (4.0, 5.0)), 2)
    assert select_kernel(sharp, 2).blur == "none"
    sel = select_kernel(blurred, 2)
    assert sel.blur in ("medium", "heavy") and sel.name == f"x2-{sel.blur}"
    assert "sigma" in sel.info


def test_explicit_levels_fractional_scales_and_errors() -> None:
    img = np.zeros((32, 32, 3), np.uint8)
    sel = select_kernel(img, 2.6, "light")
    assert sel.name == "x3-light" and sel.blur == "light" and sel.kernel.dtype == np.float32
    assert [bank_scale(s) for s in (1.2, 2.4, 3.5, 3.6, 9.0)] == [2, 2, 3, 4, 4]
    with pytest.raises(ValueError):
        select_kernel(img, 2, "blurry")


def test_a_blend_step_averages_two_neighbouring_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    import nssr_cli.kernels.estimate as blur

    monkeypatch.setitem(blur.THRESHOLDS, 4, (0.0, 9.0, 9.0, 9.0, 9.0, 9.0))
    sel = select_kernel(np.zeros((32, 32, 3), np.uint8), 4)
    assert sel.blur == "none+light" and sel.name == "x4-none+light"
    a, b = (load_kernel(builtin_kernels()[f"x4-{lv}"])[0] for lv in ("none", "light"))
    np.testing.assert_allclose(sel.kernel, (a + b) / 2, rtol=1e-6)
    assert sel.kernel.dtype == np.float32 and abs(float(sel.kernel.sum()) - 1) < 1e-4
