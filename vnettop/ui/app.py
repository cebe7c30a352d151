"""The vnettop Textual app: one factory (`build_app`) shared by the CLI and the tests, and `run`.

The app owns no I/O of its own: a Collector gives it Snapshots (polled in a thread worker, never in the
event loop) and an optional Mutator applies plans. Reading happens in `_poll`: it waits with
`collector.wait_for_change` in short slices (so `r`, pause and quit take effect at once and a kernel
event refreshes the screen early), collects, and posts `SnapshotCollected`; the next poll starts only
when that message has been handled, so polls never overlap.
"""

from __future__ import annotations

import asyncio
import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, ClassVar, cast

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Input, Static, Tree
from textual.worker import get_current_worker

from vnettop.collect import Collector
from vnettop.model import Snapshot
from vnettop.textsafe import printable, printable_line
from vnettop.ui import ovs_rows
from vnettop.ui import rows as row_builders
from vnettop.ui.changes import ChangeLog, same_structure
from vnettop.ui.filtering import Filter
from vnettop.ui.fleet_actions import FleetActions
from vnettop.ui.fleet_hosts import (
    HOST_COLUMNS,
    FleetState,
    HostRowsBuilder,
    host_details,
    host_index,
    host_title,
)
from vnettop.ui.follow import PATIENCE, Wanted, find, wanted_after
from vnettop.ui.gc_policy import GcPolicy
from vnettop.ui.key_order import KeyOrder
from vnettop.ui.keys import ALL_BINDINGS, VIEW_TITLES, WRITE_ACTIONS, WRITE_BINDINGS
from vnettop.ui.messages import ActionApplied, CollectFailed, SnapshotCollected
from vnettop.ui.navigation import NavigationActions
from vnettop.ui.pacing import EventPacer
from vnettop.ui.palette import FleetProvider, JumpProvider
from vnettop.ui.rates import RateTracker
from vnettop.ui.recording_actions import RecordingActions
from vnettop.ui.screens.errors import ErrorsScreen
from vnettop.ui.screens.help import HelpScreen
from vnettop.ui.targets import Target, describe
from vnettop.ui.terminal import SturdyDriver, exit_status, install_exit_signals, terminal_gone
from vnettop.ui.timeline import Timeline
from vnettop.ui.tree_model import TreeBuilder
from vnettop.ui.widgets.details import DetailsPane
from vnettop.ui.widgets.footer import KeyFooter
from vnettop.ui.widgets.header import FleetHeader, HeaderBar, HeaderState
from vnettop.ui.widgets.snapshot_table import SnapshotTable
from vnettop.ui.widgets.topology_tree import TopologyTree
from vnettop.ui.write_actions import WriteActions

#: How long one wait slice lasts: the longest delay before `r`, pause or quit is noticed.
WAIT_SLICE = 0.2
#: After a key or click, a collection in progress pauses this long (at most: LiveCollector.MAX_HOLD
#: per collect): enough to answer the key and draw the answer (20-40 ms at 200 namespaces).
INPUT_HOLD = 0.1
#: Below this many columns the details pane goes under the main view (at most a third of the rows).
NARROW_BELOW = 100
#: On a narrow terminal with fewer rows than this, the details pane hides until `i` asks for it: the
#: main view is what matters at 60x15.
SHORT_BELOW = 20

TABLE_VIEWS: dict[str, tuple[tuple[str, ...], Any]] = {
    "bridges": (row_builders.BRIDGE_COLUMNS, ovs_rows.all_bridge_rows),
    "veths": (row_builders.VETH_COLUMNS, row_builders.veth_rows),
    "tuntap": (row_builders.TUN_COLUMNS, row_builders.tun_rows),
    "namespaces": (row_builders.NS_COLUMNS, row_builders.ns_rows),
    "events": (row_builders.EVENT_COLUMNS, None),
}


#: Keys answered from the view as shown while the update for a newer snapshot waits (`_view_after_input`):
#: moves of the cursor, and view switches (a view switched to is built from the newest snapshot).
ANSWERED_FROM_SHOWN = frozenset({"up", "down", "left", "right", "pageup", "pagedown", "home", "end",
                                 *(str(n) for n in range(1, len(VIEW_TITLES) + 1))})

#: The longest a view update for a change of structure waits for keys being answered (`_view_now`).
VIEW_PATIENCE = 0.1
#: How often it looks whether they have been.
KEY_TICK = 0.002

