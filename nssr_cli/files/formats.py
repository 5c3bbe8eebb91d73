"""Which image formats nssr reads: the one definition, used by the decoder and by folder walking."""

from __future__ import annotations

from PIL import Image


def image_extensions() -> set[str]:
    """Lower-case extensions (``.png``) of every format Pillow can read."""
    Image.init()
    return {e for e, f in Image.registered_extensions().items() if f in Image.OPEN}
