"""The `/` filter: which targets match a query (pure).

A query matches, case-insensitively, a device's name, kind, MAC, addresses, namespace names and the
processes holding it; a namespace's names and processes; a process's command name and pid; and the
owners of each (name, id or its prefix, kind, runtime, facts; a veth end also its far namespace's
owners). A leading `!` inverts it.
"""

from __future__ import annotations

from dataclasses import dataclass

from vnettop import ovsgraph, owners
from vnettop.model import Owner, Snapshot
from vnettop.ui.targets import Target, resolve


@dataclass(frozen=True, slots=True)
class Filter:
    """A parsed query; the empty filter matches everything."""

    text: str = ""
    inverted: bool = False

    @classmethod
    def parse(cls, query: str) -> Filter:
        query = query.strip()
        inverted = query.startswith("!")
        text = query[1:].strip() if inverted else query
        return cls(text.lower(), inverted and bool(text))

    @property
    def active(self) -> bool:
        return bool(self.text)

    def __str__(self) -> str:
        return ("!" if self.inverted else "") + self.text

    def matches(self, snap: Snapshot, target: Target) -> bool:
        """Whether the target passes the filter (inversion applied)."""
        if not self.text:
            return True
        found = self.text in haystack(snap, target)
        return found != self.inverted


def _ns_words(snap: Snapshot, inode: int) -> list[str]:
    ns = snap.namespace(inode)
    if ns is None:
        return [f"net:[{inode}]"]
    return [ns.label, *ns.names, *ns.mounts, str(inode)]


def _owner_words(found: tuple[Owner, ...]) -> list[str]:
    return [w for owner in found for w in owners.words(owner)]


def haystack(snap: Snapshot, target: Target) -> str:
    """Everything a query may match for this target, lower-case, NUL-separated."""
    obj = resolve(snap, target)
    words: list[str] = []
    if target.kind == "ns":
        words += _ns_words(snap, target.netns)
        words += _owner_words(owners.of_namespace(snap, target.netns))
        ns = snap.namespace(target.netns)
        if ns is not None:
            words += [p.comm for p in ns.processes]
    elif target.kind == "link" and obj is not None:
        link = snap.link(target.netns, target.ident)
        if link is not None:
            words += [link.name, link.kind, link.mac or "", *link.addresses, *_ns_words(snap, link.netns)]
            words += _owner_words(owners.of_link(snap, link) + owners.reached(snap, link))
            if link.tun is not None:
                held = link.tun.known_holders
                words += [h.comm for h in held] + [str(h.pid) for h in held]
    elif target.kind == "proc" and obj is not None:
        words += [getattr(obj, "comm", ""), str(target.ident), *_ns_words(snap, target.netns)]
        words += _owner_words(owners.of_pid(snap, target.ident))
    elif isinstance(obj, ovsgraph.OvsHit):  # an OVS bridge, port or interface: names, type, identity
        words += [obj.name, obj.bridge.name, "ovs"]
        if obj.iface is not None:
            iface = obj.iface
            words += [iface.type, *(v for _k, v in iface.external_ids), *(v for _k, v in iface.options)]
    return "\0".join(words).lower()
