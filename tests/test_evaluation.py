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
    assert len(means) == 2 * 2 * 4  # protocols × scales × (bicubic, auto, oracle, reach)
    assert {m["images"] for m in means} == {2}
    assert {s["image"] for s in doc["scores"]} == {"a", "b"}
    by = {(m["protocol"], m["scale"], m["method"]): m for m in means}
    assert by[("classic", 2, "bicubic")]["psnr"] > 20
    summary = {(r["protocol"], r["scale"], r["method"]): r for r in doc["summary"]}
    assert len(summary) == 2 * 2 * 3 and {r["worst_image"] for r in doc["summary"]} <= {"a", "b"}
    for (protocol, scale, _), row in summary.items():
        assert row["oracle"] == summary[(protocol, scale, "oracle")]["gain"]
        assert row["reach"] == summary[(protocol, scale, "reach")]["gain"]
        assert row["worst"] <= row["gain"]
    scores = {(s["protocol"], s["scale"], s["method"], s["image"]): s for s in doc["scores"]}
    for (protocol, scale, method, image), s in scores.items():
        if method != "auto":
            continue
        # reach is the best of what auto may choose: never below auto, never above the oracle
        # when auto's choices are bank entries (a clean input's none/light/medium)
        best = scores[(protocol, scale, "reach", image)]
        assert best["psnr"] >= s["psnr"] - 1e-9
        assert best["kernel"] == "bicubic" or best["kernel"].startswith(f"x{scale}-")
        if best["kernel"].split("-", 1)[-1] in ("none", "light", "medium"):
            assert best["psnr"] <= scores[(protocol, scale, "oracle", image)]["psnr"] + 1e-9
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


