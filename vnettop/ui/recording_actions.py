"""The app over a recording (`vnettop --load REC [--at TIME]`): `[` / `]` step between recorded changes,
`enter` on a recorded change shows its moment, and the header says which moment is shown.

What a moment is and which comes next is `vnettop.ui.timeline` (pure); this mixin only moves the
moment. The picture itself arrives through the app's ordinary poll (`RecordingCollector.collect`
rebuilds it in the collecting thread), so it is shown as a live refresh is: the selection stays on the
same device when that device is still there. Nothing can be changed: the app is read-only over a
recording, as over any `--load` file.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from vnettop.model import Snapshot
from vnettop.ui.filtering import Filter
from vnettop.ui.rows import Row
from vnettop.ui.targets import Target
from vnettop.ui.timeline import RecordingCollector, Timeline, change_index, event_rows, row_item
from vnettop.ui.widgets.snapshot_table import SnapshotTable

if TYPE_CHECKING:
    from textual.app import App

    _Base = App[int]
else:
    _Base = object


class RecordingActions(_Base):
    """Mixin for VnettopApp: moving through a recording."""

    if TYPE_CHECKING:  # provided by VnettopApp
        timeline: Timeline | None
        collector: Any
        snapshot: Snapshot | None
        view: str
        filter: Filter
        _stale_views: set[str]

        def main_query(self, selector: Any, expect_type: Any = None) -> Any: ...
        def action_refresh(self) -> None: ...
        def jump_to(self, target: Target, prefer_topology: bool = False) -> None: ...
        def _refresh_view(self) -> None: ...

    #: After `enter` on a recorded change: (its moment, what to select once that moment is shown).
    _select_at: tuple[datetime, Target | None] | None = None
    #: The moment `[`/`]` asked for, to put the events view's cursor on its change once shown.
    _stepped_to: datetime | None = None
    #: The picture `after_moment` last saw (a poll that brings the same one again changes nothing).
    _moment_snap: Snapshot | None = None

    def _moment_collector(self) -> RecordingCollector | None:
        collector = self.collector
        return collector if isinstance(collector, RecordingCollector) else None

    def moment_shown(self, snap: Snapshot) -> datetime:
        """The moment `snap` (a picture of the recording) shows."""
        collector = self._moment_collector()
        return collector.moment_of(snap) if collector is not None else snap.taken_at

    def moment_label(self) -> str | None:
        """The header's words for the moment shown (None when no recording is shown)."""
        if self.timeline is None or self.snapshot is None:
            return None
        return self.timeline.label(self.moment_shown(self.snapshot))

    def go_to_moment(self, when: datetime, select: Target | None = None, chosen: bool = False) -> None:
        """Show the picture at `when` (rebuilt in the collecting thread, shown by the next poll)."""
        collector = self._moment_collector()
        if collector is None:
            return
        self._select_at = (when, select) if chosen else None
        self._stepped_to = None if chosen else when
        collector.go(when)
        self.action_refresh()

    def action_step(self, direction: int) -> None:
        """`[` (-1): the picture before the change shown; `]` (+1): the next change."""
        timeline = self.timeline
        if timeline is None:
            return
        when = timeline.step(direction)
        if when is None:
            where = "the recording's start: no earlier change" if direction < 0 else "the last change"
            self.notify(f"already at {where}", timeout=2)
            return
        self.go_to_moment(when)

    def recorded_event_rows(self, snap: Snapshot) -> list[Row]:
        assert self.timeline is not None
        return event_rows(self.timeline, snap, self.moment_shown(snap), self.filter)

    def open_recorded_change(self, row: Row | None) -> None:
        """`enter` on a recorded change: show the picture just after it, with its device selected in
        the topology when it is there then (a removed one is not: the events view stays)."""
        found = row_item(row)
        if self.timeline is None or found is None:
            return
        index, number = found
        self.go_to_moment(self.timeline.change_time(index), self.timeline.item_target(index, number),
                          chosen=True)

    def after_moment(self, snap: Snapshot) -> None:
        """Called by the app once a picture of the recording is shown: the events view's marks follow
        the moment, and what `enter` or a step asked for is selected."""
        if self.timeline is None or snap is self._moment_snap:
            return
        self._moment_snap = snap
        shown = self.moment_shown(snap)
        self._stale_views.add("events")
        if self.view == "events":
            self._refresh_view()
        # What was asked is done once its moment is shown (a picture of an earlier moment can come
        # first, when keys came faster than pictures are rebuilt).
        wanted = self._select_at
        if wanted is not None and wanted[0] == shown:
            self._select_at = None
            target = wanted[1]
            if target is not None and _present(snap, target):
                self.jump_to(target, prefer_topology=True)
                return
            self.cursor_to_moment()
        if self._stepped_to == shown:
            self._stepped_to = None
            self.cursor_to_moment()

    def cursor_to_moment(self) -> None:
        """In the events view over a recording, put the cursor on the change the picture ends with."""
        if self.timeline is None or self.snapshot is None or self.view != "events":
            return
        k, _ = self.timeline.position(self.moment_shown(self.snapshot))
        table = self.main_query("#events", SnapshotTable)
        for i in range(table.row_count):
            if change_index(table.row_at(i)) == k - 1:
                table.move_cursor(i)
                return


def _present(snap: Snapshot, target: Target) -> bool:
    if target.kind == "link":
        return snap.link(target.netns, target.ident) is not None
    return snap.namespace(target.netns) is not None
