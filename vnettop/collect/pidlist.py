"""The pids in /proc, listed again only when a task may have come or gone since the last listing.

Why: listing /proc is the largest part of an idle tick's discovery once the rota has made the rest
incremental (`rota`): the kernel builds a directory entry for every process, ~1.7 us each measured here
(~0.7 ms a tick at 420 processes), on ticks where no process started or ended.

How the kernel tells that nothing came or went, for the price of two small reads: the tasks
ever made (`/proc/stat`, "processes": `total_forks`) and the tasks there are (`/proc/loadavg`, the
number after the slash: `nr_threads`). Both are counted system-wide, in the same locked section of
kernel/fork.c and kernel/exit.c that puts a task into /proc's listing (`attach_pid`: `total_forks++`,
`nr_threads++`) or takes it out (`__unhash_process`: `nr_threads--`). So between two equal marks no task
was attached (the first count would have grown) and none was reaped (the second would have fallen
without a birth, and a birth moves the first). The mark is read *before* the listing: a task attached or
reaped during the listing moves the next mark. A task being made when the mark is read (its pid taken,
not yet attached) is not in the listing, and its attach moves the next mark, however long it takes.

Counted for the whole system, the mark holds whatever pid namespace `proc_root` shows: tasks of other
pid namespaces only cause listings that find nothing new, as threads do. It is trusted only where
`stat` and `loadavg` are the kernel's own, on the same file system as `proc_root` itself (not a
container's lxcfs files bind-mounted over them, which count other things and lag behind); a test's fake
tree of plain files is its own file system and imitates the kernel. A listing at least every
`LIST_AT_LEAST_EVERY` calls, and whenever the caller asks (`pids(listing=True)`), bounds what any
unforeseen case could hide.

On the kernel's own /proc the two files are opened once and read again from their start (`MarkFiles`):
both are seq_file files, which the kernel makes afresh for each read at offset 0, and opening and closing
them on every tick was most of the mark's cost. Measured on a 2-core Xeon VM, each call after 50 ms idle as
a collector's tick is, Python included: 173 us opening both, 53 us through the kept files (a whole idle
collect at 200 namespaces took ~5 ms there).
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
    """(tasks ever made, tasks there are) from `stat` and `loadavg`, or None if they cannot be read."""
    try:
        with open(os.path.join(proc_root, "stat"), "rb") as f:
            stat = f.read()
        with open(os.path.join(proc_root, "loadavg"), "rb") as f:
            load = f.read()
        return _parse_mark(stat, load)
    except (OSError, ValueError, IndexError):
        return None


def _parse_mark(stat: bytes, load: bytes) -> tuple[int, int]:
    """(tasks made, tasks there) from the bytes of `stat` and `loadavg`. Raises ValueError/IndexError."""
    at = stat.index(b"\nprocesses ") + 11
    return int(stat[at : stat.index(b"\n", at)]), int(load.split()[3].split(b"/")[1])


class MarkFiles:
    """`task_mark` from `stat` and `loadavg` kept open, each read again from offset 0.

    Only for the kernel's /proc: its files are made anew by each read from the start, whereas a plain
    file replaced by another (a test's fake tree) would be read as it was when opened. A read that fails
    closes both, and the next call opens them again."""

    #: What /proc/stat is first read with: more than it holds on any host measured (it grows with the
    #: processors and with the interrupt lines, a count each); a longer file makes the size grow for good.
    READ_SIZE = 1 << 16

    def __init__(self, proc_root: str = "/proc") -> None:
        self.proc_root = proc_root
        self._fds: tuple[int, int] | None = None
        self._size = self.READ_SIZE

    def mark(self) -> tuple[int, int] | None:
        """(tasks ever made, tasks there are), or None if they cannot be read."""
        try:
            if self._fds is None:
                self._fds = self._open()
            stat_fd, load_fd = self._fds
            stat = os.pread(stat_fd, self._size, 0)
            while len(stat) == self._size:  # (not seen yet: a file as long as the read, maybe longer)
                self._size *= 4
                stat = os.pread(stat_fd, self._size, 0)
            return _parse_mark(stat, os.pread(load_fd, 256, 0))
        except OSError:
            self.close()
            return None
        except (ValueError, IndexError):
            return None

    def _open(self) -> tuple[int, int]:
        flags = os.O_RDONLY | os.O_CLOEXEC
        stat_fd = os.open(os.path.join(self.proc_root, "stat"), flags)
        try:
            return stat_fd, os.open(os.path.join(self.proc_root, "loadavg"), flags)
        except OSError:
            os.close(stat_fd)
            raise

    def close(self) -> None:
        fds, self._fds = self._fds, None
        if fds is not None:
            try:
                os.close(fds[0])
            finally:
                os.close(fds[1])


def kernel_files(proc_root: str) -> bool:
    """Whether `proc_root`'s `stat` and `loadavg` are on its own file system (not bind-mounted over)."""
    try:
        dev = os.stat(proc_root).st_dev
        return all(os.stat(os.path.join(proc_root, name)).st_dev == dev for name in ("stat", "loadavg"))
    except OSError:
        return False


class PidLister:
    """`pids()` again and again: /proc listed only when `task_mark` moved (or every so often)."""

    def __init__(self, proc_root: str = "/proc", every: int = LIST_AT_LEAST_EVERY) -> None:
        self.proc_root = proc_root
        self.every = max(1, every)
        self._trusted = kernel_files(proc_root)
        #: The kernel's files kept open (None elsewhere: read afresh each call, see `MarkFiles`).
        self._files = MarkFiles(proc_root) if os.path.realpath(proc_root) == "/proc" else None
        self._mark: tuple[int, int] | None = None
        self._pids: frozenset[int] | None = None
        self._since = 0
        #: Whether the last call listed /proc (tests, benchmarks).
        self.listed = False
        #: Whether the last call could not list /proc (it then gave the last listing's pids).
        self.failed = False

    def pids(self, listing: bool = False) -> frozenset[int]:
        """The pids now; the very same frozenset as last time when nothing came or went. `listing`: list
        /proc whatever the mark says (a caller about to look at everyone)."""
        if not self._trusted:
            mark = None
        else:
            mark = self._files.mark() if self._files is not None else task_mark(self.proc_root)
        self._since += 1
        if (not listing and mark is not None and mark == self._mark and self._pids is not None
                and self._since < self.every):
            self.listed = False
            return self._pids
        listed = list_pids(self.proc_root)
        self._since, self.listed = 0, True
        self.failed = listed is None
        if listed is None:  # (EMFILE, ENOMEM...): the last listing stands, not "no process"; again next time
            self._mark = None
            return self._pids if self._pids is not None else frozenset()
        self._mark = mark
        if listed != self._pids:
            self._pids = listed
        return self._pids

    def close(self) -> None:
        """Close the kept files (a later call opens them again)."""
        if self._files is not None:
            self._files.close()
