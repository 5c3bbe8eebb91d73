"""Decoding and encoding: modes, alpha, 16-bit, EXIF orientation, ICC, frames, hostile bytes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from helpers_images import (
    bomb_png,
    encoded,
    gradient,
    png16_reference,
    png_keyed,
    srgb_profile,
)
from PIL import Image, ImageOps
from test_cli_upscale import run_subprocess

from nssr_cli.errors import InputError, OutputError, UsageError
from nssr_cli.files.decode import decode
from nssr_cli.files.deep16 import encode_tiff16
from nssr_cli.files.encode import encode, format_name
from nssr_cli.files.formats import WRITABLE, writable
from nssr_cli.files.picture import Frame, Picture
from nssr_cli.files.png import encode_png

RGB = Image.fromarray(gradient())


def reopen(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


@pytest.mark.parametrize(
    ("source", "mode", "expected"),
    [
        (RGB.convert("1"), "L", lambda im: np.asarray(im.convert("L"))),
        (RGB.convert("L"), "L", np.asarray),
        (RGB.convert("LA"), "LA", lambda im: np.asarray(im)[..., 0]),
        (RGB.convert("P"), "RGB", lambda im: np.asarray(im.convert("RGB"))),
        (RGB, "RGB", np.asarray),
        (RGB.convert("RGBA"), "RGBA", lambda im: np.asarray(im)[..., :3]),
        (Image.fromarray(gradient(channels=1, dtype=np.uint16)), "I;16", np.asarray),
    ],
)
def test_modes_decode_to_the_right_planes(source, mode, expected) -> None:
    pic = decode(encoded(source), "x.png")
    assert pic.mode == mode
    assert np.array_equal(pic.frames[0].color, expected(source))


def test_palette_transparency_becomes_alpha() -> None:
    p = RGB.convert("P")
    pic = decode(encoded(p, transparency=int(np.asarray(p)[0, 0])), "p.png")
    assert pic.mode == "RGBA"
    alpha = pic.frames[0].alpha
    assert alpha is not None and alpha[0, 0] == 0 and alpha.max() == 255


@pytest.mark.parametrize(
    ("depth", "channels", "mode"),
    [(1, 1, "LA"), (2, 1, "LA"), (4, 1, "LA"), (8, 1, "LA"), (16, 1, "LA;16"), (16, 3, "RGBA;16")],
)
def test_a_colour_key_becomes_alpha_and_round_trips(depth: int, channels: int, mode: str) -> None:
    """PNG's tRNS on gray (any depth) and 16-bit RGB marks one colour transparent: as on a
    palette, it becomes an alpha plane, kept by every writer of gray+alpha and 16-bit RGBA."""
    top = (1 << depth) - 1
    rng = np.random.default_rng(depth + channels)
    samples = rng.integers(0, top + 1, (9, 11, channels)).squeeze()
    key = tuple(int(v) for v in samples.reshape(-1, channels)[5])
    pic = decode(png_keyed(samples, depth, key), "k.png")
    f = pic.frames[0]
    assert pic.mode == mode and f.alpha is not None
    scale = 255 // top if depth < 8 else 1  # 1-, 2- and 4-bit gray decode to 0–255
    assert np.array_equal(f.color, samples * scale)
    hit = (samples == key) if channels == 1 else (samples == key).all(axis=2)
    assert np.array_equal(f.alpha, np.where(hit, 0, 65535 if depth == 16 else 255))
    again = decode(encode(pic, "PNG"), "again.png").frames[0]
    assert np.array_equal(again.color, f.color) and np.array_equal(again.alpha, f.alpha)


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_16bit_png_decodes_exactly(channels: int) -> None:
    arr = np.random.default_rng(channels).integers(0, 65536, (9, 11, channels), dtype=np.uint16)
    pic = decode(png16_reference(arr), "deep.png")
    f = pic.frames[0]
    assert f.color.dtype == np.uint16
    got = np.dstack([f.color] + ([] if f.alpha is None else [f.alpha]))
    assert np.array_equal(got, arr)


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("writer", [encode_png, encode_tiff16])
def test_16bit_writers_round_trip_and_agree_with_pillow(writer, channels: int) -> None:
    arr = np.random.default_rng(1).integers(0, 65536, (7, 5, channels), dtype=np.uint16)
    data = writer(arr, icc=b"profile")
    pic = decode(data, "deep")
    f = pic.frames[0]
    got = np.dstack([f.color] + ([] if f.alpha is None else [f.alpha]))
    assert np.array_equal(got.reshape(arr.shape), arr)
    assert pic.icc == b"profile"
    eight = np.asarray(reopen(data))  # Pillow's own decoder keeps the high bytes of colour
    if channels > 1:
        assert np.array_equal(eight, (arr >> 8).astype(np.uint8))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_and_reset(orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "TestCam"
    data = encoded(RGB, "PNG", exif=exif.tobytes())
    pic = decode(data, "o.png")
    upright = np.asarray(ImageOps.exif_transpose(reopen(data)))
    assert np.array_equal(pic.frames[0].color, upright)
    out = reopen(encode(pic, "JPEG"))
    assert out.getexif().get(0x0112) == 1
    assert out.getexif().get(0x010F) == "TestCam"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF"])
def test_icc_profile_is_carried(fmt: str) -> None:
    icc = srgb_profile()
    pic = decode(encoded(RGB, "PNG", icc_profile=icc), "icc.png")
    assert reopen(encode(pic, fmt)).info.get("icc_profile") == icc


def test_icc_profile_is_carried_at_16_bits() -> None:
    icc = srgb_profile()
    pic = decode(encode_png(gradient(dtype=np.uint16), icc=icc), "deep.png")
    assert reopen(encode(pic, "PNG")).info.get("icc_profile") == icc


def test_cmyk_becomes_rgb() -> None:
    cmyk = RGB.convert("CMYK")
    pic = decode(encoded(cmyk, "JPEG", quality=100), "c.jpg")
    assert pic.mode == "RGB"
    ref = np.asarray(reopen(encoded(cmyk, "JPEG", quality=100)).convert("RGB"))
    assert np.array_equal(pic.frames[0].color, ref)


def test_cmyk_with_a_broken_profile_falls_back_and_drops_it() -> None:
    pic = decode(encoded(RGB.convert("CMYK"), "JPEG", icc_profile=b"not a profile"), "c.jpg")
    assert pic.mode == "RGB" and pic.icc is None


def _animation(fmt: str) -> bytes:
    frames = [Image.fromarray(np.roll(gradient(16, 16), 4 * i, axis=1)) for i in range(3)]
    return encoded(
        frames[0], fmt, save_all=True, append_images=frames[1:], duration=[40, 60, 80], loop=0
    )


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animations_keep_every_frame_and_duration(fmt: str) -> None:
    pic = decode(_animation(fmt), "anim")
    assert [f.duration for f in pic.frames] == [40, 60, 80]
    out = Image.open(io.BytesIO(encode(pic, fmt)))
    durations = []
    for i in range(out.n_frames):
        out.seek(i)
        out.load()
        durations.append(out.info["duration"])
    assert durations == [40, 60, 80]


def _plays(data: bytes) -> int | None:
    """How many times an animation plays (0: forever), as browsers read it; None: no animation.
    GIF counts repeats after the first play, and no loop extension means once; APNG and WebP
    count plays."""
    im = reopen(data)
    loop = im.info.get("loop")
    if im.format == "GIF":
        return 1 if loop is None else 0 if loop == 0 else loop + 1
    return loop


def _looping(fmt: str, plays: int) -> bytes:
    """A 3-frame animation in ``fmt`` that plays ``plays`` times (0: forever)."""
    frames = [Image.fromarray(np.roll(gradient(16, 16), 4 * i, axis=1)) for i in range(3)]
    if fmt == "GIF":
        loop = {} if plays == 1 else {"loop": 0 if plays == 0 else plays - 1}
    else:
        loop = {"loop": plays}
    return encoded(frames[0], fmt, save_all=True, append_images=frames[1:], duration=50, **loop)


@pytest.mark.parametrize("plays", [1, 0, 3])
@pytest.mark.parametrize("src", ["GIF", "PNG", "WEBP"])
@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animations_play_as_often_as_their_input(src: str, fmt: str, plays: int) -> None:
    data = _looping(src, plays)
    assert _plays(data) == plays
    out = encode(decode(data, "anim"), fmt)
    assert _plays(out) == plays, (src, fmt)
    if fmt == "GIF" and plays == 1:
        assert b"NETSCAPE2.0" not in out  # plays once: no loop extension at all


def test_pages_become_an_animation_that_plays_once() -> None:
    pages = [Image.fromarray(np.roll(gradient(16, 16), 4 * i, axis=1)) for i in range(3)]
    pic = decode(encoded(pages[0], "TIFF", save_all=True, append_images=pages[1:]), "m.tif")
    assert [_plays(encode(pic, fmt)) for fmt in ("GIF", "PNG", "WEBP")] == [1, 1, 1]


def test_multipage_tiff_keeps_every_page() -> None:
    pages = [Image.fromarray(gradient(8 + i, 10)) for i in range(3)]
    pic = decode(encoded(pages[0], "TIFF", save_all=True, append_images=pages[1:]), "m.tif")
    assert [f.color.shape[0] for f in pic.frames] == [8, 9, 10]
    assert Image.open(io.BytesIO(encode(pic, "TIFF"))).n_frames == 3


def test_animation_into_a_single_frame_format_is_refused() -> None:
    with pytest.raises(OutputError, match="frames"):
        encode(decode(_animation("GIF"), "a.gif"), "JPEG")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image at all",
        encoded(RGB, "PNG")[:60],
        encoded(RGB, "JPEG")[:300],
        encoded(RGB, "PNG")[:150],
        bomb_png(),
    ],
    ids=["empty", "garbage", "png-header-only", "truncated-jpeg", "truncated-png", "bomb"],
)
def test_bad_bytes_raise_input_error_naming_the_file(data: bytes) -> None:
    with pytest.raises(InputError, match="bad.png"):
        decode(data, "bad.png")


def test_max_pixels_refuses_before_decoding() -> None:
    with pytest.raises(InputError, match="max-pixels"):
        decode(encoded(RGB), "big.png", max_pixels=100)


def test_alpha_into_jpeg_is_refused_with_advice() -> None:
    pic = decode(encoded(RGB.convert("RGBA")), "a.png")
    with pytest.raises(OutputError, match="PNG"):
        encode(pic, "JPEG")


def test_16bit_into_an_8bit_format_rounds() -> None:
    arr = np.array([[0, 128, 129, 65535]], np.uint16)
    pic = decode(png16_reference(np.dstack([arr] * 3)), "d.png")
    out = np.asarray(reopen(encode(pic, "BMP")))
    assert out[0, :, 0].tolist() == [0, 0, 1, 255]


def test_grayscale_stays_grayscale_in_every_format() -> None:
    pic = decode(encoded(RGB.convert("L")), "g.png")
    for fmt in ("PNG", "JPEG", "TIFF", "BMP"):
        assert reopen(encode(pic, fmt)).mode == "L", fmt


def _webp_kind(data: bytes) -> set[bytes]:
    """The kinds of image data in a WebP file: ``VP8L`` lossless, ``VP8 `` lossy."""
    return {kind for kind in (b"VP8L", b"VP8 ") if kind in data}


@pytest.mark.parametrize("animated", [False, True])
@pytest.mark.parametrize("alpha", [False, True])
def test_a_lossless_webp_stays_lossless(tmp_path, animated: bool, alpha: bool) -> None:
    frames = [Image.fromarray(np.roll(gradient(16, 16, 4 if alpha else 3), 3 * i, 1)) for i in
              range(3 if animated else 1)]  # fmt: skip
    src = tmp_path / "a.webp"
    frames[0].save(src, save_all=animated, append_images=frames[1:], lossless=True)
    assert _webp_kind(src.read_bytes()) == {b"VP8L"}
    assert run_subprocess(["upscale", str(src), "--kernel", "bicubic"]).returncode == 0
    assert _webp_kind((tmp_path / "a_x2.webp").read_bytes()) == {b"VP8L"}
    # --quality given: the user asks for lossy
    args = ["upscale", str(src), "-o", str(tmp_path / "q.webp"), "--quality", "90"]
    assert run_subprocess(args).returncode == 0
    assert _webp_kind((tmp_path / "q.webp").read_bytes()) == {b"VP8 "}


def test_a_lossy_webp_and_other_inputs_are_written_lossy() -> None:
    lossy = decode(encoded(RGB, "WEBP", quality=90), "l.webp")
    assert _webp_kind(encode(lossy, "WEBP")) == {b"VP8 "}
    assert _webp_kind(encode(decode(encoded(RGB), "p.png"), "WEBP")) == {b"VP8 "}
    lossless = decode(encoded(RGB, "WEBP", lossless=True), "l.webp")
    assert _webp_kind(encode(lossless, "WEBP")) == {b"VP8L"}
    assert _webp_kind(encode(lossless, "WEBP", quality=95)) == {b"VP8 "}


def test_quality_is_used() -> None:
    pic = decode(encoded(RGB), "q.png")
    assert len(encode(pic, "JPEG", quality=95)) > len(encode(pic, "JPEG", quality=30))


def test_format_names() -> None:
    assert format_name("jpg") == "JPEG" and format_name("tif") == "TIFF"
    with pytest.raises(UsageError):
        format_name("nonsense")


@pytest.mark.parametrize("fmt", WRITABLE)
@pytest.mark.parametrize("channels", [1, 3])
def test_every_format_nssr_writes_keeps_the_picture(fmt: str, channels: int) -> None:
    """Size always; every pixel where the format is lossless (QOI stores grey as equal R, G, B)."""
    if not writable(fmt):
        pytest.skip(f"this Pillow cannot write {fmt}")
    arr = gradient(37, 53, channels)
    pic = Picture([Frame(arr)], "PNG")
    back = Image.open(io.BytesIO(encode(pic, fmt)))
    assert back.format == fmt and back.size == (53, 37)
    if fmt in ("PNG", "TIFF", "BMP", "PPM", "TGA", "QOI"):
        got = np.asarray(back.convert("RGB" if channels == 3 else "L"))
        assert np.array_equal(got, arr)


@pytest.mark.parametrize("name", ["ico", "icns", "pdf", "eps", "spider", "sgi", "jpeg2000"])
def test_formats_that_would_change_the_picture_are_refused(name: str) -> None:
    with pytest.raises(UsageError, match="cannot write"):
        format_name(name)


def _deflate_tiff16(arr: np.ndarray) -> bytes:
    """``encode_tiff16``'s file with its one strip deflate-compressed (decoded by libtiff)."""
    import struct
    import zlib

    data = bytearray(encode_tiff16(arr))
    pixels = np.ascontiguousarray(arr, dtype="<u2").tobytes()
    packed = zlib.compress(pixels)
    data = data[: data.index(pixels)] + packed
    for i in range(struct.unpack_from("<H", data, 8)[0]):
        at = 10 + 12 * i
        tag = struct.unpack_from("<H", data, at)[0]
        if tag == 259:
            struct.pack_into("<H", data, at + 8, 8)  # compression: deflate
        elif tag == 279:
            struct.pack_into("<I", data, at + 8, len(packed))
    return bytes(data)


