"""A lean RTM_GETLINK / RTM_GETADDR / AF_BRIDGE RTM_GETNEIGH dump client: struct parsing beside pyroute2.

Why it exists: a full dump of every namespace is the collector's first (and any event-driven) pass.
pyroute2 parses every attribute of a ~1.5 KB link message into nested objects (~100 us a link here,
nested IFLA_LINKINFO decoding the costliest part), of which vnettop reads about fifteen. This module
walks the attribute chain with `struct.unpack_from` and decodes only those, into the very values
pyroute2 would give (same names, same shapes), then hands them to `netlink.draft_from`, the builder
`decode_link` uses too: the two paths can differ only in *reading* bytes, which
`tests/pure/test_lean_link.py` checks message by message on every recorded reply.

What it decodes itself: the ifinfomsg header, IFLA_IFNAME, ADDRESS, MTU, LINK, MASTER, OPERSTATE,
CARRIER, LINK_NETNSID, STATS64, and IFLA_LINKINFO for the kinds in `LEAN_KINDS` (tun, bridge, vlan,
veth, and kinds whose `Link.info` is always empty) with no slave kind or a bridge port. Any other
message -- vxlan, macvlan, bond, gre, ipvlan, geneve, vrf..., a bond or vrf port, an attribute shorter
than its type, a name that is not UTF-8 -- is handed whole to pyroute2's `ifinfmsg` and `decode_link`:
correctness never depends on this parser knowing a kind.

It talks over a `lean.StatsSocket` (its own socket in the namespace, never the caller's IPRoute, whose
notifications it would steal): the one the caller passes, else the one `lean` keeps beside the IPRoute.
Unlike pyroute2 it sees a dump's errno in NLMSG_DONE, and it retries dumps flagged NLM_F_DUMP_INTR.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
from collections.abc import Callable, Container, Mapping
from typing import Any

from vnettop.collect import lean
from vnettop.collect.netlink import (
    MAC_TYPES,
    NLM_F_DUMP_INTR,
    NamespaceDump,
    address_map,
    decode_addresses,
    decode_fdb,
    decode_link,
    draft_from,
    fdb_map,
    join_dump,
)
from vnettop.collect.types import LinkDraft
from vnettop.model import CollectError, FdbEntry

RTM_NEWLINK, RTM_GETLINK, RTM_NEWADDR, RTM_GETADDR, RTM_NEWNEIGH, RTM_GETNEIGH = 16, 18, 20, 22, 28, 30
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
AF_BRIDGE = 7
NLA_TYPE_MASK = 0x3FFF
TRIES = 3  # dumps flagged NLM_F_DUMP_INTR are retried, as in netlink._dump

#: Kinds whose IFLA_INFO_DATA this module decodes fully (tun, bridge, vlan) or that `decode_link`
#: reads nothing from but the kind itself. Everything else goes to pyroute2.
LEAN_KINDS = frozenset({None, "veth", "tun", "bridge", "vlan", "ifb", "dummy", "wireguard", "nlmon"})
LEAN_SLAVE_KINDS = frozenset({None, "bridge"})
OPER_STATES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")
#: pyroute2 decodes IFLA_STATS64 as this many u64 counters; a shorter payload is not decoded there.
STATS64_MIN = 23 * 8

_HDR = struct.Struct("=IHHII")
_NLA = struct.Struct("=HH")
_IFI = struct.Struct("=BxHiI")  # ifinfomsg after nlmsghdr: family, pad, type, index, flags (change: unused)
_IFA = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefixlen, flags, scope, index
_NDM = struct.Struct("=B3xiHBB")  # ndmsg: family, pad, ifindex, state, flags, type
_U8, _U16, _U32, _I32, _BE16 = (struct.Struct(f) for f in ("=B", "=H", "=I", "=i", ">H"))
_COUNTERS = struct.Struct("=8Q")  # rx/tx packets, rx/tx bytes, rx/tx errors, rx/tx dropped
_DUMP_REQ = struct.Struct("=IHHII16s")  # nlmsghdr + a zeroed family header of up to 16 bytes

Reader = Callable[[memoryview, int, int], Any]
Table = Mapping[int, tuple[str, Reader]]


class Fallback(Exception):
    """This message is not one the lean parser decodes exactly like pyroute2: let pyroute2 do it."""


class Decoded(dict[str, Any]):
    """Attribute values keyed by pyroute2's names; called like `netlink._Attrs` (`data("IFLA_...")`)."""

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
    try:
        return bytes(buf[pos:pos + size]).strip(b"\0").decode("utf-8")
    except UnicodeDecodeError:  # pyroute2 keeps the bytes; let it
        raise Fallback("name is not UTF-8") from None


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


