"""`nssr train`, `nssr export-kernel` and the CLI's promises (instant --help, exit codes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers_cli import default_signals
from PIL import Image
from typer.testing import CliRunner

from nssr_cli import __version__
from nssr_cli.cli import app

runner = CliRunner()


def nssr(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nssr_cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **kw.pop("env", {})},
        timeout=300,
        **kw,
    )


def test_version() -> None:
    result = nssr("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"nssr {__version__}"


def test_help_does_not_import_torch() -> None:
    for args in (
        ["--help"],
        ["train", "--help"],
        ["export-kernel", "--help"],
        ["upscale", "--help"],
    ):
        code = (
            f"import sys; from nssr_cli.cli import main; sys.argv=['nssr', *{args!r}]\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "assert 'torch' not in sys.modules, 'torch imported'"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, (args, result.stderr)


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        ("upscale", ["[default: per image]"]),
        ("train", ["(K⊛h)[centre]", "[default: medium]", "scenes"]),
        ("eval", ["[default: auto]", "[default: all three]", "Pillow's bicubic downscale"]),
        ("export-kernel", []),
    ],
)
def test_help_shows_its_whole_text(command: str, shown: list[str]) -> None:
    """Square brackets in a help text survive Rich's markup, and no help points to a document
    that does not ship."""
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "300", "NO_COLOR": "1"})
    text = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == 0
    for fragment in shown:
        assert fragment in text, (fragment, text)
    assert "DESIGN" not in text and "§" not in text


def test_train_then_export_kernel_round_trip(tmp_path: Path) -> None:
    ck, k = tmp_path / "ck.pt", tmp_path / "k.npy"
    res = runner.invoke(
        app, ["train", "--kernels", "64", "--epochs", "1", "-q", "--json", "-o", str(ck)]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["parameters"] == 28_224 and summary["checkpoint"] == str(ck)
    res = runner.invoke(
        app,
        [
            "export-kernel",
            "--checkpoint",
            str(ck),
            "-o",
            str(k),
            "--plot",
            str(tmp_path / "k.png"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    kernel = np.load(k)
    assert kernel.shape == (11, 11) and kernel.dtype == np.float32
    meta = json.loads(k.with_suffix(".json").read_text())
    assert meta["orientation"] == "convolution" and meta["objective"] == "dil"
    cache = Path(json.loads(res.stdout.strip().splitlines()[-1])["cache"])
    assert cache.is_file() and Path(os.environ["NSSR_CACHE_DIR"]) in cache.parents
    np.testing.assert_array_equal(np.load(cache), kernel)
    from PIL import Image

    assert Image.open(tmp_path / "k.png").size[0] > 200


def test_export_kernel_text_and_json_formats_read_back_exactly(tmp_path: Path) -> None:
    """A kernel exported as .txt or .json loads as the very taps of the .npy (small taps keep
    their precision), so `upscale --kernel` writes the same bytes with each file; the text
    stays rows of plain numbers."""
    from nssr_cli.kernels.files import load_kernel

    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), np.uint8)).save(photo)
    kernels, outputs = [], []
    for ext in ("npy", "txt", "json"):  # k.npy's sidecar is k.json: another stem for each
        k, out = tmp_path / f"k-{ext}.{ext}", tmp_path / f"out-{ext}.png"
        res = runner.invoke(app, ["export-kernel", "-o", str(k)])
        assert res.exit_code == 0, res.output
        kernels.append(load_kernel(k)[0])
        res = runner.invoke(app, ["upscale", str(photo), "--kernel", str(k), "-o", str(out)])
        assert res.exit_code == 0, res.output
        outputs.append(out.read_bytes())
    assert all(np.array_equal(kernels[0], k) for k in kernels[1:])
    assert outputs[1] == outputs[0] and outputs[2] == outputs[0]
    rows = [line.split() for line in (tmp_path / "k-txt.txt").read_text().splitlines()]
    taps = [row for row in rows if row[0] != "#"]
    assert len(taps) == 11 and all(len(row) == 11 for row in taps)
    assert all(len(tap) <= 15 for row in taps for tap in row)  # 9 significant digits
    # the header's values as JSON where they are not text: `null`, not Python's `None`
    header = dict(
        line[2:].split(": ", 1) for line in (tmp_path / "k-txt.txt").read_text().splitlines()
        if line.startswith("# ") and ": " in line
    )  # fmt: skip
    assert header["scale"] == "null" and header["objective"] == "dil"
    assert json.loads(header["metrics"])["epoch"] >= 0


def test_text_and_json_kernels_keep_every_float32_tap(tmp_path: Path) -> None:
    """Taps of every magnitude, from 1e-9 to tens (and a subnormal), read back bit for bit."""
    from nssr_cli.kernels.files import load_kernel, save_kernel

    rng = np.random.default_rng(0)
    k = rng.standard_normal((15, 15)) * 10.0 ** rng.uniform(-9, 1, (15, 15))
    k[0, 0], k[0, 1] = 1e-40, -np.nextafter(np.float32(1), np.float32(2))
    k[7, 7] += 1 - k.sum()
    k = k.astype(np.float32)
    for ext in ("txt", "json"):
        save_kernel(k, tmp_path / f"k.{ext}", {"orientation": "convolution"})
        np.testing.assert_array_equal(load_kernel(tmp_path / f"k.{ext}")[0], k, strict=True)


def test_second_export_is_read_from_the_cache() -> None:
    first = runner.invoke(app, ["export-kernel"])
    second = runner.invoke(app, ["export-kernel"])
    assert "read from cache" not in first.output and "read from cache" in second.output


def test_an_export_read_from_the_cache_reports_this_run(tmp_path: Path, cli) -> None:
    """The cache holds the kernel of a checkpoint's bytes; the name in the sidecar and the
    kernel-sum warning are this export's, and an entry from another nssr version is rebuilt."""
    a, renamed = tmp_path / "a.pt", tmp_path / "renamed.pt"
    proc = cli("train", "-o", str(a), "--kernels", "64", "--epochs", "1", "-q")
    assert proc.returncode == 0, proc.stderr
    renamed.write_bytes(a.read_bytes())
    first = cli("export-kernel", "--checkpoint", str(a), "-o", str(tmp_path / "a.npy"), "--json")
    second = cli("export-kernel", "--checkpoint", str(renamed), "-o", str(tmp_path / "r.npy"))
    assert second.returncode == 0 and b"read from cache" in second.stderr, second.stderr
    assert f"{a}: the kernel's taps sum to".encode() in first.stderr, first.stderr
    assert f"{renamed}: the kernel's taps sum to".encode() in second.stderr, second.stderr
    assert json.loads((tmp_path / "r.json").read_text())["checkpoint"] == "renamed.pt"
    entry = Path(json.loads(first.stdout)["cache"]).with_suffix(".json")
    entry.write_text(entry.read_text().replace(__version__, "0.0.1"))
    third = cli("export-kernel", "--checkpoint", str(a))
    assert third.returncode == 0 and b"read from cache" not in third.stderr, third.stderr
    assert json.loads(entry.read_text())["nssr_version"] == __version__


