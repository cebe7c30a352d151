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

from vnettop.collect import counters
from vnettop.collect.decode import NamespaceDump
from vnettop.collect.dump import read_fdb
from vnettop.collect.link_refresh import join_again
from vnettop.model import CollectError


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
