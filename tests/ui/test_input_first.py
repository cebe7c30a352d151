"""Input goes before background work. The garbage collector pauses the TUI only between keypresses (the
start-up heap is frozen after the first snapshot, automatic full collections are off, and the policy
runs them in quiet moments or when overdue), and a collection in progress pauses while a key is
answered. The collector settings are process-wide, so every test puts them back as it found it."""

from __future__ import annotations

import gc
import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.ui.helpers import SIZE, make_app, started, wait_for
from vnettop.collect.static import StaticCollector
from vnettop.demo import demo_snapshot
from vnettop.ui import app as app_module
from vnettop.ui.gc_policy import NEVER, YOUNG, GcPolicy


@pytest.fixture(autouse=True)
def gc_as_found() -> Iterator[None]:
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()  # this process runs many more apps


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_full_collections_wait_for_a_quiet_moment() -> None:
    clock, runs = Clock(), []
    policy = GcPolicy(every=10, quiet=1, at_most=60, clock=clock, collect=lambda: runs.append(clock.now))
    assert not policy.tick()  # not started: automatic collections as usual
    before = gc.get_threshold()
    policy.start()
    assert runs == [1000.0] and gc.get_freeze_count() > 0
    assert gc.get_threshold() == (max(before[0], YOUNG), before[1], NEVER)
    clock.now += 5
    assert not policy.tick()  # too soon
    clock.now += 5
    policy.note_input()
    clock.now += 0.5
    assert not policy.tick()  # due, but a key came 0.5 s ago
    clock.now += 0.6
    assert policy.tick() and policy.collections == 1  # quiet for 1.1 s
    assert not policy.tick()  # and not again at once
    for _ in range(70):  # a user who never stops typing still gets one within `at_most`
        clock.now += 1
        policy.note_input()
        policy.tick()
    assert policy.collections == 2 and runs[-1] - runs[-2] == pytest.approx(60, abs=1)
    policy.stop()
    assert gc.get_threshold() == before
    assert not policy.tick()


def test_without_keys_and_garbage_full_collections_come_less_often() -> None:
    clock, runs = Clock(), []
    garbage = [0]

    def collect() -> int:
        runs.append(clock.now)
        return garbage[0]

    policy = GcPolicy(every=5, quiet=0.5, at_most=15, idle_every=30, little=100, clock=clock, collect=collect)
    policy.start()
    for _ in range(120):  # two minutes without a key, and little garbage found each time
        clock.now += 1
        policy.tick()
    assert [b - a for a, b in itertools.pairwise(runs)] == [5.0, 10.0, 20.0, 30.0, 30.0]
    garbage[0] = 10_000  # then much garbage (namespaces coming and going): the short interval is back
    clock.now += 30
    assert policy.tick()
    clock.now += 5
    assert policy.tick()
    garbage[0] = 0
    clock.now += 1
    policy.note_input()  # a key: garbage is made again, so the short schedule holds whatever was found
    clock.now += 5
    assert policy.tick()
    policy.stop()


def test_survivors_of_each_full_collection_are_frozen_and_a_deep_one_comes_every_deep_every() -> None:
    """What a full collection of the policy leaves alive is frozen at once (the next one walks only what
    was made since), and every `deep_every` seconds one collection unfreezes everything first, so cyclic
    garbage among frozen objects is still found."""
    clock, calls = Clock(), []
    policy = GcPolicy(every=5, quiet=0.5, at_most=15, idle_every=5, deep_every=60, clock=clock,
                      collect=lambda: calls.append("collect") or 0,
                      freeze=lambda: calls.append("freeze"), unfreeze=lambda: calls.append("unfreeze"))
    policy.start()
    assert calls == ["collect", "freeze"]
    for _ in range(59):
        clock.now += 1
        policy.tick()
    assert policy.collections == 11 and policy.deep_collections == 0
    assert calls[2:] == ["collect", "freeze"] * 11  # each collection freezes what it left
    del calls[:]
    clock.now += 1  # 60 s since the start: the next collection is a deep one
    assert policy.tick() and policy.deep_collections == 1
    assert calls == ["unfreeze", "collect", "freeze"]
    del calls[:]
    for _ in range(59):
        clock.now += 1
        policy.tick()
    assert "unfreeze" not in calls and policy.deep_collections == 1  # not again before 60 s more
    policy.stop()


