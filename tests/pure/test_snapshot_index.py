"""A snapshot's lookups (`link`, `links_in`, `namespace`, owners, OVS), and a later snapshot laid out alike
taking them over (`Snapshot.reuse_index`): the answers are always the asking snapshot's own objects."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.fixtures_snapshots import QDHCP, ROOT, chain, compute_node
from vnettop.model import Owner, Snapshot, Stats


def _counters_moved(snap: Snapshot, by: int) -> Snapshot:
    """The same snapshot a tick later: every device's counters moved, every Link, Namespace and Owner a new
    (equal but for the counters) object, as a collector's next snapshot has them."""
    return replace(snap, links=tuple(replace(link, stats=Stats(rx_bytes=by, tx_bytes=by)) for link in snap.links),
                   namespaces=tuple(replace(ns) for ns in snap.namespaces),
                   owners=None if snap.owners is None else tuple(replace(o) for o in snap.owners))


def test_lookups_answer_as_a_scan_would() -> None:
    snap = chain(5)
    for link in snap.links:
        assert snap.link(*link.key) is link
    for ns in snap.namespaces:
        assert snap.namespace(ns.inode) is ns
        assert snap.links_in(ns.inode) == tuple(link for link in snap.links if link.netns == ns.inode)
    assert snap.link(ROOT, 99999) is None
    assert snap.namespace(1) is None
    assert snap.links_in(1) == ()


def test_links_not_sorted_by_key_are_still_found_in_order() -> None:
    """A snapshot from a file need not list its devices by key: one namespace's devices in two runs."""
    snap = compute_node()
    links = snap.links
    shuffled = (*links[1::2], *links[0::2])
    odd = replace(snap, links=shuffled)
    for ns in odd.namespaces:
        assert odd.links_in(ns.inode) == tuple(link for link in shuffled if link.netns == ns.inode)
    for link in shuffled:
        assert odd.link(*link.key) is link


def test_a_later_snapshot_reuses_the_lookups_and_gets_its_own_objects() -> None:
    first = compute_node()
    first.link(ROOT, 3)  # built here, once
    first.links_in(QDHCP)
    later = _counters_moved(first, 7)
    assert later.reuse_index(first)
    assert later._index is first._index
    for link in later.links:
        found = later.link(*link.key)
        assert found is link and found.stats.rx_bytes == 7
    assert later.links_in(QDHCP) == tuple(link for link in later.links if link.netns == QDHCP)
    assert all(link.stats.rx_bytes == 7 for link in later.links_in(QDHCP))
    own = later.namespaces[[ns.inode for ns in later.namespaces].index(QDHCP)]
    assert later.namespace(QDHCP) is own and own is not first.namespace(QDHCP)
    # and the earlier one still answers with its own
    assert first.link(ROOT, 3) is next(link for link in first.links if link.key == (ROOT, 3))


def test_reuse_of_lookups_not_built_yet_builds_them_once_for_both() -> None:
    first = compute_node()
    later = _counters_moved(first, 3)
    assert later.reuse_index(first, alike=True)
    assert later.link(ROOT, 3) is next(link for link in later.links if link.key == (ROOT, 3))
    assert first.link(ROOT, 3) is next(link for link in first.links if link.key == (ROOT, 3))
    assert later._index is first._index and first._index is not None and first._index._links is not None


def _with_owner(snap: Snapshot, name: str) -> Snapshot:
    owner = Owner(kind="vm", name=name, id="u1", runtime="libvirt", source="libvirt", exact=True,
                  links=((ROOT, 3),), namespaces=(QDHCP,))
    return replace(snap, owners=(owner,))


def test_owner_lookups_are_always_the_asking_snapshots_own() -> None:
    first = _with_owner(compute_node(), "web-1")
    assert [o.name for o in first.owners_of_link((ROOT, 3))] == ["web-1"]
    assert [o.name for o in first.owners_of_namespace(QDHCP)] == ["web-1"]
    first.link(ROOT, 3)
    # the very same sections: everything taken over
    same = replace(_counters_moved(first, 1), owners=first.owners)
    assert same.reuse_index(first)
    assert same._index is first._index
    assert same.owners is not None and same.owners_of_link((ROOT, 3))[0] is same.owners[0]
    # equal sections, other objects: the positions are taken over, the sections' lookups are its own
    equal = _counters_moved(first, 2)
    assert equal.owners == first.owners and equal.owners is not first.owners
    assert equal.reuse_index(first)
    assert equal._index is not first._index and equal._index is not None and first._index is not None
    assert equal._index._links is first._index._links  # (built by `first`, taken over)
    assert equal.owners is not None and equal.owners_of_link((ROOT, 3))[0] is equal.owners[0]
    assert equal.owners_of_namespace(QDHCP)[0] is equal.owners[0]
    # other sections
    renamed = _with_owner(_counters_moved(first, 3), "web-2")
    assert renamed.reuse_index(first)
    assert [o.name for o in renamed.owners_of_link((ROOT, 3))] == ["web-2"]
    assert renamed.link(ROOT, 3) is next(link for link in renamed.links if link.key == (ROOT, 3))
    assert [o.name for o in first.owners_of_link((ROOT, 3))] == ["web-1"]


@pytest.mark.parametrize("change", ["fewer links", "other first key", "fewer namespaces", "a key in the middle",
                                    "a namespace in the middle"])
def test_reuse_refuses_a_snapshot_laid_out_otherwise(change: str) -> None:
    first = compute_node()
    first.link(ROOT, 3)
    links, namespaces = list(first.links), list(first.namespaces)
    if change == "fewer links":
        links.pop()
    elif change == "other first key":
        links[0] = replace(links[0], ifindex=links[0].ifindex + 1000)
    elif change == "fewer namespaces":
        namespaces.pop()
    elif change == "a key in the middle":
        middle = len(links) // 2
        links[middle] = replace(links[middle], ifindex=links[middle].ifindex + 1000)
    else:
        middle = len(namespaces) // 2
        namespaces[middle] = replace(namespaces[middle], inode=namespaces[middle].inode + 1000)
    other = replace(first, links=tuple(links), namespaces=tuple(namespaces))
    assert not other.reuse_index(first)
    assert other._index is not first._index
    for link in other.links:
        assert other.link(*link.key) is link


def test_warm_index_builds_every_lookup() -> None:
    snap = _with_owner(compute_node(), "web-1")
    snap.warm_index()
    index = snap._index
    assert index is not None
    assert all(getattr(index, name) is not None for name in index.__slots__)
