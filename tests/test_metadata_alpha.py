"""Metadata and alpha through ``nssr upscale``: a TIFF's own layout tags never reach an output
(only descriptive EXIF, ICC and DPI do), orientation is applied once, and colour is resampled
premultiplied by alpha (no fringes where opaque meets transparent)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from helpers_images import encoded, gradient, png16_reference, png_keyed, srgb_profile
from PIL import Image, ImageOps, JpegImagePlugin
from test_cli_upscale import nssr

from nssr_cli.files.decode import decode
from nssr_cli.files.encode import encode

STRUCTURAL = {256, 257, 258, 259, 262, 273, 277, 278, 279, 284}  # size, strips, layout


# --- TIFF in: the output's tags are its own ---------------------------------------------------


def _tiff_cases() -> dict[str, tuple[Image.Image, dict]]:
    rgb = Image.fromarray(gradient(24, 32))
    return {
        "rgb": (rgb, {}),
        "gray": (rgb.convert("L"), {}),
        "cmyk": (rgb.convert("CMYK"), {}),
        "planar": (rgb, {"planar_configuration": 2}),
        "strips": (rgb, {"strip_size": 256, "compression": "tiff_lzw"}),
        "rgba": (Image.fromarray(gradient(24, 32, 4)), {}),
        "gray16": (Image.fromarray(gradient(24, 32, 1, np.uint16)), {}),
    }


def own_tags_only(out: Image.Image, ext: str) -> bool:
    """No layout tag of the input came along: a TIFF's are its own, other formats have none."""
    tags = out.getexif()
    if ext == "tif":  # a TIFF's getexif() is its own first IFD
        return (tags[256], tags[257]) == out.size
    return not STRUCTURAL & set(tags)


def rgb8(im: Image.Image) -> np.ndarray:
    """Any mode → ``(H, W, 3)`` float64 in 8-bit units (16-bit gray by its high byte)."""
    if im.mode.startswith("I"):
        gray = np.asarray(im, np.float64) / 257
        return np.repeat(gray[..., None], 3, axis=2)
    return np.asarray(im.convert("RGB"), np.float64)


@pytest.mark.parametrize("ext", ["tif", "png", "jpg"])
@pytest.mark.parametrize("case", list(_tiff_cases()))
def test_tiff_round_trips_at_the_new_size(tmp_path, capsys, monkeypatch, case, ext) -> None:
    im, params = _tiff_cases()[case]
    src = tmp_path / "a.tif"
    im.save(src, **params)
    if ext == "jpg" and "A" in im.mode:
        pytest.skip("alpha into JPEG is refused (tested elsewhere)")
    dst = tmp_path / f"b.{ext}"
    args = ["upscale", str(src), "-s", "2", "--kernel", "bicubic", "-o", str(dst)]
    code, _, err = nssr(args, capsys, monkeypatch)
    assert code == 0, err
    with Image.open(dst) as out:
        out.load()
        assert out.size == (64, 48)
        assert own_tags_only(out, ext)
        got = rgb8(out)
    want = rgb8(im.resize((64, 48), Image.Resampling.BICUBIC))
    assert np.abs(got - want).mean() < 6, case  # same picture (JPEG, bicubic variants differ)


def test_real_tiff_metadata_is_carried_and_structure_is_not(tmp_path, capsys, monkeypatch):
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x8298] = "(c) someone"  # Copyright
    src = tmp_path / "a.tif"
    Image.fromarray(gradient(24, 32)).save(src, exif=exif, dpi=(300, 300))
    for ext in ("tif", "jpg", "png"):
        dst = tmp_path / f"b.{ext}"
        args = ["upscale", str(src), "-s", "2", "--kernel", "bicubic", "-o", str(dst)]
        assert nssr(args, capsys, monkeypatch)[0] == 0
        with Image.open(dst) as out:
            tags = out.getexif()
            assert tags.get(0x010F) == "TestCam" and tags.get(0x8298) == "(c) someone", ext
            assert own_tags_only(out, ext)
            assert out.size == (64, 48)
            if ext != "png":
                assert tuple(round(float(d)) for d in out.info["dpi"]) == (600, 600), ext


