"""The live collector against the real kernel: it must see exactly what iproute2 built.

Every fixture is made with `ip` / `bridge` / `unshare` (through the kit), and the expectations are
either known by construction (which end is whose peer) or read back with iproute2's JSON output, an
independent tool. Traffic only flows between this test's own namespaces.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

import pytest

from tests.kernelkit import KernelKit, poll_until, run
from vnettop.collect import events
from vnettop.collect.collector import COLLECT_THREAD, MAX_HOLD, LiveCollector
from vnettop.collect.rota import ROUNDS
from vnettop.model import BridgePort, FdbEntry, Link, LinkRef, Namespace, Snapshot, Stats

pytestmark = pytest.mark.kernel


def ip_json(kit: KernelKit, *args: str, netns: str | None = None) -> list[dict]:  # type: ignore[type-arg]
    return json.loads(kit.ip("-j", *args, netns=netns) or "[]")  # type: ignore[no-any-return]


def nsenter_ip_json(pid: int, *args: str) -> list[dict]:  # type: ignore[type-arg]
    out = run(["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-j", *args]).stdout
    return json.loads(out or "[]")  # type: ignore[no-any-return]



#: Three UDP datagrams from inside a namespace (this machine has no `ping`): ARP, then 3 frames out.
_SEND = ("import socket, sys\n"
         "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
         "for _ in range(3):\n"
         "    s.sendto(b'v' * 56, (sys.argv[1], 9))\n")


def send_traffic(netns: str, dst: str) -> None:
    run(["ip", "netns", "exec", netns, sys.executable, "-c", _SEND, dst])


def by_name(snap: Snapshot, inode: int) -> dict[str, Link]:
    return {link.name: link for link in snap.links_in(inode)}


def index_of(kit: KernelKit, name: str, netns: str | None = None) -> int:
    return int(ip_json(kit, "link", "show", "dev", name, netns=netns)[0]["ifindex"])


def check_against_iproute2(kit: KernelKit, snap: Snapshot, netns: str) -> None:
    """Every device of a namespace, field by field, as `ip -j -d link` / `ip -j addr` report it."""
    inode = kit.ns_inode(netns)
    ours = by_name(snap, inode)
    theirs = ip_json(kit, "-d", "link", "show", netns=netns)
    assert set(ours) == {d["ifname"] for d in theirs}
    addrs = {d["ifname"]: d.get("addr_info", []) for d in ip_json(kit, "addr", "show", netns=netns)}
    for d in theirs:
        link = ours[d["ifname"]]
        assert link.netns == inode and link.ifindex == d["ifindex"]
        assert link.mtu == d["mtu"]
        assert link.admin_up == ("UP" in d["flags"])
        assert link.oper_state == d["operstate"].lower()
        kind = d.get("linkinfo", {}).get("info_kind")
        assert link.kind == (kind or ("loopback" if d.get("link_type") == "loopback" else "device"))
        if d.get("link_type") == "ether":
            assert link.mac == d["address"]
        assert (link.master.name if link.master else None) == d.get("master")
        v4 = {f"{a['local']}/{a['prefixlen']}" for a in addrs.get(d["ifname"], []) if a["family"] == "inet"}
        assert {a for a in link.addresses if ":" not in a} == v4


# -- veth peers ---------------------------------------------------------------------------------


def test_veth_peers_in_every_combination(kit: KernelKit, collector: LiveCollector) -> None:
    ns1, ns2 = kit.netns("p1"), kit.netns("p2")
    proc, anon = kit.unshared()
    # both ends in one namespace
    same_a, same_b = kit.name("sa"), kit.name("sb")
    kit.ip("link", "add", same_a, "type", "veth", "peer", "name", same_b, netns=ns1)
    # root <-> named
    root_end, ns_end = kit.veth(kit.name("ra"), kit.name("rb"), None, ns1)
    # named <-> named
    x1, x2 = kit.veth(kit.name("xa"), kit.name("xb"), ns1, ns2)
    # named <-> process-only (iproute2 takes a pid for `netns`)
    y1, y2 = kit.name("ya"), kit.name("yb")
    kit.ip("link", "add", y1, "type", "veth", "peer", "name", y2, "netns", str(proc.pid), netns=ns2)

    snap = collector.collect()

    root = os.stat("/proc/self/ns/net").st_ino
    i1, i2 = kit.ns_inode(ns1), kit.ns_inode(ns2)
    l1, l2, lr, la = by_name(snap, i1), by_name(snap, i2), by_name(snap, root), by_name(snap, anon)
    anon_index = {d["ifname"]: d["ifindex"] for d in nsenter_ip_json(proc.pid, "link", "show")}

    expected = [
        (l1[same_a], LinkRef(i1, index_of(kit, same_b, ns1), same_b)),
        (l1[same_b], LinkRef(i1, index_of(kit, same_a, ns1), same_a)),
        (lr[root_end], LinkRef(i1, index_of(kit, ns_end, ns1), ns_end)),
        (l1[ns_end], LinkRef(root, index_of(kit, root_end), root_end)),
        (l1[x1], LinkRef(i2, index_of(kit, x2, ns2), x2)),
        (l2[x2], LinkRef(i1, index_of(kit, x1, ns1), x1)),
        (l2[y1], LinkRef(anon, anon_index[y2], y2)),
        (la[y2], LinkRef(i2, index_of(kit, y1, ns2), y1)),
    ]
    for link, peer in expected:
        assert link.kind == "veth"
        assert link.peer == peer, link.name
    anon_ns = snap.namespace(anon)
    assert anon_ns is not None and anon_ns.names == () and proc.pid in anon_ns.pids
    for ns in (ns1, ns2):
        check_against_iproute2(kit, snap, ns)


def test_peer_index_colliding_with_an_unrelated_local_device(kit: KernelKit, collector: LiveCollector) -> None:
    """c1 (ns1, index 41) <-> c2 (ns2, index 42); ns2 has its own 41 and ns1 its own 42."""
    ns1, ns2 = kit.netns("c1"), kit.netns("c2")
    b1, b2, c1, c2 = kit.name("b1"), kit.name("b2"), kit.name("ca"), kit.name("cb")
    kit.ip("link", "add", b1, "index", "42", "type", "bridge", netns=ns1)
    kit.ip("link", "add", b2, "index", "41", "type", "bridge", netns=ns2)
    kit.ip("link", "add", c1, "index", "41", "type", "veth", "peer", "name", c2, "index", "42", "netns", ns2,
           netns=ns1)
    assert index_of(kit, c1, ns1) == 41 and index_of(kit, c2, ns2) == 42  # the collision is real

    snap = collector.collect()

    i1, i2 = kit.ns_inode(ns1), kit.ns_inode(ns2)
    assert by_name(snap, i1)[c1].peer == LinkRef(i2, 42, c2)  # not b1, ns1's own index 42
    assert by_name(snap, i2)[c2].peer == LinkRef(i1, 41, c1)  # not b2, ns2's own index 41
    assert snap.link(i2, 41).name == b2 and snap.link(i1, 42).name == b1  # type: ignore[union-attr]


# -- every field of a link, and counters that move ---------------------------------------------------


def test_link_fields_and_counters_after_traffic(kit: KernelKit, collector: LiveCollector) -> None:
    ns1, ns2 = kit.netns("f1"), kit.netns("f2")
    a, b = kit.veth(kit.name("fa"), kit.name("fb"), ns1, ns2)
    kit.ip("link", "set", a, "mtu", "1400", "address", "02:00:5e:10:00:01", netns=ns1)
    kit.ip("link", "set", b, "mtu", "1400", netns=ns2)
    kit.ip("addr", "add", "10.231.7.1/24", "dev", a, netns=ns1)
    kit.ip("addr", "add", "fd00:7::1/64", "dev", a, "nodad", netns=ns1)
    kit.ip("addr", "add", "10.231.7.2/24", "dev", b, netns=ns2)
    kit.ip("link", "set", a, "up", netns=ns1)
    kit.ip("link", "set", b, "up", netns=ns2)
    for dev, ns in ((a, ns1), (b, ns2)):
        poll_until(lambda d=dev, n=ns: ip_json(kit, "link", "show", "dev", d, netns=n)[0]["operstate"] == "UP")

    before = collector.collect()
    i1, i2 = kit.ns_inode(ns1), kit.ns_inode(ns2)
    la = by_name(before, i1)[a]
    assert la.kind == "veth" and la.mac == "02:00:5e:10:00:01" and la.mtu == 1400
    assert la.admin_up and la.oper_state == "up"
    assert "10.231.7.1/24" in la.addresses and "fd00:7::1/64" in la.addresses
    assert la.master is None and la.lower is None and la.bridge is None and la.tun is None
    lo = by_name(before, i1)["lo"]
    assert lo.kind == "loopback" and lo.admin_up
    check_against_iproute2(kit, before, ns1)
    check_against_iproute2(kit, before, ns2)

    send_traffic(ns1, "10.231.7.2")
    sa0, sb0 = la.stats, by_name(before, i2)[b].stats
    # repeat collects (counters only, unless an event came) until the 3 datagrams have gone through
    def arrived() -> Snapshot | None:
        s = collector.collect()
        return s if by_name(s, i2)[b].stats.rx_packets >= sb0.rx_packets + 3 else None

    after = poll_until(arrived)

    sa1, sb1 = by_name(after, i1)[a].stats, by_name(after, i2)[b].stats
    assert sa1.tx_packets >= sa0.tx_packets + 3  # ARP request + 3 datagrams
    assert sa1.tx_bytes >= sa0.tx_bytes + 3 * (14 + 20 + 8 + 56)
    assert sb1.rx_bytes >= sb0.rx_bytes + 3 * (14 + 20 + 8 + 56)
    assert sb1.tx_packets >= sb0.tx_packets + 1  # at least the ARP reply
    assert sa1.rx_packets >= sa0.rx_packets + 1
    kernel = ip_json(kit, "-s", "link", "show", "dev", a, netns=ns1)[0]["stats64"]
    assert sa1.tx_packets <= kernel["tx"]["packets"]  # the counters are the kernel's, read a bit earlier


# -- bridges ---------------------------------------------------------------------------------------


def test_bridges_ports_stp_and_fdb(kit: KernelKit, collector: LiveCollector) -> None:
    nb, nx, ny = kit.netns("bb"), kit.netns("bx"), kit.netns("by")
    br = kit.bridge(kit.name("br"), netns=nb)
    brs = kit.bridge(kit.name("bs"), netns=nb, stp=True)
    p1, x1 = kit.veth(kit.name("p1"), kit.name("x1"), nb, nx)
    p2, y1 = kit.veth(kit.name("p2"), kit.name("y1"), nb, ny)
    q1, q2 = kit.name("q1"), kit.name("q2")
    kit.ip("link", "add", q1, "type", "veth", "peer", "name", q2, netns=nb)
    for port, bridge in ((p1, br), (p2, br), (q1, brs)):
        kit.ip("link", "set", port, "master", bridge, netns=nb)
    kit.ip("link", "set", p1, "type", "bridge_slave", "cost", "7", "priority", "5", netns=nb)
    for dev in (br, brs, p1, p2, q1, q2):
        kit.ip("link", "set", dev, "up", netns=nb)
    kit.ip("addr", "add", "10.231.8.1/24", "dev", x1, netns=nx)
    kit.ip("addr", "add", "10.231.8.2/24", "dev", y1, netns=ny)
    kit.ip("link", "set", x1, "up", netns=nx)
    kit.ip("link", "set", y1, "up", netns=ny)

    ib = kit.ns_inode(nb)
    mac_x = ip_json(kit, "link", "show", "dev", x1, netns=nx)[0]["address"]
    mac_y = ip_json(kit, "link", "show", "dev", y1, netns=ny)[0]["address"]
    send_traffic(nx, "10.231.8.2")  # ARP through the bridge: it learns both MACs

    def learned_both() -> Snapshot | None:
        s = collector.collect()
        fdb = by_name(s, ib)[br].bridge
        macs = {e.mac for e in fdb.fdb if e.state == "learned"} if fdb else set()
        return s if {mac_x, mac_y} <= macs else None

    snap = poll_until(learned_both)
    links = by_name(snap, ib)
    idx = {name: links[name].ifindex for name in (br, brs, p1, p2, q1)}
    bri, brsi = links[br].bridge, links[brs].bridge
    assert bri is not None and brsi is not None
    assert not bri.stp and brsi.stp and not bri.vlan_filtering
    assert bri.ports == tuple(sorted([idx[p1], idx[p2]])) and brsi.ports == (idx[q1],)
    assert links[p1].master == LinkRef(ib, idx[br], br)
    assert links[q1].master == LinkRef(ib, idx[brs], brs)
    assert links[p1].bridge_port == BridgePort("forwarding", 7, 5)
    assert links[br].bridge_port is None and links[p2].bridge_port is not None
    details = {d["ifname"]: d for d in ip_json(kit, "-d", "link", "show", netns=nb)}
    for port in (p1, p2, q1):
        slave = details[port]["linkinfo"]["info_slave_data"]
        bp = links[port].bridge_port
        assert bp is not None
        assert (bp.state, bp.cost, bp.priority) == (slave["state"], slave["cost"], slave["priority"])
    assert links[q1].bridge_port.state in ("listening", "learning", "blocking")  # type: ignore[union-attr]

    # FDB: exactly the bridge's own entries (master == br), not every device's multicast "self" ones.
    name_of = {link.ifindex: link.name for link in links.values()}
    ours = {(e.mac, name_of.get(e.port)) for e in bri.fdb}  # type: ignore[arg-type]
    theirs = {(e["mac"], e["ifname"]) for e in json.loads(run(["bridge", "-n", nb, "-j", "fdb", "show", "br", br]).stdout)
              if e.get("master") == br}
    assert ours == theirs
    learned = {(e.mac, e.port) for e in bri.fdb if e.state == "learned"}
    assert (mac_x, idx[p1]) in learned and (mac_y, idx[p2]) in learned
    assert all(e.port in (idx[p1], idx[p2], idx[br]) for e in bri.fdb)
    check_against_iproute2(kit, snap, nb)


# -- namespaces ------------------------------------------------------------------------------------


def test_namespaces_root_named_process_only_and_doubly_named(kit: KernelKit, collector: LiveCollector) -> None:
    ns = kit.netns("n1")
    proc, anon = kit.unshared()
    alias = kit.name("al")
    path = f"/run/netns/{alias}"
    with open(path, "x"):
        pass
    try:
        run(["mount", "--bind", f"/run/netns/{ns}", path])
        try:
            snap = collector.collect()
            # The collector's open handles must not keep the bind mount busy (plain umount, no -l).
            # Other processes on this shared host may hold it for a moment (EBUSY): retry a little.
            poll_until(lambda: run(["umount", path], check=False).returncode == 0, timeout=3, interval=0.05)
        finally:
            run(["umount", "-l", path], check=False)
    finally:
        os.unlink(path)

    root = snap.root
    assert root is not None and root.inode == os.stat("/proc/self/ns/net").st_ino and root.root
    assert snap.namespaces[0] is root
    named = snap.namespace(kit.ns_inode(ns))
    assert named is not None and named.names == tuple(sorted([ns, alias])) and not named.root
    unnamed = snap.namespace(anon)
    assert unnamed is not None and unnamed.names == () and unnamed.pids == (proc.pid,)
    assert by_name(snap, anon)["lo"].kind == "loopback"
    assert [n.inode for n in snap.namespaces[1:]] == sorted(n.inode for n in snap.namespaces[1:])
    assert snap.host.kernel == os.uname().release


def test_collector_never_assigns_an_nsid(kit: KernelKit, collector: LiveCollector) -> None:
    a, b = kit.netns("i1"), kit.netns("i2")
    collector.collect()
    pool = collector._pool
    assert pool is not None
    assert pool.nsid_of(kit.ns_inode(a), kit.ns_inode(b)) is None  # asked, and none exists
    assert kit.ip("netns", "list-id", netns=a).strip() == ""  # ...and asking did not create one
    kit.veth(kit.name("ia"), kit.name("ib"), a, b)  # creating a cross-namespace veth assigns one
    collector.collect()
    listed = kit.ip("netns", "list-id", netns=a).split()
    assert pool.nsid_of(kit.ns_inode(a), kit.ns_inode(b)) == int(listed[1])


def test_repeat_collect_sees_changes_and_drops_deleted_namespaces(kit: KernelKit, collector: LiveCollector) -> None:
    ns = kit.netns("r1")
    collector.collect()
    peer_root, peer_ns = kit.veth(kit.name("ra"), kit.name("rb"), None, ns)
    inode = kit.ns_inode(ns)
    snap = collector.collect()  # a repeat collect: the new veth came in through an event
    root = os.stat("/proc/self/ns/net").st_ino
    assert by_name(snap, inode)[peer_ns].peer == LinkRef(root, index_of(kit, peer_root), peer_root)
    assert by_name(snap, root)[peer_root].peer == LinkRef(inode, index_of(kit, peer_ns, ns), peer_ns)

    run(["ip", "netns", "del", ns])
    snap = collector.collect()
    assert snap.namespace(inode) is None
    # The pool let go of the namespace: it dies, and takes the root end of the veth with it.
    poll_until(lambda: not run(["ip", "link", "show", "dev", peer_root], check=False).stdout)


@pytest.mark.parametrize("with_process", [False, True], ids=["empty", "with a listening process"])
def test_a_deleted_namespace_is_let_go_without_another_collect(kit: KernelKit, collector: LiveCollector,
                                                               with_process: bool) -> None:
    """The pool's sockets pin namespaces; a paused UI must not keep a deleted one (and its veths) alive.
    Nor the sock_diag socket the /proc scan keeps in a namespace with processes, to read its listeners."""
    ns = kit.netns("j1")
    peer_root, _ = kit.veth(kit.name("ja"), kit.name("jb"), None, ns)
    inode = kit.ns_inode(ns)
    if with_process:
        proc = kit.spawn(["python3", "-c", "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', 0));"
                          " s.listen(); time.sleep(300)"], netns=ns)
        pid = proc.pid

        def listening_now() -> bool:
            """The process is in the namespace (`ip netns exec` enters it) and listens there."""
            try:
                if os.stat(f"/proc/{pid}/ns/net").st_ino != inode:
                    return False
                with open(f"/proc/{pid}/net/tcp") as f:
                    return any(line.split()[3] == "0A" for line in f.readlines()[1:])
            except OSError:
                return False

        def listening_shown() -> bool:
            seen = collector.collect().namespace(inode)
            return seen is not None and any(p.pid == pid and p.listening for p in seen.processes)

        # Listening before the collector first sees the namespace: a socket that starts listening later,
        # with no fd opened or closed, is read at the scan's next look there (up to 15 s on its own).
        poll_until(listening_now, timeout=10)
        poll_until(listening_shown, timeout=30)
        scanner = collector._scanner
        assert scanner is not None
        # (asked on the collector's worker: the janitor's prune may be changing what is held meanwhile)
        assert inode in collector._on_worker(scanner.listening.diag.held)
        proc.kill()
        proc.wait(10)
    else:
        collector.collect()
    run(["ip", "netns", "del", ns])
    # no collect from here on: the collector's own janitor notices and drops its sockets
    poll_until(lambda: not run(["ip", "link", "show", "dev", peer_root], check=False).stdout, timeout=5)


def a_device_whose_event_is_lost_is_seen(kit: KernelKit, collector: LiveCollector, ns: str) -> None:
    """A bridge added in `ns`, its event swallowed (as if lost): the next collect still shows it, dumped
    because the counters check listed a device the last dump did not have."""
    inode = kit.ns_inode(ns)
    dev = kit.name("mb")
    kit.ip("link", "add", dev, "type", "bridge", netns=ns)
    poll_until(lambda: inode in collector._hub.take().dirty)
    snap = collector.collect()
    assert snap.find_links(dev, inode)
    assert collector.last_counts["dumped"] >= 1


def test_a_missed_event_is_caught_by_the_counters_check(kit: KernelKit, collector: LiveCollector) -> None:
    """If a device appears and its event is lost, the counters list still reveals it: full re-dump."""
    ns = kit.netns("mx")
    collector.collect()
    a_device_whose_event_is_lost_is_seen(kit, collector, ns)


def test_the_tick_after_a_full_dump_finds_an_untouched_namespace_idle(kit: KernelKit,
                                                                       collector: LiveCollector) -> None:
    """A live collector reads a namespace's counters right after dumping it, as later ticks read them: the
    next tick's answer is compared with that one and the namespace found idle (the very same counters, no
    parse), instead of every namespace's counters being parsed as moved on the second tick of a session.
    The picture of the dumping tick keeps the dump's own counters."""
    ns1, ns2 = kit.netns("id1"), kit.netns("id2")
    a, b = kit.veth(kit.name("ia"), kit.name("ib"), ns1, ns2)  # all down: no counter moves
    i1, i2 = kit.ns_inode(ns1), kit.ns_inode(ns2)
    # The resolve of the dumping tick must still be told that these namespaces were dumped (no counters of
    # their own beside their drafts): a veth pair dumped at both ends then tells its far end's nsid
    # without a question (`refs.ResolveCache.resolve`).
    given: list[set[int]] = []
    resolve = collector._resolved.resolve

    def watched(bases: Any, stats: Any, *args: Any, **kwargs: Any) -> Any:
        given.append(set(stats))
        return resolve(bases, stats, *args, **kwargs)

    collector._resolved.resolve = watched  # type: ignore[method-assign]
    first = collector.collect()
    assert set(by_name(first, i1)) == {"lo", a} and set(by_name(first, i2)) == {"lo", b}
    assert given and not {i1, i2} & given[-1], "the dumping tick gave the resolve counters of its own"
    pool = collector._pool
    assert pool is not None
    for inode in (i1, i2):
        pooled = pool.entries[inode]
        kept = pooled.last_stats
        assert kept is not None and set(kept) == pooled.last_indexes  # read right after the dump
        # what the next tick asks: the answer is the last one, so the very same mapping comes back
        assert pooled.stats is not None and pooled.stats.dump() is kept
    then = collector.collect()
    for inode, dev in ((i1, a), (i2, b)):
        assert by_name(then, inode)[dev].stats == by_name(first, inode)[dev].stats
    assert collector.last_counts["idle"] >= 2


