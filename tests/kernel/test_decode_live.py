"""The decoder against a live kernel, checked field by field against iproute2's `ip -j -d link show`."""

from __future__ import annotations

import gc
import json
import os
import pwd
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
from pyroute2 import IPRoute

from tests.kernelkit import KernelKit, poll_until
from vnettop.collect import counters, rtnl_parser
from vnettop.collect import dump as nsdump
from vnettop.collect.decode import NamespaceDump, decode_stats, dump_namespace_pyroute2
from vnettop.collect.dump import dump_namespace
from vnettop.collect.refs import resolve_links
from vnettop.collect.types import LinkDraft
from vnettop.model import LinkRef, Stats

pytestmark = pytest.mark.kernel
STATIC_MAC = "02:00:00:00:77:01"


@contextmanager
def iproute_in(ns: str) -> Iterator[IPRoute]:
    # flags=0: never create the namespace if it is missing (pyroute2's default O_CREAT would)
    ipr = IPRoute(netns=f"/run/netns/{ns}", flags=0)
    try:
        yield ipr
    finally:
        ipr.close()


def ip_json(kit: KernelKit, ns: str, *args: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = json.loads(kit.ip("-j", "-d", *args, netns=ns))
    return out


class Lab:
    """Two namespaces with every kind this kernel can build, names from the kit."""

    def __init__(self, kit: KernelKit) -> None:
        n = kit.name
        self.a, self.b = kit.netns("la"), kit.netns("lb")
        self.v1, self.v2, self.br = n("v1"), n("v2"), n("br")
        self.tap, self.tun, self.vx, self.mv = n("tapmq"), n("tun"), n("vx"), n("mv")
        self.c0, self.c1, self.mvb = n("c0"), n("c1"), n("mvb")
        self.e0, self.e1, self.ifb = n("e0"), n("e1"), n("ifb")
        ip = kit.ip
        ip("link", "add", self.v1, "type", "veth", "peer", "name", self.v2, netns=self.a)
        ip("link", "add", self.br, "type", "bridge", "stp_state", "1", netns=self.a)
        ip("link", "set", self.v2, "master", self.br, netns=self.a)
        ip("tuntap", "add", "mode", "tap", "name", self.tap, "multi_queue", "user", "65534", netns=self.a)
        ip("tuntap", "add", "mode", "tun", "name", self.tun, netns=self.a)
        ip("link", "set", self.tap, "master", self.br, netns=self.a)
        ip("link", "add", self.vx, "type", "vxlan", "id", "77", "remote", "192.0.2.9", "dstport", "4789",
           "dev", self.v1, netns=self.a)
        ip("link", "add", self.mv, "link", self.v1, "type", "macvlan", "mode", "vepa", netns=self.a)
        ip("link", "add", self.mvb, "link", self.v1, "type", "macvlan", netns=self.a)
        ip("link", "set", self.mvb, "netns", self.b, netns=self.a)
        ip("link", "add", self.c0, "type", "veth", "peer", "name", self.c1, "netns", self.b, netns=self.a)
        # both ends with the same ifindex: old kernels omitted IFLA_LINK for this one
        ip("link", "add", self.e0, "index", "40", "type", "veth", "peer", "name", self.e1, "index", "40",
           "netns", self.b, netns=self.a)
        ip("link", "add", self.ifb, "type", "ifb", netns=self.a)
        subprocess.run(["bridge", "-n", self.a, "fdb", "add", STATIC_MAC, "dev", self.v2, "master", "static"],
                       check=True, capture_output=True)
        for dev in (self.v1, self.v2, self.br, self.c0):
            ip("link", "set", dev, "up", netns=self.a)
        ip("link", "set", self.c1, "up", netns=self.b)
        ip("addr", "add", "10.77.0.1/30", "dev", self.c0, netns=self.a)
        ip("addr", "add", "10.77.0.2/30", "dev", self.c1, netns=self.b)
        ip("addr", "add", "2001:db8:77::1/64", "dev", self.c0, "nodad", netns=self.a)
        self.ino_a, self.ino_b = kit.ns_inode(self.a), kit.ns_inode(self.b)

    def dump(self, ns: str) -> NamespaceDump:
        with iproute_in(ns) as ipr:
            return dump_namespace(ipr, self.ino_a if ns == self.a else self.ino_b)


@pytest.fixture
def lab(kit: KernelKit) -> Lab:
    return Lab(kit)


def expected_kind(entry: dict[str, Any]) -> str:
    info = entry.get("linkinfo", {})
    kind = info.get("info_kind")
    if kind == "tun":
        return str(info["info_data"]["type"])
    if kind:
        return str(kind)
    return "loopback" if entry.get("link_type") == "loopback" else "device"


def check_link(draft: LinkDraft, entry: dict[str, Any], names: dict[int, str]) -> None:
    link = draft.link
    where = link.name
    assert link.ifindex == entry["ifindex"], where
    assert link.mtu == entry["mtu"], where
    assert link.admin_up == ("UP" in entry["flags"]), where
    assert link.oper_state == entry["operstate"].lower(), where
    assert link.kind == expected_kind(entry), where
    mac = entry.get("address") if entry.get("link_type") in ("ether", "loopback") else None
    assert link.mac == mac, where
    assert (names.get(draft.master_ifindex or 0)) == entry.get("master"), where
    data = entry.get("linkinfo", {}).get("info_data", {})
    if "link" in entry:
        assert draft.link_nsid is None and names[draft.link_ifindex or 0] == entry["link"], where
    elif "link_index" in entry:
        assert (draft.link_ifindex, draft.link_nsid) == (entry["link_index"], entry["link_netnsid"]), where
    elif link.kind == "vxlan":
        assert names[draft.link_ifindex or 0] == data["link"], where
    else:
        assert draft.link_ifindex is None, where
    slave = entry.get("linkinfo", {}).get("info_slave_data")
    if slave is not None:
        assert link.bridge_port is not None, where
        assert (link.bridge_port.state, link.bridge_port.cost, link.bridge_port.priority) == (
            slave["state"], slave["cost"], slave["priority"]), where
    else:
        assert link.bridge_port is None, where
    if link.kind == "bridge":
        assert link.bridge is not None and link.bridge.stp == bool(data["stp_state"]), where
        assert dict(link.info)["priority"] == str(data["priority"]), where
    if link.tun is not None:
        t = link.tun
        assert (t.type, t.pi, t.vnet_hdr, t.multi_queue, t.persist) == (
            data["type"], data["pi"], data["vnet_hdr"], data["multi_queue"], data["persist"]), where
        owner = pwd.getpwuid(t.owner).pw_name if t.owner is not None else None
        assert owner == data.get("user"), where
    if link.kind == "vxlan":
        info = dict(link.info)
        assert (info["vni"], info["port"], info["remote"]) == (str(data["id"]), str(data["port"]),
                                                               data["remote"]), where
    if link.kind == "macvlan":
        assert dict(link.info)["mode"] == data["mode"], where


@pytest.mark.parametrize("side", ["a", "b"])
def test_every_device_matches_iproute2(kit: KernelKit, lab: Lab, side: str) -> None:
    ns = lab.a if side == "a" else lab.b
    dump = lab.dump(ns)
    assert dump.errors == ()
    entries = {e["ifname"]: e for e in ip_json(kit, ns, "link", "show")}
    drafts = {d.link.name: d for d in dump.drafts}
    assert set(drafts) == set(entries)
    names = {d.link.ifindex: d.link.name for d in dump.drafts}
    for name, draft in drafts.items():
        check_link(draft, entries[name], names)
    addrs = {e["ifname"]: sorted(f"{a['local']}/{a['prefixlen']}" for a in e["addr_info"])
             for e in json.loads(kit.ip("-j", "addr", "show", netns=ns))}
    assert {n: sorted(d.link.addresses) for n, d in drafts.items()} == {
        n: addrs.get(n, []) for n in drafts}


def test_bridge_fdb_matches_the_bridge_tool(kit: KernelKit, lab: Lab) -> None:
    dump = lab.dump(lab.a)
    names = {d.link.ifindex: d.link.name for d in dump.drafts}
    br = next(d.link for d in dump.drafts if d.link.name == lab.br)
    assert br.bridge is not None
    ours = {(e.mac, names[e.port or 0], e.state) for e in br.bridge.fdb if e.state != "learned"}
    out = subprocess.run(["bridge", "-n", lab.a, "-j", "fdb", "show", "br", lab.br], check=True,
                         capture_output=True, text=True).stdout
    # entries with "master" are the bridge's (the bridge's own address too: "dev br master br");
    # the others are each device's own multicast list ("self")
    theirs = {(e["mac"], e["ifname"], e["state"]) for e in json.loads(out)
              if e.get("master") == lab.br and e["state"] in ("permanent", "static")}
    assert (STATIC_MAC, lab.v2, "static") in ours
    assert ours == theirs


def test_cross_namespace_refs_resolve_with_real_nsids(lab: Lab) -> None:
    paths = {lab.ino_a: f"/run/netns/{lab.a}", lab.ino_b: f"/run/netns/{lab.b}"}
    asked: list[tuple[int, int]] = []

    def nsid_of(src: int, target: int) -> int | None:
        asked.append((src, target))
        fd = os.open(paths[target], os.O_RDONLY)
        try:
            with IPRoute(netns=paths[src], flags=0) as ipr:
                got = ipr.get_netnsid(fd=fd)
        finally:
            os.close(fd)
        nsid = got["nsid"] if got else None
        return None if nsid is None or nsid < 0 else int(nsid)

    da, db = lab.dump(lab.a), lab.dump(lab.b)
    a_by_name = {d.link.name: d for d in da.drafts}
    c0 = a_by_name[lab.c0]
    # the trap is armed: c0's IFLA_LINK is also an ifindex of an unrelated device in its own namespace
    assert c0.link_nsid is not None and c0.link_ifindex in {d.link.ifindex for d in da.drafts}
    links, errors = resolve_links({lab.ino_a: da.drafts, lab.ino_b: db.drafts}, nsid_of)
    assert errors == ()
    got = {(link.netns, link.name): link for link in links}
    c1 = got[(lab.ino_b, lab.c1)]
    assert got[(lab.ino_a, lab.c0)].peer == LinkRef(lab.ino_b, c1.ifindex, lab.c1)
    assert c1.peer == LinkRef(lab.ino_a, c0.link.ifindex, lab.c0)
    assert got[(lab.ino_a, lab.e0)].peer == LinkRef(lab.ino_b, 40, lab.e1)
    assert got[(lab.ino_b, lab.e1)].peer == LinkRef(lab.ino_a, 40, lab.e0)
    v1 = got[(lab.ino_a, lab.v1)]
    assert got[(lab.ino_b, lab.mvb)].lower == LinkRef(lab.ino_a, v1.ifindex, lab.v1)
    assert got[(lab.ino_a, lab.mv)].lower == v1.ref
    br = got[(lab.ino_a, lab.br)]
    assert br.bridge is not None and br.bridge.ports == tuple(sorted(
        got[(lab.ino_a, n)].ifindex for n in (lab.v2, lab.tap)))
    assert len(asked) == len(set(asked)) <= 2  # cached: one question per ordered pair at most


def send_udp(ns: str, address: str, count: int, size: int = 64) -> None:
    """`count` UDP datagrams from inside `ns` (this machine has no ping); the kernel queues them behind ARP."""
    code = (f"import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"for _ in range({count}): s.sendto(bytes({size}), ({address!r}, 9))")
    subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code], check=True, capture_output=True)


