"""Cross-namespace joins: a veth's peer, a stacked device's lower device, a bridge's ports.

Why this is its own module and why it is careful: rtnetlink reports a peer or lower device as
(IFLA_LINK, IFLA_LINK_NETNSID), where IFLA_LINK is an ifindex *in the other namespace* and the nsid is
that namespace's number *as seen from the device's own namespace*. Ifindexes collide across namespaces
(every namespace has an ifindex 2), so looking IFLA_LINK up locally when an nsid is present gives a
wrong answer that looks right (the bug of iproute2's `bridge link` and of "peer = index + 1" scripts).
And no call maps an nsid back to a namespace: the only question the kernel answers is "what nsid does
namespace A give namespace X?" (RTM_GETNSID with NETNSA_FD), so the join is done by asking it.

Strategy, cheapest first: pair veth candidates by index (a veth in X whose IFLA_LINK is my ifindex and
whose ifindex is my IFLA_LINK), verify each with `nsid_of(A, X) == my nsid`; then fall back to asking
`nsid_of(A, X)` for every namespace in turn (a macvlan in a namespace whose lower NIC is in root has no
partner to pair with). Answers are cached per (A, X) and per (A, nsid), so a namespace full of veths
costs one question per neighbour; and a verified pair also tells what the far end's nsid likely means
(its peer's namespace), so the far end costs one question to check that, not a search. Only checked,
never trusted: the far end's draft may come from an older dump (a veth moved, no event in its partner's
namespace), and a trusted guess made the answer depend on which end was resolved first, and so a partial
resolve (`ResolveCache`) differ from a full one. Nothing here ever assigns an nsid (RTM_NEWNSID is a
lasting change), and nothing here reads a device through an nsid: RTM_GETLINK with IFLA_TARGET_NETNSID
makes the kernel fill IFLA_LINK_NETNSID with peernet2id_alloc() from the *asking* namespace, so asking A
about a veth in X whose peer is in A numbers A in A itself -- a lasting id no read-only tool may leave
behind.

When the same indexes repeat in many namespaces (pairs of namespaces each joined by a veth 2 <-> 2), every
namespace is a candidate for every peer, and asking blindly costs a question per candidate (10,000 to
17,000 questions, ~70-300 ms, measured at 200 namespaces). Candidates are therefore asked in a likely
order, decided from what is already known for free: first a veth whose counters mirror mine (a veth's rx
counters are its peer's tx counters, read by the kernel from the peer: equal unless traffic flowed between
the two dumps; idle all-zero devices do not count), then those at an inode distance already seen between
verified partners (tools make both ends of a pair together, so their namespaces' inodes tend to differ by
the same amount), then by inode distance. The order only saves questions; the answer is always decided by
`nsid_of`. With no such regularity (pairs made in random order, idle), a first collect still asks ~n^2/4
questions (10,400 at 200 namespaces, ~80 ms); the caller's `memo` then spares every later collect the
search.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import replace
from itertools import chain
from operator import attrgetter

from vnettop.collect.types import LinkDraft
from vnettop.model import CollectError, Link, LinkRef, Stats, link_with, link_with_stats

#: nsid_of(from_inode, target_inode): the nsid namespace `from_inode` has for `target_inode`, or None.
NsidOf = Callable[[int, int], int | None]

_NO_UNREADABLE: Mapping[int, str] = {}


class TopCounts:
    """Counts of values and the `size` most counted, kept as values are added: `top` is what
    `Counter.most_common(size)` would list (ties in the order values were first seen), without its
    sort of every value on each ask. Why: a first resolve at 1000 namespaces asks for the likeliest
    inode offsets once per veth, over ~2000 distinct offsets (`heapq.nlargest`: 245 ms of a 1.6 s
    collect). Counts only grow by one, so a value enters the top only by passing its last member."""

    __slots__ = ("_counts", "_first", "_size", "top")

    def __init__(self, size: int) -> None:
        self._counts: dict[int, int] = {}
        self._first: dict[int, int] = {}  # value -> the order it was first seen in
        self._size = size
        self.top: list[int] = []  # most counted first; equal counts: first seen first

    def _rank(self, value: int) -> tuple[int, int]:
        return -self._counts[value], self._first[value]

    def add(self, value: int) -> None:
        counts = self._counts
        if value in counts:
            counts[value] += 1
        else:
            counts[value] = 1
            self._first[value] = len(self._first)
        top = self.top
        if value not in top:
            if len(top) < self._size:
                top.append(value)
            elif self._rank(value) < self._rank(top[-1]):
                top[-1] = value
            else:
                return
        top.sort(key=self._rank)

    def most_common(self) -> list[tuple[int, int]]:
        """(value, count) of `top`, as `Counter.most_common(size)` gives them."""
        return [(value, self._counts[value]) for value in self.top]


def _holds(ordered: Sequence[int], value: int) -> bool:
    """Whether the ascending `ordered` holds `value` (a binary search)."""
    at = bisect_left(ordered, value)
    return at < len(ordered) and ordered[at] == value


def by_distance(ordered: Sequence[int], src: int) -> Iterator[int]:
    """`ordered` (ascending, no repeats) by distance from `src`, the lower first at equal distance:
    `sorted(ordered, key=lambda ns: (abs(ns - src), ns))`, walked outwards from where `src` is or would be.

    Why: the namespaces a guess missed were sorted by a key per candidate on every miss, over every
    candidate (all 1000 when the same indexes repeat in every namespace): ~50 ms of a first resolve at
    1000 namespaces whose guesses missed often; the candidates are now sorted once per list
    (`_NsidMap._ordered`) and walked, and the walk stops where the search does."""
    right = bisect_left(ordered, src)
    left = right - 1
    end = len(ordered)
    while left >= 0 and right < end:
        low, high = ordered[left], ordered[right]
        if src - low <= high - src:
            yield low
            left -= 1
        else:
            yield high
            right += 1
    while left >= 0:
        yield ordered[left]
        left -= 1
    yield from ordered[right:]


class _NsidMap:
    """Answers "which namespace is nsid N of namespace A?" by asking `nsid_of`, remembering answers."""

    def __init__(self, nsid_of: NsidOf, candidates: Sequence[int], errors: list[CollectError],
                 memo: dict[tuple[int, int], int]) -> None:
        self._nsid_of = nsid_of
        self._candidates = candidates  # every namespace we know of, readable or not
        self._asked: dict[tuple[int, int], int | None] = {}
        self._found: dict[tuple[int, int], int | None] = {}
        self._memo = memo  # (src, nsid) -> target found by an earlier call: tried first, re-verified
        self._errors = errors
        self._offsets = TopCounts(3)  # target - source inode of the partners found so far
        self._hints: dict[tuple[int, int], int] = {}  # (src, nsid) -> target, from `learn`
        #: id of a candidate list -> (that list, kept alive; its members sorted, once), for `likely`
        self._sorted: dict[int, tuple[Sequence[int], list[int]]] = {}
        self.failed = False  # a question raised (reported once per resolve, at the first link asking)

    def nsid(self, src: int, target: int) -> int | None:
        key = (src, target)
        if key not in self._asked:
            try:
                self._asked[key] = self._nsid_of(src, target)
            except Exception as exc:  # the collector's callback may meet a vanished namespace
                self._errors.append(CollectError(f"netns {src}", f"cannot ask nsid of netns {target}: {exc}"))
                self.failed = True
                self._asked[key] = None
        return self._asked[key]

    def verify(self, src: int, target: int, nsid: int) -> bool:
        if self.nsid(src, target) == nsid:
            self._found[(src, nsid)] = self._memo[(src, nsid)] = target
            self._offsets.add(target - src)
            self._offsets.add(src - target)
            return True
        return False

    def learn(self, src: int, nsid: int, target: int, trusted: bool) -> None:
        """`src` calls `target` `nsid`: the far end of a verified veth pair names our namespace. Taken
        without asking when `trusted` (both drafts from this collect's dumps); else only a hint, the first
        namespace `known` asks about (one question, not a search): a far end's draft from an older dump
        (a veth moved, no event in its partner's namespace) would give a wrong answer, and one that
        depends on which end was resolved first. A trusted answer is memoised too: a later resolve of
        this end alone (its namespace dumped again, the partner's not) checks it with one question
        instead of searching."""
        key = (src, nsid)
        if trusted:
            if key not in self._found:
                self._found[key] = self._memo[key] = target
        else:
            self._hints.setdefault(key, target)

    def likely(self, src: int, cands: Sequence[int]) -> Iterator[int]:
        """`cands` (without `src`), most likely first: those at the inode offsets most often seen between
        partners, then by inode distance (the nearer first; at the same distance the lower inode). Lazy:
        the first guess usually answers, and then nothing is sorted."""
        ordered = self._ordered(cands)
        if not ordered or (len(ordered) == 1 and ordered[0] == src):
            return
        skip = {src}
        for offset in self._offsets.top:
            guess = src + offset
            if guess not in skip and _holds(ordered, guess):
                skip.add(guess)
                yield guess
        for ns in by_distance(ordered, src):
            if ns not in skip:
                yield ns

    def _ordered(self, cands: Sequence[int]) -> list[int]:
        """`cands` sorted without repeats, once per list: the same list of candidates (every namespace
        with a veth of the same indexes) is searched from each of its members in turn."""
        kept = self._sorted.get(id(cands))
        if kept is not None and kept[0] is cands:
            return kept[1]
        ordered = sorted(set(cands))
        self._sorted[id(cands)] = (cands, ordered)
        return ordered

    def known(self, src: int, nsid: int) -> int | None:
        """The namespace `src` calls `nsid`, if found this time or (verified again) last time or hinted
        (verified)."""
        key = (src, nsid)
        if key not in self._found:
            before = self._memo.get(key)
            if before is not None and not self.verify(src, before, nsid):
                del self._memo[key]  # stale (a namespace went): search again
            hint = self._hints.get(key)
            if key not in self._found and hint is not None and hint != before:
                self.verify(src, hint, nsid)
        return self._found.get(key)

    def lookup(self, src: int, nsid: int, first: Sequence[int] = ()) -> int | None:
        """The namespace that `src` calls `nsid`, trying `first` (likeliest first), then every known
        namespace, each once."""
        key = (src, nsid)
        if key not in self._found and self.known(src, nsid) is None:
            self._found[key] = None
            tried: set[int] = set()
            for target in chain(self.likely(src, first), self._candidates):
                if target != src and target not in tried:
                    tried.add(target)
                    if self.verify(src, target, nsid):
                        break
        return self._found[key]


def resolve_links(
    drafts_by_ns: Mapping[int, Sequence[LinkDraft]],
    nsid_of: NsidOf,
    unreadable: Mapping[int, str] = _NO_UNREADABLE,
    memo: dict[tuple[int, int], int] | None = None,
    fresh: Collection[int] | None = None,
) -> tuple[tuple[Link, ...], tuple[CollectError, ...]]:
    """Fill master, peer, lower and bridge ports; return links sorted by (netns, ifindex) and errors.

    `unreadable` maps namespaces that could not be dumped to the reason: a peer there still gets a
    LinkRef (with name None) once its namespace is identified, and the reason is reported.
    `nsid_of` is the only question asked of the kernel, and it must be a pure query.
    `memo`, if given, is the caller's (src, nsid) -> namespace found by earlier calls, updated here: a
    repeat call re-verifies those first (with `nsid_of` answering from its cache, nearly free) instead of
    searching again, which matters when the same indexes repeat across many namespaces.
    `fresh`: the namespaces whose drafts come from this collect's dumps (None: all of them); a veth pair
    with both ends fresh tells its far end's answer without a question.
    """
    links, errors = _resolve_all(drafts_by_ns, nsid_of, unreadable, memo, fresh)
    return links, tuple(chain.from_iterable(errors.values()))


def _resolve_all(
    drafts_by_ns: Mapping[int, Sequence[LinkDraft]],
    nsid_of: NsidOf,
    unreadable: Mapping[int, str],
    memo: dict[tuple[int, int], int] | None,
    fresh: Collection[int] | None,
) -> tuple[tuple[Link, ...], dict[tuple[int, int], tuple[CollectError, ...]]]:
    """`resolve_links`, with the errors by the key of the link whose resolve reported them (in key
    order): what `ResolveCache` keeps, to re-resolve a few links and keep the others' errors."""
    resolver = _Resolver(drafts_by_ns, nsid_of, unreadable, memo, fresh)
    out: list[Link] = []
    errors: dict[tuple[int, int], tuple[CollectError, ...]] = {}
    for ns in sorted(resolver.by_index):
        for _index, draft in sorted(resolver.by_index[ns].items()):
            link, errs = resolver.resolve(draft)
            out.append(link)
            if errs:
                errors[link.key] = errs
    return _with_ports(out), errors


class _Resolver:
    """The joins of one resolve: one draft at a time (`resolve`), against every namespace's drafts.

    The indexes that only order the questions for a veth's peer (candidate partners, mirrored counters,
    holders of an index) are built on first need: a re-resolve of a few links whose partners the memo
    already knows never builds them, so it costs what those links cost, not what the host holds.
    """

    def __init__(self, drafts_by_ns: Mapping[int, Sequence[LinkDraft]], nsid_of: NsidOf,
                 unreadable: Mapping[int, str], memo: dict[tuple[int, int], int] | None,
                 fresh: Collection[int] | None, by_index: dict[int, dict[int, LinkDraft]] | None = None
                 ) -> None:
        self._fresh = fresh
        #: ns -> ifindex -> draft (the last of a repeated index wins, as a dict built in order does)
        self.by_index = by_index if by_index is not None else {
            ns: {d.link.ifindex: d for d in drafts} for ns, drafts in drafts_by_ns.items()}
        self._unreadable = unreadable
        self._errors: list[CollectError] = []
        known = sorted(set(drafts_by_ns) | set(unreadable))
        self.nsids = _NsidMap(nsid_of, known, self._errors, {} if memo is None else memo)
        self._pairs: dict[tuple[int, int], list[int]] | None = None
        self._mirrored: dict[tuple[int, ...], list[int]] = {}
        self._holders: dict[int, list[int]] | None = None

    def _draft(self, ns: int, index: int) -> LinkDraft | None:
        drafts = self.by_index.get(ns)
        return None if drafts is None else drafts.get(index)

    def _candidates(self) -> tuple[dict[tuple[int, int], list[int]], dict[tuple[int, ...], list[int]]]:
        if self._pairs is None:
            # veths that point elsewhere, by (their IFLA_LINK, their ifindex): the key my partner would
            # have; and the same with the counters my partner would have
            pairs: dict[tuple[int, int], list[int]] = {}
            mirrored = self._mirrored
            for ns in sorted(self.by_index):
                for index, draft in self.by_index[ns].items():
                    far = draft.link_ifindex
                    if draft.link.kind == "veth" and draft.link_nsid is not None and far is not None:
                        pairs.setdefault((far, index), []).append(ns)
                        if _traffic(draft):
                            mirrored.setdefault((far, index, *_counters(draft)), []).append(ns)
            self._pairs = pairs
        return self._pairs, self._mirrored

    def _holders_of(self, index: int) -> Sequence[int]:
        """Namespaces that have a device with `index`."""
        if self._holders is None:
            holders: dict[int, list[int]] = {}
            for ns in sorted(self.by_index):
                for i in self.by_index[ns]:
                    holders.setdefault(i, []).append(ns)
            self._holders = holders
        return self._holders.get(index, ())

    def _ref(self, ns: int, index: int, owner: Link, role: str) -> LinkRef:
        target = self._draft(ns, index)
        if target is not None:
            return LinkRef(ns, index, target.link.name)
        if ns in self._unreadable:
            why = f"its namespace net:[{ns}] cannot be read: {self._unreadable[ns]}"
        else:
            why = f"net:[{ns}] has no device with ifindex {index} (gone mid-scan?)"
        self._errors.append(CollectError(f"netns {owner.netns}", f"{owner.name}: {role} unknown: {why}"))
        return LinkRef(ns, index, None)

    def _remote(self, draft: LinkDraft, role: str) -> LinkRef:
        link, nsid, index = draft.link, draft.link_nsid, draft.link_ifindex
        assert nsid is not None and index is not None
        nsids = self.nsids
        if nsid < 0:  # NETNSA_NSID_NOT_ASSIGNED: the kernel could not number the other namespace
            self._errors.append(CollectError(
                f"netns {link.netns}",
                f"{link.name}: {role} is ifindex {index} in another namespace the kernel gave no nsid"))
            return LinkRef(0, index, None)
        target: int | None = None
        if link.kind == "veth":
            target = nsids.known(link.netns, nsid)
            cands: Sequence[int] = ()
            first: Sequence[int] = ()
            if target is None:
                pairs, mirrored = self._candidates()
                cands = pairs.get((link.ifindex, index), ())
                st = link.stats
                mirror = (link.ifindex, index, st.tx_packets, st.rx_packets, st.tx_bytes, st.rx_bytes)
                first = mirrored.get(mirror, ()) if cands and _traffic(draft) else ()
            # Identical idle pairs may all mirror each other (the same few IPv6 packets each): likely first.
            ordered = chain(nsids.likely(link.netns, first), nsids.likely(link.netns, cands))
            for cand in ordered:  # a candidate met twice is answered from the cache
                if cand != link.netns and nsids.verify(link.netns, cand, nsid):
                    target = cand
                    break
            far = self._draft(target, index) if target is not None else None
            if target is not None and far is not None and far.link_nsid is not None and far.link_nsid >= 0:
                # A veth's peer's peer is itself: the far end's nsid names our namespace.
                fresh = self._fresh
                trusted = fresh is None or (target in fresh and link.netns in fresh)
                nsids.learn(target, far.link_nsid, link.netns, trusted)
        if target is None:  # a lower device, or a veth whose partner was not dumped: any holder of index
            target = nsids.lookup(link.netns, nsid, self._holders_of(index))
        if target is None:
            self._errors.append(CollectError(
                f"netns {link.netns}",
                f"{link.name}: {role} is ifindex {index} in the namespace with nsid {nsid}, which matches"
                " none vnettop found (without root: one it may not even open)"))
            return LinkRef(0, index, None)
        return self._ref(target, index, link, role)

    def resolve(self, draft: LinkDraft) -> tuple[Link, tuple[CollectError, ...]]:
        """`draft`'s link with master, peer or lower filled (bridge ports not), and what its resolve
        reported."""
        link, ns = draft.link, draft.link.netns
        before = len(self._errors)
        changes: dict[str, object] = {}
        if draft.master_ifindex is not None:
            changes["master"] = self._ref(ns, draft.master_ifindex, link, "master")
        role = "peer" if link.kind == "veth" else "lower"
        if draft.link_ifindex is None:
            if link.kind == "veth":
                self._errors.append(CollectError(
                    f"netns {ns}",
                    f"{link.name}: peer unknown: the kernel did not report IFLA_LINK (older kernels omit it"
                    " when the peer's ifindex equals this one's; `ethtool -S` peer_ifindex tells)"))
        elif draft.link_nsid is None:
            changes[role] = self._ref(ns, draft.link_ifindex, link, role)
        else:
            changes[role] = self._remote(draft, role)
        errs = tuple(self._errors[before:]) if len(self._errors) > before else ()
        return (link_with(link, changes) if changes else link), errs


def _counters(draft: LinkDraft) -> tuple[int, int, int, int]:
    st = draft.link.stats
    return st.rx_packets, st.tx_packets, st.rx_bytes, st.tx_bytes


def _traffic(draft: LinkDraft) -> bool:
    st = draft.link.stats
    return bool(st.rx_packets or st.tx_packets)


def _with_ports(links: list[Link]) -> tuple[Link, ...]:
    """Fill each bridge's `ports` from the links whose master it is (always the same namespace)."""
    ports: dict[tuple[int, int], list[int]] = {}
    for link in links:
        if link.master is not None:
            ports.setdefault(link.master.key, []).append(link.ifindex)
    done = []
    for link in links:
        if link.bridge is not None:
            link = replace(link, bridge=replace(link.bridge, ports=tuple(sorted(ports.get(link.key, ())))))
        done.append(link)
    return tuple(done)


class ResolveCache:
    """`resolve_links` that reuses its last answer for what did not change.

    Why: an idle tick dumps no namespace (only RTM_GETSTATS), so every draft but its counters is the one
    resolved last tick, and re-resolving ~1000 links cost ~10 ms of a ~25 ms tick at 200 namespaces.
    The answer is reused only when it would be the same: the very same draft tuples (by identity: the
    collector hands back a namespace's last dump unchanged until it re-dumps it) for the very same
    namespaces, the same unreadable ones, no namespace whose nsid table changed (`renumbered`: the
    collector passes those an nsid event came from), and `invalidate()` not called since (the
    collector calls it when a question to the kernel failed, since failures are asked again next time).
    Counters never decide a reference (they only order the questions), so reused links with the new
    counters swapped in equal a full resolve of the same drafts with those counters.

    When a few namespaces were dumped again (or came, went, or became readable or not), only those are
    resolved again, with the links elsewhere that refer into them (a veth's or a lower device's far end
    there), into an unreadable namespace, or into no namespace found: every other link's references
    point at drafts that are the very same objects as last time, and a namespace's nsids do not change
    without an nsid event (an nsid is only ever added while the pool pins every namespace: the links of
    that namespace referring elsewhere are resolved again, `renumbered`), so its resolved Link (the same
    object) is what a full resolve would give. A master and a bridge's ports are always in the link's
    own namespace. At 1000 namespaces one device changed costs a few links' resolve instead of all 5000
    (50-150 ms).
    """

    def __init__(self) -> None:
        self._bases: dict[int, tuple[LinkDraft, ...]] | None = None
        self._unreadable: dict[int, str] = {}
        self._links: tuple[Link, ...] = ()
        self._errors: tuple[CollectError, ...] = ()
        #: The errors by the key of the link whose resolve reported them.
        self._link_errors: dict[tuple[int, int], tuple[CollectError, ...]] = {}
        #: The counters mappings the links carry, by namespace (`counters.StatsSocket.dump` hands back
        #: the very same mapping while a namespace is idle: such a namespace's links are kept as they are).
        self._stats: dict[int, Mapping[int, Stats]] = {}
        #: Where each namespace's links are in `_links` (sorted by (netns, ifindex): one run each).
        self._spans: dict[int, tuple[int, int]] = {}
        #: ns -> its drafts by ifindex, for the drafts in `_bases` (kept in step with them).
        self._by_index: dict[int, dict[int, LinkDraft]] = {}
        #: Links whose peer or lower device is in another namespace (or in none found: 0), by the key of
        #: the link -> the key it refers to, and namespace -> the keys of the links referring into it.
        self._far: dict[tuple[int, int], tuple[int, int]] = {}
        self._referrers: dict[int, set[tuple[int, int]]] = {}
        #: Whether the last `resolve` reused the previous answer (for benchmarks and tests).
        self.reused = False
        #: Namespaces whose counters were swapped in by the last reuse (for benchmarks and tests).
        self.swapped = 0
        #: After the last `resolve`: the namespaces resolved again and the links elsewhere resolved again
        #: (-1, -1: it resolved everything; 0, 0: it reused everything).
        self.patched = (0, 0)

    def invalidate(self) -> None:
        self._bases = None

    def pointing_nowhere(self) -> frozenset[tuple[int, int]]:
        """The keys of the links of the last answer whose peer or lower device is in another namespace
        that none of those read is (its nsid names no namespace found): a namespace discovery missed."""
        return frozenset(self._referrers.get(0, ()))

    def resolve(
        self,
        bases: Mapping[int, tuple[LinkDraft, ...]],
        stats: Mapping[int, Mapping[int, Stats]],
        nsid_of: NsidOf,
        unreadable: Mapping[int, str] = _NO_UNREADABLE,
        memo: dict[tuple[int, int], int] | None = None,
        renumbered: Collection[int] = (),
    ) -> tuple[tuple[Link, ...], tuple[CollectError, ...]]:
        """Like `resolve_links`, over `bases` with `stats[ns]` (ifindex -> counters, for every draft of
        `ns`) swapped in where given; a namespace absent from `stats` has fresh counters in its drafts.
        `renumbered`: namespaces whose nsid table changed (an nsid was assigned there): their links that
        refer elsewhere are resolved again even if their drafts did not change."""
        last = self._bases
        self.reused = (
            last is not None and len(stats) == len(bases) == len(last) and unreadable == self._unreadable
            and all(last.get(ns) is drafts for ns, drafts in bases.items())
            and not any(ns in bases for ns in renumbered)
        )
        if self.reused:
            self.patched = (0, 0)
            links = self._links = self._swap_changed(stats)
            return links, self._errors
        if last is not None:
            patched = self._patch(last, bases, stats, nsid_of, unreadable, memo, renumbered)
            if patched is not None:
                return patched
        self.patched = (-1, -1)
        drafts_by_ns = {ns: _drafts_with(drafts, stats.get(ns)) for ns, drafts in bases.items()}
        links, errors = _resolve_all(drafts_by_ns, nsid_of, unreadable, memo, _dumped(bases, stats))
        self._bases, self._unreadable = dict(bases), dict(unreadable)
        self._links, self._link_errors = links, errors
        self._errors = tuple(chain.from_iterable(errors.values()))
        self._stats, self._spans = dict(stats), _spans(links)
        self._by_index = {ns: {d.link.ifindex: d for d in drafts} for ns, drafts in bases.items()}
        self._far, self._referrers = {}, {}
        for link in links:
            _refer(self._far, self._referrers, link)
        return links, self._errors

    def _patch(
        self,
        last: Mapping[int, tuple[LinkDraft, ...]],
        bases: Mapping[int, tuple[LinkDraft, ...]],
        stats: Mapping[int, Mapping[int, Stats]],
        nsid_of: NsidOf,
        unreadable: Mapping[int, str],
        memo: dict[tuple[int, int], int] | None,
        renumber: Collection[int] = (),
    ) -> tuple[tuple[Link, ...], tuple[CollectError, ...]] | None:
        """The last answer with the namespaces that changed (and the links referring into them) resolved
        again; None when a full resolve is due (many changed, or a question to the kernel failed)."""
        # A namespace without counters this time was dumped: its drafts carry fresh counters.
        changed = {ns for ns, drafts in bases.items() if last.get(ns) is not drafts or ns not in stats}
        # A namespace whose nsid table changed: an nsid was added (one is never changed or taken back while
        # the pool pins every namespace), so what was resolved stays true, and what was not (a far end in
        # no namespace found: the referrers of 0, always resolved again below) may resolve now.
        changed |= {ns for ns in renumber if ns in bases}
        gone = {ns for ns in last if ns not in bases}
        if len(changed) + len(gone) > max(1, len(bases) // 4):
            return None  # as costly as resolving everything
        was_unreadable = self._unreadable
        # Every link referring into these is resolved again; into a namespace dumped again, only those
        # whose far end came, went or was renamed: a resolved reference holds nothing else of it (the
        # namespace is decided by asking the kernel, and its drafts only order the questions).
        targets = gone | set(unreadable) | set(was_unreadable) | {0}
        by_index = self._by_index
        redo_keys = {key for t in targets for key in self._referrers.get(t, ())}
        far_of = self._far
        moved: dict[int, set[int]] = {}  # ns -> ifindexes whose draft is not the last one (or came/went)
        was_of: dict[int, dict[int, LinkDraft]] = {}
        for ns in changed:
            was = was_of[ns] = by_index.get(ns, {})
            now = by_index[ns] = {d.link.ifindex: d for d in bases[ns]}
            moved[ns] = {i for i in was.keys() | now.keys() if was.get(i) is not now.get(i)}
            for key in self._referrers.get(ns, ()):
                index = far_of[key][1]
                before, after = was.get(index), now.get(index)
                if before is None or after is None or before.link.name != after.link.name:
                    redo_keys.add(key)
        for ns in gone:
            by_index.pop(ns, None)
        redo = sorted(key for key in redo_keys if key[0] in bases and key[0] not in changed)
        resolver = _Resolver(bases, nsid_of, unreadable, memo, _dumped(bases, stats), by_index)
        errors = {k: v for k, v in self._link_errors.items() if k[0] not in changed and k[0] not in gone}
        old_links, old_spans = self._links, self._spans
        fresh: dict[int, tuple[Link, ...]] = {}
        for ns in sorted(changed):  # in a full resolve's order
            # In a namespace read again in part (a big one where a few devices changed: the collector's
            # `link_refresh`), a device whose draft is the very last one, whose master, peer and lower
            # device here did not change and whose far end elsewhere is not to be redone, resolves to
            # what it resolved to: its last link is kept (with its counters). Only the rest is resolved.
            old_at: dict[int, Link] = {}
            if ns in old_spans and len(moved[ns]) < len(by_index[ns]):
                s0, e0 = old_spans[ns]
                old_at = {link.ifindex: link for link in old_links[s0:e0]}
            was, touched, counters = was_of[ns], moved[ns], stats.get(ns)
            links: list[Link] = []
            for index in sorted(by_index[ns]):
                draft = by_index[ns][index]
                old = old_at.get(index)
                if (old is not None and was.get(index) is draft and draft.master_ifindex not in touched
                        and (draft.link_nsid is not None or draft.link_ifindex not in touched)
                        and (ns, index) not in redo_keys):
                    link = old
                    want = counters[index] if counters is not None else draft.link.stats  # (dumped: its own)
                    if want is not link.stats and want != link.stats:
                        link = link_with_stats(link, want)
                    if (ns, index) in self._link_errors:
                        errors[(ns, index)] = self._link_errors[(ns, index)]
                    links.append(link)
                    continue
                link, errs = resolver.resolve(_drafts_with((draft,), counters)[0])
                links.append(link)
                if errs:
                    errors[link.key] = errs
            fresh[ns] = _with_ports(links)
        again: dict[int, dict[int, Link]] = {}  # ns -> position in the old links -> the link resolved again
        for key in redo:
            ns, index = key
            start, end = old_spans[ns]
            at = bisect_left(old_links, index, start, end, key=_IFINDEX)
            old = old_links[at]
            draft = _drafts_with((by_index[ns][index],), stats.get(ns))[0]
            link, errs = resolver.resolve(draft)
            if link.bridge is not None and old.bridge is not None:
                link = link_with(link, {"bridge": old.bridge})  # its ports: its own namespace's
            errors.pop(key, None)
            if errs:
                errors[key] = errs
            again.setdefault(ns, {})[at] = old if link == old else link
        if resolver.nsids.failed:
            return None  # report it as a full resolve does (once); the collector invalidates anyway

        out: list[Link] = []
        spans: dict[int, tuple[int, int]] = {}
        last_stats = self._stats
        for ns in sorted(bases):
            start = len(out)
            if ns in fresh:
                out.extend(fresh[ns])
            elif ns in old_spans:
                s0, e0 = old_spans[ns]
                seg = old_links[s0:e0]
                if last_stats.get(ns) is not stats[ns]:
                    seg = _swap_stats(seg, stats)
                redone = again.get(ns)
                if redone:
                    patched = list(seg)
                    for at, link in redone.items():
                        patched[at - s0] = link
                    seg = tuple(patched)
                out.extend(seg)
            if len(out) > start:
                spans[ns] = (start, len(out))

        referrers = self._referrers
        for ns in changed | gone:
            if ns in old_spans:
                for link in old_links[old_spans[ns][0]:old_spans[ns][1]]:
                    _unrefer(far_of, referrers, link.key)
        for key in redo:
            _unrefer(far_of, referrers, key)
        for link in chain(chain.from_iterable(fresh.values()),
                          (link for redone in again.values() for link in redone.values())):
            _refer(far_of, referrers, link)

        self._bases, self._unreadable = dict(bases), dict(unreadable)
        self._links, self._spans, self._stats = tuple(out), spans, dict(stats)
        self._link_errors = {k: errors[k] for k in sorted(errors)}
        self._errors = tuple(chain.from_iterable(self._link_errors.values()))
        self.patched = (len(changed) + len(gone), len(redo))
        return self._links, self._errors

    def _swap_changed(self, stats: Mapping[int, Mapping[int, Stats]]) -> tuple[Link, ...]:
        """The last links with new counters, touching only namespaces whose counters mapping is not the
        one they carry (the rest are idle): nothing changed at all gives the very same tuple back."""
        last = self._stats
        changed = [ns for ns, counters in stats.items() if last.get(ns) is not counters]
        self.swapped = len(changed)
        self._stats = dict(stats)
        links = self._links
        if not changed:
            return links
        spans = self._spans
        if len(changed) * 4 > len(stats) or any(ns not in spans for ns in changed):
            return _swap_stats(links, stats)
        out: list[Link] = []
        at = 0
        for ns in sorted(changed, key=spans.__getitem__):
            start, end = spans[ns]
            out.extend(links[at:start])
            out.extend(_swap_stats(links[start:end], stats))
            at = end
        out.extend(links[at:])
        return tuple(out)

    def settle(self, links: tuple[Link, ...]) -> None:
        """The links as finally shown (holders attached: same keys, same order): swapped next time, so
        unchanged holders are not re-attached."""
        if len(links) == len(self._links):
            self._links = links


_IFINDEX = attrgetter("ifindex")


def _dumped(bases: Mapping[int, tuple[LinkDraft, ...]], stats: Mapping[int, Mapping[int, Stats]]) -> set[int]:
    """The namespaces dumped this time: those without counters of their own (the drafts carry them)."""
    return {ns for ns in bases if ns not in stats}


def _far_key(link: Link) -> tuple[int, int] | None:
    """(namespace, ifindex) of `link`'s peer or lower device if in another namespace (0: none found)."""
    ref = link.peer if link.peer is not None else link.lower
    if ref is None or ref.netns == link.netns:
        return None
    return ref.netns, ref.ifindex


def _refer(far_of: dict[tuple[int, int], tuple[int, int]], referrers: dict[int, set[tuple[int, int]]],
           link: Link) -> None:
    far = _far_key(link)
    if far is not None:
        far_of[link.key] = far
        referrers.setdefault(far[0], set()).add(link.key)


def _unrefer(far_of: dict[tuple[int, int], tuple[int, int]], referrers: dict[int, set[tuple[int, int]]],
             key: tuple[int, int]) -> None:
    far = far_of.pop(key, None)
    if far is not None:
        keys = referrers.get(far[0])
        if keys is not None:
            keys.discard(key)
            if not keys:
                del referrers[far[0]]


def _spans(links: tuple[Link, ...]) -> dict[int, tuple[int, int]]:
    """netns -> (start, end) of its run of links in `links` (sorted by key, so one run each)."""
    spans: dict[int, tuple[int, int]] = {}
    start = 0
    for i in range(1, len(links) + 1):
        if i == len(links) or links[i].netns != links[start].netns:
            spans[links[start].netns] = (start, i)
            start = i
    return spans


def _drafts_with(drafts: tuple[LinkDraft, ...], stats: Mapping[int, Stats] | None) -> tuple[LinkDraft, ...]:
    if stats is None:
        return drafts
    out = []
    for d in drafts:
        s = stats[d.link.ifindex]
        same = s is d.link.stats or s == d.link.stats
        out.append(d if same else replace(d, link=link_with_stats(d.link, s)))
    return tuple(out)


def _swap_stats(links: tuple[Link, ...], stats: Mapping[int, Mapping[int, Stats]]) -> tuple[Link, ...]:
    out = []
    for link in links:
        s = stats[link.netns][link.ifindex]  # the same object when idle (`counters.parse_stats`): no compare
        out.append(link if s is link.stats or s == link.stats else link_with_stats(link, s))
    return tuple(out)
