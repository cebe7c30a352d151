"""What differs between two snapshots: two hosts ("how does hv12 differ from hv13?") or one host at two
moments ("what changed since this morning?"). Pure: two Snapshots in, a list of changes out.

How things are matched, and why: ifindexes and nsfs inodes are per host and per boot, so matching by
them would call everything on another host "changed". A namespace is matched by what an operator calls
it — "root", or its first name — and a device by (its namespace, its name). A namespace with no name
(a container's, kept by a process) has nothing that survives to another host; it is matched by inode,
which is right for one host over time and makes it added/removed across hosts, as it should.

What counts as a change of a device is what an operator would act on: kind, MAC, MTU, up/down,
operational state, master, veth peer (namespace and name), stacked-on device, addresses, the commands
holding a tun/tap, bridge port state. Counters and pids are not compared: they change without the
plumbing changing.
"""

from __future__ import annotations

from dataclasses import dataclass

from vnettop.model import Link, LinkRef, Namespace, Snapshot
from vnettop.textsafe import printable_line

#: (namespace key, device name): how a device is matched between two snapshots.
DeviceKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Change:
    """One difference. `fields` holds (field, before, after) for a changed device or namespace."""

    op: str  # "added", "removed", "changed"
    what: str  # "namespace" or "device"
    netns: str  # the namespace's key ("root", its first name, or net:[INODE])
    name: str | None  # the device's name; None for a namespace
    kind: str | None = None  # the device's kind (after the change; before it for a removal)
    fields: tuple[tuple[str, str | None, str | None], ...] = ()  # None: the device has no such thing


def ns_key(ns: Namespace) -> str:
    """How a namespace is matched: "root", its first name, or its inode for a nameless one."""
    if ns.root:
        return "root"
    if ns.names:
        return ns.names[0]
    return f"net:[{ns.inode}]"


def _ns_keys(snap: Snapshot) -> dict[int, str]:
    return {ns.inode: ns_key(ns) for ns in snap.namespaces}


def _ref(keys: dict[int, str], ref: LinkRef | None, here: int) -> str | None:
    if ref is None:
        return None
    name = ref.name if ref.name is not None else f"ifindex {ref.ifindex} (unreadable)"
    if ref.netns == here:
        return name
    return f"{name} @ {keys.get(ref.netns, f'net:[{ref.netns}]')}"


def _holders(link: Link) -> str | None:
    if link.tun is None:
        return None
    if link.tun.holders is None:
        return "unknown"
    comms = sorted({h.comm for h in link.tun.holders})
    more = "" if link.tun.holders_complete else " (maybe more)"
    return (", ".join(comms) if comms else "none") + more


def _facts(keys: dict[int, str], link: Link) -> dict[str, str | None]:
    """The compared facts of a device, each as text or None (so a change prints as `before -> after`)."""
    return {
        "kind": link.kind,
        "mac": link.mac,
        "mtu": str(link.mtu),
        "admin": "up" if link.admin_up else "down",
        "state": link.oper_state,
        "master": _ref(keys, link.master, link.netns),
        "peer": _ref(keys, link.peer, link.netns),
        "lower": _ref(keys, link.lower, link.netns),
        "addresses": " ".join(sorted(link.addresses)) or None,
        "holders": _holders(link),
        "port_state": link.bridge_port.state if link.bridge_port is not None else None,
    }


def _devices(snap: Snapshot, keys: dict[int, str]) -> dict[DeviceKey, Link]:
    out: dict[DeviceKey, Link] = {}
    for link in snap.links:
        out.setdefault((keys.get(link.netns, f"net:[{link.netns}]"), link.name), link)
    return out


def diff(before: Snapshot, after: Snapshot) -> list[Change]:
    """Every difference from `before` to `after`: namespaces first, then devices, each sorted by key."""
    kb, ka = _ns_keys(before), _ns_keys(after)
    changes: list[Change] = []
    nb = {ns_key(ns): ns for ns in before.namespaces}
    na = {ns_key(ns): ns for ns in after.namespaces}
    for key in sorted(nb.keys() - na.keys()):
        changes.append(Change("removed", "namespace", key, None))
    for key in sorted(na.keys() - nb.keys()):
        changes.append(Change("added", "namespace", key, None))
    for key in sorted(nb.keys() & na.keys()):
        before_names, after_names = ", ".join(nb[key].names) or None, ", ".join(na[key].names) or None
        if before_names != after_names:
            changes.append(Change("changed", "namespace", key, None,
                                  fields=(("names", before_names, after_names),)))

    db, da = _devices(before, kb), _devices(after, ka)
    for dkey in sorted(db.keys() | da.keys()):
        old, new = db.get(dkey), da.get(dkey)
        if new is None:
            assert old is not None
            changes.append(Change("removed", "device", dkey[0], dkey[1], old.kind))
        elif old is None:
            changes.append(Change("added", "device", dkey[0], dkey[1], new.kind))
        else:
            fo, fn = _facts(kb, old), _facts(ka, new)
            fields = tuple((f, fo[f], fn[f]) for f in fo if fo[f] != fn[f])
            if fields:
                changes.append(Change("changed", "device", dkey[0], dkey[1], new.kind, fields))
    return changes


_SIGN = {"added": "+", "removed": "-", "changed": "~"}


def change_to_dict(change: Change) -> dict[str, object]:
    """A change as JSON (`vnettop diff --format json`)."""
    return {
        "op": change.op,
        "what": change.what,
        "netns": change.netns,
        "name": change.name,
        "kind": change.kind,
        "fields": {f: {"before": b, "after": a} for f, b, a in change.fields},
    }


def change_text(change: Change) -> str:
    """One line for a person, e.g. `~ device root/tap0 (tap): master br0 -> br1`."""
    def safe(value: str | None) -> str:
        return "-" if value is None else printable_line(value)

    where = safe(change.netns) if change.what == "namespace" else f"{safe(change.netns)}/{safe(change.name)}"
    kind = f" ({safe(change.kind)})" if change.kind else ""
    text = f"{_SIGN[change.op]} {change.what} {where}{kind}"
    if change.fields:
        text += ": " + "; ".join(f"{f} {safe(b)} -> {safe(a)}" for f, b, a in change.fields)
    return text
