"""The app over a fleet file: the hosts view, opening a host, `H` back, and summaries read in the background.

What the rows say is `vnettop.ui.fleet_hosts` (pure); this mixin only moves between the hosts view and
a host's picture. A fleet file never changes, so nothing is polled: a host's snapshot is built once, in
a thread (a host with 800 veths takes tens of ms), when `enter` or the palette opens it; the per-host
views then show it exactly as `--load snap.json` would, read-only, starting afresh (no rates, no events
carried over from the host shown before).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.worker import get_current_worker

from vnettop.errors import VnettopError
from vnettop.model import Snapshot
from vnettop.ui import ovs_rows
from vnettop.ui.changes import ChangeLog
from vnettop.ui.filtering import Filter
from vnettop.ui.fleet_hosts import FleetState, HostSummary, host_index, summarize
from vnettop.ui.messages import HostNotOpened, HostOpened, HostsSummarized
from vnettop.ui.rates import RateTracker
from vnettop.ui.rows import RowBuilder
from vnettop.ui.targets import Target
from vnettop.ui.tree_model import TreeBuilder
from vnettop.ui.widgets.snapshot_table import SnapshotTable

if TYPE_CHECKING:
    from textual.app import App

    _Base = App[int]
else:
    _Base = object

#: Summaries are handed to the screen at most this often while they are read (each hand-over redraws
#: only the rows that got one).
SUMMARY_BATCH_SECONDS = 0.1
#: Rows above and below the screen's that are summarised first.
WANTED_MARGIN = 10


class FleetActions(_Base):
    """Mixin for VnettopApp: the hosts view of a fleet file."""

    if TYPE_CHECKING:  # provided by VnettopApp
        fleet: FleetState | None
        snapshot: Snapshot | None
        view: str
        filter: Filter
        polls: int
        rates: RateTracker
        changes: ChangeLog
        _tree: TreeBuilder
        _row_builders: dict[str, RowBuilder]
        _stale_views: set[str]

        def main_query(self, selector: Any, expect_type: Any = None) -> Any: ...
        def apply_snapshot(self, snap: Snapshot) -> None: ...
        def action_view(self, view: str) -> None: ...
        def jump_to(self, target: Target, prefer_topology: bool = False) -> None: ...
        def _refresh_view(self) -> None: ...
        def _refresh_header(self) -> None: ...
        def _details_soon(self) -> None: ...
        def _apply_filter(self, flt: Filter) -> None: ...

    def action_hosts(self) -> None:
        """`H`: the hosts view (the cursor stays on the host shown)."""
        if self.fleet is None:
            return
        if self.view != "hosts":
            self._apply_filter(Filter())
            self.action_view("hosts")
            current = self.fleet.current
            table = self.main_query("#hosts", SnapshotTable)
            if current is not None:
                for i in range(table.row_count):
                    if host_index(table.row_at(i)) == current:
                        table.move_cursor(i)
                        break

    def open_host(self, index: int, target: Target | None = None) -> None:
        """Show host `index`'s picture in the per-host views (built in a thread); a host with none says so."""
        fleet = self.fleet
        if fleet is None or not 0 <= index < len(fleet.entries):
            return
        entry = fleet.entries[index]
        if not entry.ok:
            self.notify(f"{entry.host}: no picture: it did not answer ({entry.error or 'failed'})",
                        title="host failed", severity="warning", timeout=5)
            return
        self._build_host(index, target)

    @work(thread=True, exclusive=True, group="fleet-host", exit_on_error=False)
    def _build_host(self, index: int, target: Target | None) -> None:
        assert self.fleet is not None
        entry = self.fleet.entries[index]
        try:
            snap = entry.snapshot()
        except VnettopError as e:
            self.post_message(HostNotOpened(index, str(e)))
            return
        except Exception as e:  # a bug must not end the app: say it, stay on the hosts view
            self.post_message(HostNotOpened(index, f"internal error: {type(e).__name__}: {e}"))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(HostOpened(index, snap, target))

    def on_host_opened(self, message: HostOpened) -> None:
        fleet = self.fleet
        if fleet is None:
            return
        if fleet.current != message.index:
            fleet.current = message.index
            # A new host: nothing of the last one's (rates, events, reused rows) carries over.
            self.snapshot = None
            self.rates = RateTracker()
            self.changes = ChangeLog()
            self._tree = TreeBuilder()
            self._row_builders = ovs_rows.kept_row_builders()
        self._apply_filter(Filter())
        self.polls += 1
        self.apply_snapshot(message.snapshot)
        if self.view == "hosts":
            self.action_view("topology")
        if message.target is not None:
            self.jump_to(message.target)

    def on_host_not_opened(self, message: HostNotOpened) -> None:
        self.notify(message.reason, title="no picture", severity="error", timeout=8)

    # -- summaries ---------------------------------------------------------------------------------

    def start_summaries(self) -> None:
        if self.fleet is not None and self.fleet.to_summarize():
            self._summarize_hosts()

    @work(thread=True, exclusive=True, group="fleet-summaries", exit_on_error=False)
    def _summarize_hosts(self) -> None:
        """Read every answering host's counts and orphans, rows on screen first, in batches."""
        fleet = self.fleet
        assert fleet is not None
        worker = get_current_worker()
        done: set[int] = {i for i, s in enumerate(fleet.summaries) if s is not None}
        start = 0
        batch: list[tuple[int, HostSummary]] = []
        last = time.monotonic()
        while not worker.is_cancelled:
            held = fleet.hold_until - time.monotonic()
            if held > 0:  # a key is being answered: let it have the interpreter
                time.sleep(min(held, SUMMARY_BATCH_SECONDS))
                continue
            index, start = fleet.next_to_summarize(done, start)
            if index is None:
                break
            done.add(index)
            try:
                summary = summarize(fleet.entries[index])
            except Exception as e:  # a bug in one host's reading must not stop the others
                summary = HostSummary(unreadable=f"internal error: {type(e).__name__}: {e}")
            batch.append((index, summary))
            if time.monotonic() - last >= SUMMARY_BATCH_SECONDS:
                self.post_message(HostsSummarized(batch))
                batch = []
                last = time.monotonic()
        if batch and not worker.is_cancelled:
            self.post_message(HostsSummarized(batch))

    def on_hosts_summarized(self, message: HostsSummarized) -> None:
        fleet = self.fleet
        if fleet is None:
            return
        for index, summary in message.summaries:
            fleet.summaries[index] = summary
        self._refresh_header()
        self._stale_views.add("hosts")  # drawn now if shown, else when H shows it again
        self._refresh_view()

    @on(SnapshotTable.RowHighlighted, "#hosts")
    def _hosts_cursor_moved(self) -> None:
        """Rows around the cursor are summarised before the others."""
        fleet = self.fleet
        if fleet is None:
            return
        table = self.main_query("#hosts", SnapshotTable)
        page = max(1, table.size.height)
        first = max(0, table.cursor_row - page - WANTED_MARGIN)
        last = min(table.row_count, table.cursor_row + page + WANTED_MARGIN)
        rows = (table.row_at(i) for i in range(first, last))
        fleet.wanted = tuple(i for i in (host_index(r) for r in rows) if i is not None)
