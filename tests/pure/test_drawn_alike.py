"""The details pane's parts and their drawing keys (`ui.drawn_alike`): a part is laid out again only when its
key changed, so two parts with one key must draw the very same lines, and the pane drawn part by part
must be the pane drawn whole.

Why it matters: a stale key would leave an old fact on screen (a device's state, its peer) while its
counters tick on below it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from rich.console import Console, Group
from rich.text import Text

from tests.fixtures_snapshots import QDHCP, compute_node
from vnettop.demo import demo_snapshot
from vnettop.demo_ovs import ovs_snapshot
from vnettop.model import Snapshot, Stats
from vnettop.ui.details_content import render_details
from vnettop.ui.drawn_alike import FactGrid, drawing_key, separable
from vnettop.ui.labels import fact_grid, fact_row
from vnettop.ui.rates import RateTracker
from vnettop.ui.targets import Target

WIDTHS = (24, 50, 90, 140)


def targets(snap: Snapshot) -> list[Target]:
    out = [Target.ns(ns.inode) for ns in snap.namespaces]
    out += [Target.link(*link.key) for link in snap.links]
    out += [Target.proc(ns.inode, p.pid) for ns in snap.namespaces for p in ns.processes]
    if snap.ovs is not None:
        out += [Target.ovs(i.uuid) for b in snap.ovs.bridges for p in b.ports for i in p.interfaces]
        out += [Target.ovs(p.uuid) for b in snap.ovs.bridges for p in b.ports]
    return out


def lines(console: Console, part: object, width: int) -> list[str]:
    drawn = console.render_lines(part, console.options.update_width(width), pad=False)  # type: ignore[arg-type]
    return ["".join(f"{seg.text}|{seg.style}" for seg in line) for line in drawn]


def test_the_pane_drawn_part_by_part_is_the_pane_drawn_whole() -> None:
    console = Console(width=200, color_system="truecolor", force_terminal=True)
    seen = 0
    for snap in (compute_node(), demo_snapshot(), ovs_snapshot()):
        for target in targets(snap):
            for full in (False, True):
                content = render_details(snap, target, None, full=full)
                if not isinstance(content, Group):
                    continue
                seen += 1
                for width in WIDTHS:
                    parts = [row for part in content.renderables for row in lines(console, part, width)]
                    assert parts == lines(console, content, width), (target, width)
    assert seen > 50


def later(snap: Snapshot, seconds: float, grow: int) -> Snapshot:
    """`snap` `seconds` later, every device's counters grown by `grow` times its index."""
    return replace(snap, taken_at=snap.taken_at + timedelta(seconds=seconds), links=tuple(
        replace(link, stats=replace(link.stats, rx_bytes=link.stats.rx_bytes + grow * link.ifindex,
                                    tx_bytes=link.stats.tx_bytes + 2 * grow))
        for link in snap.links))


def test_parts_with_one_key_draw_alike_and_keyed_parts_are_most() -> None:
    """Over every selection of three hosts, their lists capped and whole, their counters with rates and
    sparklines of a few ticks: whenever two parts share a key, they draw the same lines (with their
    styles) at every width; most parts have a key (else the pane would lay everything out each tick)."""
    console = Console(width=200, color_system="truecolor", force_terminal=True)
    by_key: dict[object, list[list[str]]] = {}
    keyed = total = 0
    for first in (compute_node(), demo_snapshot(), ovs_snapshot()):
        rates = RateTracker()
        ticks = [first, later(first, 1.0, 1000), later(first, 2.0, 5000), later(first, 3.0, 5000)]
        for snap in ticks:
            rates.feed(snap)
        shown = [(snap, target, full, tracker) for snap in (ticks[0], ticks[-1]) for target in targets(snap)
                 for full in (False, True) for tracker in (None, rates)]
        for snap, target, full, tracker in shown:
            content = render_details(snap, target, tracker, full=full)
            for part in content.renderables if isinstance(content, Group) else [content]:
                total += 1
                key = drawing_key(part)
                if key is None:
                    continue
                keyed += 1
                drawn = [lines(console, part, width) for width in WIDTHS]
                assert by_key.setdefault(key, drawn) == drawn, key
    assert keyed > 0.8 * total, (keyed, total)


def test_a_counters_tick_changes_the_key_of_the_counters_alone() -> None:
    snap = compute_node()
    target = Target.link(QDHCP, 2)
    rates = RateTracker()
    before = render_details(snap, target, rates)
    moved = replace(snap, links=tuple(replace(link, stats=Stats(rx_bytes=777_777, rx_packets=7))
                                      if link.key == (QDHCP, 2) else link for link in snap.links))
    after = render_details(moved, target, rates)
    assert isinstance(before, Group) and isinstance(after, Group)
    keys = [(drawing_key(a), drawing_key(b)) for a, b in zip(before.renderables, after.renderables, strict=True)]
    changed = [i for i, (a, b) in enumerate(keys) if a != b]
    assert len(changed) == 1 and len(keys) > 2, keys
    assert all(a is not None for a, _ in keys[:changed[0]])  # the facts above the counters: reusable


def test_what_a_grid_draws_is_in_its_key() -> None:
    def grid(*rows: tuple[str, str | Text]) -> FactGrid:
        g = fact_grid()
        for label, value in rows:
            fact_row(g, label, value)
        assert isinstance(g, FactGrid)
        return g

    one = drawing_key(grid(("state", "up"), ("mtu", "1500")))
    assert one is not None and one == drawing_key(grid(("state", "up"), ("mtu", "1500")))
    assert one != drawing_key(grid(("state", "up"), ("mtu", "9000")))
    assert one != drawing_key(grid(("state", "up")))
    assert one != drawing_key(grid(("state", Text("up", style="red")), ("mtu", "1500")))
    styled = Text("up")
    styled.stylize("bold", 0, 1)
    assert drawing_key(grid(("state", styled))) != drawing_key(grid(("state", Text("up"))))
    # a cell changed after it was added: the key is what is drawn now
    cell = Text("up")
    g = grid(("state", cell))
    was = drawing_key(g)
    cell.append(", no carrier")
    assert drawing_key(g) != was and drawing_key(g) == drawing_key(grid(("state", Text("up, no carrier"))))
    # a cell of a kind without a key, or a column added afterwards: the grid has none (drawn every time)
    g = grid(("state", "up"))
    g.add_row(Text("x"), Group(Text("y")))
    assert drawing_key(g) is None
    g = grid(("state", "up"))
    g.add_column()
    assert drawing_key(g) is None
    g = grid(("state", "up"))
    g.expand = True  # a setting changed once made
    assert drawing_key(g) is None
    g = grid(("state", "up"))
    g.add_row(Text("a"), Text("b"), Text("c"))  # a row wider than its columns (Rich adds one)
    assert drawing_key(g) is None


def test_a_part_that_runs_on_into_the_next_is_not_laid_out_alone() -> None:
    assert not separable(Text("a", end="")) and separable(Text("a")) and separable(fact_grid())
    assert not separable(Group(Text("a")))
