"""Facts about the machine that several layers need: how many cores this process may use, and
how much memory is available (the refusal of a job or call that would not fit).

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


def available_memory() -> int | None:
    """``MemAvailable`` from ``/proc/meminfo`` in bytes, or ``None`` where it is unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def memory_shortfall(need: int, what: str) -> str | None:
    """``None`` if ``need`` bytes fit in the memory available now (or where that is unknown),
    else the words of the refusal: how much ``what`` needs and how much is available. The
    caller raises them as its own error (a batch's file fails; a library call is refused)."""
    avail = available_memory()
    if avail is None or need <= avail:
        return None
    return (
        f"{what} needs about {need / 2**30:.1f} GiB of memory but only "
        f"{avail / 2**30:.1f} GiB is available"
    )
