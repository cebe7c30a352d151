"""Which processes to look at again on this tick: the new, the young, and a rolling slice of the rest.

Why: discovery (a process's namespace) and the /proc scan (its fds) once looked at every process on
every tick, ~2 ms of syscalls and twice that in Python at ~375 processes, on a tick where usually
nothing changed. What changes about a process, and when:
  * a new process: everything, read at first sight;
  * a young one: `unshare -n cmd` and `ip netns exec NS cmd` enter their namespace, and a server opens
    its listening socket, right after the process starts; so a process first seen after the first tick
    is looked at again on each of its first `young_ticks` ticks and `young_seconds` seconds;
  * an old one rarely does (a daemon calling setns, a process attaching to a persistent tap): it is
    looked at once every `rounds` ticks, the processes whose pid is `tick` modulo `rounds`, so that
    every process is looked at within `rounds` ticks and each tick costs 1/`rounds` of the host.
What else tells of a change (the mount table, a device pointing into an unknown namespace, a tun/tap
event) is the caller's to act on, by looking at everyone (`everyone=True`).

The pid alone is the key: a pid reused by another process between two ticks is seen as the same
process until its turn comes (pids wrap around after `pid_max`, 4M on a 64-bit Debian). The discovery
gives kernel threads no turn at all (`Discoverer.settle`): a process that took a kernel thread's pid
within one tick is seen when everyone is looked at.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

#: Every old process is looked at within this many ticks. Measured at ~375 processes, each woken after
#: a sleep as a collector's tick is (caches cold): a readlink of ns/net costs ~7 us with its Python, a
#: stat of the fd directory ~4 us, so discovery's share is ~0.7 ms a tick at 4 rounds and ~0.37 ms at
#: 8, beside ~0.7 ms for listing /proc itself (now only when a task came or went: `pidlist`).
ROUNDS = 8
#: A process first seen after the first tick is looked at on each tick while it is this young...
YOUNG_TICKS = 3
#: ... and for at least this many seconds after it was first seen.
YOUNG_SECONDS = 3.0


class Rota:
    """Decides, tick after tick, which known processes are due to be looked at again."""

    def __init__(self, rounds: int = ROUNDS, young_ticks: int = YOUNG_TICKS,
                 young_seconds: float = YOUNG_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.rounds = max(1, rounds)
        self.young_ticks = young_ticks
        self.young_seconds = young_seconds
        self.clock = clock
        self.ticks = 0  # ticks done
        self._known: set[int] = set()
        self._young: dict[int, tuple[int, float]] = {}  # pid -> (tick, clock) when first seen

    def tick(self, pids: Collection[int], everyone: bool = False) -> tuple[set[int], set[int], set[int]]:
        """(new pids, pids due again, pids gone) for this tick, given every pid listed now.

        Due: the young, and the old whose turn it is (every known pid when `everyone`, or on the first
        tick). New pids are not in it (they are read anyway), nor gone ones.
        """
        now = self.clock()
        tick = self.ticks
        self.ticks += 1
        listed: Collection[int] = pids if isinstance(pids, set | frozenset) else set(pids)
        known = self._known
        gone = known.difference(listed)
        new = set(listed).difference(known) if tick else set(listed)
        if gone:
            known -= gone
            for pid in gone:
                self._young.pop(pid, None)
        if tick == 0 or everyone:
            due = set(known)
        else:
            rounds, turn = self.rounds, tick % self.rounds
            due = {pid for pid in known if pid % rounds == turn}
            young = self._young
            for pid, (seen, at) in list(young.items()):
                if tick - seen <= self.young_ticks or now - at < self.young_seconds:
                    due.add(pid)
                else:
                    del young[pid]
        if new:
            known |= new
            if tick:  # what the first tick finds was there before: not young
                self._young.update(dict.fromkeys(new, (tick, now)))
        return new, due, gone

    def known(self) -> frozenset[int]:
        """Every pid listed at the last tick."""
        return frozenset(self._known)

    def young(self) -> frozenset[int]:
        """The pids being looked at on every tick for their youth (tests, benchmarks)."""
        return frozenset(self._young)
