"""Shared fixtures: every test is seeded and gets its own cache folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    monkeypatch.setenv("NSSR_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    # a command run in this process sets Pillow's pixel limit for the process (as it should for
    # a program); the next test starts from Pillow's own
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request: pytest.FixtureRequest) -> str:
    """Runs a test on the CPU, and again on CUDA where a GPU exists."""
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    return request.param


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """``cli(*args)``: ``nssr ARGS`` in this process, through ``main()`` (so errors map to exit
    codes), as a CompletedProcess. Faster than a program; for what needs no real process."""
    from test_cli_upscale import nssr as run_main

    def go(*args: str) -> subprocess.CompletedProcess[bytes]:
        code, out, err = run_main(list(args), capsys, monkeypatch)
        return subprocess.CompletedProcess(list(args), code, out.encode(), err.encode())

    return go


Unprivileged = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def unprivileged() -> Iterator[tuple[Path, Unprivileged]]:
    """A folder anyone may enter, and a runner of ``nssr`` as an ordinary user.

    Permission checks mean nothing as root (root reads and writes whatever the permissions), and
    CI runs as root: there the command drops to ``nobody`` with ``setpriv``. Skips (saying why)
    where that is impossible."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv is not available to drop privileges")
        prefix = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        probe = subprocess.run([*prefix, sys.executable, "-c", "import nssr_cli"], timeout=60)
        if probe.returncode != 0:
            pytest.skip("user nobody cannot run this Python and nssr (install permissions)")
    folder = Path(tempfile.mkdtemp(prefix="nssr-perm-"))
    folder.chmod(0o755)

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*prefix, sys.executable, "-m", "nssr_cli", *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=folder,
            env={**os.environ, **(env or {})},
        )

    try:
        yield folder, run
    finally:
        for p in folder.rglob("*"):  # give back what a test locked, so it can be removed
            if p.is_dir() and not p.is_symlink():
                p.chmod(0o755)
        shutil.rmtree(folder, ignore_errors=True)
