"""What every command shares: the stderr console, JSON on stdout, the device option.

stdout carries data only (images, JSON); messages, progress and warnings go to stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from enum import Enum
from typing import Any

from rich.console import Console

err = Console(stderr=True, highlight=False, soft_wrap=True)


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def emit_json(obj: Any) -> None:
    """One JSON document on stdout."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def exit_now(code: int) -> None:
    """Flush what we printed and end the process with ``code``, skipping interpreter shutdown."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away after the last write: not an error
        pass
    except OSError as exc:
        err.print(f"Error: cannot write to standard output ({exc.strerror or exc})", markup=False)
        code = code or 1
    except Exception:  # a closed stream
        pass
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(code)


def quiet_broken_pipe() -> None:
    """The reader went away (``| head``): exit quietly without a second EPIPE at shutdown."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(0)
