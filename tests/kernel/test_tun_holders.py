"""Real tun/tap holders: the scanner must name the exact (namespace, device) each fd is attached to.

Devices are made by a helper process (tests/tunholder.py: /dev/net/tun + TUNSETIFF, independent of
vnettop); links are described by `ip -j -d link show`; discovery is read straight from /proc.
"""

from __future__ import annotations

import errno
import json
import os
import sys

import pytest

from tests.kernelkit import KernelKit, poll_until
from tests.tunholder import (
    discovery_for_tests,
    start_holder,
    start_late_holder,
    start_vhost_holder,
    tun_links,
)
from vnettop.collect.holders import attach_holders
from vnettop.collect.processes import ProcScanner
from vnettop.collect.rota import ROUNDS
from vnettop.collect.types import ProcScan
from vnettop.model import Link, Snapshot, TunHolder

pytestmark = pytest.mark.kernel

#: The holders are started as `sys.executable -m tests.tunholder`: the kernel names them after that file.
HOLDER = os.path.basename(sys.executable)


def holders_of(links: list[Link], scan: ProcScan, netns: int, name: str) -> tuple[TunHolder, ...]:
    out, _ = attach_holders(links, scan)
    (link,) = [x for x in out if x.netns == netns and x.name == name]
    assert link.tun is not None
    return link.tun.holders


def test_tap_held_by_a_child_shows_its_pid_and_fd(kit: KernelKit) -> None:
    name = kit.name("h1")
    scanner = ProcScanner()
    scanner.scan(discovery_for_tests())  # before the holder exists: it must be found as a new pid
    pid, fds = start_holder(kit, name)
    scan = scanner.scan(discovery_for_tests())
    root = kit.ns_inode(None)
    mine = [f for f in scan.tun_fds if f.pid == pid]
    assert [(f.fd, f.iff, f.netns, f.exact) for f in mine] == [(fds[0], name, root, True)]
    assert holders_of(tun_links(kit), scan, root, name) == (TunHolder(pid, HOLDER, fds, True),)
    (proc,) = [p for p in scan.processes[root] if p.pid == pid]
    assert "tests.tunholder" in proc.cmdline and proc.user == "root"


def test_multi_queue_tap_lists_both_fds(kit: KernelKit) -> None:
    name = kit.name("mq")
    pid, fds = start_holder(kit, name, queues=2)
    assert len(fds) == 2
    scan = ProcScanner().scan(discovery_for_tests(), full=True)
    (holder,) = holders_of(tun_links(kit), scan, kit.ns_inode(None), name)
    assert (holder.pid, holder.fds, holder.exact) == (pid, tuple(sorted(fds)), True)


def test_tap_moved_after_open_is_attributed_to_its_new_namespace(kit: KernelKit) -> None:
    ns = kit.netns("mv")
    name = kit.name("mv0")
    pid, fds = start_holder(kit, name)  # opened in root ...
    kit.ip("link", "set", name, "netns", ns)  # ... then moved away
    kit.tuntap(name, mode="tap")  # and a different, unheld tap takes its name in root
    scanner = ProcScanner()
    scan = scanner.scan(discovery_for_tests(), full=True)
    (fd,) = [f for f in scan.tun_fds if f.pid == pid]
    assert (fd.iff, fd.netns, fd.exact) == (name, kit.ns_inode(ns), True)
    links = tun_links(kit) + tun_links(kit, ns)
    assert holders_of(links, scan, kit.ns_inode(ns), name) == (TunHolder(pid, HOLDER, fds, True),)
    assert holders_of(links, scan, kit.ns_inode(None), name) == ()
    # The process stays in root: it is listed there, not in the device's namespace.
    assert pid in {p.pid for p in scan.processes[kit.ns_inode(None)]}


def test_same_name_in_two_namespaces_held_by_different_processes(kit: KernelKit) -> None:
    ns1, ns2 = kit.netns("a"), kit.netns("b")
    name = kit.name("tw")
    pid1, fds1 = start_holder(kit, name, netns=ns1)
    pid2, fds2 = start_holder(kit, name, mode="tun", netns=ns2)
    scan = ProcScanner().scan(discovery_for_tests(), full=True)
    links = tun_links(kit, ns1) + tun_links(kit, ns2)
    assert holders_of(links, scan, kit.ns_inode(ns1), name) == (TunHolder(pid1, HOLDER, fds1, True),)
    assert holders_of(links, scan, kit.ns_inode(ns2), name) == (TunHolder(pid2, HOLDER, fds2, True),)
    # Each holder process lives in the namespace it joined.
    assert pid1 in {p.pid for p in scan.processes[kit.ns_inode(ns1)]}
    assert pid2 in {p.pid for p in scan.processes[kit.ns_inode(ns2)]}


