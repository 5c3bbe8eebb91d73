"""One test per row of RELIABILITY.md's table of hostile inputs, each making its own fixture.

Every test also checks what the contract promises around it: inputs byte-for-byte unchanged,
no temp file left behind, one ``Error:`` line per failure and no traceback.
"""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from helpers_cli import HOLD_LATER_OUTPUTS, clean, hooked_argv, picture
from helpers_images import (
    bomb_png,
    encoded,
    gradient,
    image_file,
    png16_reference,
    srgb_profile,
)
from PIL import Image
from test_cli_upscale import nssr

BICUBIC = ["--kernel", "bicubic"]


def digests(folder: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


@pytest.fixture
def run(capsys, monkeypatch):
    def go(*args: str, stdin: bytes = b"") -> tuple[int, str, str]:
        code, out, err = nssr(["upscale", *args], capsys, monkeypatch, stdin)
        assert "Traceback" not in err
        return code, out, err

    return go


def test_zero_byte_and_undecodable_files_are_skipped_and_the_batch_goes_on(tmp_path, run) -> None:
    image_file(tmp_path / "good.png")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_bytes(b"hello, not a jpeg")
    before = digests(tmp_path)
    code, _, err = run(str(tmp_path), *BICUBIC)
    assert code == 1
    assert (tmp_path / "good_x2.png").exists()
    assert "Error: " + str(tmp_path / "empty.png") in err and "text.jpg" in err
    assert "3 files: 1 done, 2 failed" in err
    assert all(digests(tmp_path)[k] == v for k, v in before.items())


def test_non_images_sockets_and_fifos_in_a_folder_are_ignored(tmp_path, run) -> None:
    image_file(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("x")
    os.mkfifo(tmp_path / "pipe.png")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "s.png"))
    try:
        code, _, err = run(str(tmp_path), *BICUBIC, "-v")
    finally:
        sock.close()
    assert code == 0, err
    assert "ignored" in err and "pipe.png" in err and "notes.txt" in err


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files_fail_before_any_work_and_leave_no_output(tmp_path, run, fmt) -> None:
    data = encoded(Image.fromarray(gradient(40, 40)), fmt)
    bad = tmp_path / f"cut.{fmt.lower()}"
    bad.write_bytes(data[: len(data) // 2])
    code, _, err = run(str(bad), *BICUBIC)
    assert code == 1 and "cut." in err
    assert sorted(os.listdir(tmp_path)) == [bad.name]


def test_decompression_bomb_is_refused(tmp_path, run) -> None:
    (tmp_path / "bomb.png").write_bytes(bomb_png())
    (tmp_path / "wide.png").write_bytes(bomb_png(3000, 3000))  # within Pillow's default
    code, _, err = run(str(tmp_path), *BICUBIC, "--max-pixels", "1000000")
    assert code == 1 and "bomb.png" in err and "wide.png" in err
    assert "decompression bomb" in err or "max-pixels" in err
    assert sorted(os.listdir(tmp_path)) == ["bomb.png", "wide.png"]


def test_output_too_large_for_memory_is_refused_with_its_size(tmp_path, run, monkeypatch) -> None:
    from nssr_cli import system

    monkeypatch.setattr(system, "available_memory", lambda: 1000)
    code, _, err = run(str(image_file(tmp_path / "a.png")), *BICUBIC, "-s", "4")
    assert code == 1 and "64×48" in err and "GiB" in err


def test_tiles_bound_memory() -> None:
    """Peak working memory beyond the output, as NumPy allocates it (tracemalloc sees every
    array, OpenCV's outputs included, in every thread; not OpenCV's internal scratch, which
    ``benchmarks/speed.py`` measures as resident memory): with tiles of 256 a few tiles' worth,
    untiled several output-sized float32 buffers (~3 MB against ~54 MB here for a 1200² RGB
    input at ×2). Deterministic: no sampling, no dependence on load."""
    import tracemalloc

    from nssr_cli.engine.plans import cached_plan, upscale_planes
    from nssr_cli.kernels.files import resolve_kernel

    plan = cached_plan(resolve_kernel("dil")[0], 2, "cpu")
    img = np.random.default_rng(0).integers(0, 256, (1200, 1200, 3), dtype=np.uint8)
    upscale_planes(img[:64, :64], plan)  # warm up: plans, thread pools, OpenCV's kernels

    def working(tile: int) -> int:
        tracemalloc.start()
        try:
            out = upscale_planes(img, plan, tile=tile)
            return tracemalloc.get_traced_memory()[1] - out.nbytes
        finally:
            tracemalloc.stop()

    tiled, untiled = working(256), working(100_000)
    output_f32 = 2400 * 2400 * 3 * 4  # 69 MB: what one float32 copy of the output would take
    assert tiled <= 16 * 2**20, (tiled, untiled)  # 8 bands in flight at most, a few MB each
    assert untiled > output_f32 // 2, (tiled, untiled)  # the measure sees whole-image buffers


def test_tiles_change_nothing(tmp_path, run) -> None:
    src = image_file(tmp_path / "a.png", Image.fromarray(gradient(40, 40)))
    k = np.full((3, 3), -0.05, np.float32)
    k[1, 1] = 1.4
    np.save(tmp_path / "k.npy", k)
    assert (
        run(
            str(src),
            "--kernel",
            str(tmp_path / "k.npy"),
            "-o",
            str(tmp_path / "t.png"),
            "--tile",
            "16",
        )[0]
        == 0
    )
    assert run(str(src), "--kernel", str(tmp_path / "k.npy"), "-o", str(tmp_path / "u.png"))[0] == 0
    assert np.array_equal(
        np.asarray(Image.open(tmp_path / "t.png")), np.asarray(Image.open(tmp_path / "u.png"))
    )


@pytest.mark.parametrize("ext", ["png", "tif"])
def test_16bit_is_processed_and_written_at_16_bits(tmp_path, run, ext) -> None:
    from nssr_cli.files.decode import decode
    from nssr_cli.files.deep16 import encode_tiff16

    arr = gradient(8, 8, 3, np.uint16)
    src = tmp_path / f"deep.{ext}"
    src.write_bytes(png16_reference(arr) if ext == "png" else encode_tiff16(arr))
    gray = image_file(tmp_path / f"gray.{ext}", Image.fromarray(gradient(8, 8, 1, np.uint16)))
    assert run(str(src), str(gray), *BICUBIC)[0] == 0
    for name, mode in (("deep", "RGB;16"), ("gray", "I;16")):
        out = decode((tmp_path / f"{name}_x2.{ext}").read_bytes(), name)
        assert out.mode == mode and out.frames[0].color.dtype == np.uint16
        assert np.any(out.frames[0].color % 257 != 0)  # values an 8-bit image cannot hold


def test_alpha_is_preserved_and_jpeg_output_is_refused(tmp_path, run) -> None:
    rgba = Image.fromarray(gradient(12, 16, 4), "RGBA")
    pal = Image.fromarray(gradient(12, 16)).convert("P")
    image_file(tmp_path / "rgba.png", rgba)
    image_file(tmp_path / "la.png", rgba.convert("LA"))
    image_file(tmp_path / "pal.png", pal, transparency=int(np.asarray(pal)[0, 0]))
    assert run(str(tmp_path), *BICUBIC)[0] == 0
    modes = {n: Image.open(tmp_path / f"{n}_x2.png").mode for n in ("rgba", "la", "pal")}
    assert modes == {"rgba": "RGBA", "la": "LA", "pal": "RGBA"}
    assert Image.open(tmp_path / "pal_x2.png").getpixel((0, 0))[3] == 0
    code, _, err = run(str(tmp_path / "rgba.png"), *BICUBIC, "-o", str(tmp_path / "x.jpg"))
    assert code == 1 and "JPEG cannot store" in err and "-f png" in err
    assert not (tmp_path / "x.jpg").exists()


def test_grayscale_stays_grayscale(tmp_path, run) -> None:
    image_file(tmp_path / "l.png", Image.fromarray(gradient(8, 8, 1)))
    image_file(tmp_path / "one.png", Image.fromarray(gradient(8, 8, 1)).convert("1"))
    assert run(str(tmp_path), *BICUBIC)[0] == 0
    assert Image.open(tmp_path / "l_x2.png").mode == Image.open(tmp_path / "one_x2.png").mode == "L"


def test_cmyk_jpeg_becomes_rgb(tmp_path, run) -> None:
    image_file(tmp_path / "c.jpg", Image.fromarray(gradient()).convert("CMYK"))
    assert run(str(tmp_path / "c.jpg"), *BICUBIC)[0] == 0
    assert Image.open(tmp_path / "c_x2.jpg").mode == "RGB"


def test_exif_orientation_is_applied_and_reset(tmp_path, run) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    image_file(tmp_path / "r.jpg", Image.fromarray(gradient(12, 16)), exif=exif.tobytes())
    assert run(str(tmp_path / "r.jpg"), *BICUBIC)[0] == 0
    out = Image.open(tmp_path / "r_x2.jpg")
    assert out.size == (24, 32) and out.getexif().get(0x0112) == 1


def test_icc_profile_is_carried(tmp_path, run) -> None:
    icc = srgb_profile()
    image_file(tmp_path / "p.jpg", icc_profile=icc)
    assert run(str(tmp_path / "p.jpg"), *BICUBIC)[0] == 0
    assert Image.open(tmp_path / "p_x2.jpg").info.get("icc_profile") == icc


def test_animated_gif_keeps_every_frame(tmp_path, run) -> None:
    frames = [Image.fromarray(np.roll(gradient(8, 8), 3 * i, axis=1)) for i in range(4)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=70)
    assert run(str(tmp_path / "a.gif"), *BICUBIC)[0] == 0
    out = Image.open(tmp_path / "a_x2.gif")
    assert out.n_frames == 4 and out.size == (16, 16) and out.info["duration"] == 70


def test_unreadable_input_fails_that_file(unprivileged) -> None:
    folder, run_as_user = unprivileged
    src = image_file(folder / "a.png")
    src.chmod(0)
    (folder / "out").mkdir()
    (folder / "out").chmod(0o777)
    result = run_as_user("upscale", str(src), *BICUBIC, "-o", str(folder / "out" / "b.png"))
    assert result.returncode == 1 and "cannot read" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not list((folder / "out").iterdir())


def test_unwritable_output_folder_stops_before_starting(tmp_path, run, unprivileged) -> None:
    src = image_file(tmp_path / "a.png")
    (tmp_path / "blocker").write_text("a file, not a folder")
    code, _, err = run(str(src), *BICUBIC, "-o", str(tmp_path / "blocker" / "out") + "/")
    assert code == 2 and "output folder" in err
    folder, run_as_user = unprivileged
    src = image_file(folder / "a.png")
    locked = folder / "locked"
    locked.mkdir(mode=0o555)
    result = run_as_user("upscale", str(src), *BICUBIC, "-o", str(locked / "x.png"))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert not list(locked.iterdir())


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink"])
def test_output_equal_to_input_is_refused_unless_overwrite(tmp_path, run, how) -> None:
    src = image_file(tmp_path / "a.png")
    dst = src if how == "same" else tmp_path / "b.png"
    if how == "symlink":
        dst.symlink_to(src)
    elif how == "hardlink":
        os.link(src, dst)
    before = src.read_bytes()
    code, _, err = run(str(src), *BICUBIC, "-o", str(dst))
    assert code == 1 and "--overwrite" in err and src.read_bytes() == before
    assert run(str(src), *BICUBIC, "-o", str(dst), "--overwrite")[0] == 0
    assert Image.open(dst).size == (32, 24)
    if how != "same":  # the link was replaced; the input itself is untouched
        assert src.read_bytes() == before and not dst.is_symlink()


def test_two_inputs_mapping_to_one_output_are_refused_before_starting(tmp_path, run) -> None:
    image_file(tmp_path / "a.png")
    image_file(tmp_path / "a.jpg")
    code, _, err = run(str(tmp_path), *BICUBIC, "-f", "png")
    assert code == 2 and "collide" in err
    assert sorted(os.listdir(tmp_path)) == ["a.jpg", "a.png"]


def test_symlink_loops_and_output_inside_input(tmp_path, run) -> None:
    image_file(tmp_path / "in" / "a.png")
    image_file(tmp_path / "in" / "sub" / "b.png")
    (tmp_path / "in" / "sub" / "loop").symlink_to(tmp_path / "in")
    out = tmp_path / "in" / "out"
    for _ in range(2):  # the second run must not pick up the first run's outputs
        code, _, err = run(str(tmp_path / "in"), "-r", *BICUBIC, "-o", str(out), "--skip-existing")
        assert code == 0, err
    made = sorted(str(p.relative_to(out)) for p in out.rglob("*.png"))
    assert made == ["a_x2.png", "sub/b_x2.png"]


def test_a_symlink_planted_at_the_output_is_replaced_not_followed(tmp_path, run) -> None:
    src = image_file(tmp_path / "a.png")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "a_x2.png").symlink_to(victim)
    assert run(str(src), *BICUBIC)[0] == 1  # refused by default
    assert run(str(src), *BICUBIC, "--overwrite")[0] == 0
    assert victim.read_text() == "precious"
    assert not (tmp_path / "a_x2.png").is_symlink()
    assert Image.open(tmp_path / "a_x2.png").size == (32, 24)


def test_disk_full_mid_write(tmp_path, run, monkeypatch) -> None:
    image_file(tmp_path / "a.png")
    image_file(tmp_path / "b.png")
    old = tmp_path / "a_x2.png"
    old.write_bytes(b"previous output")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    code, _, err = run(str(tmp_path), *BICUBIC, "--overwrite", "-j", "1")
    assert code == 1 and "disk is full" in err
    assert old.read_bytes() == b"previous output"
    assert no_temp_files(tmp_path) and not (tmp_path / "b_x2.png").exists()


def _default_sigint() -> None:
    """As in a terminal: a background test runner may have left SIGINT ignored, and children
    inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_mid_batch_keeps_finished_outputs_and_exits_130(tmp_path: Path) -> None:
    for i in range(40):
        image_file(
            tmp_path / "in" / f"{i:02d}.png", Image.fromarray(np.roll(gradient(96, 96), i, 0))
        )
    before = digests(tmp_path / "in")
    out, signalled = tmp_path / "out", tmp_path / "signalled"
    # every output after the first waits for Ctrl-C: the batch is surely mid-way
    argv = hooked_argv(HOLD_LATER_OUTPUTS, str(signalled), "upscale", str(tmp_path / "in"),
                       "-s", "4", "-o", str(out), "-j", "1", *BICUBIC)  # fmt: skip
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_default_sigint
    )
    deadline = time.monotonic() + 60
    while not (out.exists() and any(out.glob("*.png"))) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert any(out.glob("*.png")), "no output within 60 s"
    proc.send_signal(signal.SIGINT)
    signalled.touch()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (err.decode(), len(list(out.glob("*.png"))))
    assert b"Traceback" not in err and b"interrupted" in err
    done = sorted(out.glob("*.png"))
    assert 1 <= len(done) < 40
    for p in done:  # every output left behind is complete
        Image.open(p).load()
    assert no_temp_files(out) and digests(tmp_path / "in") == before


def test_empty_and_non_image_stdin(tmp_path, run) -> None:
    code, _, err = run("-", "-o", str(tmp_path / "o.png"), *BICUBIC, stdin=b"")
    assert code == 1 and "stdin is empty" in err
    code, _, err = run("-", "-o", str(tmp_path / "o.png"), *BICUBIC, stdin=b"plain text")
    assert code == 1 and "<stdin>" in err
    assert os.listdir(tmp_path) == []


def test_a_device_is_never_replaced(run, tmp_path) -> None:
    src = str(image_file(tmp_path / "a.png"))
    code, _, err = run(src, "-o", "/dev/null", "--overwrite", *BICUBIC)
    assert code == 2 and "/dev/null is not a folder" in err  # no extension: -o names a folder
    os.mkfifo(tmp_path / "fifo.png")
    code, _, err = run(src, "-o", str(tmp_path / "fifo.png"), "--overwrite", *BICUBIC)
    assert code == 1 and "not a regular file" in err
    assert Path("/dev/null").is_char_device() and (tmp_path / "fifo.png").is_fifo()


@pytest.mark.parametrize("scale", ["0", "-1", "nan", "inf", "1000"])
def test_absurd_scales_are_usage_errors(tmp_path, run, scale) -> None:
    code, _, err = run(str(image_file(tmp_path / "a.png")), "-s", scale, *BICUBIC)
    assert code == 2 and "Error" in err
    assert os.listdir(tmp_path) == ["a.png"]


@pytest.mark.parametrize("bad", ["shape", "nan", "even"])
def test_invalid_kernel_files_are_named(tmp_path, run, bad) -> None:
    k = {"shape": np.ones((3, 5)), "nan": np.full((3, 3), np.nan), "even": np.ones((4, 4)) / 16}[
        bad
    ]
    np.save(tmp_path / "k.npy", k.astype(np.float32))
    code, _, err = run(str(image_file(tmp_path / "a.png")), "--kernel", str(tmp_path / "k.npy"))
    assert code == 2 and "k.npy" in err


def test_debug_shows_the_traceback_and_keeps_the_exit_code(tmp_path, capsys, monkeypatch) -> None:
    from nssr_cli.cli.common import state

    monkeypatch.setitem(state, "debug", False)  # restored after the test
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.png").write_bytes(b"")
    code, _, err = nssr(["--debug", "upscale", str(tmp_path), *BICUBIC], capsys, monkeypatch)
    assert code == 1 and "Traceback" in err and "not upscaled" in err, err
    code, _, err = nssr(["--debug", "upscale", str(tmp_path / "nope.png")], capsys, monkeypatch)
    assert code == 2 and "Traceback" in err and "no such file" in err, err


def test_outputs_get_the_permissions_any_new_file_would(tmp_path, run) -> None:
    """Written via a private temp file, but the result is not left private (0600)."""
    image_file(tmp_path / "a.png")
    mask = os.umask(0)
    os.umask(mask)
    code, _, err = run(str(tmp_path / "a.png"), *BICUBIC)
    assert code == 0, err
    assert (tmp_path / "a_x2.png").stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_file_name_cannot_break_a_message_into_lines_or_reach_the_terminal(
    cli, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    picture(folder / "ok.png")
    (folder / "a\nError: ok.png: disk on fire.png").write_bytes(b"x")
    (folder / "b\x1b[31m.png").write_bytes(b"x")
    proc = cli("upscale", str(folder), "-o", str(tmp_path / "out"), "--kernel", "bicubic", "-v")
    err = clean(proc)
    assert proc.returncode == 1
    assert "\x1b" not in err and "\\x1b[31m.png" in err
    lines = err.splitlines()
    assert sum(line.startswith(f"Error: {folder}") for line in lines) == 2, err
    assert not any(line.startswith("Error: ok.png") for line in lines)
    assert any("a\\nError: ok.png" in line for line in lines)
