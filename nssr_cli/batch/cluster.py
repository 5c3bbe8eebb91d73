"""Running a planned batch on a Ray cluster: one Ray task per file, and in every task exactly the
local per-file pipeline, :func:`nssr_cli.batch.run.process` (decode → choose kernel → upscale →
encode → atomic write). Needs the optional extra: ``pip install "nssr[ray]"``.

Files travel, not pixels. The driver plans once (:mod:`nssr_cli.batch.plan`: names, collisions,
``--skip-existing``, refusals) and sends each task one :class:`Job` (two paths and a format); the
task sends back one :class:`Result` (a few hundred bytes). So every path must name the same file
on every node: the inputs and the output folder live on a shared filesystem.

Why Ray tasks, not Ray Data. What nssr promises is per file: one result each, with its own error
message, an exit code counted from them, a retry of exactly the file whose worker died, and Ctrl-C
stopping what has not finished. A task per file is that unit: ``max_retries`` re-runs a file whose
worker or node died (an atomic write means a dead attempt left no partial output under the final
name), a stop signal that each task reads ends it, and ``ray.wait`` hands each result to the
driver as it finishes, for the same progress bar and ``--json`` rows as a local batch. Ray Data
is built for streaming blocks of rows through operators with backpressure: its retries and errors
are per block, a failing row fails the dataset unless errors are tolerated wholesale, and what it
streams well — decoded arrays — is what we deliberately do not move. A bounded window of in-flight
tasks gives the backpressure we need, and plain ``ray`` (no pyarrow, no pandas) is enough. A Ray
Dataset of paths may still be passed to :func:`upscale_paths`: its rows are planned on the driver.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nssr_cli.batch.pipeline import BatchInterrupted
from nssr_cli.batch.plan import Job, Options, expand_inputs, plan
from nssr_cli.batch.ray_session import connect, import_ray
from nssr_cli.batch.run import Result, Settings, Upscaler, process
from nssr_cli.errors import UsageError, interruption
from nssr_cli.files.decode import DEFAULT_MAX_PIXELS, configure_limits

RETRIES = 3  # a file whose worker dies is tried this many more times
STOP_WAIT = 10.0  # seconds an interrupted run waits for its tasks to see the stop signal


@dataclass(frozen=True)
class Resources:
    """What each file's task asks the Ray scheduler for, and how many can run at once."""

    num_cpus: float
    num_gpus: float
    slots: int


