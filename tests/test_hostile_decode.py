"""Hostile inputs at the decoder: formats outside the raster allow-list (no Ghostscript),
damaged compressed data, many-frame bombs and the memory a job needs — each refused cleanly
(exit 1 for that file, one line, no output) and, where it can be, before any pixel is decoded."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from helpers_images import encoded, gradient, png16_reference
from PIL import Image, UnidentifiedImageError
from test_cli_upscale import nssr

from nssr_cli.errors import InputError
from nssr_cli.files.decode import decode
from nssr_cli.files.formats import image_extensions, open_image

EPS = (
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n"
    b"0 0 moveto 16 16 lineto stroke\nshowpage\n%%EOF\n"
)


@pytest.fixture
def fake_ghostscript(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose ``gs`` only leaves a marker file: running it at all is the bug."""
    bin_dir, marker = tmp_path / "bin", tmp_path / "gs-ran"
    bin_dir.mkdir()
    for name in ("gs", "gswin64c", "gswin32c"):
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\necho \"$@\" >> '{marker}'\nexit 1\n")
        script.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return env, marker


def cli(args: list[str], env: dict[str, str] | None = None, stdin: bytes | None = None):
    return subprocess.run(
        [sys.executable, "-m", "nssr_cli", *args],
        capture_output=True,
        env=env,
        input=stdin,
        timeout=120,
    )


def test_postscript_is_refused_without_running_ghostscript(tmp_path, fake_ghostscript):
    env, marker = fake_ghostscript
    names = ["drawing.eps", "drawing.ps", "disguised.png"]
    for name in names:
        (tmp_path / name).write_bytes(EPS)
    paths = [str(tmp_path / n) for n in names]
    proc = cli(["upscale", *paths, "--kernel", "bicubic", "-o", str(tmp_path / "out")], env)
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert all(f"Error: {p}: PostScript" in err for p in paths), err
    assert "Traceback" not in err and "internal error" not in err
    assert not marker.exists(), marker.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["bin", *names])


def test_postscript_on_stdin_keeps_stdout_clean(tmp_path, fake_ghostscript):
    env, marker = fake_ghostscript
    proc = cli(["upscale", "-", "--kernel", "bicubic", "-o", "-"], env, stdin=EPS)
    assert proc.returncode == 1 and proc.stdout == b""
    assert not marker.exists()


def test_a_folder_walk_ignores_formats_outside_the_allow_list(tmp_path, fake_ghostscript):
    env, marker = fake_ghostscript
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.eps").write_bytes(EPS)
    Image.fromarray(gradient(8, 8)).save(tmp_path / "in" / "b.png")
    proc = cli(["upscale", str(tmp_path / "in"), "--kernel", "bicubic", "-v"], env)
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    assert "a.eps" in err and "ignored" in err  # listed with -v, not an error
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["a.eps", "b.png", "b_x2.png"]
    assert not marker.exists()


def test_pillow_readable_but_unlisted_formats_are_refused() -> None:
    # PCX: Pillow reads it, nssr does not (rare and not needed for photographs)
    with pytest.raises(InputError, match="x.pcx"):
        decode(encoded(Image.fromarray(gradient(8, 8)), "PCX"), "x.pcx")


def test_one_allow_list_for_opening_and_for_extensions() -> None:
    exts = image_extensions()
    assert {".png", ".jpg", ".jpeg", ".gif", ".webp", ".tif", ".tiff", ".bmp", ".ppm"} <= exts
    assert not {".eps", ".ps", ".pdf", ".psd", ".pcx", ".ico"} & exts
    with pytest.raises(UnidentifiedImageError):
        open_image(io.BytesIO(EPS))  # what nssr eval opens with, too