def lo_packets(snap: Snapshot, inode: int) -> Stats:
    return by_name(snap, inode)["lo"].stats


def test_paced_counters_are_read_on_their_turn_and_say_since_when(kit: KernelKit,
                                                                  collector: LiveCollector) -> None:
    """`pace_counters({A}, every=5)`: A's counters are read on every collect; those of B1..B5, moving all
    along (datagrams to 127.0.0.1 in each before each collect), each on one collect in five, on its turn
    (the order it was pooled in: new namespaces' inodes here are all alike modulo 5, and a turn by inode
    would read all five together). Meanwhile a snapshot carries a namespace's counters of its last read, the very objects,
    and names that read's time in `counters_behind`."""
    a = kit.netns("pa")
    bs = [kit.netns(f"pb{i}") for i in range(5)]
    ia = kit.ns_inode(a)
    ibs = [kit.ns_inode(b) for b in bs]
    for ns in (a, *bs):
        kit.ip("link", "set", "lo", "up", netns=ns)
    collector.collect()
    first = collector.collect()  # (counters-only from here on: the B's may be paced)
    last_read = dict.fromkeys(ibs, first)
    collector.pace_counters({ia}, every=5)
    ticks = collector._ticks  # (collects so far: the next one is tick ticks + 1)
    reads: dict[int, list[int]] = {ib: [] for ib in ibs}
    sent_a = lo_packets(first, ia).rx_packets
    for i in range(11):
        for ns in (a, *bs):
            send_traffic(ns, "127.0.0.1")
        snap = collector.collect()
        assert ia not in snap.counters_behind
        assert lo_packets(snap, ia).rx_packets >= sent_a + 3  # A: read on every collect
        sent_a = lo_packets(snap, ia).rx_packets
        for ib in ibs:
            if ib in snap.counters_behind:
                assert snap.counters_behind[ib] == last_read[ib].taken_at
                assert lo_packets(snap, ib) is lo_packets(last_read[ib], ib)
            else:
                assert lo_packets(snap, ib).rx_packets >= lo_packets(last_read[ib], ib).rx_packets + 3
                reads[ib].append(i)
                last_read[ib] = snap
        assert collector.last_counts["counters_behind"] >= sum(ib in snap.counters_behind for ib in ibs)
    for ib, at in reads.items():
        assert len(at) in (2, 3) and all(j - i == 5 for i, j in pairwise(at)), (ib, at)
    # Each on its turn: the order the collector pooled it in (whatever other namespaces came between).
    assert collector._pool is not None
    turns = {ib: collector._pool.entries[ib].turn for ib in ibs}
    assert all(reads[ib][0] == (-(turns[ib] + ticks + 1)) % 5 for ib in ibs), (reads, turns, ticks)


