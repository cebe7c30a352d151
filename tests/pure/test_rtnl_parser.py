"""The lean link / address / FDB parser against pyroute2 + decode_link, on the same bytes.

Every recorded reply in tests/data/netlink (real kernel replies and the synthetic vlan/bond/gre/ipvlan/
wireguard messages) is decoded both ways and compared field by field; messages made here with
pyroute2's own encoder cover the corners no recording has. A test also makes sure the lean parser
really decoded what it should (else "equal" could just mean "both went through pyroute2").
"""

from __future__ import annotations

import dataclasses
import errno
import struct
from typing import Any

import pytest
from pyroute2.netlink import NLM_F_MULTI
from pyroute2.netlink.rtnl import RTM_NEWLINK
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg, protinfo_bridge
from pyroute2.netlink.rtnl.ifinfmsg.plugins.tun import tun
from pyroute2.netlink.rtnl.ifinfmsg.plugins.vlan import vlan
from pyroute2.netlink.rtnl.ifinfmsg.plugins.vxlan import vxlan
from pyroute2.netlink.rtnl.marshal import MarshalRtnl
from pyroute2.netlink.rtnl.ndmsg import ndmsg

from tests.netlink_data import reply, split
from tests.pure.test_decode import FakeIPRoute, load
from vnettop import names
from vnettop.collect import counters, decode, rtnl_parser
from vnettop.collect import dump as nsdump
from vnettop.collect.decode import _Attrs, _info, decode_addresses, decode_fdb, decode_link
from vnettop.collect.types import LinkDraft

NS = 4026532001


raw = reply
messages = split


def link_messages(name: str) -> list[bytes]:
    return [m for m in messages(raw(name)) if struct.unpack_from("=H", m, 4)[0] == RTM_NEWLINK]


def pyroute2_draft(msg: bytes) -> LinkDraft:
    decoded = ifinfmsg(msg)
    decoded.decode()
    return decode_link(decoded, NS)


def lean_draft(msg: bytes) -> LinkDraft | None:
    """The lean parser's draft, or None if it hands the message to pyroute2."""
    try:
        return rtnl_parser.parse_link(memoryview(msg), 0, len(msg), NS)
    except rtnl_parser.Fallback:
        return None


def assert_same(ours: LinkDraft, theirs: LinkDraft) -> None:
    """Field by field, so a failure names the field."""
    where = theirs.link.name
    for field in dataclasses.fields(LinkDraft):
        if field.name != "link":
            assert getattr(ours, field.name) == getattr(theirs, field.name), (where, field.name)
    for field in dataclasses.fields(theirs.link):
        assert getattr(ours.link, field.name) == getattr(theirs.link, field.name), (where, field.name)
    assert ours == theirs


# -- every recorded link message, both ways ---------------------------------------------------------


RECORDED = [(name, i) for name in ("links_a", "links_b", "links_synthetic", "links_names")
            for i in range(len(link_messages(name)))]


@pytest.mark.parametrize(("name", "i"), RECORDED, ids=[f"{n}-{i}" for n, i in RECORDED])
def test_each_recorded_link_decodes_alike(name: str, i: int) -> None:
    msg = link_messages(name)[i]
    theirs = pyroute2_draft(msg)
    ours = lean_draft(msg)
    if ours is None:  # left to pyroute2: only kinds whose Link.info the lean parser does not build
        kind = theirs.link.kind
        assert kind not in rtnl_parser.LEAN_KINDS or theirs.link.info, kind
        ours = rtnl_parser.pyroute2_link(msg, NS)
    assert_same(ours, theirs)


def test_the_lean_parser_decodes_the_common_kinds_itself() -> None:
    handled = {}
    for name in ("links_a", "links_b", "links_synthetic"):
        for msg in link_messages(name):
            handled[pyroute2_draft(msg).link.name] = lean_draft(msg) is not None
    lean_ones = {n for n, ok in handled.items() if ok}
    assert lean_ones == {"lo", "va0", "va1", "br0", "brs", "tun0", "tap0", "tapmq", "x0", "x1", "em2.100",
                         "wg0", "vx0", "mv0", "mvx"}
    assert {n for n, ok in handled.items() if not ok} == {"bond0", "em3", "gre1", "ipvl0"}


