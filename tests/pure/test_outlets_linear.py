"""The outlets ask the per-render index, never a whole-snapshot scan per device (no timings here:
benchmarks/bench_outlets.py measures). A scan per device made `dump -f text` quadratic in the devices of
one namespace; these tests fail as soon as a renderer calls one again.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings

from tests.fixtures_snapshots import compute_node, cyclic
from tests.pure.test_topology import random_snapshots
from vnettop import topology as topo
from vnettop.model import Snapshot
from vnettop.render.dot import render_dot
from vnettop.render.text import render_text, render_trace

#: The functions that scan the snapshot to answer for one device or process.
SCANS = ("ports", "process", "held_by", "holders", "uppers")


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Snapshot]]:
    """Make every per-item scan fail loudly, and record each `Joins` built (the snapshot it indexes)."""
    for name in SCANS:
        def scan(*args: object, _name: str = name) -> object:
            raise AssertionError(f"topology.{_name}() scanned the snapshot inside a render")
        monkeypatch.setattr(topo, name, scan)
    seen: list[Snapshot] = []
    real_init = topo.Joins.__init__

    def init(self: topo.Joins, snap: Snapshot) -> None:
        seen.append(snap)
        real_init(self, snap)

    monkeypatch.setattr(topo.Joins, "__init__", init)
    yield seen


@pytest.mark.parametrize("make", [compute_node, cyclic])
def test_text_and_dot_build_the_index_once_and_scan_nothing(built: list[Snapshot], make: object) -> None:
    snap: Snapshot = make()  # type: ignore[operator]
    render_text(snap)
    assert built == [snap]
    render_text(snap, ascii=True)
    render_dot(snap)
    assert built == [snap, snap, snap]


def test_a_trace_builds_the_index_once_per_walk(built: list[Snapshot]) -> None:
    snap = compute_node()
    for link in snap.links:
        built.clear()
        render_trace("t", topo.trace(snap, link))
        assert built == [snap]
    for pid in (7748, 3056, 28795):
        built.clear()
        render_trace("t", topo.trace_process(snap, pid))
        assert built == [snap]


def _same_answers(snap: Snapshot) -> None:
    joins = topo.Joins(snap)
    pids = {h.pid for link in snap.links if link.tun for h in link.tun.holders}
    pids |= {p.pid for ns in snap.namespaces for p in ns.processes} | {1, 99999}
    for link in snap.links:
        assert joins.ports(link) == topo.ports(snap, link)
        assert joins.holders(link) == topo.holders(snap, link)
    for pid in pids:
        assert joins.process(pid) == topo.process(snap, pid)
        assert joins.held_by(pid) == topo.held_by(snap, pid)


def test_the_index_answers_as_the_scans_do() -> None:
    for snap in (compute_node(), cyclic()):
        _same_answers(snap)


@settings(max_examples=200, deadline=None)
@given(random_snapshots())
def test_the_index_answers_as_the_scans_do_on_any_snapshot(snap: Snapshot) -> None:
    _same_answers(snap)