def resources(ray: Any, device: str = "auto", gpus_per_worker: float | None = None) -> Resources:
    """One CPU per task, plus ``gpus_per_worker`` GPUs (default: 1 where the cluster has GPUs
    and the device is not ``cpu``; a fraction lets several files share a GPU)."""
    total = ray.cluster_resources()
    gpus, cpus = float(total.get("GPU", 0.0)), float(total.get("CPU", 0.0))
    want = gpus_per_worker
    if want is None:
        want = 1.0 if gpus and device != "cpu" else 0.0
    if want < 0:
        raise UsageError(f"--gpus-per-worker {want:g}: must be 0 or more")
    if want > 0 and not gpus:
        raise UsageError(
            f"--gpus-per-worker {want:g}: the Ray cluster has no GPU; leave it out to use CPUs"
        )
    if device.startswith("cuda") and not want:
        raise UsageError("--device cuda: the Ray workers get no GPU (the cluster has none)")
    slots = int(min(cpus, gpus // want)) if want else int(cpus)
    return Resources(1.0, want, max(1, slots))


def check_files(jobs: list[Job]) -> None:
    """Tasks read and write files by path: refuse stdin and stdout before starting anything."""
    if any(j.source.path is None or j.output is None for j in jobs):
        raise UsageError("--ray reads and writes files: stdin ('-') and -o - are not supported")


def run(
    jobs: list[Job],
    upscaler: Upscaler,
    settings: Settings,
    on_result: Callable[[Result], None],
    *,
    using: Resources,
    retries: int = RETRIES,
    in_flight: int | None = None,
) -> list[Result]:
    """Run a planned batch on the connected Ray cluster; every job yields exactly one
    :class:`Result` through ``on_result``, in the order files finish.

    Skipped and refused jobs are reported first, without a task. At most ``in_flight`` tasks
    (default ``2 × slots``) are submitted at a time, so a million files never sit in Ray's queue.
    A full disk stops new work (the rest: "not attempted"). On ``KeyboardInterrupt`` the
    unfinished tasks are cancelled (a running one removes its temp file) and
    :class:`BatchInterrupted` says what was kept (exit 130, or 143 for SIGTERM).
    """
    ray = import_ray()
    check_files(jobs)
    task = ray.remote(_upscale_file).options(
        num_cpus=using.num_cpus, num_gpus=using.num_gpus, max_retries=retries,
        retry_exceptions=False,  # a file that fails fails the same way again; only deaths retry
    )  # fmt: skip
    results: list[Result] = []

    def report(res: Result) -> None:
        results.append(res)
        on_result(res)

    todo: deque[Job] = deque()
    for job in jobs:
        if job.skip or job.error:
            report(process(job, upscaler, settings))  # decided while planning: no work
        else:
            todo.append(job)
    shared = ray.put(upscaler)  # sent once; a worker keeps its own copy's engine plans
    run_id, cwd, window = uuid.uuid4().hex, os.getcwd(), in_flight or 2 * using.slots
    since = int(time.time())  # outputs modified since were written by this run (whole seconds:
    # some filesystems keep no finer times)
    running: dict[Any, Job] = {}
    stopped = False
    try:
        while running or (todo and not stopped):
            while todo and not stopped and len(running) < window:
                job = todo.popleft()
                running[task.remote(job, shared, settings, run_id, cwd)] = job
            for ref in _finished(ray, list(running)):
                res = _collect(ray, ref, running.pop(ref), retries)
                stopped = stopped or res.stops_batch
                report(res)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (Terminated)
        done, unseen = _stop_tasks(ray, running, since, run_id, retries)
        for res in done:  # finished while stopping: a row like any other (a second Ctrl-C
            with contextlib.suppress(KeyboardInterrupt):  # while reporting: stopping already)
                report(res)
        raise _interrupted(exc, results, unseen, len(running) - len(done), len(todo)) from None
    for job in todo:
        report(Result(job, "not attempted", "the batch stopped: the disk is full"))
    return results


def _interrupted(
    exc: KeyboardInterrupt, results: list[Result], unseen: int, running: int, not_started: int
) -> BatchInterrupted:
    """What a stopped run kept, in the local batch's words: the outputs reported done, and
    ``unseen`` more written by the ``running`` tasks left unreported."""
    kept, cancelled = sum(r.status == "done" for r in results) + unseen, running - unseen
    parts = [f"{kept} finished output{'s' * (kept != 1)} kept"]
    if cancelled:
        parts.append(f"{cancelled} in progress cancelled (nothing written for them)")
    if not_started:
        parts.append(f"{not_started} not started")
    how, code = interruption(exc)
    return BatchInterrupted(
        f"{how}: {', '.join(parts)}; rerun with --skip-existing to resume", code
    )


def _finished(ray: Any, refs: list[Any]) -> list[Any]:
    """Wait (in short steps, so Ctrl-C is seen) until a task finishes; return all finished."""
    done: list[Any] = []
    while not done:
        done, _ = ray.wait(refs, num_returns=1, timeout=0.5)
    more, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
    return list(dict.fromkeys(done + more))


def _collect(ray: Any, ref: Any, job: Job, retries: int) -> Result:
    """The task's :class:`Result`, or a failed one saying what became of the task."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:  # raised by our code on the worker: a bug
        cause = getattr(exc, "cause", None) or exc
        last = (str(cause).strip().splitlines() or [""])[-1]
        why = f"{type(cause).__name__}: {last}" if last else type(cause).__name__
        return Result(job, "failed", f"{job.source.name}: failed on a Ray worker ({why})")
    except ray.exceptions.RayError as exc:  # the worker or its node died on every try
        return Result(
            job,
            "failed",
            f"{job.source.name}: the Ray worker upscaling it died, {retries + 1} time(s) "
            f"({type(exc).__name__}; out of memory?); nothing was written for it",
        )


def _stop_tasks(
    ray: Any, running: dict[Any, Job], since: float, run_id: str, retries: int
) -> tuple[list[Result], int]:
    """Stop the unfinished tasks: raise the run's stop signal, which a task reads before it
    starts and before it publishes (a queued one returns at once, a running one drops its
    output), and give them :data:`STOP_WAIT` seconds. Return the results of those that wrote
    their output all the same (they were publishing), and how many more did so among those
    still running after the wait.

    Not ``ray.cancel``: cancelling a task whose lease was being granted, or whose reply was
    arriving, fails a check in Ray's core worker (``Tried to complete task that was not
    pending``, Ray 2.60), which ends the driver with exit code 1 and no message."""
    refs = list(running)
    if not refs:
        return [], 0
    signal = ray.remote(num_cpus=0)(_StopSignal).options(name=_stop_name(run_id)).remote()
    _, unfinished = ray.wait(refs, num_returns=len(refs), timeout=STOP_WAIT)
    if not unfinished:  # else it stays up, for the stragglers, until the driver disconnects
        ray.kill(signal)
    finished = [_collect(ray, ref, running[ref], retries) for ref in refs if ref not in unfinished]
    unseen = sum(_written_since(running[ref].output, since) for ref in unfinished)
    return [r for r in finished if r.status == "done"], unseen


class _StopSignal:
    """The stop signal of one run: a named actor whose existence is the signal (no state)."""


def _stop_name(run_id: str) -> str:
    return f"nssr-stop-{run_id}"


@dataclass(frozen=True)
class _RunStop:
    """A task's view of its run's stop signal (a :class:`~nssr_cli.batch.run.StopFlag`): one
    lookup by name, about half a millisecond."""

    run_id: str

    def is_set(self) -> bool:
        try:
            import_ray().get_actor(_stop_name(self.run_id))
        except ValueError:  # no actor by that name: not stopped
            return False
        return True


def _written_since(output: Path | None, since: float) -> bool:
    try:
        return output is not None and output.stat().st_mtime >= since
    except OSError:
        return False


# Per worker process: the upscaler of the current run, kept between its tasks so the engine
# plans made for one file serve the next (one entry: a new run replaces it).
_WORKER_UPSCALER: dict[str, Upscaler] = {}


def _upscale_file(
    job: Job, upscaler: Upscaler, settings: Settings, run_id: str, cwd: str
) -> Result:
    """The Ray task: the local per-file pipeline, on a worker. Relative paths are the driver's,
    so they are resolved from the driver's working folder (the same path on a shared filesystem)."""
    if run_id not in _WORKER_UPSCALER:
        _WORKER_UPSCALER.clear()
    upscaler = _WORKER_UPSCALER.setdefault(run_id, upscaler)
    stop = _RunStop(run_id)
    if stop.is_set():  # queued when the run was stopped
        return Result(job, "not attempted", "the run was interrupted")
    configure_limits(settings.max_pixels)  # Pillow's bomb limit is per process
    here = os.getcwd()
    if here != cwd and not all(p.is_absolute() for p in (job.source.path, job.output) if p):
        try:
            os.chdir(cwd)
        except OSError as exc:
            why = f"the driver's folder {cwd} is not on this Ray node ({exc.strerror})"
            return Result(job, "failed", f"{job.source.name}: {why}; give absolute paths")
    try:
        return process(job, upscaler, settings, stop=stop)
    finally:
        os.chdir(here)


def upscale_paths(
    paths: Iterable[str | os.PathLike[str]] | Any,
    output: str | os.PathLike[str],
    *,
    scale: float = 2.0,
    kernel: str | None = None,
    blur: str = "auto",
    device: str = "auto",
    tile: int | None = None,
    fmt: str | None = None,
    suffix: str | None = None,
    recursive: bool = False,
    overwrite: bool = False,
    skip_existing: bool = False,
    quality: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    gpus_per_worker: float | None = None,
    address: str = "local",
    on_result: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Upscale files (or folders, or globs) into the folder ``output`` on a Ray cluster, as
    ``nssr upscale PATHS -o OUTPUT/ --ray ADDRESS`` does; returns one :class:`Result` per file.

    ``paths`` is a list of paths, or a Ray Dataset (anything with ``iter_rows()``) whose rows
    hold a path: a ``path`` column, or a single column. Planning refusals (collisions, an
    unwritable folder) raise :class:`UsageError` before anything runs; a file that fails is a
    result with ``status == "failed"``, never an exception.
    """
    from nssr_cli.engine.geometry import check_scale

    check_scale(scale)
    specs = [str(p) for p in _rows(paths)]
    if not specs:
        raise UsageError("no input paths were given")
    found = expand_inputs(specs, recursive=recursive, exclude=Path(output))
    folder = str(output).rstrip("/\\" + os.sep) + os.sep
    jobs = plan(
        found.sources, Options(scale, folder, suffix, fmt, recursive, overwrite, skip_existing)
    )
    upscaler = Upscaler(scale, kernel, blur, device, tile)  # the device is resolved per worker
    settings = Settings(quality, max_pixels, scale=scale, overwrite=overwrite)
    with connect(address) as ray:
        using = resources(ray, device, gpus_per_worker)
        return run(jobs, upscaler, settings, on_result or (lambda _: None), using=using)


def _rows(paths: Any) -> Iterator[Any]:
    """Paths from a list, or from a Ray Dataset's rows (its ``path`` column or only column)."""
    if not hasattr(paths, "iter_rows"):
        yield from paths
        return
    for row in paths.iter_rows():
        if "path" in row:
            yield row["path"]
        elif len(row) == 1:
            yield next(iter(row.values()))
        else:
            raise UsageError(f"a dataset row needs a 'path' column; this one has {sorted(row)}")