def test_a_missed_event_is_caught_while_counters_are_paced(kit: KernelKit, collector: LiveCollector) -> None:
    """A namespace whose counters are never read in turn (paced beyond any tick) still has its devices
    checked on every collect: a device whose event was lost is seen at the next one. Then, paced no
    more, its counters are read at once."""
    ns = kit.netns("pm")
    inode = kit.ns_inode(ns)
    kit.ip("link", "set", "lo", "up", netns=ns)
    collector.collect()
    before = collector.collect()
    collector.pace_counters(every=1 << 40)
    send_traffic(ns, "127.0.0.1")
    held = collector.collect()
    assert held.counters_behind.get(inode) == before.taken_at
    assert lo_packets(held, inode) is lo_packets(before, inode)
    a_device_whose_event_is_lost_is_seen(kit, collector, ns)
    collector.pace_counters(every=0)
    send_traffic(ns, "127.0.0.1")
    now = collector.collect()
    assert inode not in now.counters_behind
    assert lo_packets(now, inode).rx_packets >= lo_packets(before, inode).rx_packets + 6


def test_a_collect_of_the_changes_asks_only_the_namespaces_that_reported(kit: KernelKit,
                                                                         collector: LiveCollector) -> None:
    """`collect_changes()` (what an event starts in the TUI): a namespace whose event socket reported a
    device is read (the device shown, its counters fresh), the namespace kept current is read, and one
    that reported nothing is not asked at all: its counters are the very objects of its last read, named
    behind since then, even though they moved meanwhile; no turn of the pacing is taken. A device whose
    event was lost is not seen by it, and is by the next `collect()` (the check stays on the interval)."""
    a, b, c = kit.netns("ca"), kit.netns("cb"), kit.netns("cc")
    ia, ib, ic = kit.ns_inode(a), kit.ns_inode(b), kit.ns_inode(c)
    for ns in (a, b, c):
        kit.ip("link", "set", "lo", "up", netns=ns)
    collector.collect()
    collector.pace_counters({ic}, every=0)  # (every counter on a `collect`: only the changes differ)
    before = collector.collect()
    for ns in (a, b, c):
        send_traffic(ns, "127.0.0.1")
    ticks = collector._ticks
    dev = kit.name("cbr")
    kit.ip("link", "add", dev, "type", "bridge", netns=a)
    poll_until(lambda: collector.wait_for_change(0.05))

    snap = collector.collect_changes()
    assert snap.find_links(dev, ia)
    assert collector._ticks == ticks
    for inode in (ia, ic):  # the one that reported, and the one kept current: read
        assert inode not in snap.counters_behind
        assert lo_packets(snap, inode).rx_packets >= lo_packets(before, inode).rx_packets + 3
    assert snap.counters_behind.get(ib) == before.taken_at  # the quiet one: not asked
    assert lo_packets(snap, ib) is lo_packets(before, ib)

    lost = kit.name("clost")
    kit.ip("link", "add", lost, "type", "bridge", netns=b)
    poll_until(lambda: ib in collector._hub.take().dirty)  # (its event swallowed)
    assert not collector.collect_changes().find_links(lost, ib)
    full = collector.collect()
    assert full.find_links(lost, ib)
    assert ib not in full.counters_behind
    assert lo_packets(full, ib).rx_packets >= lo_packets(before, ib).rx_packets + 3
    assert collector._ticks == ticks + 1


