"""How well a kernel inverts blur: mean ‖K ⊛ h − δ‖² over fresh Random Kernel Galleries.

    python benchmarks/identity_error.py                    # the shipped dil kernel, seeds 1 5 12345
    python benchmarks/identity_error.py --kernel k.npy --seeds 7 8

Beside it: the identity (no sharpening) and the best possible 11×11 kernel for that same
gallery (least squares), so the number can be read against what any 11×11 kernel could reach.
"""

from __future__ import annotations

import argparse

import torch

from nssr_cli.dil.gallery import random_kernel_gallery
from nssr_cli.dil.objectives import best_linear_kernel, identity_error
from nssr_cli.kernels.files import resolve_kernel


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--kernel", default="dil")
    p.add_argument("--kernels", type=int, default=3200)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 5, 12345])
    args = p.parse_args()
    h = torch.from_numpy(resolve_kernel(args.kernel)[0]).double()
    print(f"kernel {args.kernel}: {h.shape[0]}×{h.shape[0]}, area {float(h.sum()):.4f}")
    for seed in args.seeds:
        gen = torch.Generator().manual_seed(seed)
        gallery = random_kernel_gallery(args.kernels, generator=gen, dtype=torch.float64)
        ours = float(identity_error(gallery, h).mean())
        ident = float(identity_error(gallery, torch.ones(1, 1, dtype=torch.float64)).mean())
        best = float(identity_error(gallery, best_linear_kernel(gallery, h.shape[0])).mean())
        print(
            f"seed {seed}: kernel {ours:.4f}   identity {ident:.4f}   best 11×11 {best:.4f}   "
            f"(kernel − best = {ours - best:+.4f})"
        )


if __name__ == "__main__":
    main()