#: Keys about a device or a process of one host: not offered on a fleet file's hosts view.
HOST_ONLY_ACTIONS = frozenset({"peer", "trace", "bridge", "holder", "errors"})


class VnettopApp(RecordingActions, FleetActions, NavigationActions, WriteActions, App[int]):
    """Full-screen inspector of namespaces, bridges, veth pairs and tun/tap devices."""

    CSS_PATH = "vnettop.tcss"
    TITLE = "vnettop"
    BINDINGS: ClassVar[list[BindingType]] = list(ALL_BINDINGS)
    COMMANDS = App.COMMANDS | {JumpProvider, FleetProvider}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (NARROW_BELOW, "-wide")]  # noqa: RUF012 (typed by App)

    def __init__(self, collector: Collector, mutator: Any = None, *, read_only: bool,
                 notice: str | None = None, source_label: str = "live", interval: float = 1.0,
                 fleet: FleetState | None = None, timeline: Timeline | None = None) -> None:
        super().__init__()
        #: A recording (`--load REC`): the collector rebuilds the moment shown; `[` and `]` move it.
        self.timeline = timeline
        #: A fleet file's hosts (`--load fleet.jsonl`): the app opens on the hosts view, and polls nothing.
        self.fleet = fleet
        self._hosts_rows = HostRowsBuilder()
        self.collector = collector
        self.mutator = mutator
        #: Read-only when asked, when there is no mutator, or when the mutator itself is read-only.
        self.read_only = bool(read_only or mutator is None or getattr(mutator, "read_only", False))
        self.notice = notice
        self.source_label = source_label
        self.interval = interval
        self.snapshot: Snapshot | None = None
        self.paused = False
        self.filter = Filter()
        self.view = "topology" if fleet is None else "hosts"
        self.rates = RateTracker()
        #: The namespaces last told to a live collector to keep current (`_keep_counters_current`).
        self._counters_current: tuple[int, ...] | None = None
        self.changes = ChangeLog()
        self.polls = 0  # snapshots received and shown (tests wait on it)
        #: A structural change's view update waits for the input already queued (see `_view_after_input`):
        #: whether one is waiting, and how many snapshots it will have shown.
        self._view_pending = False
        self._unshown = 0
        self._view_due = 0.0  # when the put-off view update runs whatever keys still come
        self._keys_seen = 0  # keys from the terminal let through so far
        self._keys_drawn = 0  # ... of which the view update let a frame be drawn first
        self._holding_frame = False  # no frame until the put-off view update, unless a key comes
        self._wake = threading.Event()
        #: When a kernel event may start a collection (ui/pacing.py); used by the poll worker only.
        self.pacer = EventPacer()
        #: When the last collection that asked every namespace began (time.monotonic(); poll worker only).
        self._full_at = -math.inf
        self._changes_only_last = False  # the last collection was `collect_changes` (poll worker only)
        self._polling = False
        self._stale_views: set[str] = set()
        self._tree = TreeBuilder()
        #: Row builders that keep state between refreshes (the veth and bridge tables reuse rows).
        self._row_builders: dict[str, row_builders.RowBuilder] = ovs_rows.kept_row_builders()
        self._details_pending = False
        #: The details pane as `i` last asked for it (None: not asked; shown unless the terminal is small).
        self.details_wanted: bool | None = None
        #: What an action just created or moved, to select once a snapshot shows it (and for how many
        #: more snapshots to look).
        self._follow: Wanted | None = None
        self._follow_left = 0
        #: Set by `run` (process-wide, so not for tests): when the garbage collector may pause the UI.
        self.gc_policy: GcPolicy | None = None
        self._key_order = KeyOrder(self)
        #: Set by `run` (process-wide, so not for tests): SIGTERM, SIGHUP and SIGQUIT exit like `q`.
        self.exit_on_signals = False

    # -- layout ------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        if self.notice:
            yield Static(Text(f" {printable_line(self.notice)}"), id="notice")
        with Horizontal(id="body"):
            with ContentSwitcher(initial=self.view, id="views"):
                if self.fleet is not None:
                    yield SnapshotTable(HOST_COLUMNS, id="hosts")
                yield TopologyTree(id="topology")
                for view_id, (columns, _) in TABLE_VIEWS.items():
                    yield SnapshotTable(columns, id=view_id)
            yield DetailsPane(id="details")
        hint = "filter: name, kind, namespace, process (! inverts); enter keeps, esc clears"
        yield Input(placeholder=hint, id="filter")
        yield KeyFooter()

    def _views_border(self, *_: object) -> None:
        """Accent border on the views panel while one of them has focus (see vnettop.tcss)."""
        try:
            views = self.main_query("#views", ContentSwitcher)
        except NoMatches:
            return
        colour = self.theme_variables.get("accent" if views.has_focus_within else "primary")
        if colour is not None:
            views.styles.border = ("round", colour)

    @on(events.DescendantFocus)
    @on(events.DescendantBlur)
    def _focus_moved(self) -> None:
        self._views_border()

    def on_load(self) -> None:
        """Before the terminal is switched to full screen: from then on a signal that would end the
        process exits like `q` instead, so the terminal is always put back (see ui/terminal.py)."""
        if self.exit_on_signals:
            install_exit_signals(asyncio.get_running_loop(), self.exit_on_signal)

    def exit_on_signal(self, signo: int) -> None:
        """SIGTERM, SIGHUP, SIGQUIT: leave as `q` does, with the status a shell expects (128 + signo)."""
        self._wake.set()
        self.exit(exit_status(signo))

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._views_border)
        self.main_query(TopologyTree).cursor_moved = self._name_selection
        for view_id in TABLE_VIEWS:
            self.main_query(f"#{view_id}", SnapshotTable).cursor_moved = self._name_selection
        self._place_details()
        self._set_view_title()
        self.main_query("#filter", Input).display = False
        self._refresh_header()
        if self.fleet is not None:  # a fleet file never changes: nothing to poll
            self._stale_views.add("hosts")
            self._refresh_view()
            self.current_widget().focus()
            self.start_summaries()
        else:
            self.main_query(TopologyTree).focus()
            self._start_poll(wait=False)
        self.set_interval(1.0, self._gc_tick)
        if self.exit_on_signals:
            self.set_interval(1.0, self._watch_terminal)

    def _watch_terminal(self) -> None:
        """A hang-up that did not reach us as SIGHUP: exit as if it had (see ui/terminal.py)."""
        if terminal_gone(sys.__stdin__.fileno() if sys.__stdin__ is not None else 0):
            self.exit_on_signal(signal.SIGHUP)

    def _gc_tick(self) -> None:
        if self.gc_policy is not None:
            self.gc_policy.tick()

    async def on_event(self, event: events.Event) -> None:
        """Every key and click passes here first: input goes before background work. The garbage
        collector waits for a quiet moment, and a collection in progress pauses (between two
        namespaces or stages) while the key is answered. Keys typed in a burst reach the widget that has
        focus when the key before them was answered (ui/key_order.py)."""
        if isinstance(event, events.Key | events.MouseDown):
            if self.gc_policy is not None:
                self.gc_policy.note_input()
            if hasattr(self.collector, "hold_until"):  # the live collector (a loaded file: nothing to pause)
                cast(Any, self.collector).hold_until = time.monotonic() + INPUT_HOLD
            if self.fleet is not None:  # a fleet file's hosts being counted in the background
                self.fleet.hold_until = time.monotonic() + INPUT_HOLD
            self._release_frame()  # its answer is drawn without waiting for a view update
        if isinstance(event, events.Key) and not event.is_forwarded and not self._key_order.admit(event):
            return  # held until the key before it has been answered (see ui/key_order.py)
        if isinstance(event, events.Key) and not event.is_forwarded:
            self._keys_seen += 1
            if self._view_pending and event.key not in ANSWERED_FROM_SHOWN:
                self._view_now(at_once=True)  # a key acting on the selection sees the newest snapshot
        await super().on_event(event)

    def main_query(self, selector: Any, expect_type: Any = None) -> Any:
        """`query_one` on the main screen, even while a modal screen (help, trace, dialog) is on top."""
        if not self.screen_stack:  # starting up or shutting down
            raise NoMatches(f"no screen to find {selector!r} on")
        base = self.screen_stack[0]
        if expect_type is None:
            return base.query_one(selector)
        return base.query_one(selector, expect_type)

    # -- the live loop -----------------------------------------------------------------------------

    def _start_poll(self, wait: bool) -> None:
        self._polling = True
        self._keep_counters_current()
        self._poll(wait)

    def _keep_counters_current(self) -> None:
        """Tell a live collector whose counters the details show (the selected device's namespace): those
        are read on every refresh, the rest on a slower cadence (`LiveCollector.pace_counters`)."""
        pace = getattr(self.collector, "pace_counters", None)
        if pace is None or not self.screen_stack:
            return
        try:
            target = self.current_target()
        except NoMatches:
            return
        current = (target.netns,) if target is not None and target.kind == "link" else ()
        if current != self._counters_current:
            self._counters_current = current
            pace(current)

    @work(thread=True, exclusive=True, group="collect", exit_on_error=False)
    def _poll(self, wait: bool) -> None:
        """Wait for a change (or the interval) in short slices, then collect once, off the event loop."""
        worker = get_current_worker()
        by_event = False
        if wait:
            # (after a collection of the changes only, the one that asks everyone is still due an
            # interval after the last such one began, not an interval after this one)
            remaining = (self.interval if not self._changes_only_last
                         else max(0.0, self._full_at + self.interval - time.monotonic()))
            while remaining > 0 and not self._wake.is_set() and not worker.is_cancelled:
                step = min(WAIT_SLICE, remaining)
                if self.collector.wait_for_change(step):
                    # A kernel event: let its burst settle a moment; in a storm of them (a host creating
                    # hundreds of namespaces) the pacer spaces the collections out, so the collector and
                    # the redraws are not kept busy back to back. `r` still cuts this short.
                    by_event = not self._wake.wait(self.pacer.delay(time.monotonic()))
                    self.pacer.spend(time.monotonic())
                    break
                remaining -= step
        self._wake.clear()
        if worker.is_cancelled:
            return
        try:
            # A collection an event started asks only the namespaces that reported something (see
            # `LiveCollector.collect_changes`); one that asks every namespace (the check that catches a
            # missed event, and the counters' turns) still comes once an interval, even in a steady
            # stream of events. `r` and the interval's own collections ask everyone.
            changes_only = getattr(self.collector, "collect_changes", None)
            now = time.monotonic()
            if by_event and changes_only is not None and now - self._full_at < self.interval:
                snap = changes_only()
                self._changes_only_last = True
            else:  # (counted before it runs: one that fails is this interval's try, not retried at once)
                self._full_at, self._changes_only_last = now, False
                snap = self.collector.collect()
            shown = self.snapshot
            if shown is None or len(snap.links) != len(shown.links) or len(snap.namespaces) != len(
                    shown.namespaces):
                # Devices or namespaces came or went: the snapshot's lookup index (dictionaries over
                # its 5,000 devices at 1,000 namespaces, ~5 ms) is built here rather than by the first
                # lookup, which the UI thread makes while it shows the change (the events, the tree): a
                # key then waits that much less. Not on other refreshes: a snapshot laid out as the one
                # shown takes over its lookups (`apply_snapshot`), and on a tick that only counted the
                # UI may need no lookup at all.
                snap.warm_index()
        except Exception as exc:  # a collector should not raise; never let it kill the UI
            self.post_message(CollectFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(SnapshotCollected(snap))

    def on_snapshot_collected(self, message: SnapshotCollected) -> None:
        self._polling = False
        try:
            self.main_query(HeaderBar)
        except NoMatches:  # the app is shutting down: its widgets are already gone
            return
        self._unshown += 1
        if message.snapshot is not self.snapshot:  # a loaded file hands back the same one: nothing to do
            self.apply_snapshot(message.snapshot, after_input=self.timeline is None)
        if not self._view_pending:
            self._shown()
        # A source that never changes (a loaded file) is not polled again: an idle TUI over it does
        # nothing at all (`r` still collects once).
        if not self.paused and not getattr(self.collector, "never_changes", False):
            self._start_poll(wait=True)

    def on_collect_failed(self, message: CollectFailed) -> None:
        self._polling = False
        self.notify(message.error, title="collection failed" if self.timeline is None else "not shown",
                    severity="error")
        if not self.paused:
            self._start_poll(wait=True)

    def _shown(self) -> None:
        """The snapshots received so far are on screen (or as good as: the next frame draws them)."""
        first = self.polls == 0
        self.polls += self._unshown
        self._unshown = 0
        if first and self.polls and self.gc_policy is not None:
            self.call_after_refresh(self.gc_policy.start)

    def apply_snapshot(self, snap: Snapshot, after_input: bool = False) -> None:
        """Show a new snapshot, redrawing only what changed. `after_input`: a change of structure
        updates the view only once the keys already waiting have been answered (`_view_after_input`)."""
        changed = self.snapshot is None or not same_structure(self.snapshot, snap)
        if self.snapshot is not None:
            # Laid out alike (only counters or processes changed): the lookups are built once for a run
            # of such snapshots, not on every tick (`same_structure` compared every device already).
            snap.reuse_index(self.snapshot, alike=not changed)
        if self.timeline is not None:  # moments of a recording: no rate between two of them
            self.rates = RateTracker()
        self.rates.feed(snap)
        self.changes.feed(snap, unchanged=not changed and self.changes.last is self.snapshot)
        self.snapshot = snap
        self._refresh_header(same_structure=not changed)
        if changed:
            self._mark_all_stale()
            if after_input:
                self._view_after_input()
                return
            self._refresh_view()  # the details follow after the next refresh
        elif self._view_pending:
            return  # the pending view update draws the details of the newest snapshot
        else:
            self._refresh_details(only_if_rates=True)
        self._follow_action(snap)
        self.after_moment(snap)

    def _view_after_input(self) -> None:
        """Update the view for a change of structure after the keys that already arrived.

        Why: at 1,000 namespaces patching the tree and drawing it again takes 15-30 ms of the UI thread,
        and a key that arrived meanwhile (the terminal's reader thread queues it while this one works)
        waited for all of it. The header (counts) is drawn at once; the view's update goes to the back
        of the app's queue, after one turn of the event loop so that the keys read meanwhile are
        queued before it, and it waits until they have been answered and drawn (`_view_now`), for at
        most VIEW_PATIENCE. Arrows, page keys and view switches are answered from the view as shown (a
        view switched to is built from the newest snapshot anyway); any other key first brings the
        view up to date (`on_event`), so what it acts on is the newest picture."""
        if self._view_pending:
            return
        self._view_pending = True
        self._view_due = time.monotonic() + VIEW_PATIENCE
        self._keys_drawn = self._keys_seen
        # Until a key comes, the screen waits for the view update: the new header and the view it
        # counts are drawn in one frame (and no extra frame puts the next one 17-33 ms off).
        self._holding_frame = True
        self._begin_batch()
        asyncio.get_running_loop().call_soon(self.call_later, self._view_now)
        self.set_timer(2 * VIEW_PATIENCE, self._view_now)  # whatever happens to the message

    def _release_frame(self) -> None:
        if self._holding_frame:
            self._holding_frame = False
            self._end_batch()

    def _view_now(self, at_once: bool = False) -> None:
        """The view update `_view_after_input` put off (nothing if it already ran). Unless `at_once`
        or overdue, it waits while a key is still on its way (a bound key goes to the focused widget
        and comes back to the app's bindings: two trips through the queues), and lets the frame that
        answers a key be drawn before it."""
        if not self._view_pending:
            return
        if not at_once and time.monotonic() < self._view_due:
            if not self._key_order.settled(inside_app=True):
                self.set_timer(KEY_TICK, self._view_now)
                return
            if self._keys_drawn != self._keys_seen:
                self._keys_drawn = self._keys_seen
                self.call_after_refresh(self._view_now)
                return
        self._view_pending = False
        snap = self.snapshot
        try:
            if snap is not None and self.screen_stack:
                self._refresh_view()
                self._follow_action(snap)
                self.after_moment(snap)
        finally:
            self._release_frame()
        self._shown()

    def _follow_action(self, snap: Snapshot) -> None:
        """Select what the last action created or moved, in its new place, once `snap` shows it."""
        if self._follow is None:
            return
        target = find(snap, self._follow)
        self._follow_left -= 1
        if target is not None:
            self._follow = None
            self.jump_to(target)
        elif self._follow_left <= 0:
            self._follow = None

    # -- drawing -----------------------------------------------------------------------------------

    def _mark_all_stale(self) -> None:
        """Every view must be rebuilt before it is shown again (the visible one is, at once)."""
        self._stale_views = {"topology", *TABLE_VIEWS}  # not "hosts": its rows are not the snapshot's

    def _refresh_header(self, same_structure: bool = False) -> None:
        """`same_structure`: the snapshot differs from the one shown before at most in counters."""
        if not self.screen_stack:
            return
        fleet = None
        if self.fleet is not None:
            shown = self.fleet.current
            host = self.fleet.entries[shown].host if shown is not None else None
            fleet = FleetHeader(self.fleet.source, self.view == "hosts" or shown is None, host,
                                self.fleet.position(shown) if shown is not None else "",
                                self.fleet.summary_line())
        self.main_query(HeaderBar).show(self.snapshot, HeaderState(
            self.read_only, self.source_label, self.interval, self.paused, self.filter, fleet,
            self.moment_label()), same_structure=same_structure)

    def _refresh_view(self) -> None:
        """Rebuild the visible view's content (others wait until shown)."""
        if self.view == "hosts" and self.fleet is not None:
            if "hosts" in self._stale_views and self.screen_stack:
                self._stale_views.discard("hosts")
                self.main_query("#hosts", SnapshotTable).sync(self._hosts_rows(self.fleet, self.filter))
                self._details_soon()
            return
        snap = self.snapshot
        if snap is None or self.view not in self._stale_views or not self.screen_stack:
            return
        self._stale_views.discard(self.view)
        fell_back: Target | None
        if self.view == "topology":
            fell_back = self.main_query(TopologyTree).show(self._tree.build(snap, self.filter))
        else:
            builder = self._row_builders.get(self.view) or TABLE_VIEWS[self.view][1]
            if self.view == "events" and self.timeline is not None:
                rows = self.recorded_event_rows(snap)
            elif self.view == "events":
                rows = row_builders.event_rows(snap, self.changes.entries, self.filter, self.changes.total)
            else:
                rows = builder(snap, self.filter)
            fell_back = self.main_query(f"#{self.view}", SnapshotTable).sync(rows)
        if fell_back is not None:
            self.notify(f"selection gone; now on {describe(snap, fell_back)}", timeout=3)
        self._details_soon()

    def current_widget(self) -> TopologyTree | SnapshotTable:
        return self.main_query(f"#{self.view}")

    def current_target(self) -> Target | None:
        return self.current_widget().current_target

    def shown_host(self) -> int | None:
        """In the hosts view, the host under the cursor."""
        if self.view != "hosts" or self.fleet is None:
            return None
        return host_index(self.main_query("#hosts", SnapshotTable).current_row)

    def _refresh_details(self, only_if_rates: bool = False) -> None:
        snap = self.snapshot
        if not self.screen_stack:  # a late highlight message while the app shuts down
            return
        pane = self.main_query(DetailsPane)
        if self.view == "hosts" and self.fleet is not None:
            if only_if_rates or not pane.display:
                return
            index = self.shown_host()
            if index is None:
                pane.show_other(Text("details"), Text("No host matches the filter.", style="dim"))
            else:
                pane.show_other(host_title(self.fleet, index), host_details(self.fleet, index, pane.full),
                                key=f"host:{index}")
            return
        if snap is None or not pane.display:
            return
        target = self.current_target()
        if only_if_rates and target == pane.target and (target is None or target.kind not in ("link", "ovs")):
            return
        pane.show(snap, target, self.rates)

    def _set_view_title(self) -> None:
        views = self.main_query("#views", ContentSwitcher)
        hidden = not self.main_query(DetailsPane).display
        if self.view == "hosts" and self.fleet is not None:
            views.border_title = f"H Hosts ({len(self.fleet.entries)})"
            views.border_subtitle = ("enter opens a host" + (" · i details" if hidden else "")
                                     + (f" · filter {self.filter}" if self.filter.active else ""))
            return
        number = next(i for i, (vid, _) in enumerate(VIEW_TITLES, 1) if vid == self.view)
        title = dict(VIEW_TITLES)[self.view]
        if self.fleet is not None and self.fleet.current is not None:
            title += f" · {printable_line(self.fleet.entries[self.fleet.current].host)}"
        views.border_title = f"{number} {title}"
        views.border_subtitle = ("1-6 views" + (" · H hosts" if self.fleet is not None else "")
                                 + (" · i details" if hidden else "")
                                 + (f" · filter {self.filter}" if self.filter.active else ""))

    def _details_soon(self) -> None:
        """Answer the key first, draw the details after: the selection's name goes into the pane's
        title now, its body is rendered after the next screen refresh. Keys that arrive meanwhile
        (held arrows) share one render of the body for where the cursor ends up."""
        snap = self.snapshot
        if self.view == "hosts" and self.fleet is not None:
            pass  # the host's details are drawn whole, after the refresh
        elif snap is not None and self.screen_stack:
            pane = self.main_query(DetailsPane)
            if pane.display:
                pane.show_title(snap, self.current_target())
        if not self._details_pending:
            self._details_pending = True
            self.call_after_refresh(self._details_now)

    def _name_selection(self) -> None:
        """The view's cursor is on another row: the details' title names it in the frame that draws the
        move (the body follows as for any move, see `_details_soon`; the view's highlight message, which
        asks for it, reaches the app only after that frame)."""
        snap = self.snapshot
        if snap is None or not self.screen_stack or (self.view == "hosts" and self.fleet is not None):
            return
        pane = self.main_query(DetailsPane)
        if pane.display:
            pane.show_title(snap, self.current_target())

    def _details_now(self) -> None:
        self._details_pending = False
        self._refresh_details()

    @on(Tree.NodeHighlighted)
    @on(SnapshotTable.RowHighlighted)
    def _selection_moved(self) -> None:
        self._keep_counters_current()
        self._details_soon()

    @on(Input.Changed, "#filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        self._apply_filter(Filter.parse(event.value))

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        box = self.main_query("#filter", Input)
        box.display = self.filter.active
        self.current_widget().focus()

    @on(SnapshotTable.RowSelected)
    def _row_chosen(self, event: SnapshotTable.RowSelected) -> None:
        """`enter` on a table row shows that object in the topology tree (on the hosts view: opens
        that host)."""
        if event.table.id == "hosts":
            index = host_index(event.table.current_row)
            if index is not None:
                self.open_host(index)
            return
        if event.table.id == "events" and self.timeline is not None:
            self.open_recorded_change(event.table.current_row)
            return
        target = self.current_target()
        if target is not None:
            self.jump_to(target, prefer_topology=True)

    # -- navigation --------------------------------------------------------------------------------

    def action_view(self, view: str) -> None:
        if view == self.view:
            return
        if self.fleet is not None and view != "hosts" and self.fleet.current is None:
            self.notify("choose a host first: enter on its row opens it", severity="warning", timeout=3)
            return
        self.view = view
        self.main_query("#views", ContentSwitcher).current = view
        self._set_view_title()
        if self.fleet is not None:
            self._refresh_header()
            self.refresh_bindings()  # the device keys come and go with the hosts view
        self._refresh_view()
        if view == "events":
            self.cursor_to_moment()  # over a recording: on the change shown
        self.current_widget().focus()
        self._details_soon()

    def jump_to(self, target: Target, prefer_topology: bool = False) -> None:
        """Select `target` in this view if it has it, else in the topology tree (clearing a filter
        that hides it)."""
        snap = self.snapshot
        if snap is None:
            return
        widget = self.current_widget()
        if not prefer_topology and widget.has(target):
            widget.select_target(target)
            widget.focus()
            self._refresh_details()
            return
        self.action_view("topology")
        tree = self.main_query(TopologyTree)
        if not tree.has(target) and self.filter.active:
            self.notify(f"filter cleared to show {describe(snap, target)}", timeout=3)
            self._apply_filter(Filter())
        if tree.select_target(target):
            tree.focus()
            self._refresh_details()
        else:
            self.notify(f"{describe(snap, target)} is not in the tree", severity="warning")

    # -- live control ------------------------------------------------------------------------------

    def action_pause(self) -> None:
        self.paused = not self.paused
        self._refresh_header()
        if not self.paused and not self._polling:
            self._start_poll(wait=False)
        self.notify("paused: press space to resume" if self.paused else "live again", timeout=2)

    def action_refresh(self) -> None:
        """Collect now: wake the waiting poll, or start one when paused."""
        self._wake.set()
        if not self._polling:
            self._start_poll(wait=False)

    def action_toggle_details(self) -> None:
        self.details_wanted = not self.main_query(DetailsPane).display
        self._place_details()

    def on_resize(self, event: events.Resize) -> None:
        self._place_details(event.size.width, event.size.height)

    def _place_details(self, width: int | None = None, height: int | None = None) -> None:
        """Show or hide the details pane: as `i` asked, else hidden only on a small terminal (narrow and
        short), where the main view needs every row. Where it goes (beside or under) is vnettop.tcss's."""
        try:
            pane = self.main_query(DetailsPane)
        except NoMatches:
            return
        width = self.size.width if width is None else width
        height = self.size.height if height is None else height
        small = width < NARROW_BELOW and height < SHORT_BELOW
        shown = self.details_wanted if self.details_wanted is not None else not small
        if pane.display != shown:
            pane.display = shown
            self._set_view_title()
            if shown:
                self._refresh_details()

    def action_full_details(self) -> None:
        """Show (or cap again) the long lists of the selection's details."""
        pane = self.main_query(DetailsPane)
        if self.view == "hosts" and self.fleet is not None and pane.display:
            pane.full = not pane.full
            self._refresh_details()
            return
        if self.snapshot is None or not pane.display:
            return
        pane.target = self.current_target()  # so `show` sees the same selection and keeps `full`
        pane.full = not pane.full
        pane.show(self.snapshot, pane.target, self.rates)

    def action_errors(self) -> None:
        self.push_screen(ErrorsScreen(self.snapshot.errors if self.snapshot else ()))

    def action_help(self) -> None:
        keys = [(b.key_display or b.key, b.tooltip or b.description) for b in ALL_BINDINGS
                if self.check_action(b.action.split("(")[0], ()) is not False]
        if self.fleet is not None:
            keys += [("enter (hosts)", "open the host's picture in views 1-6 (H comes back)"),
                     ("ctrl+p", "find on every host: device or namespace name, MAC, IP, Neutron port uuid")]
        notice = f" ({printable_line(self.notice)})" if self.notice else ""  # names a --load file: anything
        mode = ("READ-ONLY: nothing can be changed from here" + notice
                if self.read_only else "write mode: changes show their ip command and ask before running")
        self.push_screen(HelpScreen(keys, mode))

    # -- read-only gate (1 of 3: hide; the actions and the mutator refuse again) -------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "hosts":
            return self.fleet is not None
        if action == "step":
            return self.timeline is not None
        if action in ("pause", "refresh") and (self.fleet is not None or self.timeline is not None):
            return False  # a fleet file never changes; a recording's moment moves by `[` and `]`
        if action in HOST_ONLY_ACTIONS and self.fleet is not None and self.view == "hosts":
            return False  # a row of the hosts view is a host, not a device
        return not (action in WRITE_ACTIONS and self.read_only)

    def get_system_commands(self, screen: Screen[Any]) -> Any:
        """Palette commands: ours (from the bindings, write ones only in write mode), theme, quit."""
        for binding in ALL_BINDINGS:
            name = binding.action.split("(")[0]
            if binding.id in ("quit", "clear-filter") or self.check_action(name, ()) is False:
                continue
            yield SystemCommand(binding.description, f"key {binding.key_display or binding.key}",
                                lambda b=binding: self.run_action(b.action))
        yield SystemCommand("Theme", "Change the colour theme", self.action_change_theme)
        yield SystemCommand("Quit", "Quit vnettop", self.action_quit)

    def on_action_applied(self, message: ActionApplied) -> None:
        # Two lines, each escaped whole: the names in them cannot add a third.
        text = f"{printable_line(message.message)}\n$ {printable_line(message.ip_command)}"
        if message.ok:
            self._follow = wanted_after(message.plan)
            self._follow_left = PATIENCE
            self.notify(text, title="done", timeout=6)
        else:
            self.notify(text, title="not done", severity="error", timeout=10)
        self.action_refresh()

    async def action_quit(self) -> None:
        self._wake.set()
        self.exit(0)

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Every notification as plain text: they carry device and process names and kernel messages,
        which must show as they are (no markup) and drive no terminal (control characters escaped)."""
        super().notify(printable(message), title=printable_line(title), severity=severity, timeout=timeout,
                       markup=False)


#: The write-mode bindings, re-exported for tests that check they are hidden in read-only mode.
WRITE_KEYS = [b.key for b in WRITE_BINDINGS]


def build_app(collector: Collector, mutator: Any = None, *, read_only: bool, notice: str | None = None,
              source_label: str = "live", interval: float = 1.0,
              fleet: FleetState | None = None, timeline: Timeline | None = None) -> VnettopApp:
    """The one factory of the app, shared by the CLI and the tests."""
    return VnettopApp(collector, mutator, read_only=read_only, notice=notice, source_label=source_label,
                      interval=interval, fleet=fleet, timeline=timeline)


def run(collector: Collector, mutator: Any, *, read_only: bool, notice: str | None,
        source_label: str, interval: float, fleet: FleetState | None = None,
        timeline: Timeline | None = None) -> int:
    """Run the app full screen until the user quits; returns the exit status."""
    app = build_app(collector, mutator, read_only=read_only, notice=notice, source_label=source_label,
                    interval=interval, fleet=fleet, timeline=timeline)
    app.gc_policy = GcPolicy()
    app.exit_on_signals = True
    app.driver_class = SturdyDriver
    try:
        result = app.run()
    finally:
        app.gc_policy.stop()
        collector.close()
    return int(result or 0)


STYLESHEET = Path(__file__).with_name("vnettop.tcss")