@pytest.mark.parametrize("src_fmt", ["JPEG", "TIFF"])
def test_camera_exif_reaches_every_output_format(src_fmt: str) -> None:
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif[0x8769] = {0x9003: "2024:01:01 10:00:00", 0xA002: 32, 0xA003: 24}  # date, source size
    exif[0x8825] = {1: "N"}  # GPS
    pic = decode(encoded(Image.fromarray(gradient(24, 32)), src_fmt, exif=exif.tobytes()), "c")
    for fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        with Image.open(io.BytesIO(encode(pic, fmt))) as out:
            tags = out.getexif()
            assert tags.get(0x010F) == "TestCam", fmt
            sub = tags.get_ifd(0x8769)
            assert 0xA002 not in sub and 0xA003 not in sub  # the source's size is not carried
            if fmt != "TIFF":  # libtiff cannot write sub-IFDs into a compressed TIFF
                assert sub.get(0x9003) == "2024:01:01 10:00:00" and tags.get_ifd(0x8825), fmt


@pytest.mark.parametrize("bits", [8, 16])
def test_tiff_orientation_is_applied_once(bits: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    arr = gradient(24, 32, 3, np.uint8 if bits == 8 else np.uint16)
    data = encoded(
        Image.fromarray(arr[..., 0]) if bits == 16 else Image.fromarray(arr), "TIFF", exif=exif
    )
    with Image.open(io.BytesIO(data)) as im:
        upright = np.asarray(ImageOps.exif_transpose(im))
    pic = decode(data, "o.tif")
    assert np.array_equal(pic.frames[0].color, upright)
    assert pic.frames[0].color.shape[:2] == (32, 24)


# --- alpha: premultiplied resampling -----------------------------------------------------------


def _edge(dtype=np.uint8, h: int = 16, w: int = 16) -> np.ndarray:
    """Opaque white on the left half, fully transparent black on the right half."""
    peak = np.iinfo(dtype).max
    arr = np.zeros((h, w, 4), dtype)
    arr[:, : w // 2] = peak
    return arr


@pytest.mark.parametrize("scale", ["2", "3", "2.5"])
@pytest.mark.parametrize("kernel", ["bicubic", "dil"])
def test_opaque_white_beside_transparent_stays_white(tmp_path, capsys, monkeypatch, scale, kernel):
    src, dst = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(_edge(), "RGBA").save(src)
    args = ["upscale", str(src), "-s", scale, "--kernel", kernel, "-o", str(dst)]
    assert nssr(args, capsys, monkeypatch)[0] == 0
    out = np.asarray(Image.open(dst))
    visible = out[..., 3] > 0
    assert visible.sum() > out[..., 3].size // 3
    assert out[..., :3][visible].min() >= 254  # no dark fringe


def test_opaque_white_beside_transparent_stays_white_at_16_bits(tmp_path, capsys, monkeypatch):
    src, dst = tmp_path / "a.png", tmp_path / "b.png"
    src.write_bytes(png16_reference(_edge(np.uint16)))
    args = ["upscale", str(src), "-s", "2", "--kernel", "dil", "-o", str(dst)]
    assert nssr(args, capsys, monkeypatch)[0] == 0
    pic = decode(dst.read_bytes(), "b.png")
    f = pic.frames[0]
    assert f.color.dtype == np.uint16 and f.alpha is not None
    visible = f.alpha > 0
    assert f.color[visible].min() >= 65535 - 257


def test_an_opaque_alpha_channel_changes_nothing(tmp_path, capsys, monkeypatch) -> None:
    rgb = gradient(24, 32)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    for name in ("rgb", "rgba"):
        args = ["upscale", str(tmp_path / f"{name}.png"), "-s", "2", "--kernel", "dil"]
        assert nssr(args, capsys, monkeypatch)[0] == 0
    a = np.asarray(Image.open(tmp_path / "rgb_x2.png"))
    b = np.asarray(Image.open(tmp_path / "rgba_x2.png"))
    assert np.array_equal(a, b[..., :3]) and (b[..., 3] == 255).all()


def test_partly_transparent_images_keep_their_opaque_interior(tmp_path, capsys, monkeypatch):
    rgb = gradient(24, 32)
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:, 24:] = 0
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(tmp_path / "rgba.png")
    for name in ("rgb", "rgba"):
        args = ["upscale", str(tmp_path / f"{name}.png"), "-s", "2", "--kernel", "dil"]
        assert nssr(args, capsys, monkeypatch)[0] == 0
    a = np.asarray(Image.open(tmp_path / "rgb_x2.png")).astype(int)
    b = np.asarray(Image.open(tmp_path / "rgba_x2.png")).astype(int)
    interior = np.s_[:, : 2 * 24 - 16]  # farther from the edge than the filters reach
    assert np.abs(a[interior] - b[..., :3][interior]).max() <= 1


@pytest.mark.parametrize("depth", [4, 8, 16])
def test_a_gray_png_with_a_transparent_key_keeps_its_transparency(
    tmp_path, capsys, monkeypatch, depth
):
    gray = np.where(np.arange(16) < 8, 3, 9)[None].repeat(12, axis=0)  # key 3: left half
    src, dst = tmp_path / "g.png", tmp_path / "g_x2.png"
    src.write_bytes(png_keyed(gray, depth, (3,)))
    code, _, err = nssr(["upscale", str(src), "--kernel", "bicubic"], capsys, monkeypatch)
    assert code == 0, err
    out = decode(dst.read_bytes(), "g_x2.png")
    assert out.mode == ("LA;16" if depth == 16 else "LA")
    alpha = out.frames[0].alpha
    assert alpha is not None and alpha.shape == (24, 32)
    assert (alpha[:, :12] == 0).all() and (alpha[:, 20:] == (65535 if depth == 16 else 255)).all()
    code, _, err = nssr(["upscale", str(src), "-o", str(tmp_path / "g.jpg")], capsys, monkeypatch)
    assert code == 1 and "transparency (alpha), which JPEG cannot store" in err


# --- a multi-picture JPEG (a phone's gain map, a camera's preview) is its first image ----------


def test_a_multi_picture_jpeg_is_upscaled_as_its_first_image(tmp_path, capsys, monkeypatch):
    photo = Image.fromarray(gradient(48, 64))
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    second = photo.resize((32, 24)).transpose(Image.Transpose.FLIP_LEFT_RIGHT)  # a preview
    params = {"quality": 75, "exif": exif.tobytes(), "icc_profile": srgb_profile()}
    photo.save(tmp_path / "phone.jpg", "MPO", save_all=True, append_images=[second], **params)
    photo.save(tmp_path / "plain.jpg", "JPEG", **params)  # the same first image, alone
    with Image.open(tmp_path / "phone.jpg") as mpo:
        assert mpo.format == "MPO" and mpo.n_frames == 2
    args = ["upscale", str(tmp_path / "phone.jpg"), str(tmp_path / "plain.jpg"), "--json"]
    code, out, err = nssr([*args, "-v"], capsys, monkeypatch)
    assert code == 0, err
    rows = {r["input"].rsplit("/", 1)[-1]: r for r in map(json.loads, out.splitlines())}
    assert rows["phone.jpg"].pop("images_left_out") == 1 and "left out 1 further image" in err
    assert rows["plain.jpg"]["images_left_out"] == 0  # every row has the key
    for key in ("kernel", "blur", "mode", "output_size"):  # JPEG quality 75 read from its table
        assert rows["phone.jpg"][key] == rows["plain.jpg"][key], key
    assert rows["phone.jpg"]["blur_info"]["jpeg_quality"] == 75
    with Image.open(tmp_path / "phone_x2.jpg") as a, Image.open(tmp_path / "plain_x2.jpg") as b:
        assert a.format == "JPEG" and getattr(a, "n_frames", 1) == 1 and a.size == (128, 96)
        assert a.getexif().get(0x010F) == "TestCam" and a.info["icc_profile"] == srgb_profile()
        assert np.array_equal(np.asarray(a), np.asarray(b))
    png = tmp_path / "phone.png"
    code, _, err = nssr(
        ["upscale", str(tmp_path / "phone.jpg"), "-o", str(png)], capsys, monkeypatch
    )
    assert code == 0, err
    with Image.open(png) as a:
        assert getattr(a, "n_frames", 1) == 1 and a.size == (128, 96)  # not an animation
    # the pixel limit counts the first image only (64×48 = 3072 pixels)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # nssr sets it
    args = ["upscale", str(tmp_path / "phone.jpg"), "-o", str(tmp_path / "lim.jpg")]
    args += ["--max-pixels", "3072"]
    assert nssr(args, capsys, monkeypatch)[0] == 0


@pytest.mark.parametrize("orientation", [1, 5, 6, 7, 8])
def test_a_quarter_turn_swaps_the_dpi_and_chroma_subsampling(
    tmp_path, capsys, monkeypatch, orientation
):
    exif = Image.Exif()
    exif[0x0112] = orientation
    src = tmp_path / "o.jpg"
    Image.fromarray(gradient(24, 32)).save(src, exif=exif, dpi=(300, 100), subsampling=1)
    code, _, err = nssr(["upscale", str(src), "--kernel", "bicubic"], capsys, monkeypatch)
    assert code == 0, err
    turned = orientation >= 5
    with Image.open(tmp_path / "o_x2.jpg") as out:
        assert out.size == ((48, 64) if turned else (64, 48))
        assert tuple(round(float(d)) for d in out.info["dpi"]) == (
            (200, 600) if turned else (600, 200)
        )
        # 4:2:2 halves the colour across; turned, that is down (4:4:0): 4:4:4 keeps it all
        assert JpegImagePlugin.get_sampling(out) == (0 if turned else 1)


@pytest.mark.parametrize("kind", ["exif", "xmp", "deflate", "16-bit"])
def test_a_tiff_turned_a_quarter_swaps_its_dpi(tmp_path, capsys, monkeypatch, kind) -> None:
    # Pillow turns a TIFF by its orientation as it loads, and deletes the tag
    from nssr_cli.files.deep16 import encode_tiff16

    tags = Image.Exif()
    if kind == "xmp":  # Pillow applies it from 11.1 on, nssr under older Pillows
        tags[700] = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description tiff:Orientation="6"/>'
    else:
        tags[0x0112] = 6
    src = tmp_path / "o.tif"
    if kind == "16-bit":  # 16-bit colour, which nssr decodes from two Pillow loads
        src.write_bytes(
            encode_tiff16(gradient(24, 32, 3, np.uint16), dpi=(300, 100), tags=tags.tobytes())
        )
    else:
        deflate = {"compression": "tiff_adobe_deflate"} if kind == "deflate" else {}
        Image.fromarray(gradient(24, 32)).save(src, exif=tags, dpi=(300, 100), **deflate)
    args = ["upscale", str(src), "--kernel", "bicubic", "-o", str(tmp_path / "b.tif")]
    code, _, err = nssr(args, capsys, monkeypatch)
    assert code == 0, err
    with Image.open(tmp_path / "b.tif") as out:
        assert out.size == (48, 64)
        assert tuple(round(float(d)) for d in out.info["dpi"]) == (200, 600)


@pytest.mark.parametrize("scale", ["2", "3", "2.5"])
def test_fully_transparent_output_pixels_have_colour_0(tmp_path, capsys, monkeypatch, scale):
    # Transparent white beside opaque noise: the sharpened weight L(α) stays above 0 in places
    # where the written (bicubic) alpha rounds to 0.
    arr = np.random.default_rng(7).integers(0, 256, (20, 20, 4)).astype(np.uint8)
    arr[..., 3] = 255
    arr[:, :10] = (255, 255, 255, 0)
    src, dst = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(arr, "RGBA").save(src)
    args = ["upscale", str(src), "-s", scale, "--kernel", "dil", "-o", str(dst)]
    assert nssr(args, capsys, monkeypatch)[0] == 0
    out = np.asarray(Image.open(dst))
    clear = out[..., 3] == 0
    assert clear.sum() > out[..., 3].size // 3
    assert not out[..., :3][clear].any()  # alpha 0 → colour 0, exactly


# --- GIF: one transparent colour ---------------------------------------------------------------


def _hole_gif(path) -> None:
    """A 30×30 GIF, opaque red with a fully transparent 10×10 hole at (10, 10)."""
    idx = np.ones((30, 30), np.uint8)
    idx[10:20, 10:20] = 0
    im = Image.fromarray(idx, "P")
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.save(path, transparency=0)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_gif_transparent_areas_keep_their_size(tmp_path, capsys, monkeypatch, scale) -> None:
    src, dst = tmp_path / "a.gif", tmp_path / "b.gif"
    _hole_gif(src)
    args = ["upscale", str(src), "-s", str(scale), "--kernel", "dil", "-o", str(dst)]
    assert nssr(args, capsys, monkeypatch)[0] == 0
    clear = np.asarray(Image.open(dst).convert("RGBA"))[..., 3] == 0
    hole = slice(10 * scale, 20 * scale)
    middle = 15 * scale
    # alpha cut at 50 %: the hole's sides stay where they were (its corners round off a little)
    assert np.flatnonzero(clear[middle]).tolist() == list(range(30 * scale)[hole])
    assert np.flatnonzero(clear[:, middle]).tolist() == list(range(30 * scale)[hole])
    assert not clear[: 10 * scale].any() and not clear[20 * scale :].any()
    assert clear.sum() >= (10 * scale) ** 2 - 4 * scale


def test_partly_transparent_image_into_gif_is_refused(tmp_path, capsys, monkeypatch) -> None:
    arr = np.zeros((20, 20, 4), np.uint8)
    arr[..., 0], arr[..., 3] = 200, 128
    arr[:, :5, 3] = 0
    src = tmp_path / "semi.png"
    Image.fromarray(arr, "RGBA").save(src)
    args = ["upscale", str(src), "-o", str(tmp_path / "semi.gif")]
    code, _, err = nssr(args, capsys, monkeypatch)
    assert code == 1 and "partly transparent" in err and "GIF" in err and "-f png" in err, err
    assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["semi.png"]
    arr[..., 3] = np.where(arr[..., 3] == 0, 0, 255)  # only clear and opaque: GIF holds it
    Image.fromarray(arr, "RGBA").save(src)
    assert nssr(["upscale", str(src), "-o", str(tmp_path / "b.gif")], capsys, monkeypatch)[0] == 0


def test_grey_and_alpha_into_gif_keeps_its_transparency(tmp_path, capsys, monkeypatch) -> None:
    arr = np.zeros((20, 20, 2), np.uint8)
    arr[..., 0], arr[..., 1] = 180, 255
    arr[5:15, 5:15, 1] = 0
    src, dst = tmp_path / "la.png", tmp_path / "la.gif"
    Image.fromarray(arr, "LA").save(src)
    args = ["upscale", str(src), "-s", "2", "--kernel", "bicubic", "-o", str(dst)]
    assert nssr(args, capsys, monkeypatch)[0] == 0
    out = np.asarray(Image.open(dst).convert("RGBA"))
    hole = np.zeros((40, 40), bool)
    hole[10:30, 10:30] = True
    assert np.array_equal(out[..., 3] == 0, hole)
    assert (out[..., :3][out[..., 3] > 0] == 180).all()


@pytest.mark.parametrize("gain_map", [True, False])
def test_a_multi_picture_jpeg_keeps_its_xmp_unless_it_describes_the_images_left_out(
    gain_map: bool,
) -> None:
    # An Ultra HDR photo's XMP points at its gain map, which the output no longer holds
    about = 'hdrgm:Version="1.0" xmlns:hdrgm="http://ns.adobe.com/hdr-gain-map/1.0/"'
    xmp = f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description dc:rights="me" {about if gain_map else ""}/></x:xmpmeta>'  # noqa: E501
    photo = Image.fromarray(gradient(48, 64))
    buf = io.BytesIO()
    photo.save(buf, "MPO", save_all=True, append_images=[photo.resize((16, 12))])
    # the XMP segment right after SOI, as cameras write it (the MPF offsets are relative to
    # the MPF segment, so they hold)
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + xmp.encode()
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    buf = io.BytesIO(buf.getvalue()[:2] + segment + buf.getvalue()[2:])
    pic = decode(buf.getvalue(), "phone.jpg")
    assert ("xmp" in pic.info) is not gain_map
    # Pillow opens an Ultra HDR JPEG (hdrgm) as one plain JPEG: its MPF index counts the rest
    assert pic.info["left_out"] == 1


def test_an_ultra_hdr_photos_gain_map_is_reported_left_out(tmp_path, capsys, monkeypatch):
    about = 'xmlns:hdrgm="http://ns.adobe.com/hdr-gain-map/1.0/" hdrgm:Version="1.0"'
    xmp = f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description {about}/></x:xmpmeta>'
    photo, src = Image.fromarray(gradient(24, 32)), tmp_path / "hdr.jpg"
    photo.save(src, "MPO", save_all=True, append_images=[photo.resize((8, 6))], xmp=xmp.encode())
    with Image.open(src) as im:
        assert im.format == "JPEG" and getattr(im, "n_frames", 1) == 1  # Pillow: one image
    args = ["upscale", str(src), "-o", str(tmp_path / "b.jpg"), "--json", "-v"]
    code, out, err = nssr(args, capsys, monkeypatch)
    assert code == 0, err
    assert json.loads(out)["images_left_out"] == 1 and "left out 1 further image" in err


def test_an_mpo_file_and_a_tiff_without_resolution(tmp_path, capsys, monkeypatch) -> None:
    # a .mpo is written as one JPEG under its own name; a TIFF that states no resolution gives
    # an output that states none (Pillow reads it as 1 dpi, which came out as 2 dpi at ×2)
    photo = Image.fromarray(gradient(24, 32))
    photo.save(tmp_path / "a.mpo", "MPO", save_all=True, append_images=[photo.resize((8, 6))])
    photo.save(tmp_path / "b.tif")
    args = ["upscale", str(tmp_path / "a.mpo"), str(tmp_path / "b.tif"), "-s", "2"]
    code, _, err = nssr(args, capsys, monkeypatch)
    assert code == 0, err
    with Image.open(tmp_path / "a_x2.mpo") as a, Image.open(tmp_path / "b_x2.tif") as b:
        assert a.format == "JPEG" and a.size == (64, 48)
        assert 282 not in b.tag_v2  # no XResolution (Pillow reads that as 1 dpi)