def _stats64(buf: memoryview, pos: int, size: int) -> dict[str, int]:
    if size < STATS64_MIN:
        raise Fallback("short IFLA_STATS64")
    rxp, txp, rxb, txb, rxe, txe, rxd, txd = _COUNTERS.unpack_from(buf, pos)
    return {"rx_packets": rxp, "tx_packets": txp, "rx_bytes": rxb, "tx_bytes": txb, "rx_errors": rxe,
            "tx_errors": txe, "rx_dropped": rxd, "tx_dropped": txd}


def _bridge_id(buf: memoryview, pos: int, size: int) -> dict[str, Any]:
    if size < 8:
        raise Fallback("short bridge id")
    return {"prio": _U16.unpack_from(buf, pos)[0], "addr": bytes(buf[pos + 2:pos + 8]).hex(":")}


_u8, _u16, _u32, _i32, _be16 = (_unpacker(f) for f in (_U8, _U16, _U32, _I32, _BE16))

TOP: Table = {
    1: ("IFLA_ADDRESS", _mac), 3: ("IFLA_IFNAME", _asciiz), 4: ("IFLA_MTU", _u32), 5: ("IFLA_LINK", _u32),
    10: ("IFLA_MASTER", _u32), 16: ("IFLA_OPERSTATE", _operstate), 23: ("IFLA_STATS64", _stats64),
    33: ("IFLA_CARRIER", _u8), 37: ("IFLA_LINK_NETNSID", _i32),
}
IFLA_LINKINFO = 18
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA = 1, 2, 4, 5
INFO = frozenset({IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA})
TOP_WANTED = frozenset({*TOP, IFLA_LINKINFO})
#: IFLA_INFO_DATA per kind: only the attributes `netlink.draft_from` reads.
DATA: dict[str, Table] = {
    "tun": {1: ("IFLA_TUN_OWNER", _u32), 2: ("IFLA_TUN_GROUP", _u32), 3: ("IFLA_TUN_TYPE", _u8),
            4: ("IFLA_TUN_PI", _u8), 5: ("IFLA_TUN_VNET_HDR", _u8), 6: ("IFLA_TUN_PERSIST", _u8),
            7: ("IFLA_TUN_MULTI_QUEUE", _u8), 8: ("IFLA_TUN_NUM_QUEUES", _u32)},
    "bridge": {1: ("IFLA_BR_FORWARD_DELAY", _u32), 5: ("IFLA_BR_STP_STATE", _u32),
               6: ("IFLA_BR_PRIORITY", _u16), 7: ("IFLA_BR_VLAN_FILTERING", _u8),
               11: ("IFLA_BR_BRIDGE_ID", _bridge_id)},
    "vlan": {1: ("IFLA_VLAN_ID", _u16), 5: ("IFLA_VLAN_PROTOCOL", _be16)},
}
SLAVE_DATA: dict[str, Table] = {
    "bridge": {1: ("IFLA_BRPORT_STATE", _u8), 2: ("IFLA_BRPORT_PRIORITY", _u16),
               3: ("IFLA_BRPORT_COST", _u32)},
}