def test_names_that_are_not_utf8_are_decoded_exactly_by_both() -> None:
    """`links_names.hex` (tests/record_netlink_names.py): a real reply with names that are not UTF-8."""
    msgs = link_messages("links_names")
    ours = [lean_draft(m) for m in msgs]
    theirs = [pyroute2_draft(m) for m in msgs]
    assert all(d is not None for d in ours)  # the lean parser decoded every one itself
    assert ours == theirs
    by_name = {d.link.name: d for d in theirs}
    # Spelled as bytes: linters may fold lone surrogates in literals together.
    assert set(by_name) == {names.from_bytes(raw) for raw in (b"lo", b"br\xff\xfe", b"ve\xff", b"ve\xfe",
                                                              b"tp\xe9", "t\u00fcn".encode(), b"a\\xff")}
    assert len(by_name) == 7
    assert by_name["ve\udcff"].master_ifindex == by_name["br\udcff\udcfe"].link.ifindex
    assert by_name["tp\udce9"].link.kind == "tap" and by_name["t\u00fcn"].link.kind == "tun"


@pytest.mark.parametrize("name", ["links_a", "links_b", "links_synthetic", "links_names"])
def test_a_whole_reply_gives_the_same_drafts(name: str) -> None:
    data = raw(name)
    reply = nsdump.Reply(RTM_NEWLINK, lambda b, o, n: rtnl_parser.parse_link(b, o, n, NS))
    done = reply(memoryview(data), None)
    assert done is (name != "links_synthetic")  # the synthetic file has no NLMSG_DONE
    ours = reply.items + [rtnl_parser.pyroute2_link(m, NS) for m in reply.left]
    theirs = [decode_link(m, NS) for m in MarshalRtnl().parse(data) if m["header"]["type"] == RTM_NEWLINK]
    key = lambda d: d.link.ifindex  # noqa: E731
    assert sorted(ours, key=key) == sorted(theirs, key=key)
    assert len(ours) == len(link_messages(name))


@pytest.mark.parametrize("tag", ["a", "b"])
def test_addresses_alike(tag: str) -> None:
    reply = nsdump.Reply(rtnl_parser.RTM_NEWADDR, rtnl_parser.parse_address)
    assert reply(memoryview(raw(f"addrs_{tag}")), None)
    assert reply.left == []
    assert decode.address_map(reply.items) == decode_addresses(load(f"addrs_{tag}"))
    assert reply.items  # not two empty maps


@pytest.mark.parametrize("tag", ["a", "b"])
def test_fdb_alike(tag: str) -> None:
    reply = nsdump.Reply(rtnl_parser.RTM_NEWNEIGH, rtnl_parser.parse_neigh)
    assert reply(memoryview(raw(f"fdb_{tag}")), None)
    assert reply.left == []
    assert decode.fdb_map(reply.items) == decode_fdb(load(f"fdb_{tag}"))
    assert len(reply.items) == len(load(f"fdb_{tag}"))


# -- corners made with pyroute2's encoder --------------------------------------------------------------


def encode(index: int, ifi_type: int, attrs: list[list[Any]], flags: int = 0x1043) -> bytes:
    msg = ifinfmsg()
    msg["header"] = {"type": RTM_NEWLINK, "flags": NLM_F_MULTI, "sequence_number": 0, "pid": 0}
    for field, value in (("family", 0), ("ifi_type", ifi_type), ("index", index), ("flags", flags),
                         ("change", 0)):
        msg[field] = value
    msg["attrs"] = attrs
    msg.encode()
    return bytes(msg.data)


