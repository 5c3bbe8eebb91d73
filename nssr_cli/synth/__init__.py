"""Image-free data for training and calibration: procedural scenes (``scenes``), the declared
degradation models and the blur levels' priors (``levels``, ``degradations``), and training pairs
(``pairs``). No photographs, nothing downloaded.

Rank 1: imports only ``errors``. ``levels`` imports nothing at all, so the command line can name
the blur levels without loading numpy.
"""
