"""The blur estimators (ordering on inputs of known blur) and the calibration's rule fit."""

from __future__ import annotations

import numpy as np
import pytest

from nssr_cli.kernels.bank import NOISE_CLASSES, bank_kernel, steps
from nssr_cli.kernels.estimate import Estimates, edge_sigma, estimate_sigma, luminance, ringing
from nssr_cli.kernels.rule_table import PERIODIC
from nssr_cli.quality.calibrate import _thresholds, fit, fit_gate, noise_cut, regate
from nssr_cli.quality.rules import PLAIN, evaluate_rule, pick, replaces, resplit
from nssr_cli.synth.degradations import (
    blur_subsample,
    classic_lr,
    div2krk_lr,
    gaussian,
    quantize,
    recipe_kernel,
    sampling_centre,
    shift_to,
)
from nssr_cli.synth.scenes import _bricks, _gratings, dead_leaves


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return dead_leaves(192, np.random.default_rng(3))[:, :, None]


def _blurred(hr: np.ndarray, sigma_lr: float, scale: int = 2) -> np.ndarray:
    lam = (sigma_lr * scale) ** 2
    k = shift_to(gaussian(11, lam, lam, 0.0), sampling_centre(11, scale))
    return quantize(blur_subsample(hr, k / k.sum(), scale))


def test_estimate_grows_with_the_true_blur(scene: np.ndarray) -> None:
    est = [estimate_sigma(_blurred(scene, s)) for s in (0.4, 0.6, 0.8, 1.0)]
    assert est == sorted(est) and est[-1] > est[0] + 0.3


def test_dtypes_and_tiny_images() -> None:
    img8 = np.full((20, 20, 3), 200, np.uint8)
    np.testing.assert_allclose(luminance(img8), 200.0)
    np.testing.assert_allclose(luminance(img8.astype(np.uint16) * 257), 200.0)
    np.testing.assert_allclose(luminance(img8.astype(np.float32) / 255), 200.0, rtol=1e-6)
    assert estimate_sigma(np.zeros((8, 8), np.uint8)) == 0.0


def test_edge_estimate_grows_with_the_true_blur_and_ignores_contrast(scene: np.ndarray) -> None:
    est = [edge_sigma(_blurred(scene, s)) for s in (0.4, 0.6, 0.8, 1.0)]
    assert est == sorted(est) and est[-1] > est[0] + 0.3
    img = _blurred(scene, 0.7)
    assert abs(edge_sigma(0.25 + 0.5 * img) - edge_sigma(img)) < 0.05
    assert edge_sigma(np.full((40, 40), 0.5)) == 0.0 and edge_sigma(np.zeros((8, 8))) == 0.0


def _toy_rows(rng: np.random.Generator, n: int = 200) -> list[dict]:
    """Calibration-like rows of the clean family: sharp inputs score ≈ 0.4 and lose badly to
    strong kernels, blurred ones score ≈ 1.0 and gain most from them."""
    rows = []
    for _ in range(n):
        sharp = bool(rng.uniform() < 0.5)
        centre = 0.4 if sharp else 1.0
        gain = [0.5, 0, -0.5, -2, -5, -9] if sharp else [0.1, 0.4, 0.6, 1, 1.4, 1.7]
        rows.append(
            {
                "family": "clean",
                "sharp": sharp,
                "spectral": centre + rng.normal(0, 0.08),
                "edge": centre + rng.normal(0, 0.08),
                "gain": np.array(gain, dtype=np.float64),
            }
        )
    return rows


def test_fit_separates_sharp_from_blurred_and_is_cautious() -> None:
    rows = _toy_rows(np.random.default_rng(0))
    (weights, thresholds) = fit(rows)["clean"]
    assert abs(sum(weights) - 1) < 1e-3 and min(weights) >= 0
    assert list(thresholds) == sorted(thresholds) and len(thresholds) == len(steps("clean")) - 1
    assert thresholds[0] > 0.4 and thresholds[-1] < 1.0
    rule = {"clean": (weights, thresholds)}
    held_out = evaluate_rule(_toy_rows(np.random.default_rng(1)), rule)["clean"]
    assert held_out["sharp_worst"] >= 0 and held_out["blurred_mean"] > 1.2
    # a rule with its first threshold at the midpoint is less cautious: it must not do better
    naive = evaluate_rule(rows, {"clean": (weights, (0.7,) * len(thresholds))})["clean"]
    assert evaluate_rule(rows, rule)["clean"]["sharp_worst"] >= naive["sharp_worst"]