def _pick(buf: memoryview, pos: int, end: int, wanted: Container[int]) -> dict[int, tuple[int, int]]:
    """Type -> (payload offset, size) of the first attribute of each wanted type in [pos, end).

    The first, as `netlink._Attrs` keeps the first. One pass, no decoding: a link has ~55 attributes
    and this loop is most of the parser's time. Fallback if the chain is malformed.
    """
    found: dict[int, tuple[int, int]] = {}
    unpack = _NLA.unpack_from
    while pos + 4 <= end:
        size, kind = unpack(buf, pos)
        if size < 4 or pos + size > end:
            raise Fallback("malformed attribute chain")
        kind &= NLA_TYPE_MASK
        if kind in wanted and kind not in found:
            found[kind] = (pos + 4, size - 4)
        pos += (size + 3) & ~3
    return found


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
    found = _pick(buf, off + 32, off + length, TOP_WANTED)
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


def _pyroute2_link(raw: bytes, netns: int) -> LinkDraft:
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    msg = ifinfmsg(raw)
    msg.decode()
    return decode_link(msg, netns)


def _pyroute2_addresses(raws: list[bytes]) -> dict[int, tuple[str, ...]]:
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg

    msgs = [ifaddrmsg(raw) for raw in raws]
    for msg in msgs:
        msg.decode()
    return decode_addresses(msgs)


def _pyroute2_fdb(raws: list[bytes]) -> dict[int, tuple[FdbEntry, ...]]:
    from pyroute2.netlink.rtnl.ndmsg import ndmsg

    msgs = [ndmsg(raw) for raw in raws]
    for msg in msgs:
        msg.decode()
    return decode_fdb(msgs)


# -- addresses and FDB: the values `netlink.address_map` / `fdb_map` take --------------------------------


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


# -- one dump over the socket ----------------------------------------------------------------------------


def build_request(msg_type: int, family: int, header_size: int) -> Callable[[int], bytes]:
    """A dump request: nlmsghdr + the family's header (ifinfomsg 16, ifaddrmsg 8, ndmsg 12), all zero but
    the family -- no filter, exactly what pyroute2's `link/addr/fdb('dump')` ask for."""
    def request(seq: int) -> bytes:
        body = bytes([family]) + bytes(header_size - 1)
        return _DUMP_REQ.pack(16 + header_size, msg_type, NLM_F_REQUEST | NLM_F_DUMP, seq, 0,
                              body)[:16 + header_size]

    return request


class Reply:
    """The messages of one dump answer, split into what the lean parser took and what it left."""

    def __init__(self, want: int, parse: Callable[[memoryview, int, int], Any]) -> None:
        self.want, self.parse = want, parse
        self.items: list[Any] = []
        self.left: list[bytes] = []  # raw messages the parser handed back (Fallback)
        self.interrupted = False

    def __call__(self, buf: memoryview, seq: int | None) -> bool:
        """Consume one datagram; True once NLMSG_DONE arrived. Raises lean.DumpError on a kernel error."""
        off, size = 0, len(buf)
        while off + 16 <= size:
            length, mtype, flags, mseq, _pid = _HDR.unpack_from(buf, off)
            if length < 16 or off + length > size:
                raise OSError(errno.EBADMSG, f"truncated netlink message ({length} bytes at {off})")
            if seq is None or mseq == seq:
                if flags & NLM_F_DUMP_INTR:
                    self.interrupted = True
                if mtype == self.want:
                    try:
                        self.items.append(self.parse(buf, off, length))
                    except (Fallback, struct.error):
                        self.left.append(bytes(buf[off:off + length]))
                elif mtype in (NLMSG_DONE, NLMSG_ERROR):
                    code = _I32.unpack_from(buf, off + 16)[0] if length >= 20 else 0
                    if code < 0:
                        raise lean.DumpError(-code, os.strerror(-code))
                    if mtype == NLMSG_DONE:
                        return True
            off += (length + 3) & ~3
        return False


