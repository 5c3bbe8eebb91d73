"""What ``nssr upscale`` tells the user per file and at the end: errors, ``-v`` lines, ``--json``
rows, the progress bar and the closing summary (on stderr; JSON on stdout)."""

from __future__ import annotations

from typing import Any

from nssr_cli.cli.common import emit_json, err
from nssr_cli.errors import NssrError


class UpscaleReport:
    """Per-file reporting for ``upscale``: errors, -v lines, --json objects and the progress bar."""

    def __init__(self, total: int, *, as_json: bool, verbose: bool, bar: bool) -> None:
        self.total, self.as_json, self.verbose, self.bar = total, as_json, verbose, bar
        self.progress: Any = None
        self.megapixels = 0.0
        self.start = 0.0

    def __enter__(self) -> UpscaleReport:
        import time

        self.start = time.perf_counter()
        if self.bar:
            from rich import progress as rp

            self.progress = rp.Progress(
                rp.TextColumn("upscaling"),
                rp.BarColumn(),
                rp.MofNCompleteColumn(),
                rp.TextColumn("{task.fields[rate]}"),
                rp.TimeRemainingColumn(),
                console=err.console,
                transient=True,
                redirect_stdout=False,  # stdout is for data (--json), even beside a terminal
            )
            self.progress.start()
            self.task = self.progress.add_task("upscale", total=self.total, rate="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, res: Any) -> None:
        import time

        if res.status == "failed":
            err.print(f"Error: {res.error}", markup=False)
        elif self.verbose:
            k = res.kernel
            blur = f", blur {k['blur']}" if k and k["blur"] else ""
            if k and (k.get("blur_info") or {}).get("why"):
                blur += f": {k['blur_info']['why']}"
            where = f", on {k['device']}" if k and k.get("device") else ""
            how = f" (kernel {k['kernel']}{blur}{where})" if k else ""
            if k and k.get("images_left_out"):
                n = k["images_left_out"]
                how += f"; left out {n} further image{'s' * (n > 1)} (gain map, preview)"
            dst = res.job.output or "<stdout>"
            err.print(f"{res.status}: {res.job.source.name} → {dst}{how}", markup=False)
        if self.as_json:
            emit_json(res.to_json())
        if res.output_size:
            self.megapixels += res.output_size[0] * res.output_size[1] / 1e6
        if self.progress is not None:
            rate = self.megapixels / max(time.perf_counter() - self.start, 1e-6)
            self.progress.update(self.task, advance=1, rate=f"{rate:.1f} MP/s")


def summarize(results: list[Any], *, quiet: bool) -> None:
    kinds = ("done", "skipped", "failed", "not attempted")
    counts = {k: sum(r.status == k for r in results) for k in kinds}
    bad = counts["failed"] + counts["not attempted"]
    line = ", ".join(f"{n} {k}" for k, n in counts.items() if n or k == "done")
    if len(results) == 1 and bad:  # its one Error: line has been printed: say nothing more
        raise SystemExit(1)
    if not quiet and len(results) > 1:
        err.print(f"{len(results)} files: {line}", markup=False)
    if bad:
        raise NssrError(f"{bad} of {len(results)} files not upscaled (see above)")
