"""What the details pane says about Open vSwitch (pure): an OVS bridge, port or interface, and the OVS
side of a kernel device that is an OVS interface (or that is the datapath's own, like `ovs-system`).

The identity operators look for is in `external_ids` (Neutron's iface-id, the VM's uuid, the MAC the
guest was given, iface-status, OVN's ovn-installed) and in the port's `other_config` (the Neutron
network's net_uuid and segmentation_id): shown first, by name, then whatever else is there.

Counters: a port that IS a kernel device has the kernel's counters (shown with the device). One with no
kernel device (patch, tunnel, dpdk) has only OVSDB's `statistics`, which ovs-vswitchd rewrites every
~5 s: shown with their rates between two writes, and said to be that coarse; when they are not there
(not read, an older file, not written yet) the pane says unknown, never zeros.
"""

from __future__ import annotations

import time

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from vnettop import ovsgraph
from vnettop.model import Link, OvsBridgeEntry, OvsIfaceEntry, OvsPortEntry, Pairs, Snapshot
from vnettop.ui.labels import (
    fact_grid,
    fact_row,
    plain,
    safe,
    short,
)
from vnettop.ui.rates import RateTracker, human_bytes, human_rate, sparkline

#: external_ids keys that name who a port belongs to, in the order shown.
IDENTITY = ("iface-id", "attached-mac", "vm-uuid", "vm-id", "iface-status", "ovn-installed")
#: other_config keys of a port that name its Neutron network.
NETWORK = ("net_uuid", "segmentation_id", "network_type", "physical_network")




def _pairs(grid: Table, pairs: Pairs, first: tuple[str, ...], prefix: str = "") -> None:
    """`first` keys by name, in that order, then the rest sorted."""
    d = dict(pairs)
    for key in (*[k for k in first if k in d], *sorted(k for k in d if k not in first)):
        fact_row(grid, prefix + key, d[key])


def bridge_parts(snap: Snapshot, bridge: OvsBridgeEntry) -> list[RenderableType]:
    g = fact_grid()
    fact_row(g, "kind", "Open vSwitch bridge")
    fact_row(g, "datapath", f"{bridge.datapath_type or 'system'}"
         + (" (userspace)" if bridge.datapath_type == "netdev" else " (kernel, openvswitch module)"
            if bridge.datapath_type in ("", "system") else ""))
    fact_row(g, "fail_mode", bridge.fail_mode or "- (standalone: NORMAL L2 switching when no controller)")
    fact_row(g, "uuid", bridge.uuid)
    _pairs(g, bridge.external_ids, (), "ext ")
    ports = Table("port", "type", "vlan", "ofport", "device / peer / remote", box=None, padding=(0, 1),
                  header_style="bold")
    for port in bridge.ports:
        iface = ovsgraph.single(port)
        ports.add_row(plain(port.name), plain(ovsgraph.iface_type(iface) if iface else "bond"),
                      plain(ovsgraph.vlans_text(port)),
                      str(iface.ofport) if iface is not None and iface.ofport is not None else "-",
                      plain(_where(snap, iface) if iface is not None else f"{len(port.interfaces)} members"))
    return [g, Text(f"{len(bridge.ports)} ports", style="bold"), ports,
            Text("Where a packet goes on this bridge is decided by its OpenFlow rules, which vnettop does "
                 "not read: see ovs-ofctl dump-flows.", style="dim italic")]


def _where(snap: Snapshot, iface: OvsIfaceEntry) -> str:
    if iface.link is not None:
        return f"{iface.link.name or '?'} @ {short(snap.ns_label(iface.link.netns), 30)}"
    if iface.peer is not None:
        return f"peer {iface.peer.bridge}/{iface.peer.port}"
    tunnel = ovsgraph.tunnel_text(iface)
    if tunnel:
        return tunnel
    if iface.type in ovsgraph.KERNEL_TYPES:
        return "no kernel device (see errors)"
    return "no kernel device (by design)"


def _counters(g: Table, snap: Snapshot, iface: OvsIfaceEntry, rates: RateTracker | None) -> None:
    """OVSDB's statistics of an interface with no kernel device, and their rates (module docstring)."""
    c = snap.ovs.counters(iface.uuid) if snap.ovs is not None else None
    if c is None:
        why = ("OVSDB statistics are not read" if snap.ovs is None or snap.ovs.statistics is None
               else "ovs-vswitchd has not written statistics for it")
        fact_row(g, "counters", Text(f"unknown: no kernel device, and {why}", style="dim"))
        return
    series = rates.get_ovs(iface.uuid) if rates is not None else None
    for label, history in (("rx", series.rx if series else None), ("tx", series.tx if series else None)):
        total, pkts = c.get(f"{label}_bytes"), c.get(f"{label}_packets")
        fact_row(g, label, f"{human_bytes(total) if total is not None else '?'} "
             f"({pkts if pkts is not None else '?'} pkts)")
        if history:
            line = Text(f"{human_rate(history[-1]):>11} ")
            line.append(sparkline(history), style="green")
            fact_row(g, f"{label}/s", line)
    bad = [(k, c.get(k)) for k in ("rx_errors", "tx_errors", "rx_dropped", "tx_dropped")]
    if any(v for _k, v in bad):
        fact_row(g, "errors", "  ".join(f"{k} {v}" for k, v in bad if v is not None))
    when = (time.strftime("%H:%M:%S", time.localtime(c.at)) if c.at is not None
            else "before vnettop connected")
    fact_row(g, "counters", Text(f"OVSDB statistics, updated every 5 s by ovs-vswitchd (rates between two "
                             f"writes); last changed {when}", style="dim"))


