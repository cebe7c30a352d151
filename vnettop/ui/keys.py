"""Every key of the main screen, declared once: the footer, `?` help and the palette read them here.

Write keys carry ids starting with "write-"; `VnettopApp.check_action` hides them (and refuses their
actions) in read-only mode, so they are absent from the footer, the help and the palette.
"""

from __future__ import annotations

from textual.binding import Binding

VIEWS = Binding.Group("views", compact=True)

#: (view id, title) in key order 1..6.
VIEW_TITLES: tuple[tuple[str, str], ...] = (
    ("topology", "Topology"),
    ("bridges", "Bridges"),
    ("veths", "veth pairs"),
    ("tuntap", "tun/tap"),
    ("namespaces", "Namespaces"),
    ("events", "Events"),
)

READ_BINDINGS: list[Binding] = [
    Binding("question_mark", "help", "Help", key_display="?", id="help"),
    Binding("q", "quit", "Quit", id="quit"),
    Binding("slash", "filter", "Filter", key_display="/", id="filter"),
    Binding("escape", "clear_filter", "Clear filter", show=False, key_display="esc", id="clear-filter"),
    Binding("p", "peer", "Peer", id="peer"),
    Binding("t", "trace", "Trace", id="trace"),
    Binding("b", "bridge", "Bridge", id="bridge"),
    Binding("h", "holder", "Holder", id="holder"),
    Binding("space", "pause", "Pause", id="pause"),
    Binding("r", "refresh", "Refresh", id="refresh"),
    *(Binding(str(i), f"view('{vid}')", title, group=VIEWS, id=f"view-{i}")
      for i, (vid, title) in enumerate(VIEW_TITLES, start=1)),
    Binding("i", "toggle_details", "Details pane", show=False, id="details"),
    Binding("E", "errors", "Soft errors", show=False, id="errors"),
]

WRITE_BINDINGS: list[Binding] = [
    Binding("n", "new", "New", id="write-new"),
    Binding("d", "delete", "Delete", id="write-delete"),
    Binding("u", "up_down", "Up/down", id="write-up-down"),
    Binding("a", "add_to_bridge", "Add to bridge", show=False, id="write-add-to-bridge"),
    Binding("A", "remove_from_bridge", "Remove from bridge", show=False, id="write-remove-from-bridge"),
    Binding("m", "move", "Move to namespace", show=False, id="write-move"),
    Binding("plus", "add_address", "Add address", show=False, key_display="+", id="write-add-address"),
    Binding("minus", "del_address", "Remove address", show=False, key_display="-", id="write-del-address"),
]

#: Actions (names without arguments) that change the system: hidden and refused when read-only.
WRITE_ACTIONS: frozenset[str] = frozenset(b.action for b in WRITE_BINDINGS)

ALL_BINDINGS: list[Binding] = READ_BINDINGS + WRITE_BINDINGS
