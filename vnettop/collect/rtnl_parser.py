"""Struct parsers of RTM_NEWLINK / RTM_NEWADDR / AF_BRIDGE RTM_NEWNEIGH messages, beside pyroute2.

Why it exists: a full dump of every namespace is the collector's first (and any event-driven) pass.
pyroute2 parses every attribute of a ~1.5 KB link message into nested objects (~100 us a link here,
nested IFLA_LINKINFO decoding the costliest part), of which vnettop reads about fifteen. This module
walks the attribute chain with `struct.unpack_from` (or, for a link, reads it at the offsets of a link
of the same shape seen before: `linux.attr_shapes`) and decodes only those, into the very values
pyroute2 would give (same names, same shapes; IFLA_STATS64 straight into the `Stats` record `decode`
makes of pyroute2's dict), then hands them to `decode.draft_from`, the builder
`decode_link` uses too: the two paths can differ only in *reading* bytes, which
`tests/pure/test_rtnl_parser.py` checks message by message on every recorded reply.

What it decodes itself: the ifinfomsg header, IFLA_IFNAME, ADDRESS, MTU, LINK, MASTER, OPERSTATE,
CARRIER, LINK_NETNSID, STATS64, and IFLA_LINKINFO for the kinds in `LEAN_KINDS` (tun, bridge, vlan,
vxlan, macvlan, macvtap, veth, and kinds whose `Link.info` is always empty) with no slave kind or a
bridge port. vxlan and macvlan are here, beyond the minimum, because a Linux-bridge OpenStack host is
full of them and one such device would otherwise import pyroute2 (~120-250 ms, ~15 MB) into a dump
that needs nothing else from it. Any other message -- bond, gre, ipvlan, geneve, vrf..., a bond or vrf
port, an attribute shorter than its type -- is handed whole to pyroute2's
`ifinfmsg` and `decode_link`: correctness never depends on this parser knowing a kind. A name that is
not UTF-8 is decoded here, into the form `decode_link` makes of pyroute2's bytes (`vnettop.names`).

Measured here (2 cores shared with other test runs, so figures are ranges): `dump_namespace` over 200
namespaces of lo + 3 veth ends (800 links) took 551-990 ms through pyroute2 and 42-130 ms through this
parser; a recorded link message costs ~28 us here against ~100-550 us through pyroute2 + `decode_link`.
The requests and the socket side are in `dump`.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Container, Mapping
from typing import Any

from vnettop import names
from vnettop.collect.decode import (
    MAC_TYPES,
    decode_addresses,
    decode_fdb,
    decode_link,
    draft_from,
)
from vnettop.collect.types import LinkDraft
from vnettop.linux.attr_shapes import AttributeShapes
from vnettop.linux.netlink import attributes
from vnettop.model import FdbEntry, Stats, make_Stats

RTM_NEWLINK, RTM_GETLINK, RTM_NEWADDR, RTM_GETADDR, RTM_NEWNEIGH, RTM_GETNEIGH = 16, 18, 20, 22, 28, 30
AF_BRIDGE = 7

#: Kinds whose IFLA_INFO_DATA this module decodes fully (tun, bridge, vlan) or that `decode_link`
#: reads nothing from but the kind itself. Everything else goes to pyroute2.
LEAN_KINDS = frozenset({None, "veth", "tun", "bridge", "vlan", "vxlan", "macvlan", "macvtap", "ifb", "dummy",
                        "wireguard", "nlmon"})
LEAN_SLAVE_KINDS = frozenset({None, "bridge"})
OPER_STATES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")
#: pyroute2 decodes IFLA_STATS64 as this many u64 counters; a shorter payload is not decoded there.
STATS64_MIN = 23 * 8

_IFI = struct.Struct("=BxHiI")  # ifinfomsg after nlmsghdr: family, pad, type, index, flags (change: unused)
_IFA = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefixlen, flags, scope, index
_NDM = struct.Struct("=B3xiHBB")  # ndmsg: family, pad, ifindex, state, flags, type
_U8, _U16, _U32, _I32, _BE16 = (struct.Struct(f) for f in ("=B", "=H", "=I", "=i", ">H"))
_COUNTERS = struct.Struct("=8Q")  # rx/tx packets, rx/tx bytes, rx/tx errors, rx/tx dropped

Reader = Callable[[memoryview, int, int], Any]
Table = Mapping[int, tuple[str, Reader]]


class Fallback(Exception):
    """This message is not one this parser decodes exactly like pyroute2: let pyroute2 do it."""


class Decoded(dict[str, Any]):
    """Attribute values keyed by pyroute2's names; called like `decode._Attrs` (`data("IFLA_...")`)."""

    def __call__(self, name: str) -> Any:
        return self.get(name)