@pytest.mark.parametrize("channels", [3, 4])
def test_compressed_16bit_tiff_decodes_exactly(channels: int) -> None:
    arr = np.random.default_rng(2).integers(0, 65536, (9, 7, channels), dtype=np.uint16)
    f = decode(_deflate_tiff16(arr), "deflate.tif").frames[0]
    got = np.dstack([f.color] + ([] if f.alpha is None else [f.alpha]))
    assert f.color.dtype == np.uint16 and np.array_equal(got, arr)


def _striped_tiff16(arr: np.ndarray, rows: int) -> bytes:
    """An uncompressed little-endian 16-bit RGB(A) TIFF in strips of ``rows`` rows, the layout
    libtiff writes by default (Pillow opens it as one tile per strip)."""
    import struct

    h, w, c = arr.shape
    strips = [np.ascontiguousarray(arr[y : y + rows], "<u2").tobytes() for y in range(0, h, rows)]
    body = b"".join(strips)
    offsets = [8 + sum(map(len, strips[:i])) for i in range(len(strips))]
    extra = 8 + len(body)  # then: bits per sample, strip offsets, strip byte counts, the IFD
    blocks = [struct.pack(f"<{c}H", *[16] * c), struct.pack(f"<{len(strips)}I", *offsets)]
    blocks.append(struct.pack(f"<{len(strips)}I", *map(len, strips)))
    at = [extra, extra + len(blocks[0]), extra + len(blocks[0]) + len(blocks[1])]
    n = len(strips)
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, c, at[0]), (259, 3, 1, 1),
               (262, 3, 1, 2), (273, 4, n, at[1]), (277, 3, 1, c), (278, 4, 1, rows),
               (279, 4, n, at[2]), (284, 3, 1, 1)]  # fmt: skip
    entries += [(338, 3, 1, 2)] if c == 4 else []  # extra sample: unassociated alpha
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, kind, count, value) if kind == 4 or count > 1
        else struct.pack("<HHIHH", tag, kind, count, value, 0)
        for tag, kind, count, value in entries
    )  # fmt: skip
    tail = b"".join(blocks)
    start = extra + len(tail)
    return struct.pack("<2sHI", b"II", 42, start) + body + tail + ifd + struct.pack("<I", 0)


