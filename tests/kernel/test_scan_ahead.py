"""A one-shot collect whose /proc scan runs ahead in a forked child answers as the in-process scan does.

Built with iproute2 and helper processes (independently of vnettop): a namespace kept alive only by a
process's fd (read after the child's answer), a tap held by a process, and a listening socket in a
namespace. The forked scan must find all three, leave out the parent's own namespace fds (its sockets pin
every namespace it reads), and give the same picture as a collect that scans in-process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.kernel.test_hidden_namespaces import _held_by_fd
from tests.kernelkit import KernelKit, poll_until, run
from tests.tunholder import start_holder
from vnettop.collect import scan_ahead
from vnettop.collect.collector import LiveCollector
from vnettop.collect.processes import ProcScanner
from vnettop.model import Snapshot

pytestmark = pytest.mark.kernel

LISTENER = ("import socket, signal; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
            "print(s.getsockname()[1], flush=True); signal.pause()")


def one_shot(ahead: bool) -> tuple[Snapshot, dict[str, int]]:
    """A one-shot collect, with a child forked ahead as `vnettop dump` forks it (the guard that refuses
    to fork with other threads alive is tested in tests/pure/test_scan_ahead.py), or without."""
    child = scan_ahead.ScanAhead.start() if ahead else None
    assert child is not None or not ahead
    collector = LiveCollector(sources=(), one_shot=True, ahead=child)
    try:
        return collector.collect(), dict(collector.last_counts)
    finally:
        collector.close()


def picture(snap: Snapshot, inodes: set[int], pids: set[int], tag: str) -> dict[str, Any]:
    """What the scan decides, for the test's namespaces, processes and devices: holders of namespaces
    and taps, the processes shown and their listening sockets, and the devices with their peers."""
    return {
        "namespaces": sorted((n.inode, n.names, n.fds, n.readable,
                              tuple(p for p in n.processes if p.pid in pids))
                             for n in snap.namespaces if n.inode in inodes),
        "links": sorted((x.netns, x.name, x.kind, x.peer, x.tun.holders if x.tun else None)
                        for x in snap.links if x.netns in inodes or x.name.startswith(f"vnt{tag}")),
    }


def build(kit: KernelKit) -> dict[str, Any]:
    inode, holder_pid, holder_fd, root_end, far_end = _held_by_fd(kit)
    tap = kit.name("sa")
    tap_pid, tap_fds = start_holder(kit, tap)
    ns = kit.netns("sl")
    listener = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", LISTENER],
                                stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True)
    kit.procs.append(listener)
    assert listener.stdout is not None
    port = int(listener.stdout.readline())
    return {"listen_name": ns, "held": inode, "holder": (holder_pid, holder_fd), "ends": (root_end, far_end), "tap": tap,
            "tap_holder": (tap_pid, tuple(sorted(tap_fds))), "listen_ns": kit.ns_inode(ns),
            "listener": (listener.pid, port)}


def check_found(snap: Snapshot, kit: KernelKit, made: dict[str, Any]) -> None:
    held = snap.namespace(made["held"])
    assert held is not None, "the namespace only an fd keeps alive is missing"
    assert [(h.pid, h.fd) for h in held.fds] == [made["holder"]], "the parent's own fds counted as holders?"
    root = snap.root
    assert root is not None
    (root_end,) = snap.find_links(made["ends"][0], root.inode)
    assert root_end.peer is not None and (root_end.peer.netns, root_end.peer.name) == (made["held"],
                                                                                          made["ends"][1])
    (tap,) = snap.find_links(made["tap"], root.inode)
    assert tap.tun is not None and [(h.pid, h.fds) for h in tap.tun.holders] == [made["tap_holder"]]
    listen_ns = snap.namespace(made["listen_ns"])
    assert listen_ns is not None
    pid, port = made["listener"]
    (proc,) = [p for p in listen_ns.processes if p.pid == pid]
    assert [(sock.port, sock.address) for sock in proc.listening] == [(port, "127.0.0.1")]


def test_forked_scan_answers_as_the_scan_in_process(kit: KernelKit) -> None:
    made = build(kit)
    # This process (the collecting one) holds an fd on a namespace from before the fork: vnettop's own,
    # never a holder, for the child as for an in-process scan.
    own = os.open(f"/run/netns/{made['listen_name']}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        forked, counts = one_shot(True)
        in_process, in_counts = one_shot(False)
    finally:
        os.close(own)
    assert counts["scan_ahead"] == 1, "the scan did not run ahead"
    check_found(forked, kit, made)
    listen_ns = forked.namespace(made["listen_ns"])
    assert listen_ns is not None and listen_ns.fds == (), "the collecting process's own fd taken for a holder"
    assert in_counts["scan_ahead"] == 0
    inodes = {made["held"], made["listen_ns"]}  # (root's devices of this test: by their names)
    pids = {made["holder"][0], made["tap_holder"][0], made["listener"][0]}
    assert picture(forked, inodes, pids, kit.tag) == picture(in_process, inodes, pids, kit.tag)


def test_a_child_that_gives_no_answer_costs_only_time(kit: KernelKit, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child dies before answering: the collector scans in-process, and nothing is missing."""
    made = build(kit)
    monkeypatch.setattr(scan_ahead, "_child", lambda *args: os._exit(3))
    snap, counts = one_shot(True)
    assert counts["scan_ahead"] == 0
    check_found(snap, kit, made)
    assert not [e for e in snap.errors if e.scope == "proc"], snap.errors



