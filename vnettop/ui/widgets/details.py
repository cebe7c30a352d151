"""The details pane: everything known about the selection, re-rendered when it or the snapshot changes."""

from __future__ import annotations

from rich.console import RenderableType
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from vnettop.model import Snapshot
from vnettop.ui.details_content import details_title, render_details
from vnettop.ui.rates import RateTracker
from vnettop.ui.targets import Target


class DetailsPane(VerticalScroll):
    """A scrollable pane holding one Static; its border title names the selection."""

    can_focus = True

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.target: Target | None = None
        self.renders = 0
        self.content: RenderableType = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="details-body")

    def show(self, snap: Snapshot, target: Target | None, rates: RateTracker | None) -> None:
        self.target = target
        self.border_title = details_title(snap, target)
        self.content = render_details(snap, target, rates)
        self.query_one("#details-body", Static).update(self.content)
        self.renders += 1