def linkinfo(kind: str | None, data: list[list[Any]] | None = None,
             slave: tuple[str, list[list[Any]] | bytes] | None = None) -> list[Any]:
    """IFLA_LINKINFO; slave data given as bytes is for kinds pyroute2 keeps opaque (hex)."""
    info: list[list[Any]] = [["IFLA_INFO_KIND", kind]] if kind else []
    if data is not None:
        info.append(["IFLA_INFO_DATA", {"attrs": data}])
    if slave is not None:
        body = slave[1] if isinstance(slave[1], bytes) else {"attrs": slave[1]}
        info += [["IFLA_INFO_SLAVE_KIND", slave[0]], ["IFLA_INFO_SLAVE_DATA", body]]
    return ["IFLA_LINKINFO", {"attrs": info}]


STATS = {name: i + 1 for i, name in enumerate(f[0] for f in ifinfmsg.ifstats64.fields)}
CORNERS: dict[str, tuple[bytes, bool]] = {  # name -> (message, decoded by the lean parser itself)
    "old tun, tap by ifi_type": (encode(5, 1, [["IFLA_IFNAME", "t"], linkinfo("tun", [["IFLA_TUN_PI", 1]])]),
                                 True),
    "old tun, tun by ifi_type": (encode(5, 65534, [["IFLA_IFNAME", "t"], linkinfo("tun", [])]), True),
    "tun without info data": (encode(5, 65534, [["IFLA_IFNAME", "t"], linkinfo("tun")]), True),
    "multi-queue tap": (encode(6, 1, [["IFLA_IFNAME", "mq"], linkinfo("tun", [
        ["IFLA_TUN_TYPE", 2], ["IFLA_TUN_MULTI_QUEUE", 1], ["IFLA_TUN_NUM_QUEUES", 4],
        ["IFLA_TUN_OWNER", 0], ["IFLA_TUN_GROUP", 7], ["IFLA_TUN_VNET_HDR", 1], ["IFLA_TUN_PERSIST", 1]])]),
        True),
    "kindless NIC, no optional attrs": (encode(2, 1, [["IFLA_IFNAME", "em1"],
                                                      ["IFLA_ADDRESS", "52:54:00:12:34:56"]]), True),
    "no name at all": (encode(9, 1, []), True),
    "loopback by flag": (encode(1, 772, [["IFLA_IFNAME", "lo"], ["IFLA_ADDRESS", "00:00:00:00:00:00"]],
                                flags=0x49), True),
    "counters in their fields": (encode(3, 1, [["IFLA_IFNAME", "c"], ["IFLA_STATS64", STATS]]), True),
    "every operstate": (encode(3, 1, [["IFLA_IFNAME", "o"], ["IFLA_OPERSTATE", "DORMANT"],
                                      ["IFLA_CARRIER", 0]]), True),
    "bridge with vlan filtering": (encode(4, 1, [["IFLA_IFNAME", "br"], linkinfo("bridge", [
        ["IFLA_BR_VLAN_FILTERING", 1], ["IFLA_BR_STP_STATE", 2], ["IFLA_BR_PRIORITY", 1],
        ["IFLA_BR_FORWARD_DELAY", 1550], ["IFLA_BR_BRIDGE_ID", {"prio": 1, "addr": "02:00:00:00:00:01"}]])]),
        True),
    "bridge without data": (encode(4, 1, [["IFLA_IFNAME", "br"], linkinfo("bridge")]), True),
    "blocking bridge port": (encode(7, 1, [["IFLA_IFNAME", "p"], ["IFLA_MASTER", 4], linkinfo(
        "veth", None, ("bridge", [["IFLA_BRPORT_STATE", 4], ["IFLA_BRPORT_COST", 100],
                                  ["IFLA_BRPORT_PRIORITY", 63]]))]), True),
    "bridge port in an unknown state": (encode(7, 1, [["IFLA_IFNAME", "p"], linkinfo(
        None, None, ("bridge", [["IFLA_BRPORT_STATE", 9]]))]), True),
    "802.1ad vlan": (encode(8, 1, [["IFLA_IFNAME", "v"], ["IFLA_LINK", 2], linkinfo(
        "vlan", [["IFLA_VLAN_ID", 4094], ["IFLA_VLAN_PROTOCOL", 0x88A8]])]), True),
    "vlan of an odd protocol": (encode(8, 1, [["IFLA_IFNAME", "v"], linkinfo(
        "vlan", [["IFLA_VLAN_PROTOCOL", 0x1234]])]), True),
    "peer in a namespace with no nsid": (encode(3, 1, [["IFLA_IFNAME", "x"], ["IFLA_LINK", 7],
                                                       ["IFLA_LINK_NETNSID", -1], linkinfo("veth")]), True),
    "first of two names wins": (encode(3, 1, [["IFLA_IFNAME", "one"], ["IFLA_IFNAME", "two"]]), True),
    "ifb and dummy and nlmon": (encode(3, 1, [["IFLA_IFNAME", "i"], linkinfo("ifb")]), True),
    "unknown kind": (encode(3, 824, [["IFLA_IFNAME", "u"], linkinfo("frobnicator")]), False),
    "vxlan to an IPv6 multicast group": (encode(9, 1, [["IFLA_IFNAME", "vx6"], linkinfo("vxlan", [
        ["IFLA_VXLAN_ID", 16777215], ["IFLA_VXLAN_GROUP6", "ff05::100"], ["IFLA_VXLAN_LOCAL6", "2001:db8::1"],
        ["IFLA_VXLAN_PORT", 8472], ["IFLA_VXLAN_LINK", 3]])]), True),
    "vxlan to an IPv4 group, no lower": (encode(9, 1, [["IFLA_IFNAME", "vxg"], linkinfo("vxlan", [
        ["IFLA_VXLAN_ID", 5], ["IFLA_VXLAN_GROUP", "239.1.1.1"]])]), True),
    "vxlan, IFLA_LINK beats IFLA_VXLAN_LINK": (encode(9, 1, [["IFLA_IFNAME", "vxl"], ["IFLA_LINK", 7],
                                                             linkinfo("vxlan", [["IFLA_VXLAN_LINK", 3]])]), True),
    "macvlan in an unknown mode": (encode(10, 1, [["IFLA_IFNAME", "mv"], ["IFLA_LINK", 3], linkinfo(
        "macvlan", [["IFLA_MACVLAN_MODE", 32]])]), True),
    "macvtap in passthru mode": (encode(10, 1, [["IFLA_IFNAME", "mt"], linkinfo(
        "macvtap", [["IFLA_MACVTAP_MODE", "passthru"]])]), True),
    "vrf port": (encode(3, 1, [["IFLA_IFNAME", "s"], linkinfo(None, None, ("vrf", bytes.fromhex("0800010005000000")))]), False),
}