def test_name_only_fallback_reports_the_ambiguity(kit: KernelKit) -> None:
    ns1, ns2 = kit.netns("c"), kit.netns("d")
    name = kit.name("amb")
    start_holder(kit, name, netns=ns1)
    start_holder(kit, name, netns=ns2)
    scan = ProcScanner(exact=False).scan(discovery_for_tests(), full=True)
    links = tun_links(kit, ns1) + tun_links(kit, ns2)
    out, errors = attach_holders(links, scan)
    assert all(link.tun is not None and link.tun.holders is None for link in out)
    assert sum(1 for e in errors if repr(name) in e.message) == 2


def test_holder_that_exits_disappears(kit: KernelKit) -> None:
    name = kit.name("ex")
    pid, _ = start_holder(kit, name)
    scanner = ProcScanner()
    assert any(f.pid == pid for f in scanner.scan(discovery_for_tests()).tun_fds)
    proc = next(p for p in kit.procs if p.pid == pid)
    proc.kill()
    proc.wait()
    poll_until(lambda: not any(f.pid == pid for f in scanner.scan(discovery_for_tests()).tun_fds))


def test_end_to_end_through_the_live_collector(kit: KernelKit) -> None:
    """Same-name taps in two namespaces, each held by its own process, seen through LiveCollector."""
    from vnettop.collect.collector import LiveCollector

    ns1, ns2 = kit.netns("e1"), kit.netns("e2")
    name = kit.name("e2e")
    pid1, fds1 = start_holder(kit, name, netns=ns1)
    pid2, fds2 = start_holder(kit, name, queues=2, netns=ns2)
    with LiveCollector() as collector:
        snap = collector.collect()
        for ns, pid, fds in ((ns1, pid1, fds1), (ns2, pid2, fds2)):
            found = snap.find_links(name, kit.ns_inode(ns))
            assert len(found) == 1, f"{name} in {ns}: {found}; errors: {snap.errors}"
            link = found[0]
            assert link.tun is not None
            assert link.tun.holders == (TunHolder(pid, HOLDER, fds, True),)
            namespace = snap.namespace(kit.ns_inode(ns))
            assert namespace is not None and pid in {p.pid for p in namespace.processes}
        assert not [e for e in snap.errors if name in e.message]
        # The holder of ns1 exits: the next snapshot shows the device gone with it (non-persistent).
        proc = next(p for p in kit.procs if p.pid == pid1)
        proc.kill()
        proc.wait()

        def gone() -> Snapshot | None:
            s = collector.collect()
            return None if s.find_links(name, kit.ns_inode(ns1)) else s

        after = poll_until(gone)
        assert after is not None
        snap = after
        (link,) = snap.find_links(name, kit.ns_inode(ns2))
        assert link.tun is not None and [h.pid for h in link.tun.holders] == [pid2]


def test_late_attach_to_a_persistent_down_tap_is_found_without_a_full_scan(kit: KernelKit) -> None:
    """No netlink event, pid already known: only the sweep can find it."""
    name = kit.tuntap(kit.name("pd"))  # persistent, admin-down, no holder
    pid, attach = start_late_holder(kit, name)
    scanner = ProcScanner(sweep_seconds=1.0)
    scan = scanner.scan(discovery_for_tests())
    assert not any(f.pid == pid for f in scan.tun_fds)  # known now, holding nothing
    fds = attach()
    found = poll_until(lambda: [f for f in scanner.scan(discovery_for_tests()).tun_fds if f.pid == pid],
                       timeout=10, interval=0.2)
    assert [(f.fd, f.iff, f.exact) for f in found] == [(fds[0], name, True)]


def test_the_live_collector_shows_a_late_holder_of_a_quiet_tap_and_its_going(kit: KernelKit) -> None:
    """Through the live collector, ticks on which no device changed (the resolve reuses its last answer and
    the holders are not attached again while the scan says the same): a process attaching to a persistent,
    admin-down tap (no netlink event) shows as its holder, and no longer once it is gone."""
    from vnettop.collect.collector import LiveCollector

    name = kit.tuntap(kit.name("lh"))
    pid, attach = start_late_holder(kit, name)

    def tap(snap: Snapshot) -> Link:
        (link,) = snap.find_links(name, next(ns.inode for ns in snap.namespaces if ns.root))
        return link

    def holders(snap: Snapshot) -> list[int] | None:
        link = tap(snap)
        return None if link.tun is None or link.tun.holders is None else [h.pid for h in link.tun.holders]

    with LiveCollector(sources=(), only=lambda e: e.root) as collector:
        poll_until(lambda: holders(collector.collect()) == [])
        collector.collect()
        assert collector._resolved.reused  # nothing changed: the case this is about
        fds = attach()
        snap = poll_until(lambda: (lambda s: s if holders(s) == [pid] else None)(collector.collect()))
        link = tap(snap)
        assert link.tun is not None and link.tun.holders is not None and link.tun.holders[0].fds == fds
        (proc,) = [p for p in kit.procs if p.pid == pid]
        proc.kill()
        proc.wait()
        poll_until(lambda: holders(collector.collect()) == [])


