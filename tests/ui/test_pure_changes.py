"""The Events view's diff, the rate tracker, the filter and the tree model (pure, no terminal)."""

from __future__ import annotations

import random
from dataclasses import replace

from tests.fixtures_snapshots import QDHCP, ROOT, compute_node, cyclic
from tests.ui.fakes import later, with_links
from vnettop.model import Link, LinkRef, Stats
from vnettop.ui.changes import (
    ChangeLog,
    changed_namespaces,
    diff,
    merge_devices,
    same_devices,
    same_structure,
)
from vnettop.ui.filtering import Filter
from vnettop.ui.rates import RateTracker, human_rate, sparkline
from vnettop.ui.targets import Target, nearest_survivor
from vnettop.ui.tree_model import build, flatten


def _replace_link(links: tuple[Link, ...], key: tuple[int, int], **changes: object) -> list[Link]:
    return [replace(link, **changes) if link.key == key else link for link in links]  # type: ignore[arg-type]


def test_first_snapshot_and_equal_snapshot_have_no_events() -> None:
    snap = compute_node()
    assert diff(None, snap) == []
    assert diff(snap, later(snap, 5)) == []


def test_added_removed_and_state_changes() -> None:
    snap = compute_node()
    tap0 = snap.link(ROOT, 5)
    assert tap0 is not None
    new_link = Link(ROOT, 42, "vntnew", "bridge", "02:00:00:00:00:42", 1500, True, "up")
    links = [link for link in snap.links if link.key != (ROOT, 8)]  # tun0 goes
    links = [*_replace_link(tuple(links), tap0.key, admin_up=False, carrier=False), new_link]
    events = diff(snap, with_links(snap, links))
    whats = {(e.what, e.subject) for e in events}
    assert ("added", "vntnew") in whats
    assert ("removed", "tun0") in whats
    assert ("down", "tap0") in whats
    assert ("carrier off", "tap0") in whats
    added = next(e for e in events if e.what == "added")
    assert added.target == Target.link(ROOT, 42)
    assert next(e for e in events if e.what == "removed").target is None


def test_a_device_that_changes_namespace_is_reported_once_as_moved() -> None:
    snap = compute_node()
    tap0 = snap.link(ROOT, 5)
    assert tap0 is not None
    moved = replace(tap0, netns=QDHCP, ifindex=7, master=None, bridge_port=None)
    links = [link for link in snap.links if link.key != tap0.key] + [moved]
    events = diff(snap, with_links(snap, links))
    assert [(e.what, e.subject, e.detail) for e in events] == [("moved", "tap0", "from root")]
    assert events[0].where.startswith("qdhcp-")


def test_master_and_address_changes() -> None:
    snap = compute_node()
    links = _replace_link(snap.links, (ROOT, 5), master=None, bridge_port=None)
    links = _replace_link(tuple(links), (ROOT, 2), addresses=("192.0.2.10/24", "198.51.100.1/24"))
    events = {e.what: e for e in diff(snap, with_links(snap, links))}
    assert events["unbridged"].detail == "left br0"
    assert events["address"].detail == "+198.51.100.1/24"


def test_change_log_keeps_newest_first_and_is_bounded() -> None:
    log = ChangeLog(limit=3)
    snap = compute_node()
    log.feed(snap)
    for i in range(5):
        link = Link(ROOT, 100 + i, f"vnt{i}", "bridge", None, 1500, True, "up")
        snap = with_links(snap, [*snap.links, link])
        log.feed(snap)
    assert [e.subject for e in log.entries] == ["vnt4", "vnt3", "vnt2"]
    assert log.total == 5


def test_rates_come_from_counter_and_clock_deltas() -> None:
    snap = compute_node()
    tracker = RateTracker()
    tracker.feed(snap)
    em2 = snap.link(ROOT, 2)
    assert em2 is not None
    faster = _replace_link(snap.links, em2.key, stats=Stats(rx_bytes=em2.stats.rx_bytes + 2000,
                                                            tx_bytes=em2.stats.tx_bytes + 500))
    tracker.feed(with_links(snap, faster, seconds=2.0))
    series = tracker.get(em2.key)
    assert series is not None
    assert list(series.rx) == [1000.0] and list(series.tx) == [250.0]
    # Counters going backwards (device recreated) restart the history rather than go negative.
    tracker.feed(with_links(snap, list(snap.links), seconds=3.0))
    assert tracker.get(em2.key) is None
    assert human_rate(1_234_567) == "1.2 MB/s"
    assert sparkline([0, 5, 10]) == "▁▅█"


def test_filter_matches_name_kind_namespace_process_and_inverts() -> None:
    snap = compute_node()
    tap0 = Target.link(ROOT, 5)
    assert Filter.parse("tap0").matches(snap, tap0)
    assert Filter.parse("qemu").matches(snap, tap0)  # its holder's name
    assert Filter.parse("TAP").matches(snap, tap0)  # kind, case-insensitive
    assert Filter.parse("root").matches(snap, tap0)  # namespace label
    assert not Filter.parse("dnsmasq").matches(snap, tap0)
    assert Filter.parse("!dnsmasq").matches(snap, tap0)
    assert not Filter.parse("!tap0").matches(snap, tap0)
    assert Filter.parse("dnsmasq").matches(snap, Target.ns(QDHCP))


