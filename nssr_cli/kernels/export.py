"""Exporting kernels: collapse a checkpoint, describe the kernel, cache it by content hash.

The cache (``<cache>/kernels/<sha256 of the checkpoint>.npy`` + its JSON sidecar) is only an
optimisation: an entry is used only if it is ours (owned by this user, not world-writable) and
reads back as exactly the kernel its sidecar recorded (``kernel_sha256``) by this nssr version;
anything else is rebuilt from the checkpoint. An entry holds the kernel; what an export reports
(the checkpoint's name, the kernel-sum warning) is the export's own. A cache folder that cannot
be written turns caching off, with a warning, and the export goes on.
"""

from __future__ import annotations

import hashlib
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nssr_cli import __version__
from nssr_cli.dil.config import SCENES_BLUR, SCENES_SCALE
from nssr_cli.errors import KernelError, NssrError, NssrWarning
from nssr_cli.kernels.checkpoints import parse_checkpoint, read_checkpoint
from nssr_cli.kernels.files import (
    cached_kernel_path,
    kernel_digest,
    load_kernel,
    save_kernel,
    validate_kernel,
)


@dataclass(frozen=True)
class ExportedKernel:
    kernel: np.ndarray  # (k, k) float32 convolution kernel
    meta: dict[str, Any]
    cache_path: Path | None  # None: the cache folder could not be written (caching is off)
    from_cache: bool

    @property
    def summary(self) -> dict[str, Any]:
        k = self.kernel.astype(np.float64)
        c = k.shape[0] // 2
        return {
            "size": int(k.shape[0]),
            "area": float(k.sum()),
            "centre_tap": float(k[c, c]),
            "min": float(k.min()),
            "max": float(k.max()),
        }


def model_from_checkpoint(ck: dict[str, Any], source: str = "checkpoint") -> Any:
    """Rebuild the L-CNN stored in a checkpoint dict; :class:`KernelError` naming ``source``
    when its config or weights do not describe one."""
    from nssr_cli.dil.model import LCNN, LCNNConfig

    try:
        config = ck.get("config") if isinstance(ck, dict) else None
        shape = config.get("model") if isinstance(config, dict) else None
        if not isinstance(shape, dict):  # Python's own words for this would be ('config')
            raise TypeError("it holds no model configuration (config → model)")
        fields = {k: shape[k] for k in ("depth", "width", "kernel_size") if k in shape}
        if not all(type(v) is int for v in fields.values()):
            raise TypeError("the model's shape is not given in whole numbers")
        model = LCNN(LCNNConfig(**fields))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise KernelError(f"{source}: not a usable nssr L-CNN checkpoint ({why})") from None
    try:
        model.load_state_dict(ck["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError):
        raise KernelError(
            f"{source}: not a usable nssr L-CNN checkpoint (its weights do not fit its "
            f"{fields.get('depth', 5)}-layer model: missing, extra or wrongly shaped tensors)"
        ) from None
    return model.eval()


def export_kernel(checkpoint: Path) -> ExportedKernel:
    """The checkpoint's collapsed kernel, from the cache when this exact file was seen before."""
    data = read_checkpoint(checkpoint)
    digest = hashlib.sha256(data).hexdigest()
    cached = cached_kernel_path(digest)
    hit = _read_cache(cached, digest)
    if hit is not None:  # the kernel is the cache's; what is said about it is this run's
        kernel = validate_kernel(hit[0], str(checkpoint))  # warns as the first export did
        meta = {**hit[1], "checkpoint": Path(checkpoint).name}
        return ExportedKernel(kernel, meta, cached, True)
    from nssr_cli.dil.collapse import collapse

    ck = parse_checkpoint(data, checkpoint)
    kernel = validate_kernel(collapse(model_from_checkpoint(ck, str(checkpoint))), str(checkpoint))
    config = ck["config"]
    scenes = config.get("objective") == "scenes"  # made for these unless told (older files)
    meta = {
        "kind": "convolution kernel (true convolution: out = x ⊛ h = conv2d(x, flip(h)))",
        "orientation": "convolution",
        "objective": config.get("objective", "dil"),
        "scale": config.get("scale") or (SCENES_SCALE if scenes else None),
        "blur": config.get("blur") or (SCENES_BLUR if scenes else None),
        "checkpoint": Path(checkpoint).name,
        "checkpoint_sha256": digest,
        "kernel_sha256": kernel_digest(kernel),
        "trained_with": ck.get("nssr_version"),
        "nssr_version": __version__,
        "metrics": ck.get("metrics", {}),
    }
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        save_kernel(kernel, cached, meta, overwrite=True, any_sidecar=True)  # ours to refresh
    except (OSError, NssrError) as exc:
        warnings.warn(
            f"caching is off ({_reason(exc)}); set NSSR_CACHE_DIR to a writable folder",
            NssrWarning,
            stacklevel=2,
        )
        return ExportedKernel(kernel, meta, None, False)
    return ExportedKernel(kernel, meta, cached, False)


def _read_cache(path: Path, digest: str) -> tuple[np.ndarray, dict[str, Any]] | None:
    """The cached kernel and its sidecar, or ``None`` if the entry is missing, not ours, was
    written by another nssr version, or does not read back as what was stored for the
    checkpoint with this ``digest``."""
    if not all(_ours(p) for p in (path, path.with_suffix(".json"))):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NssrWarning)  # a bad entry is rebuilt, not reported
            kernel, meta = load_kernel(path)
    except NssrError:
        return None
    if (
        meta.get("checkpoint_sha256") != digest
        or meta.get("kernel_sha256") != kernel_digest(kernel)
        or meta.get("nssr_version") != __version__  # another nssr describes it otherwise
    ):
        return None
    return kernel, meta


def _ours(path: Path) -> bool:
    """A regular file owned by this user that nobody else may write (else it may be planted)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    uid = os.geteuid() if hasattr(os, "geteuid") else st.st_uid
    return stat.S_ISREG(st.st_mode) and st.st_uid == uid and not st.st_mode & stat.S_IWOTH


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return f"{exc.filename}: {exc.strerror or exc}" if exc.filename else str(exc)
    return str(exc)
