"""Write-mode actions of the app (n, d, a, A, m, u, +, -): each builds a plan from the selection and
opens its dialog. The read-only gate is checked three times: `check_action` hides these keys, each
action here refuses again, and the mutator refuses every plan in read-only mode anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vnettop import ovsgraph
from vnettop.actions import ovs_plans, plans
from vnettop.model import Link, Namespace, OvsBridgeEntry, OvsIfaceEntry, OvsPortEntry, Snapshot
from vnettop.names import written
from vnettop.ui.screens.action_dialog import ActionDialog, NewObjectChooser

if TYPE_CHECKING:
    from textual.app import App

    from vnettop.ui.targets import Target

    _Base = App[int]
else:
    _Base = object

CREATE_PLANS: list[type[plans.Plan]] = [plans.CreateBridge, plans.CreateVethPair, plans.CreateTunTap,
                                        plans.CreateNamespace]
#: Offered too when the picture has an OVS section (OVSDB was read).
OVS_CREATE_PLANS: list[type[plans.Plan]] = [ovs_plans.CreateOvsBridge, ovs_plans.AddOvsPort]

OvsHit = tuple[OvsBridgeEntry, OvsPortEntry, OvsIfaceEntry]


def plan_netns(snap: Snapshot, inode: int) -> str | bool | None:
    """The namespace as plans name it: None for root, its /run/netns name, or False if it has none."""
    ns = snap.namespace(inode)
    if ns is None or ns.root:
        return None
    return ns.names[0] if ns.names else False


def namespaces_hint(snap: Snapshot) -> str:
    names = [written(n) for ns in snap.namespaces for n in ns.names[:1]]  # as typed back (vnettop.names)
    return "namespaces: root (empty)" + (", " + ", ".join(names[:12]) if names else "")


class WriteActions(_Base):
    """Mixin for VnettopApp: the write actions."""

    if TYPE_CHECKING:  # provided by VnettopApp
        read_only: bool
        mutator: Any
        snapshot: Snapshot | None

        def current_target(self) -> Target | None: ...

    def _writable(self) -> bool:
        if self.read_only or self.mutator is None:
            self.notify("read-only: nothing can be changed from here", severity="warning")
            return False
        return self.snapshot is not None

    def _selected_link(self) -> tuple[Link, dict[str, Any]] | None:
        """The selected device and the plan fields that name it; None (with a notice) otherwise."""
        snap = self.snapshot
        target = self.current_target()
        link = snap.link(target.netns, target.ident) if snap and target and target.kind == "link" else None
        if snap is None or link is None:
            self.notify("select a device first", severity="warning")
            return None
        netns = plan_netns(snap, link.netns)
        if netns is False:
            self.notify(f"{link.name} is in a namespace with no name: vnettop changes devices only in the "
                        "root namespace and named ones (ip netns attach NAME PID names it)",
                        severity="warning", timeout=8)
            return None
        return link, {"device": link.name, "netns": netns, "ifindex": link.ifindex}

    def _selected_ovs(self) -> OvsHit | None:
        """The OVS bridge, port and interface selected: a device that is an OVS interface, or an OVS row
        of the tree with no kernel device here (a patch or tunnel port; a bridge, as its local port, so
        `d` deletes the bridge). None: nothing of OVS is selected."""
        snap = self.snapshot
        target = self.current_target()
        if snap is None or target is None:
            return None
        if target.kind == "link":
            return snap.ovs_port_of((target.netns, target.ident))
        if target.kind != "ovs":
            return None
        row = ovsgraph.find(snap, target.ident)
        if row is None:
            return None
        port = row.port or next((p for p in row.bridge.ports if p.name == row.bridge.name), None)
        if port is None or not port.interfaces:
            return None
        iface = row.iface or next((i for i in port.interfaces if i.name == port.name), port.interfaces[0])
        return row.bridge, port, iface

    def _ovs_action(self, hit: OvsHit, plan_cls: type[plans.Plan]) -> None:
        """An OVS plan on the selected device's port, or on its bridge for the bridge's local port."""
        bridge, port, _iface = hit
        local = port.name == bridge.name
        where = f"OVS bridge {bridge.name}" if local else f"OVS port {port.name} on bridge {bridge.name}"
        context = f"{where} (changed in OVSDB, as ovs-vsctl does)"
        if plan_cls is ovs_plans.SetOvsTag:
            if local:
                self.notify("a bridge's local port is tagged like any port, but vnettop leaves it alone: "
                            "select another port", severity="warning")
                return
            self._open(plan_cls, {"port": port.name}, {"tag": port.tag}, context)
        elif local:
            self._open(ovs_plans.DeleteOvsBridge, {"name": bridge.name}, {}, context)
        else:
            self._open(ovs_plans.DeleteOvsPort, {"name": port.name, "bridge": bridge.name}, {}, context)

    def _open(self, plan_cls: type[plans.Plan], fixed: dict[str, Any],
              prefill: dict[str, Any] | None = None, context: str = "") -> None:
        self.push_screen(ActionDialog(plan_cls, fixed, prefill or {}, self.mutator, self.snapshot, context))

    def _device_action(self, plan_cls: type[plans.Plan], prefill: dict[str, Any] | None = None,
                       context: str = "") -> None:
        if not self._writable():
            return
        found = self._selected_link()
        if found is None:
            return
        link, fixed = found
        where = self.snapshot.ns_label(link.netns) if self.snapshot else ""
        self._open(plan_cls, fixed, prefill, context or f"{link.name} ({link.kind}) in {where}")

    def action_new(self) -> None:
        if not self._writable():
            return
        snap = self.snapshot
        target = self.current_target()
        netns = plan_netns(snap, target.netns) if snap and target else None
        prefill = {"netns": netns or None}

        hit = self._selected_ovs()
        ovs = snap.ovs if snap is not None else None

        def chosen(plan_cls: type[plans.Plan] | None) -> None:
            if plan_cls is None:
                return
            if plan_cls in OVS_CREATE_PLANS and ovs is not None:
                names_ = [b.name for b in ovs.bridges]
                bridge = hit[0].name if hit is not None else (names_[0] if names_ else "")
                context = "OVS bridges: " + (", ".join(map(written, names_)) or "none yet")
                fill = {"bridge": bridge} if plan_cls is ovs_plans.AddOvsPort else {}
                self._open(plan_cls, {}, fill, context)
                return
            self._open(plan_cls, {}, prefill, namespaces_hint(snap) if snap else "")

        offered = CREATE_PLANS + (OVS_CREATE_PLANS if ovs is not None else [])
        self.push_screen(NewObjectChooser(offered), chosen)

    def action_delete(self) -> None:
        if not self._writable():
            return
        snap = self.snapshot
        target = self.current_target()
        if snap is not None and target is not None and target.kind == "ns":
            ns = snap.namespace(target.netns)
            if ns is None or ns.root or not ns.names:
                self.notify("only a named namespace can be deleted (ip netns del NAME)", severity="warning")
                return
            self._open(plans.DeleteNamespace, {"name": ns.names[0]}, {}, _ns_context(snap, ns))
            return
        hit = self._selected_ovs()
        if hit is not None:  # an OVS bridge's or port's device: OVSDB owns it, `ip link del` would not do
            self._ovs_action(hit, ovs_plans.DeleteOvsPort)
            return
        self._device_action(plans.DeleteLink)

    def action_add_to_bridge(self) -> None:
        snap = self.snapshot
        target = self.current_target()
        bridges = [link.name for link in snap.links_in(target.netns) if link.bridge is not None] \
            if snap is not None and target is not None else []
        context = ("bridges here: " + ", ".join(map(written, bridges))) if bridges else \
            "no bridge in this namespace"
        self._device_action(plans.SetMaster, {"bridge": bridges[0] if bridges else ""}, context)

    def action_remove_from_bridge(self) -> None:
        hit = self._selected_ovs() if self._writable() else None
        if hit is not None and hit[1].name != hit[0].name:
            self._ovs_action(hit, ovs_plans.DeleteOvsPort)
            return
        self._device_action(plans.ClearMaster)

    def action_ovs_tag(self) -> None:
        """Set or clear the VLAN tag of the OVS port the selected device is."""
        if not self._writable():
            return
        hit = self._selected_ovs()
        if hit is None:
            self.notify("select a device that is an OVS port (OVSDB knows its tag)", severity="warning")
            return
        self._ovs_action(hit, ovs_plans.SetOvsTag)

    def action_move(self) -> None:
        self._device_action(plans.MoveToNamespace, {},
                            namespaces_hint(self.snapshot) if self.snapshot else "")

    def action_up_down(self) -> None:
        found = self._selected_link() if not self.read_only and self.snapshot is not None else None
        self._device_action(plans.SetLinkState, {"up": not found[0].admin_up} if found else {})

    def action_add_address(self) -> None:
        self._device_action(plans.AddAddress)

    def action_del_address(self) -> None:
        found = self._selected_link() if not self.read_only and self.snapshot is not None else None
        first = found[0].addresses[0] if found and found[0].addresses else ""
        self._device_action(plans.DelAddress, {"address": first})


def _ns_context(snap: Snapshot, ns: Namespace) -> str:
    devices = ", ".join(link.name for link in snap.links_in(ns.inode))
    return f"namespace {ns.label}: devices {devices or 'none'}; processes {len(ns.pids)}"

