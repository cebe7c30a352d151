"""Guards: warnings about what a plan would break, computed from a Snapshot (pure, no I/O).

The operator is often on the host over SSH. Deleting, downing or moving the device that carries the
route back to the SSH client, or its bridge, or a port of that bridge, cuts the very session that would
undo the mistake. A physical NIC is the other classic foot-gun, and deleting a tap that a running VM
holds silently unplugs the VM. None of these is forbidden: each becomes a `GuardWarning` that the caller
must confirm (by passing it back to `Mutator.apply(..., confirmed_warnings=...)`).

Everything the guard needs is injected: the Snapshot, the SSH client address (parsed from
`SSH_CONNECTION`) and the answer of the route lookup (`ip route get CLIENT` -> the device's ifindex in
the root namespace). The mutator does the lookups; this module only reasons, so it is tested with fakes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vnettop.actions.plans import (
    ClearMaster,
    DelAddress,
    DeleteLink,
    DeleteNamespace,
    MoveToNamespace,
    Plan,
    SetLinkState,
    SetMaster,
)
from vnettop.errors import VnettopError
from vnettop.model import Link, LinkKey, Snapshot


@dataclass(frozen=True, slots=True)
class GuardWarning:
    """A danger a plan carries. `key` identifies it for confirmation (code + subject)."""

    code: str  # ssh-route, ssh-address, physical-nic, tap-held, ns-processes (guard-unavailable)
    subject: str  # the device (or namespace) concerned
    message: str  # one line naming the danger

    @property
    def key(self) -> str:
        return f"{self.code}:{self.subject}"


#: What the issue calls it; same class.
Warning = GuardWarning


class UnconfirmedWarnings(VnettopError):
    """`apply` was called without confirming every warning the plan raises."""

    def __init__(self, warnings: list[GuardWarning]) -> None:
        self.warnings = warnings
        first = warnings[0].message if warnings else ""
        more = f" (and {len(warnings) - 1} more)" if len(warnings) > 1 else ""
        super().__init__(f"not done, confirmation needed: {first}{more}")


@dataclass(frozen=True, slots=True)
class SshContext:
    """Where the operator's SSH session comes from and which root device carries its route."""

    client: str  # client address from SSH_CONNECTION
    server: str | None = None  # our address the client connected to
    route_ifindex: int | None = None  # `ip route get CLIENT` -> dev, in the root namespace


def ssh_from_env(environ: Mapping[str, str]) -> tuple[str, str | None] | None:
    """(client address, server address) from SSH_CONNECTION ("CLIENT CPORT SERVER SPORT"), or None."""
    parts = environ.get("SSH_CONNECTION", "").split()
    if not parts:
        return None
    try:
        client = str(ipaddress.ip_address(parts[0].split("%")[0]))
    except ValueError:
        return None
    server: str | None = None
    if len(parts) >= 3:
        try:
            server = str(ipaddress.ip_address(parts[2].split("%")[0]))
        except ValueError:
            server = None
    return client, server


def _ns_inode(snapshot: Snapshot, name: str | None) -> int | None:
    if name is None:
        root = snapshot.root
        return root.inode if root else None
    for ns in snapshot.namespaces:
        if name in ns.names:
            return ns.inode
    return None


def find_target(snapshot: Snapshot, netns: str | None, device: str, ifindex: int | None) -> Link | None:
    """The snapshot's link a plan names (by ifindex when the plan carries one, else by name)."""
    inode = _ns_inode(snapshot, netns)
    if inode is None:
        return None
    if ifindex is not None:
        link = snapshot.link(inode, ifindex)
        return link if link is not None and link.name == device else None
    found = snapshot.find_links(device, inode)
    return found[0] if found else None


def _critical(snapshot: Snapshot, route_link: Link) -> dict[LinkKey, str]:
    """Devices whose loss cuts the SSH route, each with the reason why (for the message)."""
    crit: dict[LinkKey, str] = {route_link.key: "it carries the route to your SSH client"}
    # Upwards: its bridge (and that bridge's bridge); downwards: lower devices (em2.100 -> em2).
    seen = {route_link.key}
    todo = [route_link]
    while todo:
        link = todo.pop()
        for ref, why in ((link.master, f"it is the bridge of {link.name}"),
                         (link.lower, f"{link.name} is stacked on it")):
            if ref is not None and ref.key not in seen:
                seen.add(ref.key)
                crit[ref.key] = why + ", which carries your SSH connection"
                nxt = snapshot.link(*ref.key)
                if nxt is not None:
                    todo.append(nxt)
    if route_link.bridge is not None:
        for port in route_link.bridge.ports:
            key = (route_link.netns, port)
            crit.setdefault(key, f"it is a port of {route_link.name}, which carries your SSH connection")
            # The uplink port may be stacked (em2.100 on em2): its lower devices matter too.
            hop: Link | None = snapshot.link(*key)
            hops = 0
            while hop is not None and hop.lower is not None and hops < 8:
                hops += 1
                crit.setdefault(hop.lower.key, f"{hop.name} (a port of {route_link.name}, which carries "
                                               f"your SSH connection) is stacked on it")
                hop = snapshot.link(*hop.lower.key)
    return crit


