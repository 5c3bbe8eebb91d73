"""PNG writing on every core: Pillow's filters and compression level, deflated in parallel.

Pillow's PNG encoder runs on one core, and for a 12-megapixel upscale it spends longer in
deflate than nssr spends on everything else. This writer makes the same kind of file
(8- or 16-bit gray, gray+alpha, RGB or RGBA; ICC profile, EXIF, DPI and any other chunks
the caller gives kept) with the same
settings — each scanline's filter chosen by Pillow's rule, deflate level 6 with the
``Z_FILTERED`` strategy — but the way ``pigz`` writes gzip: the scanlines are cut into bands,
each band is filtered and deflated on its own thread, its compressor primed with the 32 KiB of
filtered data before it (so matches still reach across band edges), and the raw deflate pieces
are joined into one zlib stream with a single Adler-32. The filtered bytes are identical to
Pillow's; only the deflate implementation differs: zlib-ng when installed (about twice as fast
as zlib at the same level), Python's zlib otherwise.
"""

from __future__ import annotations

import struct
import zlib
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from nssr_cli.system import usable_cores

try:  # a maintained, faster deflate with zlib's API; the standard library's zlib otherwise
    from zlib_ng import zlib_ng as _deflate
except ImportError:  # pragma: no cover - exercised only where zlib-ng is not installed
    _deflate = zlib

LEVEL = 6  # Pillow's default compress_level
_ZLIB_HEADER = b"\x78\x9c"  # deflate, 32 KiB window, "default level" (level 6)
BAND_BYTES = 1 << 20  # raw bytes per band: cores share the work, filtering stays in small arrays
MAX_THREADS = 8  # deflate gains little beyond this, and each running band holds ~20 MB
_WINDOW = 32768  # deflate's window: how much of the previous band primes the next
_IDAT_BYTES = 1 << 18
_COLOR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels → PNG colour type (gray, gray+alpha, RGB, RGBA)
_FILTER_CODES = np.array([0, 2, 1, 4], np.uint8)  # None, Up, Sub, Paeth: Pillow's trial order


def encode_png(
    arr: np.ndarray,
    *,
    icc: bytes | None = None,
    exif: bytes | None = None,
    dpi: tuple[float, float] | None = None,
    chunks: Sequence[tuple[bytes, bytes]] = (),
    threads: int | None = None,
) -> bytes:
    """``(H, W)`` or ``(H, W, C)`` uint8 or uint16 pixels (C = 1, 2, 3 or 4) → PNG file bytes.
    ``chunks``: more ``(type, data)`` chunks to write before the pixels (gAMA, text…)."""
    a = arr if arr.ndim == 3 else arr[:, :, None]
    h, w, c = a.shape
    if a.dtype not in (np.uint8, np.uint16) or c not in _COLOR_TYPE or h < 1 or w < 1:
        raise ValueError(f"cannot write a {a.dtype} array of shape {arr.shape} as PNG")
    depth = 8 * a.dtype.itemsize
    rows = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder(">")).view(np.uint8)
    rows = rows.reshape(h, w * c * a.dtype.itemsize)
    parts = [b"\x89PNG\r\n\x1a\n"]
    _chunk(parts, b"IHDR", struct.pack(">IIBBBBB", w, h, depth, _COLOR_TYPE[c], 0, 0, 0))
    if icc:
        _chunk(parts, b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc))
    ppm = _pixels_per_metre(dpi)
    if ppm:
        _chunk(parts, b"pHYs", struct.pack(">IIB", *ppm, 1))
    if exif:
        _chunk(parts, b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif)
    for kind, data in chunks:
        _chunk(parts, kind, data)
    stream = memoryview(deflate_scanlines(rows, c * a.dtype.itemsize, threads=threads))
    for i in range(0, len(stream), _IDAT_BYTES):
        _chunk(parts, b"IDAT", stream[i : i + _IDAT_BYTES])
    _chunk(parts, b"IEND", b"")
    return b"".join(parts)  # the file is built once: its memory is the stream and the result


def deflate_scanlines(rows: np.ndarray, bpp: int, *, threads: int | None = None) -> bytes:
    """The zlib stream of a PNG's filtered scanlines (``rows``: ``(H, row bytes)`` uint8)."""
    pieces = [_ZLIB_HEADER]
    adler = 1
    for body, z in _deflated_bands(rows, bpp, threads):
        adler = zlib.adler32(body, adler)
        pieces.append(z)
    pieces.append(struct.pack(">I", adler & 0xFFFFFFFF))
    return b"".join(pieces)


