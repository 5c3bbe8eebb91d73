"""Connecting to Ray for :mod:`nssr_cli.batch.cluster`: importing it (or saying how to install
it), starting a local instance or joining a cluster, quietly, and refusing at once an address
where nothing listens. Keeps stdout for data and the caller's SIGINT/SIGTERM handlers."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nssr_cli.errors import UsageError

INSTALL = 'pip install "nssr[ray]"'


def import_ray() -> Any:
    """The ``ray`` module, or a :class:`UsageError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UsageError(f"running on a Ray cluster needs Ray: {INSTALL}") from None
    return ray


@contextmanager
def connect(address: str = "local") -> Iterator[Any]:
    """Ray, connected for the length of the block; yields the ``ray`` module.

    ``local`` starts a Ray instance on this machine (stopped after); ``auto`` joins the cluster
    ``RAY_ADDRESS`` names, else the one running here; anything else is a cluster address
    (``HOST:PORT`` or ``ray://HOST:PORT``). If Ray is already initialised (a library user's or a
    test's own ``ray.init``), that connection is used and left open.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    # log_to_driver=False: workers' stdout would be copied to ours, which carries data only.
    quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    _check_reachable(os.environ.get("RAY_ADDRESS", "") if address == "auto" else address, address)
    handlers = _signal_handlers()
    try:
        if address == "local":  # a new instance, even where RAY_ADDRESS names another
            ray.init(address="local", include_dashboard=False, **quiet)
        else:
            ray.init(address=address, **quiet)
        # Ray's core worker installs its own SIGTERM handler (a stack dump, then death by the
        # signal): give back the caller's, so SIGTERM stops a batch as it does locally (143).
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"--ray {address}: cannot connect to a Ray cluster ({why}); start one with "
            "`ray start --head`, or give its address (HOST:PORT, or auto with RAY_ADDRESS set)"
        ) from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _signal_handlers() -> dict[int, Any]:
    """The Python-level handlers of SIGINT and SIGTERM (none outside the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    found = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    return {s: h for s, h in found.items() if h is not None}


def _check_reachable(target: str, option: str) -> None:
    """Refuse at once a ``HOST:PORT`` where nothing listens: Ray would retry for minutes."""
    import socket

    host, _, port = target.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # not a plain address ("local", "auto" without RAY_ADDRESS): Ray decides
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as exc:
        raise UsageError(
            f"--ray {option}: no Ray cluster answers at {target} ({exc.strerror or exc}); "
            "check the address (`ray status` on the head node prints it)"
        ) from None