@pytest.mark.parametrize("channels", [3, 4])
def test_an_uncompressed_16bit_tiff_in_strips_stays_16_bit(channels: int) -> None:
    arr = np.random.default_rng(3).integers(0, 65536, (13, 7, channels), dtype=np.uint16)
    data = _striped_tiff16(arr, rows=4)
    assert len(Image.open(io.BytesIO(data)).tile) == 4  # a tile per strip
    f = decode(data, "strips.tif").frames[0]
    got = np.dstack([f.color] + ([] if f.alpha is None else [f.alpha]))
    assert f.color.dtype == np.uint16 and np.array_equal(got, arr)


@pytest.mark.parametrize("sampling", [0, 1, 2])
def test_a_jpeg_source_keeps_its_chroma_subsampling(sampling: int) -> None:
    from PIL import JpegImagePlugin

    src = encoded(RGB, "JPEG", quality=95, subsampling=sampling)
    pic = decode(src, "a.jpg")
    assert pic.info["jpeg_subsampling"] == sampling
    assert JpegImagePlugin.get_sampling(reopen(encode(pic, "JPEG", quality=95))) == sampling


@pytest.mark.parametrize(("quality", "sampling"), [(95, 0), (90, 0), (89, 2), (75, 2)])
def test_other_sources_get_full_chroma_at_high_quality(quality: int, sampling: int) -> None:
    from PIL import JpegImagePlugin

    pic = decode(encoded(RGB, "PNG"), "a.png")
    assert "jpeg_subsampling" not in pic.info
    assert JpegImagePlugin.get_sampling(reopen(encode(pic, "JPEG", quality=quality))) == sampling