def test_loading_only_the_allowed_plugins_knows_what_loading_all_would() -> None:
    """nssr imports Pillow's plugins for the allow-list only (start-up time); every format and
    extension of the allow-list must still be there, as after ``Image.init()``."""
    from PIL import Image

    from nssr_cli.files.formats import READABLE, readable_formats, writable

    ours = (set(readable_formats()), image_extensions())
    Image.init()
    assert ours == (
        {f for f in READABLE if f in Image.OPEN},
        {e for e, f in Image.registered_extensions().items() if f in READABLE},
    )
    assert writable("PNG") and not writable("PDF") and not writable("ICO") and not writable("NOPE")


@pytest.mark.parametrize(
    "fmt", ["PNG", "JPEG", "MPO", "GIF", "WEBP", "TIFF", "BMP", "PPM", "TGA", "QOI", "AVIF"]
)
def test_every_allowed_format_decodes(fmt: str) -> None:
    from PIL import features

    if fmt == "AVIF" and not features.check("avif"):
        pytest.skip("this Pillow has no AVIF support")
    Image.init()
    if fmt not in Image.SAVE:  # e.g. QOI before Pillow 11.3: nssr reads it, Pillow cannot write
        pytest.skip(f"this Pillow cannot write {fmt} to make the test file")
    rgb = Image.fromarray(gradient(16, 24))
    params = {"save_all": True, "append_images": [rgb]} if fmt == "MPO" else {}
    pic = decode(encoded(rgb, fmt, **params), f"x.{fmt.lower()}")
    assert pic.size == (24, 16) and pic.format == ("JPEG" if fmt == "MPO" else fmt)
    assert len(pic.frames) == 1  # a multi-picture JPEG is its first image


# --- damaged compressed data --------------------------------------------------------------


def _chunks(data: bytes):
    at = 8
    while at < len(data):
        (n,) = struct.unpack_from(">I", data, at)
        yield at, data[at + 4 : at + 8], n
        at += 12 + n


def flip_in_idat(data: bytes, rng: np.random.Generator) -> bytes:
    """One flipped bit inside the first IDAT's compressed bytes, its CRC made valid again (so
    only the compressed stream is damaged, as after a bad copy that kept the chunk intact)."""
    b = bytearray(data)
    at, _, n = next(c for c in _chunks(data) if c[1] == b"IDAT")
    pos = at + 8 + 2 + int(rng.integers(0, n - 6))  # past the zlib header, before its checksum
    b[pos] ^= 1 << int(rng.integers(0, 8))
    struct.pack_into(">I", b, at + 8 + n, zlib.crc32(bytes(b[at + 4 : at + 8 + n])))
    return bytes(b)


