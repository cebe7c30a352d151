"""ResolveCache after a few namespaces changed: what it resolves again must equal a full resolve.

A generated host (root with bridges and a NIC, namespaces joined to root and to each other by veths,
macvlans on root's NIC, a veth whose far end is in an unreadable namespace, one whose nsid names no
namespace found, one the kernel gave no nsid) goes through a long run of single changes of every kind
the collector meets: a device added, removed, renamed, moved to another namespace, a namespace gone
(with or without its peers' namespaces being dumped again), come, unreadable and readable again, a
master changed, a tun holder changed, counters moving throughout. After each, the cache's answer (with
tun holders attached and settled, as the collector does) equals a fresh full resolve of the same
drafts, counters and holders; the patch path really ran; and links in namespaces nothing touched are
the very objects of the tick before.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

from vnettop.collect.holders import attach_holders
from vnettop.collect.refs import ResolveCache, resolve_links
from vnettop.collect.types import LinkDraft, ProcScan, TunFd
from vnettop.model import BridgeInfo, CollectError, Host, Link, Process, Snapshot, Stats, TunInfo

ROOT = 4026531840
Bases = dict[int, tuple[LinkDraft, ...]]


class World:
    """A host's drafts, a consistent nsid table (each namespace numbers the others it meets 0, 1, ...)
    and tun fds held by processes."""

    def __init__(self, n: int, seed: int, nowhere: bool = True) -> None:
        self.rng = random.Random(seed)
        self.next_ns = ROOT + 1000
        self.devs: dict[int, dict[int, LinkDraft]] = {ROOT: {}}
        self.unreadable: dict[int, str] = {}
        self.table: dict[tuple[int, int], int] = {}
        self.numbered: dict[int, int] = {}
        self.tun_fds: list[TunFd] = []
        self._add(ROOT, "lo", kind="loopback")
        self.nic = self._add(ROOT, "eth0", kind="device")
        self.bridges = [self._add(ROOT, f"br{i}", kind="bridge") for i in range(2)]
        tap = self._add(ROOT, "tap0", kind="tun", master=self.bridges[0])
        self.tun_fds.append(TunFd(pid=100, fd=5, iff="tap0", netns=ROOT, exact=True))
        assert tap
        for _ in range(n):
            self.add_namespace()
        # a veth into an unreadable namespace, one into a namespace nobody found, one without an nsid
        hidden = self._new_ns_inode()
        self.unreadable[hidden] = "permission denied"
        self._nsid(ROOT, hidden)
        self._add(ROOT, "vhid", kind="veth", link=2, nsid=self._nsid(ROOT, hidden))
        if nowhere:
            self._add(ROOT, "vgone", kind="veth", link=2, nsid=99)
        self._add(ROOT, "vnone", kind="veth", link=2, nsid=-1)

    # -- building ----------------------------------------------------------------------------------

    def _new_ns_inode(self) -> int:
        self.next_ns += self.rng.choice((1, 2, 7, 100))
        return self.next_ns

    def _nsid(self, src: int, target: int) -> int:
        if (src, target) not in self.table:
            # numbered in order, never reused (as the kernel's idr, while the namespace lives)
            self.table[(src, target)] = self.numbered[src] = self.numbered.get(src, -1) + 1
        return self.table[(src, target)]

    def _free_index(self, ns: int) -> int:
        return max(self.devs[ns], default=0) + 1

    def _add(self, ns: int, name: str, kind: str, link: int | None = None, nsid: int | None = None,
             master: int | None = None) -> int:
        index = self._free_index(ns)
        bridge = BridgeInfo(stp=False, vlan_filtering=False, ports=()) if kind == "bridge" else None
        tun = TunInfo(type="tap", persist=True, multi_queue=False, vnet_hdr=False, pi=False) if kind == "tun" else None
        self.devs[ns][index] = LinkDraft(
            link=Link(netns=ns, ifindex=index, name=name, kind=kind, mac=None, mtu=1500, admin_up=True,
                      oper_state="up", bridge=bridge, tun=tun),
            master_ifindex=master, link_ifindex=link, link_nsid=nsid)
        return index

    def veth(self, a: int, b: int, name: str, master_a: int | None = None) -> None:
        ia, ib = self._free_index(a), self._free_index(b) + (1 if a == b else 0)
        nsid_ab = None if a == b else self._nsid(a, b)
        nsid_ba = None if a == b else self._nsid(b, a)
        self.devs[a][ia] = _veth(a, ia, f"{name}a", ib, nsid_ab, master_a)
        self.devs[b][ib] = _veth(b, ib, f"{name}b", ia, nsid_ba, None)

    def add_namespace(self) -> int:
        ns = self._new_ns_inode()
        self.devs[ns] = {}
        self._add(ns, "lo", kind="loopback")
        self.veth(ROOT, ns, f"r{ns % 10000}", master_a=self.rng.choice([None, *self.bridges]))
        others = [x for x in self.devs if x not in (ROOT, ns)]
        if others and self.rng.random() < 0.5:
            self.veth(ns, self.rng.choice(others), f"x{ns % 10000}")
        if self.rng.random() < 0.3:
            self._add(ns, "mv0", kind="macvlan", link=self.nic, nsid=self._nsid(ns, ROOT))
        return ns

    # -- what the cache is given -------------------------------------------------------------------

    def bases(self, last: Bases | None, touched: set[int]) -> Bases:
        """Drafts per namespace: last tick's tuples (the very objects) for the namespaces not touched."""
        out: Bases = {}
        for ns, devs in self.devs.items():
            if last is not None and ns in last and ns not in touched:
                out[ns] = last[ns]
            else:
                out[ns] = tuple(devs[i] for i in sorted(devs))
        return out

    def nsid_of(self, src: int, target: int) -> int | None:
        return self.table.get((src, target))

    def scan(self) -> ProcScan:
        procs = {ROOT: (Process(100, "qemu", "/usr/bin/qemu", "root"), Process(101, "vpn", "/usr/bin/vpn", "root"))}
        return ProcScan(tuple(self.tun_fds), procs, (), complete=True)


