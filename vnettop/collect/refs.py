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
costs one question per neighbour; and a verified pair also tells what the far end's nsid means (its
peer's namespace), so a pair costs one question, not one per end (200 namespaces with a veth to root:
200 RTM_GETNSID round trips instead of 400). Nothing here ever assigns an nsid (RTM_NEWNSID is a lasting
change), and nothing here reads a device through an nsid: RTM_GETLINK with IFLA_TARGET_NETNSID makes the
kernel fill IFLA_LINK_NETNSID with peernet2id_alloc() from the *asking* namespace, so asking A about a veth
in X whose peer is in A numbers A in A itself -- a lasting id no read-only tool may leave behind.

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

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import fields, replace
from itertools import chain
from operator import attrgetter

from vnettop.collect.types import LinkDraft
from vnettop.model import CollectError, Link, LinkRef, Stats

#: nsid_of(from_inode, target_inode): the nsid namespace `from_inode` has for `target_inode`, or None.
NsidOf = Callable[[int, int], int | None]

_NO_UNREADABLE: Mapping[int, str] = {}


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
        self._offsets: Counter[int] = Counter()  # target - source inode of the partners found so far

    def nsid(self, src: int, target: int) -> int | None:
        key = (src, target)
        if key not in self._asked:
            try:
                self._asked[key] = self._nsid_of(src, target)
            except Exception as exc:  # the collector's callback may meet a vanished namespace
                self._errors.append(CollectError(f"netns {src}", f"cannot ask nsid of netns {target}: {exc}"))
                self._asked[key] = None
        return self._asked[key]

    def verify(self, src: int, target: int, nsid: int) -> bool:
        if self.nsid(src, target) == nsid:
            self._found[(src, nsid)] = self._memo[(src, nsid)] = target
            self._offsets.update((target - src, src - target))
            return True
        return False

    def learn(self, src: int, nsid: int, target: int) -> None:
        """`src` calls `target` `nsid`: known without asking (the far end of a verified veth pair). Not
        memoised: next time the pair is verified from the same end, and this is learnt again for free."""
        self._found.setdefault((src, nsid), target)

    def likely(self, src: int, cands: Sequence[int]) -> Iterator[int]:
        """`cands` (without `src`), most likely first: those at the inode offsets most often seen between
        partners, then by inode distance. Lazy: the first guess usually answers, and then nothing is
        sorted."""
        pool = set(cands)
        pool.discard(src)
        if not pool:
            return
        for offset, _count in self._offsets.most_common(3):
            if src + offset in pool:
                pool.discard(src + offset)
                yield src + offset
        yield from sorted(pool, key=lambda ns: (abs(ns - src), ns))

    def known(self, src: int, nsid: int) -> int | None:
        """The namespace `src` calls `nsid`, if found this time or (verified again) last time."""
        key = (src, nsid)
        if key not in self._found:
            before = self._memo.get(key)
            if before is not None and not self.verify(src, before, nsid):
                del self._memo[key]  # stale (a namespace went): search again
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
) -> tuple[tuple[Link, ...], tuple[CollectError, ...]]:
    """Fill master, peer, lower and bridge ports; return links sorted by (netns, ifindex) and errors.

    `unreadable` maps namespaces that could not be dumped to the reason: a peer there still gets a
    LinkRef (with name None) once its namespace is identified, and the reason is reported.
    `nsid_of` is the only question asked of the kernel, and it must be a pure query.
    `memo`, if given, is the caller's (src, nsid) -> namespace found by earlier calls, updated here: a
    repeat call re-verifies those first (with `nsid_of` answering from its cache, nearly free) instead of
    searching again, which matters when the same indexes repeat across many namespaces.
    """
    errors: list[CollectError] = []
    by_key: dict[tuple[int, int], LinkDraft] = {}
    for ns, drafts in drafts_by_ns.items():
        for draft in drafts:
            by_key[(ns, draft.link.ifindex)] = draft
    # veths that point elsewhere, by (their IFLA_LINK, their ifindex): the key my partner would have
    pairs: dict[tuple[int, int], list[int]] = {}
    mirrored: dict[tuple[int, ...], list[int]] = {}  # the same, with the counters my partner would have
    for (ns, index), draft in by_key.items():
        if draft.link.kind == "veth" and draft.link_nsid is not None and draft.link_ifindex is not None:
            pairs.setdefault((draft.link_ifindex, index), []).append(ns)
            if _traffic(draft):
                mirrored.setdefault((draft.link_ifindex, index, *_counters(draft)), []).append(ns)
    known = sorted(set(drafts_by_ns) | set(unreadable))
    nsids = _NsidMap(nsid_of, known, errors, {} if memo is None else memo)
    holders: dict[int, list[int]] = {}  # ifindex -> namespaces that have a device with it
    for ns, index in by_key:
        holders.setdefault(index, []).append(ns)

    def ref(ns: int, index: int, owner: Link, role: str) -> LinkRef:
        target = by_key.get((ns, index))
        if target is not None:
            return LinkRef(ns, index, target.link.name)
        if ns in unreadable:
            why = f"its namespace net:[{ns}] cannot be read: {unreadable[ns]}"
        else:
            why = f"net:[{ns}] has no device with ifindex {index} (gone mid-scan?)"
        errors.append(CollectError(f"netns {owner.netns}", f"{owner.name}: {role} unknown: {why}"))
        return LinkRef(ns, index, None)

    def remote(draft: LinkDraft, role: str) -> LinkRef:
        link, nsid, index = draft.link, draft.link_nsid, draft.link_ifindex
        assert nsid is not None and index is not None
        if nsid < 0:  # NETNSA_NSID_NOT_ASSIGNED: the kernel could not number the other namespace
            errors.append(CollectError(
                f"netns {link.netns}",
                f"{link.name}: {role} is ifindex {index} in another namespace the kernel gave no nsid"))
            return LinkRef(0, index, None)
        target: int | None = None
        if link.kind == "veth":
            target = nsids.known(link.netns, nsid)
            cands = () if target is not None else pairs.get((link.ifindex, index), ())
            st = link.stats
            mirror = (link.ifindex, index, st.tx_packets, st.rx_packets, st.tx_bytes, st.rx_bytes)
            first = mirrored.get(mirror, ()) if cands and _traffic(draft) else ()
            # Identical idle pairs may all mirror each other (the same few IPv6 packets each): likely first.
            ordered = chain(nsids.likely(link.netns, first), nsids.likely(link.netns, cands))
            for cand in ordered:  # a candidate met twice is answered from the cache
                if cand != link.netns and nsids.verify(link.netns, cand, nsid):
                    target = cand
                    break
            far = by_key.get((target, index)) if target is not None else None
            if target is not None and far is not None and far.link_nsid is not None and far.link_nsid >= 0:
                # A veth's peer's peer is itself: the far end's nsid names our namespace.
                nsids.learn(target, far.link_nsid, link.netns)
        if target is None:  # a lower device, or a veth whose partner was not dumped: any holder of index
            target = nsids.lookup(link.netns, nsid, holders.get(index, ()))
        if target is None:
            errors.append(CollectError(
                f"netns {link.netns}",
                f"{link.name}: {role} is ifindex {index} in the namespace with nsid {nsid}, which matches"
                " none vnettop found (without root: one it may not even open)"))
            return LinkRef(0, index, None)
        return ref(target, index, link, role)

    out: list[Link] = []
    for (ns, _index), draft in sorted(by_key.items()):
        link = draft.link
        changes: dict[str, object] = {}
        if draft.master_ifindex is not None:
            changes["master"] = ref(ns, draft.master_ifindex, link, "master")
        role = "peer" if link.kind == "veth" else "lower"
        if draft.link_ifindex is None:
            if link.kind == "veth":
                errors.append(CollectError(
                    f"netns {ns}",
                    f"{link.name}: peer unknown: the kernel did not report IFLA_LINK (older kernels omit it"
                    " when the peer's ifindex equals this one's; `ethtool -S` peer_ifindex tells)"))
        elif draft.link_nsid is None:
            changes[role] = ref(ns, draft.link_ifindex, link, role)
        else:
            changes[role] = remote(draft, role)
        out.append(_with_fields(link, changes) if changes else link)
    return _with_ports(out), tuple(errors)


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


