"""What ``--ray`` costs: files per second for the local batch and for a local Ray instance on the
same machine, Ray's start-up, and the time Ray adds to each file. Needs ``pip install "nssr[ray]"``.

    python benchmarks/cluster.py                       # 40 files of 256×256 at ×2
    python benchmarks/cluster.py --files 100 --side 512 --repeat 3 --json

On one machine Ray cannot be faster than the local batch (same cores); what this measures is its
overhead. Four numbers, each the best of ``--repeat`` runs after a warm-up, in one process:

- local: the CLI's local runner (:class:`BatchRun`: decode/encode threads overlapped with the
  upscale) over the planned files;
- ray: :func:`nssr_cli.batch.cluster.run` on a local Ray instance with every core (one task per
  file, one core each), workers already started;
- per-file overhead: the same files one at a time through Ray (one task in flight) against
  :func:`process` in a loop on the driver with one thread, as in a worker; and, since that
  difference drowns in the noise of a shared machine, Ray alone: empty tasks taking and
  returning what a file's task does (submit, schedule, send the job, return the result);
- start-up: ``ray.init`` of a local instance, and the first task (which starts a worker process).

``--cli`` also times the two end-to-end commands a user types (fresh processes, start-up included).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from nssr_cli.batch import cluster
from nssr_cli.batch.pipeline import BatchRun
from nssr_cli.batch.plan import Options, expand_inputs, plan
from nssr_cli.batch.run import Settings, Upscaler, process

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "examples" / "photo.png"


def make_inputs(folder: Path, n: int, side: int) -> None:
    """``n`` JPEGs of ``side``² px: crops of the example photo with a little grain."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    base = Image.open(PHOTO).convert("RGB") if PHOTO.is_file() else None
    for i in range(n):
        if base is not None:
            x, y = (
                rng.integers(0, max(1, base.width - side)),
                rng.integers(0, max(1, base.height - side)),
            )
            crop = np.asarray(base.crop((x, y, x + side, y + side)).resize((side, side)))
            arr = np.clip(crop + rng.normal(0, 2, crop.shape), 0, 255).astype(np.uint8)
        else:
            arr = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        Image.fromarray(arr).save(folder / f"f{i:04d}.jpg", quality=92)


def best_of(repeat: int, fn: Callable[[Path], object], work: Path) -> float:
    """Best wall time of ``fn(fresh output folder)``."""
    best = float("inf")
    for i in range(repeat + 1):  # the first is a warm-up
        out = work / f"out{time.perf_counter_ns()}"
        t = time.perf_counter()
        fn(out)
        seconds = time.perf_counter() - t
        shutil.rmtree(out)
        if i:
            best = min(best, seconds)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--side", type=int, default=256, help="input side in pixels")
    ap.add_argument("--scale", type=float, default=2.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cli", action="store_true", help="also time the two commands end to end")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    work = Path(tempfile.mkdtemp(prefix="nssr-bench-"))
    src = work / "in"
    make_inputs(src, args.files, args.side)
    sources = expand_inputs([str(src)], recursive=False).sources

    def jobs(out: Path) -> list:
        return plan(sources, Options(args.scale, f"{out}/"))

    upscaler = Upscaler(args.scale, None, "auto", "cpu")
    settings = Settings(scale=args.scale)
    ignore = lambda _: None  # noqa: E731

    def local(out: Path) -> None:
        BatchRun(upscaler, ignore, settings).run(jobs(out))

    def one_thread(fn: Callable[[Path], object]) -> Callable[[Path], object]:
        """``fn`` with one torch thread, as in a Ray worker (Ray sets OMP_NUM_THREADS=1; the
        OpenCV CPU engine keeps its own thread pool either way)."""

        def go(out: Path) -> None:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                fn(out)
            finally:
                torch.set_num_threads(threads)

        return go

    def one_by_one(out: Path) -> None:
        for job in jobs(out):
            process(job, upscaler, settings)

    local_s = best_of(args.repeat, local, work)
    local_1_s = best_of(args.repeat, one_thread(local), work)
    serial_s = best_of(args.repeat, one_thread(one_by_one), work)

    t = time.perf_counter()
    with cluster.connect("local") as ray:
        init_s = time.perf_counter() - t
        t = time.perf_counter()
        ray.get(ray.remote(lambda: None).remote())
        first_task_s = time.perf_counter() - t
        using = cluster.resources(ray, "cpu")
        ray_s = best_of(
            args.repeat,
            lambda out: cluster.run(jobs(out), upscaler, settings, ignore, using=using),
            work,
        )
        ray_serial_s = best_of(
            args.repeat,
            lambda out: cluster.run(
                jobs(out), upscaler, settings, ignore, using=using, in_flight=1
            ),
            work,
        )
        trip_s, trips_s = round_trips(ray, jobs(work / "never"), upscaler, settings, args.repeat)
    n = args.files
    report = {
        "files": n,
        "side": args.side,
        "scale": args.scale,
        "cores": os.cpu_count(),
        "local_files_per_s": round(n / local_s, 2),
        "local_1_thread_files_per_s": round(n / local_1_s, 2),
        "ray_files_per_s": round(n / ray_s, 2),
        "ray_vs_local": round(local_s / ray_s, 3),
        "serial_ms_per_file": round(1000 * serial_s / n, 2),
        "ray_serial_ms_per_file": round(1000 * ray_serial_s / n, 2),
        "ray_serial_minus_serial_ms": round(1000 * (ray_serial_s - serial_s) / n, 2),
        "ray_empty_task_round_trip_ms": round(1000 * trip_s / n, 3),
        "ray_empty_tasks_ms_each_in_parallel": round(1000 * trips_s / n, 3),
        "ray_init_s": round(init_s, 2),
        "ray_first_task_s": round(first_task_s, 2),
    }
    if args.cli:
        report.update(end_to_end(src, work))
    shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(report))
        return
    for key, value in report.items():
        print(f"{key:28} {value}")


def round_trips(ray, jobs: list, upscaler: Upscaler, settings: Settings, repeat: int) -> tuple:
    """What Ray alone adds per file: tasks taking the same arguments as a file's task (a job,
    the shared upscaler, settings) and returning a :class:`Result`, doing nothing else — one at
    a time (latency), then all at once (throughput). Best of ``repeat``, in seconds."""
    from nssr_cli.batch.run import Result

    empty = ray.remote(lambda job, up, st, run_id, cwd: Result(job, "done")).options(num_cpus=1)
    shared = ray.put(upscaler)
    one, many = float("inf"), float("inf")
    for _ in range(repeat + 1):
        t = time.perf_counter()
        for job in jobs:
            ray.get(empty.remote(job, shared, settings, "x", "."))
        one = min(one, time.perf_counter() - t)
        t = time.perf_counter()
        ray.get([empty.remote(job, shared, settings, "x", ".") for job in jobs])
        many = min(many, time.perf_counter() - t)
    return one, many


def end_to_end(src: Path, work: Path) -> dict[str, float]:
    """Wall time of ``nssr upscale SRC -o OUT`` and of the same with ``--ray local``."""
    times = {}
    for name, extra in (("cli_local_s", []), ("cli_ray_s", ["--ray", "local"])):
        out = work / name
        t = time.perf_counter()
        cmd = [sys.executable, "-m", "nssr_cli", "upscale", str(src), "-o", f"{out}/", "-q", *extra]
        subprocess.run(cmd, check=True)
        times[name] = round(time.perf_counter() - t, 2)
    return times


if __name__ == "__main__":
    main()
