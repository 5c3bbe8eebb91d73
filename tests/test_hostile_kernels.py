"""Hostile kernel files, checkpoints and cache entries (RELIABILITY.md): each is refused with one
line naming the file, exit 2, before any work; nothing is unpickled; the cache is verified."""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_images import image_file
from test_cli_upscale import nssr


def one_error_line(err: str, name: str) -> bool:
    """Exactly one line, an ``Error:`` naming ``name``, and no traceback."""
    lines = err.strip().splitlines()
    return len(lines) == 1 and lines[0].startswith("Error: ") and name in lines[0]


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``nssr`` in a subprocess with a deadline: a read that blocks must fail, not hang."""
    return subprocess.run(
        [sys.executable, "-m", "nssr_cli", *args], capture_output=True, text=True, timeout=timeout
    )


def kernel_array(size: int = 5, tap: float = 1.0) -> np.ndarray:
    k = np.zeros((size, size), np.float32)
    k[size // 2, size // 2] = tap
    return k


def hostile_kernels(folder: Path) -> dict[str, Path]:
    """One file per way a kernel file can be bad."""
    files: dict[str, Path] = {}

    def npy(name: str, arr: np.ndarray, **kw: bool) -> None:
        files[name] = folder / f"{name}.npy"
        np.save(files[name], arr, **kw)

    npy("pickle", np.array([1, "a", None], dtype=object), allow_pickle=True)
    npy("huge", kernel_array(101))
    npy("absurd", kernel_array(5, 1e38))
    npy("nan", np.full((5, 5), np.nan, np.float32))
    npy("inf", kernel_array(5, np.inf))
    npy("even", np.full((4, 4), 1 / 16, np.float32))
    npy("three_d", np.ones((3, 3, 3), np.float32))
    npy("zero_sum", np.zeros((3, 3), np.float32))
    header = io.BytesIO()  # a header that claims 10⁵×10⁵ float64 (80 GB), and no data
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (100_000, 100_000)}
    )
    files["claims_80gb"] = folder / "claims_80gb.npy"
    files["claims_80gb"].write_bytes(b"\x93NUMPY\x01\x00" + header.getvalue()[8:])
    files["checkpoint"] = folder / "x.pt"
    files["checkpoint"].write_bytes(b"\x80\x02\x8a\x0alZ\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19")
    files["folder"] = folder / "dir.npy"
    files["folder"].mkdir()
    files["big_text"] = folder / "big.txt"
    files["big_text"].write_text("1 " * (1 << 20))
    for name, text in (("empty", ""), ("blank", "  \n# only a comment\n")):
        files[name] = folder / f"{name}.txt"
        files[name].write_text(text)
    for name, obj in (("sidecar", {"scale": 2}), ("ragged", [[1, 2], [3]]), ("words", "x")):
        files[name] = folder / f"{name}.json"
        files[name].write_text(json.dumps(obj))
    return files


@pytest.mark.parametrize("wrapped", [True, False])
def test_a_json_kernel_is_its_rows_bare_or_under_kernel(tmp_path: Path, wrapped: bool) -> None:
    from nssr_cli.kernels.files import load_kernel

    rows = [[0, 0.1, 0], [0.1, 0.6, 0.1], [0, 0.1, 0]]
    path = tmp_path / "k.json"
    path.write_text(json.dumps({"kernel": rows} if wrapped else rows))
    assert np.array_equal(load_kernel(path)[0], np.array(rows, np.float32))


@pytest.mark.parametrize(("name", "says"), [("sidecar", "holds no"), ("words", "rows of numbers")])
def test_json_that_is_not_a_kernel_says_what_is_wrong(tmp_path: Path, name: str, says: str) -> None:
    from nssr_cli.errors import KernelError
    from nssr_cli.kernels.files import load_kernel

    with pytest.raises(KernelError, match=says):
        load_kernel(hostile_kernels(tmp_path)[name])


def test_a_pickled_object_array_is_never_unpickled(tmp_path: Path) -> None:
    from nssr_cli.errors import KernelError
    from nssr_cli.kernels.files import load_kernel

    path = hostile_kernels(tmp_path)["pickle"]
    with pytest.raises(KernelError, match="never unpickled"):
        load_kernel(path)


@pytest.mark.parametrize(
    "name",
    [
        "pickle",
        "huge",
        "absurd",
        "nan",
        "inf",
        "even",
        "three_d",
        "zero_sum",
        "claims_80gb",
        "checkpoint",
        "folder",
        "big_text",
        "empty",
        "blank",
        "sidecar",
        "ragged",
        "words",
    ],
)
def test_hostile_kernel_files_are_one_line_exit_2(tmp_path, capsys, monkeypatch, name) -> None:
    src = image_file(tmp_path / "a.png")
    path = hostile_kernels(tmp_path)[name]
    before = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    code, out, err = nssr(["upscale", str(src), "--kernel", str(path)], capsys, monkeypatch)
    assert code == 2 and out == "", err
    assert one_error_line(err, str(path)), err
    after = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert after == before  # no output, no temp file, every input byte-identical


def test_a_kernel_file_with_a_byte_order_mark_is_read(tmp_path, capsys, monkeypatch) -> None:
    """Windows Notepad starts a UTF-8 .txt or .json with a byte-order mark: it is no tap."""
    src = image_file(tmp_path / "a.png")
    rows = "0 0.1 0\n0.1 0.6 0.1\n0 0.1 0\n"
    (tmp_path / "plain.txt").write_text(rows)
    (tmp_path / "bom.txt").write_text("\ufeff" + rows, encoding="utf-8")
    (tmp_path / "bom.json").write_text("\ufeff" + json.dumps([[0, 0.1, 0], [0.1, 0.6, 0.1],
                                       [0, 0.1, 0]]), encoding="utf-8")  # fmt: skip
    outputs = []
    for name in ("plain.txt", "bom.txt", "bom.json"):
        out = tmp_path / f"{name}.png"
        args = ["upscale", str(src), "--kernel", str(tmp_path / name), "-o", str(out)]
        code, _, err = nssr(args, capsys, monkeypatch)
        assert code == 0 and err == "", err
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_devices_and_fifos_are_refused_without_reading(tmp_path: Path, special: str) -> None:
    src = image_file(tmp_path / "a.png")
    path = special
    if special == "fifo":
        path = str(tmp_path / "k.npy")
        os.mkfifo(path)  # opening it to read would block until a writer came
    result = cli("upscale", str(src), "--kernel", path, timeout=60)
    assert result.returncode == 2 and one_error_line(result.stderr, path), result.stderr


def test_a_kernel_area_far_from_one_warns_in_one_line(tmp_path, capsys, monkeypatch) -> None:
    src = image_file(tmp_path / "a.png")
    np.save(tmp_path / "bright.npy", kernel_array(3, 3.0))
    code, _, err = nssr(
        ["upscale", str(src), "--kernel", str(tmp_path / "bright.npy")], capsys, monkeypatch
    )
    assert code == 0
    warnings = [line for line in err.splitlines() if "bright.npy" in line]
    assert warnings == [warnings[0]] and warnings[0].startswith("Warning: ")
    assert "sum to 3" in warnings[0] and "warnings.warn" not in err and ".py:" not in err


def test_kernel_and_blur_together_are_a_usage_error(tmp_path, capsys, monkeypatch) -> None:
    src = image_file(tmp_path / "a.png")
    code, _, err = nssr(
        ["upscale", str(src), "--kernel", "dil", "--blur", "heavy"], capsys, monkeypatch
    )
    assert code == 2 and one_error_line(err, "--blur heavy")
    assert not (tmp_path / "a_x2.png").exists()


def export(*args: str, capsys, monkeypatch) -> tuple[int, dict | None, str]:
    code, out, err = nssr(["export-kernel", "--json", *args], capsys, monkeypatch)
    return code, json.loads(out) if out.strip() else None, err


def test_a_poisoned_cache_entry_is_rebuilt_not_trusted(tmp_path, capsys, monkeypatch) -> None:
    code, first, _ = export(capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0 and first is not None
    entry = Path(first["cache"])
    np.save(entry, kernel_array(11))  # another valid kernel, under the same name
    code, again, err = export("-o", str(tmp_path / "k.npy"), capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0 and again is not None and "read from cache" not in err
    assert again["centre_tap"] == pytest.approx(first["centre_tap"])
    assert np.load(tmp_path / "k.npy")[5, 5] == pytest.approx(first["centre_tap"])
    code, third, err = export(capsys=capsys, monkeypatch=monkeypatch)
    assert "read from cache" in err  # the rebuilt entry is good again
    entry.with_suffix(".json").write_text('{"checkpoint_sha')  # a truncated sidecar
    code, _, err = export(capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0 and "read from cache" not in err and "caching is off" not in err, err
    assert "read from cache" in export(capsys=capsys, monkeypatch=monkeypatch)[2]


def test_a_cache_entry_anyone_may_write_is_not_trusted(capsys, monkeypatch) -> None:
    code, first, _ = export(capsys=capsys, monkeypatch=monkeypatch)
    Path(first["cache"]).chmod(0o666)
    code, _, err = export(capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0 and "read from cache" not in err


@pytest.mark.parametrize("how", ["a file", "missing"])
def test_an_unusable_cache_folder_still_exports(tmp_path, capsys, monkeypatch, how) -> None:
    cache = tmp_path / "cache"
    if how == "a file":
        cache.write_text("not a folder")
    else:
        cache = tmp_path / "not" / "yet" / "there"
    monkeypatch.setenv("NSSR_CACHE_DIR", str(cache))
    code, doc, err = export("-o", str(tmp_path / "k.npy"), capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0 and (tmp_path / "k.npy").is_file() and "Traceback" not in err
    if how == "a file":
        assert doc["cache"] is None and "Warning: caching is off" in err
    else:
        assert Path(doc["cache"]).is_file() and cache in Path(doc["cache"]).parents


def test_a_read_only_cache_folder_still_exports(unprivileged) -> None:
    folder, run = unprivileged
    (folder / "ro").mkdir(mode=0o555)
    (folder / "out").mkdir()
    (folder / "out").chmod(0o777)
    env = {"NSSR_CACHE_DIR": str(folder / "ro" / "cache")}
    result = run("export-kernel", "-o", str(folder / "out" / "k.npy"), env=env)
    assert result.returncode == 0, result.stderr
    assert "Warning: caching is off" in result.stderr and (folder / "out" / "k.npy").is_file()
    result = run("export-kernel", "-o", str(folder / "ro" / "k.npy"), env=env)
    assert result.returncode == 2 and one_error_line(result.stderr, str(folder / "ro"))


def bad_checkpoints(folder: Path) -> dict[str, Path]:
    from nssr_cli.kernels.checkpoints import load_checkpoint
    from nssr_cli.kernels.files import shipped_checkpoint

    good = load_checkpoint(shipped_checkpoint())
    files = {"folder": folder / "ck.pt"}
    files["folder"].mkdir()
    files["random"] = folder / "random.pt"
    files["random"].write_bytes(np.random.default_rng(0).bytes(1000))
    files["zip"] = folder / "zip.pt"
    with zipfile.ZipFile(files["zip"], "w") as z:
        z.writestr("a.txt", "hello")
    wrong = {
        "no_config": {k: v for k, v in good.items() if k != "config"},
        "config_text": {**good, "config": "x"},
        "odd_config": {**good, "config": {"model": {"depth": "5", "width": 32}}},
        "shapes": {
            **good,
            "state_dict": {k: torch.zeros(2, 2, 3, 3) for k in good["state_dict"]},
        },
        "keys": {**good, "state_dict": {"a": torch.zeros(3)}},
        "nan": {**good, "state_dict": {k: v * np.nan for k, v in good["state_dict"].items()}},
        "deep": {**good, "config": {"model": {"depth": 10_000, "width": 32}}},
    }
    for name, ck in wrong.items():
        files[name] = folder / f"{name}.pt"
        torch.save(ck, files[name])
    return files


@pytest.mark.parametrize(
    "name",
    [
        "folder",
        "random",
        "zip",
        "no_config",
        "config_text",
        "odd_config",
        "shapes",
        "keys",
        "nan",
        "deep",
    ],
)
def test_malformed_checkpoints_are_one_line_exit_2(tmp_path, capsys, monkeypatch, name) -> None:
    path = bad_checkpoints(tmp_path)[name]
    code, doc, err = export("--checkpoint", str(path), capsys=capsys, monkeypatch=monkeypatch)
    assert code == 2 and doc is None and one_error_line(err, str(path)), err


def test_a_checkpoint_torch_warns_about_is_still_one_line(tmp_path: Path) -> None:
    """Pickle protocol 4 makes torch.load warn before it fails: the user sees nssr's line only."""
    from nssr_cli.kernels.files import shipped_checkpoint

    path = tmp_path / "protocol4.pt"
    torch.save(torch.load(shipped_checkpoint(), weights_only=True), path, pickle_protocol=4)
    proc = cli("export-kernel", "--checkpoint", str(path))
    assert proc.returncode == 2 and one_error_line(proc.stderr, str(path)), proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["-o", "{tmp}/missing/k.npy"],
        ["--plot", "{tmp}/missing/k.png"],
        ["-o", "{tmp}/k.png"],  # not a kernel format
        ["-o", "{tmp}/a_file/k.npy"],
    ],
)
def test_export_paths_are_checked_before_work(tmp_path, capsys, monkeypatch, args) -> None:
    (tmp_path / "a_file").write_text("x")
    args = [a.format(tmp=tmp_path) for a in args]
    code, doc, err = export(*args, capsys=capsys, monkeypatch=monkeypatch)
    assert code == 2 and doc is None and one_error_line(err, str(tmp_path)), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]
    assert not list(Path(os.environ["NSSR_CACHE_DIR"]).rglob("*.npy"))  # nothing was done


def test_a_full_disk_is_one_line_exit_1(tmp_path, capsys, monkeypatch) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    code, _, err = export("-o", str(tmp_path / "k.npy"), capsys=capsys, monkeypatch=monkeypatch)
    errors = [line for line in err.splitlines() if line.startswith("Error")]
    assert code == 1 and len(errors) == 1 and "disk is full" in errors[0], err
    assert "Traceback" not in err and not list(tmp_path.iterdir())
