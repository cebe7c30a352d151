"""Guards for OVS plans (pure, no I/O): what deleting an OVS bridge or port, or retagging a port, would cut.

The SSH lifeline is the kernel guards' (`guards.critical_links`: the device carrying the route to the
SSH client, its bridge, lower devices and ports). OVSDB says which kernel device each OVS interface is
(the snapshot's `ovs` section, joined), so a plan is dangerous when
- it removes or retags a port whose interface is one of those devices (deleting a bridge removes every
  port, including its local port, often the one holding the host's address: `br-ex`);
- it removes or retags a system port (an existing device: the uplink, typically a NIC) of a bridge one of
  whose ports carries the route, since the route then leaves through that uplink.
A port whose device is a tap held by a process (a VM) warns as the kernel's `tap-held` does; the
userspace datapath's own taps, held by ovs-vswitchd, do not.
With an SSH session and no OVS section in the snapshot the guard cannot tell: it says so.
"""

from __future__ import annotations

from vnettop.actions import guards
from vnettop.actions import ovs_plans as op
from vnettop.actions.guards import GuardWarning, SshContext
from vnettop.actions.plans import Plan
from vnettop.model import LinkKey, OvsBridgeEntry, OvsPortEntry, Snapshot


def can_warn(plan: Plan) -> bool:
    return isinstance(plan, (op.DeleteOvsBridge, op.DeleteOvsPort, op.SetOvsTag))


def _port_links(port: OvsPortEntry) -> list[LinkKey]:
    return [iface.link.key for iface in port.interfaces if iface.link is not None]


def _find_port(snapshot: Snapshot, name: str,
               bridge: str | None) -> tuple[OvsBridgeEntry, OvsPortEntry] | None:
    for br in snapshot.ovs.bridges if snapshot.ovs is not None else ():
        if bridge is not None and br.name != bridge:
            continue
        for port in br.ports:
            if port.name == name:
                return br, port
    return None


def check(plan: Plan, snapshot: Snapshot, ssh: SshContext | None = None) -> list[GuardWarning]:
    """Every warning an OVS `plan` raises against `snapshot` and the SSH context (sorted, stable)."""
    if not can_warn(plan):
        return []
    out: dict[str, GuardWarning] = {}

    def warn(code: str, subject: str, message: str) -> None:
        w = GuardWarning(code, subject, message)
        out.setdefault(w.key, w)

    crit = guards.critical_links(snapshot, ssh)
    if snapshot.ovs is None:
        if crit:
            warn("guard-unavailable", op.subject(plan),
                 "OVSDB was not read, so whether this cuts your SSH connection is unknown; go ahead only if "
                 "you know")
        return sorted(out.values(), key=lambda w: w.key)

    if isinstance(plan, op.DeleteOvsBridge):
        bridge = next((b for b in snapshot.ovs.bridges if b.name == plan.name), None)
        targets = [(bridge, port) for port in bridge.ports] if bridge is not None else []
        verb = f"deleting OVS bridge {plan.name}"
    else:
        name = op.subject(plan)
        found = _find_port(snapshot, name, plan.bridge if isinstance(plan, op.DeleteOvsPort) else None)
        targets = [found] if found is not None else []
        verb = f"{'removing' if isinstance(plan, op.DeleteOvsPort) else 'retagging'} OVS port {name}"

    for bridge, port in targets:
        for key in _port_links(port):
            if key in crit:
                link = snapshot.link(*key)
                what = link.name if link is not None else port.name
                warn("ssh-route", port.name, f"{verb} may cut your SSH connection: port {port.name} is "
                                             f"device {what}, and {crit[key]}")
            link = snapshot.link(*key)
            # With the userspace datapath ovs-vswitchd itself holds the taps of internal and local
            # ports: only another holder (a VM) is cut off.
            others = [h for h in link.tun.holders or () if not h.comm.startswith("ovs-vswitchd")] \
                if link is not None and link.tun is not None else []
            if isinstance(plan, (op.DeleteOvsBridge, op.DeleteOvsPort)) and others:
                held = ", ".join(f"{h.comm}[{h.pid}]" for h in others)
                warn("tap-held", port.name, f"{port.name} is a tap held by {held}: {verb} cuts that "
                                            f"process's network")
        if isinstance(plan, op.DeleteOvsBridge):
            continue
        carrier = next((p for p in bridge.ports if p.name != port.name
                        and any(k in crit for k in _port_links(p))), None)
        system = any(iface.type in ("", "system") for iface in port.interfaces)
        if carrier is not None and system:
            warn("ssh-route", port.name,
                 f"{verb} may cut your SSH connection: port {carrier.name} of bridge {bridge.name} carries "
                 f"its route, and {port.name} may be the bridge's uplink")
    return sorted(out.values(), key=lambda w: w.key)
