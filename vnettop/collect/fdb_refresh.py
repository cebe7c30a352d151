"""A namespace's bridge FDBs read again on their own, when they are all that changed.

Why: a bridge learns and forgets MAC addresses with traffic (a VM sending its first frame, an entry
ageing out after 300 s), and each of those is an RTM_NEWNEIGH / RTM_DELNEIGH notification. On a
hypervisor the root namespace holds the busy bridges *and* a thousand taps and veth ends, so a full
re-dump for an FDB change (devices, addresses and FDB: 100-200 ms at 1000 devices) on most ticks was
the cost of watching such a host. When the event sockets report nothing but FDB changes since the last
dump (`events.Changes.kinds` is `events.FDB_ONLY`), the devices and addresses of that dump are still
what the kernel holds, and only the FDB dump is asked again; the bridges get the new entries exactly
as a full dump would join them (`decode.join_dump`), and every other draft is the very same object.
"""

from __future__ import annotations

from dataclasses import replace

from vnettop.collect import counters
from vnettop.collect.decode import NamespaceDump, fdb_entry, fdb_order
from vnettop.collect.dump import read_fdb
from vnettop.collect.events import RTM_DELNEIGH, RTM_NEWNEIGH, FdbFields
from vnettop.collect.link_refresh import join_again
from vnettop.model import CollectError, FdbEntry


def refresh_fdb(sock: counters.StatsSocket, netns: int, last: NamespaceDump) -> NamespaceDump | None:
    """`last` with its bridges' FDB entries read again; None when a full dump must decide instead (the
    last dump had errors, has no bridge, or the FDB dump failed or kept changing). Raises OSError only
    if the socket itself fails."""
    if last.errors or not any(d.link.bridge is not None for d in last.drafts):
        return None
    errors: list[CollectError] = []
    fdb = read_fdb(sock, netns, errors)
    if fdb is None or errors:  # refused, or kept changing: a full dump decides
        return None
    by_index = {d.link.ifindex: d for d in last.drafts}
    drafts = join_again(by_index, by_index, (), None, fdb)
    moved = any(a is not b for a, b in zip(drafts, last.drafts, strict=True))
    return NamespaceDump(drafts, ()) if moved else last  # unchanged: the same drafts, nothing to resolve


def apply_notes(last: NamespaceDump, notes: tuple[tuple[int, FdbFields], ...]) -> NamespaceDump | None:
    """`last` with its bridges' FDB entries changed by the notifications `notes` (in the order they
    came), without asking the kernel; None when the FDB must be read instead (the last dump had errors,
    a notification names a bridge it does not have, or a bridge's entries are not one per address and
    VLAN).

    Why: on a hypervisor the root namespace's FDB holds thousands of entries (every port's own address,
    and what the bridges learned); reading it all again for one entry learned or aged out cost ~15 ms
    at 1000 namespaces, on most ticks of a busy host. A notification is the very message a dump gives
    for the entry (`rtnl_parser.parse_neigh` reads both), and a bridge keeps one entry per address and
    VLAN, so an RTM_NEWNEIGH puts that entry in place of the one with its address and VLAN (learned,
    moved to another port, made static) and an RTM_DELNEIGH takes it out. Applied in order on top of a
    dump taken before or after some of them, they leave each address as its last notification says,
    which is what the kernel holds; addresses without a notification are as the dump read them.
    Entries without NDA_MASTER (a device's own address lists) are left out, as `decode.fdb_map` does.
    """
    if last.errors:
        return None
    by_index = {d.link.ifindex: d for d in last.drafts}
    tables: dict[int, dict[tuple[str, int | None], FdbEntry]] = {}
    for mtype, (master, mac, ifindex, nud, vlan) in notes:
        if not master or mac is None:
            continue
        bridge = int(master)
        table = tables.get(bridge)
        if table is None:
            draft = by_index.get(bridge)
            if draft is None or draft.link.bridge is None:
                return None
            table = {(e.mac, e.vlan): e for e in draft.link.bridge.fdb}
            if len(table) != len(draft.link.bridge.fdb):
                return None
            tables[bridge] = table
        entry = fdb_entry(mac, ifindex, nud, vlan)
        if mtype == RTM_NEWNEIGH:
            table[(entry.mac, entry.vlan)] = entry
        elif mtype == RTM_DELNEIGH:
            table.pop((entry.mac, entry.vlan), None)
    changed = {}
    for bridge, table in tables.items():
        link = by_index[bridge].link
        assert link.bridge is not None
        entries = tuple(sorted(table.values(), key=fdb_order))
        if entries != link.bridge.fdb:
            bridged = replace(link, bridge=replace(link.bridge, fdb=entries))
            changed[bridge] = replace(by_index[bridge], link=bridged)
    if not changed:
        return last  # unchanged: the same drafts, nothing to resolve
    return NamespaceDump(tuple(changed.get(d.link.ifindex, d) for d in last.drafts), ())

