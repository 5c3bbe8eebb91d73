"""Facts about the machine that several layers need: how many cores this process may use.

Rank 0, beside ``errors``: imports nothing of nssr, so every layer may use it.
"""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (a container's or ``taskset``'s
    limit) where the platform has one, else every core."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
