"""A refresh that patches what changed shows what a fresh start over the same snapshot shows.

The app applies each snapshot incrementally: the tree model reuses unchanged namespaces' subtrees, the
tree widget patches namespace by namespace, rebuilds its line list for the changed namespaces only
and keeps drawn lines across refreshes, the header keeps its counts, the veth table reuses rows. Here
one app is fed a sequence of structural changes (devices added, removed and renamed in single
namespaces, a namespace gone and one come, a change at the very top that moves every line below it,
subtrees collapsed and expanded by the user meanwhile) and after each one its picture is compared
with an app started over that snapshot alone, and its line list with Textual's own full build.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from textual import events
from textual.strip import Strip
from textual.widgets import Tree

from tests.fixtures_snapshots import _link, chain
from tests.ui.fakes import later, with_links
from tests.ui.helpers import SIZE, make_app, screen_text, started, wait_for
from vnettop.model import Namespace, Snapshot
from vnettop.ui.app import TABLE_VIEWS, VnettopApp
from vnettop.ui.messages import SnapshotCollected
from vnettop.ui.targets import Target
from vnettop.ui.widgets.snapshot_table import SnapshotTable
from vnettop.ui.widgets.topology_tree import TopologyTree

BASE = 4026540000  # the first namespace of tests.fixtures_snapshots.chain


def tree_lines(tree: TopologyTree) -> list[tuple[object, ...]]:
    """Every line as the user would read it: the targets down to it, its label, whether it is the
    last of its siblings and expanded, and whether its node knows its own line number."""
    return [(tuple(node.data for node in line.path), line.last, line.node._label.plain,
             line.node.is_expanded, line.node._line == number)
            for number, line in enumerate(tree._tree_lines)]


def drawn(tree: TopologyTree) -> list[str]:
    """The text of every line of the tree as drawn now (through the kept drawn lines)."""
    width = tree.size.width
    style = tree.rich_style
    return [tree._render_line(y, 0, width, style).text for y in range(len(tree._tree_lines))]


def textuals_own_build(tree: TopologyTree) -> tuple[list[tuple[object, ...]], Any]:
    """The line list and virtual size Textual's Tree builds from the same nodes, all at once."""
    Tree._build(tree)
    built = tree_lines(tree), tree.virtual_size
    tree._invalidate()  # back to ours at the next look
    return built


def steps(base: Snapshot) -> list[Snapshot]:
    """Structural changes one after another, each from the one before."""
    out: list[Snapshot] = []
    links = list(base.links)
    # A device added in a namespace in the middle.
    links.append(_link(BASE + 5, 9, "vntnew9", "bridge"))
    out.append(with_links(base, sorted(links, key=lambda link: link.key), seconds=1))
    # A device renamed in another (same shape: a relabel), and a port removed in a third.
    links = [replace(link, name="vnt" + "r" * 40) if link.key == (BASE + 2, 1) else link for link in links]
    links = [link for link in links if link.key != (BASE + 8, 3)]
    out.append(with_links(base, sorted(links, key=lambda link: link.key), seconds=2))
    # A namespace gone (with its devices) and a new one at the end.
    gone = BASE + 3
    namespaces = [ns for ns in base.namespaces if ns.inode != gone]
    namespaces.append(Namespace(BASE + 99, ("vntlate",), False, ()))
    links = [link for link in links if link.netns != gone]
    links.append(_link(BASE + 99, 1, "lo", "loopback"))
    out.append(later(with_links(base, sorted(links, key=lambda link: link.key)), 3,
                     namespaces=tuple(namespaces)))
    # A device added in the first namespace: every line below it moves.
    links.append(_link(BASE, 7, "vnttop7", "dummy"))
    out.append(later(with_links(base, sorted(links, key=lambda link: link.key)), 4,
                     namespaces=tuple(namespaces)))
    # The device added first goes again.
    links = [link for link in links if link.key != (BASE + 5, 9)]
    out.append(later(with_links(base, sorted(links, key=lambda link: link.key)), 5,
                     namespaces=tuple(namespaces)))
    return out


