"""nssr — null-shot super-resolution: bicubic plus one learned inverse-blur convolution.

The library API lives beside the CLI; heavy modules (torch) load on first use, so
``import nssr_cli`` and ``nssr --help`` stay instant.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "upscale_array"]


def __getattr__(name: str) -> Any:
    if name == "upscale_array":
        from nssr_cli.api import upscale_array

        return upscale_array
    raise AttributeError(f"module 'nssr_cli' has no attribute {name!r}")
