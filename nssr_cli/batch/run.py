"""Running a planned batch: decode → choose kernel → upscale → encode → publish.

One file's pipeline is :func:`load`, :class:`Upscaler` and :func:`save`; :func:`process` chains
them for one job, and every way of running a batch uses these same steps. :class:`BatchRun` is the
local runner: decoding and encoding/writing run on a small thread pool (``workers``; Pillow and
zlib release the GIL) while the main thread upscales, so a folder of JPEGs keeps the CPU or GPU
busy. Results are reported in input order. On Ctrl-C, queued work is cancelled, writes already
running finish (each is atomic: complete or absent), and ``KeyboardInterrupt`` propagates.
"""

from __future__ import annotations

import os
import stat
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np

from nssr_cli.batch.plan import Job
from nssr_cli.engine.geometry import output_size
from nssr_cli.engine.polyphase import make_plan
from nssr_cli.engine.tiles import upscale_planes
from nssr_cli.errors import InputError, NssrError, OutputError
from nssr_cli.files.atomic import DiskFullError, write_atomic
from nssr_cli.files.decode import DEFAULT_MAX_PIXELS, decode
from nssr_cli.files.encode import DEFAULT_QUALITY, check_storable, encode
from nssr_cli.files.picture import Frame, Picture
from nssr_cli.kernels.bank import select_kernel
from nssr_cli.kernels.files import resolve_kernel
from nssr_cli.synth.levels import LEVELS


@dataclass
class Result:
    """What happened to one job; ``status`` is done, skipped, failed or not attempted."""

    job: Job
    status: str
    error: str | None = None
    input_size: tuple[int, int] | None = None  # (width, height)
    output_size: tuple[int, int] | None = None
    mode: str | None = None
    kernel: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        out = self.job.output
        return {
            "input": self.job.source.name,
            "output": "-" if out is None else str(out),
            "status": self.status,
            "error": self.error,
            "input_size": self.input_size,
            "output_size": self.output_size,
            "mode": self.mode,
            **_plain(self.kernel),
            "seconds": round(self.seconds, 4),
        }


def _plain(obj: Any) -> Any:
    """JSON-ready copy: numpy scalars and arrays (e.g. in a blur estimate) become Python values."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    return obj


@dataclass
class Settings:
    """How files are read and written: encoder quality, the decompression-bomb limit, and how
    many decode/encode threads overlap with the upscale."""

    quality: int = DEFAULT_QUALITY
    max_pixels: int = DEFAULT_MAX_PIXELS
    workers: int = 2


class Upscaler:
    """Picks the kernel for each picture and keeps one engine plan per (kernel, scale)."""

    def __init__(
        self, scale: float, kernel: str | None, blur: str, device: Any, tile: int | None = None
    ) -> None:
        if kernel in LEVELS:  # a bank level by name means the same as --blur LEVEL
            kernel, blur = None, kernel
        self.scale, self.blur, self.device, self.tile = scale, blur, device, tile
        self.fixed = resolve_kernel(kernel) if kernel else None
        self.bicubic = resolve_kernel("bicubic")[0]
        self.plans: dict[str, Any] = {}

    def _plan(self, name: str, kernel: np.ndarray) -> Any:
        if name not in self.plans:
            self.plans[name] = make_plan(kernel, self.scale, self.device)
        return self.plans[name]

    def choose(self, pic: Picture) -> tuple[str, np.ndarray, dict[str, Any]]:
        """The kernel's name, the kernel, and what to report about the choice."""
        if self.fixed is not None:
            return self.fixed[1], self.fixed[0], {"kernel": self.fixed[1], "blur": None}
        sel = select_kernel(pic.frames[0].color, self.scale, self.blur, info=pic.info)
        return sel.name, sel.kernel, {"kernel": sel.name, "blur": sel.blur, "blur_info": sel.info}

    def __call__(self, pic: Picture) -> tuple[Picture, dict[str, Any]]:
        """Upscale every frame: colour with the chosen kernel, alpha with plain bicubic."""
        _check_memory(pic, self.scale)
        name, kernel, report = self.choose(pic)
        plan, alpha_plan = self._plan(name, kernel), self._plan("\0bicubic", self.bicubic)
        frames = [
            Frame(
                upscale_planes(f.color, plan, tile=self.tile),
                None if f.alpha is None else upscale_planes(f.alpha, alpha_plan, tile=self.tile),
                f.duration,
            )
            for f in pic.frames
        ]
        info = dict(pic.info)
        if "dpi" in info:  # same print size, more pixels
            info["dpi"] = tuple(float(d) * self.scale for d in info["dpi"])
        out = Picture(frames, pic.format, pic.icc, pic.exif, info)
        assert out.size[::-1] == output_size(pic.size[1], pic.size[0], self.scale)
        return out, report


