"""The /proc scan's rota over a fake /proc: a young process's fds are read again on each of its first
calls (a process opens its tun fd or socket just after starting), an old one's only on its turn or by
the sweep; a holder's exact probe is kept while its fds are not read again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.pure.test_procfs import Clock, FakeProc
from vnettop.collect.processes import ProcScanner
from vnettop.collect.rota import YOUNG_TICKS
from vnettop.collect.types import TunFd


@pytest.fixture
def fake(tmp_path: Path) -> FakeProc:
    return FakeProc(tmp_path)


def test_a_young_process_opening_a_tun_fd_is_seen_at_the_next_call(fake: FakeProc) -> None:
    clock = Clock()
    for pid in range(300, 340):
        fake.add(pid)
    scanner = ProcScanner(str(fake.root), clock=clock, sweep_seconds=3600.0)
    scanner.scan(fake.discovery())
    fake.add(500)  # starts after the first call
    assert not scanner.scan(fake.discovery()).tun_fds
    fake.add_fd(500, 7, "/dev/net/tun", "tap7")  # and attaches a moment later
    clock.now += 0.2
    scan = scanner.scan(fake.discovery())
    assert [(f.pid, f.fd, f.iff) for f in scan.tun_fds] == [(500, 7, "tap7")]
    assert scanner.last_fd_reads <= 2  # it (and, now, the holder it is): not the 40 others


def test_young_reads_stop_when_the_process_grows_up(fake: FakeProc) -> None:
    clock = Clock()
    for pid in range(300, 340):
        fake.add(pid)
    scanner = ProcScanner(str(fake.root), clock=clock, sweep_seconds=0)  # no sweep
    scanner.scan(fake.discovery())
    fake.add(500)
    scanner.scan(fake.discovery())
    reads = []
    for _ in range(YOUNG_TICKS + 3):
        clock.now += 2.0
        scanner.scan(fake.discovery())
        reads.append(scanner.last_fd_reads)
    assert reads[:2] == [1, 1] and reads[-1] == 0  # young: read each call; then left to the sweep


class _CountingProber:
    """Stands for the exact prober: every fd attached, exactly; counts the probes."""

    def __init__(self) -> None:
        self.calls = 0
        self.last_fallback: str | None = None

    def probe(self, pid: int, fds: tuple[int, ...]) -> list[TunFd]:
        self.calls += 1
        return [TunFd(pid, fd, f"tap{fd}", 4026531840, True) for fd in fds]


def test_an_exact_attached_probe_is_kept_until_the_holder_is_read_again(fake: FakeProc) -> None:
    clock = Clock()
    fake.add(100, fds={3: "/dev/net/tun"})
    scanner = ProcScanner(str(fake.root), clock=clock, sweep_seconds=0, fd_counts=True)  # no sweep
    prober = _CountingProber()
    scanner.prober = prober  # type: ignore[assignment]
    first = scanner.scan(fake.discovery())
    assert prober.calls == 1 and [f.iff for f in first.tun_fds] == ["tap3"]
    # A fake tree's directory size is no fd count: make it read as "unchanged" from here on.
    scanner._known[100].nfds = os.stat(fake.root / "100" / "fd").st_size
    for _ in range(3):
        clock.now += 1.0
        assert scanner.scan(fake.discovery()).tun_fds == first.tun_fds
    assert prober.calls == 1 and scanner.last_fd_reads == 0
    fake.add_fd(100, 4, "/dev/net/tun")  # its count changes: read again, and so probed again
    scanner._known[100].nfds -= 1  # (as the kernel's count would now differ from the one read)
    clock.now += 1.0
    assert [f.iff for f in scanner.scan(fake.discovery()).tun_fds] == ["tap3", "tap4"]
    assert prober.calls == 2
    calls = prober.calls
    scanner.scan(fake.discovery(), full=True)  # a tun/tap link event: everything is probed again
    assert prober.calls == calls + 1


def _counts_as_read(scanner: ProcScanner, fake: FakeProc) -> None:
    """A fake tree's directory size is no fd count: make every known process's count read as unchanged."""
    for pid, known in scanner._known.items():
        known.nfds = os.stat(fake.root / str(pid) / "fd").st_size


def test_an_old_process_is_compared_on_its_turn_and_everyone_when_told(fake: FakeProc) -> None:
    clock = Clock()
    for pid in range(300, 340):
        fake.add(pid)
    scanner = ProcScanner(str(fake.root), clock=clock, sweep_seconds=0, fd_counts=True)  # no sweep
    scanner.scan(fake.discovery())
    _counts_as_read(scanner, fake)
    rounds = scanner.rota.rounds
    # A process whose turn is not the next call opens something (its count changes).
    pid = next(p for p in range(300, 340) if p % rounds != scanner.rota.ticks % rounds)
    fake.add_fd(pid, 9, "/dev/net/tun", "tap9")
    scanner._known[pid].nfds -= 1
    clock.now += 1.0
    assert not scanner.scan(fake.discovery()).tun_fds and scanner.last_fd_reads == 0  # not its turn
    clock.now += 1.0
    scan = scanner.scan(fake.discovery(), everyone=True)  # something told: every count compared
    assert [(f.pid, f.iff) for f in scan.tun_fds] == [(pid, "tap9")] and scanner.last_fd_reads == 1


def test_an_old_process_is_read_within_rounds_calls_of_its_count_changing(fake: FakeProc) -> None:
    clock = Clock()
    for pid in range(300, 340):
        fake.add(pid)
    scanner = ProcScanner(str(fake.root), clock=clock, sweep_seconds=0, fd_counts=True)
    scanner.scan(fake.discovery())
    _counts_as_read(scanner, fake)
    fake.add_fd(317, 9, "/dev/net/tun", "tap9")
    scanner._known[317].nfds -= 1
    found = []
    for _ in range(scanner.rota.rounds):
        clock.now += 1.0
        found.append(any(f.pid == 317 for f in scanner.scan(fake.discovery()).tun_fds))
        assert scanner.last_fd_reads <= 1  # never the 40 of them
    assert found.count(True) >= 1 and found[found.index(True):] == [True] * (len(found) - found.index(True))
