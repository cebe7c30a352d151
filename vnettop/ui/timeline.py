"""The inspector over a recording (`vnettop --load REC [--at TIME]`): which moment is shown, stepping
from change to change, the header's words for it, and the recorded changes as the events view's rows.

Pure (no Textual): the app drives it. The picture is rebuilt by `Recording.snapshot_at` in the app's
collecting thread (`RecordingCollector.collect`), so a rebuild (up to ~0.1 s in a 100 MB recording)
never blocks a key; the app's poll loop shows it exactly as it shows a live refresh, keeping the
selection on the same device when it is still there.

Positions: with N change records at times t1 < ... < tN, the moment shown is "at change k" when it is
tk, "after change k" when it lies between tk and tk+1 (k = 0: before the first change). `[` shows the
picture before the change the current one ends with (change k-1, or the start), `]` the next change, so
every step shows a picture that differs from the last one, wherever the moment was.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from rich.text import Text

from vnettop.model import Snapshot
from vnettop.record.changelog import item_text
from vnettop.record.reader import Recording, RecordingError
from vnettop.record.timefmt import parse_stamp, stamp
from vnettop.textsafe import printable_line
from vnettop.ui.filtering import Filter
from vnettop.ui.labels import short
from vnettop.ui.rows import Row
from vnettop.ui.targets import Target

#: Change records listed in the events view on each side of the one shown (a long recording holds
#: tens of thousands; the list follows the moment as it moves).
EVENTS_AROUND = 100
#: Change records whose texts are kept (each is read from the file once while it stays here).
TEXT_CACHE = 2000
#: Styles of the first character of a change's text (+ added, - removed, > moved, ~ changed).
_STYLE = {"+": "green", "-": "red", ">": "yellow", "~": ""}


def moment_text(when: datetime) -> str:
    """A moment as the header shows it: UTC, to the millisecond (two changes can share a second)."""
    ts = when.astimezone(timezone.utc)
    return ts.strftime("%Y-%m-%d %H:%M:%S.") + f"{ts.microsecond // 1000:03d} UTC"


@dataclass(frozen=True, slots=True)
class ItemCells:
    """One change item as the events view's columns say it (each a safe line)."""

    what: str  # added, removed, moved, changed; "ns added"...; for a section: its op
    subject: str  # the device's name, the namespace's label, the section's name
    where: str  # the namespace
    detail: str
    text: str  # the whole line, as `vnettop changes` prints it (the filter matches it)
    target: Target | None  # the device or namespace it is about (None for a section: owners, ovs)


@dataclass(frozen=True, slots=True)
class RecordedChange:
    """One item of one change record: the record's index (0-based) and time, and the item."""

    index: int
    at: datetime
    item: ItemCells
    number: int  # the item's place in its record


def item_cells(item: dict[str, Any]) -> ItemCells:
    """The columns of one recorded change item, from the same words `vnettop changes` uses."""
    text = item_text(item)
    op, what = str(item.get("op", "?")), item.get("what")
    sign = text[:1]
    if what == "device":
        subject, where = str(item.get("name")), str(item.get("ns"))
        prefix = f"{sign} device {where}/{subject}"
    elif what == "namespace":
        subject = where = str(item.get("ns"))
        op = f"ns {op}"
        prefix = f"{sign} namespace {where}"
    else:
        subject, where = str(item.get("key")), ""
        prefix = f"{sign} {subject}"
    kind = item.get("kind") if what == "device" else None
    if kind:
        prefix += f" ({kind})"
    subject, where = printable_line(subject), printable_line(where)
    detail = text[len(prefix):] if text.startswith(prefix) else text
    detail = detail.removeprefix(":").strip() or printable_line(str(kind or ""))
    return ItemCells(op, subject, where, detail, text, _item_target(item))


def _item_target(item: dict[str, Any]) -> Target | None:
    key = str(item.get("key", ""))
    try:
        if item.get("what") == "device":
            netns, ifindex = key.split("/")
            return Target.link(int(netns), int(ifindex))
        if item.get("what") == "namespace":
            return Target.ns(int(key))
    except ValueError:
        pass
    return None


