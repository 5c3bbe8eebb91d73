"""The kernels fitted to what ``auto``'s rules route to each step (``x{s}-auto-{step}``)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from nssr_cli.files.decode import decode
from nssr_cli.kernels.bank import bank_kernel, routed_name, select_kernel, steps
from nssr_cli.kernels.files import builtin_kernels, load_kernel
from nssr_cli.quality import routes
from nssr_cli.synth.degradations import div2krk_lr, recipe_kernel
from nssr_cli.synth.scenes import dead_leaves


def _direct_mse(u: torch.Tensor, t: torch.Tensor, h: np.ndarray, border: int, stride: int):
    """The error of ``u`` convolved with ``h`` against ``t``, computed by a real convolution."""
    r = h.shape[0] // 2
    out = F.conv2d(F.pad(u, (r, r, r, r)), torch.from_numpy(h[::-1, ::-1].copy())[None, None])
    d = (out[0, 0] - t)[
        border : t.shape[0] - border : stride, border : t.shape[1] - border : stride
    ]
    return float((d**2).mean()) + routes.ROUNDING


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_a_scenes_form_gives_the_error_a_real_convolution_makes(stride: int) -> None:
    rng = np.random.default_rng(stride)
    u = torch.from_numpy(rng.random((1, 1, 37, 45)) * 255)
    t = torch.from_numpy(rng.random((37, 45)) * 255)
    border = 7
    a, b, c, n = routes._form(u, t, border, stride)
    forms = routes.Forms(
        a=a[None], b=b[None], c=np.array([c]), n=np.array([n]), step=np.zeros(1, int),
        routed=np.ones(1, bool), sharp=np.zeros(1, bool),
    )  # fmt: skip
    sel = np.ones(1, bool)
    for h in (rng.normal(size=(11, 11)), bank_kernel("x2-medium")):
        h = h / h.sum()
        got = float(routes._mse(forms, sel, routes.taps(h))[0])
        assert got == pytest.approx(_direct_mse(u, t, np.asarray(h, np.float64), border, stride))


def _forms_of(scale: int, scenes: list[tuple[np.ndarray, np.ndarray]]) -> routes.Forms:
    parts = []
    for hr, lr in scenes:
        x8 = np.round(lr[:, :, 0] * 255)
        u = F.interpolate(torch.from_numpy(x8)[None, None], scale_factor=scale, mode="bicubic")
        parts.append(routes._form(u, torch.from_numpy(hr[:, :, 0] * 255.0), scale + 5, 1))
    k = len(parts)
    a, b, c, n = (np.array([p[i] for p in parts]) for i in range(4))
    flags = np.ones(k, bool)
    return routes.Forms(a, b, c, n, np.zeros(k, int), flags, ~flags)


def test_the_fitted_kernel_serves_its_scenes_better_than_its_start_and_stays_a_kernel() -> None:
    rng = np.random.default_rng(5)
    scenes = []
    for _ in range(6):
        hr = dead_leaves(96, rng, r_min=2, discs=150)[:, :, None]
        scenes.append((hr, div2krk_lr(hr, recipe_kernel(2, rng), 2)))
    forms, sel = _forms_of(2, scenes), np.ones(6, bool)
    start = bank_kernel("x2-none")
    fitted = routes.fit_step(forms, sel, start, iters=60)
    before = routes.gains(forms, sel, routes.taps(start)).numpy()
    after = routes.gains(forms, sel, routes.taps(fitted)).numpy()
    assert after.mean() > before.mean() + 0.3  # blurred scenes: the fit sharpens more than `none`
    assert fitted.shape == (11, 11) and abs(float(fitted.sum()) - 1) < 1e-5
    for turned in (fitted.T, fitted[::-1], fitted[:, ::-1]):
        np.testing.assert_allclose(turned, fitted, atol=1e-7)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_clean_steps_route_kernels_are_shipped_with_how_they_were_made(scale: int) -> None:
    fitted = [st for st in steps("clean") if routed_name(scale, st) != f"x{scale}-{st}"]
    assert len(fitted) >= 5  # a step too few calibration scenes reach keeps its own kernel
    for step in fitted:
        name = routed_name(scale, step)
        assert name == f"x{scale}-auto-{step}"
        k, meta = load_kernel(builtin_kernels()[name])
        assert k.shape == (11, 11) and abs(float(k.sum()) - 1) < 1e-3
        for turned in (k.T, k[::-1], k[:, ::-1]):
            np.testing.assert_allclose(turned, k, atol=1e-6)
        assert meta["objective"] == "routes" and meta["step"] == step and meta["scale"] == scale
        assert meta["command"].startswith("python -m nssr_cli.quality.routes")
        # one fitted kernel, not the mean of two entries, even where the step is a blend
        assert not np.allclose(bank_kernel(name), bank_kernel(f"x{scale}-{step}"), atol=1e-3)


def test_auto_uses_the_fitted_kernel_only_where_the_clean_rule_chose_the_step() -> None:
    rng = np.random.default_rng(2)
    hr = dead_leaves(384, rng, r_min=2, discs=300)[:, :, None]
    blurred = np.round(div2krk_lr(hr, recipe_kernel(2, rng), 2) * 255).astype(np.uint8)
    chosen = select_kernel(blurred, 2)
    assert chosen.name == f"x2-auto-{chosen.blur}", chosen.info
    np.testing.assert_array_equal(chosen.kernel, bank_kernel(chosen.name))
    # asked for by level, a kernel is the level's own
    assert select_kernel(blurred, 2, "light").name == "x2-light"
    # past the periodic gate (a grating): the step's own kernel, never a fitted one
    y, x = np.mgrid[:192, :192]
    grating = np.round(127.5 + 100 * np.sin(x * 0.6 + y * 0.2)).astype(np.uint8)
    periodic = select_kernel(grating, 2)
    assert "clean/periodic" in periodic.info["why"] and periodic.name == "x2-none"


def test_a_jpeg_whose_step_its_rule_chose_gets_that_routes_kernel() -> None:
    rng = np.random.default_rng(4)
    hr = dead_leaves(384, rng, r_min=2, discs=300)[:, :, None]
    lr = np.round(div2krk_lr(hr, recipe_kernel(2, rng), 2)[:, :, 0] * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(lr).save(buf, "JPEG", quality=70)
    pic = decode(buf.getvalue(), "t.jpg")
    chosen = select_kernel(pic.frames[0].color, 2, info=pic.info)
    assert chosen.info["degradation"] == "q75" and chosen.blur.endswith("q75")
    assert chosen.name == f"x2-auto-{chosen.blur}", chosen.info
    np.testing.assert_array_equal(chosen.kernel, bank_kernel(chosen.name))


def test_every_route_kernel_in_the_bank_is_a_fitted_symmetric_kernel_of_a_known_step() -> None:
    routed = {n: p for n, p in builtin_kernels().items() if "-auto-" in n}
    families = ("clean", "q95", "q85", "q75")
    known = {f"x{s}-auto-{st}" for s in (2, 3, 4) for f in families for st in steps(f)}
    assert len(routed) >= 3 * 5 and set(routed) <= known
    for name, path in routed.items():
        k, meta = load_kernel(path)
        assert k.shape == (11, 11) and abs(float(k.sum()) - 1) < 1e-3
        np.testing.assert_allclose(k.T, k, atol=1e-6)
        assert name == f"x{meta['scale']}-auto-{meta['step']}" and meta["objective"] == "routes"
        assert not np.allclose(k, bank_kernel(f"x{meta['scale']}-{meta['step']}"), atol=1e-3)
