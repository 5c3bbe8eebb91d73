"""A sweep of mutated small PNG/JPEG/GIF/TIFF files through ``nssr upscale``: it must fail
cleanly (exit 0 or 1, one ``Error:`` line per bad file, no traceback), leave no temp file, and
never change an input. A second sweep adds damaged compressed data (whatever Pillow's own
``load()`` rejects must fail), TIFF variants, PostScript (refused, Ghostscript never run) and
many-frame bombs."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers_images import gradient
from PIL import Image
from test_hostile_decode import EPS, SEEDS, flip_in_idat, frame_bomb, pillow_rejects

from nssr_cli.errors import InputError
from nssr_cli.files.decode import decode

FORMATS = {"png": "PNG", "jpg": "JPEG", "gif": "GIF", "tif": "TIFF"}
PER_FORMAT = 75  # 300 files in all


def seeds() -> dict[str, bytes]:
    im = Image.fromarray(gradient(12, 16))
    out = {}
    for ext, fmt in FORMATS.items():
        buf = io.BytesIO()
        im.save(buf, fmt)
        out[ext] = buf.getvalue()
    return out


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """A random truncation, or a few flipped/overwritten bytes (often in the header)."""
    b = bytearray(data)
    if rng.random() < 0.3:
        return bytes(b[: int(rng.integers(0, len(b)))])
    for _ in range(int(rng.integers(1, 6))):
        hot = rng.random() < 0.5
        i = int(rng.integers(0, min(64, len(b)) if hot else len(b)))
        b[i] = (
            int(rng.integers(0, 256))
            if rng.random() < 0.5
            else b[i] ^ (1 << int(rng.integers(0, 8)))
        )
    return bytes(b)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mutants")
    rng = np.random.default_rng(20240601)
    for ext, data in seeds().items():
        for i in range(PER_FORMAT):
            (folder / f"{ext}{i:03d}.{ext}").write_bytes(mutate(data, rng))
    return folder


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about damaged metadata
def test_decode_raises_only_input_errors(corpus: Path) -> None:
    for path in sorted(corpus.iterdir()):
        try:
            pic = decode(path.read_bytes(), path.name, max_pixels=1_000_000)
        except InputError as exc:
            assert path.name in str(exc)
        else:
            assert all(f.color.dtype in (np.uint8, np.uint16) for f in pic.frames)


def test_the_cli_survives_every_mutant(corpus: Path, tmp_path: Path) -> None:
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in corpus.iterdir()}
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nssr_cli",
            "upscale",
            str(corpus),
            "-o",
            str(out),
            "--kernel",
            "bicubic",
            "--max-pixels",
            "1000000",
            "-j",
            "2",
        ],
        capture_output=True,
        timeout=300,
    )
    err = proc.stderr.decode()
    assert proc.returncode in (0, 1), err
    assert "Traceback" not in err and "internal error" not in err
    failed = err.count("Error: " + str(corpus))
    written = list(out.rglob("*")) if out.exists() else []
    assert failed + len(written) == len(before), err[-2000:]
    assert not [p for p in written if p.name.endswith(".tmp")]
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in corpus.iterdir()} == before


def _tiff_seeds() -> dict[str, bytes]:
    rgb = Image.fromarray(gradient(12, 16))
    pages = [Image.fromarray(gradient(8 + i, 10)) for i in range(3)]

    def tif(im: Image.Image, **params: object) -> bytes:
        buf = io.BytesIO()
        im.save(buf, "TIFF", **params)
        return buf.getvalue()

    return {
        "t16": tif(Image.fromarray(gradient(12, 16, 1, np.uint16))),
        "tplanar": tif(rgb, planar_configuration=2),
        "tcmyk": tif(rgb.convert("CMYK")),
        "tlzw": tif(rgb, compression="tiff_lzw", strip_size=64),
        "tpages": tif(pages[0], save_all=True, append_images=pages[1:]),
    }


def _frame_bombs() -> dict[str, bytes]:
    """Files whose frames are each under the limit used below, and all together far over it."""
    flat = [Image.new("L", (400, 400), 20 * i) for i in range(12)]
    apng, tiff = io.BytesIO(), io.BytesIO()
    flat[0].save(apng, "PNG", save_all=True, append_images=flat[1:])
    flat[0].save(tiff, "TIFF", save_all=True, append_images=flat[1:], compression="tiff_lzw")
    return {
        "bombgif.gif": frame_bomb(),
        "bombapng.png": apng.getvalue(),
        "bombtif.tif": tiff.getvalue(),
    }


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Damaged IDATs (judged by Pillow's own load), TIFF variants and their mutants, PostScript
    and frame bombs; with what each must do: ``fail``, ``ok``, or ``any`` (must not crash)."""
    folder = tmp_path_factory.mktemp("hostile")
    rng = np.random.default_rng(20251126)
    expect: dict[str, str] = {}
    for kind, make in SEEDS.items():
        seed = make()
        for i in range(12):
            data = flip_in_idat(seed, rng)
            name = f"idat-{kind}-{i:02d}.png"
            (folder / name).write_bytes(data)
            expect[name] = "fail" if pillow_rejects(data) else "ok"
    for kind, data in _tiff_seeds().items():
        (folder / f"{kind}.tif").write_bytes(data)
        expect[f"{kind}.tif"] = "ok"
        for i in range(10):
            name = f"{kind}-{i:02d}.tif"
            (folder / name).write_bytes(mutate(data, rng))
            expect[name] = "any"
    (folder / "drawing.eps").write_bytes(EPS)  # not an allowed extension: ignored by the walk
    (folder / "disguised-eps.png").write_bytes(EPS)
    expect["disguised-eps.png"] = "fail"
    for name, data in _frame_bombs().items():
        (folder / name).write_bytes(data)
        expect[name] = "fail"
    return folder, expect


def test_the_cli_survives_hostile_files(hostile, tmp_path: Path) -> None:
    folder, expect = hostile
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    out, temp, bin_dir = tmp_path / "out", tmp_path / "tmp", tmp_path / "bin"
    temp.mkdir()
    bin_dir.mkdir()
    marker = tmp_path / "gs-ran"
    (bin_dir / "gs").write_text(f"#!/bin/sh\necho \"$@\" >> '{marker}'\nexit 1\n")
    (bin_dir / "gs").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "TMPDIR": str(temp)}
    proc = subprocess.run(
        [sys.executable, "-m", "nssr_cli", "upscale", str(folder), "-o", str(out)]
        + ["--kernel", "bicubic", "--max-pixels", "1000000", "-j", "2"],
        capture_output=True,
        timeout=300,
        env=env,
    )
    err = proc.stderr.decode()
    assert proc.returncode == 1, err[-2000:]
    assert "Traceback" not in err and "internal error" not in err
    written = {p.name.split("_x2")[0]: p for p in out.iterdir()}
    for name, want in expect.items():
        stem = name.rsplit(".", 1)[0]
        failed = f"Error: {folder / name}:" in err
        assert failed != (stem in written), name  # exactly one of: an error line, an output
        if want != "any":
            assert failed == (want == "fail"), (name, want)
    assert "drawing" not in written and "drawing.eps" not in err.split("files:")[0]
    assert not marker.exists() and not list(temp.iterdir())
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".")]
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()} == before