def test_tree_nests_ports_under_their_bridge_and_keeps_ancestors_of_matches() -> None:
    snap = compute_node()
    tree = build(snap)
    root = tree[0]
    assert root.target == Target.ns(ROOT)
    br0 = next(n for n in root.children if n.target == Target.link(ROOT, 3))
    assert [c.label.plain.split()[0] for c in br0.children] == ["tap0", "em2.100", "veth-a"]
    assert "⇄ veth-b @ qdhcp-" in br0.children[2].label.plain
    assert "qemu-kvm[7748] P2 fd 26" in br0.children[0].label.plain
    filtered = build(snap, Filter.parse("veth-b"))
    flat = [n.target for n in flatten(filtered)]
    assert flat == [Target.ns(QDHCP), Target.link(QDHCP, 2)]
    # A matching container shows everything in it.
    assert len(flatten(build(snap, Filter.parse("br0")))) == 1 + 1 + 3


def test_tree_terminates_on_a_snapshot_full_of_loops() -> None:
    snap = cyclic()
    assert {n.target.ident for n in flatten(build(snap)) if n.target.kind == "link"} == {1, 2, 3, 4}


def test_nearest_survivor_prefers_the_next_then_the_previous() -> None:
    order = ["a", "b", "c", "d"]
    assert nearest_survivor(order, "b", {"a", "c", "d"}) == "c"
    assert nearest_survivor(order, "d", {"a", "b"}) == "b"
    assert nearest_survivor(order, "x", {"c"}) == "c"
    assert nearest_survivor(order, "a", set()) is None


def test_unreadable_peer_is_shown_as_such() -> None:
    snap = compute_node()
    vethx = next(n for n in flatten(build(snap)) if n.target == Target.link(ROOT, 10))
    assert "unreadable" in vethx.label.plain
    assert LinkRef(ROOT, 1, None).name is None


def test_same_structure_ignores_counters_and_time_only() -> None:
    snap = compute_node()
    busy = _replace_link(snap.links, (ROOT, 2), stats=Stats(rx_bytes=10**9))
    assert same_structure(snap, with_links(snap, busy))
    down = _replace_link(snap.links, (ROOT, 2), admin_up=False)
    assert not same_structure(snap, with_links(snap, down))
    assert not same_structure(snap, later(snap, 1, namespaces=snap.namespaces[:2]))


def test_a_device_swapped_for_another_in_one_refresh_is_a_removal_and_an_addition() -> None:
    """The same number of devices is not the same devices: the identity walk must not pair them up."""
    old = compute_node()
    gone = old.links[-1]
    came = replace(gone, ifindex=gone.ifindex + 100, name="vntswap0")
    new = replace(old, links=(*old.links[:-1], came))
    assert same_devices(old.links, new.links) is None
    whats = {(c.what, c.subject) for c in diff(old, new)}
    assert ("removed", gone.name) in whats and ("added", "vntswap0") in whats
    changed = changed_namespaces(old, new)
    assert changed is not None and gone.netns in changed


def test_the_key_order_walk_finds_what_indexing_by_key_finds() -> None:
    """Devices come, go and change at random; the walk over both sorted tuples must give the pairs,
    arrivals and departures a key index gives, and the events and changed namespaces must be those of
    the same pictures handed over unsorted (which are indexed by key instead)."""
    rng = random.Random(5)
    base = compute_node()
    pool = [replace(base.links[i % len(base.links)], ifindex=500 + i, name=f"vntw{i}") for i in range(20)]
    old = base
    for _ in range(60):
        links = [lk for lk in old.links if rng.random() > 0.1]  # some go
        links = [replace(lk, admin_up=not lk.admin_up) if rng.random() < 0.1 else lk for lk in links]
        present = {lk.key for lk in links}
        links += [lk for lk in rng.sample(pool, 3) if lk.key not in present]  # some come
        new = replace(old, links=tuple(sorted(links, key=lambda lk: lk.key)))
        merged = merge_devices(old.links, new.links)
        assert merged is not None
        pairs, came, gone = merged
        before = {lk.key: lk for lk in old.links}
        after = {lk.key: lk for lk in new.links}
        assert [lk.key for lk in came] == [k for k in after if k not in before]
        assert [lk.key for lk in gone] == [k for k in before if k not in after]
        assert pairs == [(before[k], lk) for k, lk in after.items() if k in before and before[k] is not lk]
        shuffled = replace(new, links=new.links[::-1])
        assert merge_devices(old.links, shuffled.links) is None
        assert set(diff(old, new)) == set(diff(old, shuffled))
        assert changed_namespaces(old, new) == changed_namespaces(old, shuffled)
        old = new
