"""The kernel-visible name of a thread (`top -H`, `ps -L`, /proc/PID/task/TID/comm).

Python names its threads only for itself; the kernel sees every thread as `python3`. Naming the
collector's thread lets an operator (and the TUI benchmark) tell the collection's CPU use from the
drawing's.
"""

from __future__ import annotations

import ctypes
import ctypes.util

PR_SET_NAME = 15
#: The kernel keeps 15 bytes of a thread name.
MAX_NAME = 15


def name_this_thread(name: str) -> None:
    """Best effort: a name the kernel refuses (or a libc without prctl) leaves the thread as it was."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_NAME, name.encode()[:MAX_NAME], 0, 0, 0)
    except (OSError, AttributeError):
        pass
