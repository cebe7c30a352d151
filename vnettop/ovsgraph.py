"""Questions about a Snapshot's Open vSwitch section, answered without OVSDB or the kernel (pure).

The `ovs` section (SNAPSHOT-SCHEMA.md "Open vSwitch") says which bridges, ports and interfaces exist and
which kernel device each interface is. The views, the trace, the jumps and the orphans all ask the same
few things of it: the row an OVSDB uuid names, a patch interface's other end, which ports of a bridge
share a VLAN with the port a packet came in on, what a tunnel leads to. They are answered here once.

What vnettop does NOT know is the OpenFlow table: on a bridge with flows (`fail_mode: secure`, every
OpenStack bridge), where a packet goes is the flows' decision. So the "candidates" below are only the
ports an L2 switch would consider by VLAN (the same tag, or a trunk carrying it), never a claim that the
packet goes there; callers say so in their words.

OVSDB rows are named by uuid. Screen targets carry integers, so `ovs_key` turns a uuid into a stable
56-bit number (a hash: uuids that differ anywhere give different keys, unlike a prefix, which recorded
replies such as `00000000-0000-4000-8000-00000000001f` share).
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass

from vnettop.model import Link, OvsBridgeEntry, OvsIfaceEntry, OvsPortEntry, Snapshot

#: Interface types that are a kernel device (an existing one added, or one OVS makes): their `link`
#: says which; the others (patch, tunnels, dpdk...) have none by design.
KERNEL_TYPES = frozenset({"", "system", "internal", "tap"})
#: Interface types that are tunnels: `options` carry remote_ip, local_ip, key.
TUNNEL_TYPES = frozenset({"vxlan", "geneve", "gre", "ip6gre", "erspan", "ip6erspan", "stt", "gtpu", "bareudp",
                          "lisp", "srv6"})


def ovs_key(uuid: str) -> int:
    """A stable integer naming one OVSDB row (for screen targets, which carry integers)."""
    return int.from_bytes(hashlib.blake2b(uuid.encode(), digest_size=7).digest(), "big")


@dataclass(frozen=True, slots=True)
class OvsHit:
    """One OVS row and where it sits: a bridge (port and iface None), a port (iface None: a bond's
    port row) or an interface (with its port and bridge)."""

    bridge: OvsBridgeEntry
    port: OvsPortEntry | None = None
    iface: OvsIfaceEntry | None = None

    @property
    def kind(self) -> str:
        return "iface" if self.iface is not None else "port" if self.port is not None else "bridge"

    @property
    def uuid(self) -> str:
        row = self.iface or self.port or self.bridge
        return row.uuid

    @property
    def name(self) -> str:
        row = self.iface or self.port or self.bridge
        return row.name


class _Index:
    """Every OVS row of one snapshot by key, and interfaces by (bridge, name) for patch peers."""

    __slots__ = ("by_key", "by_name")

    def __init__(self, snap: Snapshot) -> None:
        self.by_key: dict[int, OvsHit] = {}
        self.by_name: dict[tuple[str, str], OvsHit] = {}
        for bridge in snap.ovs.bridges if snap.ovs is not None else ():
            self.by_key[ovs_key(bridge.uuid)] = OvsHit(bridge)
            for port in bridge.ports:
                self.by_key[ovs_key(port.uuid)] = OvsHit(bridge, port)
                for iface in port.interfaces:
                    hit = OvsHit(bridge, port, iface)
                    self.by_key[ovs_key(iface.uuid)] = hit
                    self.by_name[(bridge.name, iface.name)] = hit


_last: tuple[Snapshot, _Index] | None = None


def _index(snap: Snapshot) -> _Index:
    """The index of `snap`, built once (views ask for every row on every refresh)."""
    global _last
    last = _last
    if last is not None and last[0] is snap:
        return last[1]
    idx = _Index(snap)
    _last = (snap, idx)
    return idx


def find(snap: Snapshot, key: int) -> OvsHit | None:
    """The bridge, port or interface `ovs_key` named (None: not in this snapshot)."""
    return _index(snap).by_key.get(key)


def find_uuid(snap: Snapshot, uuid: str) -> OvsHit | None:
    return find(snap, ovs_key(uuid))


def of_link(snap: Snapshot, link: Link) -> OvsHit | None:
    """The OVS interface a kernel device is (None: it is none)."""
    found = snap.ovs_port_of(link.key)
    return None if found is None else OvsHit(*found)


def single(port: OvsPortEntry) -> OvsIfaceEntry | None:
    """The one interface of a port that has one (nearly all: bonds have several)."""
    return port.interfaces[0] if len(port.interfaces) == 1 else None


def peer(snap: Snapshot, iface: OvsIfaceEntry) -> OvsHit | None:
    """A patch interface's other end (None: not a patch, or its peer is not in OVSDB)."""
    if iface.peer is None:
        return None
    return _index(snap).by_name.get((iface.peer.bridge, iface.peer.interface))


