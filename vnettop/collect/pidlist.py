"""The pids in /proc, listed again only when a task may have come or gone since the last listing.

Why: listing /proc is the largest part of an idle tick's discovery once the rota has made the rest
incremental (`rota`): the kernel builds a directory entry for every process, ~1.7 us each measured here
(~0.7 ms a tick at 420 processes), on ticks where no process started or ended.

How the kernel tells that nothing came or went, for the price of one small read: `/proc/loadavg` ends
with the number of tasks on the system (`nr_threads`) and the last pid handed out in the reader's pid
namespace. Every new task, thread or process, in this pid namespace or one below it, takes a pid from
this namespace's allocator and so moves the last pid; every task that is reaped lowers the count. So if
both read the same before one listing and before the next call, no process appeared or disappeared in
between, and the earlier listing still holds. (A task that appeared and another that went move the last
pid; a thread's birth or death only causes a listing that finds the same pids, never a wrong answer.)
The mark is read *before* the listing, so a task made during the listing changes the next mark.

Trusted only where it holds: the mark speaks for the reader's pid namespace, so it is used only when
`proc_root` is a procfs of that namespace (its `self` is our pid), never for a fake tree or a host's
/proc mounted into a container. Pids wrap around after pid_max: the last pid could come back to the same
value with as many tasks reaped as made in one tick (pid_max forks in a second); a listing at least
every `LIST_AT_LEAST_EVERY` calls bounds even that.
"""

from __future__ import annotations

import os

#: A listing at least this often even when the mark says nothing changed (see the module docstring).
LIST_AT_LEAST_EVERY = 60


def list_pids(proc_root: str) -> frozenset[int] | None:
    """Every pid /proc lists now, or None if it cannot be listed."""
    try:
        return frozenset(int(e) for e in os.listdir(proc_root) if e.isdigit())
    except OSError:
        return None


def task_mark(proc_root: str) -> tuple[int, int] | None:
    """(tasks on the system, last pid handed out) from loadavg, or None if it cannot be read."""
    try:
        with open(os.path.join(proc_root, "loadavg"), "rb") as f:
            fields = f.read().split()
        return int(fields[3].split(b"/")[1]), int(fields[4])
    except (OSError, ValueError, IndexError):
        return None


def speaks_for_us(proc_root: str) -> bool:
    """Whether `proc_root` is a procfs of this process's pid namespace (its `self` is our pid)."""
    try:
        return os.readlink(os.path.join(proc_root, "self")) == str(os.getpid())
    except OSError:
        return False


class PidLister:
    """`pids()` again and again: /proc listed only when `task_mark` moved (or every so often)."""

    def __init__(self, proc_root: str = "/proc", every: int = LIST_AT_LEAST_EVERY) -> None:
        self.proc_root = proc_root
        self.every = max(1, every)
        self._trusted = speaks_for_us(proc_root)
        self._mark: tuple[int, int] | None = None
        self._pids: frozenset[int] | None = None
        self._since = 0
        #: Whether the last call listed /proc (tests, benchmarks).
        self.listed = False

    def pids(self) -> frozenset[int]:
        """The pids now; the very same frozenset as last time when nothing came or went."""
        mark = task_mark(self.proc_root) if self._trusted else None
        self._since += 1
        if (mark is not None and mark == self._mark and self._pids is not None
                and self._since < self.every):
            self.listed = False
            return self._pids
        listed = list_pids(self.proc_root)
        self._since, self.listed = 0, True
        if listed is None:  # not listed: nothing to keep, ask again next time
            self._mark = self._pids = None
            return frozenset()
        self._mark = mark
        if listed != self._pids:
            self._pids = listed
        return self._pids