def _veth(ns: int, index: int, name: str, peer: int, nsid: int | None, master: int | None) -> LinkDraft:
    return LinkDraft(
        link=Link(netns=ns, ifindex=index, name=name, kind="veth", mac=None, mtu=1500, admin_up=True,
                  oper_state="up"),
        master_ifindex=master, link_ifindex=peer, link_nsid=nsid)


# -- the changes ------------------------------------------------------------------------------------

def _veths(w: World, ns: int) -> list[int]:
    return [i for i, d in w.devs[ns].items() if d.link.kind == "veth" and d.link_nsid is not None
            and d.link_nsid >= 0 and (d.link_ifindex or 0) > 0]


def _far_of(w: World, ns: int, index: int) -> int | None:
    d = w.devs[ns][index]
    for (src, target), nsid in w.table.items():
        if src == ns and nsid == d.link_nsid and target in w.devs:
            return target
    return None


def _named(w: World) -> list[int]:
    return [ns for ns in w.devs if ns != ROOT]


def add_device(w: World) -> set[int]:
    a, b = w.rng.choice(_named(w)), w.rng.choice([ROOT, *_named(w)])
    w.veth(a, b, f"n{w.rng.randrange(10**6)}")
    return {a, b}


def remove_device(w: World) -> set[int]:
    ns = w.rng.choice(_named(w))
    veths = _veths(w, ns)
    if not veths:
        return add_device(w)
    index = w.rng.choice(veths)
    far = _far_of(w, ns, index)
    peer = w.devs[ns][index].link_ifindex
    del w.devs[ns][index]
    if far is not None and w.rng.random() < 0.8:  # the kernel removes both; sometimes its event is missed
        w.devs[far].pop(peer or 0, None)
        return {ns, far}
    return {ns}


def rename_in_root(w: World) -> set[int]:
    index = w.rng.choice([i for i, d in w.devs[ROOT].items() if d.link.kind == "veth"])
    d = w.devs[ROOT][index]
    w.devs[ROOT][index] = dataclasses.replace(d, link=dataclasses.replace(d.link, name=f"ren{w.rng.randrange(999)}"))
    return {ROOT}