def critical_links(snapshot: Snapshot, ssh: SshContext | None) -> dict[LinkKey, str]:
    """The devices whose loss cuts the SSH session, each with why (empty: not over SSH, or no route)."""
    root = snapshot.root
    if ssh is None or ssh.route_ifindex is None or root is None:
        return {}
    route_link = snapshot.link(root.inode, ssh.route_ifindex)
    return _critical(snapshot, route_link) if route_link is not None else {}


def _holders_text(link: Link) -> str | None:
    if link.tun is None or not link.tun.holders:
        return None
    return ", ".join(f"{h.comm}[{h.pid}] (fd {', '.join(map(str, h.fds))})" for h in link.tun.holders)


def can_warn(plan: Plan) -> bool:
    """False for plans no guard ever objects to (creations, bringing up, adding an address), so the
    mutator need not read the system to check them."""
    if isinstance(plan, SetLinkState):
        return not plan.up
    from vnettop.actions import ovs_guards

    if ovs_guards.can_warn(plan):
        return True
    return isinstance(plan, (DeleteLink, DeleteNamespace, MoveToNamespace, ClearMaster, SetMaster,
                             DelAddress))


def check(plan: Plan, snapshot: Snapshot, ssh: SshContext | None = None) -> list[GuardWarning]:
    """Every warning `plan` raises against `snapshot` and the SSH context (sorted, stable)."""
    from vnettop.actions import ovs_guards, ovs_plans

    if isinstance(plan, ovs_plans.OvsPlan):
        return ovs_guards.check(plan, snapshot, ssh)
    out: dict[str, GuardWarning] = {}

    def warn(code: str, subject: str, message: str) -> None:
        w = GuardWarning(code, subject, message)
        out.setdefault(w.key, w)

    route_link: Link | None = None
    crit: dict[LinkKey, str] = {}
    root = snapshot.root
    if ssh is not None and ssh.route_ifindex is not None and root is not None:
        route_link = snapshot.link(root.inode, ssh.route_ifindex)
        if route_link is not None:
            crit = _critical(snapshot, route_link)

    if isinstance(plan, DeleteNamespace):
        inode = _ns_inode(snapshot, plan.name)
        ns = snapshot.namespace(inode) if inode is not None else None
        if ns is not None and ns.pids:
            named = {proc.pid: f"{proc.comm}[{proc.pid}]" for proc in ns.processes}
            shown = [named.get(pid, f"pid {pid}") for pid in ns.pids[:5]]
            more = f" and {len(ns.pids) - 5} more" if len(ns.pids) > 5 else ""
            warn("ns-processes", plan.name,
                 f"{', '.join(shown)}{more} still run in {plan.name}: deleting its name leaves them, the "
                 f"namespace and its devices alive but out of sight of `ip netns`")
        if inode is not None:
            for link in snapshot.links_in(inode):
                if link.peer is not None and link.peer.key in crit:
                    warn("ssh-route", link.peer.name or plan.name,
                         f"deleting namespace {plan.name} deletes {link.name}, whose peer "
                         f"{link.peer.name} matters to your SSH connection: "
                         f"{crit[link.peer.key]}")
        return sorted(out.values(), key=lambda w: w.key)

    target = plan.target
    if target is None:
        return []
    found = find_target(snapshot, target.netns, target.name, target.ifindex)
    if found is None:
        return []
    link = found
    verb = {DeleteLink: "deleting", SetLinkState: "bringing down", MoveToNamespace: "moving",
            ClearMaster: "removing from its bridge", SetMaster: "adding to a bridge",
            DelAddress: "removing an address from"}.get(type(plan))
    if isinstance(plan, SetLinkState) and plan.up:
        verb = None
    if verb is None:
        return []

    if link.key in crit and not isinstance(plan, DelAddress):
        warn("ssh-route", link.name, f"{verb} {link.name} may cut your SSH connection: {crit[link.key]}")
    if isinstance(plan, DeleteLink) and link.peer is not None and link.peer.key in crit:
        warn("ssh-route", link.peer.name or link.name,
             f"deleting {link.name} also deletes its peer {link.peer.name}, and "
             f"{crit[link.peer.key]}")
    if isinstance(plan, DelAddress) and ssh is not None and ssh.server is not None:
        try:
            ours = ipaddress.ip_interface(plan.address).ip == ipaddress.ip_address(ssh.server)
        except ValueError:
            ours = False
        if ours:
            warn("ssh-address", link.name,
                 f"{plan.address} is the address your SSH session is connected to: removing it cuts it")
    if link.kind == "device" and isinstance(plan, (DeleteLink, SetLinkState, MoveToNamespace, SetMaster)):
        warn("physical-nic", link.name, f"{link.name} is a physical NIC: {verb} it cuts the host's "
                                        f"traffic on that port")
    holders = _holders_text(link)
    if holders and isinstance(plan, (DeleteLink, MoveToNamespace)):
        warn("tap-held", link.name,
             f"{link.name} is held by {holders}: {verb} it cuts that process's network")
    return sorted(out.values(), key=lambda w: w.key)


def unconfirmed(warnings: Iterable[GuardWarning],
                confirmed: Iterable[GuardWarning | str]) -> list[GuardWarning]:
    """The warnings not in `confirmed` (given as GuardWarning objects or their `key` strings)."""
    keys = {c.key if isinstance(c, GuardWarning) else str(c) for c in confirmed}
    return [w for w in warnings if w.key not in keys]
