"""How every nssr command publishes an output file, and what it refuses (RELIABILITY.md).

One rule for ``upscale``, ``train -o``, ``export-kernel -o/--plot`` (and a kernel's ``.json``
sidecar) and ``eval --compare``: an existing path is refused unless ``--overwrite``; anything that
is not a regular file (device, FIFO, folder) is never replaced; the bytes go to a temp file in
the destination folder, are fsynced, then published; a file that appears at the output path
after planning is not overwritten without ``--overwrite``. Black-box: real ``nssr`` processes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from helpers_cli import BICUBIC, clean, picture, temp_files
from PIL import Image

TINY_TRAIN = ["--kernels", "8", "--kernel-size", "5", "--epochs", "1", "--batch-size", "8",
              "--width", "4", "--depth", "2", "-q"]  # fmt: skip


# --- train and export-kernel follow the same rule as upscale ---------------------------------


def test_train_refuses_an_existing_output_before_training(cli, tmp_path: Path) -> None:
    photo = picture(tmp_path / "photo.pt")
    before = photo.read_bytes()
    proc = cli("train", "-o", str(photo), *TINY_TRAIN)
    err = clean(proc)
    assert proc.returncode == 2 and "--overwrite" in err and "L-CNN" not in err, err
    assert photo.read_bytes() == before
    proc = cli("train", "-o", str(photo), *TINY_TRAIN, "--overwrite")
    assert proc.returncode == 0, clean(proc)
    assert photo.read_bytes() != before and not temp_files(tmp_path)


@pytest.mark.parametrize("kind", ["fifo", "folder", "device"])
def test_train_never_replaces_what_is_not_a_regular_file(cli, tmp_path: Path, kind: str) -> None:
    target = tmp_path / "target"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":
        target.mkdir()
    else:
        try:  # a private copy of /dev/full: root replaced the real one with a checkpoint
            os.mknod(target, stat.S_IFCHR | 0o666, os.makedev(1, 7))
        except PermissionError:
            pytest.skip("making a device node needs root (CAP_MKNOD)")
    mode = os.lstat(target).st_mode
    proc = cli("train", "-o", str(target), *TINY_TRAIN, "--overwrite")
    err = clean(proc)
    assert proc.returncode == 2 and "not a regular file" in err, err
    assert os.lstat(target).st_mode == mode and not temp_files(tmp_path)


def test_export_kernel_refuses_existing_kernel_sidecar_and_plot(cli, tmp_path: Path) -> None:
    k, sidecar, plot = tmp_path / "k.npy", tmp_path / "k.json", tmp_path / "k.png"
    for existing in (k, sidecar, plot):
        existing.write_bytes(b"precious")
        proc = cli("export-kernel", "-o", str(k), "--plot", str(plot))
        err = clean(proc)
        assert proc.returncode == 2 and str(existing) in err and "--overwrite" in err, err
        assert [p.read_bytes() for p in (k, sidecar, plot) if p.exists()] == [b"precious"]
        existing.unlink()
    proc = cli("export-kernel", "-o", str(k), "--plot", str(plot))
    assert proc.returncode == 0, clean(proc)
    k.chmod(0o600)
    proc = cli("export-kernel", "-o", str(k), "--plot", str(plot), "--overwrite")
    assert proc.returncode == 0, clean(proc)
    assert np.load(k).shape[0] % 2 == 1 and stat.S_IMODE(k.stat().st_mode) == 0o600
    assert not temp_files(tmp_path)


def test_a_json_that_is_not_an_nssr_sidecar_is_never_replaced_by_one(cli, tmp_path: Path) -> None:
    """`-o k.npy` also writes k.json: a k.json of the user's own (a `--json` report) survives
    `--overwrite`, and both refusals say that k.json is the sidecar of k.npy."""
    k, report = tmp_path / "k.npy", tmp_path / "k.json"
    report.write_text('{"my": "training report"}\n')
    for args in (
        ("export-kernel", "-o", str(k), "--overwrite"),
        ("train", "--objective", "scenes", "--solve", "-o", str(k), "--kernels", "4"),
    ):
        proc = cli(*args)
        err = clean(proc)
        assert proc.returncode == 2 and len(err.strip().splitlines()) == 1, err
        assert "the sidecar nssr writes for k.npy" in err and "not one of nssr's" in err, err
        assert report.read_text() == '{"my": "training report"}\n' and not k.exists()
    report.unlink()
    assert cli("export-kernel", "-o", str(k)).returncode == 0
    proc = cli("export-kernel", "-o", str(k))
    err = clean(proc)
    assert proc.returncode == 2 and "the sidecar nssr writes for k.npy" in err, err
    assert "--overwrite" in err and len(err.strip().splitlines()) == 1, err
    assert cli("export-kernel", "-o", str(k), "--overwrite").returncode == 0


# --- upscale: --overwrite keeps permissions, hard links are documented, races are lost safely --


def test_overwrite_keeps_the_permission_bits_of_the_replaced_file(cli, tmp_path: Path) -> None:
    src = picture(tmp_path / "a.png")
    out = tmp_path / "a_x2.png"
    out.write_bytes(b"old")
    out.chmod(0o600)
    proc = cli("upscale", str(src), *BICUBIC, "--overwrite")
    assert proc.returncode == 0, clean(proc)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and Image.open(out).size == (32, 24)


def test_overwrite_replaces_the_file_and_leaves_its_other_hard_links_alone(
    cli, tmp_path: Path
) -> None:
    """Documented: --overwrite publishes a new file (new inode); other names of the old file
    keep the old bytes. Writing in place would destroy them when the write fails."""
    src = picture(tmp_path / "a.png")
    out, other = tmp_path / "a_x2.png", tmp_path / "backup.png"
    out.write_bytes(b"old")
    os.link(out, other)
    proc = cli("upscale", str(src), *BICUBIC, "--overwrite")
    assert proc.returncode == 0, clean(proc)
    assert other.read_bytes() == b"old" and Image.open(out).size == (32, 24)


def test_a_file_created_after_planning_is_not_overwritten(cli, tmp_path: Path, monkeypatch) -> None:
    src = picture(tmp_path / "a.png")
    out = tmp_path / "a_x2.png"
    real_fsync = os.fsync

    def fsync(fd: int) -> None:  # another program creates the output while nssr writes it
        if not out.exists():
            out.write_bytes(b"theirs")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    proc = cli("upscale", str(src), *BICUBIC)
    err = clean(proc)
    assert proc.returncode == 1 and "a_x2.png" in err and "another program" in err, err
    assert out.read_bytes() == b"theirs" and not temp_files(tmp_path)


def test_a_long_name_that_fits_is_written_and_one_that_does_not_fails_up_front(
    cli,
    tmp_path: Path,
) -> None:
    fits = picture(tmp_path / ("f" * 240 + ".png"))  # output 247 bytes: fits NAME_MAX (255)
    proc = cli("upscale", str(fits), *BICUBIC)
    assert proc.returncode == 0, clean(proc)
    assert (tmp_path / ("f" * 240 + "_x2.png")).is_file()
    long = picture(tmp_path / ("g" * 250 + ".png"))  # output 257 bytes: cannot exist
    proc = cli("upscale", str(long), *BICUBIC, "-v")
    err = clean(proc)
    assert proc.returncode in (1, 2) and "too long" in err, err
    assert "done:" not in err and not temp_files(tmp_path)


def test_eval_compare_does_not_overwrite_existing_crops(cli, tmp_path: Path) -> None:
    hr = tmp_path / "hr"
    rng = np.random.default_rng(0)
    hr.mkdir()
    Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(hr / "a.png")
    cmp = tmp_path / "cmp"
    proc = cli("eval", str(hr), "-s", "2", "-k", "bicubic", "--compare", str(cmp))
    assert proc.returncode == 0, clean(proc)
    crops = sorted(cmp.iterdir())
    assert crops
    for c in crops:
        c.write_bytes(b"precious")
    proc = cli("eval", str(hr), "-s", "2", "-k", "bicubic", "--compare", str(cmp))
    err = clean(proc)
    assert proc.returncode == 2 and "--overwrite" in err, err
    assert all(c.read_bytes() == b"precious" for c in crops)
    proc = cli("eval", str(hr), "-s", "2", "-k", "bicubic", "--compare", str(cmp), "--overwrite")
    assert proc.returncode == 0, clean(proc)
    assert all(Image.open(c).format == "PNG" for c in crops)


def test_without_hard_links_publication_still_never_clobbers(tmp_path: Path, monkeypatch) -> None:
    """FAT, some network file systems: ``link`` fails with EPERM; the name is then reserved with
    O_EXCL, so an existing file is still refused and a new one still appears whole."""
    import errno

    from nssr_cli.errors import OutputError
    from nssr_cli.files.atomic import publish

    def no_links(src: object, dst: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    publish(tmp_path / "new.bin", b"whole")
    assert (tmp_path / "new.bin").read_bytes() == b"whole"
    real_fsync = os.fsync

    def theirs_appears(fd: int) -> None:
        real_fsync(fd)
        if not (tmp_path / "race.bin").exists():
            (tmp_path / "race.bin").write_bytes(b"theirs")

    monkeypatch.setattr(os, "fsync", theirs_appears)
    with pytest.raises(OutputError, match="another program"):
        publish(tmp_path / "race.bin", b"ours")
    assert (tmp_path / "race.bin").read_bytes() == b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.bin", "race.bin"]


def test_publishing_the_bytes_already_there_writes_nothing(tmp_path: Path) -> None:
    """A regular file that already holds exactly the bytes is left as it is and counts as
    published; other bytes, or a symlink to the same bytes, are still refused."""
    from nssr_cli.errors import OutputError
    from nssr_cli.files.atomic import publish

    out = tmp_path / "a.bin"
    publish(out, b"result")
    before = os.stat(out)
    publish(out, b"result")  # e.g. a Ray task retried after its worker died just after this
    after = os.stat(out)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    with pytest.raises(OutputError, match="already exists"):
        publish(out, b"resulT")
    with pytest.raises(OutputError, match="already exists"):
        publish(out, b"result and more")
    (tmp_path / "link.bin").symlink_to(out)
    with pytest.raises(OutputError, match="already exists"):
        publish(tmp_path / "link.bin", b"result")
    assert out.read_bytes() == b"result" and (tmp_path / "link.bin").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "link.bin"]  # no temp left


def test_a_file_run_again_after_it_was_published_is_done_not_failed(tmp_path: Path) -> None:
    """What a Ray retry does when the worker died after publishing: the same job again finds
    its own output, byte for byte, and reports it done; a different file there still fails."""
    from helpers_images import image_file

    from nssr_cli.batch.plan import Options, expand_inputs, plan
    from nssr_cli.batch.run import Settings, Upscaler, process
    from nssr_cli.files.decode import DEFAULT_MAX_PIXELS

    src = image_file(tmp_path / "in" / "a.png")
    found = expand_inputs([str(src)], recursive=False, exclude=tmp_path / "out")
    options = Options(2.0, str(tmp_path / "out") + os.sep, None, None, False, False, False)
    (job,) = plan(found.sources, options)
    upscaler = Upscaler(2.0, None, "auto", "cpu", None)
    settings = Settings(95, DEFAULT_MAX_PIXELS, scale=2.0, overwrite=False)
    assert process(job, upscaler, settings).status == "done"
    first = job.output.read_bytes()
    again = process(job, upscaler, settings)
    assert again.status == "done" and job.output.read_bytes() == first
    job.output.write_bytes(first[:-1] + b"\x00")
    third = process(job, upscaler, settings)
    assert third.status == "failed" and "already exists" in third.error
    assert job.output.read_bytes() == first[:-1] + b"\x00"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_folder_that_exists_but_takes_no_files_is_refused_in_plain_words(
    cli, tmp_path: Path
) -> None:
    src = picture(tmp_path / "a.png")
    r = cli("upscale", str(src), "-o", "/proc/x.png", "--kernel", "bicubic")
    err = r.stderr.decode()
    assert r.returncode == 2 and "/proc (files cannot be created there)" in err, err
    assert "No such file" not in err


def test_upscale_makes_the_output_folder_but_not_a_missing_folder_above_it(
    cli, tmp_path: Path
) -> None:
    """A typo in `-o` is refused before any work, as for every other command's output; the
    folder `-o` names and the input tree's folders under it are made."""
    tree = tmp_path / "in"
    picture(tree / "a.png")
    picture(tree / "sub" / "b.png")
    for out in ("nodir/x.png", "nodir/big/", "nodir/big"):
        r = cli("upscale", str(tree / "a.png"), "-o", str(tmp_path / out), "--kernel", "bicubic")
        err = clean(r)
        assert r.returncode == 2 and f"no such folder {tmp_path / 'nodir'}" in err, (out, err)
    r = cli("upscale", "-", "-o", str(tmp_path / "nodir" / "x.png"), "--kernel", "bicubic")
    assert r.returncode == 2 and "no such folder" in clean(r)
    assert not (tmp_path / "nodir").exists()
    r = cli("upscale", str(tree), "-r", "-o", str(tmp_path / "big") + "/", "--kernel", "bicubic")
    assert r.returncode == 0, clean(r)
    assert (tmp_path / "big" / "a_x2.png").is_file()
    assert (tmp_path / "big" / "sub" / "b_x2.png").is_file()