_EMPTY = Decoded()


# -- value readers: each gives what pyroute2's nla type of that attribute decodes to --------------------


def _unpacker(fmt: struct.Struct) -> Reader:
    def read(buf: memoryview, pos: int, size: int) -> Any:
        if size < fmt.size:
            raise Fallback("attribute shorter than its type")
        return fmt.unpack_from(buf, pos)[0]

    return read


def _asciiz(buf: memoryview, pos: int, size: int) -> str:
    """A name in vnettop's internal form (`vnettop.names`): a byte that is not UTF-8 is kept escaped."""
    return names.from_bytes(bytes(buf[pos:pos + size]).strip(b"\0"))


def _mac(buf: memoryview, pos: int, size: int) -> str | bytes:
    """pyroute2's `l2addr`: the first 6 bytes; shorter (a gre's IPv4 address) stays bytes there."""
    if size < 6:
        return bytes(buf[pos:pos + size])
    return bytes(buf[pos:pos + 6]).hex(":")


def _operstate(buf: memoryview, pos: int, size: int) -> str:
    code = _u8(buf, pos, size)
    if code >= len(OPER_STATES):
        raise Fallback("unknown operstate")
    return OPER_STATES[code]


def _stats64(buf: memoryview, pos: int, size: int) -> Stats:
    """The counters as the record `decode` makes of pyroute2's dict (made here at once: the dict and
    its conversion were ~10% of a link's parse)."""
    if size < STATS64_MIN:
        raise Fallback("short IFLA_STATS64")
    rxp, txp, rxb, txb, rxe, txe, rxd, txd = _COUNTERS.unpack_from(buf, pos)
    return make_Stats(rxb, txb, rxp, txp, rxe, txe, rxd, txd)


def _bridge_id(buf: memoryview, pos: int, size: int) -> dict[str, Any]:
    if size < 8:
        raise Fallback("short bridge id")
    return {"prio": _U16.unpack_from(buf, pos)[0], "addr": bytes(buf[pos + 2:pos + 8]).hex(":")}


_u8, _u16, _u32, _i32, _be16 = (_unpacker(f) for f in (_U8, _U16, _U32, _I32, _BE16))
MACVLAN_MODES = {0: "none", 1: "private", 2: "vepa", 4: "bridge", 8: "passthru", 16: "source"}


def _macvlan_mode(buf: memoryview, pos: int, size: int) -> Any:
    """pyroute2's macvlan `mode`: the name of a known mode, else the number."""
    code = _u32(buf, pos, size)
    return MACVLAN_MODES.get(code, code)


def _inet(family: int, width: int) -> Reader:
    """pyroute2's `ip4addr` / `ip6addr`: exactly `width` bytes as text (else pyroute2 keeps bytes)."""
    def read(buf: memoryview, pos: int, size: int) -> str:
        if size != width:
            raise Fallback("address of an odd size")
        return socket.inet_ntop(family, bytes(buf[pos:pos + size]))

    return read


_ip4, _ip6 = _inet(socket.AF_INET, 4), _inet(socket.AF_INET6, 16)

