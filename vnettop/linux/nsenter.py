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
- `socket_in(fd)`: one netlink socket inside a namespace, made by a long-lived helper thread that goes
  back home after each visit (starting a thread per namespace cost 60-275 us here, a handoff to a
  waiting one ~20 us: 200 namespaces' first dump would otherwise pay 12-55 ms).
"""

from __future__ import annotations

import errno
import os
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from vnettop.linux.libc import CLONE_NEWNET, setns

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

T = TypeVar("T")

__all__ = ["CLONE_NEWNET", "NetnsStuckError", "call_in", "entered", "on_throwaway_thread", "setns",
           "socket_in", "thread_netns_inode", "visit_each"]


class NetnsStuckError(RuntimeError):
    """The thread entered another namespace and could not switch back: it must be abandoned."""


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


def on_throwaway_thread(fn: Callable[[], T], name: str = "vnettop-setns") -> T:
    """Run `fn()` on a fresh thread that nobody uses afterwards, and return its result (or raise).

    For work that moves a thread into another namespace (setns, unshare): whatever happens, the
    caller's own thread never changes namespace.
    """
    result: list[T] = []
    failure: list[BaseException] = []

    def worker() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=worker, name=name, daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def visit_each(fds: Sequence[int], fn: Callable[[int], T]) -> list[T | OSError]:
    """Call `fn(fd)` with a thread inside each namespace of `fds`, in order; return results or errors.

    Runs on one fresh thread that goes from namespace to namespace directly (no return trip between
    them) and is thrown away at the end, so a failure can never strand a thread someone else uses.
    An OSError from entering or from `fn` is returned in that namespace's slot; anything else is
    re-raised in the caller.
    """
    def tour() -> list[T | OSError]:
        results: list[T | OSError] = []
        for fd in fds:
            try:
                setns(fd)
                results.append(fn(fd))
            except OSError as exc:
                results.append(exc)
        return results

    return on_throwaway_thread(tour)


def call_in(fd: int, fn: Callable[[], T]) -> T:
    """Call `fn()` on a throwaway thread inside namespace `fd` and return its result (or raise)."""
    (result,) = visit_each([fd], lambda _fd: fn())
    if isinstance(result, OSError):
        raise result
    return result


NETLINK_ROUTE = 0


class _Opener:
    """One helper thread, kept for the process, that makes netlink sockets inside other namespaces.

    It enters the target namespace, makes the socket and goes back home each time: a thread parked in
    a namespace would pin it after `ip netns del`. If it ever cannot go back, the thread is abandoned
    (it is never used again) and the next request starts a new one; the caller's thread never moves.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._home = threading.local()

    def make(self, ns_fd: int, protocol: int) -> socket.socket:
        with self._lock:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor  # (only if used: ~4 ms to import)

                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vnettop-setns")
            pool = self._pool
            future = pool.submit(self._visit, ns_fd, protocol)
        try:
            return future.result()
        except NetnsStuckError as exc:
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False)
            raise OSError(errno.EAGAIN, str(exc)) from None

    def _visit(self, ns_fd: int, protocol: int) -> socket.socket:
        """On the helper thread: a socket inside `ns_fd`'s namespace, then back home."""
        home = getattr(self._home, "fd", None)
        if home is None:
            home = self._home.fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        setns(ns_fd)  # raises without moving
        try:
            return socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, protocol)
        finally:
            try:
                setns(home)
            except OSError as exc:
                raise NetnsStuckError(f"socket helper stuck in another namespace: {exc}") from exc


_opener = _Opener()


def socket_in(ns_fd: int, protocol: int = NETLINK_ROUTE) -> socket.socket:
    """A netlink datagram socket in the namespace `ns_fd` (an open nsfs fd).

    Our own namespace needs no trip (and no CAP_SYS_ADMIN); the others are entered by the helper thread.
    """
    try:
        here = os.fstat(ns_fd).st_ino == thread_netns_inode()
    except OSError:
        here = False
    if here:
        return socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, protocol)
    return _opener.make(ns_fd, protocol)
