"""The fast paths equal the reference (``engine.reference``), tiles are seamless, sizes right."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nssr_cli.engine.geometry import output_size
from nssr_cli.engine.plans import make_plan, upscale_planes
from nssr_cli.engine.reference import reference_upscale
from nssr_cli.engine.tiles import upscale_tensor
from nssr_cli.errors import NssrWarning, UsageError


def random_kernel(size: int = 11, seed: int = 0) -> np.ndarray:
    """A random sharpening-like kernel: a strong centre, random taps, area 1."""
    rng = np.random.default_rng(seed)
    k = rng.normal(0, 0.05, (size, size))
    k[size // 2, size // 2] += 1.5
    return (k / k.sum()).astype(np.float32)


def reference(x: torch.Tensor, h: np.ndarray, s: float) -> torch.Tensor:
    """``(C, H, W)`` → the reference output, clamped (float64 internally)."""
    out = reference_upscale(x[None].double(), torch.from_numpy(h).double(), s)[0]
    return out.clamp(0, 1).float()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float((a.double() - b.double()).pow(2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


@pytest.mark.parametrize("scale", [2, 3, 4, 2.5, 1.5])
@pytest.mark.parametrize("shape", [(3, 37, 53), (1, 20, 17)])
def test_fast_path_equals_reference(scale: float, shape: tuple[int, int, int], device: str) -> None:
    x = torch.rand(*shape)
    h = random_kernel(11, seed=int(scale * 10))
    fast = upscale_tensor(x, h, scale, device=device)
    ref = reference(x, h, scale)
    assert fast.shape == ref.shape == (shape[0], *output_size(*shape[1:], scale))
    assert psnr(fast, ref) >= 50
    levels = (fast * 255).round() - (ref * 255).round()
    assert (levels.abs() <= 1).float().mean() >= 0.999
    assert float((fast - ref).abs().max()) < 1e-4  # in fact float32 rounding, borders included


@pytest.mark.parametrize("scale", [2, 3, 2.5])
def test_tiled_equals_untiled(scale: float) -> None:
    x = torch.rand(3, 41, 29)
    h = random_kernel(11, seed=3)
    whole = upscale_tensor(x, h, scale, tile=10_000)
    for tile in (7, 16, 33):
        tiled = upscale_tensor(x, h, scale, tile=tile)
        torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-6)
    img = (x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    plan = make_plan(h, scale, "cpu")
    whole8 = upscale_planes(img, plan, tile=10_000)
    for tile in (8, 21):
        np.testing.assert_array_equal(upscale_planes(img, plan, tile=tile), whole8)


@pytest.mark.parametrize("scale", [2, 3, 4, 2.5])
def test_impulse_kernel_gives_plain_bicubic(scale: float) -> None:
    x = torch.rand(2, 15, 22)
    out = upscale_tensor(x, np.ones((1, 1), np.float32), scale)
    bicubic = torch.nn.functional.interpolate(
        x[None], size=output_size(15, 22, scale), mode="bicubic", align_corners=False
    )[0].clamp(0, 1)
    torch.testing.assert_close(out, bicubic, rtol=0, atol=1e-5)


def test_even_sized_and_larger_kernels_match_reference() -> None:
    x = torch.rand(1, 24, 24)
    for size in (3, 15):
        h = random_kernel(size, seed=size)
        torch.testing.assert_close(upscale_tensor(x, h, 2), reference(x, h, 2), rtol=0, atol=1e-5)


def test_tiny_images_smaller_than_the_kernel() -> None:
    for hw in ((1, 1), (1, 5), (2, 3)):
        x = torch.rand(1, *hw)
        h = random_kernel(11)
        torch.testing.assert_close(upscale_tensor(x, h, 3), reference(x, h, 3), rtol=0, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_arrays_keep_dtype_layout_and_size(dtype: type) -> None:
    rng = np.random.default_rng(0)
    peak = {np.uint8: 255, np.uint16: 65535}.get(dtype, 1)
    color = (rng.random((13, 9, 3)) * peak).astype(dtype)
    gray = color[:, :, 0]
    plan = make_plan(random_kernel(), 3, "cpu")
    out_c, out_g = upscale_planes(color, plan), upscale_planes(gray, plan)
    assert out_c.dtype == dtype and out_c.shape == (39, 27, 3)
    assert out_g.dtype == dtype and out_g.shape == (39, 27)
    # Channels are independent: the gray plane is the colour image's first channel. The two
    # layouts take different convolution kernels (e.g. AVX-512 ones on one but not the other),
    # so float32 sums differ in the last bits: 1 level after rounding, ~1e-7 in float32.
    tolerance = 1e-6 if dtype == np.float32 else 1
    gap = np.abs(out_g.astype(np.float64) - out_c[:, :, 0].astype(np.float64))
    assert gap.max() <= tolerance
    if dtype != np.float32:  # after rounding, nearly every pixel is exactly equal
        assert (gap == 0).mean() > 0.99


def test_sixteen_bit_is_not_crushed_to_eight() -> None:
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    out = upscale_planes(ramp, make_plan(np.ones((1, 1), np.float32), 2, "cpu"))
    assert len(np.unique(out)) > 1000  # an 8-bit round trip would leave ≤ 256 values


def test_upscale_array_api_with_kernel_forms(tmp_path) -> None:
    from nssr_cli import upscale_array

    img = (np.random.default_rng(1).random((10, 12, 3)) * 255).astype(np.uint8)
    h = random_kernel()
    np.save(tmp_path / "k.npy", h)
    a = upscale_array(img, 2, kernel=h, device="cpu")
    b = upscale_array(img, 2, kernel=str(tmp_path / "k.npy"), device="cpu")
    np.testing.assert_array_equal(a, b)
    assert a.shape == (20, 24, 3) and a.dtype == np.uint8
    plain = upscale_array(img, 2, kernel="bicubic", device="cpu")
    assert not np.array_equal(a, plain)


@pytest.mark.parametrize("bad", [0, -2, float("nan"), float("inf"), 1000, 0.5])
def test_absurd_scales_are_usage_errors(bad: float) -> None:
    with pytest.raises(UsageError):
        make_plan(np.ones((1, 1), np.float32), bad, "cpu")


def test_upscale_array_default_is_the_per_image_auto_choice() -> None:
    from nssr_cli import upscale_array
    from nssr_cli.kernels.bank import select_kernel

    img = (np.random.default_rng(2).random((24, 20, 3)) * 255).astype(np.uint8)
    chosen = select_kernel(img, 2, "auto").kernel
    np.testing.assert_array_equal(
        upscale_array(img, 2, device="cpu"), upscale_array(img, 2, kernel=chosen, device="cpu")
    )


@pytest.mark.parametrize("kernel", [None, "bicubic"])
@pytest.mark.parametrize(
    "image",
    [
        np.zeros((0, 5, 3), np.uint8),
        np.zeros((5, 0), np.uint8),
        np.zeros((4, 4, 0), np.uint8),
        np.zeros(7, np.uint8),
        np.zeros((), np.float32),
        np.full((6, 6), np.nan, np.float32),
        np.array([[0.5, np.inf], [0, 1]], np.float32),
        np.zeros((4, 4), np.float64),
    ],
    ids=["no rows", "no columns", "no channels", "1-D", "0-D", "NaN", "inf", "float64"],
)
def test_upscale_array_refuses_what_is_not_an_image(image: np.ndarray, kernel) -> None:
    """One UsageError, whether or not ``auto`` would first look at the array."""
    from nssr_cli import upscale_array

    with pytest.raises(UsageError):
        upscale_array(image, 2, kernel=kernel, device="cpu")


def test_a_float_image_on_the_8_bit_scale_is_warned_about() -> None:
    """It would come out white (clamped to [0, 1]); an image in [0, 1] gets no warning."""
    import warnings

    from nssr_cli import upscale_array
    from nssr_cli.errors import NssrWarning

    img = np.random.default_rng(4).random((9, 7, 3)).astype(np.float32)
    with pytest.warns(NssrWarning, match="divide it by 255") as caught:
        upscale_array(img * 255, 2, kernel="bicubic", device="cpu")
    assert caught[0].filename == __file__  # the caller's line, not nssr's
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        upscale_array(img, 2, kernel="bicubic", device="cpu")


def test_a_kernel_may_be_given_as_rows() -> None:
    from nssr_cli import upscale_array

    img = (np.random.default_rng(6).random((9, 11, 3)) * 255).astype(np.uint8)
    rows = [[0.0, -0.1, 0.0], [-0.1, 1.4, -0.1], [0.0, -0.1, 0.0]]
    as_array = upscale_array(img, 2, kernel=np.array(rows, np.float32), device="cpu")
    np.testing.assert_array_equal(upscale_array(img, 2, kernel=rows, device="cpu"), as_array)
    with pytest.raises(UsageError, match="rows of numbers"):
        upscale_array(img, 2, kernel=[[1.0, 2.0], [3.0]], device="cpu")


def test_a_channels_first_array_is_warned_about() -> None:
    import warnings

    from nssr_cli import upscale_array
    from nssr_cli.errors import NssrWarning

    img = np.random.default_rng(9).integers(0, 256, (3, 12, 10), dtype=np.uint8)
    with pytest.warns(NssrWarning, match="moveaxis") as caught:
        upscale_array(img, 2, kernel="bicubic", device="cpu")
    assert caught[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        upscale_array(np.moveaxis(img, 0, -1), 2, kernel="bicubic", device="cpu")


@pytest.mark.parametrize(
    ("kernel", "warned"),
    [
        ("x3-heavy", True),
        ("x2-heavy", False),
        ("x3-auto-medium", True),
        ("x2-auto-medium", False),
        ("x3-auto-none.2", True),  # a band of a route: x2's `none` route has no bands
    ],
)
def test_a_bank_kernel_for_another_scale_is_warned_about_at_the_callers_line(kernel, warned):
    # the command line's warning (one definition), from the library too
    import warnings

    from nssr_cli import upscale_array

    img = np.zeros((8, 8), np.uint8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        upscale_array(img, 2, kernel=kernel, device="cpu")
    said = [w for w in caught if issubclass(w.category, NssrWarning)]
    assert len(said) == warned, [str(w.message) for w in caught]
    if warned:
        message = str(said[0].message)
        assert message.startswith(f"{kernel}: a bank kernel solved for ×3, used at ×2")
        assert f"x2{kernel[2:].partition('.')[0]} is the one solved for ×2" in message
        assert said[0].filename == __file__  # the caller's line, not nssr's


def test_a_kernel_whose_taps_do_not_sum_to_1_is_warned_about_at_the_callers_line() -> None:
    from nssr_cli import upscale_array
    from nssr_cli.errors import NssrWarning

    with pytest.warns(NssrWarning, match="sum to 9") as caught:
        upscale_array(np.zeros((8, 8), np.uint8), 2, kernel=np.ones((3, 3)), device="cpu")
    assert caught[0].filename == __file__


def test_big_endian_arrays_are_the_same_numbers_and_an_empty_kernel_name_is_refused() -> None:
    from nssr_cli import upscale_array

    native = (np.random.default_rng(8).random((9, 11)) * 65535).astype(np.uint16)
    swapped = native.astype(native.dtype.newbyteorder())
    assert not swapped.dtype.isnative
    out = upscale_array(swapped, 2, kernel="x2-medium", device="cpu")
    np.testing.assert_array_equal(out, upscale_array(native, 2, kernel="x2-medium", device="cpu"))
    with pytest.raises(UsageError, match="kernel is empty"):
        upscale_array(native, 2, kernel=" ", device="cpu")


@pytest.mark.parametrize("bad", [True, None, [2], "two"])
def test_a_scale_that_is_not_a_number_is_a_usage_error(bad) -> None:
    from nssr_cli import upscale_array

    with pytest.raises(UsageError):
        upscale_array(np.zeros((4, 4), np.uint8), bad, kernel="bicubic", device="cpu")


@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_a_gpu_names_the_librarys_argument(
    monkeypatch, cli, tmp_path, device: str
) -> None:
    """A library caller never typed ``--device``: the error names the ``device=`` argument;
    the command line's still names ``--device``."""
    from helpers_images import image_file

    from nssr_cli import upscale_array

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU, on any machine
    with pytest.raises(UsageError) as raised:
        upscale_array(np.zeros((8, 8), np.uint8), 2, kernel="bicubic", device=device)
    assert str(raised.value).startswith(f"device='{device}' was requested"), raised.value
    assert "--device" not in str(raised.value)
    proc = cli("upscale", str(image_file(tmp_path / "a.png")), "--device", "cuda")
    assert proc.returncode == 2 and "Error: --device cuda was requested" in proc.stderr.decode()


