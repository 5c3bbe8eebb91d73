"""Exporting kernels: collapse a checkpoint, describe the kernel, cache it by content hash."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nssr_cli import __version__
from nssr_cli.kernels.files import (
    cached_kernel_path,
    file_digest,
    load_checkpoint,
    load_kernel,
    save_kernel,
)


@dataclass(frozen=True)
class ExportedKernel:
    kernel: np.ndarray  # (k, k) float32 convolution kernel
    meta: dict[str, Any]
    cache_path: Path
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


def model_from_checkpoint(ck: dict[str, Any]) -> Any:
    """Rebuild the L-CNN stored in a checkpoint dict."""
    from nssr_cli.dil.model import LCNN, LCNNConfig

    model = LCNN(LCNNConfig(**ck["config"]["model"]))
    model.load_state_dict(ck["state_dict"])
    return model.eval()


def export_kernel(checkpoint: Path) -> ExportedKernel:
    """The checkpoint's collapsed kernel, from the cache when this exact file was seen before."""
    digest = file_digest(checkpoint)
    cached = cached_kernel_path(digest)
    if cached.is_file():
        try:
            kernel, meta = load_kernel(cached)
            if meta.get("checkpoint_sha256") == digest:
                return ExportedKernel(kernel, meta, cached, True)
        except Exception:  # a damaged cache entry is rebuilt below
            pass
    from nssr_cli.dil.collapse import collapse

    ck = load_checkpoint(checkpoint)
    kernel = collapse(model_from_checkpoint(ck))
    meta = {
        "kind": "convolution kernel (true convolution: out = x ⊛ h = conv2d(x, flip(h)))",
        "orientation": "convolution",
        "objective": ck["config"].get("objective", "dil"),
        "scale": ck["config"].get("scale"),
        "blur": ck["config"].get("blur"),
        "checkpoint": Path(checkpoint).name,
        "checkpoint_sha256": digest,
        "trained_with": ck.get("nssr_version"),
        "nssr_version": __version__,
        "metrics": ck.get("metrics", {}),
    }
    cached.parent.mkdir(parents=True, exist_ok=True)
    save_kernel(kernel, cached, meta, overwrite=True)  # a cache entry is ours to refresh
    return ExportedKernel(kernel, meta, cached, False)