def iface_grid(snap: Snapshot, bridge: OvsBridgeEntry, port: OvsPortEntry, iface: OvsIfaceEntry | None,
               with_device: bool = True, rates: RateTracker | None = None) -> Table:
    """The OVS facts of one port (and its interface): where it is, VLANs, state, identity, network."""
    g = fact_grid()
    fact_row(g, "ovs bridge", bridge.name)
    fact_row(g, "ovs port", port.name + (" (the bridge's local port)" if port.name == bridge.name else ""))
    fact_row(g, "vlan", ovsgraph.vlans_text(port))
    if iface is not None:
        if iface.name != port.name:
            fact_row(g, "interface", iface.name)
        fact_row(g, "type", ovsgraph.iface_type(iface))
        fact_row(g, "ofport", "LOCAL (65534)" if iface.ofport == 65534 else str(iface.ofport)
             if iface.ofport is not None else "none (not added: OVS could not open it, or not yet)")
        state = Text(f"admin {iface.admin_state or '?'}, link ")
        state.append(iface.link_state or "?", style="green" if iface.link_state == "up" else "yellow")
        fact_row(g, "state", state)
        if iface.mac_in_use:
            fact_row(g, "mac_in_use", iface.mac_in_use)
        if with_device:
            if iface.link is not None:
                fact_row(g, "device", f"{iface.link.name or '?'} @ {snap.ns_label(iface.link.netns)} "
                     f"(ifindex {iface.link.ifindex})")
            else:
                fact_row(g, "device", _where(snap, iface))
        if iface.peer is not None:
            fact_row(g, "patch peer", f"{iface.peer.interface} on {iface.peer.bridge}")
        elif iface.type == "patch":
            fact_row(g, "patch peer", Text(f"{iface.option('peer') or '?'} (not in OVSDB)", style="yellow"))
        tunnel = ovsgraph.tunnel_text(iface)
        if tunnel:
            fact_row(g, "tunnel", tunnel)
        other = tuple((k, v) for k, v in iface.options
                      if k not in ("peer", "remote_ip", "local_ip", "key", "in_key", "out_key"))
        _pairs(g, other, (), "option ")
        _pairs(g, iface.external_ids, IDENTITY)
        if iface.link is None:
            _counters(g, snap, iface, rates)
        fact_row(g, "uuid", iface.uuid)
    _pairs(g, port.other_config, NETWORK)
    _pairs(g, port.external_ids, (), "port ")
    return g


def hit_parts(snap: Snapshot, hit: ovsgraph.OvsHit, rates: RateTracker | None = None) -> list[RenderableType]:
    """The pane for a `Target.ovs` selection."""
    if hit.port is None:
        return bridge_parts(snap, hit.bridge)
    if hit.iface is None:  # a bond's port row
        parts: list[RenderableType] = [iface_grid(snap, hit.bridge, hit.port, None)]
        parts += [Text(f"member {safe(i.name)}: {safe(_where(snap, i))}") for i in hit.port.interfaces]
        return parts
    return [iface_grid(snap, hit.bridge, hit.port, hit.iface, rates=rates)]


def link_parts(snap: Snapshot, link: Link) -> list[RenderableType]:
    """The OVS side of a kernel device: the port it is, or what the datapath device is for."""
    if snap.ovs is None:
        return []
    role = snap.ovs_datapath_role(link.key)
    if role is not None:
        return [Text.assemble(("Open vSwitch datapath: ", "bold"), safe(role),
                              ("\nIts ports are OVS's: see the OVS bridges.", "dim"))]
    hit = ovsgraph.of_link(snap, link)
    if hit is None or hit.port is None:
        return []
    return [Text("Open vSwitch", style="bold"), iface_grid(snap, hit.bridge, hit.port, hit.iface, False)]


def commands(hit: ovsgraph.OvsHit) -> list[str]:
    """How to look at it with OVS's own tools."""
    if hit.port is None:
        name = hit.bridge.name
        return [f"ovs-vsctl list Bridge {name}", f"ovs-ofctl show {name}", f"ovs-ofctl dump-flows {name}"]
    name = hit.iface.name if hit.iface is not None else hit.port.name
    table = "Interface" if hit.iface is not None else "Port"
    return [f"ovs-vsctl list {table} {name}", f"ovs-ofctl dump-ports {hit.bridge.name} {name}",
            f"ovs-ofctl dump-flows {hit.bridge.name}"]


def title(hit: ovsgraph.OvsHit) -> Text:
    return plain(f"OVS bridge {hit.name}" if hit.kind == "bridge" else f"{hit.name} (OVS {hit.kind})")