def test_bad_checkpoint_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    result = nssr("export-kernel", "--checkpoint", str(bad))
    assert result.returncode == 2
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr
    assert str(bad) in result.stderr


BAD_TRAINING = [
    ["--kernel-size", "2"],
    ["--kernel-size", "0"],
    ["--kernel-size", "-3"],
    ["--sigma-min", "3", "--sigma-max", "1"],
    ["--sigma-min", "0"],
    ["--sigma-max", "nan"],
    ["--scale", "7"],
    ["--objective", "scenes", "--blur", "foggy"],
    ["--objective", "scenes", "--blur", "none-q50"],
    ["--objective", "nope"],
    ["--blur", "medium"],  # the dil objective has no degradation to choose
    ["--scale", "3"],
    ["--lr", "inf"],
    ["--lr", "nan"],
    ["--lr", "0"],
    ["--lr", "1e39"],  # beyond float32
    ["--lr", "4e37"],  # Adam's first step, 10·lr, would be beyond float32
    ["--seed", "-1"],
    ["--seed", str(2**64)],
    ["--lambda-area", "nan"],
    ["--lambda-center", "-1"],
    ["--epochs", "0"],
    ["--kernels", "0"],
    ["--batch-size", "-1"],
    ["--depth", "1000"],
    ["--width", "100000"],
    ["-o", "missing-folder/ck.pt"],
    ["-o", "ck/"],  # a folder: a file named ck would be written
    ["-o", "/proc/ck.pt"],  # a folder that takes no new files (Linux), or none at all
    ["-o", "kernel.npy"],  # a checkpoint under a kernel's name
    ["--objective", "scenes", "--solve", "-o", "k.pt"],
    ["--objective", "scenes", "--solve", "-o", "k.npy", "--lr", "0.5"],  # solved, not trained
    ["--objective", "scenes", "--sigma-min", "3"],  # the dil objective's gallery, not scenes'
    ["--objective", "scenes", "--lambda-area", "0"],
]