def nsid_tables(kit: KernelKit, names: list[str]) -> dict[str, object]:
    """Every nsid the given namespaces hold (`ip -n X netns list-id`), and root's nsid of each (`ip netns
    list` asks root with RTM_GETNSID, a query). Only our own namespaces: others' change meanwhile."""
    tables: dict[str, object] = {}
    for name in names:
        out = kit.ip("netns", "list-id", netns=name)
        tables[name] = sorted(line.strip() for line in out.splitlines() if line.strip())
    listed = {line.split()[0]: line for line in kit.ip("netns", "list").splitlines() if line.strip()}
    tables["root"] = sorted(listed[name] for name in names)
    return tables


def test_read_only_reads_assign_no_nsid_beyond_what_iproute2_reads_do(kit: KernelKit) -> None:
    """Pairs of namespaces with the same index layout (lo 1, veth 2 <-> 2): every B is a candidate for
    every A's peer. After iproute2 has read every namespace (reads that themselves make the kernel number
    a veth's far namespace), a first collect, a repeat and `vnettop dump` must leave every id as it was."""
    pairs = [(kit.netns(f"p{i}a"), kit.netns(f"p{i}b")) for i in range(4)]
    for i, (a, b) in enumerate(pairs):
        kit.veth(kit.name(f"v{i}a"), kit.name(f"v{i}b"), a, b)
    ends = kit.veth(kit.name("ra"), kit.name("rb"), None, pairs[0][0])  # one to root, too
    names = [n for pair in pairs for n in pair]
    for name in names:  # the reference reads
        kit.ip("-d", "link", "show", netns=name)
    kit.ip("-d", "link", "show", "dev", ends[0])
    before = nsid_tables(kit, names)

    with LiveCollector() as collector:
        first = collector.collect()
        repeat = collector.collect()
    env = dict(os.environ, VNETTOP_READ_ONLY="1")
    dump = subprocess.run([sys.executable, "-m", "vnettop", "dump", "--format", "json"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert dump.returncode == 0, dump.stderr
    assert nsid_tables(kit, names) == before

    for snap in (first, repeat):  # and the pairing was done, right
        for i, (a, b) in enumerate(pairs):
            end_a = by_name(snap, kit.ns_inode(a))[kit.name(f"v{i}a")]
            assert end_a.peer == LinkRef(kit.ns_inode(b), 2, kit.name(f"v{i}b"))


def test_counters_only_collects_reuse_the_resolve_and_match_a_full_one(kit: KernelKit,
                                                                        collector: LiveCollector) -> None:
    """A tick that only fetched counters reuses the last resolve: same picture as a fresh collector's,
    with the new counters; a change in one of our namespaces resolves in full again."""
    ns1, ns2 = kit.netns("r1"), kit.netns("r2")
    a, b = kit.veth(kit.name("ra"), kit.name("rb"), ns1, ns2)
    br = kit.name("rbr")
    kit.ip("link", "add", br, "type", "bridge", netns=ns2)
    kit.ip("link", "set", b, "master", br, netns=ns2)
    kit.ip("addr", "add", "10.231.9.1/24", "dev", a, netns=ns1)
    kit.ip("addr", "add", "10.231.9.2/24", "dev", br, netns=ns2)
    for dev, ns in ((a, ns1), (b, ns2), (br, ns2)):
        kit.ip("link", "set", dev, "up", netns=ns)
    i1, i2 = kit.ns_inode(ns1), kit.ns_inode(ns2)
    collector.collect()
    b0 = by_name(collector.collect(), i2)[b].stats
    send_traffic(ns1, "10.231.9.2")

    def reused_with_traffic() -> Snapshot | None:
        s = collector.collect()
        arrived = by_name(s, i2)[b].stats.rx_packets >= b0.rx_packets + 3
        return s if arrived and collector.last_counts["resolve_reused"] else None

    poll_until(reused_with_traffic)

    def same_as_a_fresh_collector() -> tuple[dict[str, Link], dict[str, Link]] | None:
        """A reused tick next to a full collect of a fresh collector, once the kernel settled (links come
        up, IPv6 link-local addresses appear, ports go forwarding: all after the commands returned)."""
        snap = collector.collect()
        with LiveCollector() as fresh:
            full = fresh.collect()
            assert fresh.last_counts["resolve_reused"] == 0
        mine, theirs = by_name(snap, i1) | by_name(snap, i2), by_name(full, i1) | by_name(full, i2)
        if not collector.last_counts["resolve_reused"]:
            return None
        # counters may move between the two collects (IPv6 chatter), nothing else may differ
        if {n: replace(x, stats=Stats()) for n, x in mine.items()} != \
                {n: replace(x, stats=Stats()) for n, x in theirs.items()}:
            return None
        return mine, theirs

    mine, _ = poll_until(same_as_a_fresh_collector)
    assert set(mine) == {"lo", a, b, br}
    assert mine[b].stats.rx_packets >= b0.rx_packets + 3

    # More traffic, now that the bridge knows both MACs: no event of ours dirties a namespace, only the
    # counters move, and reused ticks must show them. A full resolve meanwhile (others' namespaces come
    # and go on this host) would show them anyway: then send again, until only reused ticks saw it.
    sent: list[int] = []

    def counted() -> bool:
        if not sent:
            send_traffic(ns1, "10.231.9.2")
            sent.append(ip_json(kit, "-s", "link", "show", "dev", a, netns=ns1)[0]["stats64"]["tx"]["packets"])
        s = collector.collect()
        if not collector.last_counts["resolve_reused"]:
            sent.clear()
            return False
        return by_name(s, i1)[a].stats.tx_packets >= sent[0]

    poll_until(counted)
    assert mine[a].peer == LinkRef(i2, mine[b].ifindex, b) and mine[b].master == LinkRef(i2, mine[br].ifindex, br)
    assert mine[br].bridge is not None and mine[br].bridge.ports == (mine[b].ifindex,)

    kit.ip("link", "set", b, "nomaster", netns=ns2)  # an event: this namespace is dumped, all resolved

    def detached() -> Snapshot | None:
        s = collector.collect()
        return s if by_name(s, i2)[b].master is None else None

    after = poll_until(detached)
    assert collector.last_counts["resolve_reused"] == 0
    assert by_name(after, i2)[br].bridge.ports == ()  # type: ignore[union-attr]


def test_the_collecting_thread_is_named_for_top(collector: LiveCollector) -> None:
    """`top -H` / `ps -L` (and the TUI benchmark) can tell the collection's CPU from the drawing's."""
    collector.collect()
    names = set()
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                names.add(f.read().strip())
        except FileNotFoundError:  # a helper thread that just ended
            continue
    assert COLLECT_THREAD in names


def test_a_collect_gives_way_to_the_ui_but_not_for_long(collector: LiveCollector) -> None:
    """While the UI answers a key (hold_until ahead), the collect pauses between stages; never more
    than MAX_HOLD in all, and the pause is not counted as collecting time."""
    collector.collect()
    t0 = time.monotonic()
    collector.hold_until = t0 + 0.15
    collector.collect()
    wall = time.monotonic() - t0
    held = collector.last_timings["gave_way"] / 1000
    assert 0 < held <= 0.15 + 0.05 and wall >= held
    assert time.monotonic() >= collector.hold_until  # it did not finish while asked to wait
    total = collector.last_timings["total"] / 1000
    assert total <= wall - held + 0.005  # the pause is not collecting time
    collector.hold_until = time.monotonic() + 60  # a key held down forever
    t0 = time.monotonic()
    collector.collect()
    assert time.monotonic() - t0 < MAX_HOLD + 2
    assert MAX_HOLD - 0.01 <= collector.last_timings["gave_way"] / 1000 <= MAX_HOLD + 0.05
    collector.hold_until = 0.0
    collector.collect()
    assert collector.last_timings["gave_way"] == 0


def test_counters_read_after_a_pause_for_the_ui_say_how_late(
        kit: KernelKit, collector: LiveCollector, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key arrives while the first namespace's counters are read: the collect gives way at its next
    turn (every 16 namespaces), and the namespaces read after that pause are named with how late their
    counters were read (`Snapshot.counters_late`: rates divide by the time between two reads); those
    read before it are not, and a collect that never paused names none."""
    for i in range(18):
        kit.netns(f"cl{i}")
    collector.collect()
    from vnettop.collect import counters

    real_dump = counters.StatsSocket.dump
    asked: list[float] = []

    def dump(sock: counters.StatsSocket) -> dict[int, Stats]:
        if not asked:  # (the first namespace of the loop read this way: root, unless it had news)
            asked.append(time.monotonic())
            collector.hold_until = asked[0] + 0.1
        return real_dump(sock)

    monkeypatch.setattr(counters.StatsSocket, "dump", dump)
    snap = collector.collect()
    held = collector.last_timings["gave_way"] / 1000
    paused = {ns for ns, by in snap.counters_late.items() if by >= 0.09}  # (not a slow full dump)
    after = {n.inode for i, n in enumerate(snap.namespaces) if i >= 16 and n.readable}
    assert asked and 0.09 <= held <= 0.1 + 0.05
    assert paused == after and len(after) >= 2, (len(paused), len(after))
    assert max(snap.counters_late.values()) <= held + 0.05, snap.counters_late
    monkeypatch.setattr(counters.StatsSocket, "dump", real_dump)
    collector.hold_until = 0.0
    assert dict(collector.collect().counters_late) == {}


def test_counters_read_after_a_slow_full_dump_say_how_late(
        kit: KernelKit, collector: LiveCollector, monkeypatch: pytest.MonkeyPatch) -> None:
    """A namespace with news is dumped in full, here slowly (30 ms): the namespaces read after it on
    that tick are named late by about that much, those before it are not."""
    names = [kit.netns(f"cs{i}") for i in range(8)]
    collector.collect()
    snap = collector.collect()
    order = [n.inode for n in snap.namespaces]
    mine = sorted((kit.ns_inode(name), name) for name in names)
    slow_inode, slow_name = mine[3]
    real_read = LiveCollector._read_namespace

    def read_namespace(self: LiveCollector, pooled: Any, *args: Any, **kwargs: Any) -> Any:
        if pooled.inode == slow_inode:
            time.sleep(0.03)
        return real_read(self, pooled, *args, **kwargs)

    monkeypatch.setattr(LiveCollector, "_read_namespace", read_namespace)
    run(["ip", "-n", slow_name, "link", "add", kit.name("cd"), "type", "veth", "peer", "name", kit.name("ce")])
    snap = collector.collect()
    late = {ns: by for ns, by in snap.counters_late.items() if by >= 0.025}
    at = order.index(slow_inode)
    assert set(late) >= {inode for inode, _ in mine[4:]}, late
    assert not set(late) & set(order[:at + 1]), late
    assert all(by < 0.03 + 0.05 for by in late.values()), late


def test_a_one_shot_collect_is_never_late_and_takes_its_start_as_its_moment(
        kit: KernelKit, monkeypatch: pytest.MonkeyPatch) -> None:
    """A one-shot collect (dump, export) reads everything in full once: there is no next tick to be late
    against, so nothing is named late however slow the dumps; its moment is when it started."""
    names = [kit.netns(f"co{i}") for i in range(3)]
    real_read = LiveCollector._read_namespace

    def read_namespace(self: LiveCollector, pooled: Any, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.01)
        return real_read(self, pooled, *args, **kwargs)

    from vnettop.collect.namespaces import Discoverer

    real_discover = Discoverer.discover

    def discover(self: Discoverer, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.1)  # (a slow stage before the namespaces are read)
        return real_discover(self, *args, **kwargs)

    monkeypatch.setattr(LiveCollector, "_read_namespace", read_namespace)
    monkeypatch.setattr(Discoverer, "discover", discover)
    collector = LiveCollector(sources=(), one_shot=True)
    try:
        before = datetime.now(timezone.utc)
        snap = collector.collect()
    finally:
        collector.close()
    assert {kit.ns_inode(name) for name in names} <= {n.inode for n in snap.namespaces}
    assert dict(snap.counters_late) == {}
    assert before <= snap.taken_at <= before + timedelta(seconds=0.09)  # (the slow stage before: 0.1 s)

def test_a_look_at_everyone_taken_by_the_janitors_discovery_is_the_next_scans_too(
        collector: LiveCollector, monkeypatch: pytest.MonkeyPatch) -> None:
    """A mount change makes discovery look at every process; when the janitor's prune (between two
    collects) is the discovery that took it, the next /proc scan must still compare every process's fd
    count, as after the collect's own such discovery, not fall back to its turns."""
    from vnettop.collect.processes import ProcScanner

    collector.collect()
    asked: list[bool] = []
    real_scan = ProcScanner.scan

    def scan(self: ProcScanner, disc: Any, full: bool = False, everyone: bool = False) -> Any:
        asked.append(everyone)
        return real_scan(self, disc, full=full, everyone=everyone)

    monkeypatch.setattr(ProcScanner, "scan", scan)
    collector._discoverer.look_at_everyone()
    executor = collector._executor
    assert executor is not None
    executor.submit(collector._prune).result()  # (what the janitor does between two collects)
    collector.collect()  # (the prune's discovery took the look at everyone; this one's does not)
    assert asked == [True]
    assert collector._scan_everyone is False  # (used up by that scan)

def _without_counters(links: list[Link]) -> list[Link]:
    return sorted((replace(link, stats=Stats()) for link in links), key=lambda link: link.key)


def _first_difference(ours: list[Link], theirs: list[Link]) -> str:
    """Which device and fields differ first (a readable assertion message)."""
    if [x.key for x in ours] != [y.key for y in theirs]:
        return f"devices: {sorted({x.name for x in ours} ^ {y.name for y in theirs})}"
    for x, y in zip(ours, theirs, strict=True):
        if x != y:
            fields = [f for f in x.__dataclass_fields__ if getattr(x, f) != getattr(y, f)]
            return f"{x.name}: " + "; ".join(f"{f}: {getattr(x, f)!r} != {getattr(y, f)!r}" for f in fields)
    return "equal"


def test_fdb_only_changes_read_the_fdb_again_and_give_what_a_full_dump_gives(
        kit: KernelKit, collector: LiveCollector) -> None:
    """A bridge learning or forgetting a MAC sends only FDB notifications: the collector reads that
    namespace's FDB again instead of all its devices (counted as `fdb_only`), and the picture equals a
    fresh collector's full dump after each change; a device change with it still dumps in full."""
    ns = kit.netns("fq")
    # No IPv6 here: its address notifications (DAD finishing) would come with the FDB ones.
    run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
         "net.ipv6.conf.default.disable_ipv6=1"])
    br = kit.bridge(kit.name("fqb"), netns=ns)
    p1, p2 = kit.veth(kit.name("fq1"), kit.name("fq2"), ns, ns)
    for dev in (br, p1, p2):
        kit.ip("link", "set", dev, "up", netns=ns)
    kit.ip("link", "set", p1, "master", br, netns=ns)
    inode = kit.ns_inode(ns)

    def fdb_of(snap: Snapshot) -> set[str]:
        bri = by_name(snap, inode)[br].bridge
        return {e.mac for e in bri.fdb} if bri is not None else set()

    def fresh() -> list[Link]:
        with LiveCollector(sources=(), only=lambda e: e.inode == inode) as other:
            return _without_counters(list(other.collect().links_in(inode)))

    def settled() -> bool:  # the bridge has its own entries, and linkwatch has told every device is up
        snap = collector.collect()
        return bool(fdb_of(snap)) and all(by_name(snap, inode)[d].oper_state == "up" for d in (br, p1, p2))

    poll_until(settled)
    collector.collect()  # takes the last notifications of the set-up
    mac = "02:00:00:00:fd:01"
    for verb, present in (("add", True), ("del", False)):
        run(["bridge", "-n", ns, "fdb", verb, mac, "dev", p1, "master", "static"])
        seen: list[int] = []

        def shown(want: bool = present, seen: list[int] = seen) -> Snapshot | None:
            snap = collector.collect()
            seen.append(collector.last_counts["fdb_only"])
            return snap if (mac in fdb_of(snap)) == want else None

        snap = poll_until(shown)
        assert snap is not None and max(seen) >= 1  # the FDB alone was read again
        assert _without_counters(list(snap.links_in(inode))) == fresh()
    # An FDB change together with a device change: a full dump (the new device is there, right).
    run(["bridge", "-n", ns, "fdb", "add", mac, "dev", p1, "master", "static"])
    kit.ip("link", "set", p2, "master", br, netns=ns)

    def both() -> Snapshot | None:
        snap = collector.collect()
        port = by_name(snap, inode)[p2].bridge_port
        return snap if mac in fdb_of(snap) and port is not None else None

    snap = poll_until(both)
    assert snap is not None
    assert _without_counters(list(snap.links_in(inode))) == fresh()


