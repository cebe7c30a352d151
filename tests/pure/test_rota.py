"""The rota that decides which known processes discovery and the /proc scan look at again on a tick."""

from __future__ import annotations

from vnettop.collect.rota import Rota


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_every_old_process_comes_round_within_rounds_ticks_and_a_tick_costs_a_share() -> None:
    rota = Rota(rounds=4, clock=Clock())
    pids = set(range(300, 700))
    new, due, gone = rota.tick(pids)
    assert new == pids and not due and not gone  # the first tick: everything is new
    seen: set[int] = set()
    for _ in range(4):
        new, due, gone = rota.tick(pids)
        assert not new and not gone
        assert len(due) == 100  # a quarter, not all
        seen |= due
    assert seen == pids


def test_what_the_first_tick_finds_is_old_and_a_later_process_is_young_for_a_while() -> None:
    clock = Clock()
    rota = Rota(rounds=1000, young_ticks=3, young_seconds=2.0, clock=clock)
    rota.tick({5000, 5001})
    assert rota.young() == frozenset()
    new, _due, _gone = rota.tick({5000, 5001, 5002})
    assert new == {5002} and rota.young() == {5002}
    for _ in range(3):  # its next three ticks, however fast they come
        assert 5002 in rota.tick({5000, 5001, 5002})[1]
    clock.now += 1.0  # fourth tick: 1 s old, still younger than 2 s
    assert 5002 in rota.tick({5000, 5001, 5002})[1]
    clock.now += 1.5
    due = rota.tick({5000, 5001, 5002})[1]
    assert 5002 not in due and rota.young() == frozenset()  # grown up: on its turn only, from now


def test_everyone_and_gone() -> None:
    rota = Rota(rounds=8, clock=Clock())
    rota.tick({1, 2, 3, 4})
    new, due, gone = rota.tick({1, 2, 3, 9}, everyone=True)
    assert (new, due, gone) == ({9}, {1, 2, 3}, {4})
    assert rota.known() == {1, 2, 3, 9}
