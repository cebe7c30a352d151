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


def test_counters_read_on_a_slower_cadence_give_the_rates_of_counters_read_every_tick() -> None:
    """A live view reads the counters of a namespace it does not show on one tick in five
    (`Snapshot.counters_behind` names it meanwhile, with the time of that read). Each device here moves
    at its own steady rate: the series of a device read again after a while must be the very series of
    the same device read every tick (the average over the span, for each of its ticks), not zeros and
    then a burst; a device whose counters are behind shows its series up to the read it is behind."""
    snap = compute_node()
    links = sorted(snap.links, key=lambda lk: lk.key)
    rate = {link.key: (i % 4) * 1000 + i for i, link in enumerate(links)}  # (some idle: 0, 4000...)
    start = snap.taken_at
    paced, plain = RateTracker(), PlainRates()
    every = 5
    current = {links[0].netns}  # the namespace of the selection: read on every tick
    read_tick: dict[int, int] = {}
    shown: dict[LinkKey, Link] = {}
    ticks_behind = 0
    for tick in range(40):
        at = start + timedelta(seconds=tick)
        truth = tuple(replace(link, stats=Stats(rate[link.key] * tick, rate[link.key] // 2 * tick))
                      for link in links)
        behind = {}
        out = []
        for link in truth:
            ns = link.netns
            if tick == 0 or ns in current or (ns + tick) % every == 0:
                read_tick[ns] = tick
            if read_tick[ns] < tick:
                behind[ns] = start + timedelta(seconds=read_tick[ns])
                out.append(shown[link.key])  # the counters (and the very Link) of that read
            else:
                old = shown.get(link.key)
                shown[link.key] = old if old is not None and old.stats == link.stats else link
                out.append(shown[link.key])
        paced.feed(replace(snap, links=tuple(out), taken_at=at, counters_behind=behind))
        plain.feed(replace(snap, links=truth, taken_at=at))
        ticks_behind += bool(behind)
        for link in links:
            got = paced.get(link.key)
            want = plain.series.get(link.key)
            lag = tick - read_tick[link.netns]
            if want is None or len(want[0]) <= lag:
                continue
            # (the last HISTORY ticks read every tick, less the `lag` not read yet: a window ending earlier)
            wanted_rx, wanted_tx = list(want[0])[:len(want[0]) - lag], list(want[1])[:len(want[1]) - lag]
            assert got is not None, (tick, link.key)
            n = len(wanted_rx)
            assert len(got.rx) >= n and list(got.rx)[-n:] == wanted_rx, (tick, link.key, lag)
            assert list(got.tx)[-n:] == wanted_tx, (tick, link.key, lag)
    assert ticks_behind > 30 and len({lk.netns for lk in links} - current) >= 2  # (the test paced)


def test_a_refresh_that_never_came_does_not_stretch_or_inflate_paced_rates() -> None:
    """Some snapshots never reach the tracker (a refresh that failed): a namespace read in one of them and
    behind since is read again later. Its devices' rates are still their steady rates (the span taken
    from the last read the tracker saw, whose counters it holds), and a series holds no more rates than
    snapshots came."""
    snap = compute_node()
    links = sorted(snap.links, key=lambda lk: lk.key)
    rate = {link.key: 1000 * (i + 1) for i, link in enumerate(links)}  # (every device moving)
    start = snap.taken_at
    paced = RateTracker()
    read_tick: dict[int, int] = {}
    shown: dict[LinkKey, Link] = {}
    fed = checked = 0
    for tick in range(30):
        at = start + timedelta(seconds=tick)
        behind = {}
        out = []
        for link in links:
            ns = link.netns
            if tick == 0 or (ns + tick) % 5 == 0:
                read_tick[ns] = tick
                shown[link.key] = replace(link, stats=Stats(rate[link.key] * tick, rate[link.key] * tick))
            if read_tick[ns] < tick:
                behind[ns] = start + timedelta(seconds=read_tick[ns])
            out.append(shown[link.key])
        if tick in (5, 6, 15):  # these refreshes failed
            continue
        paced.feed(replace(snap, links=tuple(out), taken_at=at, counters_behind=behind))
        fed += 1
        for link in links:
            got = paced.get(link.key)
            if got is None or not got.rx:  # (no read of its namespace since its counters were first known)
                continue
            assert len(got.rx) <= fed - 1, (tick, link.key)
            assert all(abs(v - rate[link.key]) < 1e-3 for v in got.rx), (tick, link.key, list(got.rx))
            checked += 1
    assert checked > 200 and len({lk.netns for lk in links}) >= 3


def test_counters_read_late_in_a_collect_give_the_steady_rate() -> None:
    """A live collect that gave way to the UI (a key being drawn) read some namespaces' counters up to a
    quarter second after `taken_at` (`Snapshot.counters_late`): each device here moves at a steady rate,
    and its rates must be that rate whichever reads were late, also for a namespace read on a slower
    cadence, not the ~25 % too high or too low that dividing by the snapshots' interval gives."""
    rng = random.Random(11)
    snap = compute_node()
    links = sorted(snap.links, key=lambda lk: lk.key)
    rate = {link.key: 8000 * (i + 1) for i, link in enumerate(links)}  # (late by 1/8 s steps: whole bytes)
    namespaces = sorted({lk.netns for lk in links})
    paced_ns = namespaces[-1]
    start = snap.taken_at
    tracker, naive = RateTracker(), RateTracker()
    read: dict[int, float] = {}  # namespace -> seconds after start of its last read
    shown: dict[LinkKey, Link] = {}
    late_ticks = checked = 0
    for tick in range(40):
        late = {ns: rng.choice((0.125, 0.25)) for ns in namespaces if tick % 3 == 1 and rng.random() < 0.7}
        behind = {}
        out = []
        for link in links:
            ns = link.netns
            if tick == 0 or ns != paced_ns or tick % 4 == 0:
                read[ns] = tick + late.get(ns, 0.0)
                count = int(rate[link.key] * read[ns])
                shown[link.key] = replace(link, stats=Stats(count, count // 2))
            else:
                behind[ns] = start + timedelta(seconds=int(read[ns]))
                late.pop(ns, None)
            out.append(shown[link.key])
        late_ticks += bool(late)
        at = start + timedelta(seconds=tick)
        tracker.feed(replace(snap, links=tuple(out), taken_at=at, counters_behind=behind, counters_late=late))
        naive.feed(replace(snap, links=tuple(out), taken_at=at, counters_behind=behind))
        for link in links:
            got = tracker.get(link.key)
            if got is None or not got.rx:
                continue
            assert all(abs(v - rate[link.key]) < 1e-6 * rate[link.key] for v in got.rx), (tick, list(got.rx))
            assert all(abs(v - rate[link.key] / 2) < 1 for v in got.tx), (tick, list(got.tx))
            checked += 1
    assert late_ticks >= 8 and checked > 200
    off = [v for link in links if (s := naive.get(link.key)) is not None for v in s.rx
           if abs(v - rate[link.key]) > 0.1 * rate[link.key]]
    assert off, "without counters_late the rates would have been right anyway: the test shows nothing"


def test_paced_rates_hold_when_every_tick_is_taken_in_full() -> None:
    """Devices handed over out of key order make the tracker take every tick in full (`_full`): a
    namespace whose counters are behind must keep the counters of its last read as the baseline, so
    that its rate when read again is the steady rate, not one over a shorter span."""
    snap = compute_node()
    links = sorted(snap.links, key=lambda lk: lk.key)
    rate = {link.key: 1000 * (i + 1) for i, link in enumerate(links)}
    paced_ns = links[-1].netns
    start = snap.taken_at
    tracker = RateTracker()
    read_tick: dict[int, int] = {}
    shown: dict[LinkKey, Link] = {}
    checked = 0
    for tick in range(30):
        behind = {}
        out = []
        for link in links:
            ns = link.netns
            if tick == 0 or ns != paced_ns or tick % 5 == 0:
                read_tick[ns] = tick
                shown[link.key] = replace(link, stats=Stats(rate[link.key] * tick, rate[link.key] * tick))
            else:
                behind[ns] = start + timedelta(seconds=read_tick[ns])
            out.append(shown[link.key])
        tracker.feed(replace(snap, links=tuple(reversed(out)), taken_at=start + timedelta(seconds=tick),
                             counters_behind=behind))
        for link in links:
            got = tracker.get(link.key)
            if got is None or not got.rx:
                continue
            assert all(abs(v - rate[link.key]) < 1e-6 for v in got.rx), (tick, link.key, list(got.rx))
            checked += 1
    assert checked > 100