def test_a_full_collection_of_the_policy_freezes_the_heap_it_leaves() -> None:
    """The same with the real collector: objects made after start-up are frozen by the next collection."""
    clock = Clock()
    policy = GcPolicy(every=5, quiet=0.5, clock=clock)
    policy.start()
    frozen = gc.get_freeze_count()
    kept = [[i] for i in range(5000)]  # lists: tracked by the collector
    clock.now += 6
    assert policy.tick()
    assert gc.get_freeze_count() >= frozen + len(kept)
    policy.stop()


def test_run_uses_a_policy_and_puts_the_thresholds_back(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[GcPolicy | None] = []

    def fake_run(self: app_module.VnettopApp, *args: Any, **kwargs: Any) -> int:
        seen.append(self.gc_policy)
        assert self.gc_policy is not None
        self.gc_policy.start()
        assert gc.get_threshold()[2] == NEVER
        assert gc.get_threshold()[0] >= YOUNG > before[0]  # (CPython's default: 700)
        return 0

    before = gc.get_threshold()
    monkeypatch.setattr(app_module.VnettopApp, "run", fake_run)
    collector = StaticCollector(demo_snapshot())
    assert app_module.run(collector, None, read_only=True, notice=None, source_label="demo", interval=1.0) == 0
    assert len(seen) == 1 and isinstance(seen[0], GcPolicy)
    assert gc.get_threshold() == before
    assert make_app(demo_snapshot())[0].gc_policy is None  # the factory the tests use leaves it off


async def test_the_app_starts_the_policy_after_the_first_snapshot_and_reports_keys() -> None:
    app, _ = make_app(demo_snapshot())
    policy = app.gc_policy = GcPolicy()
    try:
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot)
            await wait_for(pilot, lambda: policy.started)
            assert gc.get_freeze_count() > 0
            quiet_since = policy._last_input
            await pilot.press("2")
            assert policy._last_input > quiet_since
    finally:
        policy.stop()


async def test_a_key_asks_the_live_collector_to_pause() -> None:
    """Keys go before background work: a collector that can pause (has `hold_until`) is told to, for a
    moment after each key; one that cannot (a loaded file) is left alone."""
    app, collector = make_app(demo_snapshot())
    collector.hold_until = 0.0  # type: ignore[attr-defined]
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        before = time.monotonic()
        await pilot.press("2")
        held = collector.hold_until  # type: ignore[attr-defined]
        assert before < held <= time.monotonic() + app_module.INPUT_HOLD
    plain, fake = make_app(demo_snapshot())
    async with plain.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("2")
        assert not hasattr(fake, "hold_until")


async def test_every_frame_names_in_the_details_title_the_row_under_the_cursor() -> None:
    """The details' title changes in the very frame that draws a cursor move (in the tree and in a
    table), not a frame later when the view's highlight message has come round to the app."""
    from vnettop.ui.details_content import details_title
    from vnettop.ui.widgets.details import DetailsPane

    app, _ = make_app(demo_snapshot(), interval=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        pane = app.main_query(DetailsPane)
        frames: list[tuple[object, object]] = []
        display = app._display

        def noted(screen: Any, update: Any) -> None:
            display(screen, update)
            frames.append((pane._title, details_title(app.snapshot, app.current_target())))

        app._display = noted  # type: ignore[method-assign]
        for keys in (("down",), ("down",), ("up",), ("3",), ("down",), ("down",), ("up",)):
            before = len(frames)
            await pilot.press(*keys)
            await pilot.pause()
            assert len(frames) > before
            assert all(shown == wanted for shown, wanted in frames[before:]), keys
        assert len({str(wanted) for _, wanted in frames}) >= 4  # the moves did change the selection