LATE_LISTENER = """
import signal, socket
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
print("ready", flush=True)
signal.sigwait({signal.SIGUSR1})
s = socket.socket()
s.bind(("0.0.0.0", 0))
s.listen()
print(s.getsockname()[1], flush=True)
signal.sigwait({signal.SIGUSR1})
"""


def test_a_known_process_that_starts_listening_shows_through_the_live_collector(kit: KernelKit) -> None:
    """A process already known in a namespace opens a listening socket while nothing else changes there:
    the namespace's record lists it with the port within `rota.ROUNDS` collects a second apart (an old
    process's fd count is compared on its turn)."""
    ns = kit.netns("kl")
    inode = kit.ns_inode(ns)
    proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", LATE_LISTENER],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True)
    kit.procs.append(proc)
    assert proc.stdout is not None and proc.stdout.readline().split() == [b"ready"]

    def record(snap: Snapshot) -> Namespace:
        (found,) = [n for n in snap.namespaces if n.inode == inode]
        return found

    with LiveCollector(sources=(), only=lambda e: e.inode == inode) as collector:
        poll_until(lambda: proc.pid in record(collector.collect()).pids)
        before = collector.collect()
        assert not any(p.pid == proc.pid for p in record(before).processes)  # known, listening on nothing
        os.kill(proc.pid, signal.SIGUSR1)
        port = int(proc.stdout.readline())

        def listening() -> bool:
            return any(p.pid == proc.pid and any(item.port == port for item in p.listening)
                       for p in record(collector.collect()).processes)

        poll_until(listening, timeout=ROUNDS + 3, interval=1.0)  # collects at the TUI's cadence


