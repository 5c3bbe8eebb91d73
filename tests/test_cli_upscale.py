"""``nssr upscale`` end to end: in-process (CliRunner, and ``main()`` for exit codes) and as a
real subprocess with pipes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers_cli import BICUBIC
from helpers_images import gradient, image_file, png16_reference, sharpen_kernel
from PIL import Image
from typer.testing import CliRunner

from nssr_cli.cli import app, main


def nssr(args: list[str], capsys, monkeypatch, stdin: bytes = b"") -> tuple[int, str, str]:
    """Run ``nssr`` through ``main()`` (so errors map to exit codes), capturing text output."""
    monkeypatch.setattr(sys, "argv", ["nssr", *args])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def run_subprocess(args: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **kw}
    return subprocess.run([sys.executable, "-m", "nssr_cli", *args], timeout=120, **streams)  # type: ignore[call-overload]


def test_single_file_gets_the_default_name(tmp_path: Path) -> None:
    src = image_file(tmp_path / "photo.png")
    result = CliRunner().invoke(app, ["upscale", str(src), "-s", "2", "--kernel", "bicubic"])
    assert result.exit_code == 0, result.output
    out = Image.open(tmp_path / "photo_x2.png")
    assert out.size == (32, 24) and out.mode == "RGB"


def test_output_file_kernel_file_and_fractional_scale(tmp_path: Path) -> None:
    src = image_file(tmp_path / "photo.png")
    k = sharpen_kernel(tmp_path / "k.npy")
    dst = tmp_path / "big.jpg"
    result = CliRunner().invoke(
        app, ["upscale", str(src), "-s", "2.5", "-o", str(dst), "--kernel", str(k)]
    )
    assert result.exit_code == 0, result.output
    assert Image.open(dst).format == "JPEG" and Image.open(dst).size == (40, 30)


def test_json_reports_each_file_and_the_bank_choice(tmp_path, capsys, monkeypatch) -> None:
    from nssr_cli.batch import run as runner
    from nssr_cli.kernels import bank

    def fake_select(
        image: np.ndarray, scale: float, blur: str = "auto", *, info: dict | None = None
    ) -> bank.Selection:
        assert image.shape[:2] == (12, 16) and scale == 2.0 and blur == "light"
        return bank.Selection(
            np.ones((1, 1), np.float32), "x2-light", "light", {"sigma": np.float32(0.5)}
        )

    monkeypatch.setattr(runner, "select_kernel", fake_select)
    image_file(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "b.png").write_bytes(b"junk")
    code, out, err = nssr(
        ["upscale", str(tmp_path / "in"), "--blur", "light", "--json", "-q"], capsys, monkeypatch
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and [r["status"] for r in rows] == ["done", "failed"]
    assert rows[0]["kernel"] == "x2-light" and rows[0]["blur_info"] == {"sigma": 0.5}
    assert rows[0]["input_size"] == [16, 12] and rows[0]["output_size"] == [32, 24]
    assert "b.png" in rows[1]["error"] and err.count("Error:") == 2


def test_verbose_lists_ignored_files(tmp_path, capsys, monkeypatch) -> None:
    image_file(tmp_path / "a.png")
    (tmp_path / "readme.txt").write_text("x")
    code, _, err = nssr(
        ["upscale", str(tmp_path), "--kernel", "bicubic", "-v"], capsys, monkeypatch
    )
    assert code == 0, err
    assert "readme.txt" in err and "a_x2.png" in err  # (--kernel with --blur: refused, elsewhere)


def test_quiet_success_prints_nothing(tmp_path, capsys, monkeypatch) -> None:
    image_file(tmp_path / "a.png")
    image_file(tmp_path / "b.png")
    code, out, err = nssr(
        ["upscale", str(tmp_path), "--kernel", "bicubic", "-q"], capsys, monkeypatch
    )
    assert (code, out, err) == (0, "", "")


def test_summary_counts(tmp_path, capsys, monkeypatch) -> None:
    image_file(tmp_path / "a.png")
    image_file(tmp_path / "b.png")
    image_file(tmp_path / "b_x2.png")
    code, _, err = nssr(
        [
            "upscale",
            str(tmp_path / "a.png"),
            str(tmp_path / "b.png"),
            "--kernel",
            "bicubic",
            "--skip-existing",
        ],
        capsys,
        monkeypatch,
    )
    assert code == 0 and "2 files: 1 done, 1 skipped" in err


def test_16bit_and_grayscale_stay_as_they_are(tmp_path, capsys, monkeypatch) -> None:
    rgb16 = tmp_path / "deep.png"
    rgb16.write_bytes(png16_reference(gradient(8, 8, 3, np.uint16)))
    image_file(tmp_path / "gray.png", Image.fromarray(gradient(8, 8, 1)))
    code, _, err = nssr(["upscale", str(tmp_path), "--kernel", "bicubic"], capsys, monkeypatch)
    assert code == 0, err
    from nssr_cli.files.decode import decode

    deep = decode((tmp_path / "deep_x2.png").read_bytes(), "deep")
    assert deep.mode == "RGB;16" and deep.size == (16, 16)
    assert len(np.unique(deep.frames[0].color)) > 256  # really 16-bit values
    assert Image.open(tmp_path / "gray_x2.png").mode == "L"


def test_stdin_to_stdout_pipeline(tmp_path: Path) -> None:
    png = image_file(tmp_path / "p.png").read_bytes()
    proc = run_subprocess(["upscale", "-", "-s", "2", "-o", "-", "--kernel", "bicubic"], input=png)
    assert proc.returncode == 0, proc.stderr.decode()
    out = Image.open(io.BytesIO(proc.stdout))
    assert out.format == "PNG" and out.size == (32, 24)


def test_the_program_exits_fast_with_exact_codes_and_complete_output(tmp_path: Path) -> None:
    """``nssr`` skips PyTorch's teardown: exit codes, stdout and stderr must come out whole."""
    (tmp_path / "in").mkdir()
    for i in range(3):
        image_file(tmp_path / "in" / f"{i}.png")
    proc = run_subprocess(["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--json"])
    assert proc.returncode == 0, proc.stderr.decode()
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["status"] for r in rows] == ["done"] * 3
    (tmp_path / "in" / "3.png").write_bytes(b"not a png")
    proc = run_subprocess(["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "again")])
    assert proc.returncode == 1
    assert b"3.png" in proc.stderr and b"1 failed" in proc.stderr
    written = sorted(p.name for p in (tmp_path / "again").iterdir())
    assert written == [f"{i}_x2.png" for i in range(3)]


def test_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    src = image_file(
        tmp_path / "p.png", Image.fromarray(noise)
    )  # ~190 kB out: more than a pipe holds
    cmd = (
        f"{sys.executable} -m nssr_cli upscale {src} -s 4 -o - --kernel bicubic | head -c 10"
        " > /dev/null; echo ${PIPESTATUS[0]}"
    )
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, timeout=120)
    assert proc.stdout.strip() == b"141"  # as `cat`: the image was not all written
    assert b"Traceback" not in proc.stderr and b"Error" not in proc.stderr


def test_refuses_to_write_image_bytes_to_a_terminal(tmp_path: Path) -> None:
    src = image_file(tmp_path / "p.png")
    leader, follower = os.openpty()
    try:
        proc = run_subprocess(
            ["upscale", str(src), "-o", "-"], stdout=follower, stderr=subprocess.PIPE
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert proc.returncode == 2 and b"terminal" in proc.stderr


def test_help_does_not_import_torch() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "nssr_cli", "upscale", "--help"],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0
    assert b"--scale" in proc.stdout
    assert b" torch" not in proc.stderr


def test_json_and_stdout_image_cannot_share_stdout(tmp_path, capsys, monkeypatch) -> None:
    code, out, err = nssr(
        ["upscale", str(image_file(tmp_path / "a.png")), "-o", "-", "--json"], capsys, monkeypatch
    )
    assert code == 2 and out == "" and "--json" in err


@pytest.mark.parametrize("flag", ["-o", "--kernel", "-f"])
def test_an_empty_value_is_a_usage_error_not_the_default(tmp_path, capsys, monkeypatch, flag):
    """`-o "$OUT"` with OUT unset must not quietly write beside the input."""
    src = image_file(tmp_path / "a.png")
    code, out, err = nssr(["upscale", str(src), flag, ""], capsys, monkeypatch)
    assert code == 2 and out == "" and f"{flag} is empty" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_a_gpu_share_that_is_not_a_number_stops_before_any_cluster(
    tmp_path, capsys, monkeypatch, value
) -> None:
    """Whatever the option parser of this Typer version lets through, nssr refuses it."""
    src = image_file(tmp_path / "a.png")
    args = ["upscale", str(src), "--ray", "local", "--gpus-per-worker", value]
    code, out, err = nssr(args, capsys, monkeypatch)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err


def test_gpus_per_worker_without_ray_is_a_usage_error(tmp_path, capsys, monkeypatch) -> None:
    """--gpus-per-worker shares GPUs among a Ray cluster's tasks: alone it would do nothing."""
    src = image_file(tmp_path / "a.png")
    code, out, err = nssr(["upscale", str(src), "--gpus-per-worker", "1"], capsys, monkeypatch)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert "--gpus-per-worker" in err and "--ray" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


@pytest.mark.parametrize("jobs", ["-j", "--jobs=2"])
def test_jobs_with_ray_is_a_usage_error_before_any_cluster(
    tmp_path, capsys, monkeypatch, jobs
) -> None:
    """-j sets local threads, which a Ray run has none of: refused, not silently ignored."""
    from nssr_cli.batch import cluster

    def no_cluster(*_: object) -> None:
        raise AssertionError("a cluster was contacted")

    monkeypatch.setattr(cluster, "connect", no_cluster)
    src = image_file(tmp_path / "a.png")
    args = ["upscale", str(src), "--ray", "local", *([jobs, "4"] if jobs == "-j" else [jobs])]
    code, out, err = nssr(args, capsys, monkeypatch)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert "-j" in err and "--ray" in err and "leave out -j" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


@pytest.mark.parametrize(
    ("scale", "kernel", "warned"),
    [
        ("2", "x3-heavy", True),
        ("1.5", "x4-light", True),
        ("2.5", "x3-heavy", False),  # as near as x2-…: auto could take either
        ("8", "x4-none-q85", False),  # the nearest, as auto takes it
        ("2", "x2-heavy", False),
        ("2", "dil", False),  # the paper's kernel: any scale
        ("2", "file", False),  # a kernel file: its scale is not known
    ],
)
def test_a_bank_kernel_solved_for_another_scale_is_used_with_a_warning(
    tmp_path, capsys, monkeypatch, scale, kernel, warned
) -> None:
    from nssr_cli.kernels.files import builtin_kernels

    src = image_file(tmp_path / "a.png")
    if kernel == "file":
        kernel = str(tmp_path / "k.npy")
        (tmp_path / "k.npy").write_bytes(builtin_kernels()["x3-heavy"].read_bytes())
    args = ["upscale", str(src), "-s", scale, "--kernel", kernel, "-o", str(tmp_path / "b.png")]
    code, _, err = nssr(args, capsys, monkeypatch)
    assert code == 0 and (tmp_path / "b.png").is_file(), err
    said = f"Warning: {kernel}: a bank kernel solved for ×{kernel[1]}, used at ×{scale} "
    lines = err.strip().splitlines()
    assert (len(lines) == 1 and lines[0].startswith(said)) if warned else err == "", err


def test_a_folder_named_with_a_slash_receives_the_output(tmp_path, capsys, monkeypatch) -> None:
    src = image_file(tmp_path / "a.png")
    dest = str(tmp_path / "new") + "/"  # made; a missing folder above it would be refused
    code, _, err = nssr(
        ["upscale", str(src), "-o", dest, "--kernel", "bicubic"], capsys, monkeypatch
    )
    assert code == 0, err
    assert Image.open(tmp_path / "new" / "a_x2.png").size == (32, 24)


def test_ray_without_the_extra_is_a_usage_error_with_the_install_command(
    tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    src = image_file(tmp_path / "a.png")
    code, _, err = nssr(["upscale", str(src), "--ray", "local"], capsys, monkeypatch)
    assert code == 2 and 'pip install "nssr[ray]"' in err and "Traceback" not in err
    assert not (tmp_path / "a_x2.png").exists()


def test_ray_address_where_nothing_listens_is_refused_at_once(
    tmp_path, capsys, monkeypatch
) -> None:
    import socket
    import types

    def init(**kw: object) -> None:
        raise AssertionError("Ray would retry such an address for minutes")

    fake = types.SimpleNamespace(is_initialized=lambda: False, init=init)
    monkeypatch.setitem(sys.modules, "ray", fake)
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    src = image_file(tmp_path / "a.png")
    code, _, err = nssr(["upscale", str(src), "--ray", "auto"], capsys, monkeypatch)
    assert code == 2 and f"--ray auto: no Ray cluster answers at 127.0.0.1:{port}" in err


def test_a_folder_run_into_o_skips_what_a_run_in_place_left(tmp_path, capsys, monkeypatch) -> None:
    """As a user does: one photo upscaled in place (``a_x2.jpg`` beside it), then the whole
    folder into ``-o big/``: ``big/`` gets ``a_x2.jpg`` and ``b_x2.png`` only, and ``-v`` says
    why ``a_x2.jpg`` was left out."""
    src = tmp_path / "in"
    image_file(src / "a.jpg")
    image_file(src / "b.png")
    code, _, err = nssr(["upscale", str(src / "a.jpg")], capsys, monkeypatch)
    assert code == 0 and (src / "a_x2.jpg").is_file(), err
    code, _, err = nssr(
        ["upscale", str(src), "-o", f"{tmp_path / 'big'}/", "-v"], capsys, monkeypatch
    )
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "big").iterdir()) == ["a_x2.jpg", "b_x2.png"]
    assert "a_x2.jpg (the output of" in err