def test_a_read_only_array_upscales_without_warnings() -> None:
    """``np.asarray(pil_image)`` is read-only; PyTorch warns when it wraps such an array."""
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from nssr_cli import upscale_array\n"
        "a = np.zeros((8, 8, 3), np.uint8)\n"
        "a.flags.writeable = False\n"
        "out = upscale_array(a, 2, kernel='dil', device='cpu')\n"
        "assert out.shape == (16, 16, 3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr


def _cudnn_uses_tf32() -> bool:
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        return conv.fp32_precision == "tf32"
    return bool(torch.backends.cudnn.allow_tf32)


def test_cuda_convolutions_are_switched_to_full_float32_and_back() -> None:
    from nssr_cli.engine.tiles import exact_float32

    before = _cudnn_uses_tf32()
    with exact_float32(torch.device("cuda")):  # only flips cuDNN's flag: runs without a GPU
        assert not _cudnn_uses_tf32()
    assert _cudnn_uses_tf32() == before


@pytest.mark.cuda
@pytest.mark.parametrize("scale", [2, 2.5])
def test_cuda_keeps_every_16_bit_level(scale: float) -> None:
    """TF32 (cuDNN's default on Ampere+) would move 16-bit outputs by tens of levels."""
    if not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    img = np.random.default_rng(0).integers(0, 65536, (97, 103, 3), dtype=np.uint16)
    h = random_kernel()
    cpu = upscale_planes(img, make_plan(h, scale, "cpu")).astype(np.int64)
    gpu = upscale_planes(img, make_plan(h, scale, "cuda")).astype(np.int64)
    assert np.abs(cpu - gpu).max() <= 1


def test_an_output_too_large_for_memory_is_refused_before_anything_is_allocated(monkeypatch):
    """As the command line refuses such a file: a usage error naming the size the output needs
    and the memory available, before the kernel choice or the output allocates anything (it
    was NumPy's MemoryError, or the machine swapping)."""
    import tracemalloc

    from nssr_cli import system, upscale_array

    monkeypatch.setattr(system, "available_memory", lambda: 2**29)
    image = np.zeros((600, 600, 3), np.float32)
    tracemalloc.start()
    try:
        with pytest.raises(UsageError) as refused:
            upscale_array(image, 16, device="cpu")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(refused.value).startswith(
        "the output array (9600, 9600, 3) float32 needs about 1.0 GiB of memory but only 0.5 GiB "
        "is available; "
    ), refused.value
    assert peak < 2**20
    assert upscale_array(image[:8, :8], 16, device="cpu").shape == (128, 128, 3)
