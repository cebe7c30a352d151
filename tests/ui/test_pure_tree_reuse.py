"""The tree builder and the veth and bridge tables reuse what a change cannot have touched (subtrees, rows), and
what they return is always what a fresh build of the same snapshot returns (pure: no terminal)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from tests.fixtures_snapshots import chain
from vnettop.demo import demo_snapshot
from vnettop.demo_ovs import OVNMETA, ovs_snapshot
from vnettop.model import Link, OvsStatistics, Process, Snapshot, TunHolder
from vnettop.ui.changes import changed_namespaces
from vnettop.ui.filtering import Filter
from vnettop.ui.ovs_rows import BridgesViewBuilder, all_bridge_rows
from vnettop.ui.rows import RowBuilder, VethRowsBuilder, bridge_rows, veth_rows
from vnettop.ui.tree_model import TreeBuilder, build


def _with_link(snap: Snapshot, old: Link, new: Link | None) -> Snapshot:
    links = [link for link in snap.links if link is not old]
    if new is not None:
        links.append(new)
    return replace(snap, links=tuple(sorted(links, key=lambda link: link.key)))


def _edits(link: Link) -> list[Link]:
    """Every kind of change a device can show in the tree."""
    return [replace(link, admin_up=not link.admin_up), replace(link, name=link.name + "x"),
            replace(link, addresses=(*link.addresses, "198.51.100.7/32"))]


def _same_as_fresh(builder: TreeBuilder, snap: Snapshot, flt: Filter) -> None:
    assert builder.build(snap, flt) == build(snap, flt)


@pytest.mark.parametrize("flt", [Filter(), Filter.parse("tap"), Filter.parse("!qdhcp")])
def test_every_single_device_change_gives_the_fresh_tree(flt: Filter) -> None:
    base = demo_snapshot()
    for link in base.links:
        for edited in _edits(link):
            builder = TreeBuilder()
            builder.build(base, flt)
            changed = _with_link(base, link, edited)
            _same_as_fresh(builder, changed, flt)
            # Back again: also the fresh tree of the original.
            _same_as_fresh(builder, base, flt)
        builder = TreeBuilder()
        builder.build(base, flt)
        _same_as_fresh(builder, _with_link(base, link, None), flt)  # the device removed


def test_a_change_in_one_namespace_reuses_the_others() -> None:
    base = demo_snapshot()
    qdhcp = next(ns for ns in base.namespaces if ns.names and ns.names[0].startswith("qdhcp-"))
    veth = next(link for link in base.links_in(qdhcp.inode) if link.kind == "veth")
    changed = _with_link(base, veth, replace(veth, admin_up=not veth.admin_up))
    assert changed_namespaces(base, changed) == {qdhcp.inode}
    builder = TreeBuilder()
    first = builder.build(base, Filter())
    second = builder.build(changed, Filter())
    assert builder.reused == len(base.namespaces) - 1
    unchanged = [a for a, b in zip(first, second, strict=True) if a is b]
    assert len(unchanged) == len(base.namespaces) - 1  # the very same objects (the widget skips them)


def test_a_tun_held_from_another_namespace_marks_the_holders_namespace() -> None:
    """A process lists what it holds: renaming a tun in namespace B changes a line of A, the holder's."""
    base = demo_snapshot()
    root = base.namespaces[0]
    other = next(ns for ns in base.namespaces if not ns.root)
    holder = root.processes[0]
    tun = next(link for link in base.links if link.tun is not None)
    moved = replace(tun, netns=other.inode, ifindex=900,
                    tun=replace(tun.tun, holders=(TunHolder(holder.pid, holder.comm, (7,)),)))  # type: ignore[arg-type]
    snap = _with_link(base, tun, moved)
    renamed = _with_link(snap, moved, replace(moved, name="vpn9"))
    assert changed_namespaces(snap, renamed) == {other.inode, root.inode}
    builder = TreeBuilder()
    builder.build(snap, Filter())
    _same_as_fresh(builder, renamed, Filter())
    assert builder.reused == len(base.namespaces) - 2


def test_a_process_change_rebuilds_its_namespace_and_those_with_taps_a_label_change_everything() -> None:
    """A namespace whose processes changed (a busy host: every second) is rebuilt with the namespaces
    holding tun/tap devices (their labels name the holders); a changed label (it names the namespace in
    every reference to it) or another filter rebuilds everything. Each time the same as a fresh build."""
    base = demo_snapshot()
    root = base.namespaces[0]
    more = replace(root, processes=(*root.processes, Process(4321, "nginx", "nginx -g daemon", "www")))
    changed = replace(base, namespaces=(more, *base.namespaces[1:]))
    with_taps = {link.netns for link in base.links if link.tun is not None}
    assert changed_namespaces(base, changed) == {root.inode} | with_taps
    builder = TreeBuilder()
    builder.build(base, Filter())
    _same_as_fresh(builder, changed, Filter())
    assert builder.reused == len(base.namespaces) - len({root.inode} | with_taps)
    _same_as_fresh(builder, changed, Filter.parse("nginx"))  # another filter: nothing reused
    assert builder.reused == 0
    _same_as_fresh(builder, changed, Filter.parse("nginx"))  # nothing changed: all reused
    assert builder.reused == len(base.namespaces)
    unnamed = next(ns for ns in base.namespaces if not ns.root)
    renamed = replace(unnamed, names=("vntrenamed",))
    relabelled = replace(base, namespaces=tuple(renamed if ns is unnamed else ns for ns in base.namespaces))
    assert changed_namespaces(base, relabelled) is None
    _same_as_fresh(builder, relabelled, Filter())
    assert builder.reused == 0


