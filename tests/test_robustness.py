"""A sweep of mutated small PNG/JPEG/GIF/TIFF files through ``nssr upscale``: it must fail
cleanly (exit 0 or 1, one ``Error:`` line per bad file, no traceback), leave no temp file, and
never change an input."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers_images import gradient
from PIL import Image

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
