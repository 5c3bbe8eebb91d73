"""The paper (NSSR-DIL): the Random Kernel Gallery, the L-CNN, its training objectives (the
paper's Deep Identity Learning and the project's image-free ``scenes`` objective), the training
loop, the collapse of an L-CNN into one convolution kernel, and the direct least-squares solve.

Rank 2: may import ``synth`` (training scenes) and ``errors``; never ``kernels``, ``engine``,
``files`` or anything above.
"""
