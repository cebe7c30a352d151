"""`t`: the whole path from the selection, hop by hop; each hop can be chosen to jump to it."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from vnettop.topology import Hop
from vnettop.ui.labels import OWNER_STYLE, plain, safe
from vnettop.ui.targets import Target

ICONS = {"process": "◆", "link": "•", "namespace": "▣", "service": "◇", "ovs-bridge": "▦", "ovs-port": "◦",
         "owner": "★"}
STYLES = {"process": "bold magenta", "link": "bold", "namespace": "bold green", "service": "bold magenta",
          "ovs-bridge": "bold cyan", "ovs-port": "bold", "owner": OWNER_STYLE}


def hop_text(hop: Hop) -> Text:
    text = Text("  " * hop.depth)
    text.append(f"{ICONS.get(hop.kind, '·')} ", style=STYLES.get(hop.kind, ""))
    text.append(safe(hop.label), style=STYLES.get(hop.kind, ""))
    if hop.owner and hop.kind != "owner":
        text.append(f"  {safe(hop.owner)}", style=OWNER_STYLE)
    if hop.note:
        text.append(f"  {safe(hop.note)}", style="dim")
    return text


class TraceScreen(ModalScreen[Target | None]):
    """Lists the hops; `enter` dismisses with the chosen hop's target (None if it is not selectable)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,t", "close", "Close", key_display="esc"),
    ]

    def __init__(self, title: str, hops: list[Hop], targets: list[Target | None]) -> None:
        super().__init__()
        self.title_text = title
        self.hops = hops
        self.targets = targets

    def compose(self) -> ComposeResult:
        with Vertical(id="trace-box") as box:
            box.border_title = plain(self.title_text)
            box.border_subtitle = "enter jumps · esc closes"
            yield Static(f"{len(self.hops)} hops", id="trace-count")
            yield OptionList(*[Option(hop_text(h), id=str(i)) for i, h in enumerate(self.hops)],
                             id="trace-hops")

    def on_mount(self) -> None:
        for options in self.query(OptionList):  # none if the app is already shutting down
            options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        index = int(event.option.id or 0)
        self.dismiss(self.targets[index] if 0 <= index < len(self.targets) else None)

    def action_close(self) -> None:
        self.dismiss(None)
