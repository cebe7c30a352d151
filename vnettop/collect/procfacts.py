"""Process facts (name, command line, user, create time) of the processes vnettop shows.

KERNEL-NOTES: "use psutil for names, users, command lines, create times; read /proc fds yourself". psutil
reads one global /proc (`psutil.PROCFS_PATH`), so it serves the live tree only; a fake tree laid out
under tmp_path (pure tests) is read through `ProcFs` by `TreeFacts`, which follows psutil's rules (a
15-character name is completed from the command line) so both sources answer alike. `facts_source`
picks one by the scanner's root.

Facts cost ~0.2 ms a process through psutil (its object, one `oneshot()` read of stat and status, the
cmdline file, a passwd lookup), so they are fetched only for processes worth showing (tun holders,
listeners) and kept in a `FactsCache` keyed by (pid, start time): a pid reused by a new process is a new
key. Cached facts are re-fetched after `max_age` seconds (up to twice that, spread by pid so that
processes first seen together are not all re-fetched in the same scan), because a process may rename
itself (prctl, setproctitle).

A process that vanished raises `ProcessLookupError` (an OSError, like the rest of the /proc readers);
a fact psutil may not read (AccessDenied) or that a zombie no longer has is left at a neutral value,
never an error: either is normal on a busy host.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Protocol, TypeVar

import psutil

from vnettop.collect.procfs import ProcFs, user_name

#: The kernel truncates a process's comm to 15 bytes; psutil then completes it from argv[0].
COMM_MAX = 15
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ProcFacts:
    """What vnettop shows about a process besides its fds and sockets."""

    name: str  # comm, completed from argv[0] when the kernel truncated it (psutil's `name()`)
    cmdline: str  # arguments joined by spaces; "" for kernel threads, zombies, or when unreadable
    user: str | None  # login name of the real uid (the uid in decimal when it has none); None unknown
    create_time: float  # seconds since the epoch (psutil's `create_time()`)


class FactsSource(Protocol):
    """Reads the facts of one process now. Raises ProcessLookupError if it is gone."""

    def read(self, pid: int) -> ProcFacts: ...


def facts_source(procfs: ProcFs) -> FactsSource:
    """psutil for the kernel's own /proc; the tree's files for any other root (tests)."""
    return PsutilFacts() if procfs.is_live else TreeFacts(procfs)


def _gone(pid: int) -> ProcessLookupError:
    return ProcessLookupError(errno.ESRCH, f"process {pid} is gone")


class PsutilFacts:
    """Facts of live processes, through psutil."""

    def read(self, pid: int) -> ProcFacts:
        try:
            proc = psutil.Process(pid)
        except psutil.NoSuchProcess:
            raise _gone(pid) from None

        def get(call: Callable[[], _T], default: _T) -> _T:
            try:
                return call()
            except psutil.ZombieProcess:  # before NoSuchProcess: it is a subclass of it
                return default
            except psutil.NoSuchProcess:
                raise _gone(pid) from None
            except (psutil.AccessDenied, OSError):
                return default

        with proc.oneshot():
            name = get(proc.name, "?")
            cmdline: list[str] = get(proc.cmdline, [])
            user: str | None = get(proc.username, None)
            created = get(proc.create_time, 0.0)
        return ProcFacts(name, " ".join(cmdline), user, created)


class TreeFacts:
    """Facts read from a /proc tree's own files: for fake trees, where psutil cannot look."""

    def __init__(self, procfs: ProcFs) -> None:
        self.procfs = procfs
        self._boot: float | None = None

    def read(self, pid: int) -> ProcFacts:
        fs = self.procfs
        try:
            comm = fs.comm(pid)
            cmdline = fs.cmdline(pid)
            user = user_name(fs.uid(pid))
            start = fs.start_time(pid)
        except FileNotFoundError:
            raise _gone(pid) from None
        name = comm
        if len(comm) >= COMM_MAX and cmdline:
            argv0 = os.path.basename(cmdline.split(" ", 1)[0])
            if argv0.startswith(comm):
                name = argv0
        return ProcFacts(name, cmdline, user, self._boot_time() + start / os.sysconf("SC_CLK_TCK"))

    def _boot_time(self) -> float:
        """`btime` of the tree's `stat` file; 0 when the tree has none (then times count from boot)."""
        if self._boot is None:
            self._boot = 0.0
            try:
                with open(f"{self.procfs.root}/stat", encoding="ascii", errors="replace") as f:
                    for line in f:
                        if line.startswith("btime "):
                            self._boot = float(line.split()[1])
                            break
            except (OSError, ValueError, IndexError):
                pass
        return self._boot


class FactsCache:
    """Facts by (pid, start time), fetched on first use and again once older than `max_age` seconds.

    `start` is field 22 of /proc/PID/stat (clock ticks since boot), which the scanner reads anyway to
    tell a reused pid from the process it knew: psutil's create time is boot time + start / CLK_TCK,
    so the key is (pid, create time) without asking psutil for it.
    """

    def __init__(self, source: FactsSource, max_age: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.source = source
        self.max_age = max_age
        self.clock = clock
        self._cache: dict[int, tuple[int, float, ProcFacts]] = {}  # pid -> (start, fetched at, facts)
        #: How many times the source was asked (for tests of caching and for benchmarks).
        self.fetches = 0

    def get(self, pid: int, start: int | None) -> ProcFacts:
        """The facts of (pid, start); `start` None (not known) fetches without keeping the answer."""
        now = self.clock()
        hit = self._cache.get(pid)
        if hit is not None and start is not None and hit[0] == start and now - hit[1] < self._age_limit(pid):
            return hit[2]
        self.fetches += 1
        facts = self.source.read(pid)
        if start is not None:
            self._cache[pid] = (start, now, facts)
        return facts

    def _age_limit(self, pid: int) -> float:
        """`max_age` stretched by up to 15/16 by the pid's low bits: expiries spread over time."""
        return self.max_age * (1 + (pid % 16) / 16)

    def retain(self, pids: Collection[int]) -> None:
        """Forget processes not in `pids` (gone, or no longer worth showing)."""
        for pid in [p for p in self._cache if p not in pids]:
            del self._cache[pid]
