"""Which files a run takes as inputs and where each output goes: earlier outputs are not
inputs, an empty run is an error, every output stays inside its destination, and ``-o`` means
a file or a folder by one explicit rule; plus the checks made before any work."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers_cli import BICUBIC, clean, picture, temp_files
from PIL import Image


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("skip", [True, False])
def test_a_rerun_does_not_upscale_the_previous_outputs(cli, tmp_path: Path, skip: bool) -> None:
    picture(tmp_path / "a.png")
    assert cli("upscale", str(tmp_path), *BICUBIC).returncode == 0
    flag = ["--skip-existing"] if skip else []
    folder = cli("upscale", str(tmp_path), *BICUBIC, *flag)
    shell_glob = cli("upscale", str(tmp_path / "a.png"), str(tmp_path / "a_x2.png"), *BICUBIC,
                      *flag)  # fmt: skip
    for proc in (folder, shell_glob):
        err = clean(proc)
        assert proc.returncode == (0 if skip else 1), err
    assert names(tmp_path) == ["a.png", "a_x2.png"]


@pytest.mark.parametrize("glob_by", ["shell", "nssr"])
def test_an_output_folder_named_among_the_inputs_gives_no_earlier_output_again(
    cli, tmp_path: Path, glob_by: str
) -> None:
    # `nssr upscale in/* -o in/big`, run again at another scale: the shell's glob names in/big
    # itself, the one nssr expands (a quoted pattern) matches it
    picture(tmp_path / "in" / "a.png")
    big = tmp_path / "in" / "big"

    def run(scale: str):
        inputs = sorted(map(str, (tmp_path / "in").iterdir()))
        if glob_by == "nssr":
            inputs = [str(tmp_path / "in" / "*")]
        return cli("upscale", *inputs, "-o", str(big), "-s", scale, "--kernel", "bicubic", "-v")

    assert run("2").returncode == 0
    proc = run("3")
    assert proc.returncode == 0, clean(proc)
    assert names(big) == ["a_x2.png", "a_x3.png"]
    assert "not an input" in proc.stderr.decode() or "output folder" in proc.stderr.decode()


def test_output_folder_equal_to_the_input_folder_is_not_silently_nothing(
    cli, tmp_path: Path
) -> None:
    picture(tmp_path / "tree" / "a.png")
    proc = cli("upscale", str(tmp_path / "tree"), "-o", str(tmp_path / "tree"), *BICUBIC)
    err = clean(proc)
    assert proc.returncode == 0, err
    assert names(tmp_path / "tree") == ["a.png", "a_x2.png"]
    proc = cli("upscale", str(tmp_path / "tree"), "-o", str(tmp_path / "tree"), *BICUBIC,
                "--skip-existing")  # fmt: skip
    assert proc.returncode == 0, clean(proc)
    assert names(tmp_path / "tree") == ["a.png", "a_x2.png"]


def test_an_empty_folder_or_one_with_only_subfolders_is_a_usage_error(cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    picture(tmp_path / "nested" / "sub" / "a.png")
    empty = cli("upscale", str(tmp_path / "empty"), *BICUBIC)
    nested = cli("upscale", str(tmp_path / "nested"), *BICUBIC)
    for proc in (empty, nested):
        err = clean(proc)
        assert proc.returncode == 2 and "no image" in err, err
    assert "-r" in nested.stderr.decode()
    assert names(tmp_path / "nested") == ["sub"] and names(tmp_path / "empty") == []


@pytest.mark.parametrize(
    "option", [["--suffix", "/../../x"], ["--suffix", "/x"], ["-f", "png/../../x"]]
)
def test_options_cannot_send_an_output_outside_its_destination(
    cli, tmp_path: Path, option: list[str]
) -> None:
    src = picture(tmp_path / "deep" / "in" / "a.png")
    out = tmp_path / "deep" / "out"
    proc = cli("upscale", str(src), "-o", str(out) + "/", *BICUBIC, *option)
    err = clean(proc)
    assert proc.returncode == 2, err
    made = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert made == ["deep/in/a.png"]


def test_a_symlinked_subfolder_in_the_destination_does_not_lead_outside(
    cli, tmp_path: Path
) -> None:
    picture(tmp_path / "in" / "sub" / "b.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "sub").symlink_to(tmp_path / "elsewhere")
    proc = cli("upscale", str(tmp_path / "in"), "-r", "-o", str(tmp_path / "out"), *BICUBIC)
    err = clean(proc)
    assert proc.returncode in (1, 2) and "outside" in err, err
    assert names(tmp_path / "elsewhere") == []


def test_dash_o_without_an_extension_is_always_a_folder(cli, tmp_path: Path) -> None:
    a = picture(tmp_path / "a.png")
    b = picture(tmp_path / "b.png")
    one = cli("upscale", str(a), "-o", str(tmp_path / "big"), *BICUBIC)
    assert one.returncode == 0, clean(one)
    assert names(tmp_path / "big") == ["a_x2.png"]
    two = cli("upscale", str(a), str(b), "-o", str(tmp_path / "big2"), *BICUBIC)
    assert two.returncode == 0, clean(two)
    assert names(tmp_path / "big2") == ["a_x2.png", "b_x2.png"]
    # an image extension names a file: fine for one input, a usage error for two
    assert cli("upscale", str(a), "-o", str(tmp_path / "one.png"), *BICUBIC).returncode == 0
    proc = cli("upscale", str(a), str(b), "-o", str(tmp_path / "two.png"), *BICUBIC)
    assert proc.returncode == 2 and "folder" in clean(proc)
    assert not (tmp_path / "two.png").exists()


# --- checks made before any work -------------------------------------------------------------


def test_a_format_pillow_can_read_but_not_write_fails_before_any_work(cli, tmp_path: Path) -> None:
    src = picture(tmp_path / "a.png")
    proc = cli("upscale", str(src), "-o", str(tmp_path / "out.psd"), *BICUBIC)
    err = clean(proc)
    assert proc.returncode == 2 and "psd" in err.lower() and "KeyError" not in err, err
    assert names(tmp_path) == ["a.png"]


@pytest.mark.parametrize("ext", ["bmp", "jpg"])
def test_alpha_into_a_format_without_alpha_is_refused_with_advice(
    cli, tmp_path: Path, ext: str
) -> None:
    src = picture(tmp_path / "a.png", mode="RGBA")
    proc = cli("upscale", str(src), "-o", str(tmp_path / f"out.{ext}"), *BICUBIC)
    err = clean(proc)
    assert proc.returncode == 1 and "alpha" in err and "-f png" in err, err
    assert names(tmp_path) == ["a.png"]
    assert cli("upscale", str(src), "-o", str(tmp_path / "ok.png"), *BICUBIC).returncode == 0
    assert Image.open(tmp_path / "ok.png").mode == "RGBA"


def test_a_failing_single_file_prints_one_line(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    proc = cli("upscale", str(bad), *BICUBIC)
    err = clean(proc)
    assert proc.returncode == 1 and err.count("\n") == 1 and err.startswith("Error: "), err
    assert str(bad) in err and not temp_files(tmp_path)
    assert names(tmp_path) == ["bad.png"] and os.path.getsize(bad) == 9


def test_a_file_output_for_several_inputs_suggests_a_folder_of_the_same_name(
    cli, tmp_path: Path
) -> None:
    a, b = picture(tmp_path / "a.png"), picture(tmp_path / "b.png")
    for given, folder in (("set.v2", "set.v2/"), ("big.png", "big/")):
        proc = cli("upscale", str(a), str(b), "-o", str(tmp_path / given), "-f", "png")
        assert proc.returncode == 2 and f"(e.g. -o {tmp_path}/{folder})" in clean(proc)
