"""What differs between two snapshots: two hosts ("how does hv12 differ from hv13?") or one host at two
moments ("what changed since this morning?"). Pure: two Snapshots in, a list of changes out.

How things are matched, and why: ifindexes and nsfs inodes are per host and per boot, so matching by
them would call everything on another host "changed". A namespace is matched by what an operator calls
it — "root", or its first name — and a device by (its namespace, its name). A namespace with no name
(a container's, kept by a process) has nothing that survives to another host; it is matched by inode,
which is right for one host over time and makes it added/removed across hosts, as it should.

What counts as a change of a device is what an operator would act on: kind, MAC, MTU, up/down,
operational state, master, veth peer (namespace and name), stacked-on device, addresses, the commands
holding a tun/tap, bridge port state, and whose it is (the owner a label names). Counters and pids are
not compared: they change without the plumbing changing.

Owners (VMs, containers, pods...) are matched by kind and id (a VM's uuid, a container's id survive a
migration or a restart), else by kind and name; one is added, removed, or changed in name, runtime,
exactness or devices. When either snapshot has no owners section (no owner source was asked), owners
are unknown there, so nothing about them is compared: unknown is not "none".
"""

from __future__ import annotations

from dataclasses import dataclass

from vnettop import owners as own
from vnettop.model import Link, LinkRef, Namespace, Owner, Snapshot
from vnettop.textsafe import printable_line

#: (namespace key, device name): how a device is matched between two snapshots.
DeviceKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Change:
    """One difference. `fields` holds (field, before, after) for a changed device or namespace."""

    op: str  # "added", "removed", "changed"
    what: str  # "namespace", "device" or "owner"
    netns: str  # the namespace's key ("root", its first name, or net:[INODE]); an owner's kind
    name: str | None  # the device's or owner's name; None for a namespace
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


def _owner_label(owner: Owner | None) -> str | None:
    return None if owner is None else f"{owner.name} ({owner.kind})"


def _owner_key(owner: Owner) -> tuple[str, str]:
    return (owner.kind, f"id {owner.id}" if owner.id else f"name {owner.name}")


def _owner_facts(snap: Snapshot, keys: dict[int, str], owner: Owner) -> dict[str, str | None]:
    devices = sorted(f"{keys.get(link.netns, f'net:[{link.netns}]')}/{link.name}"
                     for link in own.devices(snap, owner))
    return {"name": owner.name, "runtime": owner.runtime, "exact": "yes" if owner.exact else "no",
            "devices": " ".join(devices) or None}


def _owner_changes(before: Snapshot, after: Snapshot, kb: dict[int, str],
                   ka: dict[int, str]) -> list[Change]:
    if before.owners is None or after.owners is None:
        return []
    ob: dict[tuple[str, str], Owner] = {}
    oa: dict[tuple[str, str], Owner] = {}
    for o in before.owners:
        ob.setdefault(_owner_key(o), o)
    for o in after.owners:
        oa.setdefault(_owner_key(o), o)
    out: list[Change] = []
    for key in sorted(ob.keys() | oa.keys()):
        old, new = ob.get(key), oa.get(key)
        if new is None:
            assert old is not None
            out.append(Change("removed", "owner", old.kind, old.name, old.runtime))
        elif old is None:
            out.append(Change("added", "owner", new.kind, new.name, new.runtime))
        else:
            fo, fn = _owner_facts(before, kb, old), _owner_facts(after, ka, new)
            fields = tuple((f, fo[f], fn[f]) for f in fo if fo[f] != fn[f])
            if fields:
                out.append(Change("changed", "owner", new.kind, new.name, new.runtime, fields))
    return out


def _devices(snap: Snapshot, keys: dict[int, str]) -> dict[DeviceKey, Link]:
    out: dict[DeviceKey, Link] = {}
    for link in snap.links:
        out.setdefault((keys.get(link.netns, f"net:[{link.netns}]"), link.name), link)
    return out


def diff(before: Snapshot, after: Snapshot) -> list[Change]:
    """Every difference from `before` to `after`: namespaces first, then devices, then owners, each
    sorted by key."""
    kb, ka = _ns_keys(before), _ns_keys(after)
    changes: list[Change] = []
    nb = {ns_key(ns): ns for ns in before.namespaces}
    na = {ns_key(ns): ns for ns in after.namespaces}
    for key in sorted(nb.keys() - na.keys()):
        changes.append(Change("removed", "namespace", key, None))
    for key in sorted(na.keys() - nb.keys()):
        changes.append(Change("added", "namespace", key, None))
    both_owned = before.owners is not None and after.owners is not None
    for key in sorted(nb.keys() & na.keys()):
        before_names, after_names = ", ".join(nb[key].names) or None, ", ".join(na[key].names) or None
        fields = [("names", before_names, after_names)] if before_names != after_names else []
        if both_owned:
            ob = _owner_label(own.best(own.of_namespace(before, nb[key].inode)))
            oa = _owner_label(own.best(own.of_namespace(after, na[key].inode)))
            if ob != oa:
                fields.append(("owner", ob, oa))
        if fields:
            changes.append(Change("changed", "namespace", key, None, fields=tuple(fields)))

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
            if both_owned:
                fo["owner"] = _owner_label(own.best(own.of_link(before, old)))
                fn["owner"] = _owner_label(own.best(own.of_link(after, new)))
            changed = tuple((f, fo[f], fn[f]) for f in fo if fo[f] != fn[f])
            if changed:
                changes.append(Change("changed", "device", dkey[0], dkey[1], new.kind, changed))
    changes.extend(_owner_changes(before, after, kb, ka))
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
    # an owner: `+ owner vm/web-1 (libvirt)`: its kind where a device has its namespace, its runtime as kind
    kind = f" ({safe(change.kind)})" if change.kind else ""
    text = f"{_SIGN[change.op]} {change.what} {where}{kind}"
    if change.fields:
        text += ": " + "; ".join(f"{f} {safe(b)} -> {safe(a)}" for f, b, a in change.fields)
    return text
