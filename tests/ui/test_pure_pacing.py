"""The event pacer: a lone change is collected after the settle delay only; a storm is spaced out."""

from __future__ import annotations

import itertools

import pytest

from vnettop.ui.pacing import BURST, EVENT_SETTLE, MIN_GAP, EventPacer


def test_a_lone_event_waits_only_the_settle_delay_even_right_after_a_collection() -> None:
    pacer = EventPacer()
    assert pacer.delay(100.0) == EVENT_SETTLE
    pacer.spend(100.05)
    # Its trailing event (the second of the burst) is not held back either.
    assert pacer.delay(100.06) == EVENT_SETTLE


def test_a_storm_is_spaced_min_gap_apart_once_the_burst_is_spent() -> None:
    pacer = EventPacer()
    now = 0.0
    starts = []
    for _ in range(20):  # events back to back: each arrives the moment the last collection started
        now += pacer.delay(now)
        pacer.spend(now)
        starts.append(now)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps[:BURST - 1] == [pytest.approx(EVENT_SETTLE)] * (BURST - 1)
    assert all(gap == pytest.approx(MIN_GAP) for gap in gaps[BURST:])
    # Over the storm: no more collections than one per MIN_GAP, plus the burst.
    assert len(starts) <= (starts[-1] - starts[0]) / MIN_GAP + BURST + 1


def test_the_burst_comes_back_after_a_quiet_moment() -> None:
    pacer = EventPacer()
    for t in (0.0, 0.01, 0.02):
        pacer.spend(t)
    assert pacer.delay(0.03) > EVENT_SETTLE  # spent: spaced
    assert pacer.delay(0.03 + BURST * MIN_GAP) == EVENT_SETTLE  # quiet for long enough: at once again


def test_never_less_than_the_settle_delay() -> None:
    pacer = EventPacer(settle=0.05, gap=0.01, burst=1)
    pacer.spend(0.0)
    assert pacer.delay(0.001) == 0.05
