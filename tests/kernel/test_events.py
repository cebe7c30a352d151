"""Change notifications: decoding (pure, from hand-built messages) and waking up on real kernel changes.

Other engineers change the host while these tests run, so a wake-up alone proves nothing: each test
waits until *its own* change is among the notifications received (or the /run/netns changes), and
measures the time from the change to that wake-up.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable

import pytest

from tests.kernelkit import KernelKit, poll_until, run
from vnettop.collect.collector import LiveCollector
from vnettop.collect.events import (
    AF_BRIDGE,
    RTM_DELLINK,
    RTM_DELNEIGH,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWNEIGH,
    RTM_NEWNSID,
    RTMGRP_NEIGH,
    NetlinkEvent,
    parse_messages,
)
from vnettop.linux import nsenter

LATENCY = 0.5  # seconds from a change to the wake-up that reports it


# -- decoding (pure) --------------------------------------------------------------------------------


def _nla(atype: int, payload: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(payload), atype) + payload
    return raw + b"\0" * (-len(raw) % 4)


def _msg(mtype: int, body: bytes) -> bytes:
    return struct.pack("=IHHII", 16 + len(body), mtype, 0, 0, 0) + body


def _ifinfo(index: int, *attrs: bytes, family: int = 0) -> bytes:
    return struct.pack("=BxHiII", family, 1, index, 0, 0) + b"".join(attrs)


def test_parse_a_move_is_a_dellink_with_the_new_nsid() -> None:
    data = _msg(RTM_DELLINK, _ifinfo(7, _nla(3, b"veth-a\0"), _nla(45, struct.pack("=i", 3)),
                                     _nla(49, struct.pack("=I", 12))))
    (ev,) = parse_messages(data, netns=4026532000)
    assert ev == NetlinkEvent(4026532000, RTM_DELLINK, 0, 7, "veth-a", 3, 12)
    assert ev.kind == "link" and ev.moved and ev.shows


def test_parse_several_messages_and_kinds() -> None:
    data = (_msg(RTM_NEWLINK, _ifinfo(2, _nla(3, b"br0\0")))
            + _msg(RTM_NEWADDR, struct.pack("=BBBBI", 2, 24, 0, 0, 5))
            + _msg(RTM_NEWNEIGH, struct.pack("=BxxxiHBB", 7, 8, 2, 0, 0))
            + _msg(RTM_NEWNEIGH, struct.pack("=BxxxiHBB", 2, 8, 2, 0, 0))
            + _msg(RTM_NEWNSID, struct.pack("=Bxxx", 0)))
    events = parse_messages(data, netns=1)
    assert [(e.kind, e.ifindex) for e in events] == [
        ("link", 2), ("addr", 5), ("fdb", 8), ("neigh", 8), ("nsid", None)]
    assert [e.shows for e in events] == [True, True, False, False, False]
    assert [e.dirties for e in events] == [True, True, True, False, False]
    assert events[0].ifname == "br0" and not events[0].moved


def test_parse_truncated_or_garbage_never_raises() -> None:
    good = _msg(RTM_NEWLINK, _ifinfo(3, _nla(3, b"x\0")))
    assert parse_messages(good[:10], 1) == []
    assert len(parse_messages(good + good[:20], 1)) == 1
    assert parse_messages(b"\xff" * 64, 1) == []
    bad_attr = _msg(RTM_NEWLINK, _ifinfo(4) + struct.pack("=HH", 200, 3))  # attribute longer than message
    (ev,) = parse_messages(bad_attr, 1)
    assert ev.ifindex == 4 and ev.ifname is None


# -- real kernel --------------------------------------------------------------------------------------


def wake_latency(c: LiveCollector, change: Callable[[], None], seen: Callable[[], bool],
                 budget: float = 5.0) -> float:
    """Seconds from the end of `change()` to the wake_for_change return after which `seen()` holds.

    The waiter is started before the change; it may wake for other people's changes meanwhile
    (a shared host), so it keeps waiting until its own change is seen. It waits `budget` seconds from
    the end of `change()`, however long that took: right after many namespaces were deleted (earlier
    tests), the kernel may take seconds to make a new one, and that is not vnettop's latency.
    """
    woke: list[float] = []
    done: list[float] = []  # when change() returned
    started = threading.Event()
    gave_up = threading.Event()

    def waiter() -> None:
        started.set()
        while not gave_up.is_set():
            limit = done[0] + budget if done else time.monotonic() + 0.5  # slices until the change is made
            remaining = limit - time.monotonic()
            if remaining <= 0:
                return
            if c.wait_for_change(min(remaining, 0.5)) and seen():
                woke.append(time.monotonic())
                return

    thread = threading.Thread(target=waiter)
    thread.start()
    started.wait()
    began = time.monotonic()
    try:
        change()
    finally:
        done.append(time.monotonic())
    thread.join(budget + 1)
    gave_up.set()
    assert woke, (f"the change never woke wait_for_change within {budget} s of its end (it took "
                  f"{done[0] - began:.2f} s); netns changes seen: {c.recent_netns_changes()[-5:]}")
    return woke[0] - done[0]


def _event(c: LiveCollector, msg_type: int, name: str, netns: int) -> NetlinkEvent | None:
    return next((e for e in c.recent_events()
                 if e.msg_type == msg_type and e.ifname == name and e.netns == netns), None)


@pytest.mark.kernel
def test_link_added_set_up_and_deleted_wake_the_waiter(kit: KernelKit, collector: LiveCollector) -> None:
    ns = kit.netns("e1")
    inode = kit.ns_inode(ns)
    collector.collect()  # pools the namespace's sockets
    dev = kit.name("eb")

    lat = wake_latency(collector, lambda: kit.ip("link", "add", dev, "type", "bridge", netns=ns),
                       lambda: _event(collector, RTM_NEWLINK, dev, inode) is not None)
    assert lat <= LATENCY
    assert collector.collect().find_links(dev, inode)

    def is_up() -> bool:
        return any(e.ifname == dev and e.msg_type == RTM_NEWLINK and e.netns == inode
                   for e in collector.recent_events()[-20:]) and bool(
            (links := collector.collect().find_links(dev, inode)) and links[0].admin_up)

    assert wake_latency(collector, lambda: kit.ip("link", "set", dev, "up", netns=ns), is_up) <= LATENCY

    lat = wake_latency(collector, lambda: kit.ip("link", "del", dev, netns=ns),
                       lambda: _event(collector, RTM_DELLINK, dev, inode) is not None)
    assert lat <= LATENCY
    assert not collector.collect().find_links(dev, inode)


@pytest.mark.kernel
def test_a_move_to_another_namespace_wakes_and_is_seen_as_a_move(kit: KernelKit,
                                                                  collector: LiveCollector) -> None:
    src, dst = kit.netns("m1"), kit.netns("m2")
    a, b = kit.name("ma"), kit.name("mb")
    kit.ip("link", "add", a, "type", "veth", "peer", "name", b, netns=src)
    kit.ip("netns", "set", dst, "7", netns=src)  # a non-zero nsid, so byte order shows
    collector.collect()
    isrc, idst = kit.ns_inode(src), kit.ns_inode(dst)

    lat = wake_latency(collector, lambda: kit.ip("link", "set", a, "netns", dst, netns=src),
                       lambda: _event(collector, RTM_DELLINK, a, isrc) is not None)
    assert lat <= LATENCY
    gone = _event(collector, RTM_DELLINK, a, isrc)
    assert gone is not None and gone.moved
    # the nsid in the event is the one the source namespace has for the destination (host byte order)
    listed = [line.split() for line in kit.ip("netns", "list-id", netns=src).splitlines() if dst in line]
    assert gone.new_nsid == int(listed[0][1]) == 7
    # the destination hears it arrive (drained by a further wait if the first one returned before)
    poll_until(lambda: collector.wait_for_change(0.05) is not None and _event(collector, RTM_NEWLINK, a, idst),
               timeout=LATENCY)

    snap = collector.collect()
    (moved,) = snap.find_links(a, idst)
    assert not snap.find_links(a, isrc)
    assert moved.peer is not None and moved.peer.netns == isrc and moved.peer.name == b


@pytest.mark.kernel
def test_ip_netns_add_and_del_are_noticed(kit: KernelKit, collector: LiveCollector) -> None:
    collector.collect()
    name = kit.name("ea")
    path = f"/run/netns/{name}"
    kit.namespaces.append(name)  # removed by the kit even if the test fails

    def noticed() -> bool:
        return any(p == path and what in ("added", "changed") for what, p in collector.recent_netns_changes())

    assert wake_latency(collector, lambda: run(["ip", "netns", "add", name]) and None, noticed) <= LATENCY
    assert collector.collect().find_namespace(name) is not None

    def removed() -> bool:
        return any(p == path and what in ("removed", "changed")
                   for what, p in collector.recent_netns_changes()[-10:])

    assert wake_latency(collector, lambda: run(["ip", "netns", "del", name]) and None, removed) <= LATENCY
    assert collector.collect().find_namespace(name) is None


@pytest.mark.kernel
def test_close_interrupts_a_waiter(collector: LiveCollector) -> None:
    collector.collect()
    result: list[tuple[bool, float]] = []
    started = threading.Event()

    def waiter() -> None:
        started.set()
        while True:  # others' changes may wake it early: wait until it reports the close (False)
            t0 = time.monotonic()
            if not collector.wait_for_change(30):
                result.append((False, time.monotonic() - t0))
                return

    thread = threading.Thread(target=waiter)
    thread.start()
    started.wait()
    t_close = time.monotonic()
    collector.close()
    thread.join(5)
    assert result and result[0][0] is False
    assert time.monotonic() - t_close < 2.0
    assert collector.wait_for_change(10) is False  # and returns at once after close
    with pytest.raises(RuntimeError):
        collector.collect()


@pytest.mark.kernel
def test_an_overflowing_event_socket_leads_to_a_redump(kit: KernelKit, collector: LiveCollector) -> None:
    ns = kit.netns("ov")
    inode = kit.ns_inode(ns)
    collector.collect()
    hub = collector._hub
    with hub._lock:
        hub._socks[inode].setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)  # the kernel's minimum
    dev = kit.name("ob")
    kit.ip("link", "add", dev, "type", "bridge", netns=ns)
    batch = "".join(f"link set {dev} {'up' if i % 2 == 0 else 'down'}\n" for i in range(60))
    batch += f"link set {dev} mtu 1400\n"
    subprocess.run(["ip", "-n", ns, "-batch", "-"], input=batch, text=True, check=True)
    before = hub.overflows
    snap = collector.collect()  # takes the changes: the overflow marks the namespace for a re-dump
    assert hub.overflows > before
    (link,) = snap.find_links(dev, inode)
    assert link.mtu == 1400 and link.admin_up is False  # the last state, read by a full dump


@pytest.mark.kernel
def test_arp_and_nd_neighbours_never_reach_the_event_sockets(kit: KernelKit, collector: LiveCollector) -> None:
    """The neighbour group is joined for bridge forwarding entries; IPv4/IPv6 neighbour entries (a flood
    on a host whose devices just came up) are dropped by the kernel before they reach the hub. A plain
    socket joined to the same group in the same namespace shows they were sent."""
    ns = kit.netns("nf")
    inode = kit.ns_inode(ns)
    a, b = kit.veth(kit.name("na"), kit.name("nb"), ns, ns)
    br = kit.bridge(kit.name("nbr"), ns)
    kit.ip("link", "set", b, "master", br, netns=ns)
    for dev in (a, b, br):
        kit.ip("link", "set", dev, "up", netns=ns)
    collector.collect()  # pools the namespace: its event socket is open from here on
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        plain = nsenter.socket_in(fd)
    finally:
        os.close(fd)
    with plain:
        plain.bind((0, RTMGRP_NEIGH))
        kit.ip("neigh", "add", "192.0.2.7", "lladdr", "02:00:00:00:00:07", "dev", a, netns=ns)
        kit.ip("neigh", "del", "192.0.2.7", "dev", a, netns=ns)
        kit.ip("-6", "neigh", "add", "2001:db8::7", "lladdr", "02:00:00:00:00:07", "dev", a, netns=ns)
        # Last: a bridge forwarding entry. Notifications of one namespace come in order, so once it is
        # seen, a neighbour notification let through would have been seen before it.
        run(["bridge", "-n", ns, "fdb", "add", "02:00:00:00:00:08", "dev", b, "master", "static"])

        def mine() -> list[NetlinkEvent]:
            collector.collect()  # reads what the hub queued
            return [e for e in collector.recent_events() if e.netns == inode
                    and e.msg_type in (RTM_NEWNEIGH, RTM_DELNEIGH)]

        events = poll_until(lambda: (got := mine()) and any(e.kind == "fdb" for e in got) and got, timeout=5)
        assert events, "the bridge forwarding entry never reached the hub"
        assert {e.kind for e in events} == {"fdb"}  # (the bridge may learn entries of its own meanwhile)
        plain.setblocking(False)
        sent: list[tuple[int, int]] = []
        while True:
            try:
                data = plain.recv(65536)
            except BlockingIOError:
                break
            sent += [(e.family, e.msg_type) for e in parse_messages(data, inode)]
        # The control: the kernel did send them (IPv4 add and delete, IPv6 add), and the bridge entry.
        assert {(socket.AF_INET, RTM_NEWNEIGH), (socket.AF_INET, RTM_DELNEIGH),
                (socket.AF_INET6, RTM_NEWNEIGH), (AF_BRIDGE, RTM_NEWNEIGH)} <= set(sent)
