"""Byte rates per device from successive snapshots' counters, with a short history for sparklines.

The kernel only gives cumulative counters; a rate is the counter delta divided by the time between the
two reads of them: the delta of the snapshots' `taken_at`, corrected by `Snapshot.counters_late` for the
namespaces a live collect read late (after giving way to the UI, up to 0.25 s, or after a slow full dump:
otherwise a rate ~25 % too high or too low, on the device being looked at, while keys are pressed).
Counters going backwards (a device recreated with the same key) restart the history instead of showing a
huge negative rate.

A live view reads the counters of the namespaces it does not show on a slower cadence
(`Snapshot.counters_behind`): while a namespace is behind, its devices give no rate (their counters are
from an earlier read, not idle); when it is read again, a device that moved gets the average rate since
that earlier read, for each tick of the span, not zeros and then a burst.

OVS interfaces that are no kernel device (patch, tunnel) have only OVSDB's `statistics`, which
ovs-vswitchd writes every ~5 s: their rates (`ovs`, by Interface uuid) are taken between two such
writes, over the time between the updates that carried them (`OvsCounters.at`), not per tick: between
writes the counters stand still, and a per-tick rate would read 0, then a 5-second burst.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise

from vnettop.model import Link, LinkKey, OvsStatistics, Snapshot

BARS = "▁▂▃▄▅▆▇█"


@dataclass(slots=True)
class RateSeries:
    """Recent rx/tx rates of one device, bytes per second, oldest first."""

    rx: deque[float] = field(default_factory=lambda: deque(maxlen=RateTracker.HISTORY))
    tx: deque[float] = field(default_factory=lambda: deque(maxlen=RateTracker.HISTORY))
    #: The tracker's tick of the last rate appended (ticks after it were idle: zeros, added when read).
    upto: int = 0


class RateTracker:
    """Feeds on snapshots; remembers the last counters and the recent rates of every device.

    Why it walks only what changed: the collector hands back the very same Link object for a device
    whose counters did not move, and most devices of a big host are idle. A rate of such a device is 0,
    so its series is not touched on the tick; the zeros it missed are added when it is read (`get`) or
    when it moves again. A tick then costs an identity check per device plus the work for the devices
    that moved, instead of dict operations and appends for every device (~10 ms at 5000 devices).
    """

    HISTORY = 24

    def __init__(self) -> None:
        self._last: dict[LinkKey, tuple[int, int]] = {}
        self._last_at: float | None = None
        self._links: tuple[Link, ...] | None = None  # the snapshot's links `_last` is up to date with
        self._sorted = False  # `_links` is in key order (as the collector gives them): `_merge` may walk it
        self._tick = 0
        self._since: dict[LinkKey, int] = {}  # the tick a device's counters were first (or again) known
        self.series: dict[LinkKey, RateSeries] = {}
        #: OVS interfaces by uuid: (rx, tx, the time they were known current at), and their rates.
        self._ovs_last: dict[str, tuple[int, int, float | None]] = {}
        self._ovs_seen: OvsStatistics | None = None
        self.ovs: dict[str, RateSeries] = {}
        #: The namespaces whose counters were behind in this snapshot, and in the one before.
        self._behind: Mapping[int, datetime] = {}
        self._behind_before: Mapping[int, datetime] = {}
        #: For each namespace behind: the tick and time of the last snapshot fed here that had its counters
        #: read (what `_last` holds for its devices; a snapshot that never came, a failed refresh, is not
        #: taken for one). None: none seen (its devices give no rate at the next read).
        self._read: dict[int, tuple[int, float] | None] = {}
        self._at = 0.0  # the taken_at of the snapshot being fed
        #: `Snapshot.counters_late` of the snapshot being fed, and of the one fed before it.
        self._late: Mapping[int, float] = {}
        self._late_before: Mapping[int, float] = {}

    def feed(self, snap: Snapshot) -> None:
        self._feed_ovs(snap.ovs.statistics if snap.ovs is not None else None)
        at = snap.taken_at.timestamp()
        dt = at - self._last_at if self._last_at is not None else 0.0
        if dt <= 0 and self._last_at is not None:
            return  # the same moment again (a loaded file): nothing to learn
        self._at = at
        behind = snap.counters_behind
        if behind or self._behind:
            read = self._read
            for ns in behind:
                if ns not in self._behind:  # read in the last snapshot fed, behind since
                    read[ns] = ((self._tick, self._last_at + self._late.get(ns, 0.0))
                                if self._last_at is not None else None)
        self._late_before, self._late = self._late, snap.counters_late
        self._behind_before, self._behind = self._behind, behind
        links = snap.links
        prev = self._links
        if prev is None or not (self._incremental(prev, links, dt)
                                or (self._sorted and self._merge(prev, links, dt))):
            self._full(links, dt)
        self._links, self._last_at = links, at
        if self._behind_before:
            for ns in self._behind_before:
                if ns not in behind:  # read again: its span was taken by `_note`
                    self._read.pop(ns, None)

    def _incremental(self, prev: tuple[Link, ...], links: tuple[Link, ...], dt: float) -> bool:
        """The usual tick: the same devices in the same order, a few of them with new counters (new
        Link objects). False (nothing done) otherwise."""
        if len(prev) != len(links):
            return False
        moved = [(old, new) for old, new in zip(prev, links, strict=True) if old is not new]
        if any(old.ifindex != new.ifindex or old.netns != new.netns for old, new in moved):
            return False
        self._tick += 1
        if dt <= 0:
            for _, link in moved:
                self._note(link.key, (link.stats.rx_bytes, link.stats.tx_bytes), dt)
            return True
        # `_note` and `_pad` written out for the usual case (a device seen before, counters going up):
        # on a fresh 1000-namespace host ~550 devices move each tick, and the calls were half the cost.
        last, series_of, since, tick, history = self._last, self.series, self._since, self._tick, self.HISTORY
        paced = self._behind or self._behind_before
        late, late_before = self._late, self._late_before
        span = dt
        for _, link in moved:
            stats = link.stats
            rx, tx = stats.rx_bytes, stats.tx_bytes
            key = (link.netns, link.ifindex)
            before = last.get(key)
            if before is None or rx < before[0] or tx < before[1] or (
                    paced and (link.netns in self._behind or link.netns in self._behind_before)):
                self._note(key, (rx, tx), dt)  # first counters known, a reset, paced counters: in general
                continue
            if late or late_before:  # (`_span`, written out)
                span = dt + late.get(key[0], 0.0) - late_before.get(key[0], 0.0)
                if span <= 0:
                    span = dt
            last[key] = (rx, tx)
            series = series_of.get(key)
            if series is None:
                series = series_of[key] = RateSeries(upto=since.get(key, tick - 1))
            missed = tick - 1 - series.upto
            if missed > 0:  # zeros for the ticks it was idle (`_pad`)
                missed = min(missed, history)
                series.rx.extend([0.0] * missed)
                series.tx.extend([0.0] * missed)
            series.rx.append((rx - before[0]) / span)
            series.tx.append((tx - before[1]) / span)
            series.upto = tick
        return True

    def _merge(self, prev: tuple[Link, ...], links: tuple[Link, ...], dt: float) -> bool:
        """Rates for the devices whose Link changed, and the devices that came and went, found by
        walking both tuples in key order; False (nothing done) if `links` is not in key order.

        Why not rebuild the tables when a device comes or goes: at 5,000 devices that rebuild cost
        ~10 ms of the UI thread on exactly the refresh that shows a kernel change."""
        moved: list[Link] = []
        came: list[Link] = []
        gone: list[Link] = []
        i = j = 0
        n, m = len(prev), len(links)
        checked = True  # links[j - 1] came over as the very same object (so its order is prev's)
        while j < m:
            b = links[j]
            if i < n and prev[i] is b:
                if not checked and j and links[j - 1].key >= b.key:
                    return False
                checked = True
                i += 1
                j += 1
                continue
            key = b.key
            if j and links[j - 1].key >= key:
                return False
            checked = False
            while i < n and prev[i].key < key:
                gone.append(prev[i])
                i += 1
            if i < n and prev[i].key == key:
                moved.append(b)
                i += 1
            else:
                came.append(b)
            j += 1
        gone.extend(prev[i:])
        self._tick += 1
        for link in gone:
            self._last.pop(link.key, None)
            self._since.pop(link.key, None)
            self.series.pop(link.key, None)
        for link in came:
            self._since[link.key] = self._tick
            self._note(link.key, (link.stats.rx_bytes, link.stats.tx_bytes), dt)
        for link in moved:
            self._note(link.key, (link.stats.rx_bytes, link.stats.tx_bytes), dt)
        return True

    def _full(self, links: tuple[Link, ...], dt: float) -> None:
        self._tick += 1
        current: dict[LinkKey, tuple[int, int]] = {}
        since, now = self._since, {}
        for link in links:
            key = link.key
            current[key] = (link.stats.rx_bytes, link.stats.tx_bytes)
            now[key] = since.get(key, self._tick)
        self._since = now
        for key in list(self.series):
            if key not in current:
                del self.series[key]
        if dt > 0:
            for key, counters in current.items():
                self._note(key, counters, dt)
        self._last = current
        keys = list(current)
        self._sorted = len(keys) == len(links) and all(a < b for a, b in pairwise(keys))

    def _note(self, key: LinkKey, counters: tuple[int, int], dt: float) -> None:
        if key[0] in self._behind:  # counters of an earlier read: nothing new is known of this tick
            self._last.setdefault(key, counters)
            return
        before = self._last.get(key)
        self._last[key] = counters
        if before is None or dt <= 0:
            return
        drx, dtx = counters[0] - before[0], counters[1] - before[1]
        if drx < 0 or dtx < 0:
            self.series.pop(key, None)
            self._since[key] = self._tick
            return
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = RateSeries(upto=self._since.get(key, self._tick - 1))
        ticks, span = 1, self._span(key[0], dt)
        if key[0] in self._behind_before:  # read again after a while: the span since its last read here
            since = self._read.get(key[0])
            if since is None:
                return  # (no read of it was seen: its counters are known from now on)
            ticks, span = self._tick - since[0], max(self._at + self._late.get(key[0], 0.0) - since[1], dt)
        self._pad(series, self._tick - ticks)
        rx, tx = drx / span, dtx / span
        for _ in range(min(ticks, self.HISTORY)):
            series.rx.append(rx)
            series.tx.append(tx)
        series.upto = self._tick

    def _span(self, ns: int, dt: float) -> float:
        """The time between the last two reads of namespace `ns`'s counters: `dt` (between the two
        snapshots), corrected by how late each read them (`Snapshot.counters_late`)."""
        if not (self._late or self._late_before):
            return dt
        span = dt + self._late.get(ns, 0.0) - self._late_before.get(ns, 0.0)
        return span if span > 0 else dt  # (a wall clock stepped back between the two snapshots)

    def _pad(self, series: RateSeries, tick: int) -> None:
        """Zeros for the idle ticks between the series' last rate and `tick`."""
        missed = min(tick - series.upto, self.HISTORY)
        if missed > 0:
            series.rx.extend([0.0] * missed)
            series.tx.extend([0.0] * missed)
        series.upto = max(series.upto, tick)

    def get(self, key: LinkKey) -> RateSeries | None:
        """The device's recent rates: one per tick since its counters were first known (zeros for the
        ticks it was idle); None before a second snapshot showed it."""
        series = self.series.get(key)
        if series is None:
            since = self._since.get(key)
            if since is None or since >= self._tick:
                return None
            series = self.series[key] = RateSeries(upto=since)
        upto = self._tick
        if key[0] in self._behind:  # its counters behind: idle until the last read of them seen here
            read = self._read.get(key[0])
            upto = read[0] if read is not None else series.upto
        self._pad(series, upto)
        return series

    def get_ovs(self, uuid: str) -> RateSeries | None:
        """The rates of an OVS interface from OVSDB's statistics (None: fewer than two writes seen)."""
        return self.ovs.get(uuid)

    def _feed_ovs(self, stats: OvsStatistics | None) -> None:
        """A rate per statistics write: the counters' change over the time since they were last known
        current. An interface whose row an update left out was unchanged at that update (ovs-vswitchd
        writes every interface in one pass, OVSDB sends only changed rows), so an idle spell gives 0,
        not a long average hiding the next burst. Values from before vnettop connected (time unknown)
        give no rate."""
        if stats is self._ovs_seen:
            return  # no statistics update since the last tick: nothing new (the common case)
        self._ovs_seen = stats
        if stats is None:
            self._ovs_last.clear()
            self.ovs.clear()
            return
        seen = stats.seen_at
        last: dict[str, tuple[int, int, float | None]] = {}
        for uuid, c in stats.by_iface.items():
            rx, tx = c.get("rx_bytes"), c.get("tx_bytes")
            if rx is None or tx is None:
                continue
            last[uuid] = (rx, tx, seen)
            before = self._ovs_last.get(uuid)
            if before is None or before[2] is None:
                continue
            end = c.at if (rx, tx) != before[:2] else seen
            if end is None or end <= before[2]:
                last[uuid] = before  # nothing written since: keep the older moment
                continue
            dt = end - before[2]
            drx, dtx = rx - before[0], tx - before[1]
            if drx < 0 or dtx < 0:  # reset (interface re-created): start again
                self.ovs.pop(uuid, None)
                continue
            series = self.ovs.get(uuid)
            if series is None:
                series = self.ovs[uuid] = RateSeries()
            series.rx.append(drx / dt)
            series.tx.append(dtx / dt)
        for uuid in [u for u in self.ovs if u not in last]:
            del self.ovs[uuid]
        self._ovs_last = last


def human_rate(value: float) -> str:
    """1234567 -> "1.2 MB/s" (decimal units, like most traffic tools)."""
    for unit in ("B/s", "kB/s", "MB/s", "GB/s"):
        if value < 1000 or unit == "GB/s":
            return f"{value:.0f} {unit}" if unit == "B/s" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB/s"  # pragma: no cover


def human_bytes(value: int) -> str:
    """A byte count for people: 9400000000 -> "9.4 GB"."""
    v = float(value)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if v < 1000 or unit == "TB":
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1000
    return f"{v:.1f} TB"  # pragma: no cover


def sparkline(values: list[float] | deque[float], width: int = 12) -> str:
    """The last `width` values as block characters, scaled to their own maximum ("" if none)."""
    tail = list(values)[-width:]
    if not tail:
        return ""
    top = max(tail)
    if top <= 0:
        return BARS[0] * len(tail)
    return "".join(BARS[min(len(BARS) - 1, int(v / top * (len(BARS) - 1) + 0.5))] for v in tail)
