"""resolve_links: peers, lower devices, masters and bridge ports across namespaces, from hand-made drafts."""

from __future__ import annotations

import dataclasses
import random
import struct
from collections import Counter
from collections.abc import Iterable

from vnettop.collect.refs import ResolveCache, TopCounts, resolve_links
from vnettop.collect.types import LinkDraft
from vnettop.model import BridgeInfo, Link, LinkRef, Stats

ROOT, NA, NB, NC, PROC = 4026531840, 4026532100, 4026532200, 4026532300, 4026532400


def draft(ns: int, index: int, name: str, kind: str = "veth", link: int | None = None,
          nsid: int | None = None, master: int | None = None) -> LinkDraft:
    bridge = BridgeInfo(stp=False, vlan_filtering=False, ports=()) if kind == "bridge" else None
    return LinkDraft(
        link=Link(netns=ns, ifindex=index, name=name, kind=kind, mac=None, mtu=1500, admin_up=True,
                  oper_state="up", bridge=bridge),
        master_ifindex=master, link_ifindex=link, link_nsid=nsid)


class Nsids:
    """A fake RTM_GETNSID: table[(from, to)] = nsid; counts the questions asked."""

    def __init__(self, table: dict[tuple[int, int], int]) -> None:
        self.table = table
        self.asked: list[tuple[int, int]] = []

    def __call__(self, src: int, target: int) -> int | None:
        self.asked.append((src, target))
        return self.table.get((src, target))


def by_name(links: Iterable[Link]) -> dict[str, Link]:
    return {link.name: link for link in links}


def test_both_ends_in_one_namespace_need_no_nsid() -> None:
    nsids = Nsids({})
    links, errors = resolve_links({NA: [draft(NA, 2, "va1", link=3), draft(NA, 3, "va0", link=2)]}, nsids)
    got = by_name(links)
    assert got["va0"].peer == LinkRef(NA, 2, "va1")
    assert got["va1"].peer == LinkRef(NA, 3, "va0")
    assert (got["va0"].lower, got["va0"].master) == (None, None)
    assert errors == () and nsids.asked == []


def test_root_to_named_namespace() -> None:
    nsids = Nsids({(ROOT, NA): 5, (NA, ROOT): 0})
    links, errors = resolve_links({
        ROOT: [draft(ROOT, 1, "lo", kind="loopback"), draft(ROOT, 7, "tap45", link=2, nsid=5)],
        NA: [draft(NA, 1, "lo", kind="loopback"), draft(NA, 2, "ns-45", link=7, nsid=0)],
    }, nsids)
    got = by_name(link for link in links if link.kind == "veth")
    assert got["tap45"].peer == LinkRef(NA, 2, "ns-45")
    assert got["ns-45"].peer == LinkRef(ROOT, 7, "tap45")
    assert errors == ()


def test_two_named_namespaces_and_a_process_only_one() -> None:
    # NA <-> NB, and NB <-> PROC (a namespace with no name, only processes): names play no part.
    nsids = Nsids({(NA, NB): 1, (NB, NA): 0, (NB, PROC): 2, (PROC, NB): 0})
    links, errors = resolve_links({
        NA: [draft(NA, 3, "a-b", link=4, nsid=1)],
        NB: [draft(NB, 4, "b-a", link=3, nsid=0), draft(NB, 5, "b-p", link=2, nsid=2)],
        PROC: [draft(PROC, 2, "eth0", link=5, nsid=0)],
    }, nsids)
    got = by_name(links)
    assert got["a-b"].peer == LinkRef(NB, 4, "b-a")
    assert got["b-a"].peer == LinkRef(NA, 3, "a-b")
    assert got["b-p"].peer == LinkRef(PROC, 2, "eth0")
    assert got["eth0"].peer == LinkRef(NB, 5, "b-p")
    assert errors == ()


def test_remote_index_equal_to_an_unrelated_local_device_is_not_confused() -> None:
    # x0 in A says "peer is ifindex 2 in nsid 0"; A's own ifindex 2 is va1, an unrelated veth.
    nsids = Nsids({(NA, NB): 0, (NB, NA): 0})
    links, errors = resolve_links({
        NA: [draft(NA, 2, "va1", link=3), draft(NA, 3, "va0", link=2), draft(NA, 12, "x0", link=2, nsid=0)],
        NB: [draft(NB, 2, "x1", link=12, nsid=0)],
    }, nsids)
    got = by_name(links)
    assert got["x0"].peer == LinkRef(NB, 2, "x1")
    assert got["x1"].peer == LinkRef(NA, 12, "x0")
    assert got["va1"].peer == LinkRef(NA, 3, "va0")
    assert errors == ()


