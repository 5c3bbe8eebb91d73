"""Kernels as things nssr keeps and chooses: kernel files, the cache and the shipped weights
(``files``), L-CNN checkpoint files (``checkpoints``), exporting a trained L-CNN (``export``),
pictures of a kernel (``plot``), the shipped bank per scale and blur level (``bank``; its
kernel names and scales, ``names``) and the cheap run-time estimate that chooses from it
(``estimate``, with the power ``spectrum`` it fits).

Rank 3: may import ``dil``, ``engine``, ``synth``, ``files`` and ``errors``; never ``api``,
``batch``, ``quality`` or ``cli``.
"""
