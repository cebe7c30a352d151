"""Where `b`, `p`, `t` and trace hops lead through Open vSwitch (pure; called by `ui.jumps`).

A kernel device that is an OVS interface has no Linux master worth jumping to (its master is the
datapath's `ovs-system`, every OVS port's): `b` lands on its OVS bridge. A patch port's `p` lands on the
patch port at its other end. A target names a kernel device when the row is one in the namespace the
tree shows OVS bridges in, and the OVS row itself otherwise (see ui/ovs_rows.py), so both views can
select what these return.
"""

from __future__ import annotations

from vnettop import ovsgraph, topology
from vnettop.model import Link, Snapshot
from vnettop.topology import Hop
from vnettop.ui.targets import Target


def row_target(snap: Snapshot, uuid: str) -> Target | None:
    """The target showing the OVS row `uuid`: its kernel device's where the tree has it, else the row."""
    hit = ovsgraph.find_uuid(snap, uuid)
    if hit is None:
        return None
    iface = hit.iface
    alone = hit.port is not None and len(hit.port.interfaces) == 1  # not a bond's member
    link = iface.link if iface is not None and alone else None
    if link is not None and link.netns == ovsgraph.home_namespace(snap) and snap.link(*link.key) is not None:
        return Target.link(*link.key)
    return Target.ovs(hit.uuid)


def bridge_of_link(snap: Snapshot, link: Link) -> Target | None:
    """The OVS bridge of a device that is an OVS interface (None: it is none)."""
    hit = ovsgraph.of_link(snap, link) if snap.ovs is not None else None
    return Target.ovs(hit.bridge.uuid) if hit is not None else None


def bridge_target(snap: Snapshot, target: Target) -> Target | str:
    hit = ovsgraph.find(snap, target.ident)
    if hit is None:
        return "bridge: this OVS row is gone"
    if hit.kind == "bridge":
        return f"{hit.name} is an OVS bridge itself (p on a patch port crosses to another bridge)"
    return Target.ovs(hit.bridge.uuid)


def peer_target(snap: Snapshot, target: Target) -> Target | str:
    hit = ovsgraph.find(snap, target.ident)
    if hit is None:
        return "peer: this OVS row is gone"
    iface = hit.iface
    if iface is None or iface.type != "patch":
        what = ("an OVS bridge" if hit.kind == "bridge" else "a bond" if iface is None
                else f"a {ovsgraph.iface_type(iface)} port")
        return f"{hit.name} is {what}: only a patch port has a peer"
    other = ovsgraph.peer(snap, iface)
    if other is None:
        return f"{hit.name}: its peer {iface.option('peer') or '?'} is not in OVSDB"
    found = row_target(snap, other.uuid)
    return found if found is not None else f"{hit.name}: its peer is not in the snapshot"


def trace_from(snap: Snapshot, target: Target) -> tuple[str, list[Hop]] | str:
    hit = ovsgraph.find(snap, target.ident)
    if hit is None:
        return "trace: this OVS row is gone"
    what = "OVS bridge" if hit.kind == "bridge" else f"OVS {hit.kind}"
    return f"Trace from {what} {hit.name}", topology.trace_ovs(snap, hit.uuid)
