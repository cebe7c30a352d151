"""Shared pilot helpers: build the app over a fake collector and wait for conditions (no sleeps)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from tests.ui.fakes import FakeCollector
from vnettop.model import Snapshot
from vnettop.ui.app import VnettopApp, build_app

SIZE = (120, 40)


def make_app(snap: Snapshot, *, read_only: bool = True, mutator: Any = None, interval: float = 1.0,
             notice: str | None = None, source_label: str = "live") -> tuple[VnettopApp, FakeCollector]:
    collector = FakeCollector(snap)
    app = build_app(collector, mutator, read_only=read_only, notice=notice, source_label=source_label,
                    interval=interval)
    return app, collector


async def wait_for(pilot: Pilot[Any], condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Let the app run until `condition()` is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await pilot.pause(0.02)


async def started(pilot: Pilot[Any]) -> VnettopApp:
    app = pilot.app
    assert isinstance(app, VnettopApp)
    await wait_for(pilot, lambda: app.polls >= 1)
    await pilot.pause()
    return app


def screen_text(app: VnettopApp) -> str:
    """Everything the main screen's header says, as plain text."""
    from vnettop.ui.widgets.header import HeaderBar

    header = app.main_query(HeaderBar)
    return str(header.render())


def plain(renderable: Any, width: int = 100) -> str:
    """A Rich renderable as plain text (what the details pane says)."""
    from rich.console import Console

    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.export_text()


def details_text(app: VnettopApp) -> str:
    from vnettop.ui.widgets.details import DetailsPane

    return plain(app.main_query(DetailsPane).content)
