"""Measuring quality: metrics (``metrics``), the evaluation protocols (``evaluation``),
side-by-side crops (``comparison``) and the offline calibration of the kernel choice on
synthetic scenes (``calibrate``; how a rule is applied and judged: ``rules``).

Rank 5 (a service): may import ``api``, ``kernels``, ``dil``, ``engine``, ``synth``, ``files``
and ``errors``; never ``batch`` or ``cli``.
"""
