"""Pilot tests of the live loop: early refresh on change, pause, refresh now, state kept across
refreshes, vanished selections, and redraws skipped when nothing changed."""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

from tests.fixtures_snapshots import QDHCP, ROOT, compute_node
from tests.ui.fakes import FakeCollector, later, with_links
from tests.ui.helpers import SIZE, details_text, make_app, screen_text, started, wait_for
from vnettop.model import Link, Namespace, Snapshot, Stats
from vnettop.ui.app import build_app
from vnettop.ui.pacing import BURST, EVENT_SETTLE, MIN_GAP
from vnettop.ui.targets import Target
from vnettop.ui.widgets.snapshot_table import SnapshotTable
from vnettop.ui.widgets.topology_tree import TopologyTree

NEW = Link(ROOT, 50, "vntnew0", "bridge", "02:00:00:00:00:50", 1500, True, "up")


async def test_a_change_shows_on_the_collectors_event_without_waiting_for_the_interval() -> None:
    # The interval is a minute: only the change event can bring the new device in time.
    snap = compute_node()
    app, collector = make_app(snap, interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        tree = app.main_query(TopologyTree)
        assert not tree.has(Target.link(ROOT, 50))
        collector.change(with_links(snap, [*snap.links, NEW]))
        await wait_for(pilot, lambda: tree.has(Target.link(ROOT, 50)))
        assert collector.max_concurrent == 1


class _Timed(FakeCollector):
    """Notes when each collection starts."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__(snapshot)
        self.started: list[float] = []

    def collect(self) -> Snapshot:
        self.started.append(time.monotonic())
        return super().collect()


async def test_a_lone_event_right_after_a_collection_is_collected_after_the_settle_delay_only() -> None:
    # A fixed minimum gap between collections made a change that came just after one wait ~0.3 s.
    snap = compute_node()
    collector = _Timed(snap)
    app = build_app(collector, None, read_only=True, interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await wait_for(pilot, lambda: collector.waits > 0)  # the next poll is waiting: right after a collect
        t0 = time.monotonic()
        collector.change(with_links(snap, [*snap.links, NEW]))
        await wait_for(pilot, lambda: len(collector.started) > 1)
        assert collector.started[1] - t0 < (EVENT_SETTLE + MIN_GAP) / 2


async def test_a_storm_of_events_is_still_spaced_out() -> None:
    snap = compute_node()
    collector = _Timed(snap)
    app = build_app(collector, None, read_only=True, interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        for i in range(8):  # a change the moment each collection is shown: events back to back
            polls = app.polls
            links = [*snap.links, replace(NEW, ifindex=60 + i, name=f"vntnew{i}")]
            collector.change(with_links(snap, links))
            await wait_for(pilot, lambda p=polls: app.polls > p)
        at = collector.started[1:]
        # A token bucket: in any stretch of the storm, at most BURST collections more than one per MIN_GAP
        # (a little slack for timers). A slow frame lets tokens come back, so a pause may be followed by
        # two quick ones again: what must hold is the rate, not each gap.
        assert all(j - i <= BURST + (at[j] - at[i]) / (MIN_GAP * 0.9)
                   for i in range(len(at)) for j in range(i + 1, len(at))), \
            [round(b - a, 3) for a, b in itertools.pairwise(at)]


class _Partial(_Timed):
    """A collector that can collect the changes only (`LiveCollector.collect_changes`): notes which kind
    each collection was, and when it started."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__(snapshot)
        self.kinds: list[str] = []

    def collect(self) -> Snapshot:
        self.kinds.append("full")
        return super().collect()

    def collect_changes(self) -> Snapshot:
        self.kinds.append("changes")
        return _Timed.collect(self)


def _partial_app(interval: float) -> tuple[Any, _Partial, Snapshot]:
    """The app over a `_Partial` collector of the compute node, read-only, at `interval`."""
    snap = compute_node()
    collector = _Partial(snap)
    return build_app(collector, None, read_only=True, interval=interval), collector, snap


async def test_an_event_collects_the_changes_only_and_r_and_the_interval_collect_everything() -> None:
    app, collector, snap = _partial_app(60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert collector.kinds == ["full"]
        await wait_for(pilot, lambda: collector.waits > 0)
        collector.change(with_links(snap, [*snap.links, NEW]))
        tree = app.main_query(TopologyTree)
        await wait_for(pilot, lambda: tree.has(Target.link(ROOT, 50)))
        assert collector.kinds == ["full", "changes"]
        await pilot.press("r")
        await wait_for(pilot, lambda: len(collector.kinds) == 3)
        assert collector.kinds[2] == "full"


async def test_the_interval_counts_from_the_last_collect_of_everything() -> None:
    # A collection of the changes only does not put the next collection of everything off: that one comes
    # an interval after the last one of everything began (its own wakeup, no event), not an interval after
    # the changes.
    interval = 2.0
    app, collector, snap = _partial_app(interval)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await wait_for(pilot, lambda: collector.waits > 0)
        await pilot.pause(0.25 * interval)  # (the event a quarter into the interval)
        collector.change(with_links(snap, [*snap.links, NEW]))
        await wait_for(pilot, lambda: len(collector.kinds) >= 3, timeout=10.0)
        assert collector.kinds[:3] == ["full", "changes", "full"]
        at = collector.started
        assert at[1] - at[0] < interval
        assert at[2] - at[0] < interval + 0.5, [round(t - at[0], 3) for t in at]  # (not 1.25 intervals)


class _FailingFull(_Partial):
    """Its collections of everything fail after the first (a collector that keeps raising)."""

    def collect(self) -> Snapshot:
        if self.kinds:
            self.kinds.append("failed")
            raise OSError(24, "Too many open files")
        return super().collect()


async def test_a_failing_collect_of_everything_is_not_retried_back_to_back() -> None:
    # After a collection of the changes only, the next one of everything is due; if it fails, the one after
    # waits an interval as after any failure, instead of being due again at once (a loop of failures).
    snap = compute_node()
    collector = _FailingFull(snap)
    interval = 1.0
    app = build_app(collector, None, read_only=True, interval=interval)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await wait_for(pilot, lambda: collector.waits > 0)
        collector.change(with_links(snap, [*snap.links, NEW]))
        await wait_for(pilot, lambda: "failed" in collector.kinds, timeout=5.0)
        await pilot.pause(0.5 * interval)
        assert collector.kinds.count("failed") == 1, collector.kinds


async def test_a_steady_stream_of_events_still_gets_a_collect_of_everything_each_interval() -> None:
    # The check of every namespace (what catches a missed event) must not be put off by events that keep
    # every wait short: once an interval has passed since the last collect of everything, the next
    # collection an event starts is one.
    interval = 0.5
    app, collector, snap = _partial_app(interval)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        for i in range(12):  # a change the moment each collection is shown: no wait ever lasts an interval
            polls = app.polls
            links = [*snap.links, replace(NEW, ifindex=60 + i, name=f"vntnew{i}")]
            collector.change(with_links(snap, links))
            await wait_for(pilot, lambda p=polls: app.polls > p)
        kinds, at = collector.kinds, collector.started
        assert "changes" in kinds[1:] and kinds[1:].count("full") >= 2, kinds
        fulls = [t for k, t in zip(kinds, at, strict=True) if k == "full"] + [at[-1]]
        # (the storm spacing of MIN_GAP, plus slack for timers on a busy machine)
        assert all(b - a <= interval + MIN_GAP + 0.4 for a, b in itertools.pairwise(fulls)), \
            list(zip(kinds, [round(t - at[0], 3) for t in at], strict=True))


async def test_the_header_counts_follow_devices_and_counter_only_ticks_keep_them() -> None:
    snap = compute_node()
    app, collector = make_app(snap, interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert "links 14 · br 1 ·" in screen_text(app)
        polls = app.polls
        # Counters only (new Link objects, same devices): the counts are carried over, still right.
        moved = [replace(lk, stats=Stats(lk.stats.rx_bytes + 1, 0)) for lk in snap.links]
        collector.change(with_links(snap, moved))
        await wait_for(pilot, lambda: app.polls > polls)
        assert "links 14 · br 1 ·" in screen_text(app)
        # A bridge more, then a veth turned into a bridge (same number of devices): counted again.
        collector.change(with_links(snap, [*moved, NEW]))
        await wait_for(pilot, lambda: "links 15 · br 2 ·" in screen_text(app))
        veth = next(lk for lk in moved if lk.kind == "veth")
        again = [replace(lk, kind="bridge") if lk is veth else lk for lk in moved]
        collector.change(with_links(snap, [*again, NEW]))
        await wait_for(pilot, lambda: "links 15 · br 3 · veth 4 ·" in screen_text(app))


async def test_selection_expansion_and_filter_survive_refreshes() -> None:
    snap = compute_node()
    app, collector = make_app(snap, interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        tree = app.main_query(TopologyTree)
        app.jump_to(Target.link(QDHCP, 2))
        qdhcp = next(n for n in tree.root.children if n.data == Target.ns(QDHCP))
        root_node = next(n for n in tree.root.children if n.data == Target.ns(ROOT))
        root_node.collapse()
        await pilot.press("slash", *"veth", "enter")
        polls = app.polls
        collector.change(with_links(snap, [*snap.links, replace(NEW, name="veth-new", kind="veth")]))
        await wait_for(pilot, lambda: app.polls > polls)
        assert tree.current_target == Target.link(QDHCP, 2)
        assert app.filter.text == "veth"
        new_root = next(n for n in tree.root.children if n.data == Target.ns(ROOT))
        assert not new_root.is_expanded
        assert Target.link(ROOT, 50) in tree.order()
        assert qdhcp.data == Target.ns(QDHCP)


async def test_a_vanished_selection_moves_to_its_neighbour_with_a_notice() -> None:
    snap = compute_node()
    app, collector = make_app(snap, interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(Target.link(ROOT, 8))  # tun0
        collector.change(with_links(snap, [link for link in snap.links if link.key != (ROOT, 8)]))
        await wait_for(pilot, lambda: app.current_target() != Target.link(ROOT, 8))
        assert app.current_target() == Target.link(ROOT, 9)  # vethc1, just below it
        assert any("selection gone" in n.message for n in app._notifications)


async def test_vanished_row_in_a_table_falls_back_too() -> None:
    snap = compute_node()
    app, collector = make_app(snap, interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("4", "down")
        table = app.main_query("#tuntap", SnapshotTable)
        assert table.current_target == Target.link(ROOT, 8)
        collector.change(with_links(snap, [link for link in snap.links if link.key != (ROOT, 8)]))
        await wait_for(pilot, lambda: table.row_count == 2)
        assert table.current_target == Target.link(ROOT, 11)


async def test_space_pauses_and_r_refreshes_once() -> None:
    snap = compute_node()
    app, collector = make_app(snap, interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("space")
        assert "paused" in screen_text(app)
        await wait_for(pilot, lambda: not app._polling)
        polls = app.polls
        collector.change(with_links(snap, [*snap.links, NEW]))
        await pilot.pause(0.3)
        assert app.polls == polls
        assert not app.main_query(TopologyTree).has(Target.link(ROOT, 50))
        await pilot.press("r")
        await wait_for(pilot, lambda: app.main_query(TopologyTree).has(Target.link(ROOT, 50)))
        assert app.polls == polls + 1 and app.paused
        await pilot.press("space")
        await wait_for(pilot, lambda: app.polls > polls + 2)
        assert "live" in screen_text(app)


async def test_r_wakes_a_waiting_poll_at_once() -> None:
    snap = compute_node()
    app, collector = make_app(snap, interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        polls = app.polls
        await pilot.press("r")
        await wait_for(pilot, lambda: app.polls > polls)
        assert collector.max_concurrent == 1


async def test_equal_snapshots_redraw_nothing_and_label_changes_relabel_in_place() -> None:
    snap = compute_node()
    app, collector = make_app(snap, interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        tree = app.main_query(TopologyTree)
        rebuilds, relabels = tree.rebuilds, tree.relabels
        polls = app.polls
        collector.change(later(snap, 1))  # equal: only taken_at differs
        await wait_for(pilot, lambda: app.polls > polls)
        assert (tree.rebuilds, tree.relabels) == (rebuilds, relabels)
        # tap0 goes down: same shape, one label changes, no rebuild.
        links = [replace(link, admin_up=False) if link.key == (ROOT, 5) else link for link in snap.links]
        polls = app.polls
        collector.change(with_links(snap, links, seconds=2))
        await wait_for(pilot, lambda: app.polls > polls)
        assert tree.rebuilds == rebuilds and tree.relabels == relabels + 1
        # A new namespace: that namespace is inserted, the rest of the tree is left alone.
        extra = Namespace(4026539999, ("vntextra",), False, (9999,))
        polls, patches = app.polls, tree.patches
        collector.change(later(snap, 3, namespaces=(*snap.namespaces, extra)))
        await wait_for(pilot, lambda: app.polls > polls)
        assert tree.rebuilds == rebuilds and tree.patches == patches + 1
        assert tree.has(Target.ns(4026539999))


async def test_details_show_rates_and_a_sparkline_from_counter_deltas() -> None:
    snap = compute_node()
    app, collector = make_app(snap, interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(Target.link(ROOT, 2))  # em2
        for i in range(1, 4):
            links = [replace(link, stats=Stats(rx_bytes=1200 + i * 1_000_000, tx_bytes=3400))
                     if link.key == (ROOT, 2) else link for link in snap.links]
            polls = app.polls
            collector.change(with_links(snap, links, seconds=float(i)))
            await wait_for(pilot, lambda p=polls: app.polls > p)
        body = details_text(app)
        assert "1.0 MB/s" in body
        assert "▁" in body or "█" in body
        assert "ip -d link show em2" in body


async def test_events_view_lists_changes_newest_first() -> None:
    snap = compute_node()
    app, collector = make_app(snap, interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("6")
        table = app.main_query("#events", SnapshotTable)
        second = with_links(snap, [*snap.links, NEW])
        collector.change(second)
        await wait_for(pilot, lambda: table.row_count == 1)
        collector.change(with_links(second, [link for link in second.links if link.key != (ROOT, 8)]))
        await wait_for(pilot, lambda: table.row_count == 2)
        first_row = table.get_row_at(0)
        assert str(first_row[1]) == "removed" and str(first_row[2]) == "tun0"
        assert table.current_target is None or table.current_target.kind == "link"


class PacedCollector(FakeCollector):
    """A fake live collector that, like `LiveCollector`, can be told whose counters to keep current."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__(snapshot)
        self.paced: list[tuple[int, frozenset[int]]] = []

    def pace_counters(self, current: tuple[int, ...] = (), every: int = 5) -> None:
        self.paced.append((every, frozenset(current)))


async def test_the_selected_devices_counters_are_kept_current_and_older_ones_say_so() -> None:
    """The app asks a live collector to read the selected device's namespace on every refresh (the
    rest on a slower cadence), follows the selection, and the details say when a device's counters
    are from an earlier read (`Snapshot.counters_behind`) until they are current again."""
    snap = compute_node()
    collector = PacedCollector(snap)
    app = build_app(collector, read_only=True, interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        app.jump_to(Target.link(QDHCP, 2))
        await wait_for(pilot, lambda: collector.paced and collector.paced[-1][1] == {QDHCP})
        assert all(every > 1 for every, _ in collector.paced)
        app.jump_to(Target.link(ROOT, 2))
        await wait_for(pilot, lambda: collector.paced[-1][1] == {ROOT})
        polls = app.polls
        collector.change(later(snap, 3.0, counters_behind={ROOT: snap.taken_at + timedelta(seconds=1)}))
        await wait_for(pilot, lambda: app.polls > polls
                       and "as read 2 s before this refresh" in details_text(app))
        polls = app.polls
        collector.change(later(snap, 4.0))
        await wait_for(pilot, lambda: app.polls > polls)
        await wait_for(pilot, lambda: "as read" not in details_text(app))
        app.jump_to(Target.ns(ROOT))  # a namespace's details show no counters: none kept current
        await wait_for(pilot, lambda: collector.paced[-1][1] == frozenset())
