"""A batch of files: planning it before any pixel is touched (``plan``: inputs, output names,
refusals), the memory one file's job needs (``memory``, checked from its header before
decoding) and running it (``run``: decode → choose kernel → upscale → encode → publish), on
this machine (``pipeline``) or as one Ray task per file (``cluster``, ``ray_session``; Ray is an
optional extra, imported only when asked for).

Rank 5 (a service): may import ``api``, ``kernels``, ``dil``, ``engine``, ``synth``, ``files``
and ``errors``; never ``quality`` or ``cli``.
"""
