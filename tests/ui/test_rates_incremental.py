"""The rate tracker walks only the devices whose Link object changed: the same series as the plain
computation over every device, tick by tick (idle devices, moving ones, a counter reset, a device
added and removed)."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import replace
from datetime import timedelta

from tests.fixtures_snapshots import compute_node
from vnettop.model import Link, LinkKey, Snapshot, Stats
from vnettop.ui.rates import RateTracker


class PlainRates:
    """Every device every tick (what RateTracker computed before it walked only the changed ones)."""

    def __init__(self) -> None:
        self.last: dict[LinkKey, tuple[int, int]] = {}
        self.last_at: float | None = None
        self.series: dict[LinkKey, tuple[deque[float], deque[float]]] = {}

    def feed(self, snap: Snapshot) -> None:
        at = snap.taken_at.timestamp()
        dt = at - self.last_at if self.last_at is not None else 0.0
        current = {}
        for link in snap.links:
            counters = (link.stats.rx_bytes, link.stats.tx_bytes)
            current[link.key] = counters
            before = self.last.get(link.key)
            if before is None or dt <= 0:
                continue
            drx, dtx = counters[0] - before[0], counters[1] - before[1]
            if drx < 0 or dtx < 0:
                self.series.pop(link.key, None)
                continue
            rx, tx = self.series.setdefault(link.key, (deque(maxlen=RateTracker.HISTORY),
                                                       deque(maxlen=RateTracker.HISTORY)))
            rx.append(drx / dt)
            tx.append(dtx / dt)
        for key in list(self.series):
            if key not in current:
                del self.series[key]
        self.last, self.last_at = current, at


def test_rates_of_changed_devices_only_equal_rates_of_every_device() -> None:
    rng = random.Random(7)
    snap = compute_node()
    links = list(snap.links)
    extra = replace(links[0], ifindex=999, name="vntextra")
    tracker, plain = RateTracker(), PlainRates()
    for tick in range(60):
        new: list[Link] = []
        for link in links:
            if rng.random() < 0.3:  # this one moved
                s = link.stats
                grow = rng.randrange(0, 5000)
                stats = Stats(s.rx_bytes + grow, s.tx_bytes + grow // 2) if rng.random() > 0.05 else Stats(0, 0)
                link = replace(link, stats=stats)
            new.append(link)  # else: the very same object, as the collector hands back an idle device
        links = new
        shown = [*links, extra] if 20 <= tick < 40 else links
        snap = replace(snap, links=tuple(sorted(shown, key=lambda lk: lk.key)),
                       taken_at=snap.taken_at + timedelta(seconds=rng.choice((0.5, 1.0, 2.0))))
        tracker.feed(snap)
        plain.feed(snap)
        if tick % 7:  # compared only now and then: reading pads an idle device's zeros, so must moving
            continue
        for link in [*links, extra]:
            got = tracker.get(link.key)
            want = plain.series.get(link.key)
            assert (got is None) == (want is None), (tick, link.key)
            if got is not None and want is not None:
                assert list(got.rx) == list(want[0]) and list(got.tx) == list(want[1]), (tick, link.key)


def test_devices_coming_and_going_every_tick_give_the_same_rates_without_a_full_rebuild() -> None:
    rng = random.Random(11)
    snap = compute_node()
    pool = [replace(snap.links[i % len(snap.links)], ifindex=1000 + i, name=f"vntc{i}") for i in range(30)]
    base = list(snap.links)
    present = set(rng.sample(range(30), 10))
    tracker, plain = RateTracker(), PlainRates()
    fulls = [0]
    full = tracker._full

    def counted(*args: object) -> None:
        fulls[0] += 1
        full(*args)  # type: ignore[arg-type]

    tracker._full = counted  # type: ignore[method-assign]
    for tick in range(80):
        present ^= set(rng.sample(range(30), rng.randrange(0, 4)))  # a few come, a few go
        base = [replace(lk, stats=Stats(lk.stats.rx_bytes + rng.randrange(1, 900), lk.stats.tx_bytes))
                if rng.random() < 0.3 else lk for lk in base]
        pool = [replace(lk, stats=Stats(lk.stats.rx_bytes + rng.randrange(1, 900), lk.stats.tx_bytes))
                if rng.random() < 0.5 else lk for lk in pool]
        shown = base + [pool[i] for i in sorted(present)]
        snap = replace(snap, links=tuple(sorted(shown, key=lambda lk: lk.key)),
                       taken_at=snap.taken_at + timedelta(seconds=1))
        tracker.feed(snap)
        plain.feed(snap)
        for link in shown:
            got, want = tracker.get(link.key), plain.series.get(link.key)
            assert (got is None) == (want is None), (tick, link.key)
            if got is not None and want is not None:
                assert list(got.rx) == list(want[0]) and list(got.tx) == list(want[1]), (tick, link.key)
        assert set(tracker.series) <= {link.key for link in shown}
    assert fulls[0] == 1  # the first snapshot only: every later one was merged


def test_links_out_of_key_order_still_give_the_right_rates() -> None:
    snap = compute_node()
    tracker, plain = RateTracker(), PlainRates()
    links = list(snap.links)
    for tick in range(6):
        links = [replace(lk, stats=Stats(lk.stats.rx_bytes + 100 * (i + 1), lk.stats.tx_bytes + i))
                 for i, lk in enumerate(links)]
        shown = links[::-1] if tick % 2 else links  # a hand-written file need not be sorted
        if tick == 3:
            shown = shown[1:]
        snap = replace(snap, links=tuple(shown), taken_at=snap.taken_at + timedelta(seconds=1))
        tracker.feed(snap)
        plain.feed(snap)
    for link in links[1:]:
        got, want = tracker.get(link.key), plain.series.get(link.key)
        assert got is not None and want is not None
        assert list(got.rx) == list(want[0]) and list(got.tx) == list(want[1])
