"""`?`: every key the app offers right now, read from the bindings (write keys only in write mode)."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

EXTRA_KEYS: tuple[tuple[str, str], ...] = (
    ("↑ ↓ pgup pgdn", "move"),
    ("enter", "expand/collapse (tree), show in topology (tables)"),
    ("← →", "collapse/expand, go to parent (tree)"),
    ("tab", "switch between view and details pane"),
    ("ctrl+p", "command palette: jump to a device, namespace or process; actions"),
)


class HelpScreen(ModalScreen[None]):
    """A table of keys and what they do."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close", key_display="esc"),
    ]

    def __init__(self, keys: list[tuple[str, str]], mode_line: str) -> None:
        super().__init__()
        self.keys = keys
        self.mode_line = mode_line

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 1))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for key, description in [*self.keys, *EXTRA_KEYS]:
            table.add_row(key, description)
        with VerticalScroll(id="help-box") as box:
            box.border_title = "Keys"
            box.border_subtitle = "esc closes"
            yield Static(Text(self.mode_line), id="help-mode")  # plain text: it may quote a file name
            yield Static(table)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
