"""Who a device, namespace or process belongs to, in the operator's words, for every outlet (pure).

The snapshot's `owners` section (SNAPSHOT-SCHEMA.md "Owners") may name several owners for one device:
a tap is a Neutron port (by its name, or exactly from Nova's metadata) of a VM (libvirt). Every outlet
(the tree, the details pane, the trace, the text dump, DOT, the metrics, `fleet find`) shows the same
one first and words it the same way, so this module chooses and words; the outlets only place the text.

Texts returned here are made one-line and terminal-safe (`textsafe.printable_line`): container names
are chosen by whoever starts the container.
"""

from __future__ import annotations

import difflib

from vnettop.errors import NotFoundError
from vnettop.model import Link, Owner, Snapshot
from vnettop.textsafe import printable_line

#: Kinds an operator names things by, most telling first; any other kind (Neutron objects) after them.
_KIND_RANK = {"vm": 0, "container": 1, "pod": 2}


def rank(owner: Owner) -> tuple[int, int]:
    """Sort key, best first: an exact answer before an inferred one, then VMs, containers, pods."""
    return (0 if owner.exact else 1, _KIND_RANK.get(owner.kind, 3))


def best(owners: tuple[Owner, ...] | list[Owner]) -> Owner | None:
    """The owner a one-line label names (see `rank`), or None."""
    return min(owners, key=rank) if owners else None


def owner_text(owner: Owner, name_width: int | None = None) -> str:
    """`web-1 (vm)`, `nginx-7d4 (pod default)`, `796091c0-07 (neutron-port, name pattern)`.

    The Kubernetes namespace is part of a pod's name; an inferred answer says what it was inferred
    from, so it is never mistaken for an exact one. With `name_width` (one-line labels), a longer name
    is cut with an ellipsis (a Neutron network is named by its whole uuid), never the kind or how.
    """
    name = printable_line(owner.name)
    if name_width is not None and len(name) > name_width:
        name = name[: name_width - 1] + "…"
    inside = owner.kind
    if owner.kind == "pod":
        k8s_ns = detail(owner, "namespace")
        if k8s_ns:
            inside += f" {k8s_ns}"
    if not owner.exact:
        inside += f", {owner.source}"
    return f"{name} ({printable_line(inside)})"


def how_known(owner: Owner) -> str:
    """"exact" or "inferred from name pattern": how far the answer can be trusted."""
    return "exact" if owner.exact else printable_line(f"inferred from {owner.source}")


def detail(owner: Owner, key: str) -> str | None:
    """One of the owner's `details` facts, or None."""
    return next((v for k, v in owner.details if k == key), None)


def parent(snap: Snapshot, owner: Owner) -> Owner | None:
    """The owner this one belongs to (a Neutron port's VM), when the snapshot says."""
    owners = snap.owners or ()
    if owner.parent is None or not 0 <= owner.parent < len(owners):
        return None
    return owners[owner.parent]


def of_link(snap: Snapshot, link: Link) -> tuple[Owner, ...]:
    """The owners naming a device, best first."""
    return tuple(sorted(snap.owners_of_link(link.key), key=rank))


def of_namespace(snap: Snapshot, inode: int) -> tuple[Owner, ...]:
    """The owners naming a namespace, best first."""
    return tuple(sorted(snap.owners_of_namespace(inode), key=rank))


#: pid -> owners, for the last owners asked about only (rebuilt when they change): asked once per process
#: on every refresh, a scan of all owners each time would be quadratic on a busy host.
_pid_index: list[tuple[tuple[Owner, ...] | None, dict[int, tuple[Owner, ...]]]] = [(None, {})]


def of_pid(snap: Snapshot, pid: int) -> tuple[Owner, ...]:
    """The owners naming a process, best first."""
    known, index = _pid_index[0]
    if known is not snap.owners:
        index = {}
        for owner in snap.owners or ():
            for p in owner.pids:
                index[p] = (*index.get(p, ()), owner)
        _pid_index[0] = (snap.owners, index)
    return tuple(sorted(index.get(pid, ()), key=rank))


