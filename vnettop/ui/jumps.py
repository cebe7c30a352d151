"""Where `p`, `b`, `h`, `o` and the trace hops lead from a selection (pure).

Each function returns the Target to jump to, or a one-line reason why there is none (shown as a
notification), so the app never guesses and the rules are unit-tested without a terminal.
"""

from __future__ import annotations

from dataclasses import replace

from vnettop import owners, topology
from vnettop.model import Link, Snapshot
from vnettop.topology import Hop
from vnettop.ui import ovs_jumps
from vnettop.ui.targets import Target, describe, resolve


def _link(snap: Snapshot, target: Target | None) -> Link | None:
    if target is None or target.kind != "link":
        return None
    return snap.link(target.netns, target.ident)


def peer_target(snap: Snapshot, target: Target | None) -> Target | str:
    """The other end of a veth, else the lower device of a stacked one (across namespaces); from an OVS
    patch port, its peer on the other bridge."""
    if target is not None and target.kind == "ovs":
        return ovs_jumps.peer_target(snap, target)
    link = _link(snap, target)
    if link is None:
        return "peer: select a device first"
    for ref, what in ((link.peer, "peer"), (link.lower, "lower device")):
        if ref is None:
            continue
        other = snap.link(*ref.key)
        if other is None:
            where = snap.ns_label(ref.netns)
            return f"{link.name}: its {what} (ifindex {ref.ifindex} in {where}) is not readable"
        return Target.link(*other.key)
    return f"{link.name} is a {link.kind}: it has no peer and no lower device"


def bridge_target(snap: Snapshot, target: Target | None) -> Target | str:
    """The bridge this device is a port of (a Linux bridge, or the OVS bridge of an OVS interface)."""
    if target is not None and target.kind == "ovs":
        return ovs_jumps.bridge_target(snap, target)
    link = _link(snap, target)
    if link is None:
        return "bridge: select a device first"
    on_ovs = ovs_jumps.bridge_of_link(snap, link)
    if on_ovs is not None:
        return on_ovs
    master = topology.bridge_of(snap, link)
    if master is None:
        if link.master is not None:
            return f"{link.name}: its master (ifindex {link.master.ifindex}) is not in the snapshot"
        return f"{link.name} is not a port of any bridge"
    return Target.link(*master.key)


def holder_target(snap: Snapshot, target: Target | None) -> Target | str:
    """The process holding this tun/tap (in its namespace); from a process, the device it holds."""
    if target is not None and target.kind == "proc":
        held = topology.held_by(snap, target.ident)
        if not held:
            return f"process {target.ident} holds no tun/tap"
        return Target.link(*held[0].key)
    link = _link(snap, target)
    if link is None or link.tun is None:
        name = link.name if link is not None else "this"
        return f"holder: {name} is not a tun/tap"
    if link.tun.holders is None:
        return f"{link.name}: its holder is unknown (other users' processes can be read only by root)"
    if not link.tun.holders:
        return f"{link.name}: no process holds it" + (" (persistent)" if link.tun.persist else "")
    pid = link.tun.holders[0].pid
    found = topology.process(snap, pid)
    if found is None:
        return f"{link.name}: holder {link.tun.holders[0].comm}[{pid}] is not in the snapshot's process list"
    return Target.proc(found[0].inode, pid)


def owner_target(snap: Snapshot, target: Target | None) -> tuple[Target, str] | str:
    """`o`: the owner's next device after the selected one, and a notice naming the owner and where in
    its devices this is (`web-1 (vm): 2 of 3`); pressed again, the next, round to the first. From a
    namespace or a process, its owner's first device. The owner of a device is its own, else the one of
    the namespace it leads into or is in (`owners.for_link`)."""
    if target is None:
        return "owner: select a device, namespace or process first"
    found = None
    current: tuple[int, int] | None = None
    if target.kind == "link":
        link = snap.link(target.netns, target.ident)
        if link is not None:
            found, current = owners.for_link(snap, link), link.key
    elif target.kind == "ns":
        found = owners.best(owners.of_namespace(snap, target.netns))
    elif target.kind == "proc":
        found = owners.best(owners.of_pid(snap, target.ident))
    if found is None:
        if not snap.owners:
            return "owner: nothing here names owners (no VM, container or pod source answered)"
        return f"{describe(snap, target)}: no known owner"
    devs = owners.devices(snap, found)
    keys = [d.key for d in devs]
    if not keys:
        return f"{owners.owner_text(found)} has no device in the snapshot"
    at = (keys.index(current) + 1) % len(keys) if current in keys else 0
    if current is not None and keys[at] == current:
        return f"{owners.owner_text(found)}: {devs[at].name} is its only device"
    return Target.link(*keys[at]), f"{owners.owner_text(found)}: {devs[at].name} ({at + 1} of {len(keys)})"


def hop_target(snap: Snapshot, hop: Hop) -> Target | None:
    """The selectable object a trace hop names (None if it is not in the snapshot)."""
    if hop.kind == "link" and isinstance(hop.ref, tuple):
        return Target.link(*hop.ref) if snap.link(*hop.ref) is not None else None
    if hop.kind == "namespace" and isinstance(hop.ref, int):
        return Target.ns(hop.ref) if snap.namespace(hop.ref) is not None else None
    if hop.kind in ("ovs-bridge", "ovs-port") and isinstance(hop.ref, str):
        return ovs_jumps.row_target(snap, hop.ref)
    if hop.kind in ("process", "service") and isinstance(hop.ref, int):
        found = topology.process(snap, hop.ref)
        return Target.proc(found[0].inode, hop.ref) if found else None
    return None


def with_vm_names(snap: Snapshot, hops: list[Hop]) -> list[Hop]:
    """Process hops labelled with the VM's name when qemu says it (`qemu-kvm[7748] P2`)."""
    out = []
    for hop in hops:
        is_proc = hop.kind == "process" and isinstance(hop.ref, int)
        found = topology.process(snap, hop.ref) if is_proc and isinstance(hop.ref, int) else None
        vm = topology.vm_name(found[1]) if found is not None else None
        out.append(replace(hop, label=f"{hop.label} {vm}") if vm else hop)
    return out


def trace_from(snap: Snapshot, target: Target | None) -> tuple[str, list[Hop]] | str:
    """(title, hops) of the trace from a device or a process, or why there is none."""
    result = _trace_from(snap, target)
    if isinstance(result, str):
        return result
    return result[0], with_vm_names(snap, result[1])


def _trace_from(snap: Snapshot, target: Target | None) -> tuple[str, list[Hop]] | str:
    obj = resolve(snap, target) if target is not None else None
    if target is None or obj is None:
        return "trace: select a device or a process first"
    if target.kind == "link":
        link = snap.link(target.netns, target.ident)
        assert link is not None
        return f"Trace from {link.name} @ {snap.ns_label(link.netns)}", topology.trace(snap, link)
    if target.kind == "ovs":
        return ovs_jumps.trace_from(snap, target)
    if target.kind == "proc":
        try:
            return f"Trace from pid {target.ident}", topology.trace_process(snap, target.ident)
        except topology.NotFoundError as exc:
            return str(exc)
    ns = snap.namespace(target.netns)
    links = snap.links_in(target.netns)
    start = next((link for link in links if link.peer is not None), None)
    if start is None:
        return f"namespace {ns.label if ns else target.netns}: no veth leads out of it"
    return f"Trace from {ns.label if ns else ''} via {start.name}", topology.trace(snap, start)
