"""After an action creates or moves something, where it will be: the selection goes there once a
snapshot shows it (pure; the app asks on each snapshot until found or given up).

Without this the cursor stayed where it was: after `n` the user had to find the new bridge in the
tree, after `m` the device they had just moved was no longer under the cursor at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vnettop.actions import plans
from vnettop.model import Snapshot
from vnettop.ui.targets import Target

#: How many snapshots to look for it in before giving up (the first one may predate the change).
PATIENCE = 5


@dataclass(frozen=True, slots=True)
class Wanted:
    """A device (by name, in a namespace by its plan name, None = root) or a namespace (by name)."""

    kind: str  # "link" or "ns"
    name: str
    netns: str | None = None


def wanted_after(plan: Any) -> Wanted | None:
    """What a successful `plan` made or moved, to select; None for plans that leave it in place."""
    if isinstance(plan, plans.CreateBridge | plans.CreateTunTap | plans.CreateVethPair):
        return Wanted("link", plan.name, plan.netns)
    if isinstance(plan, plans.MoveToNamespace):
        return Wanted("link", plan.device, plan.to_netns)
    if isinstance(plan, plans.CreateNamespace):
        return Wanted("ns", plan.name)
    return None


def _ns_inode(snap: Snapshot, name: str | None) -> int | None:
    for ns in snap.namespaces:
        if (ns.root and name is None) or (name is not None and name in ns.names):
            return ns.inode
    return None


def find(snap: Snapshot, wanted: Wanted) -> Target | None:
    """Where `wanted` is in `snap`, or None if it is not there (yet)."""
    if wanted.kind == "ns":
        inode = _ns_inode(snap, wanted.name)
        return None if inode is None else Target.ns(inode)
    inode = _ns_inode(snap, wanted.netns)
    if inode is None:
        return None
    for link in snap.links_in(inode):
        if link.name == wanted.name:
            return Target.link(inode, link.ifindex)
    return None
