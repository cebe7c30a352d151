"""Joining the sources' answers to the kernel picture, and asking them only when needed (live).

`apply` is pure: the base snapshot plus each source's `Enrichment` -> the enriched snapshot, whose
kernel part is the base's very objects (sections only add, see `Snapshot.kernel_picture`).

`SourceSet` is the live collector's bookkeeping: "re-read what changed, reuse the rest", the rule the
collector already follows for namespaces, applied to sources. A source is asked again when its fd
fired (`Source.fileno`), when the kernel picture's structure changed (a device, a namespace, a process
or a holder came or went: counters do not count), or, for a source without an fd, after `period`
seconds; otherwise its last `Enrichment` is reused as is (same object), so an idle host pays one poll.

One change of structure is frequent on any host and rarely news to a source: which processes run in
the root namespace (a shell, a cron job, a health check every second). When that is all that changed,
a source is asked again only if it was last read `period` seconds ago or more: re-asking all of them
(15 ms at 1000 namespaces) on every such tick was most of an idle tick's cost on a busy host. Sources
that follow the runtimes' own processes (dockerd, conmon, qemu) learn of a container or VM from their
fd first; this bounds how long an answer that also needed a root process can lag.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from operator import attrgetter

from vnettop.collect.sources import Enrichment, Source, scope
from vnettop.model import BridgeInfo, CollectError, Link, Namespace, OvsSection, Owner, Snapshot

#: Length of the uuid prefix a Neutron device name carries (`tap1ec9dbb7-e7`: 8 + '-' + 2).
NAME_PREFIX = 11

_link_fields = attrgetter(*[f.name for f in fields(Link) if f.name not in ("stats", "bridge")])


def _link_shape(link: Link) -> tuple[object, ...]:
    """Every field of a Link but its counters and a bridge's learned addresses: what a source may
    depend on. A bridge's FDB changes every few seconds on a busy host (learning, ageing), no source
    reads it, and counting it made each such tick re-ask every source (8-58 ms at 1000 namespaces)."""
    bridge = link.bridge
    return (_link_fields(link),
            None if bridge is None else (bridge.stp, bridge.vlan_filtering, bridge.ports))


def _bridge_shape_equal(a: BridgeInfo | None, b: BridgeInfo | None) -> bool:
    if a is b:
        return True
    if a is None or b is None:
        return False
    return (a.stp, a.vlan_filtering, a.ports) == (b.stp, b.vlan_filtering, b.ports)


def _shape_comparer() -> Callable[[Link, Link], bool]:
    """`_link_shape(a) == _link_shape(b)`, written out field by field from Link's fields.

    Why: a tick on a host whose counters move widely hands ~2000 links with new counters to
    `structure_change`; building both shapes took 0.68 us a pair (a veth in a bridge), comparing the
    fields in place 0.28 us. The fields of a link whose counters alone changed are the very same objects,
    hence `is` first: a dataclass's `==` (a LinkRef's, a port's) builds two tuples even for one object."""
    names = [f.name for f in fields(Link) if f.name not in ("stats", "bridge")]
    env: dict[str, object] = {"_bridges": _bridge_shape_equal}
    src = ("def same_shape(a, b):\n    return ("
           + " and ".join(f"(a.{n} is b.{n} or a.{n} == b.{n})" for n in names)
           + " and _bridges(a.bridge, b.bridge))")
    exec(src, env)  # our own text, made of Link's field names
    comparer = env["same_shape"]
    assert callable(comparer)
    return comparer


_same_shape = _shape_comparer()

#: Every field of a Namespace but `fds`: what a source may depend on. Which processes hold a namespace
#: open by an fd (another monitor, a CNI plugin in the middle of a call, a test harness) is read by no
#: source; it changes every second or so on a host where such a process runs, and counting it made each
#: of those ticks re-ask every source (15-20 ms at 1000 namespaces). A namespace kept *only* by an fd
#: still counts when it comes or goes (the namespaces differ then).
_ns_shape = attrgetter(*[f.name for f in fields(Namespace) if f.name != "fds"])


def _order(owner: Owner) -> tuple[str, str, str]:
    return owner.kind, owner.name, owner.id or ""


def _union(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sorted(set(a) | set(b)))