def test_fdb_notifications_are_applied_without_reading_and_give_what_a_full_dump_gives(
        kit: KernelKit, collector: LiveCollector) -> None:
    """FDB notifications alone change the last picture's bridges without asking the kernel (counted as
    `fdb_applied`): an entry added, moved to another port, made permanent, a second one added and the
    first deleted, and a burst of more than `FDB_NOTES_MAX` (read instead, not applied); after each the
    namespace's picture equals a fresh collector's full dump. (VLAN entries need a VLAN-aware bridge,
    which this machine kind's kernel cannot make; the key they are kept by includes the VLAN.)"""
    ns = kit.netns("fa")
    run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
         "net.ipv6.conf.default.disable_ipv6=1"])  # no address notifications mixed in
    br = kit.bridge(kit.name("fab"), netns=ns)
    p1, p2 = kit.veth(kit.name("fa1"), kit.name("fa2"), ns, ns)
    for dev in (br, p1, p2):
        kit.ip("link", "set", dev, "up", netns=ns)
    for dev in (p1, p2):
        kit.ip("link", "set", dev, "master", br, netns=ns)
    inode = kit.ns_inode(ns)

    def fdb_of(snap: Snapshot) -> set[FdbEntry]:
        bri = by_name(snap, inode)[br].bridge
        return set(bri.fdb) if bri is not None else set()

    def fresh() -> list[Link]:
        with LiveCollector(sources=(), only=lambda e: e.inode == inode) as other:
            return _without_counters(list(other.collect().links_in(inode)))

    def settled() -> bool:
        snap = collector.collect()
        return bool(fdb_of(snap)) and all(by_name(snap, inode)[d].oper_state == "up" for d in (br, p1, p2))

    poll_until(settled)
    collector.collect()  # the set-up's last notifications
    idx = {name: link.ifindex for name, link in by_name(collector.collect(), inode).items()}
    mac, other = "02:00:00:00:fa:01", "02:00:00:00:fa:02"
    burst = "".join(f"fdb add 02:00:00:01:{i // 256:02x}:{i % 256:02x} dev {p2} master static\n"
                    for i in range(events.FDB_NOTES_MAX + 10))
    steps: list[tuple[Callable[[], object], Callable[[set[FdbEntry]], bool], str]] = [
        (lambda: run(["bridge", "-n", ns, "fdb", "add", mac, "dev", p1, "master", "static"]),
         lambda f: FdbEntry(mac, idx[p1], "static") in f, "fdb_applied"),
        (lambda: run(["bridge", "-n", ns, "fdb", "replace", mac, "dev", p2, "master", "static"]),
         lambda f: FdbEntry(mac, idx[p2], "static") in f and FdbEntry(mac, idx[p1], "static") not in f,
         "fdb_applied"),
        (lambda: run(["bridge", "-n", ns, "fdb", "replace", mac, "dev", p2, "master", "permanent"]),
         lambda f: FdbEntry(mac, idx[p2], "permanent") in f, "fdb_applied"),
        (lambda: run(["bridge", "-n", ns, "fdb", "add", other, "dev", p1, "master", "static"]),
         lambda f: FdbEntry(other, idx[p1], "static") in f and FdbEntry(mac, idx[p2], "permanent") in f,
         "fdb_applied"),
        (lambda: run(["bridge", "-n", ns, "fdb", "del", mac, "dev", p2, "master"]),
         lambda f: FdbEntry(mac, idx[p2], "permanent") not in f and FdbEntry(other, idx[p1], "static") in f,
         "fdb_applied"),
    ]
    for act, shown, counted in steps:
        act()
        seen: list[int] = []

        def picture(shown: Callable[[set[FdbEntry]], bool] = shown, seen: list[int] = seen,
                    counted: str = counted) -> Snapshot | None:
            snap = collector.collect()
            seen.append(collector.last_counts[counted])
            return snap if shown(fdb_of(snap)) else None

        snap = poll_until(picture)
        assert snap is not None and max(seen) >= 1, counted
        assert _without_counters(list(snap.links_in(inode))) == fresh()
    # A burst: past FDB_NOTES_MAX notifications (or the socket's overflow), the FDB is read instead.
    subprocess.run(["bridge", "-n", ns, "-batch", "-"], input=burst, text=True, check=True)
    applied: list[int] = []

    def all_there() -> Snapshot | None:
        snap = collector.collect()
        applied.append(collector.last_counts["fdb_applied"])
        return snap if len(fdb_of(snap)) > events.FDB_NOTES_MAX else None

    snap = poll_until(all_there)
    assert snap is not None and max(applied) == 0
    assert _without_counters(list(snap.links_in(inode))) == fresh()


