"""The CLI's app freezes its start-up heap once the first snapshot is drawn (full garbage collections
then skip ~100k long-lived objects, which made random keypresses 30-60 ms slower); tests' apps do not."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from tests.ui.helpers import SIZE, make_app, started, wait_for
from vnettop.collect.static import StaticCollector
from vnettop.demo import demo_snapshot
from vnettop.ui import app as app_module


def test_run_asks_for_the_freeze(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []

    def fake_run(self: app_module.VnettopApp, *args: Any, **kwargs: Any) -> int:
        seen.append(self.freeze_heap)
        return 0

    monkeypatch.setattr(app_module.VnettopApp, "run", fake_run)
    collector = StaticCollector(demo_snapshot())
    assert app_module.run(collector, None, read_only=True, notice=None, source_label="demo", interval=1.0) == 0
    assert seen == [True]
    assert not make_app(demo_snapshot())[0].freeze_heap  # the factory the tests use leaves it off


async def test_the_heap_is_frozen_after_the_first_snapshot() -> None:
    assert gc.get_freeze_count() == 0
    app, _ = make_app(demo_snapshot())
    app.freeze_heap = True
    try:
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot)
            await wait_for(pilot, lambda: gc.get_freeze_count() > 0)
            frozen = gc.get_freeze_count()
            await pilot.press("2")  # still working, and nothing froze again (frozen objects are still
            await pilot.pause()     # freed by reference counting: the count may only go down)
            assert gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()  # this process runs many more apps