@pytest.mark.parametrize("bad", BAD_TRAINING, ids=" ".join)
def test_bad_training_options_are_one_line_before_any_banner(
    tmp_path, capsys, monkeypatch, bad
) -> None:
    from test_cli_upscale import nssr

    monkeypatch.chdir(tmp_path)
    code, out, err = nssr(["train", "--kernels", "16", "--epochs", "1", *bad], capsys, monkeypatch)
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1 and lines[0].startswith("Error: "), err
    assert not list(tmp_path.iterdir())


def test_a_scenes_kernel_made_with_the_defaults_records_them(tmp_path: Path, cli) -> None:
    """Without --scale and --blur the scenes objective makes a ×2, medium kernel: its files say
    so (not null), also for a checkpoint written before they did."""
    import torch

    k, ck = tmp_path / "k.npy", tmp_path / "ck.pt"
    made_for = {"scale": 2, "blur": "medium"}
    proc = cli("train", "--objective", "scenes", "--solve", "--kernels", "4", "-o", str(k))
    assert proc.returncode == 0, proc.stderr
    meta = json.loads(k.with_suffix(".json").read_text())
    assert {key: meta[key] for key in made_for} == made_for
    proc = cli("train", "--objective", "scenes", "--kernels", "4", "--epochs", "1", "-o", str(ck))
    assert proc.returncode == 0, proc.stderr
    old = torch.load(ck, weights_only=True)
    assert {key: old["config"][key] for key in made_for} == made_for
    old["config"].update(scale=None, blur=None)  # as nssr wrote it before
    torch.save(old, ck)
    assert (
        cli("export-kernel", "--checkpoint", str(ck), "-o", str(tmp_path / "e.npy")).returncode == 0
    )
    meta = json.loads((tmp_path / "e.json").read_text())
    assert {key: meta[key] for key in made_for} == made_for


@pytest.mark.parametrize("prior", ["none-q85", "medium-n2"])
def test_train_solves_under_a_jpeg_or_noise_prior(tmp_path, capsys, monkeypatch, prior) -> None:
    """The README's commands for the shipped JPEG kernels (`--blur none-q85` …) must run."""
    from test_cli_upscale import nssr

    out = tmp_path / "k.npy"
    args = ["train", "-q", "--objective", "scenes", "--solve", "--scale", "2", "--kernels", "8"]
    code, _, err = nssr([*args, "--blur", prior, "-o", str(out)], capsys, monkeypatch)
    assert code == 0, err
    assert np.load(out).shape == (11, 11)