def _patch(msg: bytes, old: bytes, new: bytes) -> bytes:
    assert msg.count(old) == 1
    return msg.replace(old, new)


def _append(msg: bytes, attr_type: int, payload: bytes) -> bytes:
    """`msg` with one more attribute at its end (the length fixed up)."""
    attr = struct.pack("=HH", 4 + len(payload), attr_type) + payload
    attr += bytes(-len(attr) % 4)
    return struct.pack("=I", len(msg) + len(attr)) + msg[4:] + attr


# Byte-level corners pyroute2's encoder will not make.
CORNERS["short IFLA_STATS64"] = (_append(encode(3, 1, [["IFLA_IFNAME", "s"]]), 23, bytes(64)), False)
CORNERS["nested flag on IFLA_LINKINFO"] = (
    _append(encode(3, 1, [["IFLA_IFNAME", "n"]]), 18 | 0x8000,
            struct.pack("=HH", 9, 1) + b"veth\0" + bytes(3)), True)
CORNERS["info data before the kind"] = (
    _append(encode(3, 1, [["IFLA_IFNAME", "d"]]), 18,
            struct.pack("=HH", 4, 2) + struct.pack("=HH", 8, 1) + b"tun\0"), False)
# Not UTF-8: both paths give the internal form of vnettop.names (pyroute2 keeps bytes; decode_link turns
# them into it); the lean parser decodes such a name itself.
CORNERS["name not UTF-8"] = (_patch(encode(3, 1, [["IFLA_IFNAME", "abc"]]), b"abc", b"a\xffc"), True)
CORNERS["kind not UTF-8"] = (
    _append(encode(3, 1, [["IFLA_IFNAME", "k"]]), 18, struct.pack("=HH", 8, 1) + b"k\xfe\0\0"), False)