@pytest.mark.parametrize("counts", [True, False])
def test_a_known_process_opening_a_tun_fd_is_read_again_for_its_fd_count(kit: KernelKit, counts: bool) -> None:
    """With the kernel's fd counts (stat of /proc/PID/fd), a known, old process whose count changed is
    read again when its turn comes (every process's count is compared once in `rota.ROUNDS` calls), not
    when a slow sweep comes round to it; without them (the control), it is not. The control's sweep is
    held back during those calls: it takes the lowest pids first, at least one a call, and with pids
    wrapping at 32768 the holder's may be among the lowest."""
    if not ProcScanner().fd_counts:
        pytest.skip("this kernel does not report fd counts (Linux < 6.2)")
    name = kit.tuntap(kit.name("fc"))  # persistent, admin-down: attaching sends no netlink event
    pid, attach = start_late_holder(kit, name)
    clock = [0.0]
    scanner = ProcScanner(sweep_seconds=3600.0, fd_counts=counts, clock=lambda: clock[0],
                          sweep_max=400 if counts else 0)
    assert not any(f.pid == pid for f in scanner.scan(discovery_for_tests()).tun_fds)  # known, holding none
    fds = attach()

    def found() -> list[tuple[int, str | None, bool]]:
        clock[0] += 1.0  # a tick later (the sweep itself would take an hour to come round)
        return [(f.fd, f.iff, f.exact) for f in scanner.scan(discovery_for_tests()).tun_fds if f.pid == pid]

    calls = [found() for _ in range(ROUNDS)]
    if counts:  # found on its turn, and kept from then on
        turn = calls.index([(fds[0], name, True)])
        assert all(c == [(fds[0], name, True)] for c in calls[turn:])
    else:  # and the sweep still finds it when it comes round
        assert calls == [[]] * ROUNDS
        scanner.sweep_max = 400
        clock[0] += 3600.0
        assert found() == [(fds[0], name, True)]


def test_fallback_to_fdinfo_when_the_exact_lookup_is_refused(kit: KernelKit,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from vnettop.collect import tunfd

    def refused(pidfd: int, fd: int) -> int:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(tunfd, "pidfd_getfd", refused)
    name = kit.name("fb")
    pid, fds = start_holder(kit, name)
    scan = ProcScanner().scan(discovery_for_tests(), full=True)
    assert [(f.fd, f.iff, f.netns, f.exact) for f in scan.tun_fds if f.pid == pid] == [(fds[0], name, None,
                                                                                         False)]
    assert any("name only" in e.message and "not permitted" in e.message for e in scan.errors)
    assert holders_of(tun_links(kit), scan, kit.ns_inode(None), name) == (TunHolder(pid, HOLDER, fds, False),)


def test_vhost_fds_of_a_holder_are_listed_with_it(kit: KernelKit) -> None:
    """A qemu with vhost=on holds /dev/vhost-net fds beside its tap fd.

    This host has no vhost-net module: the helper's "vhost" fds are on a file at /dev/vhost-net in its
    own private mount namespace (tests/tunholder.py), which /proc/PID/fd shows as a real one is shown.
    """
    name = kit.name("vh")
    pid, fds, vhost = start_vhost_holder(kit, name, vhost=2)
    assert len(vhost) == 2 and not os.path.exists("/dev/vhost-net")  # the host's /dev is untouched
    assert all(os.readlink(f"/proc/{pid}/fd/{fd}") == "/dev/vhost-net" for fd in vhost)
    scan = ProcScanner().scan(discovery_for_tests(), full=True)
    assert isinstance(scan, ProcScan)
    assert scan.vhost_fds.get(pid) == tuple(sorted(vhost))
    root = kit.ns_inode(None)
    assert holders_of(tun_links(kit), scan, root, name) == (TunHolder(pid, HOLDER, fds, True,
                                                                      tuple(sorted(vhost))),)


def test_vhost_fds_reach_the_json_dump_through_the_live_collector(kit: KernelKit) -> None:
    from vnettop.collect.collector import LiveCollector
    from vnettop.render.json import snapshot_to_json

    name = kit.name("vj")
    pid, fds, vhost = start_vhost_holder(kit, name, vhost=1)
    plain_name = kit.name("vp")
    plain_pid, plain_fds = start_holder(kit, plain_name)
    with LiveCollector() as collector:
        doc = json.loads(snapshot_to_json(collector.collect()))
    root = kit.ns_inode(None)
    by_name = {link["name"]: link for link in doc["links"] if link["netns"] == root}
    assert by_name[name]["tun"]["holders"] == [
        {"pid": pid, "comm": HOLDER, "fds": list(fds), "exact": True, "vhost_fds": list(vhost)}]
    assert by_name[plain_name]["tun"]["holders"] == [
        {"pid": plain_pid, "comm": HOLDER, "fds": list(plain_fds), "exact": True, "vhost_fds": []}]
