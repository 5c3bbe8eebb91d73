"""The parallel PNG writer: exact pixels, Pillow's filters, valid chunks, metadata, and size."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from helpers_images import encoded, gradient, srgb_profile
from PIL import Image

from nssr_cli.files import png
from nssr_cli.files.decode import decode
from nssr_cli.files.png import encode_png

PHOTO = Path(__file__).resolve().parent.parent / "examples" / "photo.png"


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) of every chunk, after checking the signature and each CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    out, pos = [], 8
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])
        assert crc == zlib.crc32(kind + body), kind
        out.append((kind, body))
        pos += 12 + n
    assert pos == len(data) and out[-1][0] == b"IEND"
    return out


def scanlines(data: bytes) -> bytes:
    """The filtered scanlines: the IDAT stream inflated (zlib checks the Adler-32)."""
    return zlib.decompress(b"".join(body for kind, body in chunks(data) if kind == b"IDAT"))


def pixels(data: bytes) -> np.ndarray:
    """Decoded samples as ``(H, W, C)``: nssr's decoder keeps 16-bit colour exact."""
    f = decode(data, "t.png").frames[0]
    color = f.color if f.color.ndim == 3 else f.color[:, :, None]
    return color if f.alpha is None else np.dstack([color, f.alpha])


def noisy(h: int, w: int, c: int, dtype: type, seed: int = 0) -> np.ndarray:
    """Smooth gradient plus noise: every filter type wins on some rows."""
    top = np.iinfo(dtype).max
    base = gradient(h, w, c, dtype).reshape(h, w, c).astype(np.float64)
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, top * 0.02, base.shape) * (rng.random((h, 1, 1)) < 0.5)
    return np.clip(base + noise, 0, top).astype(dtype)


@pytest.fixture
def small_bands(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bands of a few rows, so small images cross many band edges."""
    monkeypatch.setattr(png, "BAND_BYTES", 256)


@pytest.mark.usefixtures("small_bands")
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("shape", [(1, 1), (1, 37), (41, 1), (29, 23)])
@pytest.mark.parametrize("threads", [1, 3])
def test_round_trip_is_exact(dtype: type, channels: int, shape: tuple, threads: int) -> None:
    arr = noisy(*shape, channels, dtype, seed=channels)
    data = encode_png(arr, threads=threads)
    assert np.array_equal(pixels(data), arr)
    ihdr = chunks(data)[0][1]
    assert struct.unpack(">IIBB", ihdr[:10]) == (
        shape[1],
        shape[0],
        8 * np.dtype(dtype).itemsize,
        {1: 0, 2: 4, 3: 2, 4: 6}[channels],
    )


def test_two_dimensional_input_is_gray() -> None:
    arr = gradient(13, 17, 1)
    im = Image.open(io.BytesIO(encode_png(arr)))
    assert im.mode == "L" and np.array_equal(np.asarray(im), arr)


@pytest.mark.parametrize(
    ("mode", "channels", "dtype"),
    [
        ("L", 1, np.uint8),
        ("LA", 2, np.uint8),
        ("RGB", 3, np.uint8),
        ("RGBA", 4, np.uint8),
        ("I;16", 1, np.uint16),
    ],
)
def test_filtered_scanlines_are_pillows(mode: str, channels: int, dtype: type) -> None:
    """Same filter per row as Pillow's encoder, so the same bytes go into deflate."""
    arr = noisy(64, 48, channels, dtype, seed=3)
    im = Image.fromarray(arr[:, :, 0] if channels == 1 else arr)
    assert im.mode == mode
    ours = scanlines(encode_png(arr))
    assert ours == scanlines(encoded(im, "PNG"))
    assert len({ours[y * (1 + 48 * channels * np.dtype(dtype).itemsize)] for y in range(64)}) >= 3


@pytest.mark.usefixtures("small_bands")
def test_threads_do_not_change_the_file() -> None:
    arr = noisy(50, 40, 3, np.uint8)
    assert encode_png(arr, threads=1) == encode_png(arr, threads=4)


def test_standard_library_zlib_gives_the_same_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    arr = noisy(60, 30, 4, np.uint8)
    monkeypatch.setattr(png, "BAND_BYTES", 1024)
    monkeypatch.setattr(png, "_deflate", zlib)
    assert np.array_equal(pixels(encode_png(arr, threads=2)), arr)


def test_a_photo_compresses_like_pillow() -> None:
    """Bands primed with the previous 32 KiB cost almost nothing in size (here < 2 %)."""
    arr = np.asarray(Image.open(PHOTO).convert("RGB"))
    arr = np.asarray(Image.fromarray(arr).resize((1024, 768), Image.BICUBIC))
    ours, pillows = encode_png(arr, threads=2), encoded(Image.fromarray(arr), "PNG")
    assert len(ours) < 1.02 * len(pillows)
    assert sum(kind == b"IDAT" for kind, _ in chunks(ours)) >= 1


def test_metadata_is_kept_like_pillow_keeps_it() -> None:
    icc = srgb_profile()
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    arr = gradient()
    ours = Image.open(io.BytesIO(encode_png(arr, icc=icc, exif=exif.tobytes(), dpi=(300, 72.5))))
    theirs = Image.open(
        io.BytesIO(
            encoded(
                Image.fromarray(arr), "PNG", icc_profile=icc, exif=exif.tobytes(), dpi=(300, 72.5)
            )
        )
    )
    assert ours.info["icc_profile"] == icc
    assert ours.info["dpi"] == theirs.info["dpi"]
    assert ours.getexif()[0x010F] == "TestCam"
    kinds = [k for k, _ in chunks(encode_png(arr, icc=icc, exif=exif.tobytes(), dpi=(300, 72)))]
    assert kinds[:1] == [b"IHDR"] and kinds.index(b"IDAT") > kinds.index(b"eXIf")


@pytest.mark.parametrize("dpi", [(float("nan"), 72), (0, 0), (1e12, 72), (72,), None])
def test_unstorable_dpi_is_left_out(dpi: tuple | None) -> None:
    data = encode_png(gradient(), dpi=dpi)
    assert b"pHYs" not in [k for k, _ in chunks(data)]
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), gradient())


@pytest.mark.parametrize(
    "bad", [np.zeros((4, 4, 5), np.uint8), np.zeros((4, 4), np.float32), np.zeros((0, 4), np.uint8)]
)
def test_refuses_what_png_cannot_hold(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        encode_png(bad)