CORNERS["MAC type with a 4-byte address"] = (
    _patch(encode(3, 1, [["IFLA_IFNAME", "g"], ["IFLA_ADDRESS", "02:00:00:00:00:99"]]),
           struct.pack("=HH", 10, 1) + bytes.fromhex("020000000099"),
           struct.pack("=HH", 8, 1) + bytes.fromhex("c0000201") + struct.pack("=HH", 4, 0)), False)


@pytest.mark.parametrize("case", sorted(CORNERS))
def test_corner_decodes_alike(case: str) -> None:
    msg, lean_itself = CORNERS[case]
    theirs = pyroute2_draft(msg)
    ours = lean_draft(msg)
    assert (ours is not None) == lean_itself
    assert_same(ours if ours is not None else rtnl_parser.pyroute2_link(msg, NS), theirs)


def test_corners_are_not_all_defaults() -> None:
    assert pyroute2_draft(CORNERS["name not UTF-8"][0]).link.name == "a\udcffc"  # never "b'a\\xffc'"
    assert pyroute2_draft(CORNERS["kind not UTF-8"][0]).link.kind == "k\udcfe"
    counters = pyroute2_draft(CORNERS["counters in their fields"][0]).link.stats
    assert (counters.rx_packets, counters.tx_packets, counters.rx_bytes, counters.tx_dropped) == (1, 2, 3, 8)
    mq = lean_draft(CORNERS["multi-queue tap"][0])
    assert mq is not None and mq.link.tun is not None
    assert (mq.link.tun.num_queues, mq.link.tun.owner, mq.link.tun.group) == (4, 0, 7)
    br = lean_draft(CORNERS["bridge with vlan filtering"][0])
    assert br is not None and br.link.bridge is not None and br.link.bridge.vlan_filtering
    assert dict(br.link.info)["bridge_id"] == "0100.02:00:00:00:00:01"
    assert lean_draft(CORNERS["peer in a namespace with no nsid"][0]).link_nsid == -1  # type: ignore[union-attr]
    mt = pyroute2_draft(CORNERS["macvtap in passthru mode"][0]).link
    assert dict(mt.info) == {"mode": "passthru"}  # pyroute2 names it IFLA_MACVTAP_MODE; decode_link reads both
    vx6 = pyroute2_draft(CORNERS["vxlan to an IPv6 multicast group"][0])
    assert dict(vx6.link.info) == {"vni": "16777215", "group": "ff05::100", "local": "2001:db8::1", "port": "8472"}
    assert vx6.link_ifindex == 3


def test_an_odd_vxlan_address_is_left_to_pyroute2_and_reported() -> None:
    msg = _append(encode(9, 1, [["IFLA_IFNAME", "vxo"]]), 18,
                  struct.pack("=HH", 10, 1) + b"vxlan\0" + bytes(2)
                  + struct.pack("=HH", 16, 2) + struct.pack("=HH", 12, 2) + bytes(8))
    assert lean_draft(msg) is None
    reply = nsdump.Reply(RTM_NEWLINK, lambda b, o, n: rtnl_parser.parse_link(b, o, n, NS))
    reply(memoryview(msg), None)
    assert reply.items == [] and reply.left == [msg]
    with pytest.raises(ValueError):  # what dump_with turns into "cannot decode link 9"
        rtnl_parser.pyroute2_link(msg, NS)


