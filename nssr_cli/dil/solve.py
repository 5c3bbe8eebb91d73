"""Direct least-squares solve of a collapsed kernel for a quadratic image objective.

For pairs ``(u, x)`` — ``u`` the bicubic upsampling of a degraded scene, ``x`` the sharp scene —
the kernel minimising ``Σ ‖u ⊛ h − x‖²`` subject to ``Σh = 1`` solves a ``k²×k²`` linear
system (the normal equations plus one Lagrange multiplier). This is the exact optimum that
gradient descent through the L-CNN approaches for the ``scenes`` objective, in seconds.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from nssr_cli.dil.config import TrainConfig
from nssr_cli.dil.objectives import SceneRestoration


def normal_equations(
    u: torch.Tensor, x: torch.Tensor, size: int, chunk: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """``A = Σ pᵀp``, ``b = Σ pᵀx`` over every valid pixel; ``p`` is the ``size×size`` patch of
    ``u`` in correlation order. ``u``: ``(N, 1, H, W)``; ``x``: ``(N, 1, H−size+1, W−size+1)``."""
    n = size * size
    a = torch.zeros(n, n, dtype=torch.float64)
    b = torch.zeros(n, dtype=torch.float64)
    for i in range(0, len(u), chunk):
        p = F.unfold(u[i : i + chunk].double(), size).permute(1, 0, 2).reshape(n, -1)  # (n, B·L)
        t = x[i : i + chunk].double().reshape(-1)  # (B·L,)
        a += p @ p.T
        b += p @ t
    return a.numpy(), b.numpy()


def solve_kernel(
    u: torch.Tensor, x: torch.Tensor, size: int = 11, ridge: float = 1e-6
) -> np.ndarray:
    """The ``(size, size)`` float64 *convolution* kernel minimising ``‖u ⊛ h − x‖²`` with
    ``Σh = 1`` (``u``, ``x`` as in :func:`normal_equations`). ``ridge`` × mean diagonal is
    added to ``A`` for numerical safety only."""
    a, b = normal_equations(u, x, size)
    n = size * size
    a = a + ridge * np.trace(a) / n * np.eye(n)
    kkt = np.zeros((n + 1, n + 1))
    kkt[:n, :n] = a
    kkt[:n, n] = kkt[n, :n] = 1.0
    w = np.linalg.solve(kkt, np.append(b, 1.0))[:n]
    return w.reshape(size, size)[::-1, ::-1].copy()  # correlation weights → convolution kernel


def solve_scenes(config: TrainConfig, seed: int = 0) -> tuple[np.ndarray, dict[str, float]]:
    """Solve the ``scenes`` objective of a :class:`~nssr_cli.dil.config.TrainConfig` directly:
    the optimal ``R×R`` kernel (``R`` the L-CNN's receptive field) and its training MSE."""
    data_gen = torch.Generator().manual_seed(seed)
    obj = SceneRestoration(config, generator=data_gen, device=torch.device("cpu"))
    size = config.model.receptive_field
    h = solve_kernel(obj.inputs(size), obj.x, size)
    mse, _ = obj.loss(torch.from_numpy(h).float(), torch.arange(len(obj.u)))
    return h, {"mse": float(mse), "area": float(h.sum())}