def test_several_pairing_candidates_the_nsid_decides() -> None:
    # B and C both hold a veth at index 2 pointing to "ifindex 12 elsewhere"; only C is nsid 1 for A.
    nsids = Nsids({(NA, NB): 0, (NA, NC): 1, (NC, NA): 4})
    links, errors = resolve_links({
        NA: [draft(NA, 12, "x0", link=2, nsid=1)],
        NB: [draft(NB, 2, "decoy", link=12, nsid=5)],  # its peer is in some namespace we cannot see
        NC: [draft(NC, 2, "x1", link=12, nsid=4)],
    }, nsids)
    got = by_name(links)
    assert got["x0"].peer == LinkRef(NC, 2, "x1")
    assert got["x1"].peer == LinkRef(NA, 12, "x0")
    assert got["decoy"].peer == LinkRef(0, 12, None)  # index pairing alone never decides
    assert [e.message.split(":")[0] for e in errors] == ["decoy"]


def test_answers_are_cached_per_namespace_pair() -> None:
    table = {(NA, NB): 0, (NB, NA): 0}
    nsids = Nsids(table)
    a_side = [draft(NA, 10 + i, f"a{i}", link=20 + i, nsid=0) for i in range(5)]
    b_side = [draft(NB, 20 + i, f"b{i}", link=10 + i, nsid=0) for i in range(5)]
    links, errors = resolve_links({NA: a_side, NB: b_side}, nsids)
    assert errors == ()
    assert by_name(links)["a3"].peer == LinkRef(NB, 23, "b3")
    assert by_name(links)["b3"].peer == LinkRef(NA, 13, "a3")
    # one question for the first pair; the far end's nsid then names A for every other device of B
    assert nsids.asked == [(NA, NB)]


def test_a_verified_pair_answers_for_its_far_end_and_its_neighbours() -> None:
    nsids = Nsids({(ROOT, NA): 5, (NA, ROOT): 0})
    links, errors = resolve_links({
        ROOT: [draft(ROOT, 7, "tap45", link=2, nsid=5), draft(ROOT, 3, "em2", kind="device")],
        NA: [draft(NA, 2, "ns-45", link=7, nsid=0), draft(NA, 4, "mvx", kind="macvlan", link=3, nsid=0)],
        NB: [draft(NB, 2, "decoy", link=7, nsid=3)],  # same indexes, another namespace: never asked for
    }, nsids)
    got = by_name(links)
    assert got["ns-45"].peer == LinkRef(ROOT, 7, "tap45")
    assert got["mvx"].lower == LinkRef(ROOT, 3, "em2")
    assert (NA, ROOT) not in nsids.asked  # learnt from the pair root verified
    assert (ROOT, NA) in nsids.asked
    assert [e.message.split(":")[0] for e in errors] == ["decoy"]


def test_peer_in_an_unreadable_namespace_keeps_its_index_and_says_why() -> None:
    nsids = Nsids({(NA, NB): 0})
    links, errors = resolve_links({NA: [draft(NA, 12, "x0", link=2, nsid=0)]}, nsids,
                                  unreadable={NB: "permission denied"})
    assert by_name(links)["x0"].peer == LinkRef(NB, 2, None)
    assert len(errors) == 1 and errors[0].scope == f"netns {NA}"
    assert "x0" in errors[0].message and "permission denied" in errors[0].message


def test_peer_in_a_namespace_nobody_can_see() -> None:
    nsids = Nsids({})  # NA's nsid 7 is a namespace held only by an fd: no name, no process
    links, errors = resolve_links({NA: [draft(NA, 12, "x0", link=2, nsid=7)], NB: []}, nsids)
    assert by_name(links)["x0"].peer == LinkRef(0, 2, None)
    assert len(errors) == 1 and "nsid 7" in errors[0].message


