"""SIGTERM and Ctrl-C: exit 143/130, no temp file left, finished outputs kept, a true message;
stale temp files of a killed nssr cleaned by the next run."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers_cli import (
    BICUBIC,
    HOLD_LATER_OUTPUTS,
    clean,
    default_signals,
    hooked_argv,
    nssr_hooked,
    picture,
    temp_files,
)
from PIL import Image


def test_sigterm_mid_batch_exits_143_and_leaves_no_temp_file(tmp_path: Path) -> None:
    for i in range(40):
        picture(tmp_path / "in" / f"{i:02d}.png", 96, 96)
    out, signalled = tmp_path / "out", tmp_path / "signalled"
    # every output after the first waits for the signal: the batch is surely mid-way
    argv = hooked_argv(HOLD_LATER_OUTPUTS, str(signalled), "upscale", str(tmp_path / "in"),
                       "-s", "4", "-o", str(out), "-j", "1", *BICUBIC)  # fmt: skip
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=default_signals
    )
    deadline = time.monotonic() + 60
    while not (out.exists() and any(out.glob("*.png"))) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert any(out.glob("*.png")), "no output within 60 s"
    proc.send_signal(signal.SIGTERM)
    signalled.touch()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, (proc.returncode, err.decode())
    assert b"Traceback" not in err
    done = sorted(out.glob("*.png"))
    assert 1 <= len(done) < 40
    for p in done:
        Image.open(p).load()
    assert not temp_files(tmp_path)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_write_gets_a_true_message(tmp_path: Path, sig: int) -> None:
    src = picture(tmp_path / "a.png")
    out = tmp_path / "a_x2.png"
    # the signal arrives the moment the output's bytes are in its temp file (a big PNG's
    # encode just ended); the main thread handles it while the writer sleeps
    hook = f"os.kill(os.getpid(), {int(sig)}); time.sleep(1.0)"
    proc = nssr_hooked(hook, str(out), "upscale", str(src), *BICUBIC, preexec_fn=default_signals)
    err = clean(proc)
    assert proc.returncode == 128 + sig, (proc.returncode, err)
    assert not temp_files(tmp_path)
    if out.exists():
        Image.open(out).load()
        assert "removed" not in err and "discarded" not in err, err
    else:
        assert "kept" not in err or "0 finished" in err, err


def test_a_rerun_removes_temp_files_of_a_killed_nssr(tmp_path: Path) -> None:
    """A SIGKILLed nssr cannot clean up. Its temp files carry its PID; the next run into the
    same folder removes those whose process is gone, and nothing else."""
    from nssr_cli.files import atomic  # the naming rule lives with the publishing rule

    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = out / atomic.temp_name(dead.pid)
    alive = out / atomic.temp_name(1)  # PID 1 always exists
    foreign = out / ".a.png.x1y2.tmp"
    for p in (stale, alive, foreign):
        p.write_bytes(b"partial")
    src = picture(tmp_path / "a.png")
    proc = subprocess.run(
        [sys.executable, "-m", "nssr_cli", "upscale", str(src), "-o", str(out), *BICUBIC],
        capture_output=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, clean(proc)
    assert not stale.exists() and alive.exists() and foreign.exists()


def test_ctrl_c_while_reading_a_stdin_that_never_ends_exits_130(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nssr_cli", "upscale", "-", "-o", str(tmp_path / "x.png"),
         *BICUBIC],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        preexec_fn=default_signals,
    )  # fmt: skip

    sent = [0]

    def trickle() -> None:  # a stream that never ends and never grows big (not /dev/zero)
        with contextlib.suppress(OSError, ValueError):
            while proc.poll() is None:
                proc.stdin.write(b"\0" * 65536)  # type: ignore[union-attr]
                proc.stdin.flush()  # type: ignore[union-attr]
                sent[0] += 65536
                time.sleep(0.01)

    threading.Thread(target=trickle, daemon=True).start()
    deadline = time.monotonic() + 60
    while sent[0] < 2 << 20 and time.monotonic() < deadline:  # more than a pipe holds: nssr
        time.sleep(0.05)  # is reading stdin, past its imports
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    finally:
        proc.kill()
    err = proc.stderr.read()  # type: ignore[union-attr]
    assert proc.returncode == 130, err.decode()
    assert b"Traceback" not in err and list(tmp_path.iterdir()) == []