TOP: Table = {
    1: ("IFLA_ADDRESS", _mac), 3: ("IFLA_IFNAME", _asciiz), 4: ("IFLA_MTU", _u32), 5: ("IFLA_LINK", _u32),
    10: ("IFLA_MASTER", _u32), 16: ("IFLA_OPERSTATE", _operstate), 23: ("IFLA_STATS64", _stats64),
    33: ("IFLA_CARRIER", _u8), 37: ("IFLA_LINK_NETNSID", _i32),
}
IFLA_LINKINFO = 18
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA = 1, 2, 4, 5
INFO = frozenset({IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA})
TOP_WANTED = frozenset({*TOP, IFLA_LINKINFO})
#: The link message's own attributes, found from its shape when the host's links had it before.
_TOP_SHAPES = AttributeShapes(TOP_WANTED)
#: IFLA_INFO_DATA per kind: only the attributes `decode.draft_from` reads.
DATA: dict[str, Table] = {
    "tun": {1: ("IFLA_TUN_OWNER", _u32), 2: ("IFLA_TUN_GROUP", _u32), 3: ("IFLA_TUN_TYPE", _u8),
            4: ("IFLA_TUN_PI", _u8), 5: ("IFLA_TUN_VNET_HDR", _u8), 6: ("IFLA_TUN_PERSIST", _u8),
            7: ("IFLA_TUN_MULTI_QUEUE", _u8), 8: ("IFLA_TUN_NUM_QUEUES", _u32)},
    "bridge": {1: ("IFLA_BR_FORWARD_DELAY", _u32), 5: ("IFLA_BR_STP_STATE", _u32),
               6: ("IFLA_BR_PRIORITY", _u16), 7: ("IFLA_BR_VLAN_FILTERING", _u8),
               11: ("IFLA_BR_BRIDGE_ID", _bridge_id)},
    "vlan": {1: ("IFLA_VLAN_ID", _u16), 5: ("IFLA_VLAN_PROTOCOL", _be16)},
    "vxlan": {1: ("IFLA_VXLAN_ID", _u32), 2: ("IFLA_VXLAN_GROUP", _ip4), 3: ("IFLA_VXLAN_LINK", _u32),
              4: ("IFLA_VXLAN_LOCAL", _ip4), 15: ("IFLA_VXLAN_PORT", _be16), 16: ("IFLA_VXLAN_GROUP6", _ip6),
              17: ("IFLA_VXLAN_LOCAL6", _ip6)},
    "macvlan": {1: ("IFLA_MACVLAN_MODE", _macvlan_mode)},
    "macvtap": {1: ("IFLA_MACVTAP_MODE", _macvlan_mode)},
}
SLAVE_DATA: dict[str, Table] = {
    "bridge": {1: ("IFLA_BRPORT_STATE", _u8), 2: ("IFLA_BRPORT_PRIORITY", _u16),
               3: ("IFLA_BRPORT_COST", _u32)},
}


def _pick(buf: memoryview, pos: int, end: int, wanted: Container[int]) -> dict[int, tuple[int, int]]:
    """Type -> (payload offset, size) of the first attribute of each wanted type in [pos, end) (the
    first, as `decode._Attrs` keeps the first); Fallback if the chain is malformed."""
    try:
        return attributes(buf, pos, end, wanted)
    except ValueError as exc:
        raise Fallback(str(exc)) from None


def _decode(buf: memoryview, found: dict[int, tuple[int, int]], table: Table) -> Decoded:
    out = Decoded()
    for kind, (pos, size) in found.items():
        name, read = table[kind]
        out[name] = read(buf, pos, size)
    return out


def _nested(buf: memoryview, where: tuple[int, int] | None, table: Table) -> Decoded:
    if where is None:
        return _EMPTY
    pos, size = where
    return _decode(buf, _pick(buf, pos, pos + size, table), table)


