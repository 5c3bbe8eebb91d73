"""What an output carries from its input besides pixels, ICC, EXIF and DPI: how a WebP was
compressed (a lossless WebP stays lossless).

Read at decode time into :attr:`~nssr_cli.files.picture.Picture.info`, used at encode time.
"""

from __future__ import annotations

from typing import Any

from PIL import Image


def webp_lossless(im: Image.Image) -> dict[str, Any]:
    """``{"webp_lossless": True}`` for an opened, not yet decoded WebP whose every image is
    lossless (VP8L), else ``{}``. Reads the file's chunk headers only, and must run before
    decoding: Pillow's WebP ``load()`` replaces the stream with the decoded pixels."""
    fp = getattr(im, "fp", None)
    if im.format != "WEBP" or fp is None:
        return {}
    where = fp.tell()
    try:
        fp.seek(12)  # after "RIFF", the size and "WEBP"
        kinds = set()
        while len(head := fp.read(8)) == 8:
            kind, size = head[:4], int.from_bytes(head[4:], "little")
            if kind == b"ANMF":  # an animation frame: 16 bytes of placement, then its chunks
                fp.seek(16, 1)
                continue
            kinds.add(kind)
            fp.seek(size + (size & 1), 1)
    except (OSError, ValueError):
        return {}
    finally:
        fp.seek(where)
    return {"webp_lossless": True} if b"VP8L" in kinds and b"VP8 " not in kinds else {}
