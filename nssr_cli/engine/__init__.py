"""Bicubic plus one convolution, on arrays (DESIGN §3, §6): the geometry every path shares
(``geometry``), the reference definition (``reference``), the polyphase fast path
(``polyphase``), fractional scales (``fractional``), tiles and plans (``tiles``), colour with
alpha, premultiplied (``alpha``), devices (``device``).

Rank 1: imports only ``errors``. It applies a kernel it is given and knows nothing of how one
is chosen (that is ``kernels``, joined to the engine by ``nssr_cli.api``).
"""
