"""`E`: the soft errors of the last snapshot (what the collector could not see, and why)."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from vnettop.model import CollectError
from vnettop.ui.labels import plain


class ErrorsScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,E", "dismiss", "Close", key_display="esc")]

    def __init__(self, errors: tuple[CollectError, ...]) -> None:
        super().__init__()
        self.errors = errors

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="errors-box") as box:
            box.border_title = f"Soft errors ({len(self.errors)})"
            box.border_subtitle = "esc closes"
            if not self.errors:
                yield Static("The last snapshot saw everything it looked for.")
            else:
                table = Table("scope", "message", box=None, padding=(0, 1), header_style="bold")
                for err in self.errors:
                    table.add_row(plain(err.scope), plain(err.message))
                yield Static(table)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