# --- 16-bit gray+alpha TIFF, which Pillow cannot open -------------------------------------------


def test_the_16bit_gray_alpha_tiff_nssr_writes_reads_back(tmp_path, capsys, monkeypatch) -> None:
    from test_cli_upscale import nssr

    arr = np.random.default_rng(5).integers(0, 65536, (12, 16, 2), dtype=np.uint16)
    (tmp_path / "a.png").write_bytes(png16_reference(arr))
    for out in ("b.tif", "b.png", "c.png"):
        src = tmp_path / ("b.tif" if out == "c.png" else "a.png")
        args = ["upscale", str(src), "-o", str(tmp_path / out), "--kernel", "bicubic"]
        code, _, err = nssr(args, capsys, monkeypatch)
        assert code == 0, err
    tif = decode((tmp_path / "b.tif").read_bytes(), "b.tif")
    png = decode((tmp_path / "b.png").read_bytes(), "b.png")
    assert tif.mode == png.mode == "LA;16" and tif.size == (32, 24)
    for a, b in zip(tif.frames, png.frames, strict=True):
        assert np.array_equal(a.color, b.color) and np.array_equal(a.alpha, b.alpha)
    assert decode((tmp_path / "c.png").read_bytes(), "c.png").size == (64, 48)


@pytest.mark.parametrize(
    "params",
    [
        {"compression": "zlib", "predictor": 2, "rowsperstrip": 5},
        {"byteorder": ">", "resolution": (300, 100), "resolutionunit": "inch"},
        {"photometric": "miniswhite"},
    ],
)
def test_16bit_gray_alpha_tiffs_of_other_programs_decode_exactly(params: dict) -> None:
    tifffile = pytest.importorskip("tifffile")
    arr = np.random.default_rng(6).integers(0, 65536, (11, 9, 2), dtype=np.uint16)
    kw = {"photometric": "minisblack", "extrasamples": ["unassalpha"], **params}
    buf = io.BytesIO()
    tifffile.imwrite(buf, arr, **kw)
    pic = decode(buf.getvalue(), "g.tif")
    gray = 65535 - arr[..., 0] if kw["photometric"] == "miniswhite" else arr[..., 0]
    assert pic.mode == "LA;16" and np.array_equal(pic.frames[0].color, gray)
    assert np.array_equal(pic.frames[0].alpha, arr[..., 1])
    if "resolution" in params:
        assert pic.info["dpi"] == (300, 100)


def test_a_sound_tiff_in_a_layout_nssr_does_not_read_is_named_not_called_damaged() -> None:
    import struct

    data = bytearray(encode_tiff16(np.zeros((4, 5, 2), np.uint16)))
    at = (10 + 12 * i for i in range(data[8]))
    entry = next(e for e in at if struct.unpack_from("<H", data, e)[0] == 259)
    struct.pack_into("<H", data, entry + 8, 5)  # compression: LZW
    with pytest.raises(InputError, match="lzw.tif: 16-bit gray.alpha TIFF with LZW compression"):
        decode(bytes(data), "lzw.tif")
    tifffile = pytest.importorskip("tifffile")
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.zeros((4, 5, 3), np.float32), photometric="rgb")
    with pytest.raises(InputError, match="32-bit floating-point RGB TIFF is not supported"):
        decode(buf.getvalue(), "f.tif")
