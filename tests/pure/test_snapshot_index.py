"""A snapshot's lookups (`link`, `links_in`, `namespace`, owners, OVS), and a later snapshot laid out alike
taking them over (`Snapshot.reuse_index`): the answers are always the asking snapshot's own objects."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.fixtures_snapshots import QDHCP, ROOT, chain, compute_node
from vnettop.model import Owner, Snapshot, Stats


def _counters_moved(snap: Snapshot, by: int) -> Snapshot:
    """The same snapshot a tick later: every device's counters moved, every Link a new object."""
    return replace(snap, links=tuple(replace(link, stats=Stats(rx_bytes=by, tx_bytes=by)) for link in snap.links))


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
    later.reuse_index(first)
    assert later._index is first._index
    for link in later.links:
        found = later.link(*link.key)
        assert found is link and found.stats.rx_bytes == 7
    assert later.links_in(QDHCP) == tuple(link for link in later.links if link.netns == QDHCP)
    assert all(link.stats.rx_bytes == 7 for link in later.links_in(QDHCP))
    assert later.namespace(QDHCP) is later.namespaces[[ns.inode for ns in later.namespaces].index(QDHCP)]
    # and the earlier one still answers with its own
    assert first.link(ROOT, 3) is next(link for link in first.links if link.key == (ROOT, 3))


def test_reuse_of_lookups_not_built_yet_builds_them_once_for_both() -> None:
    first = compute_node()
    later = _counters_moved(first, 3)
    later.reuse_index(first)
    assert later.link(ROOT, 3) is next(link for link in later.links if link.key == (ROOT, 3))
    assert first.link(ROOT, 3) is next(link for link in first.links if link.key == (ROOT, 3))


def test_owner_lookups_follow_the_sections() -> None:
    base = compute_node()
    owner = Owner(kind="vm", name="web-1", id="u1", runtime="libvirt", source="libvirt", exact=True,
                  links=((ROOT, 3),), namespaces=(QDHCP,))
    first = replace(base, owners=(owner,))
    assert first.owners_of_link((ROOT, 3)) == (owner,)
    assert first.owners_of_namespace(QDHCP) == (owner,)
    later = _counters_moved(first, 1)
    later.reuse_index(first)
    assert later.owners_of_link((ROOT, 3)) == (owner,)
    assert later.owners_of_link((ROOT, 4)) == ()


@pytest.mark.parametrize("change", ["fewer links", "other owners", "other first key", "fewer namespaces"])
def test_reuse_refuses_a_snapshot_laid_out_otherwise(change: str) -> None:
    first = compute_node()
    first.link(ROOT, 3)
    if change == "fewer links":
        other = replace(first, links=first.links[:-1])
    elif change == "other owners":
        other = replace(first, owners=(Owner(kind="vm", name="x", id="x", runtime="libvirt", source="x", exact=True),))
    elif change == "other first key":
        other = replace(first, links=(replace(first.links[0], ifindex=first.links[0].ifindex + 1000),
                                      *first.links[1:]))
    else:
        other = replace(first, namespaces=first.namespaces[:-1])
    with pytest.raises(ValueError, match="not laid out alike"):
        other.reuse_index(first)
    assert other._index is not first._index