async def fresh_picture(snap: Snapshot) -> tuple[list[tuple[object, ...]], Any, list[str], str,
                                                  dict[str, list[tuple[str, ...]]]]:
    """What an app started over `snap` alone shows: tree lines, virtual size, drawn text, header, tables."""
    app, _ = make_app(snap, interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        tree = app.main_query(TopologyTree)
        picture = tree_lines(tree), tree.virtual_size, drawn(tree), screen_text(app)
        return (*picture, await tables(app, pilot))


async def tables(app: VnettopApp, pilot: Any) -> dict[str, list[tuple[str, ...]]]:
    """Every table view's rows as text (each view shown once), back on the topology view after."""
    out: dict[str, list[tuple[str, ...]]] = {}
    for number, view in enumerate(TABLE_VIEWS, 2):
        await pilot.press(str(number))
        await wait_for(pilot, lambda v=view: app.view == v)
        await pilot.pause()
        table = app.main_query(f"#{view}", SnapshotTable)
        out[view] = [tuple(cell.plain for cell in table.get_row_at(i)) for i in range(table.row_count)
                     ] if view != "events" else []  # the events view is history, not the snapshot
    await pilot.press("1")
    await wait_for(pilot, lambda: app.view == "topology")
    await pilot.pause()
    return out


async def test_an_incremental_apply_shows_what_a_fresh_build_of_the_last_snapshot_shows() -> None:
    base = chain(12)
    app, collector = make_app(base, interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        tree = app.main_query(TopologyTree)
        await pilot.press("down", "down", "down")  # the cursor off the top, on a device of n0
        for number, snap in enumerate(steps(base)):
            polls = app.polls
            collector.change(snap)
            await wait_for(pilot, lambda p=polls: app.polls > p)
            await pilot.pause()
            ours = tree_lines(tree), tree.virtual_size, drawn(tree), screen_text(app)
            fresh = await fresh_picture(snap)
            assert ours == fresh[:4], f"step {number}"
            assert await tables(app, pilot) == fresh[4], f"step {number}"
            assert textuals_own_build(tree) == (tree_lines(tree), tree.virtual_size), f"step {number}"
        assert tree.patches >= 4  # patched, not rebuilt: the incremental path was the one compared


async def test_a_change_rebuilds_the_lines_of_its_namespace_only_and_user_collapses_are_kept() -> None:
    base = chain(12)
    app, collector = make_app(base, interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        tree = app.main_query(TopologyTree)
        # The user collapses the bridge of n4 and the whole of n6 (cursor on each, `left`).
        for target in (Target.link(BASE + 4, 1), Target.ns(BASE + 6)):
            assert tree.select_target(target)
            await pilot.press("left")
            await pilot.pause()
        assert textuals_own_build(tree) == (tree_lines(tree), tree.virtual_size)
        assert not tree._by_target[Target.ns(BASE + 6)].is_expanded
        # A device added in n5: its lines alone are built again; the collapsed ones stay collapsed.
        built = tree.segment_builds
        polls = app.polls
        collector.change(steps(base)[0])
        await wait_for(pilot, lambda: app.polls > polls)
        await pilot.pause()
        assert tree.has(Target.link(BASE + 5, 9))
        assert tree.segment_builds - built == 1
        assert textuals_own_build(tree) == (tree_lines(tree), tree.virtual_size)
        assert not tree._by_target[Target.ns(BASE + 6)].is_expanded
        assert not tree._by_target[Target.link(BASE + 4, 1)].is_expanded
        # Expanding again by key: the line list follows.
        assert tree.select_target(Target.ns(BASE + 6))
        await pilot.press("right")
        await pilot.pause()
        assert tree._by_target[Target.ns(BASE + 6)].is_expanded
        assert textuals_own_build(tree) == (tree_lines(tree), tree.virtual_size)


def drawn_fresh(tree: TopologyTree) -> list[Strip]:
    """Every line as Tree itself draws it now, with nothing kept from before (styles included)."""
    width = tree.size.width
    style = tree.rich_style
    tree._line_cache.clear()
    return [Tree._render_line(tree, y, 0, width, style) for y in range(len(tree._tree_lines))]


async def test_a_change_elsewhere_does_not_draw_again_the_lines_under_a_selected_namespace(
        monkeypatch: Any) -> None:
    """The cursor on a namespace: a device added in another namespace draws only the cursor's own line
    again (Tree sets its cursor again after every change of the line list), and every kept line is
    what Tree draws afresh, guides' styles included (the cursor moved on and off the namespace)."""
    base = chain(12)
    app, collector = make_app(base, interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        tree = app.main_query(TopologyTree)
        assert tree.select_target(Target.ns(BASE))
        await pilot.pause()
        drawn_again: list[int] = []
        own = Tree._render_line

        def counting(self: TopologyTree, y: int, *args: Any) -> Strip:
            drawn_again.append(y)
            return own(self, y, *args)

        monkeypatch.setattr(Tree, "_render_line", counting)
        polls = app.polls
        collector.change(with_links(base, sorted([*base.links, _link(BASE + 11, 9, "vntnew9", "bridge")],
                                                  key=lambda link: link.key), seconds=1))
        await wait_for(pilot, lambda: app.polls > polls)
        await pilot.pause()
        assert tree.has(Target.link(BASE + 11, 9))
        under_cursor = [y for y, line in enumerate(tree._tree_lines) if line.path[0].data == Target.ns(BASE)]
        assert len(under_cursor) > 1
        assert [y for y in drawn_again if y in under_cursor] == [tree.cursor_line]
        monkeypatch.setattr(Tree, "_render_line", own)
        for moves in (("down",), ("up",), ("down", "down")):
            await pilot.press(*moves)
            await pilot.pause()
            assert drawn(tree) == [strip.text for strip in drawn_fresh(tree)]
            width, style = tree.size.width, tree.rich_style
            kept = [tree._render_line(y, 0, width, style) for y in range(len(tree._tree_lines))]
            assert [list(s) for s in kept] == [list(s) for s in drawn_fresh(tree)]


def calls_in_order(monkeypatch: Any, *watched: tuple[object, str, str]) -> list[str]:
    """Each (object, method, tag): the method, patched to note its tag, then do what it did. The list of
    tags noted, in the order the calls came."""
    order: list[str] = []

    def noting(tag: str, method: Any) -> Any:
        def call(*args: Any) -> Any:
            order.append(tag)
            return method(*args)
        return call

    for obj, name, tag in watched:
        monkeypatch.setattr(obj, name, noting(tag, getattr(obj, name)))
    return order


async def test_a_key_that_comes_with_a_change_of_structure_is_answered_before_the_view_is_patched(
        monkeypatch: Any) -> None:
    """A cursor move queued right behind a snapshot that changes the structure moves the cursor of the
    tree as shown first; the tree is patched after it, and ends as a fresh build of that snapshot."""
    base = chain(12)
    changed = steps(base)[0]  # a device added in n5
    app, _ = make_app(base, interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        tree = app.main_query(TopologyTree)
        order = calls_in_order(monkeypatch, (tree, "show", "view"), (tree, "action_cursor_down", "key"))
        polls = app.polls
        app.post_message(SnapshotCollected(changed))
        app.post_message(events.Key("down", None))
        await wait_for(pilot, lambda: app.polls > polls and len(order) >= 2)
        await pilot.pause()
        assert order == ["key", "view"]
        assert tree.current_target == Target.link(BASE, 1)  # one line down from the top
        assert tree.has(Target.link(BASE + 5, 9))
        fresh = await fresh_picture(changed)
        assert (tree_lines(tree), tree.virtual_size, drawn(tree), screen_text(app)) == fresh[:4]


async def test_a_key_that_acts_on_the_selection_sees_the_view_of_the_newest_snapshot(
        monkeypatch: Any) -> None:
    """Any key but a cursor move or a view switch (here `/`) brings the view up to date first."""
    base = chain(12)
    app, _ = make_app(base, interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        tree = app.main_query(TopologyTree)
        order = calls_in_order(monkeypatch, (tree, "show", "view"), (app, "action_filter", "key"))
        app.post_message(SnapshotCollected(steps(base)[0]))
        app.post_message(events.Key("slash", "/"))
        await wait_for(pilot, lambda: len(order) >= 2)
        assert order == ["view", "key"]
        assert tree.has(Target.link(BASE + 5, 9))


async def test_kept_lines_follow_the_focus_and_the_theme() -> None:
    """Lines kept across a view switch (the tree loses and gets back the focus) and a theme change are
    what Tree draws afresh with the styles of the moment, and coming back draws no line again."""
    app, _ = make_app(chain(12), interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        tree = app.main_query(TopologyTree)
        await pilot.press("down")
        await pilot.pause()

        def kept() -> list[list[Any]]:
            width, style = tree.size.width, tree.rich_style
            return [list(tree._render_line(y, 0, width, style)) for y in range(len(tree._tree_lines))]

        focused = kept()
        assert focused == [list(strip) for strip in drawn_fresh(tree)]
        for theme in ("textual-light", "nord", app.theme):
            app.theme = theme
            await pilot.pause()
            assert kept() == [list(strip) for strip in drawn_fresh(tree)], theme
        # The cursor's own style changed alone (the widget's base style is the same).
        app.stylesheet.add_source("TopologyTree > .tree--cursor { background: red; }", read_from=("test", ""))
        app.refresh_css()
        await pilot.pause()
        assert kept() == [list(strip) for strip in drawn_fresh(tree)]
        assert kept() != focused
        await pilot.press("2")
        await wait_for(pilot, lambda: app.view == "bridges")
        await pilot.pause()
        assert not tree.has_focus
        blurred = kept()
        assert blurred == [list(strip) for strip in drawn_fresh(tree)]
        assert blurred != focused  # the cursor's line looks different without the focus
        misses = tree._strips.misses
        await pilot.press("1")
        await wait_for(pilot, lambda: app.view == "topology" and tree.has_focus)
        await pilot.pause()
        assert kept() == [list(strip) for strip in drawn_fresh(tree)]
        assert tree._strips.misses == misses  # every line drawn on coming back was a kept one


async def test_a_change_of_structure_is_drawn_whole_in_one_frame_when_no_key_waits() -> None:
    """The header (counts) and the view showing a change of structure are drawn in the same frame:
    no frame shows the new count over the old tree."""
    base = chain(12)
    changed = steps(base)[0]  # a device added in n5
    app, _ = make_app(base, interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        tree = app.main_query(TopologyTree)
        frames: list[tuple[bool, bool]] = []
        display = app._display
        count = f"links {len(changed.links)}"

        def noted(screen: Any, update: Any) -> None:
            display(screen, update)
            frames.append((count in screen_text(app), tree.has(Target.link(BASE + 5, 9))))

        app._display = noted  # type: ignore[method-assign]
        # Something else keeps the app busy a moment (the view update waits for it: 20 looks, ~40 ms),
        # time enough for a frame of its own if the screen drew one meanwhile.
        settled = app._key_order.settled
        looks = iter(range(20))
        app._key_order.settled = lambda **kw: next(looks, None) is None and settled(**kw)
        polls = app.polls
        app.post_message(SnapshotCollected(changed))
        await wait_for(pilot, lambda: app.polls > polls)
        await pilot.pause()
        assert next(looks, None) is None  # the view update did wait
        assert frames and frames[-1] == (True, True)
        assert all(header == view for header, view in frames), frames


async def test_a_snapshot_that_moved_only_counters_is_compared_with_the_last_once(monkeypatch: Any) -> None:
    """The app finds whether a snapshot changed more than counters once, and the event log takes that
    answer instead of comparing the same two snapshots again; a change of structure still makes its
    events."""
    import vnettop.ui.app as app_module
    import vnettop.ui.changes as changes_module

    calls: list[int] = []
    real = changes_module.same_structure

    def counting(a: Snapshot, b: Snapshot) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(app_module, "same_structure", counting)
    monkeypatch.setattr(changes_module, "same_structure", counting)
    snap = chain(3)
    app, _collector = make_app(snap)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        shown = app.snapshot
        assert shown is not None
        calls.clear()
        link = shown.links[0]
        moved = with_links(shown, [replace(link, stats=replace(link.stats, rx_bytes=link.stats.rx_bytes + 5)),
                                   *shown.links[1:]])
        app.apply_snapshot(moved)
        assert len(calls) == 1 and app.changes.last is moved
        total = app.changes.total
        renamed = with_links(moved, [replace(moved.links[0], name="vntrenamed"), *moved.links[1:]], seconds=2)
        app.apply_snapshot(renamed)
        assert app.changes.total > total  # the rename is an event


async def test_the_bridges_view_keeps_the_rows_of_bridges_no_change_touched_and_shows_those_it_did() -> None:
    """Coming back to the bridges table after a change elsewhere hands it the very same rows (nothing
    to measure or draw anew); after a port of a bridge was renamed, the table shows the new name."""
    from vnettop.demo import demo_snapshot

    base = demo_snapshot()
    bridge_ns = {link.netns for link in base.links if link.bridge is not None}
    elsewhere = next(link for link in base.links if link.netns not in bridge_ns)
    port = next(link for link in base.links if link.bridge_port is not None)
    app, _collector = make_app(base, interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        table = app.main_query("#bridges", SnapshotTable)
        await pilot.press("2")
        await wait_for(pilot, lambda: app.view == "bridges" and table.row_count > 0)
        first = list(table._rows)
        await pilot.press("1")
        await wait_for(pilot, lambda: app.view == "topology")
        app.apply_snapshot(with_links(base, [replace(elsewhere, admin_up=not elsewhere.admin_up)
                                             if link is elsewhere else link for link in base.links]))
        await pilot.press("2")
        await wait_for(pilot, lambda: app.view == "bridges")
        assert all(a is b for a, b in zip(first, table._rows, strict=True))
        await pilot.press("1")
        await wait_for(pilot, lambda: app.view == "topology")
        assert app.snapshot is not None
        app.apply_snapshot(with_links(app.snapshot, [replace(port, name="vntportx") if link.key == port.key
                                                     else link for link in app.snapshot.links], seconds=2))
        await pilot.press("2")
        await wait_for(pilot, lambda: app.view == "bridges")
        names = [str(table.get_row_at(i)[1]) for i in range(table.row_count)]
        assert "vntportx" in names and port.name not in names
