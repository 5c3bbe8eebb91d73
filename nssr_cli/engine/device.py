"""Where the work runs: the device choice and the tile size that bounds memory on it.

Deciding ``auto`` must not cost PyTorch's import (~1–2 s) on a machine where no GPU can be
used: that is most machines, and ``nssr upscale`` on the CPU never needs PyTorch at all.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import Any

from nssr_cli.errors import UsageError


def resolve_device(name: Any = "auto", *, argument: bool = False) -> str:
    """``"auto"`` → ``"cuda"`` when a CUDA GPU is usable, else ``"cpu"``; ``"cpu"``,
    ``"cuda"`` and ``"cuda:N"`` are checked and returned as given (a ``torch.device`` too, as
    its name). Asking for CUDA without it, or for another device, is a :class:`UsageError`,
    which names the command line's ``--device`` (the library's ``device=`` with ``argument``).
    PyTorch is imported only when a GPU could be present (:func:`gpu_possible`)."""
    name = str(name)
    if name == "cpu":
        return name
    if name == "auto":
        return "cuda" if _cuda_available() else "cpu"
    if name == "cuda" or re.fullmatch(r"cuda:\d+", name):
        if not _cuda_available():
            asked = f"device={name!r}" if argument else f"--device {name}"
            raise UsageError(f"{asked} was requested but no CUDA GPU is available")
        return name
    raise UsageError(f"unknown device {name!r}; use auto, cpu or cuda")


def _cuda_available() -> bool:
    if not gpu_possible():
        return False
    import torch

    return torch.cuda.is_available()


def gpu_possible() -> bool:
    """False when PyTorch could not use a GPU here, decided without importing it.

    Cheap facts, any one of which rules a GPU out: PyTorch is not installed; the
    installed build has neither CUDA nor ROCm (its ``torch/version.py`` says ``cuda = None``
    and ``hip = None``, as every CPU wheel does); ``CUDA_VISIBLE_DEVICES`` hides every device;
    or, on Linux, there is no GPU device node (``/dev/nvidia0``…, ``/dev/kfd`` for ROCm,
    ``/dev/dxg`` under WSL). Anything unsure answers True and PyTorch decides.
    """
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return False
    if not _gpu_build(Path(spec.origin).with_name("version.py")):
        return False
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return False
    if sys.platform.startswith("linux"):
        dev = Path("/dev")
        nodes = [*dev.glob("nvidia[0-9]*"), dev / "kfd", dev / "dxg"]
        return any(p.exists() for p in nodes)
    return True


def _gpu_build(version_file: Path) -> bool:
    """Whether PyTorch's ``version.py`` names a CUDA or ROCm version (True when unreadable)."""
    try:
        text = version_file.read_text(encoding="utf-8")
    except OSError:
        return True
    found = re.findall(r"^(cuda|hip)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", text, flags=re.MULTILINE)
    if len(found) < 2:
        return True
    return any(value != "None" for _, value in found)


def default_tile(device: Any) -> int:
    """Output tile side: tiles (on the CPU, bands) of about ``tile²`` pixels bound the memory.
    On the CPU, 1 MP bands keep every core busy on a photo and the memory ~0.1 GB."""
    return 4096 if str(device).startswith("cuda") else 1024
