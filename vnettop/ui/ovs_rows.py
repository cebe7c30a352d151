"""Open vSwitch in the topology tree and the bridges view (pure): OVS bridges beside Linux bridges.

In the tree, each OVS bridge is a node of the namespace ovs-vswitchd runs in (the root one), with its
ports nested as a Linux bridge's are: a port that is a kernel device of that namespace IS that device's
node (so `p`, `h`, `t` and the details work on it as on any device), with the OVS facts added to its
line (tag, ofport); a patch or tunnel port, a port whose device lives in another namespace (an internal
port moved into one) and a bond are nodes of their own (`Target.ovs`). The datapath's own devices
(`ovs-system`, `vxlan_sys_4789`) stay, muted, with what they are, instead of listing every OVS port
of every bridge under `ovs-system` (their kernel master) as noise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from rich.text import Text

from vnettop import ovsgraph
from vnettop.model import Link, OvsBridgeEntry, OvsIfaceEntry, OvsPortEntry, Snapshot
from vnettop.ui import tree_model
from vnettop.ui.changes import ChangedSince
from vnettop.ui.filtering import Filter
from vnettop.ui.labels import plain, safe, short
from vnettop.ui.rows import Row, RowBuilder, VethRowsBuilder
from vnettop.ui.rows import bridge_rows as linux_bridge_rows
from vnettop.ui.targets import Target

#: Makes a kernel device's tree label (the tree's label cache).
LinkLabel = Callable[[Link], Text]


def port_facts(port: OvsPortEntry, iface: OvsIfaceEntry | None) -> str:
    """"tag 5 · ofport 12", "trunks 1,2 · ofport 1 · peer br-int/patch-tun", "ofport 3 · to 10.0.0.2…"."""
    parts = []
    if port.tag is not None:
        parts.append(f"tag {port.tag}")
    elif port.trunks:
        parts.append("trunks " + ",".join(str(t) for t in port.trunks))
    if iface is not None:
        if iface.ofport is not None:
            parts.append("LOCAL" if iface.ofport == 65534 else f"ofport {iface.ofport}")
        elif iface.type in ovsgraph.KERNEL_TYPES:
            parts.append("no ofport")
        if iface.peer is not None:
            parts.append(f"peer {iface.peer.bridge}/{iface.peer.port}")
        elif iface.type == "patch":
            parts.append(f"peer {iface.option('peer') or '?'} (not found)")
        tunnel = ovsgraph.tunnel_text(iface)
        if tunnel:
            parts.append(tunnel.split(" ", 1)[1])  # "to 10.0.0.2 key flow (local …)": the type is said
        if iface.link_state not in (None, "up"):
            parts.append(f"link {iface.link_state}")
    return " · ".join(safe(p) for p in parts)


def _iface_label(snap: Snapshot, port: OvsPortEntry, iface: OvsIfaceEntry, named: str) -> Text:
    """A port or interface that is not a device node of its own: patch, tunnel, moved, missing."""
    text = Text()
    text.append(safe(named), style="bold")
    text.append(f"  {safe(ovsgraph.iface_type(iface))}", style="cyan")
    facts = port_facts(port, iface) if named == port.name else port_facts(port, iface).split(" · ", 1)[-1]
    if facts:
        text.append(f"  {facts}")
    if iface.link is not None:
        where = snap.ns_label(iface.link.netns)
        text.append(f"  = {safe(iface.link.name or '?')} @ {short(where, 30)}", style="magenta")
    elif iface.type in ovsgraph.KERNEL_TYPES:
        text.append("  no kernel device", style="yellow")
    return text


def port_label(link_text: Text, port: OvsPortEntry, iface: OvsIfaceEntry) -> Text:
    """A kernel device's own line with the OVS port's facts after it."""
    text = link_text.copy()
    facts = port_facts(port, iface)
    if facts:
        text.append(f"  {facts}", style="cyan")
    return text


def bridge_label(bridge: OvsBridgeEntry) -> Text:
    text = Text()
    text.append(safe(bridge.name), style="bold")
    text.append("  ovs bridge", style="cyan")
    n = len(bridge.ports)
    text.append(f"  {n} port{'s' if n != 1 else ''}")
    facts = [f"{bridge.datapath_type or 'system'} datapath"]
    if bridge.fail_mode:
        facts.append(f"fail_mode {bridge.fail_mode}")
    text.append(f"  {safe(', '.join(facts))}", style="dim")
    return text


def datapath_label(link: Link, role: str) -> Text:
    """`ovs-system` and its kind: what it is, muted (it is OVS's, not something to look after)."""
    return Text.assemble((safe(link.name), "dim bold"), (f"  {safe(link.kind)}", "dim"),
                         (f"  OVS datapath: {safe(role)}", "dim italic"))


def _port_node(snap: Snapshot, ns: int, port: OvsPortEntry, flt: Filter, show_all: bool,
               link_label: LinkLabel, placed: set[int]) -> tree_model.NodeSpec | None:
    iface = ovsgraph.single(port)
    if iface is not None:
        link = snap.link(*iface.link.key) if iface.link is not None and iface.link.netns == ns else None
        if link is not None:
            placed.add(link.ifindex)
            target = Target.link(*link.key)
            label = port_label(link_label(link), port, iface)
        else:
            target = Target.ovs(iface.uuid)
            label = _iface_label(snap, port, iface, port.name)
        if show_all or flt.matches(snap, target):
            return tree_model.NodeSpec(target, label)
        return None
    # A bond (or a port with no interface): the port, its members below it.
    kids = []
    for member in port.interfaces:
        t = Target.ovs(member.uuid)
        if show_all or flt.matches(snap, t):
            kids.append(tree_model.NodeSpec(t, _iface_label(snap, port, member, member.name)))
    target = Target.ovs(port.uuid)
    if not kids and not (show_all or flt.matches(snap, target)):
        return None
    what = "  bond" if port.interfaces else "  no interface"
    label = Text.assemble((safe(port.name), "bold"), (what, "cyan"))
    facts = port_facts(port, None)
    if facts:
        label.append(f"  {facts}")
    return tree_model.NodeSpec(target, label, tuple(kids))


def tree_nodes(snap: Snapshot, ns: int, flt: Filter, show_all: bool,
               link_label: LinkLabel) -> tuple[list[tree_model.NodeSpec], set[int]]:
    """The OVS bridge nodes of namespace `ns` (none unless OVS bridges are shown there), and the
    ifindexes of the devices they placed (not to be shown again elsewhere in the namespace)."""
    placed: set[int] = set()
    if snap.ovs is None or ns != ovsgraph.home_namespace(snap):
        return [], placed
    out = []
    for bridge in snap.ovs.bridges:
        target = Target.ovs(bridge.uuid)
        mine = show_all or (flt.active and not flt.inverted and flt.matches(snap, target))
        kids = [node for port in bridge.ports
                if (node := _port_node(snap, ns, port, flt, mine, link_label, placed)) is not None]
        if kids or show_all or flt.matches(snap, target):
            out.append(tree_model.NodeSpec(target, bridge_label(bridge), tuple(kids)))
    return out, placed


def datapath_node(snap: Snapshot, link: Link, flt: Filter, show_all: bool) -> tree_model.NodeSpec | None:
    """The muted node of a datapath device (`ovs-system`), or None when it is not one (or filtered)."""
    role = snap.ovs_datapath_role(link.key) if snap.ovs is not None else None
    if role is None:
        return None
    target = Target.link(*link.key)
    if not (show_all or flt.matches(snap, target)):
        return tree_model.NodeSpec(target, Text())  # a placeholder the caller drops: the device is handled
    return tree_model.NodeSpec(target, datapath_label(link, role))


# -- the bridges view ----------------------------------------------------------------------------


def _state_cell(iface: OvsIfaceEntry | None) -> Text:
    if iface is None:
        return Text("")
    state = iface.link_state
    if state is None:
        return Text("?", style="dim")
    return Text(state, style="green" if state == "up" else "red")


class OvsGroup(NamedTuple):
    """An OVS bridge's rows as last built, with what they were made of."""

    entry: OvsBridgeEntry
    home: int | None  # the namespace they place the bridge in (`ovsgraph.home_namespace`)
    device_netns: frozenset[int]  # the namespaces of the devices its interfaces are
    rows: list[Row]  # its own and its ports' (none when the filter left out all of them)

    def reusable(self, bridge: OvsBridgeEntry, home: int | None, changed: frozenset[int]) -> bool:
        """Whether these rows are still `bridge`'s, with `changed` the namespaces changed since."""
        return ((self.entry is bridge or self.entry == bridge) and self.home == home
                and not self.device_netns & changed)


#: OVS groups of an earlier build by bridge uuid, and the namespaces changed since.
OvsReuse = tuple[dict[str, OvsGroup], frozenset[int]]


def bridge_rows(snap: Snapshot, flt: Filter, reuse: OvsReuse | None = None,
                groups: dict[str, OvsGroup] | None = None) -> list[Row]:
    """Rows of the OVS bridges for the bridges view (same columns as the Linux bridges': bridge, port,
    kind, namespace, state, ovs, cost, prio, MACs).

    With `reuse` (groups built with the same filter from an earlier snapshot, and the namespaces changed
    since), a bridge whose OVSDB entry is the same and none of whose namespaces changed keeps its rows:
    they show only that entry and, of the kernel, the devices its interfaces are and the labels of their
    namespaces (an owner or a label changed anywhere is no reuse at all: `changes.changed_namespaces`).
    `groups` receives each bridge's group by its uuid."""
    rows: list[Row] = []
    home = ovsgraph.home_namespace(snap)
    for bridge in snap.ovs.bridges if snap.ovs is not None else ():
        group = reuse[0].get(bridge.uuid) if reuse is not None else None
        if group is None or (reuse is not None and not group.reusable(bridge, home, reuse[1])):
            group = _bridge_group(snap, bridge, home, flt)
        if groups is not None:
            groups[bridge.uuid] = group
        rows.extend(group.rows)
    return rows


def _bridge_group(snap: Snapshot, bridge: OvsBridgeEntry, home: int | None, flt: Filter) -> OvsGroup:
    """One OVS bridge's rows: its own and its ports' (none when the filter leaves out all of them)."""
    device_netns: set[int] = set()
    port_rows = []
    for port in bridge.ports:
        device_netns.update(i.link.netns for i in port.interfaces if i.link is not None)
        iface = ovsgraph.single(port)
        link = iface.link if iface is not None else None
        target = (Target.link(*link.key) if link is not None and snap.link(*link.key) is not None
                  else Target.ovs(iface.uuid if iface is not None else port.uuid))
        if not flt.matches(snap, target):
            continue
        kind = ovsgraph.iface_type(iface) if iface is not None else "bond"
        device = snap.link(*link.key) if link is not None else None
        if iface is not None and not iface.type and device is not None:
            kind = device.kind  # "tap", "veth": an existing device added says more than "system"
        where = short(snap.ns_label(link.netns)) if link is not None else "-"
        port_rows.append(Row(target.id, target, (
            "", port.name, kind, where, _state_cell(iface), port_facts(port, iface), "", "", "")))
    target = Target.ovs(bridge.uuid)
    rows: list[Row] = []
    if port_rows or flt.matches(snap, target):
        n = len(bridge.ports)
        rows.append(Row(target.id, target, (
            plain(bridge.name, "bold"), f"{n} port{'s' if n != 1 else ''}", "ovs bridge",
            short(snap.ns_label(home)) if home is not None else "", bridge.fail_mode or "",
            f"{bridge.datapath_type or 'system'} datapath", "", "", "")))
        rows.extend(port_rows)
    return OvsGroup(bridge, home, frozenset(device_netns), rows)


def all_bridge_rows(snap: Snapshot, flt: Filter) -> list[Row]:
    """The bridges view: the Linux bridges, then the OVS ones."""
    return linux_bridge_rows(snap, flt) + bridge_rows(snap, flt)


class BridgesViewBuilder:
    """`all_bridge_rows`, keeping the rows of each bridge, Linux or OVS, that no change since the last
    build (with the same filter) can have touched: a Linux bridge whose namespace did not change, an OVS
    bridge whose OVSDB entry is the same and whose devices' namespaces did not change.

    Why: a switch to this view after any change built every row again: 14-20 ms at the benchmark's four
    Linux bridges of 128 ports (most of a keypress's budget at 1000 namespaces, with the collector
    competing for the interpreter), and 18-34 ms for an OVS br-int of 1000 ports."""

    def __init__(self) -> None:
        self._since = ChangedSince()
        self._linux: dict[str, list[Row]] = {}
        self._ovs: dict[str, OvsGroup] = {}
        #: Bridges whose rows the last build reused (or found none again: the filter left all out), Linux
        #: and OVS: tests check what a change reuses.
        self.reused = 0

    def __call__(self, snap: Snapshot, flt: Filter) -> list[Row]:
        changed = self._since.changed(snap, flt)
        linux: dict[str, list[Row]] = {}
        ovs: dict[str, OvsGroup] = {}
        rows = (linux_bridge_rows(snap, flt, None if changed is None else (self._linux, changed), linux)
                + bridge_rows(snap, flt, None if changed is None else (self._ovs, changed), ovs))
        self.reused = 0 if changed is None else (
            sum(1 for key, group in linux.items() if self._linux.get(key) is group)
            + sum(1 for key, entry in ovs.items() if self._ovs.get(key) is entry))
        self._linux, self._ovs = linux, ovs
        return rows


def kept_row_builders() -> dict[str, RowBuilder]:
    """Builders of the table views that keep rows between builds, by view (a new host starts anew)."""
    return {"veths": VethRowsBuilder(), "bridges": BridgesViewBuilder()}


def palette_entries(snap: Snapshot) -> list[tuple[str, str, Target]]:
    """(label, help, target) for ctrl+p: every OVS bridge, and every OVS row that is not a kernel device
    the palette lists anyway (patch, tunnel, a missing or moved device, bond members)."""
    out: list[tuple[str, str, Target]] = []
    for bridge in snap.ovs.bridges if snap.ovs is not None else ():
        out.append((safe(f"OVS bridge {bridge.name}"), "ovs bridge", Target.ovs(bridge.uuid)))
        for port in bridge.ports:
            for iface in port.interfaces:
                if iface.link is None or len(port.interfaces) > 1:
                    out.append((safe(f"{iface.name} on OVS bridge {bridge.name}"),
                                f"ovs {ovsgraph.iface_type(iface)}", Target.ovs(iface.uuid)))
    return out