def oper_up(kit: KernelKit, ns: str, dev: str) -> bool:
    return bool(ip_json(kit, ns, "link", "show", "dev", dev)[0]["operstate"] == "UP")


def test_lean_counters_follow_traffic(kit: KernelKit, lab: Lab) -> None:
    poll_until(lambda: oper_up(kit, lab.a, lab.c0) and oper_up(kit, lab.b, lab.c1))
    with iproute_in(lab.a) as ipr_a, iproute_in(lab.b) as ipr_b:
        a_index = {d.link.name: d.link.ifindex for d in dump_namespace(ipr_a, lab.ino_a).drafts}
        b_index = {d.link.name: d.link.ifindex for d in dump_namespace(ipr_b, lab.ino_b).drafts}
        before_a, before_b = counters.dump_stats(ipr_a), counters.dump_stats(ipr_b)
        assert set(before_a) == set(a_index.values())  # the socket is in A, not in root
        assert set(before_b) == set(b_index.values())
        c0, c1 = a_index[lab.c0], b_index[lab.c1]
        send_udp(lab.a, "10.77.0.2", 3, size=64)
        # 64 B payload + UDP 8 + IPv4 20 + Ethernet 14 = 106 B each, plus the ARP exchange
        poll_until(lambda: counters.dump_stats(ipr_b)[c1].rx_bytes - before_b[c1].rx_bytes >= 3 * 106)
        after_a, after_b = counters.dump_stats(ipr_a), counters.dump_stats(ipr_b)
        assert after_a[c0].tx_packets - before_a[c0].tx_packets >= 3
        assert after_b[c1].rx_packets - before_b[c1].rx_packets >= 3
        assert after_a[c0].tx_bytes - before_a[c0].tx_bytes >= 3 * 106
        # pyroute2 reads the same counters (an idle tun does not move between the two reads)
        theirs = decode_stats(ipr_a.stats("dump", filter_mask=1))
        assert set(theirs) == set(after_a)
        tun = a_index[lab.tun]
        assert theirs[tun] == counters.dump_stats(ipr_a)[tun]