@pytest.mark.parametrize("flt", [Filter(), Filter.parse("nginx"), Filter.parse("!qdhcp")])
def test_pids_coming_and_going_rebuild_nothing_and_the_tree_is_still_the_fresh_one(flt: Filter) -> None:
    """The root namespace's pids change every second on a busy host; no tree line shows them (a label
    made of a pid does, and then it is a label change)."""
    base = demo_snapshot()
    root = base.namespaces[0]
    busier = replace(root, pids=(*root.pids, 99991, 99992), fds=())
    changed = replace(base, namespaces=(busier, *base.namespaces[1:]))
    assert changed_namespaces(base, changed) == frozenset()
    builder = TreeBuilder()
    builder.build(base, flt)
    _same_as_fresh(builder, changed, flt)
    assert builder.reused == len(base.namespaces)
    # A namespace known by a pid only: a new first pid renames it (in every reference to it).
    anon = replace(base.namespaces[1], names=(), mounts=(), root=False, pids=(5000,))
    snap = replace(base, namespaces=(root, anon, *base.namespaces[2:]))
    repid = replace(snap, namespaces=(root, replace(anon, pids=(4000, 5000)), *base.namespaces[2:]))
    assert changed_namespaces(snap, repid) is None
    builder.build(snap, flt)
    _same_as_fresh(builder, repid, flt)


def _reused_rows_are_fresh(builder_of: Callable[[], RowBuilder], fresh: RowBuilder, base: Snapshot,
                           flt: Filter) -> None:
    """After building `base`, a builder asked for any single-device edit of it (a removal too), or for it
    with one namespace's record gone while its devices are still listed (a race), returns what a fresh
    build returns; and back again."""
    variants = [_with_link(base, link, edited) for link in base.links for edited in [*_edits(link), None]]
    variants += [replace(base, namespaces=tuple(n for n in base.namespaces if n is not ns))
                 for ns in base.namespaces]
    for changed in variants:
        builder = builder_of()
        builder(base, flt)
        assert builder(changed, flt) == fresh(changed, flt)
        assert builder(base, flt) == fresh(base, flt)


@pytest.mark.parametrize("flt", [Filter(), Filter.parse("qdhcp"), Filter.parse("!tap")])
def test_veth_rows_reused_are_the_fresh_rows(flt: Filter) -> None:
    """The veth table keeps the rows of pairs whose namespaces did not change; whatever changes, what
    it returns is what a fresh build returns."""
    _reused_rows_are_fresh(VethRowsBuilder, veth_rows, demo_snapshot(), flt)


def test_veth_rows_of_untouched_namespaces_are_kept() -> None:
    base = demo_snapshot()
    pid_ns = next(ns for ns in base.namespaces if not ns.names and not ns.root)  # the docker container
    inner = next(link for link in base.links_in(pid_ns.inode) if link.kind == "veth")
    builder = VethRowsBuilder()
    first = builder(base, Filter())
    assert len(first) >= 2
    second = builder(_with_link(base, inner, replace(inner, admin_up=not inner.admin_up)), Filter())
    assert builder.reused == len(first) - 1  # only the docker pair's row was made again
    assert sum(a is b for a, b in zip(first, second, strict=True)) == len(first) - 1


def _ovs_bridge_without_devices() -> Snapshot:
    """The OVS host with br-tun's internal port left out: a bridge of patch and tunnel ports only, whose
    rows depend on no device (only on where it is shown: its home namespace's label)."""
    snap = ovs_snapshot()
    assert snap.ovs is not None
    bridges = tuple(replace(b, ports=tuple(p for p in b.ports if not any(i.link for i in p.interfaces)))
                    if b.name == "br-tun" else b for b in snap.ovs.bridges)
    return replace(snap, ovs=replace(snap.ovs, bridges=bridges))


@pytest.mark.parametrize("make", [demo_snapshot, lambda: chain(4), ovs_snapshot, _ovs_bridge_without_devices],
                         ids=["demo", "chain", "ovs", "ovs-no-device"])
@pytest.mark.parametrize("flt", [Filter(), Filter.parse("tap"), Filter.parse("!qdhcp"), Filter.parse("n2")])
def test_bridge_rows_reused_are_the_fresh_rows(make: Callable[[], Snapshot], flt: Filter) -> None:
    """The bridges table keeps the rows of bridges whose namespace did not change; whatever changes
    (a port, a bridge, a device elsewhere, one removed, a namespace's record gone while its devices are
    still listed), what it returns is what a fresh build returns. The demo's bridges are all in root;
    the chain has one in each namespace; the OVS host's are OVS bridges, whose ports' devices are in root
    and in a namespace of their own."""
    base = make()
    assert all_bridge_rows(base, Filter())  # bridges with ports
    _reused_rows_are_fresh(BridgesViewBuilder, all_bridge_rows, base, flt)