def _merge_owner(first: Owner, second: Owner) -> Owner:
    """One entry for the same thing seen by two sources: the exact one wins (else the first); the other
    is named in `details.also`, and what each points at is kept."""
    win, lose = (second, first) if second.exact and not first.exact else (first, second)
    details = dict(win.details)
    also = [s for s in details.get("also", "").split(", ") if s]
    if lose.source not in also and lose.source != win.source:
        also.append(lose.source)
    if also:
        details["also"] = ", ".join(also)
    return replace(win, details=tuple(sorted(details.items())),
                   links=tuple(sorted(set(win.links) | set(lose.links))),
                   namespaces=_union(win.namespaces, lose.namespaces), pids=_union(win.pids, lose.pids))


def merge_owners(parts: Sequence[tuple[Owner, ...]]) -> tuple[Owner, ...]:
    """The owners of several sources as one sorted list: one entry per (kind, id), parents re-pointed."""
    kept: list[Owner] = []
    where: dict[tuple[str, str], int] = {}
    # A name carries only an id's first NAME_PREFIX characters (`tap1ec9dbb7-e7`); an exact source has
    # the whole uuid: the same object, when one id is that prefix of the other.
    prefixed: dict[tuple[str, str], int] = {}
    local: list[list[int]] = []  # per part: its index -> position in `kept`
    for owners in parts:
        spots = []
        for owner in owners:
            key = (owner.kind, owner.id) if owner.id else None
            short = (owner.kind, owner.id[:NAME_PREFIX]) if owner.id else None
            if key is not None and key in where:
                spot = where[key]
            elif short is not None and short in prefixed and (
                    len(owner.id or "") == NAME_PREFIX or len(kept[prefixed[short]].id or "") == NAME_PREFIX):
                spot = prefixed[short]
            else:
                spot = -1
            if spot >= 0:
                kept[spot] = _merge_owner(kept[spot], owner)
                if kept[spot].id:
                    where[(kept[spot].kind, kept[spot].id or "")] = spot
            else:
                spot = len(kept)
                kept.append(owner)
                if key is not None:
                    where[key] = spot
                    if short is not None:
                        prefixed.setdefault(short, spot)
            spots.append(spot)
        local.append(spots)
    # parents: a part's index -> kept position (first part naming it wins)
    parent_of: dict[int, int | None] = {}
    for owners, spots in zip(parts, local, strict=True):
        for owner, spot in zip(owners, spots, strict=True):
            if owner.parent is not None and 0 <= owner.parent < len(spots) and spot not in parent_of:
                parent_of[spot] = spots[owner.parent]
    order = sorted(range(len(kept)), key=lambda i: _order(kept[i]))
    final = {old: new for new, old in enumerate(order)}
    out = []
    for old in order:
        parent = parent_of.get(old)
        out.append(replace(kept[old], parent=None if parent is None or parent == old else final[parent]))
    return tuple(out)


#: The sources' parts as one value per section: (owners, errors, ovs).
Combined = tuple[tuple[Owner, ...] | None, tuple[CollectError, ...], OvsSection | None]


def combine(parts: Sequence[tuple[str, Enrichment]]) -> Combined:
    """The sources' parts as one value per section (None: no source gave that section), and their errors."""
    errors: list[CollectError] = []
    owners: list[tuple[Owner, ...]] = []
    ovs: OvsSection | None = None
    for _name, part in parts:
        errors.extend(part.errors)
        if part.owners is not None:
            owners.append(part.owners)
        if part.ovs is not None:
            ovs = part.ovs
    return (merge_owners(owners) if owners else None), tuple(errors), ovs


def apply(base: Snapshot, parts: Sequence[tuple[str, Enrichment]],
          combined: Combined | None = None) -> Snapshot:
    """`base` with the sources' sections and errors added; `base` itself when no source answered.

    `combined`: `combine(parts)` if the caller has it already (the live loop reuses it while no source
    was read again, so an unchanged section is the very same object, tick after tick).
    """
    if not parts:
        return base
    owners, errors, ovs = combine(parts) if combined is None else combined
    return replace(base, errors=base.errors + errors, owners=owners, ovs=ovs)


def read_safely(source: Source, base: Snapshot) -> Enrichment:
    """`source.read(base)`, with anything it raises turned into one error naming it (never raised)."""
    try:
        return source.read(base)
    except Exception as exc:
        return Enrichment(errors=(CollectError(scope(source.name), f"cannot read: {exc!r}"),))


