"""The topology tree measures each label once: its width must still follow every label change."""

from __future__ import annotations

from dataclasses import replace

from textual.widgets import Tree

from tests.fixtures_snapshots import ROOT, compute_node
from tests.ui.fakes import with_links
from tests.ui.helpers import SIZE, make_app, started, wait_for
from vnettop.model import Link
from vnettop.ui.targets import Target
from vnettop.ui.widgets.topology_tree import TopologyTree


def widest_line(tree: TopologyTree) -> int:
    """What Textual's own Tree measures (rendering each label), over every line shown."""
    lines = tree._tree_lines
    return max(Tree.get_label_width(tree, line.node) + line._get_guide_width(tree.guide_depth, tree.show_root)
               for line in lines)


async def test_the_trees_width_follows_relabels_and_new_lines() -> None:
    snap = compute_node()
    app, collector = make_app(snap, interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        tree = app.main_query(TopologyTree)
        assert tree.virtual_size.width == widest_line(tree)
        # A device renamed to a much longer name: the same shape, relabelled in place.
        first = snap.links[0]
        longer = replace(first, name="vnt" + "x" * 90)
        links = [longer if link is first else link for link in snap.links]
        relabels = tree.relabels
        collector.change(with_links(snap, links))
        await wait_for(pilot, lambda: tree.relabels > relabels)
        tree._refresh_lines_now()
        assert tree.virtual_size.width == widest_line(tree) > 90
        # Then a new device (the line list is rebuilt): still the width of the widest line.
        new = Link(ROOT, 77, "vntwide0", "bridge", "02:00:00:00:00:77", 1500, True, "up")
        collector.change(with_links(snap, [*links, new]))
        await wait_for(pilot, lambda: tree.has(Target.link(ROOT, 77)))
        await pilot.pause()
        assert tree.virtual_size.width == widest_line(tree)


async def test_labels_are_used_as_they_are_not_copied() -> None:
    snap = compute_node()
    app, _ = make_app(snap, interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        tree = app.main_query(TopologyTree)
        specs = {spec.target: spec for spec in tree._specs}
        node = tree._by_target[next(iter(specs))]
        assert node._label is specs[node.data].label
