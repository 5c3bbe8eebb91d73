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
    assert len(means) == 2 * 2 * 3  # protocols × scales × (bicubic, auto, the oracle)
    assert {m["images"] for m in means} == {2}
    assert {s["image"] for s in doc["scores"]} == {"a", "b"}
    by = {(m["protocol"], m["scale"], m["method"]): m for m in means}
    assert by[("classic", 2, "bicubic")]["psnr"] > 20
    summary = {(r["protocol"], r["scale"], r["method"]): r for r in doc["summary"]}
    assert len(summary) == 2 * 2 * 2 and {r["worst_image"] for r in doc["summary"]} <= {"a", "b"}
    for (protocol, scale, _), row in summary.items():
        # the oracle picks the best bank entry per image: never below auto's mean
        assert row["oracle"] == summary[(protocol, scale, "oracle")]["gain"]
        assert row["worst"] <= row["gain"] <= summary[(protocol, scale, "oracle")]["gain"] + 1e-9
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


def test_jpeg_and_noisy_protocols_degrade_the_lr_as_real_files_do(hr_dir: Path) -> None:
    from nssr_cli.quality.evaluation import load_rgb, make_lr, protocol_names

    assert protocol_names("jpeg") == [
        f"{b}+jpeg{q}" for b in ("div2krk", "classic") for q in (75, 85, 95)
    ]
    assert len(protocol_names("all")) == 12 and protocol_names("classic") == ["classic"]
    hr = load_rgb(hr_dir / "a.png")
    clean, info = make_lr(hr, 2, "classic", "a")
    assert info == {}
    jpeg, info = make_lr(hr, 2, "classic+jpeg75", "a")
    assert len(info["quantization"]) == 64 and jpeg.shape == clean.shape
    noisy, _ = make_lr(hr, 2, "classic+noise5", "a")
    again, _ = make_lr(hr, 2, "classic+noise5", "a")
    np.testing.assert_array_equal(noisy, again)  # a fixed seed per image, scale and σ
    assert 3 < np.std(noisy.astype(float) - clean) < 7
