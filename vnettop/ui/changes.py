"""What changed between two snapshots, as events for the Events view (pure, no Textual).

The collector only hands over pictures; the story ("tap0 went down", "veth-b moved to qdhcp-…") is told
here by comparing successive pictures. A device that leaves one namespace while a device with the same
name and MAC appears in another is reported once, as moved, not as a removal and an addition.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from operator import attrgetter

from vnettop.model import Link, Snapshot
from vnettop.ui.filtering import Filter
from vnettop.ui.targets import Target


@dataclass(frozen=True, slots=True)
class Change:
    """One event: `what` happened to `subject` (in namespace `where`) at `at`."""

    at: datetime
    what: str  # "added", "removed", "moved", "up", "down", "carrier on", "carrier off", "renamed"...
    subject: str  # device name, or namespace label for namespace events
    where: str  # namespace label where it happened (the destination for a move)
    detail: str = ""
    target: Target | None = None  # what to select for it (None when it is gone)


#: Every field of a Link but its counters: what the views draw.
link_shape = attrgetter(*[f.name for f in fields(Link) if f.name != "stats"])
#: What the tree and the reused table rows show of a namespace record, with its label (compared apart):
#: not `pids` and `fds` (every process of the host, starting and ending every second on a busy one;
#: shown only in the details pane and the namespaces table, which are rebuilt whole).
ns_shown = attrgetter("names", "root", "mounts", "processes", "readable", "unreadable_reason")


def same_structure(a: Snapshot, b: Snapshot) -> bool:
    """True when the snapshots differ at most in counters (and time): nothing drawn but rates changed.

    The common case every second on a busy host; checking it is ~30x cheaper than rebuilding the
    views, which is how the UI stays within its CPU budget at hundreds of namespaces.
    """
    if a.host != b.host or a.namespaces != b.namespaces or a.errors != b.errors:
        return False
    if a.sections() != b.sections():  # owners, ovs...: whatever sections there are, alike
        return False
    if a.links is b.links:  # the collector hands back the very same tuple when no device changed
        return True
    if len(a.links) != len(b.links):
        return False
    shape = link_shape
    return all(x is y or shape(x) == shape(y) for x, y in zip(a.links, b.links, strict=True))


def _changed_records(old: Snapshot, new: Snapshot) -> set[int] | None:
    """The namespaces whose record changed in what their own subtree shows but nothing any other
    namespace's subtree shows (processes: a busy host starts and ends processes every second), those
    that came or went, and those with devices referring to one that came or went (named by its label,
    or as "net:[INODE]"); None when one changed what others show: its label, which names it in every
    reference to it. A record that changed only in what no subtree shows (`pids`, `fds`: the root
    namespace's, every second) is not a change here (see `ns_shown`).
    """
    if old.namespaces is new.namespaces:
        return set()
    changed: set[int] = set()
    if len(old.namespaces) == len(new.namespaces):  # the usual case: pairs, no dict needed
        pairs = zip(old.namespaces, new.namespaces, strict=True)
        if all(a.inode == b.inode for a, b in zip(old.namespaces, new.namespaces, strict=True)):
            for a, b in pairs:
                if a is b or a == b:
                    continue
                if a.label != b.label:
                    return None
                if ns_shown(a) != ns_shown(b):
                    changed.add(b.inode)
            return changed
    before = {ns.inode: ns for ns in old.namespaces}
    came: set[int] = set()
    for b in new.namespaces:
        was = before.get(b.inode)
        if was is None:
            came.add(b.inode)
        elif was is not b and was != b:
            if was.label != b.label:
                return None
            if ns_shown(was) != ns_shown(b):
                changed.add(b.inode)
    came_or_went = came | (before.keys() - {ns.inode for ns in new.namespaces})
    if came_or_went:  # a device naming it by its label, or as "net:[INODE]", names it the other way now
        # Itself too: one that went may still have devices listed (a race), whose namespace column and
        # filter words no longer have its record (a bridges table row names its own namespace).
        changed |= came_or_went
        refs = came_or_went
        changed.update(link.netns for link in new.links if link.tun is not None  # holders' processes
                       or any(ref is not None and ref.netns in refs for ref in (link.peer, link.lower)))
    return changed


def changed_namespaces(old: Snapshot, new: Snapshot) -> frozenset[int] | None:
    """The namespaces whose part of the tree may differ between two snapshots, or None for "any".

    A namespace's subtree shows its own devices (with the names of their peers, lower devices and
    holders: all fields of its own links), the labels of other namespaces (their names), and its
    processes with what each holds (names of tun/tap devices, possibly in other namespaces). So: None
    when any namespace changed (names, processes: every label may mention them); otherwise the
    namespaces with a device added, removed or changed (counters aside), plus the namespaces of the
    processes holding a changed tun/tap. Any change of owners: None.
    """
    if old.host != new.host or old.owners != new.owners:
        return None  # owners are named anywhere (a veth names whose namespace it reaches)
    changed = _changed_records(old, new)
    if changed is None:
        return None
    if changed:  # its processes may be the holders other namespaces' tun/tap devices name
        changed.update(link.netns for link in new.links if link.tun is not None)
    if old.links is new.links:
        return frozenset(changed)
    tuns: list[Link] = []
    pairs = same_devices(old.links, new.links)
    if pairs is not None:  # the usual tick: the same devices, a few of them new objects
        for prev, link in pairs:
            if link_shape(prev) != link_shape(link):
                changed.add(link.netns)
                tuns.extend(x for x in (prev, link) if x.tun is not None)
    elif (merged := merge_devices(old.links, new.links)) is not None:
        for prev, link in merged[0]:
            if link_shape(prev) != link_shape(link):
                changed.add(link.netns)
                tuns.extend(x for x in (prev, link) if x.tun is not None)
        for link in (*merged[1], *merged[2]):
            changed.add(link.netns)
            if link.tun is not None:
                tuns.append(link)
    else:
        before = {link.key: link for link in old.links}
        for link in new.links:
            was = before.pop(link.key, None)
            if was is link or (was is not None and link_shape(was) == link_shape(link)):
                continue
            changed.add(link.netns)
            tuns.extend(x for x in (was, link) if x is not None and x.tun is not None)
        for left in before.values():
            changed.add(left.netns)
            if left.tun is not None:
                tuns.append(left)
    holders = {h.pid for link in tuns if link.tun is not None for h in link.tun.known_holders}
    if holders:
        changed.update(ns.inode for ns in new.namespaces if any(p.pid in holders for p in ns.processes))
    return frozenset(changed)


class ChangedSince:
    """What changed since the snapshot a view's builder last built from, with the same filter: the
    builders that keep parts of their last build (the tree's subtrees, the veth and bridge tables' rows)
    ask this once per build."""

    def __init__(self) -> None:
        self._last: tuple[Snapshot, Filter] | None = None
        #: The snapshot the last build was made from (None: no build yet).
        self.before: Snapshot | None = None

    def changed(self, snap: Snapshot, flt: Filter) -> frozenset[int] | None:
        """`changed_namespaces` since the last call's snapshot; None (reuse nothing) at the first call or
        under another filter. `snap` is the one the next call compares with."""
        last, self._last = self._last, (snap, flt)
        self.before = last[0] if last is not None else None
        if last is None or last[1] != flt:
            return None
        return changed_namespaces(last[0], snap)


def _move_key(link: Link) -> tuple[str, str | None]:
    return (link.name, link.mac)


def same_devices(old: tuple[Link, ...], new: tuple[Link, ...]) -> list[tuple[Link, Link]] | None:
    """The (old, new) pairs that are not the very same object, when both tuples list the same devices
    in the same order (the usual tick: the collector hands back the same Link for an unchanged device);
    None otherwise. An identity walk: ~10x cheaper than indexing 5,000 devices by key."""
    if len(old) != len(new):
        return None
    pairs = [(a, b) for a, b in zip(old, new, strict=True) if a is not b]
    if any(a.ifindex != b.ifindex or a.netns != b.netns for a, b in pairs):
        return None
    return pairs


Merged = tuple[list[tuple[Link, Link]], list[Link], list[Link]]
#: The last `merge_devices` answer and the two tuples it was for: the events (`ChangeLog.feed`) and the
#: tree (`changed_namespaces`) ask it of the same two snapshots on the refresh that shows a change
#: (~3 ms each at 5,000 devices). Tuples are immutable, and held here, so identity is equality.
_merged: tuple[tuple[Link, ...], tuple[Link, ...], Merged | None] | None = None


def merge_devices(old: tuple[Link, ...], new: tuple[Link, ...]) -> Merged | None:
    """(pairs of the same device that are not the very same object, devices that came, devices that
    went), found by walking both tuples in key order, as the collector sorts them; None if either is
    not in strict key order (a hand-made file: the caller indexes them by key instead). At 5,000
    devices this is a few times cheaper than two dictionaries, on the refresh that shows a change.
    The answer is shared: callers must not change its lists."""
    global _merged
    known = _merged
    if known is not None and known[0] is old and known[1] is new:
        return known[2]
    merged = _merge_devices(old, new)
    _merged = (old, new, merged)
    return merged


def _merge_devices(old: tuple[Link, ...], new: tuple[Link, ...]) -> Merged | None:
    pairs: list[tuple[Link, Link]] = []
    came: list[Link] = []
    gone: list[Link] = []
    i, n = 0, len(old)
    last_old: tuple[int, int] | None = None
    last_new: tuple[int, int] | None = None
    for link in new:
        key = link.key
        if last_new is not None and key <= last_new:
            return None
        last_new = key
        while i < n:
            was = old[i]
            was_key = was.key
            if last_old is not None and was_key <= last_old:
                return None
            if was_key >= key:
                break
            last_old = was_key
            gone.append(was)
            i += 1
        if i < n and old[i].key == key:
            if old[i] is not link:
                pairs.append((old[i], link))
            last_old = key
            i += 1
        else:
            came.append(link)
    for was in old[i:]:
        if last_old is not None and was.key <= last_old:
            return None
        last_old = was.key
        gone.append(was)
    return pairs, came, gone


def _link_changes(at: datetime, old: Snapshot, new: Snapshot) -> list[Change]:
    out: list[Change] = []
    if old.links is new.links:
        return out
    pairs = same_devices(old.links, new.links)
    if pairs is not None:
        for was, link in pairs:
            if was != link:
                out.extend(_state_changes(at, new, was, link))
        return out
    merged = merge_devices(old.links, new.links)
    if merged is not None:
        pairs, came, gone = merged
    else:
        old_links = {link.key: link for link in old.links}
        new_links = {link.key: link for link in new.links}
        gone = [link for key, link in old_links.items() if key not in new_links]
        came = [link for key, link in new_links.items() if key not in old_links]
        pairs = [(old_links[key], now) for key, now in new_links.items()
                 if key in old_links and old_links[key] is not now]
    # Moves: same name and MAC, different namespace.
    came_by_key: dict[tuple[str, str | None], list[Link]] = {}
    for link in came:
        came_by_key.setdefault(_move_key(link), []).append(link)
    moved_to: set[tuple[int, int]] = set()
    for link in gone:
        candidates = [c for c in came_by_key.get(_move_key(link), []) if c.netns != link.netns
                      and c.key not in moved_to]
        if candidates:
            dest = candidates[0]
            moved_to.add(dest.key)
            out.append(Change(at, "moved", dest.name, new.ns_label(dest.netns),
                              f"from {old.ns_label(link.netns)}", Target.link(*dest.key)))
        else:
            out.append(Change(at, "removed", link.name, old.ns_label(link.netns), link.kind, None))
    for link in came:
        if link.key not in moved_to:
            out.append(Change(at, "added", link.name, new.ns_label(link.netns), link.kind,
                              Target.link(*link.key)))
    for before, now in pairs:
        if before != now:
            out.extend(_state_changes(at, new, before, now))
    return out


def _state_changes(at: datetime, snap: Snapshot, before: Link, now: Link) -> list[Change]:
    out: list[Change] = []
    where = snap.ns_label(now.netns)
    target = Target.link(*now.key)
    if before.name != now.name:
        out.append(Change(at, "renamed", now.name, where, f"was {before.name}", target))
    if before.admin_up != now.admin_up:
        out.append(Change(at, "up" if now.admin_up else "down", now.name, where, "admin", target))
    elif before.oper_state != now.oper_state:
        out.append(Change(at, "state", now.name, where, f"{before.oper_state} → {now.oper_state}", target))
    if before.carrier != now.carrier and now.carrier is not None:
        out.append(Change(at, "carrier on" if now.carrier else "carrier off", now.name, where, "", target))
    old_master = before.master.name if before.master else None
    new_master = now.master.name if now.master else None
    if old_master != new_master:
        if new_master is None:
            out.append(Change(at, "unbridged", now.name, where, f"left {old_master}", target))
        else:
            out.append(Change(at, "bridged", now.name, where, f"port of {new_master}", target))
    if before.addresses != now.addresses:
        added = sorted(set(now.addresses) - set(before.addresses))
        removed = sorted(set(before.addresses) - set(now.addresses))
        parts = [f"+{a}" for a in added] + [f"-{a}" for a in removed]
        if parts:
            out.append(Change(at, "address", now.name, where, " ".join(parts), target))
    if _holder_state(before) != _holder_state(now):
        out.append(Change(at, "holders", now.name, where, _holders_detail(now), target))
    return out


def _holder_state(link: Link) -> tuple[frozenset[int], bool, bool]:
    """What a holders event compares: the pids found, whether that is all of them, whether any is known."""
    tun = link.tun
    if tun is None:
        return frozenset(), True, True
    return frozenset(h.pid for h in tun.known_holders), tun.holders_complete, tun.holders is not None


def _holders_detail(link: Link) -> str:
    tun = link.tun
    if tun is None:
        return "no holder"
    if tun.holders is None:
        return "holder unknown (needs root)"
    found = ", ".join(f"{h.comm}[{h.pid}]" for h in tun.holders)
    if not found:
        return "no holder"
    return found if tun.holders_complete else found + ", maybe more"


def diff(old: Snapshot | None, new: Snapshot) -> list[Change]:
    """The events that turn `old` into `new` (none for the first snapshot), in a stable order."""
    if old is None or same_structure(old, new):
        return []
    at = new.taken_at
    out: list[Change] = []
    old_ns = {ns.inode: ns for ns in old.namespaces}
    new_ns = {ns.inode: ns for ns in new.namespaces}
    for inode, ns in new_ns.items():
        if inode not in old_ns:
            out.append(Change(at, "ns added", ns.label, ns.label, f"net:[{inode}]", Target.ns(inode)))
        elif old_ns[inode].names != ns.names:
            out.append(Change(at, "ns renamed", ns.label, ns.label,
                              f"was {old_ns[inode].label}", Target.ns(inode)))
    for inode, ns in old_ns.items():
        if inode not in new_ns:
            out.append(Change(at, "ns removed", ns.label, ns.label, f"net:[{inode}]", None))
    out.extend(_link_changes(at, old, new))
    return out


class ChangeLog:
    """The newest-first history kept by the UI, bounded so a long session cannot grow without end."""

    def __init__(self, limit: int = 500) -> None:
        self.limit = limit
        self.entries: list[Change] = []  # newest first
        self.total = 0  # events ever recorded (numbers rows so their keys stay stable)
        self._last: Snapshot | None = None

    @property
    def last(self) -> Snapshot | None:
        """The snapshot fed last."""
        return self._last

    def feed(self, snap: Snapshot, unchanged: bool = False) -> list[Change]:
        """Record what changed since the last snapshot fed; return the new events (oldest first).

        `unchanged`: the caller already found that `snap` differs from `last` at most in counters (the
        UI checks it for every snapshot: at 1000 namespaces with hundreds of devices' counters moving,
        the same comparison made twice was ~0.5 ms a tick)."""
        new = [] if unchanged and self._last is not None else diff(self._last, snap)
        self._last = snap
        if new:
            self.total += len(new)
            self.entries[:0] = list(reversed(new))
            del self.entries[self.limit:]
        return new
