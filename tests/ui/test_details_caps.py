"""Long lists in the details pane stop after the first few (drawing hundreds of processes made every
keypress on the root namespace slow), `f` shows them whole, and the footer is not rebuilt by a view
switch (its keys do not depend on the focused view)."""

from __future__ import annotations

from dataclasses import replace

from rich.console import Console, RenderableType
from textual.color import Color

from tests.ui.helpers import SIZE, make_app, started, wait_for
from vnettop.demo import demo_snapshot
from vnettop.model import Process, Snapshot
from vnettop.ui.details_content import LIST_CAP, PROC_CAP, details_title, render_details
from vnettop.ui.targets import Target
from vnettop.ui.widgets.details import DetailsPane
from vnettop.ui.widgets.footer import KeyFooter

EXTRA = 40


def _busy_root() -> Snapshot:
    """The demo with EXTRA more interesting processes in the root namespace."""
    snap = demo_snapshot()
    root = snap.namespaces[0]
    procs = root.processes + tuple(Process(90000 + i, f"worker{i}", f"/usr/bin/worker{i} --serve",
                                           "root") for i in range(EXTRA))
    return replace(snap, namespaces=(replace(root, processes=procs), *snap.namespaces[1:]))


def _plain(renderable: RenderableType) -> str:
    console = Console(width=200)
    with console.capture() as cap:
        console.print(renderable)
    return cap.get()


def _text(snap: Snapshot, full: bool) -> str:
    return _plain(render_details(snap, Target.ns(snap.namespaces[0].inode), full=full))


def test_namespace_processes_are_capped_with_a_count_of_the_rest() -> None:
    snap = _busy_root()
    total = len(snap.namespaces[0].processes)
    capped = _text(snap, full=False)
    assert f"+{total - PROC_CAP} more processes" in capped
    assert "worker39" not in capped
    whole = _text(snap, full=True)
    assert "worker39" in whole and "more processes" not in whole


def test_namespace_device_names_are_capped() -> None:
    snap = demo_snapshot()
    root = snap.namespaces[0]
    many = tuple(replace(snap.links_in(root.inode)[0], ifindex=5000 + i, name=f"dev{i}")
                 for i in range(LIST_CAP + 5))
    big = replace(snap, links=snap.links + many)
    count = len(big.links_in(root.inode))
    assert f"+{count - LIST_CAP} more" in _text(big, full=False)
    assert f"dev{LIST_CAP + 4}" in _text(big, full=True)


async def test_f_shows_the_whole_list_until_the_selection_moves() -> None:
    app, _ = make_app(_busy_root())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        pane = app.main_query(DetailsPane)
        assert pane.target == Target.ns(app.snapshot.namespaces[0].inode)  # type: ignore[union-attr]
        assert "worker39" not in _plain(pane.content)
        await pilot.press("f")
        await wait_for(pilot, lambda: "worker39" in _plain(pane.content))
        await pilot.press("down")
        await wait_for(pilot, lambda: pane.target != Target.ns(app.snapshot.namespaces[0].inode))  # type: ignore[union-attr]
        await pilot.press("up")
        await wait_for(pilot, lambda: "more processes" in _plain(pane.content))


async def test_view_switch_does_not_rebuild_the_footer() -> None:
    app, _ = make_app(demo_snapshot())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        footer = app.main_query(KeyFooter)
        await wait_for(pilot, lambda: footer.rebuilds >= 1)
        before = footer.rebuilds
        keys = footer.shown
        for key in "2121":
            await pilot.press(key)
        await pilot.pause()
        assert app.view == "topology"
        assert footer.rebuilds == before
        assert footer.shown == keys


async def test_views_border_follows_focus_without_focus_within_css() -> None:
    """The accent border marks the focused panel (set by the app, not by :focus-within CSS)."""
    app, _ = make_app(demo_snapshot())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        views = app.main_query("#views")
        accent, primary = app.theme_variables["accent"], app.theme_variables["primary"]
        assert views.styles.border_top[1] == Color.parse(accent)
        app.main_query(DetailsPane).focus()
        await wait_for(pilot, lambda: views.styles.border_top[1] == Color.parse(primary))
        await pilot.press("2")
        await wait_for(pilot, lambda: views.styles.border_top[1] == Color.parse(accent))


async def test_cursor_moves_update_the_details_after_the_key() -> None:
    """Held arrows: the title names each selection, the body ends on where the cursor stopped."""
    app, _ = make_app(demo_snapshot())
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        pane = app.main_query(DetailsPane)
        for _ in range(4):
            await pilot.press("down")
        await wait_for(pilot, lambda: pane.target == app.current_target())
        assert pane.target is not None and pane.target.kind == "link"
        assert pane._title == details_title(app.snapshot, pane.target)  # type: ignore[arg-type]