def test_lower_device_in_another_namespace() -> None:
    # macvlan / vlan made on root's em2 and moved into a namespace: no veth partner to pair with.
    nsids = Nsids({(NA, ROOT): 0})
    links, errors = resolve_links({
        ROOT: [draft(ROOT, 2, "va1", kind="device"), draft(ROOT, 3, "em2", kind="device")],
        NA: [draft(NA, 2, "mvx", kind="macvlan", link=3, nsid=0),
             draft(NA, 4, "em2.100", kind="vlan", link=3, nsid=0)],
    }, nsids)
    got = by_name(links)
    assert got["mvx"].lower == LinkRef(ROOT, 3, "em2")
    assert got["em2.100"].lower == LinkRef(ROOT, 3, "em2")
    assert got["mvx"].peer is None
    assert errors == ()


def test_lower_in_the_same_namespace() -> None:
    links, errors = resolve_links({NA: [draft(NA, 3, "va0", link=2), draft(NA, 2, "va1", link=3),
                                        draft(NA, 9, "vx0", kind="vxlan", link=3)]}, Nsids({}))
    assert by_name(links)["vx0"].lower == LinkRef(NA, 3, "va0")
    assert errors == ()


def test_veth_without_ifla_link_is_reported_not_guessed() -> None:
    links, errors = resolve_links({NA: [draft(NA, 2, "old0"), draft(NA, 3, "old1")]}, Nsids({}))
    assert by_name(links)["old0"].peer is None
    assert len(errors) == 2 and "IFLA_LINK" in errors[0].message


def test_masters_and_bridge_ports() -> None:
    links, errors = resolve_links({NA: [
        draft(NA, 4, "br0", kind="bridge"),
        draft(NA, 8, "tap1", kind="tap", master=4),
        draft(NA, 2, "va1", link=3, master=4),
        draft(NA, 3, "va0", link=2),
        draft(NA, 6, "gone", kind="tap", master=30),
    ], NB: [draft(NB, 4, "br0", kind="bridge")]}, Nsids({}))
    got = {(link.netns, link.name): link for link in links}
    assert got[(NA, "va1")].master == LinkRef(NA, 4, "br0")
    br = got[(NA, "br0")].bridge
    assert br is not None and br.ports == (2, 8)  # sorted, and never another namespace's ports
    other = got[(NB, "br0")].bridge
    assert other is not None and other.ports == ()
    assert got[(NA, "gone")].master == LinkRef(NA, 30, None)
    assert len(errors) == 1 and "gone" in errors[0].message


def test_links_sorted_by_namespace_then_index() -> None:
    links, _ = resolve_links({NB: [draft(NB, 3, "z", kind="device"), draft(NB, 1, "lo", kind="loopback")],
                              NA: [draft(NA, 2, "y", kind="device")]}, Nsids({}))
    assert [link.key for link in links] == [(NA, 2), (NB, 1), (NB, 3)]


def test_a_failing_nsid_callback_becomes_an_error() -> None:
    def broken(src: int, target: int) -> int | None:
        raise OSError(2, "No such file or directory")

    links, errors = resolve_links({NA: [draft(NA, 12, "x0", link=2, nsid=0)],
                                   NB: [draft(NB, 2, "x1", link=12, nsid=0)]}, broken)
    assert by_name(links)["x0"].peer == LinkRef(0, 2, None)
    assert any("cannot ask nsid" in e.message for e in errors)


def test_unassigned_nsid_is_reported_without_asking() -> None:
    nsids = Nsids({(NA, NB): 0})
    links, errors = resolve_links({NA: [draft(NA, 12, "x0", link=2, nsid=-1)],
                                   NB: [draft(NB, 2, "x1", link=12, nsid=0)]}, nsids)
    assert by_name(links)["x0"].peer == LinkRef(0, 2, None)
    assert any("no nsid" in e.message and e.message.startswith("x0") for e in errors)
    assert (NA, NB) not in nsids.asked  # nothing can match -1: no question is wasted on it


def ambiguous(pairs: list[tuple[int, int]]) -> dict[int, list[LinkDraft]]:
    """Namespace pairs (A, B), each holding one veth 2 <-> 2 with nsid 0 for the other: the same indexes
    everywhere, so every namespace holds a candidate for every peer."""
    out: dict[int, list[LinkDraft]] = {}
    for i, (a, b) in enumerate(pairs):
        out[a] = [draft(a, 2, f"a{i}", link=2, nsid=0)]
        out[b] = [draft(b, 2, f"b{i}", link=2, nsid=0)]
    return out


def table_of(pairs: list[tuple[int, int]]) -> dict[tuple[int, int], int]:
    return {key: 0 for a, b in pairs for key in ((a, b), (b, a))}