def _run(sock: lean.StatsSocket, what: str, request: Callable[[int], bytes], want: int,
         parse: Callable[[memoryview, int, int], Any], netns: int,
         errors: list[CollectError]) -> Reply | None:
    """One dump, retried while flagged inconsistent; None (with an error) if the kernel refused it.

    Socket failures (OSError other than DumpError) propagate: the caller falls back to pyroute2.
    """
    reply = None
    for _ in range(TRIES):
        reply = Reply(want, parse)
        try:
            sock.exchange(request, reply)
        except lean.DumpError as exc:
            errors.append(CollectError(f"netns {netns}", f"{what} dump failed: {exc.strerror}"))
            return None
        if not reply.interrupted:
            return reply
    errors.append(CollectError(f"netns {netns}", f"{what} dump kept changing; it may be incomplete"))
    return reply


LINK_REQUEST = build_request(RTM_GETLINK, 0, 16)
ADDR_REQUEST = build_request(RTM_GETADDR, 0, 8)
FDB_REQUEST = build_request(RTM_GETNEIGH, AF_BRIDGE, 12)


def dump_with(sock: lean.StatsSocket, netns: int) -> NamespaceDump:
    """Links, addresses and bridge FDBs over `sock`. Raises OSError only if the socket itself fails."""
    errors: list[CollectError] = []
    links = _run(sock, "link", LINK_REQUEST, RTM_NEWLINK, lambda b, o, n: parse_link(b, o, n, netns),
                 netns, errors)
    if links is None:
        return NamespaceDump((), tuple(errors))
    drafts: list[LinkDraft] = links.items
    for raw in links.left:
        try:
            drafts.append(_pyroute2_link(raw, netns))
        except Exception as exc:  # one odd device must not hide the others
            index = _I32.unpack_from(raw, 20)[0] if len(raw) >= 24 else "?"
            errors.append(CollectError(f"netns {netns}", f"cannot decode link {index}: {exc!r}"))
    addrs: dict[int, tuple[str, ...]] = {}
    reply = _run(sock, "address", ADDR_REQUEST, RTM_NEWADDR, parse_address, netns, errors)
    if reply is not None:
        addrs = _merge(address_map(reply.items), _pyroute2_addresses(reply.left) if reply.left else {},
                       lambda a, b: tuple(sorted(set(a + b), key=_address_order)))
    fdb: dict[int, tuple[FdbEntry, ...]] = {}
    if any(d.link.bridge is not None for d in drafts):
        reply = _run(sock, "fdb", FDB_REQUEST, RTM_NEWNEIGH, parse_neigh, netns, errors)
        if reply is not None:
            fdb = _merge(fdb_map(reply.items), _pyroute2_fdb(reply.left) if reply.left else {},
                         lambda a, b: tuple(sorted(set(a + b), key=_fdb_order)))
    return join_dump(drafts, addrs, fdb, errors)


def _merge(ours: dict[int, Any], theirs: dict[int, Any], both: Callable[[Any, Any], Any]) -> dict[int, Any]:
    """Join the lean parser's map with pyroute2's map of the messages it left (rare: usually empty)."""
    for key, value in theirs.items():
        ours[key] = both(ours[key], value) if key in ours else value
    return ours


def _address_order(text: str) -> tuple[int, Any, Any]:
    iface = ipaddress.ip_interface(text)
    return iface.version, iface.ip, iface.network


def _fdb_order(e: FdbEntry) -> tuple[str, int, int, str]:
    return e.mac, e.vlan or 0, e.port or 0, e.state


def dump_namespace(ipr: Any, netns: int, sock: Any = None) -> NamespaceDump | None:
    """`netlink.dump_namespace` the lean way; None if no lean socket works (the caller uses pyroute2).

    `sock`: a `lean.StatsSocket` already open in that namespace; without it, the one kept beside `ipr`
    (made on first use, closed with `ipr`). A socket that fails mid-dump is dropped, never reused.
    """
    if sock is None:
        try:
            sock = lean._socket_for(ipr)
        except Exception:  # no fileno, SIOCGSKNS / setns refused (no root): pyroute2's way
            return None
        try:
            return dump_with(sock, netns)
        except OSError:
            lean.forget(ipr)
            return None
    try:
        return dump_with(sock, netns)
    except OSError:
        return None
