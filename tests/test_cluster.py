"""``nssr upscale --ray`` and ``upscale_paths`` on a real local Ray cluster: the same outputs,
messages, exit codes and resume as the local batch; a killed worker's file is retried; Ctrl-C
cancels. One Ray instance (2 CPUs) serves the whole module."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers_cli import default_signals
from helpers_images import gradient, image_file, png16_reference, srgb_profile
from PIL import Image
from test_cli_upscale import nssr

ray = pytest.importorskip("ray", reason='the Ray extra is not installed: pip install -e ".[ray]"')

from nssr_cli.batch.cluster import upscale_paths  # noqa: E402
from nssr_cli.batch.pipeline import BatchInterrupted  # noqa: E402
from nssr_cli.errors import note_sigterm  # noqa: E402

# What this module's Ray workers carry in their environment (and no other process does).
OURS: dict[str, bytes] = {}


@pytest.fixture(scope="module")
def cluster() -> str:
    """A 2-CPU Ray instance for the module; returns its address. Its workers get a cache folder
    of their own (they inherit the environment at start, not each test's)."""
    folder = tempfile.mkdtemp(prefix="nssr-ray-")  # short: Ray's socket paths have a limit
    env = {"NSSR_CACHE_DIR": os.path.join(folder, "cache"), "RAY_USAGE_STATS_ENABLED": "0"}
    OURS["environ"] = f"NSSR_CACHE_DIR={env['NSSR_CACHE_DIR']}".encode()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        ray.init(
            num_cpus=2,
            num_gpus=0,  # the usage-error tests expect a cluster without GPUs
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
            _temp_dir=os.path.join(folder, "ray"),
        )
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def run(capsys, monkeypatch):
    """``nssr upscale ARGS`` in-process: (exit code, stdout, stderr)."""

    def go(*args: str) -> tuple[int, str, str]:
        code, out, err = nssr(["upscale", *args], capsys, monkeypatch)
        assert "Traceback" not in err
        return code, out, err

    return go


def mixed_tree(root: Path) -> Path:
    """Photos of every kind nssr treats specially, in nested folders."""
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate on viewing
    rgba = Image.fromarray(np.dstack([gradient(20, 28), gradient(20, 28, 1)[..., None]]))
    frames = [Image.fromarray(gradient(16, 16)).convert("P") for _ in range(2)]
    image_file(root / "a" / "rgb.png", Image.fromarray(gradient(24, 30)))
    image_file(root / "a" / "alpha.png", rgba)
    image_file(root / "a" / "b" / "gray.jpg", Image.fromarray(gradient(18, 22, 1)), quality=90)
    image_file(root / "a" / "b" / "turned.jpg", Image.fromarray(gradient(12, 16)), exif=exif)
    image_file(root / "icc.tif", Image.fromarray(gradient(14, 20)), icc_profile=srgb_profile())
    (root / "deep.png").write_bytes(png16_reference(gradient(10, 12, 3, np.uint16)))
    frames[0].save(root / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    return root


def photos(root: Path, n: int, side: int) -> Path:
    """``n`` noisy photos big enough that each takes a worker a noticeable moment."""
    rng = np.random.default_rng(1)
    for i in range(n):
        pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        image_file(root / f"p{i:02d}.png", Image.fromarray(pixels))
    return root


def outputs(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (temp files included, so that a stray one fails a test)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def rows(out: str) -> list[dict]:
    """The --json rows, by input, without their timings."""
    found = [
        {k: v for k, v in json.loads(line).items() if k != "seconds"} for line in out.splitlines()
    ]
    return sorted(found, key=lambda r: r["input"])


def test_a_tree_of_mixed_files_gives_the_same_bytes_and_rows_as_the_local_batch(
    cluster, run, tmp_path
) -> None:
    src = mixed_tree(tmp_path / "in")
    local = run(str(src), "-r", "-o", str(tmp_path / "local"), "--json", "-q")
    remote = run(str(src), "-r", "-o", str(tmp_path / "ray"), "--json", "-q", "--ray", "local")
    assert local[0] == remote[0] == 0, remote[2]
    assert len(outputs(tmp_path / "ray")) == 7
    assert outputs(tmp_path / "ray") == outputs(tmp_path / "local")
    local_rows = [{**r, "output": r["output"].replace("/local/", "/ray/")} for r in rows(local[1])]
    assert rows(remote[1]) == local_rows


def test_bad_files_give_the_same_exit_code_and_messages(
    cluster, run, tmp_path, monkeypatch
) -> None:
    src = tmp_path / "in"
    image_file(src / "good.png")
    (src / "empty.png").write_bytes(b"")
    (src / "text.jpg").write_bytes(b"hello, not a jpeg")
    whole = image_file(tmp_path / "whole.png")
    (src / "cut.png").write_bytes(whole.read_bytes()[:-30])
    monkeypatch.chdir(tmp_path)  # relative paths in messages, as a user types them
    local = run("in", "-o", "local/")
    remote = run("in", "-o", "remote/", "--ray", "local")
    assert local[0] == remote[0] == 1
    lines = [sorted(err.replace("local/", "remote/").splitlines()) for _, _, err in (local, remote)]
    assert lines[0] == lines[1] and sum(line.startswith("Error: in/") for line in lines[1]) == 3
    assert "4 files: 1 done, 3 failed" in remote[2]
    assert outputs(tmp_path / "remote") == outputs(tmp_path / "local")


def test_skip_existing_resumes(cluster, run, tmp_path) -> None:
    src = photos(tmp_path / "in", 5, 24)
    dst = tmp_path / "out"
    assert run(str(src), "-o", str(dst), "--ray", "local", "-q")[0] == 0
    first = outputs(dst)
    for name in ("p01_x2.png", "p03_x2.png"):
        (dst / name).unlink()
    code, out, _ = run(str(src), "-o", str(dst), "--skip-existing", "--json", "--ray", "local")
    status = {Path(r["input"]).name: r["status"] for r in rows(out)}
    assert code == 0 and status == {
        "p00.png": "skipped",
        "p01.png": "done",
        "p02.png": "skipped",
        "p03.png": "done",
        "p04.png": "skipped",
    }
    assert outputs(dst) == first


def kill_first_busy_worker(stop: threading.Event, killed: list[int]) -> None:
    """SIGKILL the first of this module's Ray workers seen upscaling a file (its process title
    names the task; its environment, this module's cluster): never another user's or run's."""
    while not stop.is_set() and not killed:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes()
                if not title.startswith(b"ray::_upscale_file"):
                    continue
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if OURS["environ"] in environ:
                os.kill(int(pid), signal.SIGKILL)
                killed.append(int(pid))
                return
        time.sleep(0.005)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the worker to kill through /proc")
def test_a_killed_worker_has_its_file_retried_to_completion(cluster, run, tmp_path) -> None:
    src = photos(tmp_path / "in", 8, 300)
    assert run(str(src), "-o", str(tmp_path / "local"), "-q")[0] == 0
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=kill_first_busy_worker, args=(stop, killed))
    killer.start()
    try:
        code, out, err = run(str(src), "-o", str(tmp_path / "ray"), "--json", "--ray", "local")
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was caught upscaling; nothing was tested"
    assert code == 0, err
    assert [r["status"] for r in rows(out)] == ["done"] * 8  # stdout: JSON rows only
    finished = {k: v for k, v in outputs(tmp_path / "ray").items() if not k.endswith(".tmp")}
    assert finished == outputs(tmp_path / "local")
    # A hidden temp file of the killed attempt may remain (as after a SIGKILLed local run);
    # the final names are complete.


def test_upscale_paths_takes_a_list_of_paths(cluster, tmp_path) -> None:
    src = photos(tmp_path / "in", 3, 16)
    seen = []
    results = upscale_paths(
        [str(p) for p in sorted(src.iterdir())], tmp_path / "out", scale=3, on_result=seen.append
    )
    assert sorted(r.status for r in results) == ["done"] * 3 and len(seen) == 3
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "p00_x3.png",
        "p01_x3.png",
        "p02_x3.png",
    ]
    assert Image.open(tmp_path / "out" / "p00_x3.png").size == (48, 48)


def test_upscale_paths_takes_a_ray_dataset_of_paths(cluster, tmp_path) -> None:
    data = pytest.importorskip("ray.data", reason="Ray Data is not installed (ray[data])")
    src = photos(tmp_path / "in", 2, 16)
    dataset = data.from_items([{"path": str(p)} for p in sorted(src.iterdir())])
    results = upscale_paths(dataset, tmp_path / "out")
    assert sorted(r.status for r in results) == ["done", "done"]


def test_stdin_stdout_and_missing_gpus_are_usage_errors(cluster, run, tmp_path) -> None:
    src = image_file(tmp_path / "a.png")
    code, _, err = run(str(src), "-o", "-", "--ray", "local")
    assert code == 2 and "stdin ('-') and -o - are not supported" in err
    code, _, err = run(str(src), "--gpus-per-worker", "1", "--ray", "local")
    assert code == 2 and "the Ray cluster has no GPU" in err
    code, _, err = run(str(src), "--device", "cuda", "--ray", "local")
    assert code == 2 and "--device cuda" in err
    assert not (tmp_path / "a_x2.png").exists()


def test_an_interrupted_run_cancels_its_tasks(cluster, tmp_path) -> None:
    src = photos(tmp_path / "in", 40, 300)

    seen = []

    def ctrl_c(result) -> None:  # as if Ctrl-C came while the driver waits
        seen.append(result)
        if len(seen) == 1:
            raise KeyboardInterrupt

    with pytest.raises(BatchInterrupted, match=r"interrupted: \d+ finished outputs? kept") as stop:
        upscale_paths([str(src)], tmp_path / "out", on_result=ctrl_c)
    assert stop.value.exit_code == 130
    written = outputs(tmp_path / "out")
    # every output written was reported (a --json row), also those that finished while stopping
    assert sorted(r.job.output.name for r in seen if r.status == "done") == sorted(written)
    # Others may finish in the instant before the first result is seen; the message counts them.
    assert re.search(rf"\b{len(written)} finished outputs? kept", str(stop.value))
    time.sleep(3)  # this driver stays connected: tasks not stopped would go on writing
    assert outputs(tmp_path / "out") == written
    assert len(written) < 10 and not [k for k in written if k.endswith(".tmp")]
    assert ray.util.list_named_actors() == []  # the run's stop signal is gone with its tasks


def test_sigterm_is_told_as_sigterm_when_ray_raises_it_as_a_plain_interrupt(
    cluster, tmp_path
) -> None:
    """A signal handled inside ``ray.wait`` comes out of it as a plain KeyboardInterrupt, not
    the command line's Terminated: the run must still say SIGTERM and exit 143."""
    src = photos(tmp_path / "in", 6, 16)

    def sigterm_inside_ray_wait(result: object) -> None:
        note_sigterm()  # what the command line's SIGTERM handler records
        raise KeyboardInterrupt  # what Ray raises in place of its Terminated

    try:
        with pytest.raises(BatchInterrupted, match=r"^terminated \(SIGTERM\): ") as stop:
            upscale_paths([str(src)], tmp_path / "out", on_result=sigterm_inside_ray_wait)
    finally:
        note_sigterm(False)
    assert stop.value.exit_code == 143


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_cancels_the_job_and_exits_130_or_143(
    cluster, tmp_path, signum, code
) -> None:
    src = photos(tmp_path / "in", 40, 300)
    dst = tmp_path / "out"
    env = {**os.environ, "RAY_ADDRESS": cluster}
    args = [sys.executable, "-m", "nssr_cli", "upscale", str(src), "-o", str(dst), "--json"]
    proc = subprocess.Popen(
        [*args, "--ray", "auto"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=default_signals,
    )
    first = proc.stdout.readline()  # a file finished: the job is running
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert json.loads(first)["status"] == "done"
    assert proc.returncode == code, err.decode()
    assert (b"interrupted: " in err) if code == 130 else (b"terminated (SIGTERM): " in err)
    assert b"finished output" in err and b"Traceback" not in err
    time.sleep(2)  # cancelled tasks must not go on writing after the driver left
    written = outputs(dst)
    assert 1 <= len(written) < 40 and not [k for k in written if k.endswith(".tmp")]
    time.sleep(2)
    assert outputs(dst).keys() == written.keys()


def test_an_unexpected_error_on_a_worker_fails_that_file_only(cluster, tmp_path) -> None:
    from nssr_cli.batch import cluster as ray_batch
    from nssr_cli.batch.plan import Options, expand_inputs, plan
    from nssr_cli.batch.run import Settings, Upscaler

    class Faulty(Upscaler):  # defined here, so Ray sends it by value
        def __call__(self, pic):
            if pic.size[0] == 16:
                raise ValueError("a bug")
            return super().__call__(pic)

    image_file(tmp_path / "in" / "small.png")  # 16 px wide
    image_file(tmp_path / "in" / "wide.png", Image.fromarray(gradient(12, 20)))
    jobs = plan(expand_inputs([str(tmp_path / "in")], recursive=False).sources, Options(2, None))
    using, seen = ray_batch.resources(ray, "cpu"), []
    results = ray_batch.run(
        jobs, Faulty(2, None, "auto", "cpu"), Settings(scale=2), seen.append, using=using
    )
    assert seen == results
    status = {r.job.source.path.name: (r.status, r.error) for r in results}
    assert status["wide.png"] == ("done", None)
    assert status["small.png"][0] == "failed"
    assert status["small.png"][1].endswith("small.png: failed on a Ray worker (ValueError: a bug)")