def test_every_json_row_has_every_key(tmp_path, capsys, monkeypatch) -> None:
    """Rows done, failed and skipped, with a named kernel or auto's choice, share one set of
    keys; what does not apply to a row is null (a failed file has no kernel, a named kernel no
    blur estimate), and a file with one image left none of them out."""
    image_file(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "b.png").write_bytes(b"junk")
    rows = []
    for dst, extra in (("out", BICUBIC), ("out", ["--skip-existing"]), ("auto", [])):
        args = ["upscale", str(tmp_path / "in"), "-o", str(tmp_path / dst), "--json", *extra]
        code, out, err = nssr(args, capsys, monkeypatch)
        assert code == 1, err
        rows += [json.loads(line) for line in out.splitlines()]
    keys = ["input", "output", "status", "error", "input_size", "output_size", "mode",
            "kernel", "blur", "blur_info", "device", "images_left_out", "seconds"]  # fmt: skip
    assert [list(r) for r in rows] == [keys] * 6
    named, skipped, auto = rows[0], rows[2], rows[4]
    assert [r["status"] for r in rows] == ["done", "failed", "skipped", "failed", "done", "failed"]
    assert named["kernel"] == "bicubic" and named["blur"] is named["blur_info"] is None
    assert named["device"] == "cpu" and named["images_left_out"] == 0
    assert auto["blur_info"]["why"] and auto["images_left_out"] == 0  # auto says why it chose
    choice = ("kernel", "blur", "blur_info", "device", "images_left_out")
    for row in (skipped, *rows[1::2]):
        assert all(row[k] is None for k in choice), row