def bridges_by_name(snap: Snapshot, name: str) -> tuple[OvsHit, ...]:
    """Bridges, then interfaces, called `name` (for `vnettop trace NAME` of what has no kernel device)."""
    if snap.ovs is None:
        return ()
    out = [OvsHit(b) for b in snap.ovs.bridges if b.name == name]
    out += [hit for (_b, n), hit in _index(snap).by_name.items() if n == name and hit.bridge.name != name]
    return tuple(out)


def iface_type(iface: OvsIfaceEntry) -> str:
    """The type as `ovs-vsctl` users say it: "system" for the empty type (an existing device added)."""
    return iface.type or "system"


def tunnel_text(iface: OvsIfaceEntry) -> str:
    """"vxlan to 10.0.0.2 key flow (local 10.0.0.1)"; "" for an interface that is no tunnel."""
    if iface.type not in TUNNEL_TYPES:
        return ""
    remote = iface.option("remote_ip") or "?"
    text = f"{iface.type} to {remote}"
    key = iface.option("key") or iface.option("out_key")
    if key is not None:
        text += f" key {key}"
    local = iface.option("local_ip")
    if local is not None:
        text += f" (local {local})"
    return text


def carrying(snap: Snapshot, ip: str) -> Link | None:
    """The device that has address `ip` (a tunnel's local_ip): where its packets leave from."""
    try:
        wanted = ipaddress.ip_address(ip)
    except ValueError:
        return None
    for link in snap.links:
        for address in link.addresses:
            try:
                if ipaddress.ip_interface(address).ip == wanted:
                    return link
            except ValueError:
                continue
    return None


def vlans_text(port: OvsPortEntry) -> str:
    """"tag 5", "trunks 1,2", or "trunk (all VLANs)"."""
    if port.tag is not None:
        return f"tag {port.tag}"
    if port.trunks:
        return "trunks " + ",".join(str(t) for t in port.trunks)
    return "trunk (all VLANs)"


def _carries(port: OvsPortEntry, vlan: int) -> bool:
    if port.tag is not None:
        return port.tag == vlan
    return not port.trunks or vlan in port.trunks


def shares_vlan(a: OvsPortEntry, b: OvsPortEntry) -> bool:
    """Whether an L2 switch could forward between the two ports by VLAN alone (OVS's NORMAL action):
    an access port (tag) carries its tag; a port without a tag is a trunk of `trunks` (all if empty)."""
    if a.tag is not None:
        return _carries(b, a.tag)
    if b.tag is not None:
        return _carries(a, b.tag)
    if not a.trunks or not b.trunks:
        return True
    return bool(set(a.trunks) & set(b.trunks))


def candidates(bridge: OvsBridgeEntry, via: OvsPortEntry | None) -> tuple[OvsPortEntry, ...]:
    """The other ports of `bridge` sharing a VLAN with `via` (every port when entered from nowhere)."""
    if via is None:
        return bridge.ports
    return tuple(p for p in bridge.ports if p.uuid != via.uuid and shares_vlan(via, p))


def home_namespace(snap: Snapshot) -> int | None:
    """Where the OVS bridges are shown: ovs-vswitchd's namespace, the root one."""
    if snap.root is not None:
        return snap.root.inode
    return snap.namespaces[0].inode if snap.namespaces else None


def no_device_reason(snap: Snapshot, hit: OvsHit) -> str | None:
    """Why an interface that should be a kernel device has none (None: it has one, or needs none, or
    the snapshot cannot tell). Only what the snapshot knows counts: a moved internal port may be in a
    namespace that could not be read, so then nothing is said."""
    iface = hit.iface
    if iface is None or iface.link is not None or iface.type not in KERNEL_TYPES:
        return None
    root = snap.root
    if root is None or not root.readable:
        return None
    if iface.type == "internal" and any(not ns.readable for ns in snap.namespaces):
        return None
    elsewhere = [link for link in snap.links if link.name == iface.name]
    port = hit.port.name if hit.port is not None else "?"
    kind = f"{iface_type(iface)} interface {iface.name} (bridge {hit.bridge.name}, port {port})"
    if iface.ofport is None:
        kind += ", no ofport (OVS could not open it)"
    if elsewhere:
        where = ", ".join(sorted({snap.ns_label(link.netns) for link in elsewhere}))
        return f"{kind}: no kernel device proven to be it (same name in {where})"
    return f"{kind}: no kernel device of that name in any namespace"
