"""The footer: the most important keys that fit whole in one line, `? Help` always first.

Textual's Footer lays every key out in a row that scrolls: at 80 columns `r Refresh` and the views
group were cut off or scrolled out of sight, and it recomposed a dozen widgets on every focus change.
This one draws a single line of text: the shown bindings in the order of `keys.FOOTER_ORDER` (most
important first), as many as fit whole, nothing cut. Every key stays in `?` help and the palette. A
click on a key presses it, as on Textual's footer.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.screen import Screen
from textual.widget import Widget

from vnettop.ui.keys import FOOTER_ORDER

#: Between two keys.
GAP = "  "


@dataclass(frozen=True, slots=True)
class FooterEntry:
    """One key (or a group of keys, `1-6 views`) as the footer shows it."""

    order_id: str  # the binding id (the group name for a group), its place in FOOTER_ORDER
    key: str  # the key a click presses ("" for a group)
    key_display: str
    description: str
    enabled: bool = True

    @property
    def width(self) -> int:
        return cell_len(self.key_display) + 1 + cell_len(self.description)


def footer_entries(screen: Screen[object]) -> list[FooterEntry]:
    """The shown bindings of `screen` (a group as one entry), most important first."""
    entries: list[FooterEntry] = []
    groups: dict[str, list[str]] = {}
    app = screen.app
    for _, binding, enabled, _tooltip in screen.active_bindings.values():
        if binding.key == app.COMMAND_PALETTE_BINDING and app.ENABLE_COMMAND_PALETTE:
            entries.append(FooterEntry("palette", binding.key, app.get_key_display(binding), "palette",
                                       enabled))
            continue
        if not binding.show:
            continue
        if binding.group is not None:
            name = binding.group.description
            if name not in groups:
                groups[name] = []
                entries.append(FooterEntry(name, "", "", name, enabled))
            groups[name].append(app.get_key_display(binding))
            continue
        entries.append(FooterEntry(binding.id or binding.action, binding.key, app.get_key_display(binding),
                                   binding.description, enabled))
    for i, entry in enumerate(entries):
        keys = groups.get(entry.order_id) if not entry.key else None
        if keys:
            shown = f"{keys[0]}-{keys[-1]}" if len(keys) > 2 else "".join(keys)
            entries[i] = FooterEntry(entry.order_id, "", shown, entry.description, entry.enabled)
    rank = {name: i for i, name in enumerate(FOOTER_ORDER)}
    return sorted(entries, key=lambda e: rank.get(e.order_id, len(rank)))


def fitting(entries: list[FooterEntry], width: int) -> list[FooterEntry]:
    """The first entries that fit whole in `width` cells (one leading space, GAP between keys); the
    first (help) always, even if a terminal is too narrow for it."""
    shown: list[FooterEntry] = []
    used = 1
    for entry in entries:
        need = entry.width + (len(GAP) if shown else 0)
        if shown and used + need > width:
            break
        shown.append(entry)
        used += need
    return shown


class KeyFooter(Widget):
    """One line of keys (see the module docstring)."""

    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    KeyFooter > .key-footer--key {
        color: $footer-key-foreground;
        text-style: bold;
    }
    KeyFooter > .key-footer--description {
        color: $footer-description-foreground;
    }
    """
    COMPONENT_CLASSES = {"key-footer--key", "key-footer--description"}  # noqa: RUF012 (Textual's type)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._entries: list[FooterEntry] = []
        self._spans: list[tuple[int, int, str]] = []  # (start, end, key) of each shown key, for clicks
        #: How many times the shown keys changed (a view switch must not change them).
        self.rebuilds = 0

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if screen is not self.screen:
            return
        entries = footer_entries(screen)
        if entries != self._entries:
            self._entries = entries
            self.rebuilds += 1
            self.refresh()

    @property
    def shown(self) -> list[FooterEntry]:
        """The entries drawn at the current width."""
        return fitting(self._entries, self.size.width)

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-footer--key")
        description_style = self.get_component_rich_style("key-footer--description")
        text = Text(" ", no_wrap=True, overflow="crop")
        spans = []
        for i, entry in enumerate(self.shown):
            if i:
                text.append(GAP)
            start = len(text)
            dim = Style() if entry.enabled else Style(dim=True)
            text.append(entry.key_display, key_style + dim)
            text.append(" ")
            text.append(entry.description, description_style + dim)
            if entry.key:
                spans.append((start, len(text), entry.key))
        self._spans = spans
        return text

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end:
                self.app.simulate_key(key)
                return