def test_addresses_alone_changed_in_a_big_namespace_are_read_without_a_full_dump(
        kit: KernelKit, collector: LiveCollector) -> None:
    """In a namespace of 130 devices, addresses added and removed with no device changing (as IPv6
    finishing duplicate address detection on a thousand fresh devices does in root): the addresses are
    read again and joined, not the whole namespace (counted as `links_only`), and after
    each change the picture equals a fresh collector's full dump."""
    ns = kit.netns("aq")
    run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
         "net.ipv6.conf.default.disable_ipv6=1"])  # no IPv6 address notifications of its own
    batch = "".join(f"link add vntaq{i}a type veth peer name vntaq{i}b\n" for i in range(64))
    subprocess.run(["ip", "-n", ns, "-batch", "-"], input=batch, text=True, check=True)
    dev = "vntaq7a"
    inode = kit.ns_inode(ns)

    def fresh() -> list[Link]:
        with LiveCollector(sources=(), only=lambda e: e.inode == inode) as other:
            return _without_counters(list(other.collect().links_in(inode)))

    poll_until(lambda: dev in by_name(collector.collect(), inode))
    collector.collect()  # the set-up's last notifications
    for argv, present in ((["addr", "add", "10.78.0.1/24", "dev", dev], True),
                          (["addr", "add", "10.78.1.1/24", "dev", "vntaq9b"], True),
                          (["addr", "del", "10.78.0.1/24", "dev", dev], False)):
        kit.ip(*argv, netns=ns)
        counts: list[dict[str, int]] = []

        def seen(want: bool = present, counts: list[dict[str, int]] = counts) -> Snapshot | None:
            snap = collector.collect()
            counts.append(dict(collector.last_counts))
            return snap if ("10.78.0.1/24" in by_name(snap, inode)[dev].addresses) == want else None

        snap = poll_until(seen)
        assert snap is not None
        assert sum(c["links_only"] for c in counts) >= 1, counts  # (a full dump is not counted there)
        ours, theirs = _without_counters(list(snap.links_in(inode))), fresh()
        assert ours == theirs, (argv, _first_difference(ours, theirs))


