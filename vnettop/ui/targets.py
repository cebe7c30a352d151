"""What can be selected on screen: a namespace, a device or a process, named by stable keys.

Every view (tree, tables), the details pane, jumps and the palette speak in `Target`s, so a selection
survives a refresh (a new Snapshot object) and can move from one view to another.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from vnettop import ovsgraph
from vnettop.model import Link, Namespace, Process, Snapshot
from vnettop.textsafe import printable_line

TargetKind = Literal["ns", "link", "proc", "ovs"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True, order=True)
class Target:
    """A selectable object: ("ns", inode, 0), ("link", netns, ifindex), ("proc", netns, pid), or an OVS
    bridge, port or interface with no kernel device of its own here ("ovs", 0, `ovsgraph.ovs_key(uuid)`)."""

    kind: TargetKind
    netns: int
    ident: int = 0

    @classmethod
    def ns(cls, inode: int) -> Target:
        return cls("ns", inode, 0)

    @classmethod
    def link(cls, netns: int, ifindex: int) -> Target:
        return cls("link", netns, ifindex)

    @classmethod
    def proc(cls, netns: int, pid: int) -> Target:
        return cls("proc", netns, pid)

    @classmethod
    def ovs(cls, uuid: str) -> Target:
        return cls("ovs", 0, ovsgraph.ovs_key(uuid))

    @property
    def id(self) -> str:
        """A string form usable as a widget row key."""
        return f"{self.kind}:{self.netns}:{self.ident}"

    @classmethod
    def parse(cls, text: str) -> Target | None:
        """The inverse of `id` (None for anything else)."""
        parts = text.split(":")
        if len(parts) != 3 or parts[0] not in ("ns", "link", "proc", "ovs"):
            return None
        try:
            return cls(parts[0], int(parts[1]), int(parts[2]))  # type: ignore[arg-type]
        except ValueError:
            return None


def find_process(snap: Snapshot, pid: int) -> tuple[Namespace, Process] | None:
    """The namespace listing this process (as an interesting process) and the process, or None."""
    for ns in snap.namespaces:
        for proc in ns.processes:
            if proc.pid == pid:
                return ns, proc
    return None


def resolve(snap: Snapshot, target: Target) -> Namespace | Link | Process | ovsgraph.OvsHit | None:
    """The object a target names in this snapshot, or None if it is gone."""
    if target.kind == "ovs":
        return ovsgraph.find(snap, target.ident)
    if target.kind == "ns":
        return snap.namespace(target.netns)
    if target.kind == "link":
        return snap.link(target.netns, target.ident)
    ns = snap.namespace(target.netns)
    if ns is None:
        return None
    for proc in ns.processes:
        if proc.pid == target.ident:
            return proc
    return None


def describe(snap: Snapshot, target: Target) -> str:
    """A short human name: "tap0 @ root", "dnsmasq[28795] @ qdhcp-…", "namespace root" (made safe)."""
    return printable_line(_describe(snap, target))


def _describe(snap: Snapshot, target: Target) -> str:
    obj = resolve(snap, target)
    where = snap.ns_label(target.netns)
    if isinstance(obj, Link):
        return f"{obj.name} @ {where}"
    if isinstance(obj, Process):
        return f"{obj.comm}[{obj.pid}] @ {where}"
    if isinstance(obj, Namespace):
        return f"namespace {obj.label}"
    if isinstance(obj, ovsgraph.OvsHit):
        if obj.kind == "bridge":
            return f"OVS bridge {obj.name}"
        return f"OVS {obj.kind} {obj.name} on {obj.bridge.name}"
    return f"{target.kind} {target.ident} @ {where}"


def nearest_survivor(order: Sequence[T], lost: T, alive: Collection[T]) -> T | None:
    """The neighbour to select when `lost` vanished: the next surviving item after it, else the previous.

    `order` is the on-screen order before the refresh (so "next" means what was just below it).
    """
    try:
        at = order.index(lost)
    except ValueError:
        return next((t for t in order if t in alive), None)
    for t in order[at + 1:]:
        if t in alive:
            return t
    for t in reversed(order[:at]):
        if t in alive:
            return t
    return None
