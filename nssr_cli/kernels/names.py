"""The shipped bank's kernel names: the scales and priors it holds a kernel for
(``x{s}-{prior}``), which bank scale serves a scale, and the one warning, for the library and
the command line alike, when a bank kernel is used at a scale it was not solved for.

The kernels themselves, and the ``auto`` choice among them: :mod:`nssr_cli.kernels.bank`.
"""

from __future__ import annotations

import warnings

from nssr_cli.errors import NssrWarning, caller_stacklevel
from nssr_cli.synth.levels import LEVELS

BANK_SCALES = (2, 3, 4)
# Every prior the bank has a kernel for, at every scale.
BANK_PRIORS = (
    *LEVELS,
    *(f"{lv}-{q}" for q in ("q95", "q85", "q75") for lv in ("none", "medium")),
)


def bank_scale(scale: float) -> int:
    """The bank's integer scale for ``scale``: the nearest of 2, 3, 4."""
    return min(BANK_SCALES, key=lambda s: (abs(s - scale), s))


def bank_entries(scale: float) -> list[str]:
    """The names of the shipped bank kernels for ``scale``, e.g. ``"x2-none-q85"``."""
    s = bank_scale(scale)
    return [f"x{s}-{p}" for p in BANK_PRIORS]


def warn_other_scale(name: str, scale: float) -> None:
    """A bank kernel solved for another scale than the one ``auto`` takes its kernels from at
    ``scale`` (the nearest: ``x3-heavy`` at ×2, not at ×2.5) works, but sharpens for the blur
    of that other scale: say so (:class:`~nssr_cli.errors.NssrWarning`, at the caller's line).
    Other kernels, files included, say nothing of their scale."""
    from nssr_cli.kernels.files import builtin_kernels

    near = bank_scale(scale)
    routes = [s for s in BANK_SCALES if name.startswith(f"x{s}-auto-")]  # a route's kernel
    solved = next((s for s in BANK_SCALES if name in bank_entries(s)), (routes or [near])[0])
    if abs(solved - scale) > abs(near - scale):
        other = f"x{near}{name[2:]}"
        if other not in builtin_kernels():  # that step has no such band at this scale
            other = other.partition(".")[0]
        if other not in builtin_kernels():  # nor a route kernel
            other = other.replace("-auto-", "-")
        warnings.warn(
            f"{name}: a bank kernel solved for ×{solved}, used at ×{scale:g} (it sharpens "
            f"for the wrong scale); {other} is the one solved for ×{near}",
            NssrWarning,
            stacklevel=caller_stacklevel(),
        )
