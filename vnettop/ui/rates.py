"""Byte rates per device from successive snapshots' counters, with a short history for sparklines.

The kernel only gives cumulative counters; a rate is the counter delta divided by the delta of the
snapshots' `taken_at`. Counters going backwards (a device recreated with the same key) restart the
history instead of showing a huge negative rate.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from vnettop.model import LinkKey, Snapshot

BARS = "▁▂▃▄▅▆▇█"


@dataclass(slots=True)
class RateSeries:
    """Recent rx/tx rates of one device, bytes per second, oldest first."""

    rx: deque[float] = field(default_factory=lambda: deque(maxlen=RateTracker.HISTORY))
    tx: deque[float] = field(default_factory=lambda: deque(maxlen=RateTracker.HISTORY))


class RateTracker:
    """Feeds on snapshots; remembers the last counters and the recent rates of every device."""

    HISTORY = 24

    def __init__(self) -> None:
        self._last: dict[LinkKey, tuple[int, int]] = {}
        self._last_at: float | None = None
        self.series: dict[LinkKey, RateSeries] = {}

    def feed(self, snap: Snapshot) -> None:
        at = snap.taken_at.timestamp()
        dt = at - self._last_at if self._last_at is not None else 0.0
        current: dict[LinkKey, tuple[int, int]] = {}
        for link in snap.links:
            counters = (link.stats.rx_bytes, link.stats.tx_bytes)
            current[link.key] = counters
            before = self._last.get(link.key)
            if before is None or dt <= 0:
                continue
            drx, dtx = counters[0] - before[0], counters[1] - before[1]
            series = self.series.get(link.key)
            if drx < 0 or dtx < 0:
                self.series.pop(link.key, None)
                continue
            if series is None:
                series = self.series[link.key] = RateSeries()
            series.rx.append(drx / dt)
            series.tx.append(dtx / dt)
        for key in list(self.series):
            if key not in current:
                del self.series[key]
        if dt > 0 or self._last_at is None:
            self._last, self._last_at = current, at

    def get(self, key: LinkKey) -> RateSeries | None:
        return self.series.get(key)


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
