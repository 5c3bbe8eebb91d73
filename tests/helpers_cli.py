"""Running ``nssr`` as a real program for the black-box reliability tests (signals, closed and
full streams, terminals, races), and what those tests check after every run."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

BICUBIC = ["--kernel", "bicubic"]


def nssr(*args: str, timeout: float = 120, **kw: object) -> subprocess.CompletedProcess[bytes]:
    """``python -m nssr_cli ARGS`` with stdin from /dev/null and stdout/stderr captured."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(  # type: ignore[call-overload]
        [sys.executable, "-m", "nssr_cli", *args], timeout=timeout, **kw
    )


# Runs nssr with os.fsync wrapped: the first call (an output's bytes are in its temp file, not
# yet published) first runs the Python code in argv[1], with ``target`` = argv[2].
_HOOKED = """
import os, runpy, signal, sys, time
hook, target = sys.argv.pop(1), sys.argv.pop(1)
real_fsync, calls = os.fsync, []

def fsync(fd):
    calls.append(fd)
    if len(calls) == 1:
        exec(hook)
    real_fsync(fd)

os.fsync = fsync
sys.argv[0] = "nssr"
runpy.run_module("nssr_cli", run_name="__main__")
"""


def hooked_argv(hook: str, target: str, *args: str) -> list[str]:
    """The command line of :func:`nssr_hooked`, for a ``Popen``."""
    return [sys.executable, "-c", _HOOKED, hook, target, *args]


# A hook: every later output waits, before its bytes are made durable, until ``target`` exists
# (the test creates it once it has done what must come first); 60 s at most.
HOLD_LATER_OUTPUTS = """
def _later(fd, _real=real_fsync):
    import stat
    if stat.S_ISREG(os.fstat(fd).st_mode):
        deadline = time.time() + 60
        while not os.path.exists(target) and time.time() < deadline:
            time.sleep(0.01)
    _real(fd)
os.fsync = _later
"""


def nssr_hooked(
    hook: str, target: str, *args: str, **kw: object
) -> subprocess.CompletedProcess[bytes]:
    """``nssr ARGS`` where ``hook`` runs in the writing thread just before the first output is
    published: the moment a signal or another program can hurt most."""
    kw.setdefault("capture_output", True)
    return subprocess.run(  # type: ignore[call-overload]
        [sys.executable, "-c", _HOOKED, hook, target, *args], timeout=120, **kw
    )


def picture(path: Path, h: int = 12, w: int = 16, mode: str = "RGB") -> Path:
    """A noise image (``RGB``, ``RGBA`` or ``L``) saved as PNG at ``path`` whatever its name."""
    rng = np.random.default_rng(len(str(path)))
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    arr = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr[:, :, 0] if channels == 1 else arr, mode).save(path, "PNG")
    return path


def clean(proc: subprocess.CompletedProcess[bytes]) -> str:
    """stderr as text, after checking that no traceback or internal error reached the user."""
    err = proc.stderr.decode()
    assert "Traceback" not in err and "internal error" not in err, err
    return err


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def default_signals() -> None:
    """``preexec_fn`` for a child that must see Ctrl-C and SIGTERM: a shell runs background jobs
    with SIGINT ignored, and Python then leaves it ignored (as ``nohup`` wants), so a test run
    in the background would otherwise find the signal had no effect."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