def move_device(w: World) -> set[int]:
    """One end of a veth moves to another namespace; its peer's namespace is re-dumped or not."""
    src = w.rng.choice(_named(w))
    veths = _veths(w, src)
    if not veths:
        return add_device(w)
    index = w.rng.choice(veths)
    far = _far_of(w, src, index)
    d = w.devs[src].pop(index)
    dst = w.rng.choice([x for x in w.devs if x != src])
    new_index = w._free_index(dst)
    nsid = None if far == dst or far is None else w._nsid(dst, far)
    w.devs[dst][new_index] = dataclasses.replace(
        d, link=dataclasses.replace(d.link, netns=dst, ifindex=new_index), link_nsid=nsid)
    touched = {src, dst}
    if far is not None and far in w.devs and w.rng.random() < 0.7:
        fd = w.devs[far].get(d.link_ifindex or 0)
        if fd is not None:
            w.devs[far][d.link_ifindex or 0] = dataclasses.replace(
                fd, link_ifindex=new_index, link_nsid=None if far == dst else w._nsid(far, dst))
            touched.add(far)
    return touched


def namespace_gone(w: World) -> set[int]:
    """A namespace goes; its veths' far ends go too, but their namespaces' events may be missed."""
    ns = w.rng.choice(_named(w))
    touched = {ns}
    for index in _veths(w, ns):
        far = _far_of(w, ns, index)
        if far is not None and far != ns and w.rng.random() < 0.5:
            w.devs[far].pop(w.devs[ns][index].link_ifindex or 0, None)
            touched.add(far)
    del w.devs[ns]
    w.table = {k: v for k, v in w.table.items() if ns not in k}
    return touched


def namespace_came(w: World) -> set[int]:
    ns = w.add_namespace()
    return {ns, ROOT} | {x for x in w.devs if x != ns and any(
        d.link_nsid is not None and w.table.get((x, ns)) == d.link_nsid for d in w.devs[x].values())}


def becomes_unreadable(w: World) -> set[int]:
    ns = w.rng.choice(_named(w))
    w.unreadable[ns] = "cannot enter: permission denied"
    stash = w.devs.pop(ns)
    w.hidden = getattr(w, "hidden", {})
    w.hidden[ns] = stash
    return {ns}


def readable_again(w: World) -> set[int]:
    hidden: dict[int, dict[int, LinkDraft]] = getattr(w, "hidden", {})
    if not hidden:
        return becomes_unreadable(w)
    ns = next(iter(hidden))
    w.devs[ns] = hidden.pop(ns)
    del w.unreadable[ns]
    return {ns}


def master_changed(w: World) -> set[int]:
    index = w.rng.choice([i for i, d in w.devs[ROOT].items() if d.link.kind == "veth"])
    d = w.devs[ROOT][index]
    w.devs[ROOT][index] = dataclasses.replace(d, master_ifindex=w.rng.choice([None, *w.bridges]))
    return {ROOT}


def master_changed_in_namespace(w: World) -> set[int]:
    ns = w.rng.choice(_named(w))
    br = w._add(ns, "nsbr", kind="bridge")
    veths = _veths(w, ns)
    for index in veths[:1]:
        w.devs[ns][index] = dataclasses.replace(w.devs[ns][index], master_ifindex=br)
    return {ns}


def holder_changed(w: World) -> set[int]:
    """A process attaches to or lets go of the tap (no namespace is dumped again)."""
    if len(w.tun_fds) > 1:
        w.tun_fds.pop()
    else:
        w.tun_fds.append(TunFd(pid=101, fd=9, iff="tap0", netns=ROOT, exact=True))
    return set()


def nothing(w: World) -> set[int]:
    return set()


CHANGES: list[Callable[[World], set[int]]] = [
    add_device, remove_device, rename_in_root, move_device, namespace_gone, namespace_came,
    becomes_unreadable, readable_again, master_changed, master_changed_in_namespace, holder_changed, nothing,
]


def _counters(w: World, bases: Bases, touched: set[int], last: dict[int, dict[int, Stats]]
              ) -> dict[int, dict[int, Stats]]:
    """Counters per namespace not dumped again: the last mapping (idle) or a fresh one (some moved)."""
    out: dict[int, dict[int, Stats]] = {}
    for ns, drafts in bases.items():
        if ns in touched:
            continue  # dumped: fresh counters are in its drafts
        if ns in last and w.rng.random() < 0.8 and last[ns].keys() == {d.link.ifindex for d in drafts}:
            out[ns] = last[ns]
        else:
            out[ns] = {d.link.ifindex: Stats(rx_packets=w.rng.randrange(3), tx_packets=w.rng.randrange(3))
                       for d in drafts}
    return out


HOST = Host("h", "6.18")


def _snapshot(links: tuple[Link, ...], errors: tuple[CollectError, ...]) -> Snapshot:
    return Snapshot(HOST, (), links, errors)