@pytest.mark.parametrize(
    "bad",
    [["-o", "k/"], ["--plot", "plot/"], ["--plot", "k.jpg"], ["-o", "/proc/k.npy"]],
    ids=" ".join,
)
def test_bad_export_paths_are_one_line_before_any_work(tmp_path, capsys, monkeypatch, bad):
    from test_cli_upscale import nssr

    monkeypatch.chdir(tmp_path)
    code, out, err = nssr(["export-kernel", *bad], capsys, monkeypatch)
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1 and lines[0].startswith("Error: "), err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "bad",
    [
        ["upscale", "a.png", "-s", "2x"],
        ["upscale", "a.png", "--tile", "0"],
        ["upscale", "a.png", "--bogus"],
        ["upscale"],
        ["nonsense"],
        ["train", "--epochs", "many"],
        ["eval"],
    ],
    ids=" ".join,
)
def test_what_the_option_parser_refuses_is_one_line_too(capsys, monkeypatch, bad) -> None:
    """Click's own usage errors (a value of the wrong type, an unknown option or command) are
    told like every other error: one `Error:` line, exit 2, naming where help is."""
    from test_cli_upscale import nssr

    code, out, err = nssr(bad, capsys, monkeypatch)
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1, err
    assert lines[0].startswith("Error: ") and "--help" in lines[0], err


def test_a_kernel_in_json_is_never_replaced_by_another_kernels_sidecar(
    tmp_path, capsys, monkeypatch
) -> None:
    """`-o k.npy --overwrite` is about k.npy: k.json, a kernel the user exported, stays."""
    from test_cli_upscale import nssr

    monkeypatch.chdir(tmp_path)
    assert nssr(["export-kernel", "-o", "k.json"], capsys, monkeypatch)[0] == 0
    before = (tmp_path / "k.json").read_bytes()
    code, _, err = nssr(["export-kernel", "-o", "k.npy", "--overwrite"], capsys, monkeypatch)
    assert code == 2 and "k.json" in err and len(err.strip().splitlines()) == 1, err
    assert (tmp_path / "k.json").read_bytes() == before and not (tmp_path / "k.npy").exists()
    # a sidecar of its own is still replaced as before
    assert nssr(["export-kernel", "-o", "j.npy"], capsys, monkeypatch)[0] == 0
    assert nssr(["export-kernel", "-o", "j.npy", "--overwrite"], capsys, monkeypatch)[0] == 0


def test_kernel_file_extensions_count_in_any_letter_case(tmp_path, capsys, monkeypatch) -> None:
    """`-o K.NPY` writes a .npy kernel (as `--plot K.PNG` writes a PNG) and `--kernel K.NPY`
    reads it back, like `k.npy`; so for .txt and .json."""
    from helpers_images import image_file
    from test_cli_upscale import nssr

    monkeypatch.chdir(tmp_path)
    image_file(tmp_path / "a.png")
    for name in ("k.npy", "K.NPY", "T.Txt", "J.JSON"):
        code, _, err = nssr(["export-kernel", "-o", name], capsys, monkeypatch)
        assert code == 0, err
        args = ["upscale", "a.png", "--kernel", name, "-o", f"{name}.png"]
        code, _, err = nssr(args, capsys, monkeypatch)
        assert code == 0, err
        same = np.asarray(Image.open(f"{name}.png")) == np.asarray(Image.open("k.npy.png"))
        assert same.all(), name
    assert np.load("K.NPY").shape == np.load("k.npy").shape and (tmp_path / "K.json").is_file()
    code, _, err = nssr(["train", "-o", "L.NPY", "--epochs", "1"], capsys, monkeypatch)
    assert code == 2 and "writes a checkpoint" in err, err


@pytest.mark.parametrize("bad", [["--width", "0"], ["--width", "513"], ["--depth", "0"]])
def test_a_bad_model_shape_names_its_option(tmp_path, cli, bad) -> None:
    proc = cli("train", "-o", str(tmp_path / "ck.pt"), *bad)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{bad[0]} {bad[1]}" in err, err


