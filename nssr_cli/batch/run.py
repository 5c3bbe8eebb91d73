"""Running a planned batch: decode → choose kernel → upscale → encode → publish.

One file's pipeline is :func:`load`, :class:`Upscaler` and :func:`save`; :func:`process` chains
them for one job, and every way of running a batch uses these same steps. The local runner,
which overlaps them across files, is :mod:`nssr_cli.batch.pipeline`.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

import numpy as np

from nssr_cli.batch.memory import check_memory
from nssr_cli.batch.plan import Job
from nssr_cli.engine.alpha import upscale_with_alpha
from nssr_cli.engine.device import resolve_device
from nssr_cli.engine.geometry import output_size
from nssr_cli.engine.plans import make_plan, upscale_planes
from nssr_cli.errors import InputError, NssrError, OutputError
from nssr_cli.files.atomic import DiskFullError, PublishCancelled, publish
from nssr_cli.files.decode import DEFAULT_MAX_PIXELS, decode
from nssr_cli.files.encode import check_storable, encode
from nssr_cli.files.picture import Frame, Picture
from nssr_cli.kernels.bank import select_kernel
from nssr_cli.kernels.files import resolve_kernel
from nssr_cli.kernels.names import warn_other_scale
from nssr_cli.synth.levels import LEVELS


class StopFlag(Protocol):
    """A stop request, read where a file's work may end early: a :class:`threading.Event`
    (the local batch), or anything else with ``is_set()`` (a Ray run's stop signal)."""

    def is_set(self) -> bool: ...


# What a --json row says of the kernel chosen and where it ran (Upscaler's report): every row
# has each key, null where it does not apply (a file not upscaled, a kernel named, not chosen).
CHOICE_KEYS = ("kernel", "blur", "blur_info", "device", "images_left_out")


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
    stops_batch: bool = False  # the disk is full: every later write would fail the same way

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
            **dict.fromkeys(CHOICE_KEYS),
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
    """How files are read and written: encoder quality, the decompression-bomb limit, how
    many decode/encode threads overlap with the upscale, and the scale (to check each job's
    memory from its file's header, before decoding)."""

    quality: int | None = None  # None: DEFAULT_QUALITY, and a lossless WebP stays lossless
    max_pixels: int = DEFAULT_MAX_PIXELS
    workers: int = 2
    scale: float = 1.0
    overwrite: bool = False  # replace existing outputs (the plan has already checked them)


def stdin_limit(max_pixels: int) -> int:
    """The most bytes read from stdin: an uncompressed 16-bit RGBA image of ``max_pixels``
    (8 bytes a pixel) plus 16 MiB for headers and metadata. Nothing valid is bigger; a stream
    that is (``< /dev/zero``) is refused instead of filling memory."""
    return 8 * max_pixels + (16 << 20)


class Upscaler:
    """Picks the kernel for each picture and keeps one engine plan per (kernel, scale)."""

    def __init__(
        self, scale: float, kernel: str | None, blur: str, device: Any, tile: int | None = None
    ) -> None:
        if kernel in LEVELS:  # a bank level by name means the same as --blur LEVEL
            kernel, blur = None, kernel
        self.scale, self.blur, self.device, self.tile = scale, blur, device, tile
        self.fixed = resolve_kernel(kernel) if kernel else None
        if kernel:
            warn_other_scale(kernel, scale)
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
        """Upscale every frame: colour with the chosen kernel (premultiplied by alpha where
        there is one), alpha with plain bicubic."""
        name, kernel, report = self.choose(pic)
        plan, alpha_plan = self._plan(name, kernel), self._plan("\0bicubic", self.bicubic)
        report["device"] = resolve_device(self.device)  # where it ran: `auto` resolved
        # a multi-picture JPEG's gain map or preview; none for a file of one image
        report["images_left_out"] = pic.info.get("left_out") or 0
        frames = [
            Frame(upscale_planes(f.color, plan, tile=self.tile), None, f.duration)
            if f.alpha is None
            else Frame(
                *upscale_with_alpha(f.color, f.alpha, plan, alpha_plan, tile=self.tile),
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


def load(
    job: Job, stdin: BinaryIO | None, settings: Settings, stop: StopFlag | None = None
) -> Picture:
    """Read and fully decode one input, and refuse early what its output format cannot hold."""
    src = job.source
    if src.path is None:
        data = _read_stdin(stdin, stdin_limit(settings.max_pixels), stop)
        if not data:
            raise InputError("<stdin>: nothing was piped in (stdin is empty)")
    else:
        try:
            if not stat.S_ISREG(os.stat(src.path).st_mode):
                raise InputError(f"{src.path}: not a regular file")
            data = src.path.read_bytes()
        except OSError as exc:
            raise InputError(f"{src.path}: cannot read ({exc.strerror or exc})") from None
    pic = decode(
        data,
        src.name,
        max_pixels=settings.max_pixels,
        check=lambda header: check_memory(header, settings.scale, job.fmt or header.format),
    )
    try:
        check_storable(pic, job.fmt or pic.format)
    except NssrError as exc:
        raise InputError(f"{job.output or '<stdout>'}: {exc}") from None
    return pic


def _read_stdin(stdin: BinaryIO | None, limit: int, stop: StopFlag | None) -> bytes:
    """All of stdin, in chunks (so a stop request is seen), refusing more than ``limit`` bytes."""
    if stdin is None:
        return b""
    chunks, size = [], 0
    while stop is None or not stop.is_set():
        chunk = stdin.read(min(1 << 20, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise InputError(
                f"<stdin>: more than {limit / 2**20:.0f} MiB piped in, more than any image "
                "within --max-pixels can take; raise --max-pixels, or give the file's name"
            )
    return b"".join(chunks)


def save(
    job: Job,
    pic: Picture,
    stdout: BinaryIO | None,
    settings: Settings,
    stop: StopFlag | None = None,
) -> None:
    """Encode and write one output (atomically: :func:`nssr_cli.files.atomic.publish`), or send
    it to stdout. A set ``stop`` discards the output before it is published."""
    if stop is not None and stop.is_set():
        raise PublishCancelled(f"{job.output}: not written (interrupted)")
    try:
        data = encode(pic, job.fmt or pic.format, quality=settings.quality)
    except NssrError as exc:
        raise OutputError(f"{job.source.name}: {exc}") from None
    if job.output is not None:
        cancelled = stop.is_set if stop is not None else None
        publish(job.output, data, overwrite=settings.overwrite, make_folders=True,
                cancelled=cancelled)  # fmt: skip
        return
    if stdout is None:
        raise OutputError("<stdout>: cannot write: standard output is closed")
    try:
        write_all(stdout, data)
        stdout.flush()
    except BrokenPipeError:
        raise  # the reader went away: the command line decides how loud to be
    except OSError as exc:
        raise OutputError(
            f"<stdout>: cannot write to standard output ({exc.strerror or exc})"
        ) from None


def write_all(stream: BinaryIO, data: bytes) -> None:
    """Write all of ``data``: an unbuffered stream (``PYTHONUNBUFFERED``, ``python -u``) is a raw
    file whose ``write`` may take only part of it, into a file near a size limit or a full disk;
    the next write then raises the reason (``OSError``)."""
    view, done = memoryview(data), 0
    while done < len(data):
        n = stream.write(view[done:])
        if not n:  # None: a non-blocking stream that would block; 0: nothing taken
            raise OSError(errno.EAGAIN, "standard output took no more data")
        done += n


def process(
    job: Job,
    upscaler: Callable[[Picture], tuple[Picture, dict[str, Any]]],
    settings: Settings,
    *,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
    stop: StopFlag | None = None,
) -> Result:
    """One job, start to finish — read, upscale, write — as one :class:`Result`; a failure of
    this file is reported in the result, never raised. A set ``stop`` discards the output
    before it is published. (``BatchRun`` runs the same steps, overlapped across files.)"""
    start = time.perf_counter()
    if job.skip or job.error:
        return Result(job, "skipped" if job.skip else "failed", job.error)
    try:
        pic = load(job, stdin, settings, stop)
        out, kernel = upscaler(pic)
        save(job, out, stdout, settings, stop)
    except NssrError as exc:
        seconds, full = time.perf_counter() - start, isinstance(exc, DiskFullError)
        return Result(job, "failed", str(exc), seconds=seconds, stops_batch=full)
    seconds = time.perf_counter() - start
    return Result(job, "done", None, pic.size, out.size, pic.mode, kernel, seconds)