_LINK_FIELDS = attrgetter(*(f.name for f in fields(Link)))
_STATS_AT = [f.name for f in fields(Link)].index("stats")
_new_link: Callable[..., Link] = Link


_FIELD_AT = {f.name: i for i, f in enumerate(fields(Link))}


def _with_fields(link: Link, changes: Mapping[str, object]) -> Link:
    """`replace(link, **changes)` without `dataclasses.replace`'s per-call walk of the fields' metadata
    (a full resolve makes one per referring device: ~5000 at 1000 namespaces)."""
    values = list(_LINK_FIELDS(link))
    for name, value in changes.items():
        values[_FIELD_AT[name]] = value
    return _new_link(*values)


def with_stats(link: Link, stats: Stats) -> Link:
    """`replace(link, stats=stats)`, 2x cheaper: `dataclasses.replace` walks the fields' metadata on
    every call, and an idle tick at 200 namespaces swaps counters on hundreds of links."""
    values = _LINK_FIELDS(link)
    return _new_link(*values[:_STATS_AT], stats, *values[_STATS_AT + 1:])


class ResolveCache:
    """`resolve_links` that reuses its last answer when only the counters changed.

    Why: an idle tick dumps no namespace (only RTM_GETSTATS), so every draft but its counters is the one
    resolved last tick, and re-resolving ~1000 links cost ~10 ms of a ~25 ms tick at 200 namespaces.
    The answer is reused only when it would be the same: the very same draft tuples (by identity: the
    collector hands back a namespace's last dump unchanged until it re-dumps it) for the very same
    namespaces, the same unreadable ones, and `invalidate()` not called since (the collector calls it on
    an nsid event, and when a question to the kernel failed, since failures are asked again next time).
    Counters never decide a reference (they only order the questions), so reused links with the new
    counters swapped in equal a full resolve of the same drafts with those counters.
    """

    def __init__(self) -> None:
        self._bases: dict[int, tuple[LinkDraft, ...]] | None = None
        self._unreadable: dict[int, str] = {}
        self._links: tuple[Link, ...] = ()
        self._errors: tuple[CollectError, ...] = ()
        #: The counters mappings the links carry, by namespace (`counters.StatsSocket.dump` hands back
        #: the very same mapping while a namespace is idle: such a namespace's links are kept as they are).
        self._stats: dict[int, Mapping[int, Stats]] = {}
        #: Where each namespace's links are in `_links` (sorted by (netns, ifindex): one run each).
        self._spans: dict[int, tuple[int, int]] = {}
        #: Whether the last `resolve` reused the previous answer (for benchmarks and tests).
        self.reused = False
        #: Namespaces whose counters were swapped in by the last reuse (for benchmarks and tests).
        self.swapped = 0

    def invalidate(self) -> None:
        self._bases = None

    def resolve(
        self,
        bases: Mapping[int, tuple[LinkDraft, ...]],
        stats: Mapping[int, Mapping[int, Stats]],
        nsid_of: NsidOf,
        unreadable: Mapping[int, str] = _NO_UNREADABLE,
        memo: dict[tuple[int, int], int] | None = None,
    ) -> tuple[tuple[Link, ...], tuple[CollectError, ...]]:
        """Like `resolve_links`, over `bases` with `stats[ns]` (ifindex -> counters, for every draft of
        `ns`) swapped in where given; a namespace absent from `stats` has fresh counters in its drafts."""
        last = self._bases
        self.reused = (
            last is not None and len(stats) == len(bases) == len(last) and unreadable == self._unreadable
            and all(last.get(ns) is drafts for ns, drafts in bases.items())
        )
        if self.reused:
            links = self._links = self._swap_changed(stats)
            return links, self._errors
        drafts_by_ns = {ns: _drafts_with(drafts, stats.get(ns)) for ns, drafts in bases.items()}
        links, errors = resolve_links(drafts_by_ns, nsid_of, unreadable, memo)
        self._bases, self._unreadable = dict(bases), dict(unreadable)
        self._links, self._errors = links, errors
        self._stats, self._spans = dict(stats), _spans(links)
        return links, errors

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
        out.append(d if s is d.link.stats or s == d.link.stats else replace(d, link=with_stats(d.link, s)))
    return tuple(out)


def _swap_stats(links: tuple[Link, ...], stats: Mapping[int, Mapping[int, Stats]]) -> tuple[Link, ...]:
    out = []
    for link in links:
        s = stats[link.netns][link.ifindex]  # the same object when idle (`counters.parse_stats`): no compare
        out.append(link if s is link.stats or s == link.stats else with_stats(link, s))
    return tuple(out)