def check_pairs(links: Iterable[Link], pairs: list[tuple[int, int]]) -> None:
    got = by_name(links)
    for i, (a, b) in enumerate(pairs):
        assert got[f"a{i}"].peer == LinkRef(b, 2, f"b{i}")
        assert got[f"b{i}"].peer == LinkRef(a, 2, f"a{i}")


def test_same_indexes_everywhere_made_pair_by_pair_cost_about_a_question_per_pair() -> None:
    pairs = [(5000 + 2 * i, 5001 + 2 * i) for i in range(40)]  # `ip netns add a; ip netns add b`, repeated
    nsids = Nsids(table_of(pairs))
    links, errors = resolve_links(ambiguous(pairs), nsids)
    assert errors == ()
    check_pairs(links, pairs)
    assert len(nsids.asked) <= 2 * len(pairs)  # the neighbour first; blind, ~40 per pair


def test_same_indexes_everywhere_all_as_then_all_bs_learn_the_offset() -> None:
    # Every A made first, then every B: the nearest namespaces are the wrong ones, but once one pair is
    # found at offset 1000, the others are tried there first.
    pairs = [(5000 + i, 6000 + i) for i in range(40)]
    nsids = Nsids(table_of(pairs))
    links, errors = resolve_links(ambiguous(pairs), nsids)
    assert errors == ()
    check_pairs(links, pairs)
    assert len(nsids.asked) <= 3 * len(pairs)  # one search (<= 2n questions), then one per pair


def test_no_order_ever_gives_a_wrong_answer() -> None:
    # Partners at scattered offsets, and decoys at the offset learned first: the nsid questions decide.
    rng = random.Random(7)
    bs = list(range(6000, 6040))
    rng.shuffle(bs)
    pairs = [(5000 + i, b) for i, b in enumerate(bs)]
    nsids = Nsids(table_of(pairs))
    links, errors = resolve_links(ambiguous(pairs), nsids)
    assert errors == ()
    check_pairs(links, pairs)
    assert len(set(nsids.asked)) == len(nsids.asked)  # and no question is asked twice


def test_mirrored_counters_point_at_the_partner_first() -> None:
    # Scattered partners (no inode pattern), but a veth's rx counters are its peer's tx counters.
    rng = random.Random(11)
    bs = list(range(6000, 6040))
    rng.shuffle(bs)
    pairs = [(5000 + i, b) for i, b in enumerate(bs)]
    drafts = ambiguous(pairs)
    for i, (a, b) in enumerate(pairs):
        sent = Stats(rx_packets=i + 3, tx_packets=7, rx_bytes=100 * i, tx_bytes=700)
        got = Stats(rx_packets=7, tx_packets=i + 3, rx_bytes=700, tx_bytes=100 * i)
        drafts[a] = [dataclasses.replace(drafts[a][0], link=dataclasses.replace(drafts[a][0].link, stats=sent))]
        drafts[b] = [dataclasses.replace(drafts[b][0], link=dataclasses.replace(drafts[b][0].link, stats=got))]
    nsids = Nsids(table_of(pairs))
    links, errors = resolve_links(drafts, nsids)
    assert errors == ()
    check_pairs(links, pairs)
    assert len(nsids.asked) == len(pairs)  # one question per pair; by inode order alone, hundreds


def test_a_memo_spares_the_search_next_time_and_a_stale_entry_is_searched_again() -> None:
    rng = random.Random(3)
    bs = list(range(6000, 6030))
    rng.shuffle(bs)
    pairs = [(5000 + i, b) for i, b in enumerate(bs)]
    memo: dict[tuple[int, int], int] = {}
    first = Nsids(table_of(pairs))
    links, errors = resolve_links(ambiguous(pairs), first, memo=memo)
    assert errors == () and memo[(5000, 0)] == bs[0]
    again = Nsids(table_of(pairs))
    links2, errors2 = resolve_links(ambiguous(pairs), again, memo=memo)
    assert errors2 == () and links2 == links
    assert len(again.asked) == len(pairs) < len(first.asked)  # one re-verification per pair, no search
    memo[(5000, 0)] = bs[1]  # wrong (say, namespaces came and went): verified, found wrong, searched
    links3, _ = resolve_links(ambiguous(pairs), Nsids(table_of(pairs)), memo=memo)
    assert links3 == links and memo[(5000, 0)] == bs[0]


# -- ResolveCache: reusing the last resolve on ticks that only fetched counters ---------------------


