"""Image files and streams ↔ arrays: the decoded picture (``picture``), decoding (``decode``,
``deep16`` for 16-bit colour), encoding (``encode``, ``png``), the readable formats
(``formats``) and safe publishing of any output file (``atomic``).

Rank 1: imports only ``errors``.
"""