def reached(snap: Snapshot, link: Link) -> tuple[Owner, ...]:
    """For a veth end whose other end is in another namespace: that namespace's owners (the host end of
    a container's veth says whose container it leads into)."""
    if link.peer is None or link.peer.netns == link.netns:
        return ()
    return of_namespace(snap, link.peer.netns)


#: How much of an owner's name a one-line label (tree, table) shows.
LABEL_NAME_WIDTH = 24


def link_note(snap: Snapshot, link: Link) -> str:
    """What a device's one-line label says of its owner: `web-1 (vm)`, or `→ proxy (container)` for a
    veth end leading into an owned namespace; "" when nobody is known to own it."""
    own = best(of_link(snap, link))
    if own is not None:
        return owner_text(own, LABEL_NAME_WIDTH)
    far = best(reached(snap, link))
    return "→ " + owner_text(far, LABEL_NAME_WIDTH) if far is not None else ""


def namespace_note(snap: Snapshot, inode: int) -> str:
    """What a namespace's one-line label says of its owner, or ""."""
    own = best(of_namespace(snap, inode))
    return owner_text(own, LABEL_NAME_WIDTH) if own is not None else ""


def link_text(snap: Snapshot, link: Link) -> str:
    """A device's owner (or the one of the namespace it leads into), uncut: `web-1 (vm)`, or ""."""
    own = best(of_link(snap, link))
    if own is not None:
        return owner_text(own)
    far = best(reached(snap, link))
    return "→ " + owner_text(far) if far is not None else ""


def namespace_text(snap: Snapshot, inode: int) -> str:
    """A namespace's owner, uncut, or ""."""
    own = best(of_namespace(snap, inode))
    return owner_text(own) if own is not None else ""


def words(owner: Owner) -> list[str]:
    """What a search may match of an owner: its name, id, kind, runtime and detail values."""
    return [owner.name, owner.id or "", owner.kind, owner.runtime, *(v for _, v in owner.details)]


def devices(snap: Snapshot, owner: Owner) -> tuple[Link, ...]:
    """Every device of an owner, in snapshot order: its own, those of its owned namespaces (loopback
    aside), the host ends of veths leading into those namespaces, and the devices of owners whose
    parent it is (a VM's Neutron ports)."""
    owners = snap.owners or ()
    index = next((i for i, o in enumerate(owners) if o is owner), None)
    if index is None:
        index = next((i for i, o in enumerate(owners) if o == owner), None)
    keys = set(owner.links)
    for child in owners:
        if index is not None and child.parent == index:
            keys.update(child.links)
    inodes = set(owner.namespaces)
    for link in snap.links:
        if link.netns in inodes and link.kind != "loopback":
            keys.add(link.key)
            if link.peer is not None:
                keys.add(link.peer.key)
    return tuple(link for link in snap.links if link.key in keys)


def for_link(snap: Snapshot, link: Link) -> Owner | None:
    """The owner a device leads to: its own, else the one of the namespace it reaches (a veth's host end),
    else the one of the namespace it is in (a container's eth0)."""
    return best(of_link(snap, link)) or best(reached(snap, link)) or best(of_namespace(snap, link.netns))


def resolve(snap: Snapshot, query: str) -> tuple[Owner, ...]:
    """The owners a user means by `query`: those whose name is it (case-insensitively), else whose id is
    it or starts with it (a Neutron uuid prefix, a short container id).

    Raises NotFoundError naming the closest names when nothing matches, fit to show as it is.
    """
    owners = snap.owners or ()
    q = query.strip().lower()
    if not owners:
        raise NotFoundError("no owners in this snapshot (no source named any VM, container or pod)")
    found = tuple(o for o in owners if o.name.lower() == q)
    if not found and q:
        found = tuple(o for o in owners if o.id is not None and o.id.lower().startswith(q))
    if found:
        return found
    names = sorted({o.name for o in owners})
    close = difflib.get_close_matches(query, names, n=5, cutoff=0.5)
    close += [n for n in names if q and q in n.lower() and n not in close][: 5 - len(close)]
    hint = f"close: {', '.join(printable_line(n) for n in close)}" if close else \
        f"known: {', '.join(printable_line(n) for n in names[:8])}" + (
            f", ... {len(names) - 8} more" if len(names) > 8 else "")
    raise NotFoundError(f"no owner {printable_line(query)!r} ({hint})")