def cache_world() -> tuple[dict[int, tuple[LinkDraft, ...]], Nsids]:
    """Root with a bridge and two ports (veths to NA, NB), NA <-> NB, and a macvlan in NC on root's NIC."""
    bases = {
        ROOT: (draft(ROOT, 1, "lo", kind="loopback"), draft(ROOT, 2, "eth0", kind="device"),
               draft(ROOT, 3, "br0", kind="bridge"),
               draft(ROOT, 4, "ra", link=2, nsid=0, master=3), draft(ROOT, 5, "rb", link=2, nsid=1, master=3)),
        NA: (draft(NA, 1, "lo", kind="loopback"), draft(NA, 2, "a-root", link=4, nsid=0),
             draft(NA, 3, "a-b", link=3, nsid=1)),
        NB: (draft(NB, 1, "lo", kind="loopback"), draft(NB, 2, "b-root", link=5, nsid=0),
             draft(NB, 3, "b-a", link=3, nsid=1)),
        NC: (draft(NC, 1, "lo", kind="loopback"), draft(NC, 2, "mv0", kind="macvlan", link=2, nsid=0)),
    }
    table = {(ROOT, NA): 0, (ROOT, NB): 1, (NA, ROOT): 0, (NB, ROOT): 0, (NA, NB): 1, (NB, NA): 1,
             (NC, ROOT): 0}
    return bases, Nsids(table)


def counters(bases: dict[int, tuple[LinkDraft, ...]], seed: int) -> dict[int, dict[int, Stats]]:
    """Fresh counters for every draft: some unchanged, some moved."""
    rng = random.Random(seed)
    out: dict[int, dict[int, Stats]] = {}
    for ns, drafts in bases.items():
        out[ns] = {}
        for d in drafts:
            moved = rng.random() < 0.5
            out[ns][d.link.ifindex] = Stats(rx_packets=rng.randrange(100), tx_bytes=seed) if moved else d.link.stats
    return out


def full(bases: dict[int, tuple[LinkDraft, ...]], stats: dict[int, dict[int, Stats]], nsids: Nsids,
         unreadable: dict[int, str] | None = None) -> tuple[tuple[Link, ...], tuple[object, ...]]:
    """What a full resolve of the same drafts with the same counters gives."""
    drafts = {ns: [dataclasses.replace(d, link=dataclasses.replace(d.link, stats=stats[ns][d.link.ifindex]))
                   if ns in stats else d for d in ds] for ns, ds in bases.items()}
    return resolve_links(drafts, Nsids(nsids.table), unreadable or {})


def test_counters_only_ticks_reuse_the_resolve_and_equal_a_full_one() -> None:
    bases, nsids = cache_world()
    cache = ResolveCache()
    links0, errors0 = cache.resolve(bases, {}, nsids)
    assert not cache.reused and (links0, errors0) == full(bases, {}, nsids)
    before = {link.key: link for link in links0}
    for seed in range(1, 6):
        stats = counters(bases, seed)
        asked = len(nsids.asked)
        links, errors = cache.resolve(bases, stats, nsids)
        assert cache.reused and len(nsids.asked) == asked  # nothing resolved again, nothing asked
        assert (links, errors) == full(bases, stats, nsids)
        for link in links:  # links whose counters did not move are last tick's objects
            assert (link is before[link.key]) == (link.stats == before[link.key].stats)
        before = {link.key: link for link in links}
    assert any(link.peer is not None for link in links) and any(link.bridge for link in links)


