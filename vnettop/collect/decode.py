"""rtnetlink messages -> model records: the one record builder, and pyroute2's decoding (the reference).

Why a layer of its own: pyroute2's messages are loosely typed nested dicts whose shape depends on the
device kind, the kernel version and pyroute2's plugins; everything above this module sees only the
frozen records of `vnettop.model`. Cross-namespace references (a veth's peer, a macvlan's lower device)
cannot be resolved from one namespace's dump, so this module stops at `LinkDraft`, which carries the raw
indexes; `refs.resolve_links` joins the namespaces. `draft_from` builds a device's record from its
attribute values, whoever decoded them: pyroute2 here (`decode_link`), or the struct parser of
`rtnl_parser`, the fast path `dump` uses (the two are held to the same answers by
tests/pure/test_rtnl_parser.py over recorded replies). This module imports no other kernel reader.

Attributes are read by name from each message's `attrs` list (`get_attr`, or the `_Attrs` index for the
~50-attribute link messages), never with `msg.get('...')`, which mixes header fields with attributes:
`msg.get('event')` is the trap KERNEL-NOTES.md describes.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from itertools import chain
from typing import Any, Protocol

from vnettop import names
from vnettop.collect.types import LinkDraft
from vnettop.linux.netlink import NLM_F_DUMP_INTR
from vnettop.model import (
    BridgeInfo,
    BridgePort,
    CollectError,
    FdbEntry,
    Link,
    Stats,
    TunInfo,
    link_with,
    make_Link,
    pickled_by_constructor,
)

IFF_UP = 0x1
IFF_LOOPBACK = 0x8
#: Device types whose IFLA_ADDRESS is an Ethernet-style MAC (ether, ieee802, loopback). Others (tun,
#: wireguard: none; gre/sit: an IPv4 address; infiniband: 20 bytes) have no MAC to show.
MAC_TYPES = frozenset({1, 6, 772})
RTM_NEWLINK, RTM_NEWADDR, RTM_NEWNEIGH, RTM_NEWSTATS = 16, 20, 28, 92

PORT_STATES = {0: "disabled", 1: "listening", 2: "learning", 3: "forwarding", 4: "blocking"}
NUD_STATES = {128: "permanent", 64: "static", 2: "learned"}
BOND_MODES = {0: "balance-rr", 1: "active-backup", 2: "balance-xor", 3: "broadcast", 4: "802.3ad",
              5: "balance-tlb", 6: "balance-alb"}
IPVLAN_MODES = {0: "l2", 1: "l3", 2: "l3s"}
VLAN_PROTOCOLS = {0x8100: "802.1Q", 0x88A8: "802.1ad"}
TUNNEL_KINDS = frozenset({"gre", "gretap", "ip6gre", "ip6gretap", "ipip", "sit", "ip6tnl", "vti", "vti6",
                          "erspan", "ip6erspan"})
STATS_FIELDS = ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets", "rx_errors", "tx_errors",
                "rx_dropped", "tx_dropped")


@pickled_by_constructor
@dataclass(frozen=True, slots=True)
class NamespaceDump:
    """One namespace's devices, decoded but not yet joined to other namespaces."""

    drafts: tuple[LinkDraft, ...]  # addresses, stats, bridge/port/tun info filled; refs unresolved
    errors: tuple[CollectError, ...]


# -- small helpers over pyroute2's nla objects -------------------------------------------------------


class _Attrs:
    """The attributes of one message or nested nla, indexed once by name.

    pyroute2's `get_attr` scans every attribute on each call (a link has ~50), which made decoding
    cost as much as pyroute2's own parse; indexing once keeps `decode_link` a small fraction of it.
    Values are fetched (and lazily decoded by pyroute2) only when asked for. Objects that are not nla
    containers (an unknown kind's IFLA_INFO_DATA arrives as a hex string) give an empty index.
    """

    __slots__ = ("_slots",)

    def __init__(self, obj: Any) -> None:
        slots: dict[str, Any] = {}
        raw = obj.get("attrs", ()) if isinstance(obj, dict) else ()
        for slot in raw:
            cell = getattr(slot, "cell", slot)  # nla_slot keeps (name, nla) in .cell; plain pairs too
            slots.setdefault(cell[0], slot)
        self._slots = slots

    def __call__(self, name: str) -> Any:
        slot = self._slots.get(name)
        return None if slot is None else slot[1]

    def items(self) -> list[tuple[str, Any]]:
        return [(name, slot[1]) for name, slot in self._slots.items()]