def same_structure(a: Snapshot | None, b: Snapshot) -> bool:
    """Whether two kernel pictures differ at most in counters, the fds held on namespaces (and time):
    nothing a source may read.

    Pairwise, identity first: the collector hands back the very objects of an unchanged namespace or
    idle device, so an idle tick costs a pass of `is` checks.
    """
    return structure_change(a, b) == SAME


#: What `structure_change` tells apart.
SAME, ROOT_PIDS, CHANGED = "same", "root pids", "changed"


def structure_change(a: Snapshot | None, b: Snapshot) -> str:
    """SAME (as `same_structure`), ROOT_PIDS (the only difference is which processes run in the root
    namespace: its `pids`), or CHANGED."""
    if a is None or len(a.namespaces) != len(b.namespaces) or len(a.links) != len(b.links):
        return CHANGED
    if a.links is not b.links:  # (the very same tuple when no device changed, counters included)
        same = _same_shape
        for la, lb in zip(a.links, b.links, strict=True):
            if la is not lb and not same(la, lb):
                return CHANGED
    if a.namespaces is b.namespaces:
        return SAME
    ns_shape = _ns_shape
    out = SAME
    for x, y in zip(a.namespaces, b.namespaces, strict=True):
        if x is y or ns_shape(x) == ns_shape(y):
            continue
        if not (x.root and y.root and x.pids != y.pids and ns_shape(replace(x, pids=y.pids)) == ns_shape(y)):
            return CHANGED
        out = ROOT_PIDS
    return out


class SourceSet:
    """The live collector's sources, their last answers, and when to ask again (module docstring)."""

    def __init__(self, sources: Sequence[Source], period: float = 5.0,
                 clock: Callable[[], float] = time.monotonic, watch: bool = True) -> None:
        """`watch`: ask each source for its fd (`fileno`, which makes a source's inotify watches) before
        its first read, so that no change after that read goes unseen. False for a collector that
        reads once: the watches were made only to be closed (~15 ms at exit, fsnotify's grace period)."""
        self.sources = list(sources)
        self.watch = watch
        self.period = period
        self.clock = clock
        self._last: dict[str, tuple[float, Enrichment]] = {}
        self._base: Snapshot | None = None  # the last kernel picture, to tell a change of structure
        #: The last parts (held, so their identities cannot be reused) and what they combined to.
        self._combined: tuple[tuple[Enrichment, ...], Combined] | None = None
        #: Sources read (not reused) by the last `enrich`, for benchmarks and tests.
        self.last_read: list[str] = []

    def _fired(self, source: Source) -> bool:
        if not self.watch:
            return False
        try:
            fd = source.fileno()
        except Exception:
            return True
        if fd is None:
            return False
        try:
            return bool(select.select([fd], [], [], 0)[0])
        except (OSError, ValueError):
            return True

    def enrich(self, base: Snapshot) -> Snapshot:
        """`base` enriched by every available source, re-reading only those that may have changed."""
        now = self.clock()
        change = structure_change(self._base, base)
        changed = change == CHANGED
        self._base = base
        parts: list[tuple[str, Enrichment]] = []
        self.last_read = []
        for source in self.sources:
            last = self._last.get(source.name)
            try:
                has_fd = self.watch and source.fileno() is not None
            except Exception:
                has_fd = False
            lapsed = last is not None and now - last[0] >= self.period
            due = (last is None or changed or self._fired(source)
                   or (lapsed and (not has_fd or change == ROOT_PIDS)))
            if not due and last is not None:
                parts.append((source.name, last[1]))
                continue
            try:
                available = source.available()
            except Exception:
                available = False
            if not available:
                self._last.pop(source.name, None)
                continue
            part = read_safely(source, base)
            self._last[source.name] = (now, part)
            self.last_read.append(source.name)
            parts.append((source.name, part))
        now_parts = tuple(part for _name, part in parts)
        combined = self._combined
        if (combined is None or len(combined[0]) != len(now_parts)
                or any(a is not b for a, b in zip(combined[0], now_parts, strict=True))):
            self._combined = now_parts, combine(parts)
        assert self._combined is not None
        return apply(base, parts, self._combined[1])

    def close(self) -> None:
        for source in self.sources:
            try:
                source.close()
            except Exception:
                pass