def test_any_change_but_counters_resolves_in_full() -> None:
    bases, nsids = cache_world()
    cache = ResolveCache()
    cache.resolve(bases, {}, nsids)
    stats = counters(bases, 1)

    redumped = dict(bases)
    redumped[NA] = (*bases[NA][:2], draft(NA, 3, "a-b2", link=3, nsid=1))  # NA dumped again: a rename
    no_stats_for_na = {ns: s for ns, s in stats.items() if ns != NA}
    links, errors = cache.resolve(redumped, no_stats_for_na, nsids)
    assert not cache.reused and (links, errors) == full(redumped, no_stats_for_na, nsids)
    assert by_name(links)["b-a"].peer == LinkRef(NA, 3, "a-b2")

    links, _ = cache.resolve(redumped, stats, nsids)  # stable again: reused
    assert cache.reused

    gone = {ns: ds for ns, ds in redumped.items() if ns != NC}  # a namespace vanished
    gone_stats = {ns: s for ns, s in stats.items() if ns != NC}
    links, errors = cache.resolve(gone, gone_stats, nsids)
    assert not cache.reused and (links, errors) == full(gone, gone_stats, nsids)

    came = dict(gone)
    came[PROC] = (draft(PROC, 1, "lo", kind="loopback"),)  # a namespace appeared
    came_stats = dict(gone_stats)
    came_stats[PROC] = {1: Stats()}
    links, errors = cache.resolve(came, came_stats, nsids)
    assert not cache.reused and (links, errors) == full(came, came_stats, nsids)

    unreadable = {NC: "permission denied"}  # the same drafts, but one more namespace cannot be read
    links, errors = cache.resolve(came, came_stats, nsids, unreadable)
    assert not cache.reused and (links, errors) == full(came, came_stats, nsids, unreadable)

    cache.resolve(came, came_stats, nsids, unreadable)
    assert cache.reused
    cache.invalidate()  # an nsid event, or a question that got no answer
    links, errors = cache.resolve(came, came_stats, nsids, unreadable)
    assert not cache.reused and (links, errors) == full(came, came_stats, nsids, unreadable)


def test_settled_links_carry_what_was_attached_after_the_resolve() -> None:
    bases, nsids = cache_world()
    cache = ResolveCache()
    links, _ = cache.resolve(bases, {}, nsids)
    shown = tuple(dataclasses.replace(link, addresses=("192.0.2.1/24",)) for link in links)
    cache.settle(shown)
    again, _ = cache.resolve(bases, counters(bases, 9), nsids)
    assert cache.reused and all(link.addresses == ("192.0.2.1/24",) for link in again)
    cache.settle(shown[:-1])  # not the same links: ignored
    third, _ = cache.resolve(bases, counters(bases, 9), nsids)
    assert third == again


def test_idle_devices_get_last_dumps_stats_object() -> None:
    """`counters.parse_stats` hands back the very Stats of an unchanged device, so the cache's swap is an
    identity check for idle links."""
    from vnettop.collect import counters as lean

    def message(seq: int, ifindex: int, rx_packets: int) -> bytes:
        counters = struct.pack("=8Q", rx_packets, 2, 3, 4, 0, 0, 0, 0)
        attr = struct.pack("=HH", 4 + len(counters), lean.IFLA_STATS_LINK_64) + counters
        body = struct.pack("=BBHII", 0, 0, 0, ifindex, lean.FILTER_LINK_64) + attr
        return struct.pack("=IHHII", 16 + len(body), lean.RTM_NEWSTATS, 2, seq, 0) + body

    def done(seq: int) -> bytes:
        return struct.pack("=IHHIIi", 20, lean.NLMSG_DONE, 2, seq, 0, 0)

    seen: lean.Seen = {}
    first: dict[int, Stats] = {}
    assert lean.parse_stats(message(1, 2, 10) + message(1, 3, 10) + done(1), 1, first, seen)
    second: dict[int, Stats] = {}
    assert lean.parse_stats(message(2, 2, 10) + message(2, 3, 11) + done(2), 2, second, seen)
    assert second[2] is first[2] and second[3] == Stats(rx_bytes=3, tx_bytes=4, rx_packets=11, tx_packets=2)
    assert second[3] is not first[3]


def test_reuse_swaps_only_namespaces_whose_counters_mapping_changed() -> None:
    """The collector hands back the very same counters mapping for an idle namespace: the cache then
    keeps those links as they are (the very same tuple when all are idle), and what it returns always
    equals a full resolve of the same drafts with the same counters."""
    bases, nsids = cache_world()
    cache = ResolveCache()
    stats = counters(bases, 1)
    cache.resolve(bases, stats, nsids)
    last, _ = cache.resolve(bases, stats, nsids)  # same mappings again: nothing swapped
    assert cache.reused and cache.swapped == 0
    again, _ = cache.resolve(bases, dict(stats), nsids)
    assert again is last and cache.swapped == 0
    rng = random.Random(3)
    for seed in range(2, 30):
        fresh = counters(bases, seed)
        moved = {ns for ns in stats if rng.random() < 0.3}
        stats = {ns: fresh[ns] if ns in moved else stats[ns] for ns in stats}
        links, _ = cache.resolve(bases, stats, nsids)
        assert cache.reused and cache.swapped == len(moved)
        assert links == full(bases, stats, nsids)[0]