class Getter(Protocol):
    """What the link builder reads attributes through: `_Attrs` here, `rtnl_parser.Decoded` there."""

    def __call__(self, name: str) -> Any: ...

    def items(self) -> Iterable[tuple[str, Any]]: ...


def _stats(nla: Any) -> Stats:
    if type(nla) is Stats:  # `rtnl_parser` makes the record itself
        return nla
    if not isinstance(nla, dict):
        return Stats()
    return Stats(**{name: int(dict.get(nla, name) or 0) for name in STATS_FIELDS})


def _index_or_none(value: Any) -> int | None:
    return int(value) if value else None  # 0 means "none" for IFLA_LINK / IFLA_MASTER


# -- links ---------------------------------------------------------------------------------------


def _kind(ifi_type: int, flags: int, raw_kind: str | None, data: Getter) -> str:
    if raw_kind == "tun":
        tun_type = data("IFLA_TUN_TYPE")
        if tun_type is None:  # kernels before 4.16: a tap is an Ethernet device, a tun is not
            return "tap" if ifi_type == 1 else "tun"
        return "tap" if tun_type == 2 else "tun"
    if raw_kind:
        return str(raw_kind)
    if flags & IFF_LOOPBACK:
        return "loopback"
    return "device"


def _tun_info(kind: str, data: Getter) -> TunInfo:
    multi = bool(data("IFLA_TUN_MULTI_QUEUE"))
    owner, group = data("IFLA_TUN_OWNER"), data("IFLA_TUN_GROUP")
    queues = data("IFLA_TUN_NUM_QUEUES") if multi else None
    return TunInfo(
        type=kind,
        persist=bool(data("IFLA_TUN_PERSIST")),
        multi_queue=multi,
        vnet_hdr=bool(data("IFLA_TUN_VNET_HDR")),
        pi=bool(data("IFLA_TUN_PI")),
        owner=None if owner is None else int(owner),
        group=None if group is None else int(group),
        num_queues=None if queues is None else int(queues),
    )


def _bridge_id(value: Any) -> str | None:
    """`8000.02:00:00:00:0b:00` like iproute2; pyroute2 unpacks the priority bytes in host order."""
    if not isinstance(value, dict) or "prio" not in value:
        return None
    return f"{struct.pack('H', value['prio']).hex()}.{value['addr']}"


#: The kinds `_info` has facts for (with a bond's ports): for any other, it gives none.
_INFO_KINDS = frozenset({"vlan", "vxlan", "macvlan", "macvtap", "ipvlan", "bond", "bridge", "geneve", "vrf",
                         *TUNNEL_KINDS})


