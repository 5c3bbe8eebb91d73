"""``nssr eval`` end to end on two tiny synthetic HR images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from nssr_cli.cli import app
from nssr_cli.synth.scenes import dead_leaves


@pytest.fixture
def hr_dir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        img = np.stack([dead_leaves(48, rng) for _ in range(3)], axis=-1)
        Image.fromarray((img * 255).round().astype(np.uint8)).save(tmp_path / f"{name}.png")
    return tmp_path


def test_eval_cli_json_table_and_compare(hr_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    args = [
        "eval",
        str(hr_dir),
        "-s",
        "2",
        "-s",
        "4",
        "-k",
        "auto",
        "-k",
        "bicubic",
        "--compare",
        str(out),
        "--json",
        "-v",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout.strip().splitlines()[-1])
    means = doc["means"]
    assert len(means) == 2 * 2 * 2  # protocols × scales × methods (bicubic listed once)
    assert {m["images"] for m in means} == {2}
    assert {s["image"] for s in doc["scores"]} == {"a", "b"}
    by = {(m["protocol"], m["scale"], m["method"]): m for m in means}
    assert by[("classic", 2, "bicubic")]["psnr"] > 20
    assert len(list(out.glob("*.png"))) == 2 * 2 * 2


def test_eval_rejects_unknown_scale_and_missing_paths(tmp_path: Path) -> None:
    from nssr_cli.cli import main  # noqa: F401  (imports fine)
    from nssr_cli.errors import NssrError

    runner = CliRunner()
    res = runner.invoke(app, ["eval", str(tmp_path / "nope.png")])
    assert isinstance(res.exception, NssrError)
    res = runner.invoke(app, ["eval", str(tmp_path), "-s", "5"])
    assert isinstance(res.exception, NssrError)


def test_eval_without_scikit_image_says_how_to_install_it(hr_dir, monkeypatch, capsys) -> None:
    import sys

    from test_cli_upscale import nssr

    monkeypatch.setitem(sys.modules, "skimage", None)  # as if not installed
    code, out, err = nssr(["eval", str(hr_dir), "-s", "2"], capsys, monkeypatch)
    assert code == 2 and out == ""
    assert "pip install 'nssr[eval]'" in err and "internal error" not in err