def _check_memory(pic: Picture, scale: float) -> None:
    """Refuse an output whose pixels alone would not fit in the memory available now."""
    need = sum(
        round(scale * f.color.shape[0])
        * round(scale * f.color.shape[1])
        * (f.color.size // (f.color.shape[0] * f.color.shape[1]) + (f.alpha is not None))
        * f.color.itemsize
        for f in pic.frames
    )
    avail = _available_memory()
    if avail is not None and need > avail:
        w, h = round(scale * pic.size[0]), round(scale * pic.size[1])
        raise InputError(
            f"the output ({w}×{h}) needs {need / 2**30:.1f} GiB of memory but only "
            f"{avail / 2**30:.1f} GiB is available; use a smaller scale"
        )


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def load(job: Job, stdin: BinaryIO | None, settings: Settings) -> Picture:
    """Read and fully decode one input, and refuse early what its output format cannot hold."""
    src = job.source
    if src.path is None:
        data = stdin.read() if stdin is not None else b""
        if not data:
            raise InputError("<stdin>: nothing was piped in (stdin is empty)")
    else:
        try:
            if not stat.S_ISREG(os.stat(src.path).st_mode):
                raise InputError(f"{src.path}: not a regular file")
            data = src.path.read_bytes()
        except OSError as exc:
            raise InputError(f"{src.path}: cannot read ({exc.strerror or exc})") from None
    pic = decode(data, src.name, max_pixels=settings.max_pixels)
    try:
        check_storable(pic, job.fmt or pic.format)
    except NssrError as exc:
        raise InputError(f"{job.output or '<stdout>'}: {exc}") from None
    return pic


def save(job: Job, pic: Picture, stdout: BinaryIO | None, settings: Settings) -> None:
    """Encode and write one output (atomically), or send it to stdout."""
    try:
        data = encode(pic, job.fmt or pic.format, quality=settings.quality)
    except NssrError as exc:
        raise OutputError(f"{job.source.name}: {exc}") from None
    if job.output is None:
        assert stdout is not None
        stdout.write(data)
        stdout.flush()
    else:
        write_atomic(job.output, data)


def process(
    job: Job,
    upscaler: Callable[[Picture], tuple[Picture, dict[str, Any]]],
    settings: Settings,
    *,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
) -> Result:
    """One job, start to finish — read, upscale, write — as one :class:`Result`; a failure of
    this file is reported in the result, never raised. (:class:`BatchRun` runs the same steps,
    overlapped across files.)"""
    start = time.perf_counter()
    if job.skip or job.error:
        return Result(job, "skipped" if job.skip else "failed", job.error)
    try:
        pic = load(job, stdin, settings)
        out, kernel = upscaler(pic)
        save(job, out, stdout, settings)
    except NssrError as exc:
        return Result(job, "failed", str(exc), seconds=time.perf_counter() - start)
    seconds = time.perf_counter() - start
    return Result(job, "done", None, pic.size, out.size, pic.mode, kernel, seconds)


class BatchRun:
    """The local runner: every job yields exactly one :class:`Result`, in input order, through
    ``on_result``. Decodes of the next files and writes of the previous ones overlap with the
    upscale of the current one; a full disk stops new work (the rest: "not attempted")."""

    def __init__(
        self,
        upscaler: Callable[[Picture], tuple[Picture, dict[str, Any]]],
        on_result: Callable[[Result], None],
        settings: Settings,
        *,
        stdin: BinaryIO | None = None,
        stdout: BinaryIO | None = None,
    ) -> None:
        self.upscaler, self.on_result, self.settings = upscaler, on_result, settings
        self.stdin, self.stdout = stdin, stdout
        self.results: list[Result] = []
        self.decoding: deque[tuple[Job, float, Future[Picture]]] = deque()
        self.writing: deque[tuple[Result, Future[None] | None]] = deque()
        self.disk_full = False

    def run(self, jobs: list[Job]) -> list[Result]:
        todo = deque(j for j in jobs if not (j.skip or j.error))
        for j in jobs:
            if j.skip or j.error:
                self._report(Result(j, "skipped" if j.skip else "failed", j.error))
        workers = max(1, self.settings.workers)
        with ThreadPoolExecutor(workers, thread_name_prefix="nssr-io") as self.pool:
            try:
                self._pipeline(todo)
            finally:
                for _, _, fut in self.decoding:
                    fut.cancel()
                self.pool.shutdown(wait=True, cancel_futures=True)
        return self.results

    def _pipeline(self, todo: deque[Job]) -> None:
        self._fill(todo)
        while self.decoding and not self.disk_full:
            job, t0, fut = self.decoding.popleft()
            self._fill(todo)
            try:
                pic = fut.result()
                out, kernel = self.upscaler(pic)
            except NssrError as exc:
                failed = Result(job, "failed", str(exc), seconds=time.perf_counter() - t0)
                self.writing.append((failed, None))
                continue
            res = Result(job, "done", None, pic.size, out.size, pic.mode, kernel, seconds=t0)
            write = self.pool.submit(save, job, out, self.stdout, self.settings)
            self.writing.append((res, write))
            self._finish(keep=self.settings.workers)
        self._finish(keep=0)
        for job in [j for j, _, _ in self.decoding] + list(todo):
            self._report(Result(job, "not attempted", "the batch stopped: the disk is full"))

    def _fill(self, todo: deque[Job]) -> None:
        """Start decoding until ``workers`` files are in flight."""
        while todo and len(self.decoding) < self.settings.workers:
            job = todo.popleft()
            fut = self.pool.submit(load, job, self.stdin, self.settings)
            self.decoding.append((job, time.perf_counter(), fut))

    def _finish(self, keep: int) -> None:
        """Wait for (and report) writes until at most ``keep`` are still running."""
        while len(self.writing) > keep:
            res, fut = self.writing.popleft()
            if fut is None:  # failed before writing; queued to keep the input order
                self._report(res)
                continue
            try:
                fut.result()
            except NssrError as exc:
                self.disk_full = self.disk_full or isinstance(exc, DiskFullError)
                res.status, res.error, res.output_size = "failed", str(exc), None
            res.seconds = time.perf_counter() - res.seconds
            self._report(res)

    def _report(self, res: Result) -> None:
        self.results.append(res)
        self.on_result(res)
