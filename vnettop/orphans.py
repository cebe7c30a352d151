"""Leftover plumbing: devices and namespaces that nothing uses any more (pure, over a Snapshot).

Orphans are what fills hypervisors over months: a persistent tap left behind by a VM that is gone
(one published incident filled a bridge to its 1024-port limit that way), a veth whose container
died, a namespace with nothing in it but `lo`. Each finding carries a reason code that is stable
(scripts and Prometheus series group by it) and a one-line explanation for a person.

Only what the snapshot *knows* counts: a tap whose holders could not be read (`holders is None`,
e.g. without root) is not an orphan, and neither is a veth whose peer lies in a namespace vnettop
could not read. Unknown is never reported as empty.
"""

from __future__ import annotations

from dataclasses import dataclass

from vnettop import ovsgraph
from vnettop.model import Link, Namespace, Snapshot

#: The kernel refuses a bridge's 1025th port (BR_MAX_PORTS); warn well before.
BRIDGE_PORT_LIMIT = 1024
BRIDGE_NEAR_LIMIT = 900

#: Reason codes, in the order they are reported. Stable: Prometheus series and scripts use them.
REASONS: dict[str, str] = {
    "tun-unheld": "a persistent tun/tap that no process holds (its VM or daemon is gone)",
    "veth-peer-gone": "a veth whose other end no longer exists",
    "veth-unattached": "a host-side veth into another namespace that is on no bridge and has no address",
    "netns-empty": "a namespace with no device but lo and no process in it",
    "bridge-near-limit": f"a bridge with {BRIDGE_NEAR_LIMIT} or more of its {BRIDGE_PORT_LIMIT} ports used",
    "ovs-no-device": "an OVS interface that should be a kernel device (system, internal, tap) with none",
}


@dataclass(frozen=True, slots=True)
class Orphan:
    """One finding: what (a device or a namespace), where, and why it looks abandoned."""

    reason: str  # a key of REASONS
    netns: int  # inode of the namespace concerned (the namespace itself for netns-empty)
    ifindex: int | None  # the device, or None for a namespace or an OVS interface with no device
    name: str  # the device's name, the namespace's label, or the OVS interface's name
    detail: str  # one line for a person

    @property
    def is_namespace(self) -> bool:
        """A namespace, not a device or an OVS interface (whose `ifindex` is None too)."""
        return self.reason == "netns-empty"


def _holders_known_empty(link: Link) -> bool:
    """True only when every process was checked and none holds the device (never for "unknown")."""
    tun = link.tun
    return tun is not None and tun.holders is not None and tun.holders_complete and len(tun.holders) == 0


def _tun_unheld(link: Link) -> Orphan | None:
    tun = link.tun
    if tun is None or not _holders_known_empty(link):
        return None
    if tun.owner is not None or tun.group is not None:
        return None  # made persistent for a given user or group to attach later: by design
    return Orphan("tun-unheld", link.netns, link.ifindex, link.name,
                  f"{tun.type} {link.name}: persistent, held by no process")


def _veth(snap: Snapshot, link: Link, root: int | None) -> Orphan | None:
    if link.kind != "veth":
        return None
    ref = link.peer
    if ref is None:
        return None  # the peer is unknown (older kernels omit IFLA_LINK), not gone
    peer_ns = snap.namespace(ref.netns)
    readable = peer_ns is not None and ref.name is not None and peer_ns.readable
    if readable and snap.link(ref.netns, ref.ifindex) is None:
        return Orphan("veth-peer-gone", link.netns, link.ifindex, link.name,
                      f"veth {link.name}: peer ifindex {ref.ifindex} in {snap.ns_label(ref.netns)} is gone")
    if (link.netns == root and ref.netns != root and link.master is None and not link.addresses):
        return Orphan("veth-unattached", link.netns, link.ifindex, link.name,
                      f"veth {link.name}: into {snap.ns_label(ref.netns)}, on no bridge, no address")
    return None


def _netns_empty(snap: Snapshot, ns: Namespace) -> Orphan | None:
    if ns.root or ns.pids or not ns.pids_complete or not ns.readable or ns.fds:
        return None
    links = snap.links_in(ns.inode)
    if any(link.kind != "loopback" for link in links):
        return None
    return Orphan("netns-empty", ns.inode, None, ns.label, f"namespace {ns.label}: only lo, no process")


def _bridge_near_limit(snap: Snapshot, link: Link, ports: int) -> Orphan | None:
    if ports < BRIDGE_NEAR_LIMIT:
        return None
    return Orphan("bridge-near-limit", link.netns, link.ifindex, link.name,
                  f"bridge {link.name}: {ports} of {BRIDGE_PORT_LIMIT} ports used")


def _ovs_no_device(snap: Snapshot) -> list[Orphan]:
    """OVS interfaces of a kernel type with no kernel device: a VM or a namespace deleted behind OVS's
    back leaves its port in OVSDB (ofport -1, "could not open network device"), and OVS keeps
    retrying it. Said only when the snapshot can tell (see `ovsgraph.no_device_reason`)."""
    home = ovsgraph.home_namespace(snap)
    if snap.ovs is None or home is None:
        return []
    out = []
    for bridge in snap.ovs.bridges:
        for port in bridge.ports:
            for iface in port.interfaces:
                why = ovsgraph.no_device_reason(snap, ovsgraph.OvsHit(bridge, port, iface))
                if why is not None:
                    out.append(Orphan("ovs-no-device", home, None, iface.name, why))
    return out


def bridge_port_counts(snap: Snapshot) -> dict[tuple[int, int], int]:
    """Ports per bridge key, counted in one pass over the links (not one scan per bridge)."""
    counts: dict[tuple[int, int], int] = {}
    for link in snap.links:
        if link.bridge is not None or link.kind == "bridge":
            counts.setdefault(link.key, 0)
    for link in snap.links:
        master = link.master
        if master is not None and master.key in counts and master.key != link.key:
            counts[master.key] += 1
    return counts


def find_orphans(snap: Snapshot) -> list[Orphan]:
    """Every orphan in the snapshot, by reason (in REASONS order), then namespace and ifindex."""
    root = snap.root.inode if snap.root is not None else None
    found: list[Orphan] = []
    ports = bridge_port_counts(snap)
    for link in snap.links:
        for orphan in (_tun_unheld(link), _veth(snap, link, root)):
            if orphan is not None:
                found.append(orphan)
        if link.key in ports:
            near = _bridge_near_limit(snap, link, ports[link.key])
            if near is not None:
                found.append(near)
    for ns in snap.namespaces:
        empty = _netns_empty(snap, ns)
        if empty is not None:
            found.append(empty)
    found.extend(_ovs_no_device(snap))
    order = {reason: i for i, reason in enumerate(REASONS)}
    found.sort(key=lambda o: (order[o.reason], o.netns, o.ifindex if o.ifindex is not None else -1))
    return found