def test_a_stale_far_end_does_not_decide_a_peer() -> None:
    """A veth end moved from NA to NB, and its partner's namespace NC was not dumped again (no event
    there): NC's draft still gives NA's nsid. The moved end, resolved first, must not teach that NC's
    nsid for NA means NB: the partner's peer is looked up where NC's nsid really points."""
    nsids = Nsids({(NB, NC): 1, (NC, NA): 3, (NC, NB): 4, (NA, NC): 0})
    drafts = {
        NA: [draft(NA, 1, "lo", kind="loopback")],
        NB: [draft(NB, 1, "lo", kind="loopback"), draft(NB, 2, "moved", link=7, nsid=1)],
        NC: [draft(NC, 1, "lo", kind="loopback"), draft(NC, 7, "stay", link=2, nsid=3)],
    }
    links, errors = resolve_links(drafts, nsids, fresh={NA, NB})  # NC's drafts are from an older dump
    got = by_name(links)
    assert got["moved"].peer == LinkRef(NC, 7, "stay")
    assert got["stay"].peer == LinkRef(NA, 2, None)  # where nsid 3 points: the device is gone from there
    assert [e.message.split(":")[0] for e in errors] == ["stay"]
    assert (NC, NB) in nsids.asked  # the far end's answer was checked, not taken on trust


def test_top_counts_lists_what_most_common_lists() -> None:
    """The incremental top (likeliest inode offsets) must order exactly as `Counter.most_common` did,
    ties included (first seen first): the question order, and so the question count, stays the same."""
    rng = random.Random(11)
    for size in (1, 3, 5):
        for spread in (2, 6, 40):
            top, counter = TopCounts(size), Counter[int]()
            for _ in range(300):
                value = rng.randrange(-spread, spread)
                top.add(value)
                counter.update((value,))
                assert top.most_common() == counter.most_common(size)


def test_by_distance_orders_as_a_sort_by_distance_then_inode() -> None:
    """The walk outwards gives exactly the order the search's sort gave (the questions, and so the answers
    and their count, must not change): nearer first, the lower inode at equal distance, both sides."""
    from vnettop.collect.refs import by_distance

    rng = random.Random(7)
    for _ in range(2000):
        pool = set(rng.sample(range(1, 60), rng.randint(0, 25)))
        src = rng.randint(-5, 65)
        pool.discard(src)
        want = sorted(pool, key=lambda ns: (abs(ns - src), ns))
        assert list(by_distance(sorted(pool), src)) == want, (sorted(pool), src)
    assert list(by_distance([8, 12], 10)) == [8, 12]  # a tie: the lower first
    assert list(by_distance([1, 2, 3], 10)) == [3, 2, 1] and list(by_distance([11, 12], 10)) == [11, 12]


def test_likely_gives_the_order_of_a_fresh_sort_each_time() -> None:
    """`likely` keeps each candidate list sorted once and walks it; what it yields must be, call after call
    and as the partners' offsets are learnt, what the plain recipe gives: the offsets' guesses first (in
    the offsets' order), then the rest by distance, the lower inode at equal distance, never `src`."""
    from vnettop.collect.refs import _NsidMap

    def recipe(src: int, cands: list[int], offsets: list[int]) -> list[int]:
        pool = set(cands) - {src}
        out = []
        for offset in offsets:
            if src + offset in pool:
                pool.discard(src + offset)
                out.append(src + offset)
        return out + sorted(pool, key=lambda ns: (abs(ns - src), ns))

    rng = random.Random(11)
    moved = 0
    for _ in range(200):
        nsids: dict[tuple[int, int], int] = {}
        m = _NsidMap(lambda a, b, asked=nsids: asked.get((a, b)), list(range(100, 160)), [], {})
        lists = [[rng.randint(100, 160) for _ in range(rng.randint(0, 30))] for _ in range(4)]
        for _ in range(30):
            cands = rng.choice(lists)  # the same list objects again, as the resolver passes them
            src = rng.choice(cands) if cands and rng.random() < 0.5 else rng.randint(95, 165)
            want = recipe(src, cands, list(m._offsets.top))
            assert list(m.likely(src, cands)) == want, (src, cands, m._offsets.top)
            if rng.random() < 0.5:  # a partner found: the offsets (and so the guesses) move
                target = rng.randint(100, 160)
                nsids[(src, target)] = 5
                assert m.verify(src, target, 5)
                moved += 1
    assert moved > 1000  # the offsets did move along the way
