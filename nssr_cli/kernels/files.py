"""Kernel files on disk: kernels (+ JSON sidecars), the cache folder, the shipped weights
(L-CNN checkpoint files: :mod:`nssr_cli.kernels.checkpoints`).

Kernel files are ``.npy``, float32, 2-D, odd square size, centred, holding a *true convolution*
kernel ``h``: ``x ⊛ h == conv2d(x, flip(h))`` with PyTorch's cross-correlating ``conv2d``
(:mod:`nssr_cli.dil.collapse`). Metadata sits beside them in ``<name>.json``.
"""

from __future__ import annotations

import io
import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from nssr_cli.engine.geometry import MAX_KERNEL_SIDE
from nssr_cli.errors import InputError, KernelError, NssrWarning, caller_stacklevel
from nssr_cli.files.atomic import publish
from nssr_cli.files.regular import read_regular

DEFAULT_CHECKPOINT = "dil.pt"
DEFAULT_KERNEL = "dil"
KERNEL_EXTENSIONS = (".npy", ".txt", ".json")  # a kernel file's, in any letter case


def cache_dir() -> Path:
    """The user cache folder, computed at call time: ``$NSSR_CACHE_DIR`` or platformdirs'."""
    env = os.environ.get("NSSR_CACHE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir  # only here: most runs never touch the cache

    return Path(user_cache_dir("nssr", appauthor=False))


def weights_dir() -> Path:
    """The shipped ``weights/`` folder: inside the wheel, or beside the package in a checkout."""
    package = Path(__file__).resolve().parents[1]  # nssr_cli/: a folder, never a zip (np.load)
    packaged = package / "weights"
    return packaged if packaged.is_dir() else package.parent / "weights"


def shipped_checkpoint() -> Path:
    return weights_dir() / DEFAULT_CHECKPOINT


def builtin_kernels() -> dict[str, Path]:
    """Names → paths of every shipped kernel (``weights/*.npy`` and ``weights/bank/*.npy``)."""
    root = weights_dir()
    found = {p.stem: p for p in sorted(root.glob("*.npy"))}
    found.update({p.stem: p for p in sorted((root / "bank").glob("*.npy"))})
    return found


# Limits for a kernel from anywhere (a file, the cache, an array): the side the engine accepts
# (MAX_KERNEL_SIDE, 63); shipped taps stay under 5, and a tap beyond 1e3 cannot come from a
# sharpening kernel (it only overflows the output).
MAX_TAP = 1e3
AREA_TOLERANCE = 0.1  # Σh outside 1 ± this changes the brightness visibly: warn
KERNEL_FILE_BYTES = 1 << 20  # a 63×63 kernel is 32 KB as .npy, ~80 KB as .txt or .json


def validate_kernel(k: Any, source: str, *, warn: bool = True) -> np.ndarray:
    """Check a candidate kernel and return it as a C-contiguous float32 ``(k, k)`` array.

    Raises :class:`KernelError` naming ``source`` for a wrong shape, an even or too large side,
    non-numbers, NaN/inf, taps beyond ±:data:`MAX_TAP` or a sum of ~0; warns
    (:class:`~nssr_cli.errors.NssrWarning`, unless ``warn`` is false) when the sum is far from 1
    (the brightness changes).
    """
    arr = np.asarray(k)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise KernelError(f"{source}: a kernel must be a square 2-D array, got shape {arr.shape}")
    if arr.shape[0] % 2 == 0:
        raise KernelError(f"{source}: a kernel needs an odd size (centred), got {arr.shape[0]}")
    if arr.shape[0] > MAX_KERNEL_SIDE:
        raise KernelError(
            f"{source}: a kernel may be at most {MAX_KERNEL_SIDE}×{MAX_KERNEL_SIDE}, "
            f"got {arr.shape[0]}×{arr.shape[1]}"
        )
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise KernelError(f"{source}: a kernel must hold numbers, got dtype {arr.dtype}")
    wide = arr.astype(np.float64)
    if not np.all(np.isfinite(wide)):
        raise KernelError(f"{source}: the kernel contains NaN or infinite values")
    if np.abs(wide).max() > MAX_TAP:
        raise KernelError(
            f"{source}: a kernel tap of {np.abs(wide).max():.3g} is absurd (at most ±{MAX_TAP:g})"
        )
    area = float(wide.sum())
    if abs(area) < 1e-3:
        raise KernelError(f"{source}: the kernel sums to ~0, so it would erase the image")
    if warn and abs(area - 1) > AREA_TOLERANCE:
        warnings.warn(
            f"{source}: the kernel's taps sum to {area:.3g}, not 1: "
            f"outputs will be {area:.3g}× as bright",
            NssrWarning,
            stacklevel=caller_stacklevel(),
        )
    return np.ascontiguousarray(wide, dtype=np.float32)


def kernel_digest(kernel: np.ndarray) -> str:
    """SHA-256 (hex) of a kernel's size and float32 taps: what a cache entry must read back as."""
    k = np.ascontiguousarray(kernel, dtype="<f4")
    import hashlib  # here: a plain upscale never needs OpenSSL (~4 ms to load)

    return hashlib.sha256(f"{k.shape[0]}x{k.shape[1]}:".encode() + k.tobytes()).hexdigest()


def _json_taps(obj: Any) -> Any:
    """What a JSON kernel holds as taps: ``{"kernel": [[…], …]}`` as ``export-kernel`` writes
    it, or the bare list of rows; ``None`` for a dict without a kernel (a sidecar)."""
    return obj.get("kernel") if isinstance(obj, dict) else obj


def _json_kernel(obj: Any, path: Path) -> np.ndarray:
    """The taps of a JSON kernel (:func:`_json_taps`)."""
    if isinstance(obj, dict) and "kernel" not in obj:
        raise KernelError(
            f'{path}: this JSON holds no "kernel" (a kernel\'s sidecar? name the .npy or .txt '
            "beside it)"
        )
    taps = _json_taps(obj)
    try:
        return np.asarray(taps, dtype=np.float64)
    except (ValueError, TypeError):
        raise KernelError(f"{path}: the kernel must be rows of numbers") from None


def load_kernel(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a kernel (``.npy``, or ``.txt``/``.json`` as written by :func:`save_kernel`) and
    its ``.json`` sidecar (``{}`` when there is none or it is unreadable).

    Only a regular file of at most :data:`KERNEL_FILE_BYTES` is read; ``.npy`` never unpickles.
    Raises :class:`KernelError` naming the file for anything that is not a valid kernel.
    """
    path = Path(path)
    data = _read_kernel_file(path, "kernel file")
    ext = path.suffix.lower()
    try:
        if ext == ".npy":
            arr = _npy_array(data)
        elif ext == ".json":  # utf-8-sig: a byte-order mark (Windows Notepad) is not a tap
            arr = _json_kernel(json.loads(data.decode("utf-8-sig")), path)
        else:
            arr = _text_kernel(data.decode("utf-8-sig"), path)
    except UnicodeDecodeError:
        raise KernelError(
            f"{path}: not a kernel file (binary data, not text); a kernel is a .npy, "
            "or a .txt/.json written by `nssr export-kernel` (a checkpoint .pt needs "
            "`nssr export-kernel --checkpoint` first)"
        ) from None
    except (ValueError, KeyError, TypeError, IndexError, EOFError, RecursionError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise KernelError(f"{path}: not a readable kernel file ({why})") from None
    meta: dict[str, Any] = {}
    sidecar = path.with_suffix(".json")
    if ext != ".json" and sidecar.is_file():
        try:
            found = json.loads(_read_kernel_file(sidecar, "sidecar").decode("utf-8-sig"))
            meta = found if isinstance(found, dict) else {}
        except (KernelError, ValueError):
            meta = {}
    return validate_kernel(arr, str(path)), meta


def _text_kernel(text: str, path: Path) -> np.ndarray:
    """The rows of numbers of a ``.txt`` kernel (``#`` starts a comment)."""
    if not any(line.split("#", 1)[0].strip() for line in text.splitlines()):
        raise KernelError(f"{path}: the kernel file holds no numbers (it is empty or blank)")
    return np.loadtxt(io.StringIO(text), ndmin=2)


def _npy_array(data: bytes) -> np.ndarray:
    """A ``.npy`` file's array, never unpickled, its header checked against the bytes present
    before anything is allocated (a header may claim terabytes)."""
    fmt = np.lib.format
    buf = io.BytesIO(data)
    version = fmt.read_magic(buf)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(buf)
    elif version == (2, 0):
        shape, _, dtype = fmt.read_array_header_2_0(buf)
    else:
        raise ValueError(f".npy format version {version} is not supported")
    if dtype.hasobject:
        raise ValueError("it holds Python objects, which are never unpickled")
    if math.prod(shape) * dtype.itemsize > len(data):
        raise ValueError(f"the header says {shape} but the file is too short")
    return np.load(io.BytesIO(data), allow_pickle=False)


def _read_kernel_file(path: Path, what: str) -> bytes:
    try:
        return read_regular(path, KERNEL_FILE_BYTES, what=what)
    except InputError as exc:
        raise KernelError(str(exc)) from None


def kernel_outputs(path: Path, *, overwrite: bool = True) -> list[Path]:
    """Every file :func:`save_kernel` writes for ``path``: a ``.npy`` gets a ``.json`` sidecar.

    An existing sidecar is replaced only if it is one of nssr's (:func:`_is_nssr_sidecar`) and
    ``overwrite``: ``--overwrite`` is about ``k.npy``, and must not cost the user a ``k.json``
    they wrote themselves (a kernel, a ``--json`` report, notes).
    """
    path = Path(path)
    if path.suffix.lower() not in KERNEL_EXTENSIONS:
        raise KernelError(
            f"{path}: a kernel is written as .npy, .txt or .json; end the name in one of them "
            "(e.g. kernel.npy)"
        )
    if path.suffix.lower() != ".npy":
        return [path]
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():  # a folder, device or dangling link: publish_problem names it
        _check_sidecar_target(sidecar, path, overwrite=overwrite)
    return [path, sidecar]


def _check_sidecar_target(sidecar: Path, path: Path, *, overwrite: bool) -> None:
    """:class:`KernelError` unless the existing ``sidecar`` of ``path`` may be replaced."""
    whose = f"the sidecar nssr writes for {path.name}"
    other = f"name the output otherwise (e.g. {path.stem}-2.npy)"
    obj = _small_json(sidecar)
    if isinstance(_json_taps(obj), list):
        raise KernelError(f"{sidecar}: holds a kernel, and {whose} would replace it; {other}")
    if not _is_nssr_sidecar(obj):
        raise KernelError(
            f"{sidecar}: {whose} would replace this file, which is not one of nssr's "
            f"(--overwrite does not replace it); {other}, or move {sidecar.name}"
        )
    if not overwrite:
        raise KernelError(f"{sidecar}: already exists as {whose}; pass --overwrite to replace it")


def _small_json(path: Path) -> Any:
    """The JSON in ``path`` if it is a file of at most :data:`KERNEL_FILE_BYTES`, else ``None``."""
    try:
        if path.stat().st_size > KERNEL_FILE_BYTES:
            return None
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return None


def _is_nssr_sidecar(obj: Any) -> bool:
    """Whether a JSON document is a kernel's sidecar as nssr writes it: an object without taps
    that states the kernel's orientation (every nssr sidecar) or its ``kernel_sha256``."""
    return (
        isinstance(obj, dict)
        and "kernel" not in obj
        and ("orientation" in obj or "kernel_sha256" in obj)
    )


def save_kernel(
    kernel: np.ndarray,
    path: Path,
    meta: dict[str, Any],
    *,
    overwrite: bool = False,
    any_sidecar: bool = False,
) -> list[Path]:
    """Write a kernel by extension (``.npy`` + JSON sidecar, ``.txt``, or ``.json``), refusing
    existing files unless ``overwrite`` (:func:`nssr_cli.files.atomic.publish`), and a sidecar
    that is not nssr's (:func:`kernel_outputs`) unless ``any_sidecar`` (a cache entry's).

    Returns every file written.
    """
    path = Path(path)
    if any_sidecar and path.suffix.lower() == ".npy":
        files = [path, path.with_suffix(".json")]
    else:
        files = kernel_outputs(path, overwrite=overwrite)
    k = validate_kernel(kernel, str(path), warn=False)  # its source warned when it was read
    ext = path.suffix.lower()
    # 9 significant digits read back (through the float64 .txt and .json are parsed as) as
    # these very float32 taps: the same kernel as the .npy, small taps too
    taps = [[f"{tap:.9g}" for tap in row] for row in k.tolist()]
    if ext == ".npy":
        buf = io.BytesIO()
        np.save(buf, k, allow_pickle=False)
        publish(path, buf.getvalue(), overwrite=overwrite)
        publish(files[1], (json.dumps(meta, indent=2) + "\n").encode(), overwrite=overwrite)
    elif ext == ".json":
        doc = dict(meta, kernel=[[float(tap) for tap in row] for row in taps])
        publish(path, (json.dumps(doc, indent=2) + "\n").encode(), overwrite=overwrite)
    else:
        shown = (f"{k}: {v if isinstance(v, str) else json.dumps(v)}" for k, v in meta.items())
        lines = [" ".join(f"{tap:>15}" for tap in row) for row in taps]
        text = "\n".join(["# " + h for h in "\n".join(shown).splitlines()] + lines) + "\n"
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
    if path.suffix.lower() in KERNEL_EXTENSIONS or path.exists():
        return load_kernel(path)[0], str(path)
    choices = ", ".join([*IDENTITY_NAMES[:1], *sorted(builtin)])
    raise KernelError(f"{name}: no such kernel; give a .npy path or one of: {choices}")
