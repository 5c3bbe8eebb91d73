"""The local runner, :class:`BatchRun`: the steps of :mod:`nssr_cli.batch.run`, overlapped.

Decoding and encoding/writing run on a small thread pool (``workers``; Pillow and zlib release
the GIL) while the main thread upscales, so a folder of JPEGs keeps the CPU or GPU busy. Results
are reported in input order. On Ctrl-C or SIGTERM, queued work is cancelled, a write in progress
is discarded unless it was already published (each is atomic: complete or absent), and
:class:`BatchInterrupted` says truthfully what was kept.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO

from nssr_cli.batch.plan import Job
from nssr_cli.batch.run import Result, Settings, load, save
from nssr_cli.errors import NssrError, interruption
from nssr_cli.files.atomic import DiskFullError, PublishCancelled, remove_stale_temps
from nssr_cli.files.picture import Picture


class BatchInterrupted(NssrError):
    """Ctrl-C (exit 130) or SIGTERM (143) stopped the batch; the message says what was kept."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class BatchRun:
    """The local runner: every job yields exactly one :class:`Result`, in input order, through
    ``on_result``. Decodes of the next files and writes of the previous ones overlap with the
    upscale of the current one; a full disk stops new work (the rest: "not attempted").

    Decodes and writes run on two pools: after Ctrl-C or SIGTERM every write is waited for (it
    publishes or removes its temp file) while a decode blocked on stdin is not."""

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
        self.stop = threading.Event()
        self.written: dict[int, str] = {}  # id(job) → kept, discarded or failed (by the writer)
        self.in_hand: Job | None = None  # decoded and being upscaled by the main thread

    def run(self, jobs: list[Job]) -> list[Result]:
        for folder in {j.output.parent for j in jobs if j.output is not None}:
            remove_stale_temps(folder)  # left by an nssr that was killed (SIGKILL, power cut)
        todo = deque(j for j in jobs if not (j.skip or j.error))
        for j in jobs:
            if j.skip or j.error:
                self._report(Result(j, "skipped" if j.skip else "failed", j.error))
        workers = max(1, self.settings.workers)
        self.readers = ThreadPoolExecutor(workers, thread_name_prefix="nssr-read")
        self.writers = ThreadPoolExecutor(workers, thread_name_prefix=f"nssr-write-{id(self)}")
        interrupted = False
        try:
            self._pipeline(todo)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (Terminated)
            interrupted = True
            raise self._interrupted(exc, len(todo)) from None
        finally:
            self.readers.shutdown(wait=not interrupted, cancel_futures=True)
            self.writers.shutdown(wait=True)
        return self.results

    def _interrupted(self, exc: KeyboardInterrupt, not_started: int) -> BatchInterrupted:
        """Stop: writes not yet published discard their temp file; say what was kept."""
        self.stop.set()
        self.writers.shutdown(wait=False)
        # Join the writer threads by name, not through the pool: the signal may have landed
        # inside submit(), after a thread started but before the pool recorded it.
        for thread in threading.enumerate():
            if thread.name.startswith(f"nssr-write-{id(self)}"):
                thread.join()  # its write ends: published, or its temp file removed
        outcomes = list(self.written.values())
        kept, failed = outcomes.count("kept"), outcomes.count("failed")
        discarded = outcomes.count("discarded")
        if self.in_hand is not None and id(self.in_hand) not in self.written:
            discarded += 1
        not_started += len(self.decoding)
        parts = [f"{kept} finished output{'s' * (kept != 1)} kept"]
        if discarded:
            them = "them" if discarded > 1 else "it"
            parts.append(f"{discarded} in progress discarded (nothing written for {them})")
        if failed:
            parts.append(f"{failed} failed")
        if not_started:
            parts.append(f"{not_started} not started")
        how, code = interruption(exc)
        return BatchInterrupted(
            f"{how}: {', '.join(parts)}; rerun with --skip-existing to resume", code
        )

    def _write(self, job: Job, out: Picture) -> None:
        """One write on the writers' pool, recording its outcome for :meth:`_interrupted`."""
        try:
            save(job, out, self.stdout, self.settings, self.stop)
        except PublishCancelled:
            self.written[id(job)] = "discarded"
            raise
        except BaseException:
            self.written[id(job)] = "failed"
            raise
        self.written[id(job)] = "kept"

    def _pipeline(self, todo: deque[Job]) -> None:
        self._fill(todo)
        while self.decoding and not self.disk_full:
            job, t0, fut = self.decoding[0]  # left in the queue until the upscale has it
            try:
                pic = fut.result()
                self.in_hand = self.decoding.popleft()[0]
                self._fill(todo)
                out, kernel = self.upscaler(pic)
            except NssrError as exc:
                failed = Result(job, "failed", str(exc), seconds=time.perf_counter() - t0)
                self.writing.append((failed, None))
                if self.in_hand is None:
                    self.decoding.popleft()
                    self._fill(todo)
                self.in_hand = None
                continue
            res = Result(job, "done", None, pic.size, out.size, pic.mode, kernel, seconds=t0)
            self.writing.append((res, self.writers.submit(self._write, job, out)))
            self.in_hand = None
            self._finish(keep=self.settings.workers)
        self._finish(keep=0)
        for job in [j for j, _, _ in self.decoding] + list(todo):
            self._report(Result(job, "not attempted", "the batch stopped: the disk is full"))

    def _fill(self, todo: deque[Job]) -> None:
        """Start decoding until ``workers`` files are in flight."""
        while todo and len(self.decoding) < self.settings.workers:
            job = todo.popleft()
            fut = self.readers.submit(load, job, self.stdin, self.settings, self.stop)
            self.decoding.append((job, time.perf_counter(), fut))

    def _finish(self, keep: int) -> None:
        """Wait for (and report) writes until at most ``keep`` are still running."""
        while len(self.writing) > keep:
            res, fut = self.writing[0]
            if fut is not None:  # None: failed before writing; queued to keep the input order
                try:
                    fut.result()
                except NssrError as exc:
                    self.disk_full = self.disk_full or isinstance(exc, DiskFullError)
                    res.status, res.error, res.output_size = "failed", str(exc), None
                res.seconds = time.perf_counter() - res.seconds
            self.writing.popleft()
            self._report(res)

    def _report(self, res: Result) -> None:
        self.results.append(res)
        self.on_result(res)