def test_truncated_attribute_chain_is_left_to_pyroute2() -> None:
    msg = bytearray(encode(3, 1, [["IFLA_IFNAME", "x"], ["IFLA_MTU", 1500]]))
    struct.pack_into("=H", msg, 32, 200)  # the first attribute claims more bytes than the message has
    with pytest.raises(rtnl_parser.Fallback):
        rtnl_parser.parse_link(memoryview(bytes(msg)), 0, len(msg), NS)


# -- the attribute numbers are pyroute2's ---------------------------------------------------------------


def numbers(cls: Any) -> dict[str, int]:
    out = {}
    for i, entry in enumerate(cls.nla_map):
        if isinstance(entry[0], int):
            out[entry[1]] = entry[0]
        else:
            out[entry[0]] = i
    return out


@pytest.mark.parametrize(("table", "cls"), [
    (rtnl_parser.TOP, ifinfmsg), (rtnl_parser.DATA["tun"], tun), (rtnl_parser.DATA["vlan"], vlan),
    (rtnl_parser.DATA["bridge"], ifinfmsg.ifinfo.bridge_data), (rtnl_parser.DATA["vxlan"], vxlan),
    (rtnl_parser.DATA["macvlan"], ifinfmsg.ifinfo.macvlan_data), (rtnl_parser.DATA["macvtap"], ifinfmsg.ifinfo.macvtap_data),
    (rtnl_parser.SLAVE_DATA["bridge"], protinfo_bridge), (rtnl_parser.ADDR, ifaddrmsg), (rtnl_parser.NEIGH, ndmsg),
])
def test_attribute_numbers_match_pyroute2(table: dict[int, tuple[str, Any]], cls: Any) -> None:
    known = numbers(cls)
    assert {name: number for number, (name, _read) in table.items()} == {n: known[n] for _, (n, _r) in table.items()}


def test_info_numbers_match_pyroute2() -> None:
    known = numbers(ifinfmsg.ifinfo)
    assert (known["IFLA_INFO_KIND"], known["IFLA_INFO_DATA"], known["IFLA_INFO_SLAVE_KIND"],
            known["IFLA_INFO_SLAVE_DATA"]) == (rtnl_parser.IFLA_INFO_KIND, rtnl_parser.IFLA_INFO_DATA,
                                               rtnl_parser.IFLA_INFO_SLAVE_KIND, rtnl_parser.IFLA_INFO_SLAVE_DATA)
    assert numbers(ifinfmsg)["IFLA_LINKINFO"] == rtnl_parser.IFLA_LINKINFO


@pytest.mark.parametrize("kind", sorted(k for k in rtnl_parser.LEAN_KINDS if k not in rtnl_parser.DATA and k))
def test_lean_kinds_without_a_data_table_have_no_info(kind: str) -> None:
    """If decode_link ever learns to show something for one of these kinds, this fails: teach rtnl_parser."""
    anything = _Attrs({"attrs": [(f"IFLA_{x}", 1) for x in ("VLAN_ID", "MACVLAN_MODE", "VXLAN_ID", "LOCAL")]})
    assert _info(kind, anything, None, _Attrs(None)) == {}


# -- requests ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("request_", "cls", "family"), [
    (nsdump.LINK_REQUEST, ifinfmsg, 0), (nsdump.ADDR_REQUEST, ifaddrmsg, 0),
    (nsdump.FDB_REQUEST, ndmsg, 7)])
def test_requests_are_plain_dumps(request_: Any, cls: Any, family: int) -> None:
    data = request_(41)
    msg = cls(data)
    msg.decode()
    assert msg["header"]["flags"] == 0x301 and msg["header"]["sequence_number"] == 41
    assert msg["header"]["length"] == len(data) and msg["family"] == family
    assert msg["attrs"] == []


# -- a whole namespace over a fake socket -------------------------------------------------------------------


FILES = {rtnl_parser.RTM_GETLINK: "links", rtnl_parser.RTM_GETADDR: "addrs", rtnl_parser.RTM_GETNEIGH: "fdb"}