def _info(kind: str | None, data: Getter, slave_kind: str | None, slave_data: Getter) -> dict[str, str]:
    """Kind-specific facts worth a line on screen; absent attributes are simply left out."""
    out: dict[str, Any] = {}
    get = data
    if kind == "vlan":
        out["vlan_id"] = get("IFLA_VLAN_ID")
        proto = get("IFLA_VLAN_PROTOCOL")
        out["vlan_protocol"] = VLAN_PROTOCOLS.get(proto, None if proto is None else hex(proto))
    elif kind == "vxlan":
        out["vni"] = get("IFLA_VXLAN_ID")
        out["port"] = get("IFLA_VXLAN_PORT")
        remote = get("IFLA_VXLAN_GROUP") or get("IFLA_VXLAN_GROUP6")
        if remote is not None:
            import ipaddress  # only here: a dump of a host without vxlan never needs the module

            multicast = ipaddress.ip_address(remote).is_multicast
            out["group" if multicast else "remote"] = remote
        out["local"] = get("IFLA_VXLAN_LOCAL") or get("IFLA_VXLAN_LOCAL6")
    elif kind in ("macvlan", "macvtap"):
        mode = get("IFLA_MACVLAN_MODE")  # pyroute2 names a macvtap's attribute IFLA_MACVTAP_MODE
        out["mode"] = mode if mode is not None else get("IFLA_MACVTAP_MODE")
    elif kind == "ipvlan":
        mode = get("IFLA_IPVLAN_MODE")
        out["mode"] = IPVLAN_MODES.get(mode, mode)
    elif kind == "bond":
        mode = get("IFLA_BOND_MODE")
        out["mode"] = BOND_MODES.get(mode, mode)
        out["miimon"] = get("IFLA_BOND_MIIMON")
    elif kind == "bridge":
        out["stp"] = "on" if get("IFLA_BR_STP_STATE") else "off"
        out["bridge_id"] = _bridge_id(get("IFLA_BR_BRIDGE_ID"))
        out["priority"] = get("IFLA_BR_PRIORITY")
        delay = get("IFLA_BR_FORWARD_DELAY")  # centiseconds
        out["forward_delay"] = None if delay is None else f"{delay / 100:g}s"
    elif kind == "geneve":
        out["vni"] = get("IFLA_GENEVE_ID")
        out["remote"] = get("IFLA_GENEVE_REMOTE") or get("IFLA_GENEVE_REMOTE6")
    elif kind == "vrf":
        out["table"] = get("IFLA_VRF_TABLE")
    elif kind in TUNNEL_KINDS:
        for name, value in data.items():
            for suffix in ("_LOCAL", "_REMOTE", "_TTL", "_IKEY", "_OKEY"):
                if name.endswith(suffix) and value not in (None, 0, "0.0.0.0", "::"):
                    out[suffix[1:].lower()] = value
    if slave_kind == "bond":
        state = slave_data("IFLA_BOND_SLAVE_STATE")
        out["bond_slave_state"] = {0: "active", 1: "backup"}.get(state, state)
    return {k: str(v) for k, v in out.items() if v is not None}


def decode_link(msg: Any, netns: int) -> LinkDraft:
    """One RTM_NEWLINK (pyroute2 ifinfmsg) -> a LinkDraft; master/lower/peer are left for refs.py."""
    top = _Attrs(msg)
    info = _Attrs(top("IFLA_LINKINFO"))
    # pyroute2 keeps a string attribute that is not UTF-8 as bytes: made internal here (`vnettop.names`)
    return draft_from(netns, int(msg["index"]), msg["ifi_type"], msg["flags"], top,
                      names.from_wire(info("IFLA_INFO_KIND")), _Attrs(info("IFLA_INFO_DATA")),
                      names.from_wire(info("IFLA_INFO_SLAVE_KIND")), _Attrs(info("IFLA_INFO_SLAVE_DATA")))