def test_stats_socket_dies_with_its_iproute(lab: Lab) -> None:
    ipr = IPRoute(netns=f"/run/netns/{lab.a}", flags=0)
    counters.dump_stats(ipr)
    sock = counters._socket_for(ipr)
    assert sock.fileno() >= 0
    ipr.close()
    del ipr
    gc.collect()
    assert sock.fileno() == -1  # closed: it no longer pins the namespace


# -- the lean parser against pyroute2's, on the live kernel ---------------------------------------------


def without_counters(dump: NamespaceDump) -> list[LinkDraft]:
    """Drafts with counters zeroed: IPv6 neighbour discovery may move them between two dumps."""
    return [replace(d, link=replace(d.link, stats=Stats())) for d in dump.drafts]


@pytest.mark.parametrize("side", ["a", "b"])
def test_lean_and_pyroute2_paths_agree_live(lab: Lab, side: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every kind this kernel builds (veth in and across namespaces, STP bridge and its ports, tun,
    multi-queue tap, vxlan, macvlan local and moved away, ifb), read both ways, field by field.
    (bond, vlan, gre... cannot be built here: the recorded and synthetic messages cover them.)"""
    ns, inode = (lab.a, lab.ino_a) if side == "a" else (lab.b, lab.ino_b)
    left: list[str] = []
    original = rtnl_parser.pyroute2_link

    def spy(raw: bytes, netns: int) -> LinkDraft:
        draft = original(raw, netns)
        left.append(draft.link.kind)
        return draft

    monkeypatch.setattr(rtnl_parser, "pyroute2_link", spy)
    with iproute_in(ns) as ipr:
        def agree() -> bool:
            left.clear()
            ours = nsdump.dump_fast(ipr, inode)
            assert ours is not None, "no lean socket could be opened beside the IPRoute"
            theirs = dump_namespace_pyroute2(ipr, inode)
            return ours.errors == theirs.errors == () and without_counters(ours) == without_counters(theirs)

        poll_until(agree)  # equal once nothing moves between the two dumps (links coming up)
    # the lean parser did the work: nothing this kernel can build is left to pyroute2
    assert left == []


def test_a_socket_handed_in_is_used_and_sees_that_namespace(lab: Lab) -> None:
    with iproute_in(lab.b) as ipr:
        sock = counters.StatsSocket.beside(ipr.fileno())
        try:
            dump = dump_namespace(ipr, lab.ino_b, sock=sock)
        finally:
            sock.close()
    assert {d.link.name for d in dump.drafts} == {"lo", lab.c1, lab.e1, lab.mvb}
    assert dump.errors == ()


def test_lean_nsid_query_agrees_with_pyroute2(kit: KernelKit, lab: Lab) -> None:
    lone = kit.netns("lone")  # no device links it to A: A has no nsid for it
    fds = {ns: os.open(f"/run/netns/{ns}", os.O_RDONLY) for ns in (lab.a, lab.b, lone)}
    try:
        with iproute_in(lab.a) as ipr:
            sock = counters.StatsSocket.beside(ipr.fileno())
            try:
                ours = {ns: sock.nsid_of(fd) for ns, fd in fds.items()}
                theirs = {ns: ipr.get_netnsid(fd=fd).get("nsid") for ns, fd in fds.items()}
            finally:
                sock.close()
    finally:
        for fd in fds.values():
            os.close(fd)
    assert ours[lab.b] is not None and ours[lab.b] == theirs[lab.b]  # the veths across gave B an nsid in A
    assert ours[lone] is None and theirs[lone] in (-1, 2**32 - 1)  # asked, never assigned
    dump = lab.dump(lab.a)
    c0 = next(d for d in dump.drafts if d.link.name == lab.c0)
    assert c0.link_nsid == ours[lab.b]



def stats_socket_among_veths(kit: KernelKit, ns: str, pairs: int) -> counters.StatsSocket:
    """A counters socket in `ns`, once `pairs` veth pairs (both ends there, down) are made in it."""
    lines = "".join(f"link add {kit.name(f'a{i}')} type veth peer name {kit.name(f'b{i}')}\n"
                    for i in range(pairs))
    subprocess.run(["ip", "-n", ns, "-batch", "-"], input=lines, text=True, check=True)
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        return counters.StatsSocket.in_namespace(fd)
    finally:
        os.close(fd)


def test_small_reads_get_whole_parts_and_a_long_answer_grows_them(kit: KernelKit) -> None:
    """A socket reads with SMALL_BUFSIZE (the kernel then makes each part of a dump in a page, not in
    32 KiB); the kernel never makes a part longer than that for it, so nothing is cut, and an answer in
    many parts (a namespace of many devices) makes the socket read with BUFSIZE from then on. Counters
    and links come out as pyroute2 reads them."""
    from vnettop.linux.netlink import BUFSIZE, LONG_ANSWER, SMALL_BUFSIZE

    ns = kit.netns("sb")
    pairs = 100  # 200 veth ends + lo: ~46 KB of counters in parts of a page, ~250 KB of link messages
    sock = stats_socket_among_veths(kit, ns, pairs)
    try:
        sizes: list[int] = []

        assert sock.bufsize == SMALL_BUFSIZE
        # First the counters, read by the datagram-comparing path, parts of a page.
        with iproute_in(ns) as ipr:
            theirs = decode_stats(ipr.stats("dump", filter_mask=counters.FILTER_LINK_64))
            ours = sock.dump()
            assert ours == theirs and len(ours) == 2 * pairs + 1
            # More than LONG_ANSWER parts of at most a page: the socket grew.
            assert sock.bufsize == BUFSIZE
            # The next answer comes in longer parts (parsed again: equal); the one after is the same bytes.
            again = sock.dump()
            assert again == ours and sock.dump() is again
            fresh = counters.StatsSocket.in_namespace(fd2 := os.open(f"/run/netns/{ns}", os.O_RDONLY))
            os.close(fd2)
            try:
                real_recv = fresh.recv

                def recv() -> int:
                    n = real_recv()
                    sizes.append(n)
                    return n

                fresh.recv = recv  # type: ignore[method-assign]
                drafts = nsdump.dump_with(fresh, 1).drafts  # the links, through `exchange`
                assert sorted(d.link.name for d in drafts) == sorted(
                    link.get_attr("IFLA_IFNAME") for link in ipr.get_links())
            finally:
                fresh.close()
        assert all(n <= SMALL_BUFSIZE for n in sizes[:LONG_ANSWER - 1]), sizes
        assert len(sizes) > LONG_ANSWER and max(sizes) > SMALL_BUFSIZE  # grew mid-answer: fewer parts
    finally:
        sock.close()


def test_a_long_answer_whose_first_part_moved_is_read_through_its_layout(
        kit: KernelKit, monkeypatch: pytest.MonkeyPatch) -> None:
    """The counters of a namespace of many devices come in several datagrams; when a device of the first
    moves (here lo, ifindex 1, with three datagrams sent to 127.0.0.1 inside the namespace), that datagram is read through the
    layout made of it last time, as the one ending the answer is, without a walk over its messages; the
    answer equals the kernel's as pyroute2 reads it."""
    ns = kit.netns("lm")
    sock = stats_socket_among_veths(kit, ns, 100)  # ~46 KB of counters: several datagrams even of BUFSIZE
    subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
    try:
        sock.dump()  # the socket grows to BUFSIZE reads on this long answer
        before = sock.dump()  # parts as long as they will be: their layouts are made
        assert sock.dump() is before
        send = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n" \
               "for _ in range(3): s.sendto(b'x', ('127.0.0.1', 9))"
        subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", send], check=True)
        walks: list[int] = []
        real = counters.parse_stats

        def counting(*args: Any, **kwargs: Any) -> bool:
            walks.append(1)
            return real(*args, **kwargs)

        monkeypatch.setattr(counters, "parse_stats", counting)
        ours = sock.dump()
        monkeypatch.setattr(counters, "parse_stats", real)
        assert len(sock._last_parts) > 1  # (several datagrams)
        assert walks == []
        assert ours[1].rx_packets >= before[1].rx_packets + 3  # (and the port-unreachable answers)
        assert all(ours[i] is before[i] for i in ours if i != 1)  # the others did not move: same objects
        with iproute_in(ns) as ipr:
            theirs = decode_stats(ipr.stats("dump", filter_mask=counters.FILTER_LINK_64))
        assert ours == theirs
    finally:
        sock.close()


def test_the_device_list_names_the_devices_the_counters_and_pyroute2_name(kit: KernelKit) -> None:
    """`StatsSocket.devices` (RTM_GETSTATS for the address families' statistics only, what a namespace
    whose counters are read on a slower cadence is asked each tick) lists every device of a namespace of
    many (an answer in several datagrams), as pyroute2's link dump and the counters answer do; the same
    set again while nothing came or went, whatever the counters did; a device added shows at once."""
    ns = kit.netns("dl")
    sock = stats_socket_among_veths(kit, ns, 150)
    subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
    try:
        sock.devices()  # (a socket's first answer comes in a smaller first part: other datagrams)
        listed = sock.devices()
        assert len(sock._devices_parts) > 1  # (several datagrams: ~10 KB in reads of a page)
        with iproute_in(ns) as ipr:
            theirs = {link["index"] for link in ipr.get_links()}
        assert listed == theirs and len(listed) == 301
        send = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n" \
               "for _ in range(3): s.sendto(b'x', ('127.0.0.1', 9))"
        subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", send], check=True)
        assert sock.devices() is listed
        assert frozenset(sock.dump()) == listed
        bridge = kit.name("dlb")
        subprocess.run(["ip", "-n", ns, "link", "add", bridge, "type", "bridge"], check=True)
        with iproute_in(ns) as ipr:
            index = ipr.link_lookup(ifname=bridge)[0]
        assert sock.devices() == listed | {index}
    finally:
        sock.close()