def _full(w: World, bases: Bases, stats: dict[int, dict[int, Stats]]) -> Snapshot:
    """A fresh full resolve of the same drafts, counters and holders, as the collector builds it."""
    drafts = {ns: [dataclasses.replace(d, link=dataclasses.replace(d.link, stats=stats[ns][d.link.ifindex]))
                   if ns in stats else d for d in ds] for ns, ds in bases.items()}
    # the namespaces dumped this time (no counters of their own) are the ones read in this collect
    links, errors = resolve_links(drafts, w.nsid_of, w.unreadable, fresh={ns for ns in bases if ns not in stats})
    shown, holder_errors = attach_holders(links, w.scan())
    return _snapshot(shown, errors + holder_errors)


def test_single_changes_equal_a_full_resolve() -> None:
    patched = 0
    for seed in range(4):
        w = World(30, seed)
        cache = ResolveCache()
        memo: dict[tuple[int, int], int] = {}
        bases = w.bases(None, set())
        stats: dict[int, dict[int, Stats]] = {}
        links, errors = cache.resolve(bases, stats, w.nsid_of, w.unreadable, memo)
        shown, _ = attach_holders(links, w.scan())
        cache.settle(shown)
        for step in range(120):
            change = CHANGES[step % len(CHANGES)] if step < len(CHANGES) * 2 else w.rng.choice(CHANGES)
            touched = change(w)
            before = {link.key: link for link in shown}
            bases = w.bases(bases, touched)
            stats = _counters(w, bases, touched, stats)
            links, errors = cache.resolve(bases, stats, w.nsid_of, dict(w.unreadable), memo)
            shown, holder_errors = attach_holders(links, w.scan())
            cache.settle(shown)
            assert _snapshot(shown, errors + holder_errors) == _full(w, bases, stats), (seed, step, change.__name__)
            if cache.patched[0] > 0:
                patched += 1
                # Links of namespaces neither dumped again nor with moving counters, whose far end did
                # not change: the very objects shown last tick.
                redone = set(touched) | {ns for ns in bases if ns not in stats}
                for link in shown:
                    old = before.get(link.key)
                    far = link.peer or link.lower
                    far_kept = far is None or (far.netns not in touched and far.netns != 0
                                               and far.netns not in w.unreadable)
                    if (old is not None and link.netns not in redone and far_kept
                            and link.stats == old.stats and link.tun == old.tun):
                        assert link is old, (seed, step, change.__name__, link.name)
    assert patched > 300  # the patch path ran for nearly every change (not a full resolve each time)


def test_a_change_resolves_only_the_namespace_and_those_referring_to_it() -> None:
    w = World(40, 7, nowhere=False)
    cache = ResolveCache()
    memo: dict[tuple[int, int], int] = {}
    bases = w.bases(None, set())
    cache.resolve(bases, {}, w.nsid_of, w.unreadable, memo)
    stats = _counters(w, bases, set(), {})
    cache.resolve(bases, stats, w.nsid_of, w.unreadable, memo)
    assert cache.reused
    ns = next(x for x in _named(w) if len(_veths(w, x)) >= 2)
    index = _veths(w, ns)[0]
    d = w.devs[ns][index]
    w.devs[ns][index] = dataclasses.replace(d, link=dataclasses.replace(d.link, mtu=9000))
    bases = w.bases(bases, {ns})
    stats = {k: v for k, v in stats.items() if k != ns}
    asked: list[tuple[int, int]] = []

    def counting(src: int, target: int) -> int | None:
        asked.append((src, target))
        return w.nsid_of(src, target)

    full_asked: list[tuple[int, int]] = []

    def counting_full(src: int, target: int) -> int | None:
        full_asked.append((src, target))
        return w.nsid_of(src, target)

    swapped = {x: [dataclasses.replace(dd, link=dataclasses.replace(dd.link, stats=stats[x][dd.link.ifindex]))
                   if x in stats else dd for dd in ds] for x, ds in bases.items()}
    full = resolve_links(swapped, counting_full, w.unreadable, dict(memo), fresh={ns})
    links, errors = cache.resolve(bases, stats, counting, w.unreadable, memo)
    # the namespace itself, and the refs into the unreadable one and into no namespace found: its
    # partners' ends point at devices whose names did not change
    assert cache.patched == (1, 2)
    assert (links, errors) == full
    # no search over the host: the re-resolved links' questions only, not a full resolve's re-verifications
    assert 0 < len(asked) <= 2 * (len(bases[ns]) + 2) < len(full_asked)

    # renamed: the partner's end, in another namespace, is resolved again and names it
    far = _far_of(w, ns, index)
    assert far is not None and far != ns
    w.devs[ns][index] = dataclasses.replace(d, link=dataclasses.replace(d.link, name="renamed"))
    bases = w.bases(bases, {ns})
    links, errors = cache.resolve(bases, stats, w.nsid_of, w.unreadable, memo)
    assert cache.patched == (1, 3)
    partner = next(link for link in links if link.netns == far and link.peer and link.peer.key == (ns, index))
    assert partner.peer is not None and partner.peer.name == "renamed"