@pytest.mark.parametrize("epochs", ["1", "3"])  # 1: only the last step's result diverges
def test_a_diverging_loss_stops_training_without_a_checkpoint(
    tmp_path, capsys, monkeypatch, epochs
):
    from test_cli_upscale import nssr

    ck = tmp_path / "ck.pt"
    args = ["train", "-q", "--kernels", "32", "--epochs", epochs, "--lr", "1e30", "-o", str(ck)]
    code, out, err = nssr(args, capsys, monkeypatch)
    errors = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert code == 1 and out == "" and len(errors) == 1 and "diverged" in errors[0], err
    assert "Warning" not in err and not list(tmp_path.iterdir())


def test_a_divergence_names_the_options_set_not_the_learning_rate(tmp_path, cli) -> None:
    """σ = 1e-300 underflows the gallery into NaN at the default --lr: the message names the
    options set away from their defaults, and does not blame --lr."""
    ck = tmp_path / "ck.pt"
    proc = cli("train", "-q", "--kernels", "8", "--epochs", "1", "--sigma-min", "1e-300",
               "--sigma-max", "1e-300", "-o", str(ck))  # fmt: skip
    errors = [line for line in proc.stderr.decode().splitlines() if line.startswith("Error: ")]
    assert proc.returncode == 1 and len(errors) == 1 and "diverged" in errors[0], proc.stderr
    assert "--sigma-min 1e-300, --sigma-max 1e-300" in errors[0] and "--lr" not in errors[0]
    assert not ck.exists()


def test_a_loss_that_ends_far_above_its_start_fails_and_keeps_the_old_checkpoint(
    tmp_path, capsys, monkeypatch
):
    """--lr 1 keeps every number finite but ends at a loss of ~1e15: refused like NaN, and an
    existing checkpoint at -o survives --overwrite."""
    from test_cli_upscale import nssr

    ck = tmp_path / "ck.pt"
    ck.write_bytes(b"a good checkpoint")
    args = ["train", "-q", "--kernels", "64", "--epochs", "3", "--lr", "1", "-o", str(ck)]
    code, out, err = nssr([*args, "--overwrite"], capsys, monkeypatch)
    errors = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert code == 1 and out == "" and len(errors) == 1, err
    assert "diverged" in errors[0] and "untrained" in errors[0] and "--lr" in errors[0], err
    assert ck.read_bytes() == b"a good checkpoint" and sorted(tmp_path.iterdir()) == [ck]


def test_ctrl_c_during_training_exits_130_and_writes_no_checkpoint(tmp_path: Path) -> None:
    import signal

    ck = tmp_path / "ck.pt"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nssr_cli", "train", "-o", str(ck)],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_signals,
    )
    # Interrupt only once training has started (the banner comes right before the first
    # epoch), however long the imports take on a loaded machine; the full run takes minutes.
    assert proc.stderr is not None
    banner = proc.stderr.readline()
    assert "training on" in banner, banner
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and not ck.exists()
    assert not list(tmp_path.iterdir())  # no temp file left either


def test_training_logged_to_a_file_gets_a_plain_line_per_epoch(tmp_path: Path) -> None:
    """stderr not a terminal (`2> train.log`): a whole line per epoch with the loss and its
    terms, then the final line; no progress bar frozen at its last frame and cut to 80
    columns (`… 0:0… 0:00:…`)."""
    ck, log = tmp_path / "ck.pt", tmp_path / "train.log"
    args = ["train", "--kernels", "32", "--epochs", "3", "--depth", "3", "--width", "8"]
    with log.open("w") as stderr:
        proc = subprocess.run(
            [sys.executable, "-m", "nssr_cli", *args, "-o", str(ck)],
            stderr=stderr, stdout=subprocess.PIPE, timeout=300,
            env={**os.environ, "COLUMNS": "40"},
        )  # fmt: skip
    text = log.read_text()
    assert proc.returncode == 0 and ck.is_file(), text
    lines = text.splitlines()
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epochs] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"], text
    terms = ("loss", "identity", "area", "center")
    assert all(all(f" {t} " in line for t in terms) for line in epochs), text
    assert lines[-1].startswith("done in ") and lines[-1].endswith(str(ck)), text
    assert "…" not in text and "━" not in text, text