class FakeKernel:
    """Answers lean requests from the recordings of one namespace, split over several datagrams."""

    def __init__(self, tag: str, pieces: int = 3, done_errno: dict[int, int] | None = None,
                 interrupted: dict[int, int] | None = None, broken: bool = False) -> None:
        self.tag, self.pieces = tag, pieces
        self.done_errno = done_errno or {}
        self.interrupted = interrupted or {}
        self.broken = broken
        self.pending: list[bytes] = []
        self.asked: list[int] = []

    def settimeout(self, timeout: float) -> None:
        pass

    def send(self, data: bytes) -> int:
        mtype, seq = struct.unpack_from("=H", data, 4)[0], struct.unpack_from("=I", data, 8)[0]
        self.asked.append(mtype)
        msgs = [m[:8] + struct.pack("=I", seq) + m[12:] for m in messages(raw(f"{FILES[mtype]}_{self.tag}"))]
        if self.interrupted.get(mtype):
            self.interrupted[mtype] -= 1
            msgs[0] = msgs[0][:6] + struct.pack("=H", struct.unpack_from("=H", msgs[0], 6)[0] | 0x10) + msgs[0][8:]
        if mtype in self.done_errno:
            msgs = [struct.pack("=IHHIIi", 20, 3, 2, seq, 0, -self.done_errno[mtype])]
        step = max(1, len(msgs) // self.pieces)
        self.pending = [b"".join(msgs[i:i + step]) for i in range(0, len(msgs), step)]
        return len(data)

    def recv_into(self, buf: Any, nbytes: int, flags: int) -> int:
        if self.broken:
            raise TimeoutError("timed out")
        chunk = self.pending.pop(0)
        if len(chunk) > nbytes:
            # As the kernel does: a part of a dump is made no longer than the reader reads (the rest
            # comes in the next part), so the answer is never cut.
            msgs, cut = messages(chunk), 0
            while cut < len(msgs) and sum(map(len, msgs[:cut + 1])) <= nbytes:
                cut += 1
            assert cut, "a single message longer than the read"
            chunk, rest = b"".join(msgs[:cut]), b"".join(msgs[cut:])
            self.pending.insert(0, rest)
        buf[:len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        pass


def lean_socket(kernel: FakeKernel) -> counters.StatsSocket:
    return counters.StatsSocket(kernel)  # type: ignore[arg-type]


@pytest.mark.parametrize("tag", ["a", "b"])
def test_namespace_dump_equals_the_pyroute2_path(tag: str) -> None:
    kernel = FakeKernel(tag)
    ours = nsdump.dump_with(lean_socket(kernel), NS)
    theirs = decode.dump_namespace_pyroute2(FakeIPRoute(tag), NS)
    assert ours == theirs
    assert ours.errors == () and len(ours.drafts) == len(link_messages(f"links_{tag}"))
    asked = [rtnl_parser.RTM_GETLINK, rtnl_parser.RTM_GETADDR] + ([rtnl_parser.RTM_GETNEIGH] if tag == "a" else [])
    assert kernel.asked == asked  # the FDB only where there is a bridge


def test_dump_namespace_uses_the_given_socket() -> None:
    kernel = FakeKernel("a")
    dump = nsdump.dump_namespace(FakeIPRoute("a"), NS, sock=lean_socket(kernel))
    assert kernel.asked and dump == decode.dump_namespace_pyroute2(FakeIPRoute("a"), NS)


def test_a_refused_link_dump_reports_the_kernels_errno() -> None:
    dump = nsdump.dump_with(lean_socket(FakeKernel("a", done_errno={rtnl_parser.RTM_GETLINK: errno.EPERM})), NS)
    assert dump.drafts == ()
    assert [e.message for e in dump.errors] == ["link dump failed: Operation not permitted"]


def test_a_refused_address_dump_keeps_the_links() -> None:
    kernel = FakeKernel("b", done_errno={rtnl_parser.RTM_GETADDR: errno.EINVAL})
    dump = nsdump.dump_with(lean_socket(kernel), NS)
    assert [d.link.name for d in dump.drafts] == ["lo", "x1", "mvx"]
    assert all(d.link.addresses == () for d in dump.drafts)
    assert [e.message for e in dump.errors] == ["address dump failed: Invalid argument"]


def test_an_interrupted_dump_is_retried() -> None:
    kernel = FakeKernel("b", interrupted={rtnl_parser.RTM_GETLINK: 2})
    dump = nsdump.dump_with(lean_socket(kernel), NS)
    assert kernel.asked == [rtnl_parser.RTM_GETLINK] * 3 + [rtnl_parser.RTM_GETADDR]
    assert dump.errors == () and len(dump.drafts) == 3


def test_a_dump_that_never_settles_is_kept_with_a_warning() -> None:
    kernel = FakeKernel("b", interrupted={rtnl_parser.RTM_GETADDR: 5})
    dump = nsdump.dump_with(lean_socket(kernel), NS)
    assert kernel.asked == [rtnl_parser.RTM_GETLINK] + [rtnl_parser.RTM_GETADDR] * 3
    assert [d.link.addresses for d in dump.drafts if d.link.name == "x1"] == [("10.1.0.2/30", "fe80::ff:fe00:1a01/64")]
    assert [e.message for e in dump.errors] == ["address dump kept changing; it may be incomplete"]


def test_a_broken_socket_falls_back_to_pyroute2(monkeypatch: pytest.MonkeyPatch) -> None:
    forgotten: list[Any] = []
    monkeypatch.setattr(counters, "_socket_for", lambda ipr: lean_socket(FakeKernel("a", broken=True)))
    monkeypatch.setattr(counters, "forget", forgotten.append)
    ipr = FakeIPRoute("a")
    assert nsdump.dump_fast(ipr, NS) is None
    assert forgotten == [ipr]  # never reused
    dump = nsdump.dump_namespace(ipr, NS)
    assert ipr.calls == ["link", "addr", "fdb"]  # pyroute2 did it
    assert dump == decode.dump_namespace_pyroute2(FakeIPRoute("a"), NS)


def test_without_a_lean_socket_pyroute2_does_it() -> None:
    ipr = FakeIPRoute("b")  # no fileno: no socket can be opened beside it
    dump = nsdump.dump_namespace(ipr, NS)
    assert ipr.calls == ["link", "addr"] and len(dump.drafts) == 3


def test_with_only_a_lean_socket_no_iproute_is_needed() -> None:
    dump = nsdump.dump_namespace(None, NS, sock=lean_socket(FakeKernel("b")))
    assert [d.link.name for d in dump.drafts] == ["lo", "x1", "mvx"] and dump.errors == ()
    broken = nsdump.dump_namespace(None, NS, sock=lean_socket(FakeKernel("b", broken=True)))
    assert broken.drafts == ()
    assert [e.message for e in broken.errors] == ["link dump failed: the netlink socket broke"]


def test_a_parser_surprise_leaves_the_message_to_pyroute2(monkeypatch: pytest.MonkeyPatch) -> None:
    def surprised(buf: memoryview, off: int, length: int, netns: int) -> LinkDraft:
        raise KeyError("something the lean parser did not expect")

    monkeypatch.setattr(nsdump, "parse_link", surprised)
    dump = nsdump.dump_with(lean_socket(FakeKernel("b")), NS)
    assert dump == decode.dump_namespace_pyroute2(FakeIPRoute("b"), NS)  # every message went to pyroute2


def test_an_unexpected_failure_falls_back_instead_of_raising(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_join(*args: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(nsdump, "join_dump", broken_join)
    assert nsdump.dump_fast(None, NS, sock=lean_socket(FakeKernel("b"))) is None
    dump = nsdump.dump_namespace(FakeIPRoute("b"), NS, sock=lean_socket(FakeKernel("b")))
    assert len(dump.drafts) == 3 and dump.errors == ()  # pyroute2 took over