class Timeline:
    """A recording and the moment shown. Every read of the recording's files goes through `lock`: the
    collecting thread rebuilds pictures while the event loop lists changes."""

    def __init__(self, recording: Recording, moment: datetime, name: str) -> None:
        self.recording = recording
        self.name = name  # the file's name, as the header shows it
        self.lock = threading.Lock()
        with self.lock:
            self.times: list[str] = recording.change_times()
            self.start, self.end = recording.start, recording.end
        self.moment = moment
        self._texts: OrderedDict[int, list[ItemCells]] = OrderedDict()

    @classmethod
    def open(cls, path: str, at: datetime | str | None = None) -> Timeline:
        """The recording in `path` at `at` (a moment, a TIME as the command line takes it, or None: the
        recording's last moment). Raises RecordingError (or TimeFormatError) with one clear line."""
        from vnettop.record.timefmt import parse_time

        rec = Recording.open(path)
        try:
            if at is None:
                when = rec.end
            elif isinstance(at, str):
                when = parse_time(at, rec.start, rec.end)
            else:
                when = at
            return cls(rec, when, os.path.basename(path) or path)
        except BaseException:
            rec.close()
            raise

    def close(self) -> None:
        with self.lock:
            self.recording.close()

    # -- positions ---------------------------------------------------------------------------------

    @property
    def total(self) -> int:
        return len(self.times)

    def position(self, when: datetime) -> tuple[int, bool]:
        """(k, exact): k change records are at or before `when`; exact when the k-th is at `when`."""
        t = stamp(when)
        k = bisect.bisect_right(self.times, t)
        return k, k > 0 and self.times[k - 1] == t

    def change_time(self, index: int) -> datetime:
        """The time of change record `index` (0-based)."""
        return parse_stamp(self.times[index])

    def step(self, direction: int) -> datetime | None:
        """The moment `[` (-1) or `]` (+1) goes to from the one shown, or None at either end."""
        k, _exact = self.position(self.moment)
        if direction < 0:
            if k == 0:
                return None
            return self.change_time(k - 2) if k >= 2 else self.start
        return self.change_time(k) if k < self.total else None

    def label(self, shown: datetime) -> str:
        """The header's words for the moment shown: `recording vnt.rec · 2026-12-04 03:12:07.000 UTC
        (change 41 of 310)`; the file name is escaped."""
        k, exact = self.position(shown)
        n = self.total
        if n == 0:
            where = "no change recorded"
        elif exact:
            where = f"change {k} of {n}"
        elif k == 0:
            where = f"before change 1 of {n}"
        else:
            where = f"after change {k} of {n}"
        return f"recording {printable_line(self.name)} · {moment_text(shown)} ({where})"

    # -- pictures ----------------------------------------------------------------------------------

    def snapshot_at(self, when: datetime) -> Snapshot:
        with self.lock:
            return self.recording.snapshot_at(when)

    # -- the events view ---------------------------------------------------------------------------

    def _read_texts(self, index: int) -> list[ItemCells]:
        """The items of change record `index`, read once and kept (lock held)."""
        kept = self._texts.get(index)
        if kept is not None:
            self._texts.move_to_end(index)
            return kept
        when = self.change_time(index)
        found: list[ItemCells] = []
        for cs in self.recording.changes(when, when):
            found += [item_cells(item) for item in cs.items if isinstance(item, dict)]
        self._texts[index] = found
        while len(self._texts) > TEXT_CACHE:
            self._texts.popitem(last=False)
        return found

    def item_target(self, index: int, number: int) -> Target | None:
        """What item `number` of change record `index` is about (a device, a namespace, or None)."""
        with self.lock:
            items = self._read_texts(index)
        return items[number].target if 0 <= number < len(items) else None

    def window(self, when: datetime) -> range:
        """The change records the events view lists when `when` is shown."""
        k, _ = self.position(when)
        return range(max(0, k - 1 - EVENTS_AROUND), min(self.total, k + EVENTS_AROUND))

    def warm(self, when: datetime) -> None:
        """Read the texts the events view will list at `when` (from the collecting thread, so the event
        loop finds them ready)."""
        with self.lock:
            for i in self.window(when):
                self._read_texts(i)

    def changes_around(self, when: datetime) -> list[RecordedChange]:
        """The recorded changes listed at `when`, newest first."""
        out: list[RecordedChange] = []
        with self.lock:
            for i in reversed(self.window(when)):
                at = self.change_time(i)
                out += [RecordedChange(i, at, item, j) for j, item in enumerate(self._read_texts(i))]
        return out


