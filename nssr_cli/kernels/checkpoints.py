"""L-CNN checkpoint files: written atomically by ``nssr train``, read back safely (a regular
file of bounded size, ``torch.load(weights_only=True)``: tensors and plain data, never code) by
``nssr export-kernel`` and the kernel cache (:mod:`nssr_cli.kernels.export`).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

from nssr_cli.errors import InputError, KernelError
from nssr_cli.files.atomic import publish
from nssr_cli.files.regular import read_regular

CHECKPOINT_FORMAT = "nssr-lcnn/1"


def save_checkpoint(path: Path, payload: dict[str, Any], *, overwrite: bool = False) -> None:
    """Write an L-CNN checkpoint atomically, refusing an existing file unless ``overwrite``.
    ``payload`` holds plain data and tensors only (config, state_dict, metrics, version), so it
    loads with ``weights_only=True``."""
    import torch

    buf = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, **payload}, buf)
    publish(Path(path), buf.getvalue(), overwrite=overwrite)


CHECKPOINT_BYTES = 1 << 30  # the largest L-CNN (31 layers × 512 channels) is ~270 MB


def read_checkpoint(path: Path) -> bytes:
    """A checkpoint file's bytes: a regular file of at most :data:`CHECKPOINT_BYTES` only."""
    try:
        return read_regular(Path(path), CHECKPOINT_BYTES, what="checkpoint")
    except InputError as exc:
        raise KernelError(str(exc)) from None


def parse_checkpoint(data: bytes, path: Path) -> dict[str, Any]:
    """A checkpoint's contents, loaded safely (``weights_only=True``: tensors and plain data,
    never code). :class:`KernelError` naming ``path`` if it is not an nssr checkpoint."""
    import torch

    try:
        with warnings.catch_warnings():  # torch's notes on the file (its pickle protocol…):
            warnings.simplefilter("ignore")  # what matters is whether it loads, said below
            ck = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        why = type(exc).__name__
        raise KernelError(f"{path}: not a readable nssr checkpoint ({why})") from None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise KernelError(f"{path}: not an nssr L-CNN checkpoint (made by `nssr train`)")
    return ck


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (see :func:`parse_checkpoint`)."""
    return parse_checkpoint(read_checkpoint(path), Path(path))
