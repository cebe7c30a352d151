"""OVS Interface statistics over recorded monitor replies (tests/ovs_replies.py): a second monitor whose
updates change the counters and nothing of the structure, the JSON round trip, rates between two writes,
and the details pane of a patch port.

The connection is a stand-in answering with the recorded replies (the wire itself is tests/ovsdb's and
tests/components' business): what is under test is what the monitor, the source, the JSON writer and
reader, the rate tracker and the pane make of those replies.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import pytest
from rich.console import Console

from tests import ovs_replies as rec
from vnettop import ovsgraph
from vnettop.collect.sources import enrich
from vnettop.collect.sources.ovs import OvsSource
from vnettop.errors import SnapshotFormatError
from vnettop.model import OvsCounters, OvsIfaceEntry, OvsStatistics, Snapshot
from vnettop.ovsdb import monitor as monitor_mod
from vnettop.ovsdb.monitor import COLUMNS, MONITOR_ID, STATS_ID, Monitor
from vnettop.render.json import snapshot_from_dict, snapshot_to_dict
from vnettop.ui import changes, ovs_details
from vnettop.ui.rates import RateTracker

PATCH_TUN, PATCH_INT, VXLAN, TAP = (rec._uuid(n) for n in (32, 34, 35, 31))


class FakeConnection:
    """Answers get_schema and the two monitor requests with the recorded replies; `push` queues an
    `update` notification as ovsdb-server would send it."""

    def __init__(self, path: str, timeout: float = 2.0) -> None:
        self.path = path
        self.pending: list[dict[str, Any]] = []
        self.requests: list[tuple[str, list[Any]]] = []

    def call(self, method: str, params: list[Any]) -> Any:
        self.requests.append((method, params))
        if method == "get_schema":
            cols = {t: {"columns": {c: {} for c in cs}} for t, cs in COLUMNS.items()}
            cols["Interface"]["columns"]["statistics"] = {}
            return {"tables": cols}
        if params[1] == MONITOR_ID:
            return json.loads(json.dumps(rec.KERNEL_DATAPATH))
        if params[1] == STATS_ID:
            assert params[2] == {"Interface": {"columns": ["statistics"]}}
            return json.loads(json.dumps(rec.KERNEL_DATAPATH_STATS))
        raise AssertionError(method)

    def push(self, monitor_id: str, updates: dict[str, Any]) -> None:
        self.pending.append({"method": "update", "params": [monitor_id, updates], "id": None})

    def notifications(self) -> list[dict[str, Any]]:
        out, self.pending = self.pending, []
        return out

    def fileno(self) -> int:
        return 99

    def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def fake_conn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitor_mod, "Connection", FakeConnection)


def _conn(mon: Monitor) -> FakeConnection:
    assert isinstance(mon.conn, FakeConnection)
    return mon.conn


def test_a_statistics_update_changes_the_counters_and_not_the_view() -> None:
    mon = Monitor("/fake.sock", clock=lambda: 1000.0)
    view = mon.view()
    first = mon.statistics()
    assert first is not None and first.seen_at is None
    patch = first.by_iface[PATCH_TUN]
    assert patch.get("rx_bytes") == 5000 and patch.at is None  # written before vnettop came: when is unknown
    assert rec._uuid(30) not in first.by_iface  # an empty map: not written yet, unknown (not zeros)
    assert mon.statistics() is first  # no update: the same object

    _conn(mon).push(STATS_ID, rec.stats_update(5))
    assert mon.poll() is False  # nothing of the structure changed...
    assert mon.view() is view  # ...so the view is the very same object
    second = mon.statistics()
    assert second is not None and second is not first
    assert second.seen_at == 1000.0
    assert second.by_iface[PATCH_TUN] == OvsCounters(
        (("rx_bytes", 10000), ("rx_packets", 100), ("tx_bytes", 12000), ("tx_packets", 120)), 1000.0)
    assert second.by_iface[TAP] is first.by_iface[TAP]  # a row the update left out is kept as it was
    assert first.by_iface[PATCH_TUN].get("rx_bytes") == 5000  # a handed-out picture never changes

    # A structure update still rebuilds, and the statistics of a deleted interface go with its row.
    _conn(mon).push(MONITOR_ID, {"Interface": {PATCH_TUN: {"old": {"name": "patch-tun"}}},
                                 "Port": {rec._uuid(22): {"old": {"name": "patch-tun"}}}})
    _conn(mon).push(STATS_ID, {"Interface": {PATCH_TUN: {"old": {"statistics": ["map", []]}}}})
    assert mon.poll() is True and mon.view() is not view
    third = mon.statistics()
    assert third is not None and PATCH_TUN not in third.by_iface


def test_the_source_keeps_the_structure_object_on_a_statistics_update() -> None:
    base = rec.kernel_datapath_host()
    src = OvsSource(db="/fake.sock")
    first = src.read(base)
    assert first.ovs is not None and first.ovs.statistics is not None
    assert src._mon is not None
    src._mon.clock = lambda: 2000.0
    _conn(src._mon).push(STATS_ID, rec.stats_update(5))
    second = src.read(base)
    assert second.ovs is not None and second.ovs.statistics is not None
    assert second.ovs.bridges is first.ovs.bridges  # not joined again: the same structure
    assert second.owners is first.owners and second.errors is first.errors
    assert second.ovs == first.ovs  # counters take no part in equality...
    assert second.ovs.counters(PATCH_TUN) != first.ovs.counters(PATCH_TUN)  # ...but they did change
    assert src.read(base) is second  # and nothing new: the same answer
    snap1, snap2 = enrich.apply(base, [("ovs", first)]), enrich.apply(base, [("ovs", second)])
    assert changes.same_structure(snap1, snap2)  # the UI redraws rates only


def _section_snapshot(stats: OvsStatistics | None, at: float = 0.0) -> Snapshot:
    base = rec.kernel_datapath_host()
    src = OvsSource(db="/fake.sock")
    part = src.read(base)
    assert part.ovs is not None
    snap = enrich.apply(base, [("ovs", replace(part, ovs=replace(part.ovs, statistics=stats)))])
    return replace(snap, taken_at=datetime.fromtimestamp(at, timezone.utc)) if at else snap


def _stats(at: float | None, seen: float | None, **rx_tx: tuple[int, int]) -> OvsStatistics:
    return OvsStatistics({uuid: OvsCounters((("rx_bytes", rx), ("rx_packets", 1), ("tx_bytes", tx),
                                             ("tx_packets", 2)), at)
                          for uuid, (rx, tx) in rx_tx.items()}, seen)


def test_statistics_round_trip_through_json_and_old_files_stay_readable() -> None:
    stats = OvsStatistics({PATCH_TUN: OvsCounters((("rx_bytes", 10), ("tx_bytes", 20)), 1764892800.25),
                           VXLAN: OvsCounters((("rx_bytes", 1),), None)}, 1764892805.5)
    snap = _section_snapshot(stats)
    doc = json.loads(json.dumps(snapshot_to_dict(snap)))
    ifaces = {i["uuid"]: i for b in doc["ovs"]["bridges"] for p in b["ports"] for i in p["interfaces"]}
    assert ifaces[PATCH_TUN]["statistics"] == {"counters": {"rx_bytes": 10, "tx_bytes": 20},
                                               "written_at": "2025-12-05T00:00:00.250Z"}
    assert ifaces[rec._uuid(30)]["statistics"] is None  # read, but not written for it: unknown
    assert doc["ovs"]["statistics_seen_at"] == "2025-12-05T00:00:05.500Z"
    back = snapshot_from_dict(doc)
    assert back.ovs is not None and back.ovs.statistics is not None
    assert dict(back.ovs.statistics.by_iface) == dict(stats.by_iface)
    assert back.ovs.statistics.seen_at == stats.seen_at

    # A file from before the field: no statistics keys at all, read as unknown (None), not as zeros.
    for iface in ifaces.values():
        del iface["statistics"]
    del doc["ovs"]["statistics_seen_at"]
    old = snapshot_from_dict(doc)
    assert old.ovs is not None and old.ovs.statistics is None
    assert "statistics" not in json.dumps(snapshot_to_dict(old))

    ifaces[PATCH_TUN]["statistics"] = {"counters": {"rx_bytes": "many"}, "written_at": None}
    doc["ovs"]["statistics_seen_at"] = None
    with pytest.raises(SnapshotFormatError, match=r"statistics\.counters\.rx_bytes"):
        snapshot_from_dict(doc)


def test_rates_come_from_two_statistics_writes_over_the_time_between_them() -> None:
    tracker = RateTracker()
    # Ticks every second (taken_at), OVS writes every 5 s: the rate is over the writes' times.
    tracker.feed(_section_snapshot(_stats(None, None, **{PATCH_TUN: (5000, 7000), VXLAN: (100, 100)}), 10.0))
    s1 = _stats(None, 100.0, **{PATCH_TUN: (5000, 7000), VXLAN: (100, 100)})
    s1 = replace(s1, by_iface={**s1.by_iface, PATCH_TUN: OvsCounters(s1.by_iface[PATCH_TUN].values, 100.0)})
    tracker.feed(_section_snapshot(s1, 11.0))
    assert tracker.get_ovs(PATCH_TUN) is None  # the first values' moment is unknown: no rate yet
    s2 = OvsStatistics({PATCH_TUN: OvsCounters((("rx_bytes", 10000), ("tx_bytes", 17000)), 105.0),
                        VXLAN: s1.by_iface[VXLAN]}, 105.0)
    snap2 = _section_snapshot(s2, 12.0)
    tracker.feed(snap2)
    series = tracker.get_ovs(PATCH_TUN)
    assert series is not None and list(series.rx) == [1000.0] and list(series.tx) == [2000.0]
    vx = tracker.get_ovs(VXLAN)
    assert vx is not None and list(vx.rx) == [0.0]  # left out of the update: unchanged, so idle
    tracker.feed(replace(snap2, taken_at=datetime.fromtimestamp(13.0, timezone.utc)))  # a tick, no write
    assert list(series.rx) == [1000.0]  # no new rate between writes


def test_the_details_of_a_patch_port_show_its_counters_and_rates() -> None:
    stats = _stats(105.0, 105.0, **{PATCH_TUN: (10000, 17000)})
    snap = _section_snapshot(stats)
    tracker = RateTracker()
    tracker.feed(_section_snapshot(_stats(100.0, 100.0, **{PATCH_TUN: (5000, 7000)})))
    tracker.feed(snap)
    hit = ovsgraph.find_uuid(snap, PATCH_TUN)
    assert hit is not None and isinstance(hit.iface, OvsIfaceEntry) and hit.iface.link is None

    def text(s: Snapshot, rates: RateTracker | None) -> str:
        console = Console(width=160, record=True, color_system=None)
        h = ovsgraph.find_uuid(s, PATCH_TUN)
        assert h is not None
        for part in ovs_details.hit_parts(s, h, rates):
            console.print(part)
        return console.export_text()

    shown = text(snap, tracker)
    assert "10.0 kB (1 pkts)" in shown and "1.0 kB/s" in shown and "2.4 kB/s" not in shown
    assert "updated every 5 s by ovs-vswitchd" in shown and "unknown" not in shown
    assert "unknown: no kernel device, and OVSDB statistics are not read" in text(_section_snapshot(None), None)