def test_a_child_still_at_work_at_the_deadline_leaves_the_processes_unknown(
        kit: KernelKit, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child's /proc reads do not end in time (as when a process's files block): its wait ends at the
    deadline, and the scan is not tried again here (it would block as well, without a bound). The
    devices are shown; the tap's holders and the processes are unknown, with the reason, never "none"."""
    made = build(kit)
    monkeypatch.setattr(scan_ahead, "CHILD_TIMEOUT", 1.0)
    monkeypatch.setattr(scan_ahead, "_child", lambda *args: time.sleep(60))

    def blocked(*args: object, **kwargs: object) -> None:
        raise AssertionError("the /proc scan was tried again in-process")

    monkeypatch.setattr(ProcScanner, "scan", blocked)
    t0 = time.monotonic()
    snap, counts = one_shot(True)
    assert time.monotonic() - t0 < 30
    assert counts["scan_ahead"] == 0
    root = snap.root
    assert root is not None
    (tap,) = snap.find_links(made["tap"], root.inode)
    assert tap.tun is not None and tap.tun.holders is None  # unknown, not "no holder"
    assert not root.pids_complete
    (why,) = [e.message for e in snap.errors if e.scope == "proc"]  # (a scan tried again would add one)
    assert "did not finish in 1 s" in why and "unknown" in why, why


def test_the_child_is_not_among_the_processes_it_reports(kit: KernelKit) -> None:
    """The child's discovery lists the child itself, and the parent takes that discovery as its own: the
    child leaves itself out (a dump showed it as a process of the root namespace, gone by then)."""
    child = scan_ahead.ScanAhead.start()
    assert child is not None
    collector = LiveCollector(sources=(), one_shot=True, ahead=child)
    try:
        snap = collector.collect()
        counts = dict(collector.last_counts)
    finally:
        collector.close()
        child.cancel()  # (a no-op once the collect took its answers)
    assert counts["discovered_ahead"] == 1, counts
    root = snap.root
    assert root is not None and os.getpid() in root.pids
    assert [n.inode for n in snap.namespaces if child._pid in n.pids] == []

# -- the namespaces shared with the child -----------------------------------------------------------


def many(kit: KernelKit, count: int = 24) -> set[int]:
    """`count` namespaces, each with a veth to root; their inodes."""
    out = set()
    for i in range(count):
        ns = kit.netns(f"m{i}")
        kit.veth(kit.name(f"r{i}"), kit.name(f"p{i}"), ns_b=ns)
        out.add(kit.ns_inode(ns))
    return out


