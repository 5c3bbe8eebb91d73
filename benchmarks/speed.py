"""Speed and memory of nssr's upscale paths, against PIL's bicubic resize, in one run.

    python benchmarks/speed.py                 # 12 MP outputs at ×2, ×3, ×4 on the CPU
    python benchmarks/speed.py --device cuda   # the same on a GPU (PIL stays on the CPU)
    python benchmarks/speed.py --megapixels 48 --scales 4 --no-end-to-end

Next to each upscale: the cost of ``auto``'s choice for that image (noise and blur estimates on
a ≤512² centre crop, then the rule) — it must stay under 10 % of the upscale.

Timings on a shared machine are noisy, so every number is the best of ``--repeat`` runs and
is reported as a ratio to PIL measured in the same run. Peak memory is measured in a fresh
child process (peak RSS above the baseline after importing torch and loading the image).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "examples" / "photo.png"


def test_image(megapixels: float, scale: int, seed: int = 0) -> np.ndarray:
    """An RGB LR image whose ×scale output has ``megapixels`` MP (4:3), made from a real photo."""
    out_w = int(round((megapixels * 1e6 * 4 / 3) ** 0.5 / (4 * scale))) * 4 * scale
    out_h = out_w * 3 // 4
    lr = (out_w // scale, out_h // scale)
    if PHOTO.is_file():
        img = Image.open(PHOTO).convert("RGB").resize(lr, Image.LANCZOS)
        arr = np.asarray(img).copy()
        rng = np.random.default_rng(seed)  # a little grain so nothing is suspiciously smooth
        return np.clip(arr + rng.normal(0, 2, arr.shape), 0, 255).astype(np.uint8)
    return np.random.default_rng(seed).integers(0, 256, (lr[1], lr[0], 3), dtype=np.uint8)


def best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def child_memory(args: argparse.Namespace, scale: int) -> dict[str, float]:
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


def measure_memory(scale: int, megapixels: float, device: str) -> None:
    """Child process: sample RSS every millisecond while one fast-path upscale runs."""
    import threading

    import torch

    from nssr_cli.engine.polyphase import make_plan
    from nssr_cli.engine.tiles import upscale_planes
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
    if device == "cuda":
        torch.cuda.synchronize()
    done.set()
    sampler.join()
    gpu = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else 0.0
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


def measure_scale(args: argparse.Namespace, kernel: np.ndarray, s: int) -> dict:
    import torch

    from nssr_cli.engine.polyphase import make_plan
    from nssr_cli.engine.reference import reference_upscale
    from nssr_cli.engine.tiles import upscale_planes
    from nssr_cli.kernels.estimate import blur_parts, noise_sigma

    img = test_image(args.megapixels, s)
    pil = Image.fromarray(img)
    size = (img.shape[1] * s, img.shape[0] * s)
    plan = make_plan(kernel, s, args.device)
    h = torch.from_numpy(kernel).to(args.device)

    def sync() -> None:
        if args.device == "cuda":
            torch.cuda.synchronize()

    def fast() -> None:
        upscale_planes(img, plan)
        sync()

    def reference() -> None:
        x = torch.from_numpy(img).permute(2, 0, 1)[None].to(args.device, torch.float32) / 255
        out = reference_upscale(x, h, s)
        (out.clamp(0, 1) * 255).round().to(torch.uint8)[0].permute(1, 2, 0).cpu().numpy()
        sync()

    def bicubic() -> None:
        pil.resize(size, Image.BICUBIC)

    def choose() -> None:  # `auto`'s most expensive path: a clean input needs every estimate
        noise_sigma(img)
        blur_parts(img, need_edge=True)  # (then the rule: a few comparisons)

    fast()  # warm-up: allocator, oneDNN/cuDNN kernels
    t_pil = best_of(bicubic, args.repeat)
    t_fast = best_of(fast, args.repeat)
    t_ref = best_of(reference, max(1, args.repeat - 1)) if args.reference else float("nan")
    t_pil = min(t_pil, best_of(bicubic, args.repeat))  # PIL before and after: fair to it
    t_choose = best_of(choose, args.repeat)
    mem = child_memory(args, s)
    row = {
        "scale": s,
        "output_mp": size[0] * size[1] / 1e6,
        "pil_s": t_pil,
        "fast_s": t_fast,
        "reference_s": t_ref,
        "fast_vs_pil": t_fast / t_pil,
        "choose_s": t_choose,
        "choose_vs_fast": t_choose / t_fast,
        "reference_vs_pil": t_ref / t_pil,
        "fast_peak_rss_above_baseline_mb": mem["peak_mb"] - mem["baseline_mb"],
        "output_mb": mem["output_mb"],
        "gpu_peak_mb": mem["gpu_peak_mb"],
    }
    ref = f"{t_ref:.3f} s ({t_ref / t_pil:.1f}× PIL)" if args.reference else "skipped"
    print(
        f"×{s}  {row['output_mp']:.1f} MP   PIL bicubic {t_pil:.3f} s   reference {ref}   "
        f"fast {t_fast:.3f} s ({t_fast / t_pil:.2f}× PIL)   "
        f"auto's choice {t_choose * 1000:.0f} ms ({100 * t_choose / t_fast:.0f} % of fast)   "
        f"peak RSS +{row['fast_peak_rss_above_baseline_mb']:.0f} MB "
        f"(of which the output {mem['output_mb']:.0f} MB)",
        flush=True,
    )
    return row


def compute_paths(args: argparse.Namespace) -> list[dict]:
    from nssr_cli.kernels.files import resolve_kernel

    kernel = resolve_kernel(args.kernel)[0]
    return [measure_scale(args, kernel, s) for s in args.scales]


PIL_SCRIPT = """
import sys
from PIL import Image
src, dst, s = sys.argv[1], sys.argv[2], int(sys.argv[3])
im = Image.open(src)
im.load()
im.resize((im.width * s, im.height * s), Image.BICUBIC).save(dst)  # Pillow's PNG defaults, as nssr
"""


def end_to_end(args: argparse.Namespace) -> dict:
    """`nssr upscale in.jpg -s 2 -o out.png` against a plain PIL script, same PNG settings."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.jpg"
        Image.fromarray(test_image(args.megapixels, 2)).save(src, quality=95)
        nssr = [
            sys.executable,
            "-m",
            "nssr_cli",
            "upscale",
            str(src),
            "-s",
            "2",
            "-o",
            str(Path(tmp) / "nssr.png"),
            "--device",
            args.device,
            "--overwrite",
            "-q",
        ]
        pil = [sys.executable, "-c", PIL_SCRIPT, str(src), str(Path(tmp) / "pil.png"), "2"]
        env = {**os.environ, "NSSR_CACHE_DIR": tmp}
        run = lambda cmd: subprocess.run(cmd, check=True, env=env, capture_output=True)  # noqa: E731
        run(nssr)
        t_pil = best_of(lambda: run(pil), args.repeat)
        t_nssr = best_of(lambda: run(nssr), args.repeat)
        t_pil = min(t_pil, best_of(lambda: run(pil), args.repeat))
        sizes = {name: (Path(tmp) / f"{name}.png").stat().st_size for name in ("nssr", "pil")}
        upscaled = np.asarray(Image.open(Path(tmp) / "nssr.png"))
    print(
        f"end to end, 12 MP PNG out: PIL script {t_pil:.2f} s ({sizes['pil'] / 1e6:.1f} MB)   "
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


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--megapixels", type=float, default=12.0, help="output size (default 12 MP)")
    p.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--kernel", default="dil")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-reference", dest="reference", action="store_false")
    p.add_argument("--no-end-to-end", dest="e2e", action="store_false")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--child-memory", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child_memory:
        measure_memory(args.child_memory, args.megapixels, args.device)
        return
    import torch

    print(
        f"nssr speed benchmark: {args.device}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs",
        flush=True,
    )
    results = {"compute": compute_paths(args), "end_to_end": end_to_end(args) if args.e2e else None}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
