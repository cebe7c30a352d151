"""A rates tick with a device selected: the details pane repaints only the lines that changed, and the new
snapshot takes over the last one's lookups instead of building them again (both were most of an idle
TUI's work at 1000 namespaces with a device selected)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rich.console import Group
from rich.text import Text
from textual.geometry import Region
from textual.pilot import Pilot
from textual.strip import Strip

from tests.fixtures_snapshots import QDHCP, ROOT, compute_node
from tests.ui.fakes import later, with_links
from tests.ui.helpers import make_app, started, wait_for
from vnettop.model import Snapshot, Stats
from vnettop.ui.app import VnettopApp
from vnettop.ui.targets import Target
from vnettop.ui.widgets.details import DetailsPane

VETH_B = Target.link(QDHCP, 2)


def _ticked(snap: Snapshot, rx: int) -> Snapshot:
    """`snap` a second later, veth-b's counters moved (nothing else)."""
    links = [replace(link, stats=Stats(rx_bytes=rx, rx_packets=rx // 100)) if link.key == (QDHCP, 2) else link
             for link in snap.links]
    return with_links(snap, links)


def _lines(pane: DetailsPane) -> list[str]:
    return ["".join(seg.text for seg in strip).rstrip() for strip in pane._strips]


async def _showing_veth_b(app: VnettopApp, pilot: Pilot[Any]) -> DetailsPane:
    """The app started, veth-b selected and its details drawn: the pane."""
    await started(pilot)
    app.jump_to(VETH_B)
    pane = app.main_query(DetailsPane)
    await wait_for(pilot, lambda: pane.target == VETH_B and pane.renders > 0)
    return pane


class _Repaints:
    """What the pane asked to repaint while it was watched: whole (no region) or line by line."""

    def __init__(self, pane: DetailsPane) -> None:
        self.pane = pane
        self.whole = 0
        self.lines: list[int] = []
        self._refresh, self._refresh_line = pane.refresh, pane.refresh_line

    def __enter__(self) -> _Repaints:
        def refresh(*regions: Region, **kwargs: Any) -> Any:
            if not regions:
                self.whole += 1
            return self._refresh(*regions, **kwargs)

        def refresh_line(y: int) -> None:
            self.lines.append(y)
            self._refresh_line(y)

        self.pane.refresh = refresh  # type: ignore[method-assign]
        self.pane.refresh_line = refresh_line  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        del self.pane.refresh, self.pane.refresh_line  # (the class's again)


async def test_a_rates_tick_repaints_only_the_lines_that_changed() -> None:
    first = compute_node()
    app, _ = make_app(first, interval=60.0)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _showing_veth_b(app, pilot)
        app.apply_snapshot(_ticked(app.snapshot, 1_000))  # (a first rate: the pane's rate lines appear)
        await pilot.pause()
        before = _lines(pane)
        with _Repaints(pane) as seen:
            app.apply_snapshot(_ticked(app.snapshot, 123_456_789))
        after = _lines(pane)
        differ = [y for y, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
        assert differ, "the counters shown changed"
        assert any("123" in after[y] for y in differ), after
        assert seen.whole == 0, "no repaint of the whole pane for a tick"
        assert set(differ) <= set(seen.lines) and len(seen.lines) < len(after), (differ, seen.lines)
        # and what the screen shows is the new text
        await pilot.pause()
        shown = [pane.render_line(y).text.rstrip() for y in range(pane.size.height)]
        assert any("123" in line for line in shown), shown


async def test_a_rates_tick_lays_out_the_counters_alone() -> None:
    """The device's facts, owner and commands drew what they drew a second ago: only the counters' grid
    is laid out again, and the lines kept are what laying out the whole pane gives."""
    first = compute_node()
    app, _ = make_app(first, interval=60.0)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _showing_veth_b(app, pilot)
        app.apply_snapshot(_ticked(app.snapshot, 1_000))
        await pilot.pause()
        console = app.console
        laid_out: list[object] = []  # what the pane asked to lay out (not the cells Rich lays out inside)
        render_lines = console.render_lines
        depth = [0]

        def counting(renderable: Any, *args: Any, **kwargs: Any) -> Any:
            if not depth[0]:
                laid_out.append(renderable)
            depth[0] += 1
            try:
                return render_lines(renderable, *args, **kwargs)
            finally:
                depth[0] -= 1

        console.render_lines = counting  # type: ignore[method-assign]
        try:
            app.apply_snapshot(_ticked(app.snapshot, 123_456_789))
        finally:
            del console.render_lines
        assert isinstance(pane.content, Group)
        parts = pane.content.renderables
        assert len(laid_out) == 1 and len(parts) > 3, (laid_out, parts)
        assert any(laid_out[0] is part for part in parts)
        whole = console.render_lines(pane.content, console.options.update_width(pane._width), pad=False)
        assert [list(Strip(line)) for line in whole] == [list(strip) for strip in pane._strips]  # (styles too)
        assert any("123" in strip.text for strip in pane._strips)


async def test_a_part_that_runs_on_into_the_next_is_drawn_with_it() -> None:
    """A content whose parts do not each end their own line is laid out whole, as a Group is drawn."""
    app, _ = make_app(compute_node(), interval=60.0)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _showing_veth_b(app, pilot)
        pane.show_other(Text("other"), Group(Text("first half, ", end=""), Text("second half")), key="x")
        assert _lines(pane) == ["first half, second half"]


def _on_screen(pane: DetailsPane) -> list[str]:
    """The pane's content lines as the screen gets them (through Textual's cache of drawn lines, which
    a repaint of some lines only leaves stale elsewhere), its border and padding left out."""
    width, height = pane.outer_size
    strips = pane.render_lines(Region(0, 0, width, height))
    return [strip.text[1:-1].strip() for strip in strips[1:-1]]


async def test_the_screen_shows_each_selection_whole() -> None:
    """Moving the selection from device to device (panes of as many lines repaint only the lines that
    differ, others whole) and ticking the counters: each time, every line on screen is the pane's."""
    snap = compute_node()
    app, _ = make_app(snap, interval=60.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot)
        pane = app.main_query(DetailsPane)
        partial = 0
        for rx, link in enumerate(snap.links):
            target = Target.link(*link.key)
            with _Repaints(pane) as seen:
                app.jump_to(target)
                await wait_for(pilot, lambda t=target: pane.target == t and pane._width > 0)  # type: ignore[misc]
                app.apply_snapshot(_ticked(app.snapshot, 1000 * (rx + 1)))
                await pilot.pause()
            partial += bool(seen.lines)
            lines = _lines(pane)
            shown = _on_screen(pane)
            visible = min(len(lines), len(shown))
            assert shown[:visible] == [line.strip() for line in lines[:visible]], target
        assert partial, "some moves repainted line by line (else this test proves nothing about them)"


async def test_a_counters_tick_reuses_the_snapshot_lookups() -> None:
    first = compute_node()
    app, _ = make_app(first, interval=60.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await _showing_veth_b(app, pilot)
        shown = app.snapshot
        assert shown is not None and shown._index is not None  # the details looked things up
        nxt = _ticked(shown, 5_000)
        app.apply_snapshot(nxt)
        assert nxt._index is shown._index
        assert nxt.link(QDHCP, 2).stats.rx_bytes == 5_000  # its own objects
        # a device renamed: laid out alike still (its lookups by position hold), its own objects
        renamed = later(nxt, links=tuple(replace(link, name="tap9") if link.key == (ROOT, 5) else link
                                         for link in nxt.links))
        app.apply_snapshot(renamed)
        assert renamed._index is shown._index and renamed.link(ROOT, 5).name == "tap9"
        # a device more: its own lookups
        grown = later(renamed, seconds=2.0, links=(*renamed.links, replace(renamed.links[-1], ifindex=99)))
        app.apply_snapshot(grown)
        assert grown._index is not shown._index and grown.link(grown.links[-1].netns, 99) is grown.links[-1]


async def test_a_device_replaced_in_the_middle_gets_lookups_of_its_own() -> None:
    """As many devices, the same first and last: only the whole comparison tells this layout apart."""
    first = compute_node()
    app, _ = make_app(first, interval=60.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await _showing_veth_b(app, pilot)
        shown = app.snapshot
        assert shown is not None and shown._index is not None
        links = list(shown.links)
        middle = len(links) // 2
        assert 0 < middle < len(links) - 1
        links[middle] = replace(links[middle], ifindex=links[middle].ifindex + 500, name="vnt-new")
        swapped = later(shown, links=tuple(links))
        app.apply_snapshot(swapped)
        assert swapped._index is not shown._index
        new = links[middle]
        assert swapped.link(new.netns, new.ifindex) is new
        assert all(swapped.link(*link.key) is link for link in swapped.links)
