"""Planning and running a batch: inputs, output names, refusals, ordering, disk full."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
from helpers_images import gradient, image_file
from PIL import Image

from nssr_cli.batch import run as runner
from nssr_cli.batch.pipeline import BatchRun
from nssr_cli.batch.plan import Options, Source, expand_inputs, plan
from nssr_cli.errors import UsageError
from nssr_cli.files.decode import Frame, Picture


def make(path: Path, size: int = 8) -> Path:
    return image_file(path, Image.fromarray(gradient(size, size)))


def names(sources: list[Source]) -> list[str]:
    return sorted(s.path.name for s in sources if s.path is not None)


def test_folder_takes_images_only_and_subfolders_with_r(tmp_path: Path) -> None:
    make(tmp_path / "a.png")
    make(tmp_path / "sub" / "b.png")
    (tmp_path / "notes.txt").write_text("hi")
    flat = expand_inputs([str(tmp_path)], recursive=False)
    assert names(flat.sources) == ["a.png"]
    assert any("notes.txt" in i for i in flat.ignored) and any("-r" in i for i in flat.ignored)
    assert names(expand_inputs([str(tmp_path)], recursive=True).sources) == ["a.png", "b.png"]


def test_globs_and_missing_inputs(tmp_path: Path) -> None:
    make(tmp_path / "a.png")
    make(tmp_path / "b.jpg")
    assert names(expand_inputs([str(tmp_path / "*.png")], recursive=False).sources) == ["a.png"]
    with pytest.raises(UsageError, match="no file matches"):
        expand_inputs([str(tmp_path / "*.gif")], recursive=False)
    with pytest.raises(UsageError, match="no such file"):
        expand_inputs([str(tmp_path / "missing.png")], recursive=False)


def test_symlink_loops_and_links_give_each_real_file_once(tmp_path: Path) -> None:
    make(tmp_path / "a.png")
    (tmp_path / "loop").symlink_to(tmp_path)
    (tmp_path / "alias.png").symlink_to(tmp_path / "a.png")
    os.link(tmp_path / "a.png", tmp_path / "hard.png")
    found = expand_inputs([str(tmp_path), str(tmp_path / "a.png")], recursive=True)
    assert len(found.sources) == 1


def test_output_folder_inside_the_input_is_never_read(tmp_path: Path) -> None:
    make(tmp_path / "a.png")
    make(tmp_path / "out" / "a_x2.png")
    found = expand_inputs([str(tmp_path)], recursive=True, exclude=tmp_path / "out")
    assert names(found.sources) == ["a.png"]


def test_default_names_suffix_and_format(tmp_path: Path) -> None:
    src = expand_inputs([str(make(tmp_path / "cat.JPG"))], recursive=False).sources
    assert plan(src, Options(2.0))[0].output == tmp_path / "cat_x2.JPG"
    assert plan(src, Options(2.5))[0].output == tmp_path / "cat_x2.5.JPG"
    job = plan(src, Options(2.0, suffix="-big", fmt="png"))[0]
    assert (job.output, job.fmt) == (tmp_path / "cat-big.png", "PNG")
    job = plan(src, Options(2.0, output=str(tmp_path / "o.webp"), fmt="png"))[0]
    assert (job.output, job.fmt) == (tmp_path / "o.webp", "WEBP")  # -o's extension wins


def test_output_folder_mirrors_the_tree(tmp_path: Path) -> None:
    make(tmp_path / "in" / "a.png")
    make(tmp_path / "in" / "x" / "y" / "b.png")
    src = expand_inputs([str(tmp_path / "in")], recursive=True).sources
    outs = sorted(str(j.output) for j in plan(src, Options(2.0, output=str(tmp_path / "out"))))
    assert outs == [
        str(tmp_path / "out" / "a_x2.png"),
        str(tmp_path / "out" / "x" / "y" / "b_x2.png"),
    ]


def test_earlier_outputs_beside_their_inputs_are_not_new_inputs_even_with_o(
    tmp_path: Path,
) -> None:
    """`nssr upscale in/a.jpg -s 2` left in/a_x2.jpg; `nssr upscale in -o out/` must not
    upscale that again into out/a_x2_x2.jpg, whatever format and scale either run used."""
    make(tmp_path / "in" / "a.jpg")
    make(tmp_path / "in" / "a_x2.png")  # an earlier run with -f png
    make(tmp_path / "in" / "a_x2_x2.jpg")  # and one before that
    make(tmp_path / "in" / "a_big.png")  # an earlier run with --suffix _big
    make(tmp_path / "in" / "b_x3.jpg")  # no b.* beside it: an input like any other
    out = f"{tmp_path / 'out'}/"

    def planned(**options: object) -> list[str]:
        found = expand_inputs([str(tmp_path / "in")], recursive=False)
        jobs = plan(found.sources, Options(**options))  # type: ignore[arg-type]
        return sorted(j.source.path.name for j in jobs)

    found = expand_inputs([str(tmp_path / "in")], recursive=False)
    jobs = plan(found.sources, Options(2.0, output=out), found.ignored)
    assert sorted(j.source.path.name for j in jobs) == ["a.jpg", "a_big.png", "b_x3.jpg"]
    assert any("a_x2.png" in i and "a.jpg" in i for i in found.ignored)
    assert planned(scale=3.0, output=out) == ["a.jpg", "a_big.png", "b_x3.jpg"]
    assert planned(scale=2.0, output=out, suffix="_big") == ["a.jpg", "b_x3.jpg"]
    # files named one by one are inputs like any other
    named = expand_inputs(
        [str(tmp_path / "in" / n) for n in ("a.jpg", "a_x2.png")], recursive=False
    )
    assert len(plan(named.sources, Options(2.0, output=out))) == 2


def test_collisions_are_refused_before_starting(tmp_path: Path) -> None:
    make(tmp_path / "a.jpg")
    make(tmp_path / "a.png")
    src = expand_inputs([str(tmp_path)], recursive=False).sources
    assert len(plan(src, Options(2.0))) == 2  # a_x2.jpg, a_x2.png: no clash
    with pytest.raises(UsageError, match="collide"):
        plan(src, Options(2.0, fmt="png"))


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink"])
def test_output_that_is_an_input_is_refused_unless_overwrite(tmp_path: Path, link: str) -> None:
    a = make(tmp_path / "a.png")
    dst = tmp_path / "a_x2.png"
    if link == "same":
        dst = a
    elif link == "symlink":
        dst.symlink_to(a)
    else:
        os.link(a, dst)
    src = expand_inputs([str(a)], recursive=False).sources
    assert "input" in (plan(src, Options(2.0, output=str(dst)))[0].error or "")
    assert plan(src, Options(2.0, output=str(dst), overwrite=True))[0].error is None


def test_existing_outputs(tmp_path: Path) -> None:
    src = expand_inputs([str(make(tmp_path / "a.png"))], recursive=False).sources
    (tmp_path / "a_x2.png").write_bytes(b"old")
    assert "exists" in (plan(src, Options(2.0))[0].error or "")
    assert plan(src, Options(2.0, skip_existing=True))[0].skip
    assert plan(src, Options(2.0, overwrite=True))[0].error is None
    os.chmod(tmp_path / "a_x2.png", 0o444)
    assert "read-only" in (plan(src, Options(2.0, overwrite=True))[0].error or "")
    with pytest.raises(UsageError):
        plan(src, Options(2.0, overwrite=True, skip_existing=True))


def test_unwritable_output_folder_is_a_usage_error(tmp_path: Path) -> None:
    src = expand_inputs([str(make(tmp_path / "a.png"))], recursive=False).sources
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="output folder"):
        plan(src, Options(2.0, output=str(blocker / "sub" / "o.png")))


def test_stdout_takes_one_input_and_keeps_its_format_unless_f(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="exactly one"):
        plan([Source(None)] * 2, Options(2.0, output="-"))
    assert plan([Source(None)], Options(2.0, output="-"))[0].fmt is None  # the input's format
    assert plan([Source(None)], Options(2.0, output="-", fmt="jpg"))[0].fmt == "JPEG"


def double(pic: Picture) -> tuple[Picture, dict]:
    """A stand-in upscaler: nearest ×2."""
    frames = [Frame(f.color.repeat(2, 0).repeat(2, 1)) for f in pic.frames]
    return Picture(frames, pic.format), {"kernel": "nearest"}


def run_folder(tmp_path: Path, **settings: object) -> list[runner.Result]:
    src = expand_inputs([str(tmp_path / "in")], recursive=True).sources
    jobs = plan(src, Options(2.0, output=str(tmp_path / "out")))
    return BatchRun(double, lambda r: None, runner.Settings(**settings)).run(jobs)  # type: ignore[arg-type]


def test_run_reports_every_file_in_order_and_goes_on_after_failures(tmp_path: Path) -> None:
    for name in "abcde":
        make(tmp_path / "in" / f"{name}.png")
    (tmp_path / "in" / "c.png").write_bytes(b"broken")
    results = run_folder(tmp_path, workers=3)
    assert [r.job.source.path.name for r in results] == [
        "a.png",
        "b.png",
        "c.png",
        "d.png",
        "e.png",
    ]
    assert [r.status for r in results] == ["done", "done", "failed", "done", "done"]
    assert Image.open(tmp_path / "out" / "e_x2.png").size == (16, 16)
    assert not (tmp_path / "out" / "c_x2.png").exists()


def test_disk_full_stops_the_batch_and_leaves_no_temp_file(tmp_path, monkeypatch) -> None:
    for name in "abc":
        make(tmp_path / "in" / f"{name}.png")
    out = tmp_path / "out"
    out.mkdir()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    results = run_folder(tmp_path, workers=1)
    assert results[0].status == "failed" and "disk is full" in (results[0].error or "")
    assert results[-1].status == "not attempted"  # the batch stopped
    assert "done" not in [r.status for r in results]
    assert os.listdir(out) == []


def test_upscaler_keeps_alpha_soft_and_reuses_plans() -> None:
    from nssr_cli.engine.plans import make_plan, upscale_planes
    from nssr_cli.kernels.files import resolve_kernel

    k = np.full((3, 3), -0.1, np.float32)
    k[1, 1] = 1.8
    up = runner.Upscaler(2.0, None, "auto", "cpu")
    up.fixed = (k, "sharp")
    rgba = gradient(12, 12, 4)
    rgba[..., 3] = np.random.default_rng(0).integers(1, 256, (12, 12))  # sharpening would show
    pic = Picture([Frame(rgba[..., :3].copy(), rgba[..., 3].copy())], "PNG")
    out, _ = up(pic)
    out2, _ = up(pic)
    bicubic = make_plan(resolve_kernel("bicubic")[0], 2.0, "cpu")
    # alpha is bicubic's: within one level (it rode in a 4-channel call, the reference in a
    # 1-channel one, whose float sums may round differently)
    alpha = upscale_planes(rgba[..., 3], bicubic).astype(int)
    assert np.abs(out.frames[0].alpha.astype(int) - alpha).max() <= 1
    sharpened = upscale_planes(rgba[..., 3], make_plan(k, 2.0, "cpu")).astype(int)
    assert np.abs(sharpened - alpha).max() > 5  # what the comparison would have caught
    assert not np.array_equal(out.frames[0].color, upscale_planes(rgba[..., :3], bicubic))
    assert np.array_equal(out.frames[0].color, out2.frames[0].color) and len(up.plans) == 2