def parse_link(buf: memoryview, off: int, length: int, netns: int) -> LinkDraft:
    """One RTM_NEWLINK at `off` -> its LinkDraft, or Fallback if pyroute2 must decode it."""
    if length < 32:
        raise Fallback("short ifinfomsg")
    _family, ifi_type, index, flags = _IFI.unpack_from(buf, off + 16)
    try:
        found = _TOP_SHAPES.find(buf, off + 32, off + length)
    except ValueError as exc:
        raise Fallback(str(exc)) from None
    info = found.pop(IFLA_LINKINFO, None)
    top = _decode(buf, found, TOP)
    if ifi_type in MAC_TYPES and isinstance(top.get("IFLA_ADDRESS"), bytes):
        raise Fallback("short MAC")  # shown as is by the pyroute2 path; let it decide
    kind = slave_kind = None
    data = slave_data = _EMPTY
    if info is not None:
        parts = _pick(buf, info[0], info[0] + info[1], INFO)
        kind = _asciiz(buf, *parts[IFLA_INFO_KIND]) if IFLA_INFO_KIND in parts else None
        slave_kind = _asciiz(buf, *parts[IFLA_INFO_SLAVE_KIND]) if IFLA_INFO_SLAVE_KIND in parts else None
        if kind not in LEAN_KINDS or slave_kind not in LEAN_SLAVE_KINDS:
            raise Fallback(f"kind {kind!r}, slave kind {slave_kind!r}")
        for data_type, kind_type in ((IFLA_INFO_DATA, IFLA_INFO_KIND),
                                     (IFLA_INFO_SLAVE_DATA, IFLA_INFO_SLAVE_KIND)):
            if data_type in parts and (kind_type not in parts or parts[data_type] < parts[kind_type]):
                raise Fallback("data before its kind")  # pyroute2 picks the data's type from what precedes
        if kind in DATA:
            data = _nested(buf, parts.get(IFLA_INFO_DATA), DATA[kind])
        if slave_kind in SLAVE_DATA:
            slave_data = _nested(buf, parts.get(IFLA_INFO_SLAVE_DATA), SLAVE_DATA[slave_kind])
    return draft_from(netns, index, ifi_type, flags, top, kind, data, slave_kind, slave_data)


def pyroute2_link(raw: bytes, netns: int) -> LinkDraft:
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    msg = ifinfmsg(raw)
    msg.decode()
    return decode_link(msg, netns)


def pyroute2_addresses(raws: list[bytes]) -> dict[int, tuple[str, ...]]:
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg

    msgs = [ifaddrmsg(raw) for raw in raws]
    for msg in msgs:
        msg.decode()
    return decode_addresses(msgs)


def pyroute2_fdb(raws: list[bytes]) -> dict[int, tuple[FdbEntry, ...]]:
    from pyroute2.netlink.rtnl.ndmsg import ndmsg

    msgs = [ndmsg(raw) for raw in raws]
    for msg in msgs:
        msg.decode()
    return decode_fdb(msgs)


# -- addresses and FDB: the values `decode.address_map` / `fdb_map` take --------------------------------


def _ipaddr(buf: memoryview, pos: int, size: int) -> Any:
    """pyroute2's `ipaddr`: 4 or 16 bytes give an address; anything else stays bytes there, as here."""
    raw = bytes(buf[pos:pos + size])
    if size == 4:
        return socket.inet_ntop(socket.AF_INET, raw)
    if size == 16:
        return socket.inet_ntop(socket.AF_INET6, raw)
    return raw


def _lladdr(buf: memoryview, pos: int, size: int) -> str:
    """pyroute2's `lladdr`: a MAC, an IPv4 / IPv6 address by length, else a hex dump."""
    raw = bytes(buf[pos:pos + size])
    if size == 4:
        return socket.inet_ntop(socket.AF_INET, raw)
    if size == 16:
        return socket.inet_ntop(socket.AF_INET6, raw)
    return raw.hex(":")


ADDR: Table = {1: ("IFA_ADDRESS", _ipaddr), 2: ("IFA_LOCAL", _ipaddr)}
NEIGH: Table = {2: ("NDA_LLADDR", _lladdr), 5: ("NDA_VLAN", _u16), 9: ("NDA_MASTER", _u32)}


def parse_address(buf: memoryview, off: int, length: int) -> tuple[int, Any, int]:
    _family, prefixlen, _flags, _scope, index = _IFA.unpack_from(buf, off + 16)
    got = _nested(buf, (off + 24, length - 24), ADDR)
    return index, got("IFA_LOCAL") or got("IFA_ADDRESS"), prefixlen


def parse_neigh(buf: memoryview, off: int, length: int) -> tuple[Any, Any, int, int, Any]:
    _family, ifindex, state, _flags, _type = _NDM.unpack_from(buf, off + 16)
    got = _nested(buf, (off + 28, length - 28), NEIGH)
    return got("NDA_MASTER"), got("NDA_LLADDR"), ifindex, state, got("NDA_VLAN")
