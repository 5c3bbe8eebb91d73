"""Bicubic plus one convolution, on arrays (README, "Speed"): the geometry every path shares
(``geometry``), the polyphase fold (``polyphase``), plans and the one entry to upscale arrays
(``plans``), devices (``device``); the CPU executor, NumPy and OpenCV only (``cpu``, with the
reference on bands of rows in ``cpu_rows``); the PyTorch executor for CUDA (``torch_polyphase``,
``fractional``, ``tiles``) and the reference definition the tests hold both to (``reference``);
colour with alpha, premultiplied, on either (``alpha``). Only the PyTorch modules import torch:
on the CPU, upscaling never loads it.

Rank 1: imports only ``errors``. It applies a kernel it is given and knows nothing of how one
is chosen (that is ``kernels``, joined to the engine by ``nssr_cli.api``).
"""
