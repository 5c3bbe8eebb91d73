"""Shared fixtures: every test is seeded and gets its own cache folder."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    monkeypatch.setenv("NSSR_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


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
