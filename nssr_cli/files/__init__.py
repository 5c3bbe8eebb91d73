"""Image files and streams ↔ arrays: the decoded picture (``picture``), decoding (``decode``,
``modes`` for a frame's colour and alpha planes, ``deep16`` for 16-bit colour, ``header`` for
what a file holds before decoding it), encoding (``encode``, ``png``), the EXIF an output
carries and the orientation applied (``exif``), what else an output carries from its input
(``metadata``), the readable formats (``formats``: the raster
allow-list) and safe publishing of any output file (``atomic``).

Rank 1: imports only ``errors``.
"""
