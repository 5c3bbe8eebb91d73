"""The kernels fitted to what ``auto``'s rules route to each step (``x{s}-auto-{step}``)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from nssr_cli.files.decode import decode
from nssr_cli.kernels.bank import (
    bank_kernel,
    route_kernels,
    routed_name,
    select_kernel,
    steps,
)
from nssr_cli.kernels.files import builtin_kernels, load_kernel
from nssr_cli.kernels.rule_table import ROUTE_BANDS
from nssr_cli.quality import forms as qforms
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
    return float((d**2).mean()) + qforms.ROUNDING


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_a_scenes_form_gives_the_error_a_real_convolution_makes(stride: int) -> None:
    rng = np.random.default_rng(stride)
    u = torch.from_numpy(rng.random((1, 1, 37, 45)) * 255)
    t = torch.from_numpy(rng.random((37, 45)) * 255)
    border = 7
    a, b, c, n = qforms._form(u, t, border, stride)
    forms = qforms.Forms(
        a=a[None], b=b[None], c=np.array([c]), n=np.array([n]), step=np.zeros(1, int),
        routed=np.ones(1, bool), sharp=np.zeros(1, bool),
    )  # fmt: skip
    sel = np.ones(1, bool)
    for h in (rng.normal(size=(11, 11)), bank_kernel("x2-medium")):
        h = h / h.sum()
        got = float(qforms._mse(forms, sel, qforms.taps(h))[0])
        assert got == pytest.approx(_direct_mse(u, t, np.asarray(h, np.float64), border, stride))


def _forms_of(scale: int, scenes: list[tuple[np.ndarray, np.ndarray]]) -> qforms.Forms:
    parts = []
    for hr, lr in scenes:
        x8 = np.round(lr[:, :, 0] * 255)
        u = F.interpolate(torch.from_numpy(x8)[None, None], scale_factor=scale, mode="bicubic")
        parts.append(qforms._form(u, torch.from_numpy(hr[:, :, 0] * 255.0), scale + 5, 1))
    k = len(parts)
    a, b, c, n = (np.array([p[i] for p in parts]) for i in range(4))
    flags = np.ones(k, bool)
    return qforms.Forms(a, b, c, n, np.zeros(k, int), flags, ~flags)


def test_the_fitted_kernel_serves_its_scenes_better_than_its_start_and_stays_a_kernel() -> None:
    rng = np.random.default_rng(5)
    scenes = []
    for _ in range(6):
        hr = dead_leaves(96, rng, r_min=2, discs=150)[:, :, None]
        scenes.append((hr, div2krk_lr(hr, recipe_kernel(2, rng), 2)))
    forms, sel = _forms_of(2, scenes), np.ones(6, bool)
    start = bank_kernel("x2-none")
    fitted = routes.fit_step(forms, sel, start, iters=60)
    before = qforms.gains(forms, sel, qforms.taps(start)).numpy()
    after = qforms.gains(forms, sel, qforms.taps(fitted)).numpy()
    assert after.mean() > before.mean() + 0.3  # blurred scenes: the fit sharpens more than `none`
    assert fitted.shape == (11, 11) and abs(float(fitted.sum()) - 1) < 1e-5
    for turned in (fitted.T, fitted[::-1], fitted[:, ::-1]):
        np.testing.assert_allclose(turned, fitted, atol=1e-7)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_clean_steps_route_kernels_are_shipped_with_how_they_were_made(scale: int) -> None:
    fitted = {st: route_kernels(scale, st) for st in steps("clean")}
    fitted = {st: names for st, names in fitted.items() if names != [f"x{scale}-{st}"]}
    assert len(fitted) >= 5  # a step too few calibration scenes reach keeps its own kernel
    for step, names in fitted.items():
        for name in names:
            assert name.partition(".")[0] == f"x{scale}-auto-{step}"
            k, meta = load_kernel(builtin_kernels()[name])
            assert k.shape == (11, 11) and abs(float(k.sum()) - 1) < 1e-3
            for turned in (k.T, k[::-1], k[:, ::-1]):
                np.testing.assert_allclose(turned, k, atol=1e-6)
            assert meta["objective"] == "routes" and meta["step"] == step
            assert meta["scale"] == scale
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
    assert chosen.name == routed_name(2, chosen.blur, chosen.info["blur_score"]), chosen.info
    assert chosen.name.partition(".")[0] == f"x2-auto-{chosen.blur}"
    np.testing.assert_array_equal(chosen.kernel, bank_kernel(chosen.name))


def test_every_route_kernel_in_the_bank_is_a_fitted_symmetric_kernel_of_a_known_step() -> None:
    routed = {n: p for n, p in builtin_kernels().items() if "-auto-" in n}
    families = ("clean", "q95", "q85", "q75")
    known = {f"x{s}-auto-{st}" for s in (2, 3, 4) for f in families for st in steps(f)}
    assert len(routed) >= 3 * 5 and {n.partition(".")[0] for n in routed} <= known
    for name, path in routed.items():
        k, meta = load_kernel(path)
        assert k.shape == (11, 11) and abs(float(k.sum()) - 1) < 1e-3
        np.testing.assert_allclose(k.T, k, atol=1e-6)
        band = f".{meta['band']}" if "band" in meta else ""
        assert name == f"x{meta['scale']}-auto-{meta['step']}{band}"
        assert meta["objective"] == "routes"
        assert not np.allclose(k, bank_kernel(f"x{meta['scale']}-{meta['step']}"), atol=1e-3)


def test_every_banded_step_ships_one_kernel_per_band_and_each_says_its_scores() -> None:
    assert ROUTE_BANDS, "no step's route is cut into bands"
    for (scale, step), cuts in ROUTE_BANDS.items():
        assert list(cuts) == sorted(cuts) and len(set(cuts)) == len(cuts)
        names = route_kernels(scale, step)
        assert names == [f"x{scale}-auto-{step}.{j}" for j in range(1, len(cuts) + 2)]
        assert f"x{scale}-auto-{step}" not in builtin_kernels()  # no stale single kernel
        bounds = [None, *cuts, None]
        for j, name in enumerate(names):
            meta = load_kernel(builtin_kernels()[name])[1]
            assert meta["band"] == j + 1 and meta["scores"] == [bounds[j], bounds[j + 1]]
            score = cuts[0] - 1 if j == 0 else bounds[j]  # a band's lower bound is in it
            assert routed_name(scale, step, score) == name
        assert routed_name(scale, step) == f"x{scale}-{step}"  # no score: the step's own


def test_auto_takes_the_band_of_the_score_it_read() -> None:
    rng = np.random.default_rng(2)
    seen = set()
    for blur in range(8):
        hr = dead_leaves(288, rng, r_min=2, discs=250)[:, :, None]
        lr = div2krk_lr(hr, recipe_kernel(3, rng), 3) if blur % 2 else hr[::3, ::3]
        chosen = select_kernel(np.round(lr * 255).astype(np.uint8), 3)
        if "blur_score" not in chosen.info or "periodic" in chosen.info["why"]:
            continue
        cuts = ROUTE_BANDS.get((3, chosen.blur), ())
        score = chosen.info["blur_score"]
        band = 1 + sum(score >= c for c in cuts)
        name = f"x3-auto-{chosen.blur}" + (f".{band}" if cuts else "")
        if name in builtin_kernels():
            assert chosen.name == name, chosen.info
            np.testing.assert_array_equal(chosen.kernel, bank_kernel(name))
            seen.add(band if cuts else 0)
    assert len(seen - {0}) >= 2, seen  # inputs fell in at least two bands


def test_a_step_many_scenes_reach_is_cut_into_bands_at_their_scores(monkeypatch) -> None:
    rng = np.random.default_rng(3)
    scenes = []
    for _ in range(6):
        hr = dead_leaves(64, rng, r_min=2, discs=80)[:, :, None]
        scenes.append((hr, div2krk_lr(hr, recipe_kernel(2, rng), 2)))
    forms = _forms_of(2, scenes)
    forms.score = np.array([0.5, 0.1, 0.3, 0.9, 0.7, 0.2])
    monkeypatch.setattr(routes, "BAND_SCENES", 3)
    monkeypatch.setattr(routes, "MIN_SCENES", 1)
    kernels, edges = routes.fit_routes(2, forms)
    assert set(kernels) == {"none.1", "none.2"} and len(edges["none"]) == 1
    assert 0.3 <= edges["none"][0] <= 0.5  # three scenes on either side
    monkeypatch.setattr(routes, "BAND_SCENES", 4)  # too few for two bands: one kernel
    kernels, edges = routes.fit_routes(2, forms)
    assert set(kernels) == {"none"} and edges == {}


def test_writing_bands_replaces_the_steps_earlier_route_kernels(tmp_path, monkeypatch) -> None:
    (tmp_path / "bank").mkdir()
    for stale in ("x2-auto-none", "x2-auto-none.3", "x2-auto-light"):
        np.save(tmp_path / "bank" / f"{stale}.npy", np.ones((1, 1), np.float32))
    monkeypatch.setattr(routes, "weights_dir", lambda: tmp_path)
    k = bank_kernel("x2-none")
    routes.write_routes(2, "clean", ({"none.1": k, "none.2": k}, {"none": (0.4,)}), 6, "cmd")
    names = sorted(p.stem for p in (tmp_path / "bank").glob("*.npy"))
    assert names == ["x2-auto-none.1", "x2-auto-none.2"]  # light has no kernel in this fit
    meta = load_kernel(tmp_path / "bank" / "x2-auto-none.2.npy")[1]
    assert meta["band"] == 2 and meta["scores"] == [0.4, None] and meta["step"] == "none"