def _dead_leaves_png(path: Path, seed: int, size: int = 48) -> Path:
    rng = np.random.default_rng(seed)
    img = np.stack([dead_leaves(size, rng) for _ in range(3)], axis=-1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((img * 255).round().astype(np.uint8)).save(path)
    return path


def test_bad_images_are_one_line_each_and_the_rest_is_scored(hr_dir, capsys, monkeypatch):
    import os

    from helpers_images import bomb_png
    from test_cli_upscale import nssr

    good = sorted(hr_dir.glob("*.png"))
    (hr_dir / "empty.png").write_bytes(b"")
    (hr_dir / "cut.png").write_bytes(good[0].read_bytes()[:200])
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(hr_dir / "tiny.png")
    (hr_dir / "bomb.png").write_bytes(bomb_png())
    (hr_dir / "ps.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n")
    (hr_dir / "d.png").mkdir()  # a folder with an image's name: not an image
    os.mkfifo(hr_dir / "pipe.png")  # reading it would block: never opened from a folder walk
    code, out, err = nssr(
        ["eval", str(hr_dir), "-s", "2", "--protocol", "classic", "--json"], capsys, monkeypatch
    )
    errors = [line for line in err.splitlines() if line.startswith("Error: ")]
    bad = ("empty.png", "cut.png", "tiny.png", "bomb.png", "ps.png")  # ps: never Ghostscript
    assert code == 1 and len(errors) == len(bad) + 1, err  # + the closing summary
    assert all(any(name in line for line in errors) for name in bad)
    assert "Traceback" not in err and "internal error" not in err
    doc = json.loads(out)
    assert {s["image"] for s in doc["scores"]} == {"a", "b"} and len(doc["failed"]) == len(bad)


@pytest.mark.parametrize("what", ["fifo", "device"])
def test_a_named_fifo_or_device_fails_without_blocking(tmp_path: Path, what: str) -> None:
    import os
    import subprocess
    import sys

    path = tmp_path / "x.png"
    if what == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    result = subprocess.run(
        [sys.executable, "-m", "nssr_cli", "eval", str(path), "-s", "2", "--protocol", "classic"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and f"Error: {path}: is a" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_compare_pointing_at_a_file_is_a_usage_error(hr_dir, tmp_path, capsys, monkeypatch):
    from test_cli_upscale import nssr

    (tmp_path / "crops").write_text("a file")
    code, _, err = nssr(
        ["eval", str(hr_dir), "-s", "2", "--compare", str(tmp_path / "crops")], capsys, monkeypatch
    )
    assert code == 2 and err.strip().splitlines() == [err.strip()] and "crops" in err


def test_compare_into_a_missing_folder_is_refused_not_created(
    hr_dir, tmp_path, capsys, monkeypatch
):
    """`--compare nodir/sub` with no `nodir`: one line, exit 2, nothing made (a typo is not
    created, as for `train -o`); `--compare crops` beside existing folders is made."""
    from test_cli_upscale import nssr

    args = ["eval", str(hr_dir), "-s", "2", "--protocol", "classic", "--no-oracle", "--compare"]
    code, _, err = nssr([*args, str(tmp_path / "nodir" / "sub")], capsys, monkeypatch)
    assert code == 2 and err.strip().splitlines() == [err.strip()], err
    assert f"{tmp_path / 'nodir'}: no such folder" in err and not (tmp_path / "nodir").exists()
    code, _, err = nssr([*args, str(tmp_path / "crops")], capsys, monkeypatch)
    assert code == 0 and any((tmp_path / "crops").iterdir()), err


def test_same_stems_get_distinct_scores_and_crops(tmp_path: Path) -> None:
    a = _dead_leaves_png(tmp_path / "one" / "x.png", 1)
    b = _dead_leaves_png(tmp_path / "two" / "x.png", 2)
    args = ["eval", str(a), str(b), "-s", "2", "--protocol", "classic", "-k", "bicubic"]
    result = CliRunner().invoke(app, [*args, "--compare", str(tmp_path / "c"), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout.strip().splitlines()[-1])
    assert sorted(s["image"] for s in doc["scores"] if s["method"] == "bicubic") == ["x", "x-2"]
    crops = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert crops == ["x-2-classic-x2.png", "x-classic-x2.png"]


def test_a_renamed_duplicate_never_takes_another_inputs_name(tmp_path: Path) -> None:
    """`a/x.png`, `b/x.png` and `c/x-2.png`: the user's x-2 keeps its name, b/x becomes x-3,
    and every JSON row names the file it scores."""
    files = [_dead_leaves_png(tmp_path / d / f"{n}.png", i) for i, (d, n) in
             enumerate([("a", "x"), ("b", "x"), ("c", "x-2")])]  # fmt: skip
    args = ["eval", *map(str, files), "-s", "2", "--protocol", "classic", "--no-oracle"]
    result = CliRunner().invoke(app, [*args, "--compare", str(tmp_path / "cmp"), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout.strip().splitlines()[-1])["scores"]
    expected = {"x": str(files[0]), "x-3": str(files[1]), "x-2": str(files[2])}
    assert {r["image"]: r["path"] for r in rows} == expected
    alone = CliRunner().invoke(app, [args[0], str(files[2]), *args[4:], "--json"])
    by_itself = json.loads(alone.stdout.strip().splitlines()[-1])["scores"]
    assert [r["psnr"] for r in rows if r["image"] == "x-2"] == [r["psnr"] for r in by_itself]
    crops = {p.name for p in (tmp_path / "cmp").iterdir()}
    assert crops == {f"{n}-classic-x2.png" for n in ("x", "x-2", "x-3")}


def test_json_stays_valid_for_a_perfect_score(tmp_path: Path) -> None:
    Image.fromarray(np.full((24, 24, 3), 128, np.uint8)).save(tmp_path / "flat.png")
    args = ["eval", str(tmp_path / "flat.png"), "-s", "2", "--protocol", "classic"]
    result = CliRunner().invoke(app, [*args, "-k", "bicubic", "--json"])
    assert result.exit_code == 0, result.output

    def refuse(token: str) -> None:
        raise AssertionError(f"{token} is not JSON")

    doc = json.loads(result.stdout.strip().splitlines()[-1], parse_constant=refuse)
    assert doc["scores"][0]["psnr"] == 100.0 and doc["means"][0]["psnr"] == 100.0  # the cap
    assert doc["scores"][0]["ssim"] == pytest.approx(1.0)


def test_jpeg_and_noisy_protocols_degrade_the_lr_as_real_files_do(hr_dir: Path) -> None:
    from nssr_cli.quality.evaluation import load_rgb
    from nssr_cli.quality.protocols import make_lr, protocol_names

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


def test_the_downscalers_protocols_are_sharp_inputs_from_other_filters(hr_dir: Path) -> None:
    from nssr_cli.quality.evaluation import load_rgb
    from nssr_cli.quality.protocols import make_lr, protocol_names

    assert protocol_names("downscalers") == ["bilinear", "hamming", "lanczos", "box"]
    assert "bilinear" not in protocol_names("all")  # `all` stays the twelve of the bars
    hr = load_rgb(hr_dir / "a.png")
    lr = {p: make_lr(hr, 2, p, "a")[0].astype(float) for p in ("classic", "bilinear", "box")}
    assert all(x.shape == lr["classic"].shape for x in lr.values())

    def detail(x: np.ndarray) -> float:  # energy of the finest differences
        return float(np.mean(np.diff(x, axis=1) ** 2) + np.mean(np.diff(x, axis=0) ** 2))

    # a triangle filter has no negative lobes and its response falls early: softer than the
    # classic (bicubic) input; a box averages each 2×2 cell and no more: sharper
    assert detail(lr["bilinear"]) < 0.8 * detail(lr["classic"]) < 0.8 * detail(lr["box"])


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_every_size_is_either_scored_or_refused_in_one_line(tmp_path: Path, scale: int) -> None:
    """The smallest scorable side is what SSIM's 11×11 window needs after the border crop; a
    side just below it is refused, never an internal error that loses the run."""
    from nssr_cli.quality.evaluation import evaluate, min_side

    need = min_side(scale)
    rng = np.random.default_rng(scale)
    for side in (need - 1, need):
        img = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        Image.fromarray(img).save(tmp_path / f"s{side}.png")
    report = evaluate(sorted(tmp_path.glob("*.png")), methods=["bicubic"], scales=[scale],
                      protocols=["classic"], with_oracle=False)  # fmt: skip
    assert [s.image for s in report.scores] == [f"s{need}"]
    assert len(report.failed) == 1 and "too small" in report.failed[0]


def test_an_image_too_small_for_one_scale_is_left_out_of_that_scale_only(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    """17×17 scores at ×2 (16 needed) but not at ×3 (18): one line names ×3, ×2 is scored, and
    the exit code is 1 as for any image left out."""
    from test_cli_upscale import nssr

    img = np.random.default_rng(3).integers(0, 256, (17, 17, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "s17.png")
    args = ["eval", str(tmp_path), "-s", "2", "-s", "3", "--protocol", "classic", "--no-oracle"]
    code, out, err = nssr([*args, "--json"], capsys, monkeypatch)
    doc = json.loads(out)
    assert code == 1 and {s["scale"] for s in doc["scores"]} == {2} and not doc["failed"], err
    (line,) = [x for x in err.splitlines() if "s17.png" in x]
    assert "at ×3 (at least 18×18 pixels); scored at ×2 only" in line, err
    assert doc["skipped_scales"] == [line.removeprefix("Error: ")], err


def test_an_image_every_method_reproduces_exactly_gains_nothing(hr_dir: Path) -> None:
    """A flat image: bicubic and every kernel give it back exactly (PSNR capped at 100 dB). Its
    gain is 0, and the other images' means stay numbers."""
    from nssr_cli.quality.evaluation import evaluate

    Image.fromarray(np.full((48, 48, 3), 90, np.uint8)).save(hr_dir / "flat.png")
    report = evaluate(sorted(hr_dir.glob("*.png")), methods=["bicubic", "x2-medium"], scales=[2],
                      protocols=["classic"], with_oracle=False)  # fmt: skip
    (row,) = [r for r in report.summary() if r["method"] == "x2-medium"]
    assert row["images"] == 3 and np.isfinite(row["gain"]) and np.isfinite(row["worst"])
    flat = [s for s in report.scores if s.image == "flat"]
    assert all(s.psnr == 100.0 for s in flat)


def test_one_exact_image_leaves_every_mean_and_gain_a_number(hr_dir: Path, tmp_path) -> None:
    """Bicubic gives a flat image back exactly, a kernel of sum 0.95 does not: the means and
    the kernel's gain and worst image stay numbers (PSNR is capped at 100 dB), not inf/null."""
    Image.fromarray(np.full((48, 48, 3), 90, np.uint8)).save(hr_dir / "flat.png")
    np.save(tmp_path / "dim.npy", np.array([[0.95]], np.float32))
    args = [
        "eval",
        str(hr_dir),
        "-s",
        "2",
        "--protocol",
        "classic",
        "-k",
        str(tmp_path / "dim.npy"),
    ]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout.strip().splitlines()[-1])
    means = {r["method"]: r["psnr"] for r in doc["means"]}
    assert all(isinstance(v, float) for v in means.values()) and means["bicubic"] < 100, means
    (row,) = [r for r in doc["summary"] if r["method"].endswith("dim.npy")]
    assert isinstance(row["gain"], float) and isinstance(row["worst"], float), row
    assert row["worst_image"] == "flat" and -100 < row["worst"] < 0, row


def test_every_kernel_eval_names_is_one_kernel_takes(hr_dir: Path) -> None:
    """A noisy input's reach is plain bicubic: shown as `bicubic`, which `--kernel` takes (it
    was `x2-bicubic`, which `--kernel` refused), as is every kernel eval names."""
    from nssr_cli.kernels.files import resolve_kernel

    args = ["eval", str(hr_dir), "-s", "2", "--protocol", "noisy", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout.strip().splitlines()[-1])["scores"]
    assert "bicubic" in {r["kernel"] for r in rows if r["method"] == "reach"}
    for name in {r["kernel"] for r in rows}:
        resolve_kernel(name)


def test_compare_into_a_folder_that_takes_no_files_stops_before_scoring(hr_dir: Path) -> None:
    from nssr_cli.errors import UsageError
    from nssr_cli.quality.evaluation import evaluate

    with pytest.raises(UsageError, match="cannot"):
        evaluate(sorted(hr_dir.glob("*.png")), methods=["bicubic"], scales=[2],
                 protocols=["classic"], compare_dir=Path("/proc"))  # fmt: skip


def test_a_scale_given_twice_is_scored_once(hr_dir: Path) -> None:
    from nssr_cli.quality.evaluation import evaluate

    report = evaluate(sorted(hr_dir.glob("*.png")), methods=["bicubic"], scales=[2, 2],
                      protocols=["classic"], with_oracle=False)  # fmt: skip
    assert len(report.scores) == 2


def test_a_folder_without_images_is_named_in_the_error(tmp_path: Path) -> None:
    from nssr_cli.errors import UsageError
    from nssr_cli.quality.evaluation import find_images

    (tmp_path / "notes.txt").write_text("no image here")
    with pytest.raises(UsageError, match=rf"^{tmp_path}: no images found"):
        find_images([tmp_path])


def test_an_image_above_max_pixels_is_refused_and_the_limit_can_be_raised(
    hr_dir, capsys, monkeypatch
) -> None:
    """The refusal says to raise --max-pixels, and eval takes that option, as upscale does."""
    from test_cli_upscale import nssr

    args = ["eval", str(hr_dir / "a.png"), "-s", "2", "--protocol", "classic", "--no-oracle"]
    code, _, err = nssr([*args, "--max-pixels", "2000"], capsys, monkeypatch)  # 48×48: 2,304
    errors = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert code == 1 and len(errors) == 2 and "a.png" in errors[0], err
    assert "2,304 pixels, above --max-pixels (2,000 pixels" in errors[0], err
    code, out, err = nssr([*args, "--max-pixels", "2304", "--json"], capsys, monkeypatch)
    assert code == 0 and {s["image"] for s in json.loads(out)["scores"]} == {"a"}, err


def test_kernel_files_stay_told_apart_in_a_narrow_table(hr_dir: Path, tmp_path: Path) -> None:
    """Long -k paths are shown by the last parts that tell them apart, never cut to the same
    ``/tmp/…``; whatever does not fit a narrow terminal wraps instead of being cut."""
    import os
    import subprocess
    import sys

    deep = tmp_path / "a-folder-with-a-rather-long-name" / "and-another-one-below-it"
    kernels = [deep / "sharp.npy", deep / "soft.npy", deep / "x" / "k.npy", deep / "y" / "k.npy"]
    for k in kernels:
        k.parent.mkdir(parents=True, exist_ok=True)
        np.save(k, np.pad([[1.0]], 1).astype(np.float32))
    args = ["eval", str(hr_dir / "a.png"), "-s", "2", "--protocol", "jpeg", "--no-oracle"]
    proc = subprocess.run(
        [sys.executable, "-m", "nssr_cli", *args, *(f"-k{k}" for k in kernels)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "80"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    gains = proc.stderr.split("Gain over bicubic")[1]
    rows: list[list[str]] = []
    for line in gains.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            if cells[1]:  # the scale: set on a row's first line only
                rows.append(cells)
            else:  # a cell wrapped onto the next line
                rows[-1] = [a + b for a, b in zip(rows[-1], cells, strict=True)]
    shown = {(r[0], r[2]) for r in rows}
    protocols = [f"{b}+jpeg{q}" for b in ("div2krk", "classic") for q in (75, 85, 95)]
    names = ["sharp.npy", "soft.npy", "x/k.npy", "y/k.npy"]
    assert shown == {(p, n) for p in protocols for n in names}, gains
    assert "…" not in proc.stderr


@pytest.mark.parametrize("value", ["", " "])
def test_an_empty_kernel_is_a_usage_error_as_for_upscale(hr_dir, capsys, monkeypatch, value):
    """`-k "$K"` with K unset: one line naming the option, as `nssr upscale --kernel=` says;
    it said ``.: is a folder, not a kernel file``."""
    from test_cli_upscale import nssr

    code, out, err = nssr(["eval", str(hr_dir), "-k", "auto", "-k", value], capsys, monkeypatch)
    assert code == 2 and out == "", err
    assert err == "Error: --kernel is empty; give a value or leave the option out\n", err


def test_bicubic_alone_shows_its_scores_and_says_what_to_add(hr_dir, capsys, monkeypatch):
    """Gains are over bicubic: with nothing else scored, the scores table is shown and one line
    says what to add, not a gains table with a header and no rows."""
    from test_cli_upscale import nssr

    args = ["eval", str(hr_dir), "-s", "2", "--protocol", "classic", "-k", "bicubic"]
    code, out, err = nssr([*args, "--no-oracle"], capsys, monkeypatch)
    assert code == 0 and out == "", err
    assert "Y-channel PSNR (dB) / SSIM" in err and "│ classic  │    ×2 │ bicubic │" in err, err
    assert "Gain over bicubic (Y PSNR dB)" not in err, err
    note = [line for line in err.splitlines() if "no gain over bicubic" in line]
    assert len(note) == 1 and "-k auto" in note[0], err
    code, out, err = nssr(args, capsys, monkeypatch)  # the oracles are compared with bicubic
    assert code == 0 and "Gain over bicubic (Y PSNR dB)" in err and "no gain" not in err, err


def test_gains_table_has_oracle_columns_only_where_oracles_were_scored(hr_dir, capsys, monkeypatch):
    """--no-oracle scores no oracle and no reach: the gains table leaves their columns out
    instead of showing them empty."""
    from test_cli_upscale import nssr

    args = ["eval", str(hr_dir), "-s", "2", "--protocol", "classic", "-k", "light"]
    code, _, err = nssr([*args, "--no-oracle"], capsys, monkeypatch)
    title = [line.strip() for line in err.splitlines() if "Gain over bicubic" in line]
    assert code == 0 and title == ["Gain over bicubic (Y PSNR dB): mean, worst image"], err
    assert "oracle" not in err and "reach" not in err, err
    code, _, err = nssr(args, capsys, monkeypatch)
    title = [line.strip() for line in err.splitlines() if "Gain over bicubic" in line]
    assert code == 0 and title == ["Gain over bicubic (Y PSNR dB): mean, worst image, oracles"], err
    assert "oracle" in err.split("Gain over bicubic")[1] and "reach" in err, err