@pytest.fixture
def slow_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process waits, before its first namespace, until the child has claimed some: the child's
    share is then not left to how fast each side happens to be."""
    real_claim = scan_ahead.ScanAhead.claim

    def claim(self: scan_ahead.ScanAhead, index: int) -> bool:
        if index == 0:
            poll_until(lambda: scan_ahead._U32.unpack_from(self._board, scan_ahead._CHILD_FROM)[0]
                       != scan_ahead._NONE_CLAIMED, timeout=30)
        return real_claim(self, index)

    monkeypatch.setattr(scan_ahead.ScanAhead, "claim", claim)


def whole_picture(snap: Snapshot, inodes: set[int], tag: str) -> list[tuple[Any, ...]]:
    """Every device of `inodes` and root's devices of this test, as resolved (peers, masters), without what may
    move between two collects (counters, states, addresses)."""
    return sorted((x.netns, x.ifindex, x.name, x.kind, x.peer, x.master, x.lower, x.mac, x.mtu)
                  for x in snap.links if x.netns in inodes or x.name.startswith(f"vnt{tag}"))


def test_namespaces_read_by_the_child_give_the_same_picture(kit: KernelKit, slow_start: None) -> None:
    inodes = many(kit)  # (root's devices of this test: by their names)
    shared, counts = one_shot(True)
    assert counts["scan_ahead"] == 1 and counts["dumped_ahead"] >= 1 and counts["discovered_ahead"] == 1, counts
    alone, alone_counts = one_shot(False)
    assert alone_counts["dumped_ahead"] == 0
    assert whole_picture(shared, inodes, kit.tag) == whole_picture(alone, inodes, kit.tag)
    assert {n.inode for n in shared.namespaces} >= inodes
    assert len(whole_picture(shared, inodes, kit.tag)) == 24 * 3  # (root end, far end, its lo)
    assert len(shared.namespaces) == len({n.inode for n in shared.namespaces})
    assert not [e for e in shared.errors if "vnt" in e.message], shared.errors
    root = kit.ns_inode(None)
    peers = [x.peer for x in shared.links if x.netns == root and x.name.startswith(f"vnt{kit.tag}r")]
    assert len(peers) == 24 and all(p is not None and p.netns in inodes for p in peers)


def test_namespaces_the_child_claimed_but_never_delivered_are_read_here(
        kit: KernelKit, slow_start: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child dies after its first batch, holding a claim on the next: nothing may be missing."""
    inodes = many(kit)
    real_write = scan_ahead._write
    written: list[int] = []

    def write(fd: int, record: object) -> None:
        written.append(1)
        if len(written) == 4:  # (the discovery, two more records (batches, or the scan), then death)
            os._exit(1)
        real_write(fd, record)

    monkeypatch.setattr(scan_ahead, "_write", write)
    shared, counts = one_shot(True)
    assert 1 <= counts["dumped_ahead"] <= 2 * scan_ahead.BATCH, counts
    alone, _ = one_shot(False)
    assert whole_picture(shared, inodes, kit.tag) == whole_picture(alone, inodes, kit.tag)



def test_a_namespace_gone_before_this_process_opened_it_is_left_out(
        kit: KernelKit, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child read a namespace that was deleted before this process opened its own socket there: it
    is left out, as a collect without a child leaves out a namespace gone between discovery and opening
    (not shown from the child's answer, with peers nobody can resolve any more)."""
    names = {kit.ns_inode(name): name for name in (kit.netns(f"g{i}") for i in range(12))}
    from vnettop.collect.nspool import NsPool

    parent = os.getpid()
    real_sync = NsPool.sync
    child: list[scan_ahead.ScanAhead] = []
    victim: list[int] = []

    def delivered() -> set[int]:
        records = scan_ahead._records(child[0]._answers_fd)
        return {inode for r in records[1:] if isinstance(r, dict) for inode in r if inode in names}

    def sync(self: NsPool, disc: Any) -> Any:
        if os.getpid() == parent and not victim:  # (this process's first open; the child's own syncs go on)
            victim.append(min(poll_until(delivered, timeout=30)))
            run(["ip", "netns", "del", names[victim[0]]])
        return real_sync(self, disc)

    monkeypatch.setattr(NsPool, "sync", sync)
    started = scan_ahead.ScanAhead.start()
    assert started is not None
    child.append(started)
    collector = LiveCollector(sources=(), one_shot=True, ahead=started)
    try:
        snap = collector.collect()
    finally:
        collector.close()
        started.cancel()
    assert victim and victim[0] not in {n.inode for n in snap.namespaces}
    assert not [x for x in snap.links if x.netns == victim[0]]
    assert {n.inode for n in snap.namespaces} >= set(names) - set(victim)
    assert snap.counters_late == {}  # (a one-shot collect has no next tick to be late against)

ONE_SHOT = r"""
import sys, threading
from vnettop.collect.collector import LiveCollector
collector = LiveCollector(sources=(), one_shot=True)
on_main = []
real = collector._collect
collector._collect = lambda: (on_main.append(threading.current_thread() is threading.main_thread()), real())[1]
snap = collector.collect()
collector.close()
print(on_main == [True], threading.active_count(), "concurrent.futures" in sys.modules, len(snap.links) > 0)
"""


def test_a_one_shot_collect_runs_on_the_callers_thread_without_a_thread_pool() -> None:
    """A command that collects once has one thread: the collector does the work on it (no worker, no
    pool: ~4 ms of imports a dump does not pay), and leaves no thread behind."""
    done = subprocess.run([sys.executable, "-c", ONE_SHOT], capture_output=True, text=True, timeout=60,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "1", "False", "True"]