def _deflated_bands(
    rows: np.ndarray, bpp: int, threads: int | None
) -> Iterator[tuple[bytes, bytes]]:
    """``(filtered bytes, raw deflate)`` of each band of rows, in order, from a thread pool
    holding 2 bands per thread in flight (bounded memory, busy cores)."""
    h, width = rows.shape
    band = max(1, BAND_BYTES // width)
    spans = [(y0, min(h, y0 + band)) for y0 in range(0, h, band)]
    workers = min(len(spans), threads or min(usable_cores(), MAX_THREADS))
    if workers <= 1:
        yield from (_deflate_band(rows, y0, y1, bpp) for y0, y1 in spans)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="nssr-png") as pool:
        running: deque[Future[tuple[bytes, bytes]]] = deque()
        for y0, y1 in spans:
            running.append(pool.submit(_deflate_band, rows, y0, y1, bpp))
            if len(running) >= 2 * workers:
                yield running.popleft().result()
        while running:
            yield running.popleft().result()


def _deflate_band(rows: np.ndarray, y0: int, y1: int, bpp: int) -> tuple[bytes, bytes]:
    """Filter rows ``y0:y1`` and deflate them (raw, byte-aligned); return both."""
    width = rows.shape[1]
    context = min(y0, -(-_WINDOW // (width + 1)))  # rows whose filtered tail primes deflate
    filtered = filter_scanlines(rows, y0 - context, y1, bpp)
    body = filtered[context:].tobytes()
    window = filtered[:context].tobytes()[-_WINDOW:]
    primed = {"zdict": window} if window else {}
    co = _deflate.compressobj(LEVEL, zlib.DEFLATED, -15, 9, zlib.Z_FILTERED, **primed)
    last = y1 == rows.shape[0]
    return body, co.compress(body) + co.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def filter_scanlines(rows: np.ndarray, y0: int, y1: int, bpp: int) -> np.ndarray:
    """Rows ``y0:y1`` filtered as Pillow does: ``(n, 1 + row bytes)``, filter type first.

    Each row gets the filter among None, Up, Sub and Paeth whose output has the smallest sum of
    absolute values (bytes read as signed), the first of them on a tie: libpng's heuristic
    without Average, exactly as Pillow's encoder chooses at its default settings.
    """
    x = rows[y0:y1]
    n, width = x.shape
    above = np.empty_like(x)  # the row above each row; zeros above the first
    above[0] = rows[y0 - 1] if y0 > 0 else 0
    above[1:] = x[:-1]
    left = np.zeros_like(x)
    left[:, bpp:] = x[:, :-bpp]
    upleft = np.zeros_like(x)
    upleft[:, bpp:] = above[:, :-bpp]
    d_up = above.astype(np.int16) - upleft  # Paeth's distances without forming a + b - c
    d_left = left.astype(np.int16) - upleft
    pa, pb = np.abs(d_up), np.abs(d_left)
    pc = np.abs(d_up + d_left)
    del d_up, d_left
    predict = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, above, upleft))
    del pa, pb, pc
    candidates = (x, x - above, x - left, x - predict)
    costs = np.stack([_signed_sum(v) for v in candidates])
    best = costs.argmin(axis=0)
    out = np.empty((n, width + 1), np.uint8)
    out[:, 0] = _FILTER_CODES[best]
    for k, v in enumerate(candidates):
        chosen = best == k
        if chosen.all():
            out[:, 1:] = v
        elif chosen.any():
            out[chosen, 1:] = v[chosen]
    return out


def _signed_sum(v: np.ndarray) -> np.ndarray:
    """Per row, the sum of min(v, 256 − v): |v| with the byte read as signed (128 counts 128)."""
    return np.abs(v.view(np.int8)).view(np.uint8).sum(axis=1, dtype=np.int64)


def _pixels_per_metre(dpi: tuple[float, float] | None) -> tuple[int, int] | None:
    """Dots per inch → pHYs pixels per metre, rounded as Pillow does; ``None`` if unstorable."""
    try:
        ppm = tuple(int(float(d) / 0.0254 + 0.5) for d in dpi or ())
    except (TypeError, ValueError, OverflowError):  # NaN, inf, not numbers
        return None
    if len(ppm) != 2 or not all(0 < v < 2**31 for v in ppm):
        return None
    return ppm  # type: ignore[return-value]


def _chunk(parts: list, kind: bytes, data: bytes | memoryview) -> None:
    """Append a chunk's pieces (length and type, data, CRC) to ``parts`` without copying data."""
    parts += [struct.pack(">I", len(data)) + kind, data]
    parts.append(struct.pack(">I", zlib.crc32(data, zlib.crc32(kind))))