def test_a_far_end_resolved_alone_later_is_checked_not_searched() -> None:
    """At the first collect a veth pair's far end is answered from its partner without a question. When
    its namespace alone is dumped again later, that answer (memoised) is checked with one question, not
    found again by asking the namespace about every candidate (the kernel's answers are cached by the
    collector's pool, so what costs is a question never asked before)."""
    w = World(60, 5, nowhere=False)
    seen: set[tuple[int, int]] = set()
    new: list[tuple[int, int]] = []

    def pool(src: int, target: int) -> int | None:
        if (src, target) not in seen:
            seen.add((src, target))
            new.append((src, target))
        return w.nsid_of(src, target)

    cache = ResolveCache()
    memo: dict[tuple[int, int], int] = {}
    bases = w.bases(None, set())
    cache.resolve(bases, {}, pool, w.unreadable, memo)  # everything dumped: the first collect
    stats = _counters(w, bases, set(), {})
    for ns in sorted(_named(w), reverse=True)[:20]:  # the later ends of their pairs
        new.clear()
        bases = w.bases(bases, {ns})  # dumped again, nothing else
        stats = {k: v for k, v in stats.items() if k != ns}
        cache.resolve(bases, stats, pool, w.unreadable, memo)
        assert cache.patched[0] == 1
        assert len(new) <= len(_veths(w, ns)) + len(bases[ns]), (ns, new)
        stats = _counters(w, bases, set(), stats)


def test_an_nsid_assigned_later_resolves_that_namespace_again_not_everything() -> None:
    """A veth in root whose nsid named no namespace (`vgone`, nsid 99) when first resolved: the kernel
    assigns 99 to a namespace later (an RTM_NEWNSID in root) and root's drafts stay the very same. With
    root `renumbered`, the cache resolves root again (not every namespace) and gives what a full resolve
    gives, the peer found; not told, it would keep the stale answer (which is why it must be told)."""
    w = World(30, 3)
    vgone = next(d for d in w.devs[ROOT].values() if d.link.name == "vgone")
    target = w._new_ns_inode()  # a namespace root has no nsid for yet, holding vgone's far end
    w.devs[target] = {}
    w._add(target, "lo", kind="loopback")
    w._add(target, "far", kind="veth", link=vgone.link.ifindex, nsid=w._nsid(target, ROOT))
    assert vgone.link_ifindex in w.devs[target] and (ROOT, target) not in w.table
    cache = ResolveCache()
    memo: dict[tuple[int, int], int] = {}
    bases = w.bases(None, set())
    stats = _counters(w, bases, set(), {})
    cache.resolve(bases, stats, w.nsid_of, w.unreadable, memo)
    w.table[(ROOT, target)] = 99  # the kernel numbers it now, 99 as vgone's draft says
    stale, _ = cache.resolve(bases, stats, w.nsid_of, w.unreadable, memo)
    assert cache.reused  # not told: the old answer, where vgone's peer is unknown
    assert next(link for link in stale if link.name == "vgone").peer.netns == 0  # type: ignore[union-attr]
    links, errors = cache.resolve(bases, stats, w.nsid_of, w.unreadable, memo, renumbered={ROOT})
    assert cache.patched[0] == 1  # root alone
    assert _snapshot(links, errors) == _snapshot(*resolve_links(
        {ns: [dataclasses.replace(d, link=dataclasses.replace(d.link, stats=stats[ns][d.link.ifindex]))
              for d in ds] for ns, ds in bases.items()}, w.nsid_of, w.unreadable))
    assert next(link for link in links if link.name == "vgone").peer.netns == target  # type: ignore[union-attr]