def test_a_few_devices_changed_in_a_big_namespace_are_read_alone_and_give_what_a_full_dump_gives(
        kit: KernelKit, collector: LiveCollector) -> None:
    """In a namespace of 130 devices (a hypervisor's root, smaller), a device added, changed, renamed,
    enslaved, given another MAC while a port, its bridge changed, an address added, the port released,
    moved away and deleted: each change is read by asking for the
    devices its notifications named (`links_only`), and after each the namespace's picture equals a
    fresh collector's full dump of it."""
    ns, away = kit.netns("lq"), kit.netns("lr")
    run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
         "net.ipv6.conf.default.disable_ipv6=1"])  # no IPv6 address notifications mixed in
    batch = "".join(f"link add vntlq{i}a type veth peer name vntlq{i}b\n" for i in range(64))
    subprocess.run(["ip", "-n", ns, "-batch", "-"], input=batch, text=True, check=True)
    br = kit.bridge(kit.name("lqb"), netns=ns)
    kit.ip("link", "set", br, "up", netns=ns)
    inode = kit.ns_inode(ns)
    a, b, c = kit.name("lqa"), kit.name("lqc"), kit.name("lqd")

    both = {inode, kit.ns_inode(away)}

    def fresh() -> list[Link]:  # (the namespace a veth end moves to is read too: its peer is there)
        with LiveCollector(sources=(), only=lambda e: e.inode in both) as other:
            return _without_counters(list(other.collect().links_in(inode)))

    poll_until(lambda: by_name(collector.collect(), inode).get(br) is not None)
    collector.collect()  # the set-up's last notifications
    steps: list[tuple[list[str], Callable[[dict[str, Link]], bool]]] = [
        (["link", "add", a, "type", "veth", "peer", "name", b], lambda s: a in s and b in s),
        (["link", "set", a, "mtu", "1400"], lambda s: s[a].mtu == 1400),
        (["link", "set", b, "name", c], lambda s: c in s and b not in s),
        (["link", "set", a, "master", br], lambda s: s[a].master is not None),
        (["link", "set", a, "address", "02:00:00:00:77:01"], lambda s: s[a].mac == "02:00:00:00:77:01"),
        (["link", "set", br, "mtu", "1300"], lambda s: s[br].mtu == 1300),  # a bridge read again: its FDB kept
        (["addr", "add", "10.77.0.1/24", "dev", br], lambda s: "10.77.0.1/24" in s[br].addresses),
        (["link", "set", a, "nomaster"], lambda s: s[a].master is None),
        (["link", "set", c, "netns", away], lambda s: c not in s),
        (["link", "del", a], lambda s: a not in s),
    ]
    partial = 0
    for argv, shown in steps:
        kit.ip(*argv, netns=ns)

        def seen(shown: Callable[[dict[str, Link]], bool] = shown) -> Snapshot | None:
            nonlocal partial
            snap = collector.collect()
            partial += collector.last_counts["links_only"]
            return snap if shown(by_name(snap, inode)) else None

        snap = poll_until(seen)
        assert snap is not None
        ours, theirs = _without_counters(list(snap.links_in(inode))), fresh()
        assert ours == theirs, (argv, _first_difference(ours, theirs))
    assert partial >= len(steps) - 2  # (a change may come in two notifications, read in two collects)


def test_the_namespaces_come_back_as_the_same_tuple_until_one_of_them_changes(kit: KernelKit,
                                                                               collector: LiveCollector) -> None:
    """An idle tick hands back the last tuple of Namespace records itself; a namespace named or deleted
    shows at the next collect, and a process that comes to listen in one when the scan finds it, each in
    a new tuple."""
    ns = kit.netns("t1")
    inode = kit.ns_inode(ns)
    collector.collect()
    last: list[tuple[Namespace, ...]] = [collector.collect().namespaces]

    def idle_tick() -> bool:  # (another process on the host may start or stop listening meanwhile)
        now = collector.collect().namespaces
        same, last[0] = now is last[0], now
        return same

    poll_until(idle_tick, timeout=30)
    named = last[0]
    with kit.second_name(ns, "ta") as alias:
        snap = collector.collect()
        assert snap.namespaces is not named
        seen = snap.namespace(inode)
        assert seen is not None and seen.names == tuple(sorted([ns, alias]))
    poll_until(idle_tick, timeout=30)
    before = last[0]
    proc = kit.spawn(["python3", "-c", "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', 0));"
                      " s.listen(); time.sleep(300)"], netns=ns)

    def listening_shown() -> bool:
        seen = collector.collect().namespace(inode)
        return seen is not None and any(p.pid == proc.pid and p.listening for p in seen.processes)

    poll_until(listening_shown, timeout=30)
    assert collector.collect().namespaces is not before
    poll_until(idle_tick, timeout=30)
    before = last[0]
    proc.kill()
    proc.wait(10)
    run(["ip", "netns", "del", ns])
    snap = collector.collect()
    assert snap.namespaces is not before and snap.namespace(inode) is None