def pillow_rejects(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
    except Exception:
        return True
    return False


SEEDS = {
    "rgb": lambda: encoded(Image.fromarray(gradient(24, 32))),
    "rgba": lambda: encoded(Image.fromarray(gradient(24, 32, 4))),
    "gray16": lambda: png16_reference(gradient(24, 32, 1, np.uint16)),
    "rgb16": lambda: png16_reference(gradient(24, 32, 3, np.uint16)),
    "rgba16": lambda: png16_reference(gradient(24, 32, 4, np.uint16)),
}


@pytest.mark.parametrize("kind", SEEDS)
def test_damaged_png_data_that_pillow_rejects_fails(kind: str) -> None:
    rng = np.random.default_rng(7)
    seed = SEEDS[kind]()
    tried = 0
    for _ in range(40):
        bad = flip_in_idat(seed, rng)
        if not pillow_rejects(bad):
            continue
        tried += 1
        with pytest.raises(InputError, match="bad.png"):
            decode(bad, "bad.png")
    assert tried >= 10  # the sweep did test something


def test_damaged_png_fails_the_file_with_one_line_and_no_output(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(3)
    seed = SEEDS["rgb"]()
    bad = next(b for b in (flip_in_idat(seed, rng) for _ in range(50)) if pillow_rejects(b))
    src = tmp_path / "bad.png"
    src.write_bytes(bad)
    code, out, err = nssr(["upscale", str(src), "--kernel", "bicubic"], capsys, monkeypatch)
    assert code == 1 and f"Error: {src}" in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == ["bad.png"]
    assert src.read_bytes() == bad


# --- many frames, and the memory a job needs -----------------------------------------------


def frame_bomb(frames: int = 40, side: int = 400) -> bytes:
    """A small GIF of many large, flat frames (each alone well under the pixel limit)."""
    ims = [Image.new("P", (side, side), i % 7) for i in range(frames)]
    for im in ims:
        im.putpalette([v for i in range(7) for v in (i * 30, 255 - i * 30, 128)])
    return encoded(ims[0], "GIF", save_all=True, append_images=ims[1:], duration=40)


def test_many_frames_count_against_max_pixels_before_decoding(tmp_path, capsys, monkeypatch):
    data = frame_bomb()
    assert len(data) < 40_000
    src = tmp_path / "bomb.gif"
    src.write_bytes(data)
    loads = _count_loads(monkeypatch)
    args = ["upscale", str(src), "--kernel", "bicubic", "--max-pixels", "1000000"]
    code, _, err = nssr(args, capsys, monkeypatch)
    assert code == 1 and "bomb.gif" in err and "40 frames" in err and "max-pixels" in err, err
    assert not loads  # refused from the header
    assert sorted(os.listdir(tmp_path)) == ["bomb.gif"]


def _count_loads(monkeypatch) -> list[int]:
    """Record every decode of a file's pixels that Pillow starts."""
    from PIL import ImageFile

    Image.init()  # plugins build small in-memory images on import: not file decodes
    loads: list[int] = []
    real = ImageFile.ImageFile.load

    def load(im: ImageFile.ImageFile):
        if im.tile:
            loads.append(1)
        return real(im)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return loads


def test_more_frames_than_the_frame_limit_are_refused(monkeypatch) -> None:
    from nssr_cli.files import header

    monkeypatch.setattr(header, "MAX_FRAMES", 5)
    with pytest.raises(InputError, match="6 frames, more than nssr processes"):
        decode(frame_bomb(frames=6, side=4), "many.gif")
    assert len(decode(frame_bomb(frames=5, side=4), "five.gif").frames) == 5


def test_a_job_too_big_for_memory_is_refused_before_decoding(tmp_path, capsys, monkeypatch):
    from nssr_cli import system

    src = tmp_path / "bomb.gif"
    src.write_bytes(frame_bomb())
    monkeypatch.setattr(system, "available_memory", lambda: 500 * 2**20)
    loads = _count_loads(monkeypatch)
    args = ["upscale", str(src), "--kernel", "bicubic", "-s", "4", "--max-pixels", "1000000000000"]
    code, _, err = nssr(args, capsys, monkeypatch)
    assert code == 1 and "1600×1600 × 40 frames" in err and "GiB" in err, err
    assert err.count(f"Error: {src}") == 1 and not loads
    assert sorted(os.listdir(tmp_path)) == ["bomb.gif"]


def test_the_memory_estimate_counts_the_encoder_and_the_frames() -> None:
    from nssr_cli.batch.memory import job_memory
    from nssr_cli.files.picture import Header

    photo = Header("JPEG", ((3000, 2000),), 3, 1)
    raw_out = 6000 * 4000 * 3
    need = {fmt: job_memory(photo, 2.0, fmt) for fmt in ("JPEG", "PNG", "TIFF", "WEBP")}
    assert raw_out * 2 < need["JPEG"] < need["PNG"] <= need["TIFF"] < need["WEBP"]
    assert need["WEBP"] >= raw_out * 6  # libwebp alone used ~6× (RGB) and ~10× (RGBA)
    frame_out = 800 * 800 * 4  # RGBA bytes of one upscaled frame
    animation = Header("GIF", ((400, 400),) * 40, 4, 1)
    assert job_memory(animation, 2.0, "GIF") > 40 * frame_out * 5  # all frames, then the encoder
    deep = Header("PNG", ((3000, 2000),), 3, 2)
    assert job_memory(deep, 2.0, "PNG") > 1.9 * job_memory(
        Header("PNG", ((3000, 2000),), 3, 1), 2.0, "PNG"
    )
