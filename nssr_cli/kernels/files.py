"""Kernel files on disk: kernels (+ JSON sidecars), L-CNN checkpoints, the cache folder, the
shipped weights.

Kernel files are ``.npy``, float32, 2-D, odd square size, centred, holding a *true convolution*
kernel (DESIGN §3). Metadata sits beside them in ``<name>.json``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from platformdirs import user_cache_dir

from nssr_cli.errors import KernelError
from nssr_cli.files.atomic import publish

DEFAULT_CHECKPOINT = "dil.pt"
DEFAULT_KERNEL = "dil"


def cache_dir() -> Path:
    """The user cache folder, computed at call time: ``$NSSR_CACHE_DIR`` or platformdirs'."""
    env = os.environ.get("NSSR_CACHE_DIR")
    return Path(env) if env else Path(user_cache_dir("nssr", appauthor=False))


def weights_dir() -> Path:
    """The shipped ``weights/`` folder: inside the wheel, or beside the package in a checkout."""
    packaged = Path(str(resources.files("nssr_cli") / "weights"))
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "weights"


def shipped_checkpoint() -> Path:
    return weights_dir() / DEFAULT_CHECKPOINT


def builtin_kernels() -> dict[str, Path]:
    """Names → paths of every shipped kernel (``weights/*.npy`` and ``weights/bank/*.npy``)."""
    root = weights_dir()
    found = {p.stem: p for p in sorted(root.glob("*.npy"))}
    found.update({p.stem: p for p in sorted((root / "bank").glob("*.npy"))})
    return found


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (hex), used to key the kernel cache."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def validate_kernel(k: Any, source: str) -> np.ndarray:
    """Check a candidate kernel and return it as a C-contiguous float32 ``(k, k)`` array."""
    arr = np.asarray(k)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise KernelError(f"{source}: a kernel must be a square 2-D array, got shape {arr.shape}")
    if arr.shape[0] % 2 == 0:
        raise KernelError(f"{source}: a kernel needs an odd size (centred), got {arr.shape[0]}")
    if not np.issubdtype(arr.dtype, np.floating) and not np.issubdtype(arr.dtype, np.integer):
        raise KernelError(f"{source}: a kernel must hold numbers, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.all(np.isfinite(arr)):
        raise KernelError(f"{source}: the kernel contains NaN or infinite values")
    if abs(float(arr.sum(dtype=np.float64))) < 1e-3:
        raise KernelError(f"{source}: the kernel sums to ~0, so it would erase the image")
    return arr


def load_kernel(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a kernel (``.npy``, or ``.txt``/``.json`` as written by :func:`save_kernel`)."""
    path = Path(path)
    try:
        if path.suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif path.suffix == ".json":
            arr = np.asarray(json.loads(path.read_text())["kernel"], dtype=np.float64)
        else:
            arr = np.loadtxt(path, ndmin=2)
    except FileNotFoundError:
        raise KernelError(f"{path}: no such kernel file") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KernelError(f"{path}: not a readable kernel file ({exc})") from None
    meta_path = path.with_suffix(".json")
    meta: dict[str, Any] = {}
    if path.suffix != ".json" and meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            meta = {}
    return validate_kernel(arr, str(path)), meta


def kernel_outputs(path: Path) -> list[Path]:
    """Every file :func:`save_kernel` writes for ``path``: a ``.npy`` gets a ``.json`` sidecar."""
    path = Path(path)
    if path.suffix not in (".npy", ".json", ".txt"):
        raise KernelError(f"{path}: kernel output must end in .npy, .txt or .json")
    return [path, path.with_suffix(".json")] if path.suffix == ".npy" else [path]


def save_kernel(
    kernel: np.ndarray, path: Path, meta: dict[str, Any], *, overwrite: bool = False
) -> list[Path]:
    """Write a kernel by extension (``.npy`` + JSON sidecar, ``.txt``, or ``.json``), refusing
    existing files unless ``overwrite`` (:func:`nssr_cli.files.atomic.publish`).

    Returns every file written.
    """
    path = Path(path)
    files = kernel_outputs(path)
    k = validate_kernel(kernel, str(path))
    if path.suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, k, allow_pickle=False)
        publish(path, buf.getvalue(), overwrite=overwrite)
        publish(files[1], (json.dumps(meta, indent=2) + "\n").encode(), overwrite=overwrite)
    elif path.suffix == ".json":
        doc = dict(meta, kernel=k.astype(np.float64).round(9).tolist())
        publish(path, (json.dumps(doc, indent=2) + "\n").encode(), overwrite=overwrite)
    else:
        header = "\n".join(f"{key}: {value}" for key, value in meta.items())
        lines = [" ".join(f"{v: .9f}" for v in row) for row in k.astype(np.float64)]
        text = "\n".join(["# " + h for h in header.splitlines()] + lines) + "\n"
        publish(path, text.encode(), overwrite=overwrite)
    return files


def cached_kernel_path(digest: str) -> Path:
    """Where the kernel collapsed from a checkpoint with this content hash is cached."""
    return cache_dir() / "kernels" / f"{digest[:16]}.npy"


IDENTITY_NAMES = ("bicubic", "identity")


def resolve_kernel(spec: str | os.PathLike[str] | np.ndarray | None) -> tuple[np.ndarray, str]:
    """A kernel and a label for it, from ``None`` (the default), a built-in name, a file path,
    or an array. ``"bicubic"`` is the 1×1 impulse: plain bicubic, no sharpening."""
    if spec is None:
        spec = DEFAULT_KERNEL
    if isinstance(spec, np.ndarray):
        return validate_kernel(spec, "kernel array"), "array"
    name = str(spec)
    if name in IDENTITY_NAMES:
        return np.ones((1, 1), dtype=np.float32), "bicubic"
    builtin = builtin_kernels()
    if name in builtin:
        return load_kernel(builtin[name])[0], name
    path = Path(name).expanduser()
    if path.suffix in (".npy", ".txt", ".json") or path.exists():
        return load_kernel(path)[0], str(path)
    choices = ", ".join([*IDENTITY_NAMES[:1], *sorted(builtin)])
    raise KernelError(f"{name}: no such kernel; give a .npy path or one of: {choices}")


CHECKPOINT_FORMAT = "nssr-lcnn/1"


def save_checkpoint(path: Path, payload: dict[str, Any], *, overwrite: bool = False) -> None:
    """Write an L-CNN checkpoint atomically, refusing an existing file unless ``overwrite``.
    ``payload`` holds plain data and tensors only (config, state_dict, metrics, version), so it
    loads with ``weights_only=True``."""
    import torch

    buf = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, **payload}, buf)
    publish(Path(path), buf.getvalue(), overwrite=overwrite)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (safely: ``weights_only=True``)."""
    import torch

    path = Path(path)
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise KernelError(f"{path}: no such checkpoint") from None
    except Exception as exc:  # torch raises many types for a bad file
        raise KernelError(
            f"{path}: not a readable nssr checkpoint ({type(exc).__name__})"
        ) from None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise KernelError(f"{path}: not an nssr L-CNN checkpoint (made by `nssr train`)")
    return ck
