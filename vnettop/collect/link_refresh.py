"""A big namespace's changed devices read again one by one, instead of the whole namespace.

Why: on a hypervisor the root namespace holds a thousand taps, veth ends and bridges, and a VM that
starts or stops changes a few of them; a full re-dump of root (devices, addresses, FDB) costs 80-200 ms
there, and used to be paid for each such change. Link notifications name the device that changed
(`events.Changes.links`), so when only a few did, each is asked for with RTM_GETLINK (the kernel fills
the very message a dump would hold for it, or answers ENODEV: gone) and put in place of its old draft.
So are the devices here that name a changed one as their peer or lower device, or that a changed one
now names (the kernel sends nothing for a veth end whose peer moved away). What the other devices need
from the change is read as a full dump would: the addresses again if an address notification came
(and only them, with the FDB if it changed too, when no device did: an address added, or IPv6 finishing
duplicate address detection on a thousand fresh devices, costs an address dump, not a full one),
the bridges' FDB again if an FDB notification came (the kernel sends one for every entry a port
brings, loses or changes: a port added, removed, deleted or given another MAC), each joined exactly
as `decode.join_dump` does.

When it cannot be that simple, the caller dumps in full: a small namespace (a full dump is as cheap),
many devices changed, a notification lost (overflow), an error in the last dump, a reply it cannot
take. The collector's counters check after it stays: a counters answer listing other devices than
the result makes the next step a full dump (a missed notification still cannot leave a stale picture
for more than one refresh).
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Collection
from dataclasses import replace

from vnettop.collect import counters
from vnettop.collect.decode import NamespaceDump
from vnettop.collect.dump import read_addresses, read_fdb
from vnettop.collect.rtnl_parser import (
    RTM_GETLINK,
    RTM_NEWLINK,
    parse_link,
)
from vnettop.collect.types import LinkDraft
from vnettop.linux.netlink import NLM_F_REQUEST, DumpError, check_end, messages
from vnettop.model import CollectError, FdbEntry

#: Below this many devices a full dump costs about as much: no refresh.
MIN_DEVICES = 64
#: More changed devices than this at once: a full dump.
MAX_CHANGED = 16
#: The kinds of change (`events.Changes.kinds`) a refresh can answer.
KINDS = frozenset({"link", "addr", "fdb"})

_GET = struct.Struct("=IHHIIBxHiII")  # nlmsghdr + ifinfomsg (family, type, index, flags, change)


class _Refused(Exception):
    """A reply the refresh does not take: the caller dumps in full."""


def _get_link(sock: counters.StatsSocket, netns: int, index: int) -> LinkDraft | None:
    """The device `index` now (None: gone), by one RTM_GETLINK, parsed as a dump's message would be."""
    found: list[LinkDraft] = []

    def request(seq: int) -> bytes:
        return _GET.pack(_GET.size, RTM_GETLINK, NLM_F_REQUEST, seq, 0, 0, 0, index, 0, 0)

    def consume(buf: memoryview, seq: int) -> bool:
        for off, length, mtype, _flags in messages(buf, seq):
            if mtype == RTM_NEWLINK:
                try:
                    found.append(parse_link(buf, off, length, netns))
                except Exception:  # Fallback (pyroute2's kinds) or anything odd: a full dump decides
                    raise _Refused from None
                return True
            if check_end(buf, off, length, mtype, "link get failed"):
                return True
        return False

    try:
        sock.exchange(request, consume)
    except DumpError as exc:
        if exc.errno == errno.ENODEV:
            return None
        raise _Refused from None
    if len(found) != 1 or found[0].link.ifindex != index:
        raise _Refused
    return found[0]


def refresh_links(sock: counters.StatsSocket, netns: int, last: NamespaceDump, changed: Collection[int],
                  kinds: Collection[str]) -> NamespaceDump | None:
    """`last` with the devices in `changed` read again (and addresses, FDB as the module docstring says);
    None when a full dump must be made instead. Raises OSError only if the socket itself fails."""
    if last.errors or len(last.drafts) < MIN_DEVICES or not set(kinds) <= KINDS:
        return None
    if "link" in kinds and (not changed or len(changed) > MAX_CHANGED):
        return None
    if "link" not in kinds and (changed or "addr" not in kinds):
        return None  # (FDB notifications alone are `fdb_refresh`'s)
    by_index = {d.link.ifindex: d for d in last.drafts}
    fresh: dict[int, LinkDraft | None] = {}
    try:
        for index in sorted(changed):
            fresh[index] = _get_link(sock, netns, index)
        # A device's message names its peer or lower device by ifindex (and nsid, if elsewhere), and the
        # kernel sends no notification for it when that other device moves, comes or goes: the devices
        # here that referred to a changed one, and those a changed one now refers to, are read again.
        around = {i for i, d in by_index.items() if d.link_nsid is None and d.link_ifindex in fresh}
        around |= {d.link_ifindex for d in fresh.values()
                   if d is not None and d.link_nsid is None and d.link_ifindex}
        for index in sorted(around - fresh.keys()):
            fresh[index] = _get_link(sock, netns, index)
    except _Refused:
        return None
    if len(fresh) > 2 * MAX_CHANGED:
        return None
    errors: list[CollectError] = []
    addrs: dict[int, tuple[str, ...]] | None = None
    if "addr" in kinds:
        addrs = read_addresses(sock, netns, errors)
        if addrs is None or errors:
            return None
    drafts = {i: d for i, d in by_index.items() if i not in fresh}
    drafts.update({i: d for i, d in fresh.items() if d is not None})
    fdb = None
    if "fdb" in kinds and any(d.link.bridge is not None for d in drafts.values()):
        fdb = read_fdb(sock, netns, errors)
        if fdb is None or errors:
            return None
    return NamespaceDump(join_again(drafts, by_index, fresh.keys(), addrs, fdb), ())


def join_again(drafts: dict[int, LinkDraft], last: dict[int, LinkDraft], fresh: Collection[int],
               addrs: dict[int, tuple[str, ...]] | None, fdb: dict[int, tuple[FdbEntry, ...]] | None
               ) -> tuple[LinkDraft, ...]:
    """`drafts` (by ifindex; those in `fresh` as just parsed, the rest as `last` joined them) with their
    addresses and bridges' FDB entries as `decode.join_dump` would join them: from `addrs` / `fdb` where
    those were read again, else what the last dump had (a device read again takes over its old entry's;
    a parsed message carries none of its own). By ifindex; a draft that needs no change is the same object."""
    out: list[LinkDraft] = []
    for index in sorted(drafts):
        draft = drafts[index]
        link = draft.link
        old = last.get(index) if index in fresh else draft
        changes: dict[str, object] = {}
        if addrs is not None:
            addresses = addrs.get(index, ())
        else:
            addresses = old.link.addresses if old is not None else ()
        if addresses != link.addresses:
            changes["addresses"] = addresses
        if link.bridge is not None:
            if fdb is not None:
                entries = fdb.get(index, ())
            else:
                entries = old.link.bridge.fdb if old is not None and old.link.bridge is not None else ()
            if entries != link.bridge.fdb:
                changes["bridge"] = replace(link.bridge, fdb=entries)
        if changes:
            draft = replace(draft, link=replace(link, **changes))  # type: ignore[arg-type]
        out.append(draft)
    return tuple(out)
