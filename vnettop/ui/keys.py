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
    Binding("question_mark", "help", "Help", key_display="?", id="help",
            tooltip="every key, and whether changes are possible"),
    Binding("q", "quit", "Quit", id="quit", tooltip="leave vnettop"),
    # Like htop and k9s; Textual 8 only says "press ctrl+q". Priority: it quits from dialogs and inputs too.
    Binding("ctrl+c", "quit", "Quit", show=False, priority=True, key_display="ctrl+c", id="quit-ctrl-c",
            tooltip="leave vnettop"),
    Binding("slash", "filter", "Filter", key_display="/", id="filter",
            tooltip="show only what matches name, kind, namespace or process (!x inverts)"),
    Binding("escape", "clear_filter", "Clear filter", show=False, key_display="esc", id="clear-filter",
            tooltip="clear the filter"),
    Binding("p", "peer", "Peer", id="peer",
            tooltip="jump to the other end of a veth, or the lower device of a vlan/macvlan/vxlan"),
    Binding("t", "trace", "Trace", id="trace",
            tooltip="the whole path from here, hop by hop; enter jumps to a hop"),
    Binding("b", "bridge", "Bridge", id="bridge", tooltip="jump to the bridge this device is a port of"),
    Binding("h", "holder", "Holder", id="holder",
            tooltip="jump to the process holding this tun/tap (from a process: to its device)"),
    Binding("H", "hosts", "Hosts", id="hosts",
            tooltip="fleet file: back to the hosts view (one row per host; enter opens a host)"),
    Binding("left_square_bracket", "step(-1)", "Prev change", key_display="[", id="step-back",
            tooltip="recording: the picture before the change shown"),
    Binding("right_square_bracket", "step(1)", "Next change", key_display="]", id="step-forward",
            tooltip="recording: the picture at the next recorded change"),
    Binding("space", "pause", "Pause", id="pause", tooltip="pause / resume live updates"),
    Binding("r", "refresh", "Refresh", id="refresh", tooltip="collect now"),
    *(Binding(str(i), f"view('{vid}')", title, group=VIEWS, id=f"view-{i}", tooltip=f"view {title}")
      for i, (vid, title) in enumerate(VIEW_TITLES, start=1)),
    Binding("i", "toggle_details", "Details pane", show=False, id="details",
            tooltip="show / hide the details pane"),
    Binding("f", "full_details", "Full lists", show=False, id="full-details",
            tooltip="details: every device, process and FDB entry, not just the first ones"),
    Binding("E", "errors", "Soft errors", show=False, id="errors",
            tooltip="what the collector could not see, and why"),
]

WRITE_BINDINGS: list[Binding] = [
    Binding("n", "new", "New", id="write-new", tooltip="create a bridge, veth pair, tun/tap or namespace"),
    Binding("d", "delete", "Delete", id="write-delete",
            tooltip="delete this device or namespace (type its name to confirm)"),
    Binding("u", "up_down", "Up/down", id="write-up-down", tooltip="bring this device up or down"),
    Binding("a", "add_to_bridge", "Add to bridge", show=False, id="write-add-to-bridge",
            tooltip="make this device a port of a bridge"),
    Binding("A", "remove_from_bridge", "Remove from bridge", show=False, id="write-remove-from-bridge",
            tooltip="take this device off its bridge"),
    Binding("m", "move", "Move to namespace", show=False, id="write-move",
            tooltip="move this device to another namespace"),
    Binding("plus", "add_address", "Add address", show=False, key_display="+", id="write-add-address",
            tooltip="add an IP address to this device"),
    Binding("minus", "del_address", "Remove address", show=False, key_display="-", id="write-del-address",
            tooltip="remove an IP address from this device"),
    Binding("v", "ovs_tag", "OVS VLAN tag", show=False, id="write-ovs-tag",
            tooltip="set or clear the VLAN tag of this OVS port (ovs-vsctl set port NAME tag=N)"),
]

#: Actions (names without arguments) that change the system: hidden and refused when read-only.
WRITE_ACTIONS: frozenset[str] = frozenset(b.action for b in WRITE_BINDINGS)

ALL_BINDINGS: list[Binding] = READ_BINDINGS + WRITE_BINDINGS

#: The footer's keys, most important first: it shows as many as fit whole (`?` always). Ids of
#: bindings, "views" for the 1-6 group, "palette" for ctrl+p; keys not named here come last.
FOOTER_ORDER: tuple[str, ...] = ("help", "quit", "hosts", "step-back", "step-forward", "filter", "peer",
                                 "trace", "views", "write-new", "write-delete", "write-up-down", "bridge",
                                 "holder", "pause", "refresh", "palette")