def _welch_reference(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """radial_spectrum written the direct way: every tile cut out, its mean removed, windowed,
    one complex 2-D FFT each (float64), power averaged, then the same rings."""
    from nssr_cli.kernels.spectrum import BAND, BINS, TILE

    t = min(TILE, *y.shape)
    step = max(1, t // 2)
    win = np.outer(np.hanning(t), np.hanning(t))
    tiles = np.lib.stride_tricks.sliding_window_view(y.astype(np.float64), (t, t))
    tiles = tiles[::step, ::step].reshape(-1, t, t)
    tiles = tiles - tiles.mean(axis=(1, 2), keepdims=True)
    p = (np.abs(np.fft.rfft2(tiles * win)) ** 2).mean(axis=0) / (win**2).sum()
    f2 = np.fft.fftfreq(t)[:, None] ** 2 + np.fft.rfftfreq(t)[None, :] ** 2
    ring = np.digitize(np.sqrt(f2), np.linspace(*BAND, BINS + 1)) - 1
    ok = (ring >= 0) & (ring < BINS)
    count = np.bincount(ring[ok], minlength=BINS)
    power = np.bincount(ring[ok], p[ok], minlength=BINS) / np.maximum(count, 1) - 1.0 / 12.0
    freq = np.sqrt(np.bincount(ring[ok], f2[ok], minlength=BINS) / np.maximum(count, 1))
    keep = (count > 0) & (power > 1e-3)
    return freq[keep], power[keep]


@pytest.mark.parametrize("shape", [(512, 512), (300, 200), (40, 33), (17, 21), (16, 64)])
def test_spectrum_matches_the_direct_welch_average(shape: tuple[int, int]) -> None:
    """The shared-transform spectrum is the plain Welch average (even and odd tile sizes; a
    bright mean, which the per-tile mean removal must cancel, on a random-walk texture)."""
    from nssr_cli.kernels.spectrum import radial_spectrum

    rng = np.random.default_rng(sum(shape))
    y = (180 + np.cumsum(rng.normal(0, 2, shape), axis=1)).astype(np.float32)
    f, p = radial_spectrum(y)
    f_ref, p_ref = _welch_reference(y)
    np.testing.assert_array_equal(f, f_ref)
    np.testing.assert_allclose(p, p_ref, rtol=1e-4)


def test_estimates_share_one_crop_and_agree_with_the_functions(scene: np.ndarray) -> None:
    from nssr_cli.kernels.estimate import Estimates, noise_sigma

    img = np.round(_blurred(np.repeat(scene, 3, axis=2), 0.7) * 255).astype(np.uint8)
    est = Estimates(img)  # (float sums may round differently with the buffers' alignment)
    assert est.spectral == pytest.approx(estimate_sigma(img), rel=1e-6)
    assert est.edge == pytest.approx(edge_sigma(img), rel=1e-6)
    assert est.noise == pytest.approx(noise_sigma(img), rel=1e-6)
    assert est.luma.dtype == np.float32 and est.luma.shape == img.shape[:2]


def test_top_finds_the_largest_values_even_when_its_sample_misleads() -> None:
    from nssr_cli.kernels.estimate import _top

    rng = np.random.default_rng(0)
    values = rng.permutation(5000).astype(np.float32)
    assert set(_top(values, 100)) == set(np.argsort(values)[-100:])
    tricky = np.zeros(5000, np.float32)
    tricky[::16] = 1000 + np.arange(len(tricky[::16]))  # the sample holds only large values
    tricky[1::16] = 500 + np.arange(len(tricky[1::16]))
    assert set(_top(tricky, 600)) == set(np.argsort(tricky)[-600:])


def test_spectral_estimate_on_a_second_thread_is_the_same_and_raises_here(
    scene: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nssr_cli.kernels import estimate

    img = _blurred(scene, 0.7)
    ahead = estimate.Estimates(img)
    ahead.start_spectral()
    assert ahead.spectral == pytest.approx(estimate_sigma(img), rel=1e-6)

    def broken(y: np.ndarray) -> np.ndarray:
        raise MemoryError("no room for the tiles")

    monkeypatch.setattr(estimate, "welch_power", broken)
    failing = estimate.Estimates(img)
    failing.start_spectral()
    with pytest.raises(MemoryError, match="no room"):
        _ = failing.spectral


def test_rows_the_noise_estimate_sends_to_bicubic_do_not_move_the_clean_thresholds() -> None:
    """A textured sharp scene reading σ̂ ≥ 1 never reaches the clean rule (auto gives it plain
    bicubic): its huge losses under strong steps must not make the clean rule cautious."""
    rows = _toy_rows(np.random.default_rng(0))
    noisy = [
        {
            **r,
            "noise": 3.0,
            "spectral": 1.0,
            "edge": 1.0,
            "gain": np.array([0.5, -5, -9, -12, -15, -18.0]),
        }
        for r in _toy_rows(np.random.default_rng(2), 60)
        if r["sharp"]
    ]
    quiet = [{**r, "noise": 0.3} for r in rows]
    assert fit(quiet + noisy)["clean"] == fit(quiet)["clean"]
    rule = fit(quiet)
    scores = evaluate_rule(quiet + noisy, rule)["clean"]
    assert scores["sharp_worst"] >= 0  # the noisy rows count as bicubic: 0 dB
    # were they let through, they would drag the thresholds up
    let_through = fit([{**r, "noise": 0.3} for r in quiet + noisy])["clean"]
    assert let_through[1][0] > rule["clean"][1][0]


def test_the_noise_cut_report_counts_which_inputs_it_sends_where() -> None:
    """`calibrate` prints the share of noisy inputs that read below the shipped clean cut (they
    would be sharpened) and of clean ones above it (given bicubic)."""
    cut = NOISE_CLASSES[0]
    n2 = [{"family": "n2", "sharp": True, "noise": cut * f} for f in (0.9, 1.5, 2.0, 3.0)]
    clean = [
        {"family": "clean", "sharp": sharp, "noise": cut * f}
        for sharp, f in ((True, 0.5), (True, 1.0), (False, 1.2), (False, 0.2), (True, 0.99))
    ]
    said = noise_cut(n2 + clean)
    assert f"noise cut {cut}: n2 inputs below it 25.0 %" in said
    assert "at or above it, given bicubic, 40.0 % (1 sharp, 1 blurred)" in said


def test_a_refit_replaces_a_rule_only_when_useful_and_no_less_safe() -> None:
    rows = _toy_rows(np.random.default_rng(0))
    rule = fit(rows)
    scores = evaluate_rule(_toy_rows(np.random.default_rng(1)), rule)["clean"]
    assert {"utility", "sharp_p2", "sharp_share"} <= set(scores)
    assert scores["sharp_p2"] >= scores["sharp_worst"] and scores["utility"] > 0
    reckless = evaluate_rule(rows, {"clean": (rule["clean"][0], (0.0,) * 5)})["clean"]
    assert reckless["sharp_p2"] < 0 and reckless["utility"] < scores["utility"]
    assert reckless["sharp_share"] == pytest.approx(100.0) and scores["sharp_share"] == 0.0
    base = {"utility": 0.5, "sharp_p2": -3.0, "sharp_worst": -9.0, "sharp_share": 4.0}

    def one(fitted: dict, shipped: dict) -> bool:  # one held-out stream
        return replaces([fitted], [shipped])

    assert one({**base, "sharp_p2": -1.5}, base)  # same utility, tail 1.5 dB better
    assert not one({**base, "sharp_p2": -2.5, "sharp_share": 5.5}, base)  # more inputs lose
    assert not one({**base, "sharp_p2": -1.5, "utility": 0.4}, base)  # less useful
    assert not one({**base, "sharp_p2": -1.5, "sharp_worst": -12.0}, base)  # worst worse
    # where the shipped tail is already small, a more useful rule may replace it if as safe
    safe = {"utility": 0.3, "sharp_p2": 0.2, "sharp_worst": -1.0, "sharp_share": 0.5}
    assert one({**safe, "utility": 0.5, "sharp_p2": 0.0}, safe)
    assert not one({**safe, "utility": 0.5, "sharp_p2": -0.3}, safe)  # p2 below 0 − 0.25
    assert not one({**safe, "utility": 0.5, "sharp_share": 2.0}, safe)  # 1.5 points more
    assert not one({**safe, "utility": 0.5, "sharp_worst": -2.5}, safe)  # worst worse
    # the worst input counts over the streams together: one grating, in either stream
    better = {**safe, "utility": 0.5}
    assert replaces(
        [{**better, "sharp_worst": -3.0}, better], [safe, {**safe, "sharp_worst": -14.0}]
    )
    assert not replaces([{**better, "sharp_worst": -3.0}, better], [safe, safe])
    # and every stream must favour the refit
    assert not replaces([better, {**better, "utility": 0.2}], [safe, safe])
    assert not replaces([], [])
    # unless the refit removes a loss of the size over-sharpening costs (5 dB or more better at
    # its worst): then it must be as useful over the streams together, and no less safe
    lossy = {**safe, "sharp_worst": -12.4}
    bounded = [{**safe, "utility": 0.298}, {**safe, "utility": 0.35, "sharp_worst": -2.1}]
    assert replaces(bounded, [safe, lossy])
    assert not replaces([{**b, "utility": 0.2} for b in bounded], [safe, lossy])  # less useful
    assert not replaces([bounded[0], {**bounded[1], "sharp_p2": -1.0}], [safe, lossy])
    assert not replaces([bounded[0], {**bounded[1], "sharp_worst": -8.0}], [safe, lossy])


def test_periodic_textures_read_periodic_and_photo_like_scenes_do_not() -> None:
    """Gratings put their power in a few frequencies of a ring, whatever their orientation
    (bricks and tiles, with their mortar lines, less so); dead leaves with flat regions between
    edges (as photographs have) spread it over the ring."""
    rng = np.random.default_rng(5)
    for _ in range(4):
        assert Estimates(quantize(_gratings(192, rng)[:, :, None])).peak >= 3.0
        assert Estimates(quantize(_bricks(192, rng)[:, :, None])).peak >= 1.4
    for seed in range(4):
        leaves = dead_leaves(192, np.random.default_rng(seed), r_min=2, discs=300)
        assert Estimates(quantize(leaves[:, :, None])).peak < 1.0
    assert Estimates(np.zeros((8, 8), np.uint8)).peak == 0.0


def _clean_gratings(rng: np.random.Generator, lo: float, hi: float) -> list[dict]:
    """30 sharp clean gratings of peakiness ``lo``–``hi``: they read blurred (widths 0.8–1.4)
    and lose to every sharpening step."""
    return [
        {
            "family": "clean",
            "sharp": True,
            "spectral": rng.uniform(0.8, 1.4),
            "edge": rng.uniform(0.8, 1.4),
            "noise": 0.2,
            "peak": rng.uniform(lo, hi),
            "gain": np.array([0.1, -2.0, -5.0, -9.0, -14.0, -18.0]),
        }
        for _ in range(30)
    ]


def test_the_periodic_gate_takes_inputs_that_only_lose_out_of_the_clean_rule() -> None:
    """Periodic inputs that read blurred but lose to every kernel (smooth gratings) would push
    the clean thresholds up for everything; behind the fitted gate they get a rule of their
    own, and the clean rule may sharpen blurred inputs sooner."""
    rows = [{**r, "peak": 1.0, "noise": 0.2} for r in _toy_rows(np.random.default_rng(0))]
    gratings = _clean_gratings(np.random.default_rng(4), 3.0, 6.0)
    plain = fit(rows + gratings)["clean"]
    gate = fit_gate(rows + gratings)
    gated = fit(rows + gratings, {"clean": gate})
    assert 1.0 < gate <= min(g["peak"] for g in gratings)  # every grating goes past it
    assert gated[PERIODIC][1][0] > 1.4  # the gratings keep the mildest step
    assert gated["clean"][1][0] < plain[1][0]  # and no longer hold the clean rule back
    scores = evaluate_rule(rows + gratings, gated, {"clean": gate})["clean"]
    assert scores["sharp_worst"] >= 0.0 and scores["utility"] > 0
    assert evaluate_rule(rows + gratings, {"clean": plain})["clean"]["utility"] < scores["utility"]


def test_the_periodic_gate_may_sit_wherever_the_inputs_that_lose_begin() -> None:
    """Moderately periodic inputs (peakiness 3–4: bricks, tiles) that the clean rule reads
    right keep its gains; only the strongly periodic ones (5–7: gratings) that read blurred
    and lose go past the gate — which therefore sits between the two, above 3."""
    rows = [{**r, "peak": 1.0, "noise": 0.2} for r in _toy_rows(np.random.default_rng(0))]
    rng = np.random.default_rng(7)
    moderate = [
        {**r, "peak": rng.uniform(3.0, 4.0)} for r in _toy_rows(np.random.default_rng(1))[:80]
    ]
    gratings = _clean_gratings(rng, 5.0, 7.0)
    gate = fit_gate(rows + moderate + gratings)
    assert gate is not None and 4.0 <= gate <= min(g["peak"] for g in gratings)
    gated = fit(rows + moderate + gratings, {"clean": gate})
    scores = evaluate_rule(rows + moderate + gratings, gated, {"clean": gate})["clean"]
    low = fit(rows + moderate + gratings, {"clean": 3.0})
    assert (
        scores["utility"]
        > evaluate_rule(rows + moderate + gratings, low, {"clean": 3.0})["clean"]["utility"]
    )  # a gate at 3 would take the bricks' gains away
    assert scores["sharp_worst"] >= -0.5


def test_the_periodic_gate_bounds_the_worst_case_before_it_counts_the_mean() -> None:
    """A few sharp gratings that lose 18 dB under the clean rule, among many blurred periodic
    inputs that gain from it at the same peakiness: utility alone would let the gratings
    through for the others' gain; the fitted gate keeps every grating behind it, so no sharp
    input loses more than a dB or two, though the mean gains less."""
    rows = [{**r, "peak": 1.0, "noise": 0.2} for r in _toy_rows(np.random.default_rng(0))]
    rng = np.random.default_rng(8)
    blurred = [
        {
            "family": "clean",
            "sharp": False,
            "spectral": w,
            "edge": w,
            "noise": 0.2,
            "peak": rng.uniform(4.6, 5.6),
            "gain": np.array([0.5, 1.0, 2.0, 3.0, 3.5, 4.0]),
        }
        for w in rng.uniform(0.8, 1.4, 120)
    ]
    gratings = _clean_gratings(rng, 4.6, 5.0)[:4]
    every = rows + blurred + gratings
    gate = fit_gate(every)
    assert gate is not None and gate <= min(g["peak"] for g in gratings)
    scores = evaluate_rule(every, fit(every, {"clean": gate}), {"clean": gate})["clean"]
    assert scores["sharp_worst"] >= -2.0
    ungated = evaluate_rule(every, fit(every), {})["clean"]  # what utility alone prefers
    assert ungated["utility"] > scores["utility"] and ungated["sharp_worst"] < -10.0


def test_past_the_gate_plain_bicubic_where_even_the_mildest_step_costs_a_sharp_grating() -> None:
    """Gratings near the LR's Nyquist frequency lose dB even under ``none``: where a sharp
    input past the gate loses more than 1 dB under the family's mildest step, the periodic rule
    is plain bicubic (it then loses nothing); where that step costs them nothing, it stays."""
    rows = [{**r, "peak": 1.0, "noise": 0.2} for r in _toy_rows(np.random.default_rng(0))]
    rng = np.random.default_rng(9)
    mild = _clean_gratings(rng, 5.0, 7.0)  # +0.1 dB under `none`
    costly = [
        {**g, "gain": np.array([-6.0, -8.0, -10.0, -12.0, -14.0, -18.0])}
        for g in _clean_gratings(rng, 5.0, 7.0)[:2]
    ]
    gates = {"clean": 4.0}
    kept = fit(rows + mild, gates)
    assert kept[PERIODIC][1] == (9.0,) * 5 and pick(mild[0], kept, gates) == 0
    plain = fit(rows + mild + costly, gates)
    assert plain[PERIODIC][1] == () and {pick(g, plain, gates) for g in mild + costly} == {PLAIN}
    assert plain["clean"] == kept["clean"]  # below the gate nothing moves
    scores = evaluate_rule(rows + mild + costly, plain, gates)["clean"]
    before = evaluate_rule(rows + mild + costly, kept, gates)["clean"]
    assert before["sharp_worst"] == -6.0 < scores["sharp_worst"]


def _jpeg_rows(rng: np.random.Generator, periodic: int) -> list[dict]:
    """Calibration-like rows of the q85 family: sharp inputs score ≈ 0.45, blurred ones ≈ 0.9
    (JPEG steps: none, the blend, medium); plus ``periodic`` sharp gratings that read blurred
    (0.8–1.4) and lose to every sharpening step."""
    rows = []
    for _ in range(200):
        sharp = bool(rng.uniform() < 0.5)
        centre = 0.45 if sharp else 0.9
        rows.append(
            {
                "family": "q85",
                "sharp": sharp,
                "spectral": centre + rng.normal(0, 0.06),
                "edge": centre + rng.normal(0, 0.06),
                "peak": rng.uniform(0.3, 2.0),
                "gain": np.array([0.3, -0.4, -1.5] if sharp else [0.0, 0.3, 0.6]),
            }
        )
    for _ in range(periodic):
        width = rng.uniform(0.8, 1.4)
        rows.append(
            {
                "family": "q85",
                "sharp": True,
                "spectral": width,
                "edge": width,
                "peak": rng.uniform(3.0, 6.0),
                "gain": np.array([0.1, -4.0, -12.0]),
            }
        )
    return rows


def test_a_jpeg_familys_periodic_gate_sends_gratings_to_its_mildest_step() -> None:
    """Under JPEG, too, sharp gratings read blurred and lose 4–12 dB to any sharpening; a
    gate on the spectrum's peakiness sends them to the family's mildest step (not fitted: the
    few periodic JPEG scenes cannot bound a rule of their own), and the rule below the gate may
    sharpen blurred inputs sooner. Without periodic inputs that lose, there is no gate."""
    rows = _jpeg_rows(np.random.default_rng(0), periodic=30)
    plain = fit(rows)["q85"]
    gate = fit_gate(rows, "q85")
    assert gate is not None and 2.0 < gate <= 3.0
    gated = fit(rows, {"q85": gate})
    assert gated["q85/periodic"][1] == (9.0, 9.0)
    assert gated["q85"][1][0] < plain[1][0]
    held_out = _jpeg_rows(np.random.default_rng(1), periodic=30)
    scores = evaluate_rule(held_out, gated, {"q85": gate})["q85"]
    assert scores["sharp_worst"] >= 0.0 and scores["blurred_mean"] > 0.5
    assert scores["utility"] > evaluate_rule(held_out, {"q85": plain})["q85"]["utility"]
    assert fit_gate(_jpeg_rows(np.random.default_rng(2), periodic=0), "q85") is None


def test_a_shipped_rule_without_a_gate_can_be_given_one_and_nothing_else_changes() -> None:
    """A rule fitted where no grating lost (no gate) sharpens gratings that read blurred;
    regating it on scenes with such gratings adds the gate that sends them to the mildest step,
    keeps its weights and thresholds, and is safer and more useful on a held-out stream. On
    scenes without such gratings it adds none."""
    shipped = fit(_jpeg_rows(np.random.default_rng(3), periodic=0))
    rule, gates = regate(_jpeg_rows(np.random.default_rng(0), periodic=30), shipped)
    assert gates.keys() == {"q85"} and 2.0 < gates["q85"] <= 3.0
    assert rule["q85"] == shipped["q85"] and rule["q85/periodic"][1] == (9.0, 9.0)
    held_out = _jpeg_rows(np.random.default_rng(1), periodic=30)
    before = evaluate_rule(held_out, shipped)["q85"]
    after = evaluate_rule(held_out, rule, gates)["q85"]
    assert before["sharp_worst"] < -3.0 <= 0.0 <= after["sharp_worst"]
    assert after["utility"] > before["utility"]
    assert regate(_jpeg_rows(np.random.default_rng(2), periodic=0), shipped) == (shipped, {})


def test_ringing_is_what_sharpening_a_sharp_input_overshoots() -> None:
    """A sharp input rings under a sharpening kernel; the same scene blurred steepens within
    its edges' range instead. The fraction is in [0, 1], ignores brightness and contrast (the
    filters are linear and the range's max and min move with them), grows with the kernel's
    strength, and reads 1 where there is nothing to measure."""
    hr = dead_leaves(288, np.random.default_rng(6), r_min=3, discs=200)[:, :, None]
    for scale in (2, 3, 4):
        light = bank_kernel(f"x{scale}-light")
        sharp = ringing(quantize(classic_lr(hr, scale)), light, scale)
        blur = recipe_kernel(scale, np.random.default_rng(scale), (2.5, 3.5))
        blurred = ringing(quantize(div2krk_lr(hr, blur, scale)), light, scale)
        assert 0.0 <= blurred < sharp / 3 < sharp <= 1.0, (scale, sharp, blurred)
        strong = ringing(quantize(classic_lr(hr, scale)), bank_kernel(f"x{scale}-medium"), scale)
        assert strong > sharp
    img = classic_lr(hr, 3)
    light = bank_kernel("x3-light")
    assert ringing(0.2 + 0.5 * img, light, 3) == pytest.approx(ringing(img, light, 3), rel=1e-3)
    assert ringing(img, np.ones((1, 1), np.float32), 3) == 1.0  # bicubic changes nothing
    assert ringing(np.zeros((12, 12), np.uint8), light, 3) == 1.0  # too small to measure
    est = Estimates(img)
    # one crop (the same pixels, so the same measure up to float sums taken in another order),
    # remembered per kernel
    assert est.ringing(light, 3) == pytest.approx(ringing(img, light, 3), rel=1e-6)
    assert est.ringing(light, 3) is est.ringing(light, 3)


def test_rows_with_ringing_score_by_it_and_rows_without_by_the_widths() -> None:
    """Calibration rows carry the ringing of the mildest sharpening step (clean and JPEG
    families): a rule fitted on them scores by −log10 ringing (weight 1; thresholds rising as
    ringing falls), the widths weighing in only as far as they tell sharp from blurred, and
    sharpens only the inputs that take it without overshoot; rows without it keep the widths."""
    rng = np.random.default_rng(7)
    rows = _toy_rows(rng, 300)
    for r in rows:  # widths that overlap across the classes; ringing that splits them
        r["spectral"] = r["edge"] = rng.uniform(0.4, 1.0)
        r["ringing"] = rng.uniform(0.12, 0.3) if r["sharp"] else rng.uniform(0.01, 0.06)
    jpeg = [{**r, "family": "q85", "gain": r["gain"][:3]} for r in rows]
    rule = fit(rows + jpeg)
    for family in ("clean", "q85"):
        weights, thresholds = rule[family]
        assert weights[2] == 1.0 and max(abs(weights[0]), abs(weights[1])) < 0.2
        assert len(thresholds) == len(steps(family)) - 1
        assert -np.log10(0.12) < thresholds[0] and thresholds[-1] <= -np.log10(0.06)
    scores = evaluate_rule(rows, rule)["clean"]
    assert scores["sharp_worst"] >= 0 and scores["blurred_mean"] > 1.0
    plain = [{**r, "family": "q85", "gain": r["gain"][:3]} for r in _toy_rows(rng, 100)]
    assert fit(plain)["q85"][0][2] == 0.0 and fit(_toy_rows(rng))["clean"][0][2] == 0.0


def _soft_rows(rng: np.random.Generator) -> list[dict]:
    """Clean rows where ringing alone misleads: a third of the sharp inputs are soft (skies,
    fog) and ring as little as blurred ones, but their spectrum falls off like a sharp
    image's (spectral width ≈ 0.4, blurred ≈ 1.0)."""
    rows = _toy_rows(rng, 300)
    for r in rows:
        soft = r["sharp"] and rng.uniform() < 0.35
        r["ringing"] = rng.uniform(0.01, 0.06) if soft or not r["sharp"] else rng.uniform(0.12, 0.3)
        r["spectral"] = (0.4 if r["sharp"] else 1.0) + rng.normal(0, 0.1)
        r["edge"] = rng.uniform(0.4, 1.2)
    return rows


def test_the_widths_correct_the_ringing_score_where_it_misleads() -> None:
    """Where soft sharp inputs ring as little as blurred ones, the fitted clean rule weighs
    the spectral width in, and on held-out rows it is safer and more useful than the rule the
    same rows fit on ringing alone (widths made uninformative)."""
    rows = _soft_rows(np.random.default_rng(8))
    rule = fit(rows)
    weights = rule["clean"][0]
    assert weights[0] > 0.5 and weights[2] == 1.0
    blind = fit([{**r, "spectral": 0.7, "edge": 0.7} for r in rows])  # ringing decides alone
    held_out = _soft_rows(np.random.default_rng(9))
    ours, theirs = evaluate_rule(held_out, rule)["clean"], evaluate_rule(held_out, blind)["clean"]
    assert ours["utility"] > theirs["utility"] and ours["sharp_worst"] > theirs["sharp_worst"]


def test_dense_inputs_get_thresholds_of_their_own_so_sparse_blurred_ones_are_sharpened() -> None:
    """Soft dense content (skies, fog: gradients spread evenly) reads as blurred as blurred
    photographs do, and loses under sharpening whether or not it is blurred. Where its family has
    a sparse gate (×3 q85), such rows are fitted apart: the family's own thresholds then let the
    sparse blurred rows reach the strongest step, which one rule over both could not."""
    rng = np.random.default_rng(4)
    rows = []
    for _ in range(400):
        sharp, dense = bool(rng.uniform() < 0.5), bool(rng.uniform() < 0.5)
        centre = 1.0 if dense or not sharp else 0.4
        gain = {
            (True, False): [0.1, -0.6, -1.8],
            (False, False): [0.05, 0.3, 0.6],
            (True, True): [-0.1, -0.7, -1.8],
            (False, True): [0.0, -0.1, -0.2],
        }[(sharp, dense)]
        rows.append(
            {
                "family": "q85",
                "scale": 3,
                "sharp": sharp,
                "sparsity": 0.33 if dense else 0.7,
                "spectral": centre + rng.normal(0, 0.05),
                "edge": centre + rng.normal(0, 0.05),
                "gain": np.array(gain),
            }
        )
    rule = fit(rows)
    (w_sparse, sparse), (w_dense, dense) = rule["q85"], rule["q85/dense"]
    assert w_sparse == w_dense  # one weighting of the estimates, thresholds on each side
    assert sparse[-1] < 0.95 and dense[0] > 1.2  # blurred sparse rows: medium; dense: mildest
    picks = [pick(r, rule) for r in rows]
    assert all(
        k == 2 for r, k in zip(rows, picks, strict=True) if r["sparsity"] > 0.5 and not r["sharp"]
    )
    assert all(k == 0 for r, k in zip(rows, picks, strict=True) if r["sparsity"] < 0.5)
    one_rule = fit([{**r, "scale": 2} for r in rows])  # no gate at ×2: one rule over both
    assert "q85/dense" not in one_rule and one_rule["q85"][1][-1] > 1.2
    # a rule without a dense part scores dense rows as the others; resplitting it keeps its
    # weights and refits the thresholds on each side
    assert [pick(r, one_rule) for r in rows] == [pick({**r, "scale": 2}, one_rule) for r in rows]
    split, gates = resplit(rows, one_rule, {}, _thresholds)
    assert gates == {} and split["q85"][0] == split["q85/dense"][0] == one_rule["q85"][0]
    assert split["q85"][1][-1] < 0.95 and split["q85/dense"][1][0] > 1.2
    assert resplit([{**r, "scale": 2} for r in rows], one_rule, {}, _thresholds)[0] == one_rule
