"""Entering a network namespace on one thread, through libc `setns` (Python 3.11 has no `os.setns`).

Why threads: `setns(fd, CLONE_NEWNET)` moves only the calling thread, and a socket created while the
thread is inside stays bound to that namespace after the thread leaves. That is the cheap way to get one
netlink socket per namespace (pyroute2's `IPRoute(netns=...)` forks a child each time, and by default
even *creates* a missing namespace). Nothing here creates, mounts or changes a namespace.

Two ways in:
- `entered(fd)`: a context manager for a thread you own; it switches back through
  `/proc/thread-self/ns/net` (not `/proc/self/...`, which is the main thread's) and raises
  `NetnsStuckError` if it cannot, so that thread must not be used for anything else afterwards.
- `visit_each(fds, fn)`: visits several namespaces in turn on a fresh, throwaway thread, so that no
  failure can ever leave a caller's thread in the wrong namespace.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

#: Namespace type flag for setns(2): network namespace.
CLONE_NEWNET = 0x40000000

_libc: ctypes.CDLL | None = None


class NetnsStuckError(RuntimeError):
    """The thread entered another namespace and could not switch back: it must be abandoned."""


def _setns_func() -> Callable[[int, int], int]:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    func = _libc.setns
    func.argtypes = [ctypes.c_int, ctypes.c_int]
    func.restype = ctypes.c_int
    return func


def setns(fd: int, nstype: int = CLONE_NEWNET) -> None:
    """Move the calling thread into the namespace `fd` refers to; OSError (EPERM, EINVAL...) if refused."""
    if _setns_func()(fd, nstype) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def thread_netns_inode() -> int:
    """The nsfs inode of the calling thread's network namespace."""
    return os.stat("/proc/thread-self/ns/net").st_ino


@contextmanager
def entered(fd: int) -> Iterator[None]:
    """Run the block with the calling thread inside namespace `fd`, then switch it back.

    Raises OSError if the namespace cannot be entered (the thread has not moved), and
    NetnsStuckError if it cannot switch back (the thread stays in the other namespace).
    """
    back = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(fd)
        try:
            yield
        finally:
            try:
                setns(back)
            except OSError as exc:
                raise NetnsStuckError(f"cannot return to the original network namespace: {exc}") from exc
    finally:
        os.close(back)


def visit_each(fds: Sequence[int], fn: Callable[[int], T]) -> list[T | OSError]:
    """Call `fn(fd)` with a thread inside each namespace of `fds`, in order; return results or errors.

    Runs on one fresh thread that goes from namespace to namespace directly (no return trip between
    them) and is thrown away at the end, so a failure can never strand a thread someone else uses.
    An OSError from entering or from `fn` is returned in that namespace's slot; anything else is
    re-raised in the caller.
    """
    results: list[T | OSError] = []
    failure: list[BaseException] = []

    def worker() -> None:
        try:
            for fd in fds:
                try:
                    setns(fd)
                    results.append(fn(fd))
                except OSError as exc:
                    results.append(exc)
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=worker, name="vnettop-setns", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return results


def call_in(fd: int, fn: Callable[[], T]) -> T:
    """Call `fn()` on a throwaway thread inside namespace `fd` and return its result (or raise)."""
    (result,) = visit_each([fd], lambda _fd: fn())
    if isinstance(result, OSError):
        raise result
    return result