def draft_from(netns: int, index: int, ifi_type: int, flags: int, top: Getter, raw_kind: str | None,
               data: Getter, slave_kind: str | None, slave_data: Getter) -> LinkDraft:
    """The LinkDraft of one device from its decoded attributes, whoever decoded them.

    Shared by `decode_link` (pyroute2's parser) and `rtnl_parser` (a struct parser): both hand over
    values keyed and shaped as pyroute2 decodes them, so the two paths cannot drift apart in what they
    make of a value, only in how they read it (which `tests/pure/test_rtnl_parser.py` checks).
    """
    kind = _kind(ifi_type, flags, raw_kind, data)
    get: Any = top.get if isinstance(top, dict) else top  # the struct parser's is a dict: its C get
    mac = get("IFLA_ADDRESS") if ifi_type in MAC_TYPES else None
    oper = get("IFLA_OPERSTATE")
    carrier = get("IFLA_CARRIER")
    bridge = None
    if raw_kind == "bridge":
        bridge = BridgeInfo(stp=bool(data("IFLA_BR_STP_STATE")),
                            vlan_filtering=bool(data("IFLA_BR_VLAN_FILTERING")), ports=())
    port = None
    if slave_kind == "bridge":
        state = slave_data("IFLA_BRPORT_STATE")
        port = BridgePort(state=PORT_STATES.get(state, f"state:{state}"),
                          cost=int(slave_data("IFLA_BRPORT_COST") or 0),
                          priority=int(slave_data("IFLA_BRPORT_PRIORITY") or 0))

    link_index = _index_or_none(get("IFLA_LINK"))
    if link_index is None and raw_kind == "vxlan":
        link_index = _index_or_none(data("IFLA_VXLAN_LINK"))  # vxlan names its lower here
    nsid = get("IFLA_LINK_NETNSID")
    info: tuple[tuple[str, str], ...] = ()
    if raw_kind in _INFO_KINDS or slave_kind == "bond":  # no other kind has facts in `_info`
        info = tuple(sorted(_info(raw_kind, data, slave_kind, slave_data).items()))
    link = make_Link(  # (in `_LINK_ORDER`, checked against Link's fields below)
        netns,
        index,
        names.from_wire(get("IFLA_IFNAME")) or f"if{index}",  # name
        kind,
        mac,
        int(get("IFLA_MTU") or 0),  # mtu
        bool(flags & IFF_UP),  # admin_up
        str(oper).lower() if oper is not None else "unknown",  # oper_state
        None, None, None,  # master, lower, peer: resolved across namespaces later (`refs`)
        (),  # addresses: joined from their own dump (`join_dump`)
        _stats(get("IFLA_STATS64")),
        bridge,
        port,  # bridge_port
        _tun_info(kind, data) if raw_kind == "tun" else None,  # tun
        None if carrier is None else bool(carrier),  # carrier
        info,
    )
    return LinkDraft(link, _index_or_none(get("IFLA_MASTER")), link_index,
                     None if nsid is None else int(nsid))


# -- addresses, fdb, counters ----------------------------------------------------------------------


def decode_addresses(msgs: Iterable[Any]) -> dict[int, tuple[str, ...]]:
    """RTM_NEWADDR messages -> ifindex -> ("10.0.0.2/24", "fe80::1/64"), IPv4 first, then by value.

    IPv4 uses IFA_LOCAL when present: on a point-to-point device IFA_ADDRESS is the *peer's* address.
    """
    return address_map(
        (int(msg["index"]), msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS"), msg["prefixlen"])
        for msg in msgs if msg["header"].get("type") in (None, RTM_NEWADDR))


def address_map(entries: Iterable[tuple[int, Any, int]]) -> dict[int, tuple[str, ...]]:
    """(ifindex, address as pyroute2 decodes it, prefix length) -> the sorted map `decode_addresses` gives:
    each address as `str(ipaddress.ip_interface(...))`, IPv4 first, then by (address, network), without
    repeats; one `ip_interface` refuses is left out.

    Why not `ip_interface` for each: a first dump at 1000 namespaces formats ~6000 addresses, and
    building the objects cost ~200 ms of it. An address as the kernel's bytes pass through `inet_ntop`
    (ours and pyroute2's) is already the text `ipaddress` prints, checked by a round trip
    (`_plain_key`); when any address is not (an IPv6 address with an IPv4 tail, which the two print
    differently, a scope, text in another form), the whole map is made with `ipaddress` as before.
    """
    found: dict[int, set[tuple[int, int, int, str]]] = {}
    kept: list[tuple[int, Any, int]] = []
    rest = iter(entries)
    for entry in rest:
        index, addr, prefixlen = entry
        if addr is None:
            continue
        kept.append(entry)
        key = _plain_key(addr, prefixlen)
        if key is None:
            return _address_map_by_ipaddress(chain(kept, rest))
        if key[1] >= 0:
            found.setdefault(index, set()).add(key)
    return {index: tuple(key[3] for key in sorted(keys)) for index, keys in found.items()}


_V4_LAST, _V6_LAST = 32, 128
_REFUSED = (0, -1, 0, "")  # what `ip_interface` would refuse (a prefix out of range): left out


def _plain_key(addr: Any, prefixlen: Any) -> tuple[int, int, int, str] | None:
    """(version, address as a number, prefix length, text) of an address `inet_ntop` printed, which is
    what `ip_interface(f"{addr}/{prefixlen}")` gives, sorted as (version, ip, network) sorts (for one
    address a network sorts by its prefix length); `_REFUSED` where that raises; None: not such text."""
    if type(prefixlen) is not int or type(addr) is not str:
        return None
    v6 = ":" in addr
    if v6 and "." in addr:
        return None
    family, last = (socket.AF_INET6, _V6_LAST) if v6 else (socket.AF_INET, _V4_LAST)
    try:
        packed = socket.inet_pton(family, addr)
    except OSError:
        return None
    if socket.inet_ntop(family, packed) != addr:
        return None
    if not 0 <= prefixlen <= last:
        return _REFUSED
    return 6 if v6 else 4, int.from_bytes(packed, "big"), prefixlen, f"{addr}/{prefixlen}"


def _address_map_by_ipaddress(entries: Iterable[tuple[int, Any, int]]) -> dict[int, tuple[str, ...]]:
    """`address_map` through `ipaddress` objects: for text that is not plainly `inet_ntop`'s."""
    import ipaddress

    found: dict[int, list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]] = {}
    for index, addr, prefixlen in entries:
        if addr is None:
            continue
        try:
            iface = ipaddress.ip_interface(f"{addr}/{prefixlen}")
        except ValueError:
            continue
        found.setdefault(index, []).append(iface)
    return {
        index: tuple(str(i) for i in sorted(set(ifaces), key=lambda i: (i.version, i.ip, i.network)))
        for index, ifaces in found.items()
    }


