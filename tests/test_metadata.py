"""What an output carries from its input besides ICC, EXIF and DPI (``files.metadata``): a PNG's
gAMA, cHRM and sRGB (only without an ICC profile) and text, XMP (orientation 1, the output's
pixel dimensions) into JPEG, PNG, WebP and TIFF, the JPEG comment; and the size caps."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from helpers_images import encoded, gradient, png16_reference, srgb_profile
from PIL import Image, TiffImagePlugin
from PIL.PngImagePlugin import PngInfo
from test_cli_upscale import nssr

from nssr_cli.files.decode import decode
from nssr_cli.files.encode import encode
from nssr_cli.files.metadata import JPEG_XMP_BYTES, TEXT_BYTES, XMP_BYTES

CHROMATICITY = (0.3127, 0.329, 0.64, 0.33, 0.3, 0.6, 0.15, 0.06)
XMP = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
    b'xmlns:exif="http://ns.adobe.com/exif/1.0/" tiff:Orientation="6" exif:PixelXDimension="32">'
    b"<exif:PixelYDimension>24</exif:PixelYDimension><dc:rights>Copyright Jane Doe</dc:rights>"
    b'</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _with_chunks(png: bytes, before: bytes, after: bytes = b"") -> bytes:
    """A PNG file with chunks added before its first IDAT and before its IEND."""
    i, j = png.index(b"IDAT") - 4, png.index(b"IEND") - 4
    return png[:i] + before + png[i:j] + after + png[j:]


def _colour_chunks(gamma: int = 100000) -> bytes:
    chromaticity = struct.pack(">8I", *(round(v * 100000) for v in CHROMATICITY))
    return _chunk(b"gAMA", struct.pack(">I", gamma)) + _chunk(b"cHRM", chromaticity)


def _text_png(png: bytes) -> bytes:
    """``png`` with colour chunks, a tEXt before the pixels, a zTXt and an iTXt after them."""
    late = _chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"late comment"))
    late += _chunk(b"iTXt", "Title\0\0\0de\0Titel\0Grüße".encode())
    stale = _chunk(b"tEXt", b"Raw profile type exif\0\nexif\n      8\n4578696600000000\n")
    return _with_chunks(
        png, _colour_chunks() + _chunk(b"tEXt", b"Copyright\0(c) Jane"), late + stale
    )


def _upscaled(tmp_path, capsys, monkeypatch, data: bytes, name: str, out: str) -> Image.Image:
    src, dst = tmp_path / name, tmp_path / out
    src.write_bytes(data)
    args = ["upscale", str(src), "-s", "2", "--kernel", "bicubic", "-o", str(dst), "--overwrite"]
    code, _, err = nssr(args, capsys, monkeypatch)
    assert code == 0, err
    im = Image.open(dst)
    im.load()
    return im


@pytest.mark.parametrize(
    "png",
    [
        encoded(Image.fromarray(gradient(12, 16))),
        png16_reference(gradient(12, 16, 3, np.uint16)),  # 16-bit colour: its own reader
        encoded(Image.fromarray(gradient(12, 16, 1))),
    ],
    ids=["rgb", "rgb16", "gray"],
)
def test_png_colour_and_text_chunks_are_carried(tmp_path, capsys, monkeypatch, png) -> None:
    out = _upscaled(tmp_path, capsys, monkeypatch, _text_png(png), "a.png", "b.png")
    assert out.info["gamma"] == 1.0
    assert out.info["chromaticity"] == CHROMATICITY
    assert out.text["Copyright"] == "(c) Jane" and "Raw profile type exif" not in out.text
    assert out.text["Comment"] == "late comment"  # after the pixels (16-bit colour too)
    assert out.text["Title"] == "Grüße" and out.text["Title"].lang == "de"


def _chunks_of(png: bytes) -> list[tuple[bytes, bytes]]:
    """Every chunk of a PNG file as ``(type, data)``, in order."""
    out, at = [], 8
    while at < len(png):
        (length,) = struct.unpack_from(">I", png, at)
        out.append((png[at + 4 : at + 8], png[at + 8 : at + 8 + length]))
        at += 12 + length
    return out


def test_text_chunks_sharing_a_keyword_are_all_carried(tmp_path, capsys, monkeypatch) -> None:
    # the PNG specification allows several; Pillow's info keeps the last one alone
    same = b"".join(_chunk(b"tEXt", b"Comment\0v%d" % i) for i in range(3))
    same += _chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"v3"))
    same += _chunk(b"iTXt", "Comment\0\0\0fr\0\0v4 é".encode())
    png = _with_chunks(encoded(Image.fromarray(gradient(12, 16))), same)
    _upscaled(tmp_path, capsys, monkeypatch, png, "a.png", "b.png")
    chunks = _chunks_of((tmp_path / "b.png").read_bytes())
    texts = [d for k, d in chunks if k in (b"tEXt", b"iTXt")]
    assert texts == [b"Comment\0v0", b"Comment\0v1", b"Comment\0v2", b"Comment\0v3",
                     "Comment\0\0\0fr\0\0v4 é".encode()]  # fmt: skip


def test_chunks_the_png_specification_forbids_are_not_carried(tmp_path, capsys, monkeypatch):
    bad = _chunk(b"tEXt", b"K" * 80 + b"\0long keyword") + _chunk(b"tEXt", b" Lead\0space")
    bad += _chunk(b"gAMA", b"\0\0\0\0") + _chunk(b"cHRM", b"\xff" * 32)
    good = _chunk(b"sRGB", b"\1") + _chunk(b"tEXt", b"Author\0Jane")
    png = _with_chunks(encoded(Image.fromarray(gradient(12, 16))), bad + good)
    Image.open(io.BytesIO(png)).load()  # Pillow reads it (and would copy the values)
    _upscaled(tmp_path, capsys, monkeypatch, png, "a.png", "b.png")
    chunks = _chunks_of((tmp_path / "b.png").read_bytes())
    kinds = [k for k, _ in chunks]
    assert b"gAMA" not in kinds and b"cHRM" not in kinds and (b"sRGB", b"\1") in chunks
    assert [d for k, d in chunks if k == b"tEXt"] == [b"Author\0Jane"]  # the rest is kept
    # a valid gamma and chromaticity still are carried
    png = _with_chunks(encoded(Image.fromarray(gradient(12, 16))), _colour_chunks(45455))
    out = _upscaled(tmp_path, capsys, monkeypatch, png, "c.png", "d.png")
    assert out.info["gamma"] == 0.45455 and out.info["chromaticity"] == CHROMATICITY


def test_an_animated_png_carries_them_too(tmp_path, capsys, monkeypatch) -> None:
    frames = [Image.fromarray(np.roll(gradient(12, 16), 3 * i, axis=1)) for i in range(3)]
    info = PngInfo()
    info.add(b"sRGB", b"\x01")
    info.add_text("Copyright", "(c) Jane")
    apng = encoded(frames[0], "PNG", save_all=True, append_images=frames[1:], pnginfo=info)
    out = _upscaled(tmp_path, capsys, monkeypatch, apng, "a.png", "b.png")
    assert out.n_frames == 3 and out.info["srgb"] == 1 and out.text["Copyright"] == "(c) Jane"


def test_an_icc_profile_overrides_gamma_and_srgb(tmp_path, capsys, monkeypatch) -> None:
    png = encoded(Image.fromarray(gradient(12, 16)), icc_profile=srgb_profile())
    data = _with_chunks(png, _colour_chunks(45455) + _chunk(b"sRGB", b"\0"))
    out = _upscaled(tmp_path, capsys, monkeypatch, data, "a.png", "b.png")
    assert out.info["icc_profile"] == srgb_profile()
    assert not {"gamma", "chromaticity", "srgb"} & set(out.info)  # the profile says it all


def _upright(xmp: bytes, size: tuple[int, int]) -> bytes:
    w, h = size
    return (
        XMP.replace(b'Orientation="6"', b'Orientation="1"')
        .replace(b'PixelXDimension="32"', b'PixelXDimension="%d"' % w)
        .replace(b"<exif:PixelYDimension>24<", b"<exif:PixelYDimension>%d<" % h)
    )


def test_jpeg_xmp_and_comment_are_carried_upright(tmp_path, capsys, monkeypatch) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: the output is 48×64 and says orientation 1, in XMP too
    jpeg = encoded(Image.fromarray(gradient(24, 32)), "JPEG", exif=exif, xmp=XMP, comment=b"hi!")
    out = _upscaled(tmp_path, capsys, monkeypatch, jpeg, "a.jpg", "b.jpg")
    assert out.size == (48, 64) and out.getexif()[0x0112] == 1
    assert out.info["xmp"] == _upright(XMP, (48, 64))
    assert out.info["comment"] == b"hi!"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
@pytest.mark.parametrize("src", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_xmp_reaches_every_format_that_holds_it(src: str, fmt: str) -> None:
    im = Image.fromarray(gradient(24, 32))
    if src == "PNG":
        info = PngInfo()
        info.add_itxt("XML:com.adobe.xmp", XMP.decode())
        data = encoded(im, "PNG", pnginfo=info)
    elif src == "TIFF":
        data = encoded(im, "TIFF", tiffinfo={700: XMP})
    else:
        data = encoded(im, src, xmp=XMP)
    out = Image.open(io.BytesIO(encode(decode(data, "a"), fmt)))
    assert out.size == (24, 32)  # XMP's orientation 6 (without EXIF's) was applied
    xmp = out.info["xmp"]
    xmp = xmp.encode() if isinstance(xmp, str) else xmp
    if src == "TIFF":  # Pillow applies a TIFF's orientation as it loads, and drops it from XMP
        xmp = xmp.replace(b'/"  exif:', b'/" tiff:Orientation="1" exif:')
    assert xmp == _upright(XMP, out.size), (src, fmt)


def test_xmp_and_text_are_bounded() -> None:
    big = XMP.replace(b"Jane Doe", b"x" * (XMP_BYTES + 1))
    im = Image.fromarray(gradient(12, 16))
    pic = decode(encoded(im, "WEBP", xmp=big), "big.webp")
    assert "xmp" not in Image.open(io.BytesIO(encode(pic, "WEBP"))).info  # dropped, not copied
    mid = XMP.replace(b"Jane Doe", b"x" * JPEG_XMP_BYTES)  # too large for a JPEG segment only
    pic = decode(encoded(im, "WEBP", xmp=mid), "mid.webp")
    assert "xmp" not in Image.open(io.BytesIO(encode(pic, "JPEG"))).info
    assert len(Image.open(io.BytesIO(encode(pic, "WEBP"))).info["xmp"]) == len(mid)
    half = b"\0" + b"y" * (TEXT_BYTES // 2)
    text = b"".join(_chunk(b"tEXt", b"K%d" % i + half) for i in range(3))
    pic = decode(_with_chunks(encoded(im), text), "t.png")
    assert list(Image.open(io.BytesIO(encode(pic, "PNG"))).text) == ["K0"]  # 1 MiB in all


@pytest.mark.parametrize("size", [65504, 65505])
def test_jpeg_xmp_up_to_what_one_segment_holds_is_carried(tmp_path, capsys, monkeypatch, size):
    head, tail = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">', b"</x:xmpmeta>"
    xmp = head + b" " * (size - len(head) - len(tail)) + tail
    im = Image.fromarray(gradient(12, 16))
    fmt = "JPEG" if size == 65504 else "WEBP"  # Pillow writes no larger XMP into a JPEG
    out = _upscaled(tmp_path, capsys, monkeypatch, encoded(im, fmt, xmp=xmp), f"a.{fmt}", "b.jpg")
    assert len(out.info.get("xmp", b"")) == (size if size <= 65504 else 0)
    if size == 65504:  # the APP1 segment's length field: 2 + 29 + 65504 = 65535
        data = (tmp_path / "b.jpg").read_bytes()
        at = data.index(b"http://ns.adobe.com/xap/1.0/\0") - 2
        assert struct.unpack(">H", data[at : at + 2])[0] == 65535


@pytest.mark.parametrize("spelling", ["tiff:Orientation='6'", 'tiff:Orientation = "6"'])
def test_a_tiff_turned_by_exif_is_not_turned_again_by_its_xmp(spelling: str) -> None:
    # Pillow turns a TIFF by its EXIF orientation as it loads and scrubs only the XMP
    # spellings it knows; nssr must not find the orientation again in another spelling
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:3, :5] = (0, 255, 0)  # a marker at the top left
    xmp = f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description {spelling}/></x:xmpmeta>'
    exif = Image.Exif()
    exif[0x0112], exif[700] = 6, xmp.encode()
    pic = decode(encoded(Image.fromarray(arr), "TIFF", exif=exif.tobytes()), "a.tif")
    turned = np.rot90(arr, -1)  # orientation 6: a quarter turn clockwise
    assert np.array_equal(pic.frames[0].color, turned)


def test_hostile_xmp_is_rewritten_in_linear_time() -> None:
    # runs of name characters broken by dots: an unbounded prefix pattern backtracked through
    # each (a 200 kB one took 29 s, a megabyte 14 min); bounded, this is milliseconds
    import time

    from nssr_cli.files.metadata import output_xmp

    xmp = b"<x:xmpmeta>" + b"a." * 100_000 + b"</x:xmpmeta>"
    start = time.perf_counter()
    assert output_xmp({"xmp": xmp}, (8, 8)) == xmp
    assert time.perf_counter() - start < 5.0


# --- 16-bit TIFF: nssr's own writer and gray+alpha reader -------------------------------------


@pytest.mark.parametrize("channels", [3, 4, 2])
def test_16bit_tiff_outputs_carry_dpi_exif_and_xmp(tmp_path, capsys, monkeypatch, channels):
    exif = Image.Exif()
    exif[0x0112], exif[0x010F], exif[0x8298] = 6, "TestCam", "(c) Jane"
    ppm = struct.pack(">IIB", 11811, 3937, 1)  # 300 × 100 dpi
    itxt = b"XML:com.adobe.xmp\0\0\0\0\0" + XMP
    chunks = _chunk(b"pHYs", ppm) + _chunk(b"eXIf", exif.tobytes()[6:]) + _chunk(b"iTXt", itxt)
    src = _with_chunks(png16_reference(gradient(24, 32, channels, np.uint16)), chunks)
    (tmp_path / "a.png").write_bytes(src)
    args = ["upscale", str(tmp_path / "a.png"), "-o", str(tmp_path / "b.tif"), "-s", "2"]
    code, _, err = nssr([*args, "--kernel", "bicubic"], capsys, monkeypatch)
    assert code == 0, err
    data = (tmp_path / "b.tif").read_bytes()
    tags = TiffImagePlugin.ImageFileDirectory_v2(data[:8])  # Pillow's own tag reader
    tags.load(_at(data, tags.next))
    assert (tags[256], tags[257]) == (48, 64)  # turned upright by EXIF's orientation 6
    assert (tags[296], round(tags[282]), round(tags[283])) == (2, 200, 600)  # ×2, turned
    assert (tags[0x0112], tags[0x010F], tags[0x8298]) == (1, "TestCam", "(c) Jane")
    assert tags[700] == _upright(XMP, (48, 64))
    assert tags[258] == (16,) * channels and tags[259] == 1
    assert (np.ravel(tags[273]) + np.ravel(tags[279])).tolist() == [len(data)]  # one strip
    if channels > 2:  # Pillow opens 16-bit colour (as 8-bit), not gray+alpha
        with Image.open(tmp_path / "b.tif") as out:
            assert out.size == (48, 64) and tuple(map(round, out.info["dpi"])) == (200, 600)
            assert out.getexif()[0x010F] == "TestCam" and out.info["xmp"] == tags[700]


def _at(data: bytes, offset: int) -> io.BytesIO:
    fp = io.BytesIO(data)
    fp.seek(offset)
    return fp


def test_a_16bit_gray_alpha_tiff_is_turned_by_its_xmp_and_carries_it() -> None:
    from nssr_cli.files.deep16 import encode_tiff16

    arr = gradient(20, 30, 2, np.uint16)
    tags = Image.Exif()
    tags[700] = XMP  # tiff:Orientation="6", no EXIF orientation
    pic = decode(encode_tiff16(arr, tags=tags.tobytes()), "g.tif")
    assert np.array_equal(pic.frames[0].color, np.rot90(arr[..., 0], -1))
    assert np.array_equal(pic.frames[0].alpha, np.rot90(arr[..., 1], -1))
    out = Image.open(io.BytesIO(encode(pic, "PNG")))
    xmp = out.info["xmp"]
    assert out.size == (20, 30)
    assert (xmp.encode() if isinstance(xmp, str) else xmp) == _upright(XMP, (20, 30))