def event_rows(timeline: Timeline, snap: Snapshot, when: datetime, flt: Filter) -> list[Row]:
    """The events view over a recording: the recorded changes around the moment shown (`when`, the
    moment of `snap`), newest first; the change the picture ends with is marked `▶`, those before it
    `·` (`enter` on a row shows the picture at that change)."""
    shown, _ = timeline.position(when)
    rows: list[Row] = []
    for change in timeline.changes_around(when):
        item = change.item
        if flt.active and ((flt.text in item.text.lower()) == flt.inverted):
            continue
        target = item.target if item.target is not None and _alive(snap, item.target) else None
        mark = "▶" if change.index + 1 == shown else ("·" if change.index < shown else " ")
        rows.append(Row(f"rec:{change.index}:{change.number}", target, (
            Text(f"{mark} {moment_text(change.at)[11:23]}", style="bold" if mark == "▶" else ""),
            Text(item.what, style=_STYLE.get(item.text[:1], "")), item.subject, short(item.where),
            item.detail)))
    return rows


def row_item(row: Row | None) -> tuple[int, int] | None:
    """(change record, item) an events row of a recording is about (None for any other row)."""
    if row is None or not row.key.startswith("rec:"):
        return None
    try:
        _, index, number = row.key.split(":")
        return int(index), int(number)
    except ValueError:
        return None


def change_index(row: Row | None) -> int | None:
    """The change record an events row of a recording is about (None for any other row)."""
    found = row_item(row)
    return found[0] if found is not None else None


def _alive(snap: Snapshot, target: Target) -> bool:
    if target.kind == "link":
        return snap.link(target.netns, target.ident) is not None
    return snap.namespace(target.netns) is not None


class RecordingCollector:
    """A Collector over a recording: `collect` returns the picture at the timeline's moment (rebuilt
    only when the moment changed); `go` changes the moment and ends the poll's wait at once."""

    def __init__(self, timeline: Timeline, first: Snapshot | None = None) -> None:
        self.timeline = timeline
        self._shown: tuple[datetime, Snapshot] | None = None if first is None else (timeline.moment, first)
        self._moved = threading.Event()
        self._closed = False

    def moment_of(self, snap: Snapshot) -> datetime:
        """The moment `snap` was rebuilt for (its `taken_at` is that moment to the millisecond)."""
        shown = self._shown
        return shown[0] if shown is not None and shown[1] is snap else snap.taken_at

    def go(self, when: datetime) -> None:
        self.timeline.moment = when
        self._moved.set()

    def collect(self) -> Snapshot:
        when = self.timeline.moment
        if self._shown is not None and self._shown[0] == when:
            return self._shown[1]
        try:
            snap = self.timeline.snapshot_at(when)
        except RecordingError as e:
            if self._shown is not None:  # stay on the last moment that could be shown
                self.timeline.moment = self._shown[0]
            raise RecordingError(f"cannot show {moment_text(when)}: {e}") from None
        self._shown = (when, snap)
        self.timeline.warm(when)
        return snap

    def wait_for_change(self, timeout: float) -> bool:
        """Wait up to `timeout`; a new moment ends the wait (False: the app's wake-up then collects)."""
        self._moved.wait(timeout)
        self._moved.clear()
        return False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._moved.set()
            self.timeline.close()
