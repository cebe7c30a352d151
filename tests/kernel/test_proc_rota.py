"""On the real kernel: discovery and the /proc scan look at an old process only on its turn, yet what a
process does is seen in time: a young process entering its namespace at the next call, an old one
within `rota.ROUNDS` calls, and at once (the next collect) when the kernel tells of it: a tun/tap link
event, a device pointing into a namespace discovery did not know."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from tests.kernelkit import KernelKit, poll_until
from tests.tunholder import start_late_holder
from vnettop.collect import namespaces
from vnettop.collect.collector import LiveCollector
from vnettop.collect.namespaces import Discoverer
from vnettop.collect.rota import ROUNDS

#: Waits for SIGUSR1, then enters the namespace at argv[1] (setns) or, given "-", a new one (unshare),
#: keeping its pid either way; then sleeps.
ENTER_LATER = """
import ctypes, os, signal, sys
CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)
def enter(*_):
    if sys.argv[1] == "-":
        os.execvp("unshare", ["unshare", "-n", "sleep", "300"])
    fd = os.open(sys.argv[1], os.O_RDONLY)
    assert libc.setns(fd, CLONE_NEWNET) == 0
    os.close(fd)
signal.signal(signal.SIGUSR1, enter)
while True:
    signal.pause()
"""


def _enter_later(kit: KernelKit, target: str) -> int:
    """Start ENTER_LATER; its pid once its handler is in place (SigCgt shows SIGUSR1 caught)."""
    proc = kit.spawn([sys.executable, "-c", ENTER_LATER, target])

    def ready() -> bool:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                caught = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
        except (OSError, StopIteration):
            return False
        return bool(caught & (1 << (signal.SIGUSR1 - 1)))

    assert poll_until(ready)
    return proc.pid


def _netns_of(pid: int) -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def _moved(pid: int, away_from: int) -> int:
    """Signal `pid` to enter its namespace; that namespace's inode once it is in."""
    os.kill(pid, signal.SIGUSR1)
    return poll_until(lambda: (ino if (ino := _netns_of(pid)) != away_from else 0))


def test_an_old_process_entering_a_named_namespace_is_seen_within_rounds_discoveries(kit: KernelKit) -> None:
    ns = kit.netns("ro")
    root = kit.ns_inode(None)
    pid = _enter_later(kit, f"/run/netns/{ns}")
    disc = Discoverer()
    try:
        first = disc.discover()  # the process is there at the first call: old
        disc.discover()
        assert first.pid_netns[pid] == root
        assert _moved(pid, root) == kit.ns_inode(ns)
        for _ in range(ROUNDS):
            got = disc.discover()
            if got.pid_netns.get(pid) == kit.ns_inode(ns):
                break
        assert got.pid_netns.get(pid) == kit.ns_inode(ns)
        entry = next(e for e in got.namespaces if e.inode == kit.ns_inode(ns))
        assert pid in entry.pids and ns in entry.names
    finally:
        disc.close()


def test_a_young_process_entering_a_new_namespace_is_seen_at_the_next_discovery(kit: KernelKit) -> None:
    """`unshare -n cmd` as seen by a collector: first in its parent's namespace, then in a new one."""
    root = kit.ns_inode(None)
    disc = Discoverer()
    try:
        disc.discover()
        pid = _enter_later(kit, "-")  # started after the first call: young
        assert disc.discover().pid_netns[pid] == root
        inode = _moved(pid, root)
        got = disc.discover()  # the very next call, whatever the process's turn
        assert got.pid_netns.get(pid) == inode
        assert pid in next(e for e in got.namespaces if e.inode == inode).pids
    finally:
        disc.close()


def test_an_old_process_attaching_to_an_up_tap_is_shown_after_its_link_event(kit: KernelKit) -> None:
    name = kit.tuntap(kit.name("ue"))  # persistent; up, so attaching turns its carrier on (an event)
    kit.ip("link", "set", name, "up")
    pid, attach = start_late_holder(kit, name)
    with LiveCollector(sources=()) as collector:
        collector.collect()
        snap = collector.collect()
        (link,) = snap.find_links(name, kit.ns_inode(None))
        assert link.tun is not None and not link.tun.holders
        fds = attach()
        carrier = Path(f"/sys/class/net/{name}/carrier")
        assert poll_until(lambda: carrier.read_text().strip() == "1")
        collector.wait_for_change(5.0)  # (returns at once: the event is already there)
        (link,) = collector.collect().find_links(name, kit.ns_inode(None))
        assert link.tun is not None and [(h.pid, h.fds) for h in link.tun.holders or ()] == [(pid, fds)]


def test_a_device_pointing_into_an_unknown_namespace_has_it_looked_for_at_once(kit: KernelKit) -> None:
    """An old process makes a namespace of its own; a veth is then put in it: the next collects find the
    namespace (every process's namespace read again), not only when the process's turn comes."""
    root = kit.ns_inode(None)
    pid = _enter_later(kit, "-")
    with LiveCollector(sources=()) as collector:
        collector.collect()
        collector.collect()  # the process is old by now
        inode = _moved(pid, root)
        a, b = kit.name("ua"), kit.name("ub")
        kit.ip("link", "add", a, "type", "veth", "peer", "name", b, "netns", str(pid))
        kit.link(a)
        collector.wait_for_change(5.0)
        collector.collect()  # takes the events: a namespace was numbered, the peer points nowhere known
        snap = collector.collect()
        ns = snap.namespace(inode)
        assert ns is not None and pid in ns.pids
        (veth,) = snap.find_links(a, root)
        assert veth.peer is not None and (veth.peer.netns, veth.peer.name) == (inode, b)


def test_a_live_collector_gives_kernel_threads_no_turn(kit: KernelKit, monkeypatch: pytest.MonkeyPatch) -> None:
    """The collector settles the kernel threads its /proc scan found: after the first collect their
    namespace links are read again only when every process is looked at, not on their turns, while the
    other processes' still are (kthreadd, pid 2, is on every host this tier runs on)."""
    reads: list[int] = []
    real = namespaces.read_link_inode

    def counted(path: str) -> int | None:
        if (who := path.split("/")[-3]).isdigit():  # (not /proc/self/ns/net, the root's)
            reads.append(int(who))
        return real(path)

    monkeypatch.setattr(namespaces, "read_link_inode", counted)
    with LiveCollector(sources=()) as collector:
        collector.collect()
        kernel = set(collector._scanner.kernel_pids)
        assert 2 in kernel and 2 in reads  # read at first sight
        reads.clear()
        for _ in range(ROUNDS + 1):  # every old process has had its turn
            collector.collect()
        assert reads and not kernel & set(reads)
        assert len(set(reads)) > 1 and os.getpid() in reads  # the others were still read
        reads.clear()
        collector._discoverer.look_at_everyone()
        collector.collect()
        assert 2 in reads  # everyone, kernel threads too
