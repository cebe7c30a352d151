"""Decoding recorded kernel replies (tests/data/netlink, see its README) into model records.

Every expected value below is what `tests/record_netlink.py` built (fixed names, MACs, options), so a
decoder bug shows as a wrong field, not as a changed recording.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pyroute2.netlink import NLM_F_MULTI
from pyroute2.netlink.exceptions import NetlinkDumpInterrupted, NetlinkError
from pyroute2.netlink.rtnl import RTM_NEWLINK, RTM_NEWNEIGH
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.marshal import MarshalRtnl
from pyroute2.netlink.rtnl.ndmsg import ndmsg

from tests.netlink_data import reply
from vnettop.collect import decode
from vnettop.collect.decode import (
    address_map,
    decode_addresses,
    decode_fdb,
    decode_link,
    decode_stats,
)
from vnettop.collect.dump import dump_namespace
from vnettop.collect.types import LinkDraft
from vnettop.model import BridgeInfo, BridgePort, FdbEntry, TunInfo

NS = 4026532001


def load(name: str) -> list[Any]:
    data = reply(name)
    return [m for m in MarshalRtnl().parse(data) if m["header"]["type"] != 3]  # drop NLMSG_DONE


def drafts(name: str) -> dict[str, LinkDraft]:
    out = {}
    for msg in load(name):
        draft = decode_link(msg, NS)
        out[draft.link.name] = draft
    return out


@pytest.fixture(scope="module")
def a() -> dict[str, LinkDraft]:
    return drafts("links_a")


@pytest.fixture(scope="module")
def b() -> dict[str, LinkDraft]:
    return drafts("links_b")


@pytest.fixture(scope="module")
def syn() -> dict[str, LinkDraft]:
    return drafts("links_synthetic")


def test_namespace_a_has_every_built_device(a: dict[str, LinkDraft]) -> None:
    assert {n: d.link.ifindex for n, d in a.items()} == {
        "lo": 1, "va1": 2, "va0": 3, "br0": 4, "brs": 5, "tun0": 6, "tap0": 7, "tapmq": 8, "vx0": 9,
        "mv0": 10, "x0": 12}
    assert all(d.link.netns == NS for d in a.values())


def test_loopback_keeps_the_kernels_zero_mac(a: dict[str, LinkDraft]) -> None:
    lo = a["lo"].link
    assert (lo.kind, lo.mac, lo.mtu, lo.admin_up, lo.oper_state, lo.carrier) == (
        "loopback", "00:00:00:00:00:00", 65536, True, "unknown", True)
    assert a["lo"].master_ifindex is None and a["lo"].link_ifindex is None


def test_veth_pair_in_one_namespace(a: dict[str, LinkDraft]) -> None:
    va0, va1 = a["va0"], a["va1"]
    assert (va0.link.kind, va0.link.mac, va0.link.mtu) == ("veth", "02:00:00:00:0a:00", 1500)
    assert (va0.link.admin_up, va0.link.oper_state, va0.link.carrier) == (True, "up", True)
    assert (va0.link_ifindex, va0.link_nsid, va0.master_ifindex) == (2, None, None)
    assert (va1.link_ifindex, va1.link_nsid, va1.master_ifindex) == (3, None, 4)
    assert va1.link.bridge_port == BridgePort(state="forwarding", cost=2, priority=32)
    assert va0.link.bridge_port is None and va0.link.bridge is None and va0.link.tun is None
    # refs are resolved later, never here
    assert va0.link.peer is None and va1.link.master is None


def test_veth_counters_come_from_ifla_stats64(a: dict[str, LinkDraft]) -> None:
    stats = a["va0"].link.stats
    assert stats.tx_packets >= 1 and stats.tx_bytes >= 42  # the ARP request of the recording
    assert stats.tx_bytes == a["va1"].link.stats.rx_bytes  # what leaves one end enters the other


def test_bridges(a: dict[str, LinkDraft]) -> None:
    br0, brs = a["br0"].link, a["brs"].link
    assert br0.kind == "bridge" and br0.mac == "02:00:00:00:0b:00"
    assert br0.bridge == BridgeInfo(stp=False, vlan_filtering=False, ports=(), fdb=())
    assert dict(br0.info) == {"bridge_id": "8000.02:00:00:00:0b:00", "priority": "32768",
                              "forward_delay": "15s", "stp": "off"}
    assert brs.bridge == BridgeInfo(stp=True, vlan_filtering=False, ports=(), fdb=())
    assert dict(brs.info)["bridge_id"] == "1000.02:00:00:00:0b:01"
    assert (dict(brs.info)["forward_delay"], dict(brs.info)["stp"]) == ("4s", "on")
    assert (brs.admin_up, brs.oper_state, brs.carrier) == (True, "down", False)  # no port up


def test_tun_has_no_mac_and_its_flags(a: dict[str, LinkDraft]) -> None:
    tun = a["tun0"].link
    assert (tun.kind, tun.mac, tun.admin_up, tun.oper_state) == ("tun", None, False, "down")
    assert tun.tun == TunInfo(type="tun", persist=True, multi_queue=False, vnet_hdr=False, pi=False)


def test_tap_with_owner_and_group_on_a_stp_bridge(a: dict[str, LinkDraft]) -> None:
    tap = a["tap0"]
    assert (tap.link.kind, tap.link.mac, tap.master_ifindex) == ("tap", "02:00:00:00:0d:00", 5)
    assert tap.link.tun == TunInfo(type="tap", persist=True, multi_queue=False, vnet_hdr=False, pi=False,
                                   owner=65534, group=65534)
    assert tap.link.bridge_port == BridgePort(state="disabled", cost=2, priority=32)


def test_multi_queue_tap(a: dict[str, LinkDraft]) -> None:
    tap = a["tapmq"]
    assert tap.link.tun is not None
    assert (tap.link.tun.multi_queue, tap.link.tun.num_queues, tap.link.tun.owner) == (True, 0, None)
    assert tap.link.tun.holders == ()
    assert tap.link.bridge_port == BridgePort(state="disabled", cost=7, priority=9)
    assert tap.master_ifindex == 4


def test_vxlan_lower_comes_from_ifla_vxlan_link(a: dict[str, LinkDraft]) -> None:
    vx = a["vx0"]
    assert vx.link.kind == "vxlan" and vx.link.mac == "02:00:00:00:0e:00"
    assert dict(vx.link.info) == {"vni": "42", "remote": "192.0.2.1", "local": "10.0.0.2", "port": "4789"}
    assert (vx.link_ifindex, vx.link_nsid) == (3, None)


def test_macvlan_on_a_local_lower(a: dict[str, LinkDraft]) -> None:
    mv = a["mv0"]
    assert (mv.link.kind, dict(mv.link.info), mv.link_ifindex, mv.link_nsid) == (
        "macvlan", {"mode": "bridge"}, 3, None)


def test_cross_namespace_veth_keeps_the_remote_index_and_nsid(
        a: dict[str, LinkDraft], b: dict[str, LinkDraft]) -> None:
    # x0's IFLA_LINK is 2 -- which in A is va1. It must stay a (nsid, index) pair here.
    assert (a["x0"].link_ifindex, a["x0"].link_nsid) == (2, 0)
    assert (b["x1"].link.ifindex, b["x1"].link_ifindex, b["x1"].link_nsid) == (2, 12, 0)
    assert b["x1"].link.mac == "02:00:00:00:1a:01"


def test_macvlan_moved_away_from_its_lower(b: dict[str, LinkDraft]) -> None:
    mvx = b["mvx"]
    assert (mvx.link.ifindex, mvx.link.kind, dict(mvx.link.info)) == (11, "macvlan", {"mode": "private"})
    assert (mvx.link_ifindex, mvx.link_nsid) == (3, 0)


def test_synthetic_vlan(syn: dict[str, LinkDraft]) -> None:
    vlan = syn["em2.100"]
    assert vlan.link.kind == "vlan"
    assert dict(vlan.link.info) == {"vlan_id": "100", "vlan_protocol": "802.1Q"}
    assert (vlan.link_ifindex, vlan.link_nsid) == (2, None)


def test_synthetic_bond_and_its_kindless_port(syn: dict[str, LinkDraft]) -> None:
    bond, em3 = syn["bond0"], syn["em3"]
    assert (bond.link.kind, dict(bond.link.info)) == ("bond", {"mode": "802.3ad", "miimon": "100"})
    assert (em3.link.kind, em3.master_ifindex) == ("device", 21)
    assert dict(em3.link.info) == {"bond_slave_state": "active"}
    assert em3.link.bridge_port is None


def test_synthetic_gre_has_no_mac(syn: dict[str, LinkDraft]) -> None:
    gre = syn["gre1"]
    assert (gre.link.kind, gre.link.mac, gre.link.oper_state) == ("gre", None, "unknown")
    assert dict(gre.link.info) == {"local": "192.0.2.10", "remote": "198.51.100.7", "ttl": "64"}
    assert gre.link_ifindex is None  # IFLA_LINK 0 means "no underlying device"


def test_synthetic_ipvlan_and_wireguard(syn: dict[str, LinkDraft]) -> None:
    assert (syn["ipvl0"].link.kind, dict(syn["ipvl0"].link.info)) == ("ipvlan", {"mode": "l3"})
    assert syn["ipvl0"].link_ifindex == 2
    wg = syn["wg0"].link
    assert (wg.kind, wg.mac, wg.info, wg.tun) == ("wireguard", None, (), None)


# -- messages made here for cases no recording has ---------------------------------------------------


def encode_link(index: int, name: str, ifi_type: int, attrs: list[list[Any]]) -> Any:
    msg = ifinfmsg()
    msg["header"] = {"type": RTM_NEWLINK, "flags": NLM_F_MULTI, "sequence_number": 0, "pid": 0}
    for field, value in (("family", 0), ("ifi_type", ifi_type), ("index", index), ("flags", 0x1043),
                         ("change", 0)):
        msg[field] = value
    msg["attrs"] = [["IFLA_IFNAME", name], *attrs]
    msg.encode()
    back = ifinfmsg(bytes(msg.data))
    back.decode()
    return back


@pytest.mark.parametrize(("ifi_type", "kind"), [(1, "tap"), (65534, "tun")])
def test_tun_type_on_kernels_without_ifla_tun_type(ifi_type: int, kind: str) -> None:
    info = {"attrs": [["IFLA_INFO_KIND", "tun"], ["IFLA_INFO_DATA", {"attrs": [["IFLA_TUN_PERSIST", 1]]}]]}
    draft = decode_link(encode_link(5, "t", ifi_type, [["IFLA_LINKINFO", info]]), NS)
    assert draft.link.kind == kind and draft.link.tun is not None and draft.link.tun.type == kind


def test_kindless_nic_and_missing_optional_attributes() -> None:
    draft = decode_link(encode_link(2, "em1", 1, [["IFLA_ADDRESS", "52:54:00:12:34:56"]]), NS)
    link = draft.link
    assert (link.kind, link.mac, link.oper_state, link.carrier, link.mtu) == (
        "device", "52:54:00:12:34:56", "unknown", None, 0)
    assert link.stats.rx_bytes == 0 and link.info == ()


def test_unknown_kind_with_opaque_data_still_decodes() -> None:
    info = {"attrs": [["IFLA_INFO_KIND", "nlmon"]]}
    draft = decode_link(encode_link(9, "mon0", 824, [["IFLA_LINKINFO", info]]), NS)
    assert (draft.link.kind, draft.link.mac, draft.link.info) == ("nlmon", None, ())


# -- addresses, fdb, stats ---------------------------------------------------------------------------


def test_addresses_both_families_sorted() -> None:
    assert decode_addresses(load("addrs_a")) == {
        1: ("127.0.0.1/8", "::1/128"),
        2: ("fe80::ff:fe00:a01/64",),
        3: ("10.0.0.2/24", "2001:db8::2/64", "fe80::ff:fe00:a00/64"),
        4: ("10.9.0.1/16", "fe80::ff:fe00:b00/64"),
        10: ("fe80::ff:fe00:f00/64",),
        12: ("fe80::ff:fe00:1a00/64",),
    }
    assert decode_addresses(load("addrs_b")) == {
        1: ("127.0.0.1/8", "::1/128"), 2: ("10.1.0.2/30", "fe80::ff:fe00:1a01/64")}


def test_address_text_is_what_ipaddress_prints() -> None:
    """Formatting addresses without `ipaddress` gives its text and order exactly: random addresses as
    `inet_ntop` prints them (IPv6 zero runs of every length and place, IPv4 tails), repeats, prefixes
    out of range, and text `ipaddress` reads but `inet_ntop` would not print."""
    rng = random.Random(7)
    odd = ["::ffff:1.2.3.4", "::1.2.3.4", "::FFFF:102:304", "FE80::1", "0:0:0:0:0:0:0:1", "10.0.0.01",
           "fe80::1%eth0", b"\x01\x02", "1.2.3", "::", "0.0.0.0", "2001:db8:0:0:1:0:0:1"]
    entries: list[tuple[int, Any, int]] = []
    for _ in range(3000):
        index = rng.randrange(4)
        if rng.random() < 0.4:
            text = socket.inet_ntop(socket.AF_INET, bytes(rng.choice((0, 1, 10, 255)) for _ in range(4)))
            prefix = rng.choice((0, 8, 24, 32, 33))
        else:
            words = [rng.choice((0, 0, 0, 1, 0xffff, rng.randrange(1 << 16))) for _ in range(8)]
            text = socket.inet_ntop(socket.AF_INET6, b"".join(w.to_bytes(2, "big") for w in words))
            prefix = rng.choice((0, 64, 127, 128, 129))
        entries.append((index, text, prefix))
        if rng.random() < 0.1:
            entries.append((index, text, prefix))
    assert any("." in e[1] and ":" in e[1] for e in entries)  # inet_ntop printed IPv4 tails
    assert address_map(entries) == decode._address_map_by_ipaddress(entries)
    plain = [e for e in entries if "." not in e[1] or ":" not in e[1]][:100]
    for text in odd:  # each alone among addresses without IPv4 tails, and all together
        mixed = [*plain[:50], (1, text, 64), *plain[50:]]
        assert address_map(mixed) == decode._address_map_by_ipaddress(mixed), text
        assert address_map(iter(mixed)) == decode._address_map_by_ipaddress(mixed), text
    mixed = entries + [(2, text, 64) for text in odd]
    assert address_map(mixed) == decode._address_map_by_ipaddress(mixed)


def test_fdb_keeps_only_bridge_entries() -> None:
    fdb = decode_fdb(load("fdb_a"))
    assert set(fdb) == {4, 5}  # br0, brs: the multicast "self" entries of every device are gone
    fixed = [e for e in fdb[4] if e.state != "learned"]
    assert fixed == [
        FdbEntry("02:00:00:00:0a:01", 2, "permanent"),
        FdbEntry("02:00:00:00:0b:00", 4, "permanent"),  # the bridge's own
        FdbEntry("02:00:00:00:0c:01", 2, "static"),
        FdbEntry("02:00:00:00:0d:01", 8, "permanent"),
    ]
    learned = [e for e in fdb[4] if e.state == "learned"]
    assert FdbEntry("02:00:00:00:0a:00", 2, "learned") in learned  # va0's MAC seen on port va1
    assert all(e.port == 2 for e in learned)  # va1 is the only port that is up
    assert list(fdb[4]) == sorted(fdb[4], key=lambda e: e.mac)
    assert fdb[5] == (FdbEntry("02:00:00:00:0b:01", 5, "permanent"),
                      FdbEntry("02:00:00:00:0d:00", 7, "permanent"))
    assert decode_fdb(load("fdb_b")) == {}


def test_fdb_vlan_and_other_states() -> None:
    msg = ndmsg()
    msg["header"] = {"type": RTM_NEWNEIGH, "flags": NLM_F_MULTI, "sequence_number": 0, "pid": 0}
    for field, value in (("family", 7), ("ifindex", 3), ("state", 4), ("flags", 0), ("ndm_type", 0)):
        msg[field] = value
    msg["attrs"] = [["NDA_LLADDR", "02:00:00:00:00:99"], ["NDA_MASTER", 9], ["NDA_VLAN", 100]]
    msg.encode()
    back = ndmsg(bytes(msg.data))
    back.decode()
    assert decode_fdb([back]) == {9: (FdbEntry("02:00:00:00:00:99", 3, "nud:4", 100),)}


def test_stats_dump_covers_every_device() -> None:
    stats = decode_stats(load("stats_a"))
    assert sorted(stats) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12]
    assert stats[3].tx_packets >= 1 and stats[1].rx_bytes == 0
    assert sorted(decode_stats(load("stats_b"))) == [1, 2, 11]


# -- dump_namespace over a fake IPRoute ---------------------------------------------------------------


class FakeIPRoute:
    """Answers dumps from the recordings; `fail` maps a call to the exception it raises (a list: in turn)."""

    def __init__(self, ns: str, fail: dict[str, list[Exception]] | None = None,
                 interrupted: dict[str, int] | None = None) -> None:
        self.ns = ns
        self.fail = fail or {}
        self.interrupted = interrupted or {}  # how many answers to mark NLM_F_DUMP_INTR, per call
        self.calls: list[str] = []

    def _answer(self, what: str, name: str) -> Iterator[Any]:
        self.calls.append(what)
        if self.fail.get(what):
            raise self.fail[what].pop(0)
        msgs = load(f"{name}_{self.ns}")
        if self.interrupted.get(what):
            self.interrupted[what] -= 1
            msgs[-1]["header"]["flags"] |= 0x10
        return iter(msgs)

    def link(self, command: str) -> Iterator[Any]:
        return self._answer("link", "links")

    def addr(self, command: str) -> Iterator[Any]:
        return self._answer("addr", "addrs")

    def fdb(self, command: str) -> Iterator[Any]:
        return self._answer("fdb", "fdb")


def test_dump_namespace_joins_addresses_and_fdb() -> None:
    dump = dump_namespace(FakeIPRoute("a"), NS)
    assert dump.errors == ()
    by_name = {d.link.name: d.link for d in dump.drafts}
    assert [d.link.ifindex for d in dump.drafts] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12]
    assert by_name["va0"].addresses == ("10.0.0.2/24", "2001:db8::2/64", "fe80::ff:fe00:a00/64")
    assert by_name["tun0"].addresses == ()
    assert by_name["br0"].bridge is not None
    assert by_name["br0"].bridge.fdb == decode_fdb(load("fdb_a"))[4]
    assert by_name["brs"].bridge is not None and len(by_name["brs"].bridge.fdb) == 2


def test_dump_namespace_without_bridges_skips_the_fdb() -> None:
    ipr = FakeIPRoute("b")
    dump = dump_namespace(ipr, NS)
    assert ipr.calls == ["link", "addr"]
    assert [d.link.name for d in dump.drafts] == ["lo", "x1", "mvx"]


def test_dump_namespace_never_raises() -> None:
    dump = dump_namespace(FakeIPRoute("a", {"link": [NetlinkError(1, "Operation not permitted")]}), NS)
    assert dump.drafts == ()
    assert len(dump.errors) == 1 and dump.errors[0].scope == f"netns {NS}"
    assert "link dump failed" in dump.errors[0].message

    dump = dump_namespace(FakeIPRoute("a", {"addr": [OSError(9, "Bad file descriptor")]}), NS)
    assert len(dump.drafts) == 11 and all(d.link.addresses == () for d in dump.drafts)
    assert [e.message.split(":")[0] for e in dump.errors] == ["address dump failed"]


def test_dump_namespace_retries_an_interrupted_dump() -> None:
    ipr = FakeIPRoute("b", {"link": [NetlinkDumpInterrupted()]})
    dump = dump_namespace(ipr, NS)
    assert ipr.calls == ["link", "link", "addr"]
    assert dump.errors == () and len(dump.drafts) == 3


def test_dump_namespace_retries_a_dump_flagged_inconsistent() -> None:
    ipr = FakeIPRoute("b", interrupted={"link": 2})
    dump = dump_namespace(ipr, NS)
    assert ipr.calls == ["link", "link", "link", "addr"]
    assert dump.errors == () and len(dump.drafts) == 3


def test_a_dump_that_never_settles_is_kept_with_a_warning() -> None:
    ipr = FakeIPRoute("b", interrupted={"addr": 5})
    dump = dump_namespace(ipr, NS)
    assert ipr.calls == ["link", "addr", "addr", "addr"]
    assert [d.link.addresses for d in dump.drafts if d.link.name == "x1"] == [
        ("10.1.0.2/30", "fe80::ff:fe00:1a01/64")]
    assert len(dump.errors) == 1 and "may be incomplete" in dump.errors[0].message