def decode_fdb(msgs: Iterable[Any]) -> dict[int, tuple[FdbEntry, ...]]:
    """AF_BRIDGE RTM_NEWNEIGH messages -> bridge ifindex -> its entries.

    Only entries carrying NDA_MASTER belong to a bridge; the rest are each device's own multicast
    list (flag self), which `bridge fdb show` also prints and which would drown the learned MACs.
    """
    return fdb_map(
        (msg.get_attr("NDA_MASTER"), msg.get_attr("NDA_LLADDR"), int(msg["ifindex"]), int(msg["state"]),
         msg.get_attr("NDA_VLAN"))
        for msg in msgs if msg["header"].get("type") in (None, RTM_NEWNEIGH))


def fdb_map(entries: Iterable[tuple[Any, Any, int, int, Any]]) -> dict[int, tuple[FdbEntry, ...]]:
    """(NDA_MASTER, NDA_LLADDR, ifindex, NUD state, NDA_VLAN), pyroute2-decoded -> `decode_fdb`'s map."""
    found: dict[int, set[FdbEntry]] = {}
    for master, mac, ifindex, nud, vlan in entries:
        if not master or mac is None:
            continue
        found.setdefault(int(master), set()).add(fdb_entry(mac, ifindex, nud, vlan))
    return {bridge: tuple(sorted(entries, key=fdb_order)) for bridge, entries in found.items()}


def fdb_entry(mac: Any, ifindex: int, nud: int, vlan: Any) -> FdbEntry:
    """One FDB entry as a dump's message (or a notification, the same message) gives it."""
    return FdbEntry(mac=str(mac), port=ifindex or None, state=NUD_STATES.get(nud, f"nud:{nud}"),
                    vlan=None if vlan is None else int(vlan))


def fdb_order(e: FdbEntry) -> tuple[str, int, int, str]:
    """The order of a bridge's entries in `fdb_map`'s tuples."""
    return e.mac, e.vlan or 0, e.port or 0, e.state


def decode_stats(msgs: Iterable[Any]) -> dict[int, Stats]:
    """RTM_NEWSTATS messages (filter_mask IFLA_STATS_LINK_64) -> ifindex -> counters."""
    out: dict[int, Stats] = {}
    for msg in msgs:
        if msg["header"].get("type") not in (None, RTM_NEWSTATS):
            continue
        nla = msg.get_attr("IFLA_STATS_LINK_64")
        if nla is not None:
            out[int(msg["ifindex"])] = _stats(nla)
    return out


# -- talking to one namespace -----------------------------------------------------------------------


def _scope(netns: int) -> str:
    return f"netns {netns}"


