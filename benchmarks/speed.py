"""Speed and memory of nssr's upscale paths, against Pillow, in one run.

    python benchmarks/speed.py                 # every case below, on the CPU
    python benchmarks/speed.py --cases compute --scales 2 --megapixels 100 --no-reference
    python benchmarks/speed.py --device cuda   # compute on a GPU (PIL stays on the CPU)

Cases (``--cases``): ``compute`` — a 12 MP output at ×2, ×3, ×4 (and ``--fractional`` 2.5)
against PIL's bicubic resize, with the reference path and the PyTorch engine beside it and the
peak memory of a fresh process; ``jpeg`` — ``nssr upscale`` of a 3000×2000 JPEG to a ×2 JPEG
(q95) against a five-line Pillow script doing open → bicubic → save q95; ``startup`` — the same
for a 256-px PNG; ``folder`` — 200 small JPEGs through ``xargs -n1 -P2``, one process per file,
against the Pillow script the same way; ``png`` — a 12 MP PNG out, and nssr's PNG writer.

Timings on a shared machine are noisy, so every number is reported as a ratio to Pillow
measured in the same run, nssr and Pillow alternating: compute takes the best of ``--repeat``
runs, whole programs the median.

Next to each compute case: the cost of ``auto``'s choice for that image (noise and blur
estimates on a ≤512² centre crop, then the rule) — it must stay under 10 % of the upscale.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "examples" / "photo.png"


def test_image(megapixels: float, scale: float, seed: int = 0) -> np.ndarray:
    """An RGB LR image whose ×scale output has ``megapixels`` MP (4:3), made from a real photo."""
    out_w = (megapixels * 1e6 * 4 / 3) ** 0.5
    return photo((round(out_w / scale), round(out_w * 3 / 4 / scale)), seed)


def photo(lr: tuple[int, int], seed: int = 0) -> np.ndarray:
    """``examples/photo.png`` resized to ``lr`` (width, height), RGB uint8, with a little grain."""
    if PHOTO.is_file():
        img = Image.open(PHOTO).convert("RGB").resize(lr, Image.LANCZOS)
        arr = np.asarray(img).copy()
        rng = np.random.default_rng(seed)  # a little grain so nothing is suspiciously smooth
        return np.clip(arr + rng.normal(0, 2, arr.shape), 0, 255).astype(np.uint8)
    return np.random.default_rng(seed).integers(0, 256, (lr[1], lr[0], 3), dtype=np.uint8)


def best_of(fn, repeat: int, clock=time.perf_counter) -> float:
    """Least time of ``repeat`` runs by ``clock``: wall time, or with ``time.process_time`` the
    CPU seconds of every thread of this process — robust to other processes sharing the
    machine, and fair to PIL (one core) against nssr (every core)."""
    best = float("inf")
    for _ in range(repeat):
        t = clock()
        fn()
        best = min(best, clock() - t)
    return best


def child_memory(args: argparse.Namespace, scale: float) -> dict[str, float]:
    """Run the fast path once in a fresh process; report its peak RSS above the baseline."""
    cmd = [
        sys.executable,
        __file__,
        "--child-memory",
        str(scale),
        "--megapixels",
        str(args.megapixels),
        "--device",
        args.device,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure_memory(scale: float, megapixels: float, device: str) -> None:
    """Child process: sample RSS every millisecond while one fast-path upscale runs."""
    import threading

    from nssr_cli.engine.plans import make_plan, upscale_planes
    from nssr_cli.kernels.files import resolve_kernel

    img = test_image(megapixels, scale)
    plan = make_plan(resolve_kernel("dil")[0], scale, device)
    base, peak, done = rss_mb(), [0.0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    out = upscale_planes(img, plan)
    gpu = 0.0
    if device == "cuda":
        import torch

        torch.cuda.synchronize()
        gpu = torch.cuda.max_memory_allocated() / 2**20
    done.set()
    sampler.join()
    print(
        json.dumps(
            {
                "baseline_mb": base,
                "peak_mb": max(peak[0], rss_mb()),
                "output_mb": out.nbytes / 2**20,
                "gpu_peak_mb": gpu,
            }
        )
    )


def measure_scale(args: argparse.Namespace, kernel: np.ndarray, s: float) -> dict:
    from nssr_cli.engine.plans import make_plan, upscale_planes
    from nssr_cli.kernels.bank import needs_widths, rule_parts
    from nssr_cli.kernels.estimate import Estimates
    from nssr_cli.kernels.names import bank_scale

    img = test_image(args.megapixels, s)
    pil = Image.fromarray(img)
    size = (round(img.shape[1] * s), round(img.shape[0] * s))
    plan = make_plan(kernel, s, args.device)

    def fast() -> None:
        upscale_planes(img, plan)
        if args.device == "cuda":
            import torch

            torch.cuda.synchronize()

    def bicubic() -> None:
        pil.resize(size, Image.BICUBIC)

    def choose() -> None:  # `auto` on a clean input (the noise estimate, then the clean rule's)
        est = Estimates(img)  # what select_kernel does: one luminance crop for all of them,
        if needs_widths(bank_scale(s), "clean"):
            est.start_spectral()  # the spectral estimate on a second core meanwhile
        _ = est.noise
        rule_parts(est, bank_scale(s), "clean")  # (then the rule: a few comparisons)

    fast()  # warm-up: allocator, OpenCV / cuDNN kernels
    t_pil = best_of(bicubic, args.repeat)
    t_fast = best_of(fast, args.repeat)
    t_torch, t_ref = torch_paths(args, img, kernel, s) if args.reference else (None, None)
    t_pil = min(t_pil, best_of(bicubic, args.repeat))  # PIL before and after: fair to it
    cpu = time.process_time
    cpu_pil, cpu_fast = best_of(bicubic, args.repeat, cpu), best_of(fast, args.repeat, cpu)
    t_choose = best_of(choose, 4 * args.repeat)  # a few ms: more runs for a steady best
    mem = child_memory(args, s)
    row = {
        "scale": s,
        "output_mp": size[0] * size[1] / 1e6,
        "pil_s": t_pil,
        "fast_s": t_fast,
        "fast_vs_pil": t_fast / t_pil,
        "pil_cpu_s": cpu_pil,
        "fast_cpu_s": cpu_fast,
        "torch_engine_s": t_torch,
        "reference_s": t_ref,
        "choose_s": t_choose,
        "choose_vs_fast": t_choose / t_fast,
        "fast_peak_rss_above_baseline_mb": mem["peak_mb"] - mem["baseline_mb"],
        "output_mb": mem["output_mb"],
        "gpu_peak_mb": mem["gpu_peak_mb"],
    }

    def vs(t: float | None) -> str:
        return "skipped" if t is None else f"{t:.3f} s ({t / t_pil:.2f}× PIL)"

    print(
        f"×{s:g}  {row['output_mp']:.1f} MP   PIL bicubic {t_pil:.3f} s   "
        f"nssr {vs(t_fast)}   PyTorch engine {vs(t_torch)}   reference {vs(t_ref)}   "
        f"CPU time: PIL {cpu_pil:.3f} s, nssr {cpu_fast:.3f} s ({cpu_fast / cpu_pil:.2f}×)   "
        f"auto's choice {t_choose * 1000:.0f} ms ({100 * t_choose / t_fast:.0f} % of nssr)   "
        f"peak RSS +{row['fast_peak_rss_above_baseline_mb']:.0f} MB "
        f"(of which the output {mem['output_mb']:.0f} MB)",
        flush=True,
    )
    return row


def torch_paths(
    args: argparse.Namespace, img: np.ndarray, kernel: np.ndarray, s: float
) -> tuple[float | None, float]:
    """The previous engine (PyTorch, on the CPU; None on CUDA, where it is nssr's engine) and
    the reference path (bicubic, then the convolution over the whole image)."""
    import torch

    from nssr_cli.engine.plans import make_plan, upscale_planes
    from nssr_cli.engine.reference import reference_upscale

    h = torch.from_numpy(kernel).to(args.device)

    def reference() -> None:
        x = torch.from_numpy(img).permute(2, 0, 1)[None].to(args.device, torch.float32) / 255
        out = reference_upscale(x, h, s)
        (out.clamp(0, 1) * 255).round().to(torch.uint8)[0].permute(1, 2, 0).cpu().numpy()
        if args.device == "cuda":
            torch.cuda.synchronize()

    t_torch = None
    if args.device == "cpu":
        plan = make_plan(kernel, s, "cpu", torch=True)
        upscale_planes(img, plan)
        t_torch = best_of(lambda: upscale_planes(img, plan), args.repeat)
    return t_torch, best_of(reference, max(1, args.repeat - 1))


def compute_paths(args: argparse.Namespace) -> list[dict]:
    from nssr_cli.kernels.files import resolve_kernel

    kernel = resolve_kernel(args.kernel)[0]
    return [measure_scale(args, kernel, s) for s in [*args.scales, *args.fractional]]


PIL_SCRIPT = """
import sys
from PIL import Image
src, dst, s = sys.argv[1], sys.argv[2], int(sys.argv[3])
im = Image.open(src)
im.load()
im.resize((im.width * s, im.height * s), Image.BICUBIC).save(dst, quality=95)
"""
# One file per process, as `find … | xargs -n1 script` runs it: writes <stem>_pil<suffix>.
PIL_ONE = """
import sys
from pathlib import Path
from PIL import Image
src = Path(sys.argv[1])
im = Image.open(src)
im.load()
im.resize((im.width * 2, im.height * 2), Image.BICUBIC).save(
    src.with_name(src.stem + "_pil" + src.suffix), quality=95
)
"""

# The floor of the folder case: what any NumPy + OpenCV program pays per process, doing nothing.
IMPORTS_ONLY = """
import os
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy, cv2
from PIL import Image, JpegImagePlugin
"""

# A lower floor for any NumPy-based tool: the Pillow script itself, NumPy imported first (one
# BLAS thread) and unused: Pillow's decode, bicubic and encode, plus what importing NumPy costs.
PIL_ONE_WITH_NUMPY = (
    """
import os
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy
"""
    + PIL_ONE
)

CPU_SECONDS: list[tuple[float, float]] = []  # (a, b) median CPU seconds of each median_pair


def program_env(cache: str) -> dict[str, str]:
    """The environment whole-program cases run in: nssr (and Pillow) as installed. pip
    byte-compiles a package when it installs it; a source checkout run under
    ``PYTHONDONTWRITEBYTECODE`` would recompile every nssr module in every process (~35 ms),
    a cost no user pays. So compile once here, and let the children use and write bytecode."""
    import compileall

    import nssr_cli

    compileall.compile_dir(Path(nssr_cli.__file__).parent, quiet=1)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "NSSR_CACHE_DIR": cache}


def nssr_command() -> list[str]:
    """The installed ``nssr`` program beside this Python, else ``python -m nssr_cli``."""
    script = Path(sys.executable).with_name("nssr")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "nssr_cli"]


def median_pair(
    a: list[str], b: list[str], repeat: int, env: dict[str, str], *, warm_up: bool = True
) -> tuple[float, float]:
    """Median wall time of two commands, run alternately (after one warm-up run of each)."""

    cpu: dict[int, list[float]] = {0: [], 1: []}

    def wall(cmd: list[str], which: int) -> float:
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        t = time.perf_counter() - t
        now = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu[which].append(now.ru_utime + now.ru_stime - used.ru_utime - used.ru_stime)
        return t

    if warm_up:
        wall(a, 0), wall(b, 1)
        cpu[0].clear(), cpu[1].clear()
    times = [(wall(a, 0), wall(b, 1)) for _ in range(repeat)]
    CPU_SECONDS.append((statistics.median(cpu[0]), statistics.median(cpu[1])))
    return statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)


def program_case(args: argparse.Namespace, name: str, size: tuple[int, int], ext: str) -> dict:
    """``nssr upscale in -s 2 -o out`` against the Pillow script, one picture of ``size``."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / f"in{ext}", Path(tmp) / f"out{ext}"
        Image.fromarray(photo(size)).save(src, quality=95)
        nssr = [*nssr_command(), "upscale", str(src), "-s", "2", "-o", str(out)]
        nssr += ["--quality", "95", "--device", args.device, "--overwrite", "-q"]
        pil = [sys.executable, "-c", PIL_SCRIPT, str(src), str(Path(tmp) / f"pil{ext}"), "2"]
        env = program_env(tmp)
        t_nssr, t_pil = median_pair(nssr, pil, args.repeat, env)
        c_nssr, c_pil = CPU_SECONDS[-1]
        t_help = median_pair([*nssr_command(), "--help"], pil, args.repeat, env)[0]
    print(
        f"{name}: {size[0]}×{size[1]} {ext} → ×2 {ext}: Pillow script {t_pil:.2f} s   "
        f"nssr upscale {t_nssr:.2f} s ({t_nssr / t_pil:.2f}× Pillow)   nssr --help {t_help:.2f} s"
        f"   CPU time: Pillow {c_pil:.2f} s, nssr {c_nssr:.2f} s ({c_nssr / c_pil:.2f}×)",
        flush=True,
    )
    return {
        "pil_script_s": t_pil,
        "nssr_s": t_nssr,
        "ratio": t_nssr / t_pil,
        "help_s": t_help,
        "pil_cpu_s": c_pil,
        "nssr_cpu_s": c_nssr,
    }


def folder_case(args: argparse.Namespace, size: tuple[int, int] = (400, 300)) -> dict:
    """``ls *.jpg | xargs -n1 -P2 nssr upscale -s 2``: one process per file, as pipelines run
    it, against the Pillow script run the same way — and two floors: a process that only imports
    NumPy (one BLAS thread, as nssr sets it), OpenCV and Pillow's JPEG plugin, then exits (what
    any NumPy + OpenCV program pays); and the Pillow script itself with NumPy imported first
    (what any NumPy-based tool pays on top of Pillow's own decode, resize and encode)."""
    count = args.folder_files
    with tempfile.TemporaryDirectory() as tmp:
        base = photo((size[0] * 4, size[1] * 4))
        for i in range(count):  # different crops, so no two files are the same
            y, x = (i * 37) % (3 * size[1]), (i * 53) % (3 * size[0])
            Image.fromarray(base[y : y + size[1], x : x + size[0]]).save(
                Path(tmp) / f"p{i:03d}.jpg", quality=90
            )
        files = " ".join(f"p{i:03d}.jpg" for i in range(count))
        nssr = " ".join([*nssr_command(), "upscale", "-s", "2", "--quality", "95"])
        nssr += f" --device {args.device} --overwrite -q"
        pil = f"{sys.executable} -c '{PIL_ONE}'"
        sh = ["bash", "-c"]
        env = program_env(tmp)
        run = f"cd {tmp} && printf '%s\\n' {files} | xargs -n1 -P2 "
        # no warm-up round: the files were just written, and each round is 2×200 processes
        t_nssr, t_pil = median_pair(
            [*sh, run + nssr], [*sh, run + pil], args.repeat, env, warm_up=False
        )
        c_nssr, c_pil = CPU_SECONDS[-1]
        floor = f"{sys.executable} -c '{IMPORTS_ONLY}'"
        t_floor, t_pil2 = median_pair(
            [*sh, run + floor], [*sh, run + pil], args.repeat, env, warm_up=False
        )
        with_numpy = f"{sys.executable} -c '{PIL_ONE_WITH_NUMPY}'"
        t_np, t_pil4 = median_pair(
            [*sh, run + with_numpy], [*sh, run + pil], args.repeat, env, warm_up=False
        )
        many = run.replace("-n1", "-n50")  # what the README advises: many files per process
        t_many, t_pil3 = median_pair(
            [*sh, many + nssr + " -j 1"], [*sh, run + pil], args.repeat, env,
            warm_up=False,
        )  # fmt: skip
    print(
        f"folder: {count} JPEGs of {size[0]}×{size[1]}, xargs -n1 -P2: Pillow script "
        f"{t_pil:.2f} s   nssr upscale {t_nssr:.2f} s ({t_nssr / t_pil:.2f}× Pillow)   "
        f"CPU time: Pillow {c_pil:.1f} s, nssr {c_nssr:.1f} s ({c_nssr / c_pil:.2f}×)   "
        f"floor (imports only) {t_floor / t_pil2:.2f}× Pillow   "
        f"the Pillow script importing NumPy first {t_np / t_pil4:.2f}× Pillow   "
        f"nssr with xargs -n50 -P2 {t_many:.2f} s ({t_many / t_pil3:.2f}× Pillow)",
        flush=True,
    )
    return {
        "files": count,
        "pil_script_s": t_pil,
        "nssr_s": t_nssr,
        "ratio": t_nssr / t_pil,
        "pil_cpu_s": c_pil,
        "nssr_cpu_s": c_nssr,
        "imports_only_vs_pil": t_floor / t_pil2,
        "pil_script_with_numpy_vs_pil": t_np / t_pil4,
        "nssr_n50_s": t_many,
        "nssr_n50_vs_pil": t_many / t_pil3,
    }


def end_to_end(args: argparse.Namespace) -> dict:
    """`nssr upscale in.jpg -s 2 -o out.png` against a plain PIL script, same PNG settings."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.jpg"
        Image.fromarray(test_image(args.megapixels, 2)).save(src, quality=95)
        nssr = [*nssr_command(), "upscale", str(src), "-s", "2", "-o", str(Path(tmp) / "nssr.png")]
        nssr += ["--device", args.device, "--overwrite", "-q"]
        pil = [sys.executable, "-c", PIL_SCRIPT, str(src), str(Path(tmp) / "pil.png"), "2"]
        env = program_env(tmp)
        t_nssr, t_pil = median_pair(nssr, pil, args.repeat, env)
        sizes = {name: (Path(tmp) / f"{name}.png").stat().st_size for name in ("nssr", "pil")}
        upscaled = np.asarray(Image.open(Path(tmp) / "nssr.png"))
    print(
        f"png: 12 MP PNG out: PIL script {t_pil:.2f} s ({sizes['pil'] / 1e6:.1f} MB)   "
        f"nssr upscale {t_nssr:.2f} s ({sizes['nssr'] / 1e6:.1f} MB)   ({t_nssr / t_pil:.2f}× PIL)",
        flush=True,
    )
    encoders = png_encoders(upscaled, args.repeat)
    return {
        "pil_script_s": t_pil,
        "nssr_s": t_nssr,
        "ratio": t_nssr / t_pil,
        "pil_png_bytes": sizes["pil"],
        "nssr_png_bytes": sizes["nssr"],
        "png_encoders": encoders,
    }


def png_encoders(pixels: np.ndarray, repeat: int) -> dict:
    """nssr's PNG writer against Pillow's on the same pixels: time and file size."""
    import io

    from nssr_cli.files.png import _deflate, encode_png

    def pillow() -> int:
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, "PNG")
        return len(buf.getvalue())

    n_pil, n_ours = pillow(), len(encode_png(pixels))
    t_pil = best_of(pillow, max(1, repeat - 1))
    t_ours = best_of(lambda: encode_png(pixels), max(1, repeat - 1))
    print(
        f"PNG writer on nssr's output: Pillow {t_pil:.2f} s, {n_pil / 1e6:.2f} MB   "
        f"nssr ({_deflate.__name__}, all cores) {t_ours:.2f} s, {n_ours / 1e6:.2f} MB "
        f"({t_ours / t_pil:.2f}× the time, {n_ours / n_pil - 1:+.1%} size)",
        flush=True,
    )
    return {"pillow_s": t_pil, "pillow_bytes": n_pil, "nssr_s": t_ours, "nssr_bytes": n_ours}


CASES = ("compute", "jpeg", "startup", "folder", "png")


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    p.add_argument("--megapixels", type=float, default=12.0, help="output size (default 12 MP)")
    p.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4])
    p.add_argument("--fractional", type=float, nargs="*", default=[2.5], help="also these")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--kernel", default="dil")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--folder-files", type=int, default=200, help="images in the folder case")
    p.add_argument("--no-reference", dest="reference", action="store_false")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--child-memory", type=float, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child_memory:
        measure_memory(args.child_memory, args.megapixels, args.device)
        return
    print(
        f"nssr speed benchmark: {args.device}, {os.cpu_count()} CPUs, numpy {np.__version__}, "
        f"Pillow {Image.__version__}, Python {sys.version.split()[0]}",
        flush=True,
    )
    run = {
        "compute": lambda: compute_paths(args),
        "jpeg": lambda: program_case(args, "jpeg", (3000, 2000), ".jpg"),
        "startup": lambda: program_case(args, "startup", (256, 256), ".png"),
        "folder": lambda: folder_case(args),
        "png": lambda: end_to_end(args),
    }
    results = {case: run[case]() for case in args.cases}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
