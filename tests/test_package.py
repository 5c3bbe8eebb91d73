"""The wheel ships the weights, and the installed package finds them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_contains_the_weights(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    wheel = next(tmp_path.glob("nssr-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "nssr_cli/weights/dil.pt",
        "nssr_cli/weights/dil.npy",
        "nssr_cli/weights/dil.json",
    } <= names
    shipped = {
        p.relative_to(ROOT / "weights").as_posix()
        for p in (ROOT / "weights").rglob("*")
        if p.is_file()
    }
    assert {f"nssr_cli/weights/{n}" for n in shipped} <= names
    assert any(n.endswith("entry_points.txt") for n in names)