def _interrupted(msgs: list[Any]) -> bool:
    return any(m["header"].get("flags", 0) & NLM_F_DUMP_INTR for m in msgs)


def _dump(call: Any, what: str, netns: int, errors: list[CollectError]) -> list[Any] | None:
    """Run one dump, retrying twice if it was interrupted by a change in the middle.

    The kernel marks such a dump with NLM_F_DUMP_INTR on its messages (devices may be missing or
    doubled); pyroute2 0.9.7 passes the flag through silently, so it is checked here. After three
    interrupted tries the last answer is kept, with an error saying it may be inconsistent.
    """
    last: Exception | None = None
    for _ in range(3):
        try:
            msgs = list(call())
        except Exception as exc:  # pyroute2 raises NetlinkError, OSError, and assorted others
            last = exc
            if type(exc).__name__ != "NetlinkDumpInterrupted":
                break
            continue
        if not _interrupted(msgs):
            return msgs
        last = None
    if last is None:
        errors.append(CollectError(_scope(netns), f"{what} dump kept changing; it may be incomplete"))
        return msgs
    errors.append(CollectError(_scope(netns), f"{what} dump failed: {last}"))
    return None


def dump_namespace_pyroute2(ipr: Any, netns: int) -> NamespaceDump:
    """A namespace's dump through pyroute2's requests and parser only (the reference the struct parser
    matches; `dump.dump_namespace` falls back to it)."""
    errors: list[CollectError] = []
    links = _dump(lambda: ipr.link("dump"), "link", netns, errors)
    if links is None:
        return NamespaceDump((), tuple(errors))
    drafts: list[LinkDraft] = []
    for msg in links:
        try:
            drafts.append(decode_link(msg, netns))
        except Exception as exc:  # one odd device must not hide the others
            errors.append(CollectError(_scope(netns), f"cannot decode link {msg.get('index')}: {exc!r}"))
    addrs = decode_addresses(_dump(lambda: ipr.addr("dump"), "address", netns, errors) or ())
    fdb: dict[int, tuple[FdbEntry, ...]] = {}
    if any(d.link.bridge is not None for d in drafts):
        fdb = decode_fdb(_dump(lambda: ipr.fdb("dump"), "fdb", netns, errors) or ())
    return join_dump(drafts, addrs, fdb, errors)


#: Link's fields in the order `draft_from` passes their values (`make_Link` takes them positionally).
_LINK_ORDER = ("netns", "ifindex", "name", "kind", "mac", "mtu", "admin_up", "oper_state", "master", "lower",
               "peer", "addresses", "stats", "bridge", "bridge_port", "tun", "carrier", "info")
if tuple(f.name for f in fields(Link)) != _LINK_ORDER:  # (a field added or moved: say so, never misplace)
    raise TypeError("decode.draft_from passes Link's fields in an order Link no longer has")


def join_dump(drafts: list[LinkDraft], addrs: dict[int, tuple[str, ...]],
              fdb: dict[int, tuple[FdbEntry, ...]], errors: list[CollectError]) -> NamespaceDump:
    """Put addresses and FDB entries on their devices; drafts sorted by ifindex.

    The records are copied slot by slot (`model.link_with`) rather than with `dataclasses.replace`, which
    walks the fields' metadata on every call: two calls per device with an address were ~35 ms of a
    first dump at 1000 namespaces.
    """
    out = []
    for draft in drafts:
        link = draft.link
        index = link.ifindex
        addresses = addrs.get(index)
        bridge = link.bridge
        entries = fdb.get(index) if bridge is not None else None
        if addresses is not None or entries is not None:
            changes: dict[str, object] = {}
            if addresses is not None:
                changes["addresses"] = addresses
            if bridge is not None and entries is not None:
                changes["bridge"] = replace(bridge, fdb=entries)
            draft = LinkDraft(link_with(link, changes), draft.master_ifindex, draft.link_ifindex,
                              draft.link_nsid)
        out.append(draft)
    out.sort(key=_draft_ifindex)
    return NamespaceDump(tuple(out), tuple(errors))


def _draft_ifindex(draft: LinkDraft) -> int:
    return draft.link.ifindex
