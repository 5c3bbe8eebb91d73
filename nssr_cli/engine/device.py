"""Where the work runs: the device choice and the tile size that bounds memory on it."""

from __future__ import annotations

import torch

from nssr_cli.errors import UsageError


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU. Asking for CUDA without it is a usage error."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda was requested but no CUDA GPU is available")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UsageError(f"unknown device {name!r}; use auto, cpu or cuda") from None


def default_tile(device: torch.device) -> int:
    """Output tile side: a few MP per tile bounds memory (~0.2 GB on the CPU) at no speed cost."""
    return 4096 if device.type == "cuda" else 2048
