"""stdin and stdout as nssr's input and output: formats, terminals, closed and full streams,
unbounded input, a reader that goes away, and --json beside a terminal progress bar."""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import threading
import time
from pathlib import Path

import pytest
from helpers_cli import BICUBIC, HOLD_LATER_OUTPUTS, clean, hooked_argv, nssr, picture
from PIL import Image


def test_stdout_gets_the_inputs_format_unless_f(tmp_path: Path) -> None:
    src = tmp_path / "a.jpg"
    picture(tmp_path / "a.png")
    Image.open(tmp_path / "a.png").save(src)
    proc = nssr("upscale", "-", "-o", "-", *BICUBIC, stdin=src.open("rb"))
    assert proc.returncode == 0, clean(proc)
    assert Image.open(io.BytesIO(proc.stdout)).format == "JPEG"
    proc = nssr("upscale", str(src), "-o", "-", "-f", "png", *BICUBIC)
    assert proc.returncode == 0, clean(proc)
    assert Image.open(io.BytesIO(proc.stdout)).format == "PNG"


def test_a_terminal_on_stdin_is_refused(tmp_path: Path) -> None:
    leader, follower = os.openpty()
    try:
        proc = nssr("upscale", "-", "-o", str(tmp_path / "x.png"), *BICUBIC, stdin=follower,
                    timeout=60)  # fmt: skip
    finally:
        os.close(follower)
        os.close(leader)
    err = clean(proc)
    assert proc.returncode == 2 and "terminal" in err, err
    assert list(tmp_path.iterdir()) == []


def _cap_memory() -> None:
    """Today nssr reads /dev/zero until memory runs out: keep that from hurting the machine."""
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def test_unbounded_stdin_is_cut_off_by_max_pixels(tmp_path: Path) -> None:
    with open("/dev/zero", "rb") as zero:
        proc = nssr("upscale", "-", "-o", str(tmp_path / "x.png"), *BICUBIC, "--max-pixels",
                    "1000", stdin=zero, preexec_fn=_cap_memory, timeout=120)  # fmt: skip
    err = clean(proc)
    assert proc.returncode == 1 and "<stdin>" in err and "--max-pixels" in err, err
    assert list(tmp_path.iterdir()) == []


def test_closed_stdin_or_stdout_is_one_clear_line(tmp_path: Path) -> None:
    src = picture(tmp_path / "a.png")
    closed_out = nssr("upscale", str(src), "-o", "-", *BICUBIC, stdout=None,
                      preexec_fn=lambda: os.close(1))  # fmt: skip
    closed_in = nssr("upscale", "-", "-o", str(tmp_path / "x.png"), *BICUBIC,
                     preexec_fn=lambda: os.close(0))  # fmt: skip
    for proc, what in ((closed_out, "output"), (closed_in, "input")):
        err = clean(proc)
        assert proc.returncode == 2 and f"standard {what}" in err, err
        assert len(err.strip().splitlines()) == 1, err
    # a closed stream that the command does not use is no reason to fail
    proc = nssr("upscale", str(src), *BICUBIC, "-q", stdout=None, preexec_fn=lambda: os.close(1))
    assert proc.returncode == 0, clean(proc)


@pytest.mark.parametrize(
    "args",
    [
        ["train", "-q", "--kernels", "8", "--epochs", "1", "-o", "{tmp}/ck.pt"],
        ["export-kernel", "-o", "{tmp}/k.npy"],
        ["eval", "{tmp}/hr.png", "-s", "2", "--protocol", "classic", "--no-oracle"],
    ],
    ids=["train", "export-kernel", "eval"],
)
def test_json_into_a_closed_stdout_is_refused_before_any_work(tmp_path: Path, args) -> None:
    picture(tmp_path / "hr.png", 32, 32)
    args = [a.format(tmp=tmp_path) for a in args]
    proc = nssr(*args, "--json", stdout=None, preexec_fn=lambda: os.close(1))
    err = clean(proc)
    assert proc.returncode == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("Error: standard output is closed") and "--json" in err, err
    assert [p.name for p in tmp_path.iterdir()] == ["hr.png"]  # nothing trained or written


@pytest.mark.parametrize("unbuffered", ["", "1"])
def test_stdout_that_takes_part_of_an_image_is_never_success(
    tmp_path: Path, unbuffered: str
) -> None:
    """A file-size limit cuts the image short. With PYTHONUNBUFFERED, stdout is a raw file whose
    write takes what fits and says so: the rest must still be written, or the run must fail."""
    src = picture(tmp_path / "a.png", 120, 160)
    limit = 20_000  # the ×4 PNG of noise is far larger
    env = {**os.environ, "PYTHONUNBUFFERED": unbuffered}

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    with open(tmp_path / "out.png", "wb") as out:
        args = ("upscale", str(src), "-s", "4", "-o", "-", *BICUBIC)
        proc = nssr(*args, stdout=out, env=env, preexec_fn=limited)
    err = clean(proc)
    assert (tmp_path / "out.png").stat().st_size <= limit
    assert proc.returncode == 1 and "standard output" in err, err
    assert len(err.strip().splitlines()) == 1, err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full (Linux has one)")
def test_a_full_stdout_is_one_clear_line(tmp_path: Path) -> None:
    src = picture(tmp_path / "a.png")
    with open("/dev/full", "wb") as full:
        image = nssr("upscale", str(src), "-o", "-", *BICUBIC, stdout=full)
        report = nssr("upscale", str(src), "-o", str(tmp_path / "o.png"), *BICUBIC, "--json",
                      stdout=full)  # fmt: skip
    for proc in (image, report):
        err = clean(proc)
        assert proc.returncode == 1 and "standard output" in err, err
        assert len(err.strip().splitlines()) == 1, err


def _batch(folder: Path, n: int) -> Path:
    for i in range(n):
        picture(folder / f"{i:02d}.png", 64, 64)
    return folder


def test_a_batch_whose_reader_goes_away_does_not_report_success(tmp_path: Path) -> None:
    """The reader leaves after the first line; the second output waits until it has gone (so
    a fast machine cannot finish the batch into the pipe's buffer first)."""
    src = _batch(tmp_path / "in", 30)
    gone = tmp_path / "reader-gone"
    argv = hooked_argv(HOLD_LATER_OUTPUTS, str(gone), "upscale", str(src), "-o",
                       str(tmp_path / "out"), "--json", "-j", "1", *BICUBIC)  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # `| head -1`
    gone.touch()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert json.loads(first)["status"] == "done"
    assert "Traceback" not in err and "internal error" not in err, err
    done = len(list((tmp_path / "out").glob("*.png")))
    assert proc.returncode in (1, 141), (proc.returncode, done, err)
    assert done < 30 and not list((tmp_path / "out").glob("*.tmp"))


def test_json_goes_to_stdout_while_stderr_is_a_terminal(tmp_path: Path) -> None:
    src = _batch(tmp_path / "in", 3)
    leader, follower = os.openpty()
    shown: list[bytes] = []

    def drain() -> None:  # a terminal that nobody reads would block the progress bar
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                return
            if not chunk:
                return
            shown.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc = nssr("upscale", str(src), "-o", str(tmp_path / "out"), "--json", *BICUBIC,
                    stderr=follower)  # fmt: skip
    finally:
        os.close(follower)
        time.sleep(0.1)
        os.close(leader)
    assert proc.returncode == 0, b"".join(shown)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["status"] for r in rows] == ["done"] * 3