def test_bridge_rows_of_untouched_namespaces_are_kept_and_a_port_change_rebuilds_its_bridge() -> None:
    base = chain(4)  # a bridge in each of n0..n3, joined by veth pairs
    n2 = next(ns for ns in base.namespaces if ns.names == ("n2",))
    port = next(link for link in base.links_in(n2.inode) if link.name == "left")
    builder = BridgesViewBuilder()
    first = builder(base, Filter())
    renamed = _with_link(base, port, replace(port, name="vntleft"))
    second = builder(renamed, Filter())
    assert second == bridge_rows(renamed, Filter())
    assert builder.reused == 3  # n2's bridge alone was built again
    kept = [a is b for a, b in zip(first, second, strict=True)]
    assert kept.count(False) == 3  # n2's group: its bridge's row and its two ports'
    elsewhere = _with_link(renamed, base.links[0], None)  # n0's bridge removed
    assert builder(elsewhere, Filter()) == bridge_rows(elsewhere, Filter())
    assert builder.reused == 3
    assert builder(elsewhere, Filter.parse("n2")) == bridge_rows(elsewhere, Filter.parse("n2"))
    assert builder.reused == 0  # another filter: nothing reused
    demo = demo_snapshot()  # every bridge in root: a change in another namespace reuses them all
    bridges = [link for link in demo.links if link.bridge is not None]
    other = next(link for link in demo.links if link.netns not in {br.netns for br in bridges})
    builder(demo, Filter())
    builder(_with_link(demo, other, replace(other, admin_up=not other.admin_up)), Filter())
    assert builder.reused == len(bridges)


@pytest.mark.parametrize("flt", [Filter(), Filter.parse("qdhcp")])
def test_a_namespace_coming_or_going_rebuilds_only_what_refers_to_it(flt: Filter) -> None:
    """A namespace that appears (even one other devices already referred to by inode) or disappears
    (with its devices) gives the fresh tree, reusing the subtrees nothing in them refers to."""
    base = demo_snapshot()
    for ns in base.namespaces[1:]:
        without = replace(base, namespaces=tuple(n for n in base.namespaces if n is not ns))
        builder = TreeBuilder()
        builder.build(base, flt)
        _same_as_fresh(builder, without, flt)  # found no more, its devices still listed (a race)
        gone = replace(without, links=tuple(lk for lk in base.links if lk.netns != ns.inode))
        _same_as_fresh(builder, gone, flt)
        _same_as_fresh(builder, base, flt)  # back: its devices and those naming it by label again
        assert changed_namespaces(gone, base) is not None


def test_ovs_bridge_rows_are_kept_until_their_entry_or_their_devices_namespace_changes() -> None:
    """An OVS bridge keeps its rows across new counters (OVSDB's statistics or the kernel's) and changes of
    devices in namespaces none of its devices is in; a change of its OVSDB entry rebuilds it alone, a change in the
    namespace of one of its devices rebuilds it. Both bridges of the OVS host have devices in root (their
    internal ports, br-int's taps); the ovnmeta namespace holds none of theirs."""
    base = ovs_snapshot()
    assert base.ovs is not None
    bridges = len(base.ovs.bridges)
    br_int = next(b for b in base.ovs.bridges if b.name == "br-int")
    builder = BridgesViewBuilder()
    first = builder(base, Filter())
    counters = replace(base, ovs=replace(base.ovs, statistics=OvsStatistics({}, 1.0)),
                       links=tuple(replace(link, stats=replace(link.stats, rx_bytes=link.stats.rx_bytes + 1))
                                   for link in base.links))
    second = builder(counters, Filter())
    assert builder.reused == bridges and all(a is b for a, b in zip(first, second, strict=True))
    inner = next(link for link in counters.links if link.netns == OVNMETA and link.kind == "veth")
    elsewhere = _with_link(counters, inner, replace(inner, admin_up=not inner.admin_up))
    assert builder(elsewhere, Filter()) == all_bridge_rows(elsewhere, Filter())
    assert builder.reused == bridges  # nothing of theirs is in ovnmeta
    tap = next(link for link in elsewhere.links if link.kind == "tap")  # a VM's port on br-int, in root
    downed = _with_link(elsewhere, tap, replace(tap, admin_up=not tap.admin_up))
    assert builder(downed, Filter()) == all_bridge_rows(downed, Filter())
    assert builder.reused == 0  # both have a device in root
    port = br_int.ports[0]
    retagged = replace(downed, ovs=replace(base.ovs, bridges=tuple(
        replace(b, ports=(replace(port, tag=(port.tag or 0) + 7), *b.ports[1:])) if b is br_int else b
        for b in base.ovs.bridges)))
    assert builder(retagged, Filter()) == all_bridge_rows(retagged, Filter())
    assert builder.reused == bridges - 1  # br-int's entry changed, br-tun's did not
