"""The hosts view of a fleet file as plain data: summaries, rows, details, header line, palette hits."""

from __future__ import annotations

import pytest

from tests.fixtures_snapshots import ROOT, compute_node
from tests.ui.fleet_fixture import BROKEN, COMPUTE, DEMO, DOWN, REFUSED, TIMEOUT, demo_host, fleet_state
from tests.ui.helpers import plain
from vnettop.errors import VnettopError
from vnettop.orphans import find_orphans
from vnettop.ui.filtering import Filter
from vnettop.ui.fleet_hosts import (
    HOST_COLUMNS,
    FleetCollector,
    HostRowsBuilder,
    fleet_hits,
    host_details,
    host_index,
    host_row,
    summarize,
)
from vnettop.ui.targets import Target
from vnettop.ui.widgets.header import counts_text


def _cells(row: object) -> list[str]:
    return [str(c) for c in row.cells]  # type: ignore[attr-defined]


def _summarized():
    state = fleet_state()
    for i, entry in enumerate(state.entries):
        if entry.ok:
            state.summaries[i] = summarize(entry)
    return state


def test_a_summary_counts_what_the_header_counts_and_every_orphan() -> None:
    state = fleet_state()
    summary = summarize(state.entries[COMPUTE])
    snap = compute_node()
    counts = f"ns {summary.namespaces} · links {summary.links} · br {summary.bridges} · " \
             f"veth {summary.veths} · tun/tap {summary.tuntaps}"
    assert counts == counts_text(snap)
    assert [reason for reason, _, _ in summary.orphans] == [o.reason for o in find_orphans(snap)]
    assert summary.orphans and summary.errors == len(snap.errors) == 1
    assert summary.by_reason() == [("veth-unattached", 2)]


def test_a_summary_keeps_no_parsed_copy_of_the_host() -> None:
    state = fleet_state()
    entry = state.entries[DEMO]
    summarize(entry)
    assert entry._raw is None and entry._snap is None  # the file's line is all that stays


def test_an_unreadable_snapshot_is_a_summary_that_says_why() -> None:
    summary = summarize(fleet_state().entries[BROKEN])
    assert summary.unreadable is not None and "hv-broken" in summary.unreadable


def test_rows_in_file_order_with_failed_hosts_saying_why() -> None:
    state = _summarized()
    rows = HostRowsBuilder()(state, Filter())
    assert [host_index(r) for r in rows] == [0, 1, 2, 3, 4]
    assert [_cells(r)[0] for r in rows] == ["compute01", "hv-down", "hv-demo", "hv-broken", "hv-timeout"]
    compute = dict(zip(HOST_COLUMNS, _cells(rows[COMPUTE]), strict=True))
    assert compute == {"host": "compute01", "state": "ok", "ms": "412", "ns": "3", "links": "14", "br": "1",
                       "veth": "5", "tun/tap": "3", "orphans": "2", "note": "1 collect error"}
    # A failed host's reason runs on where its (unknown) counts would be, widening no column.
    assert _cells(rows[DOWN]) == ["hv-down", "failed", "2", REFUSED] and rows[DOWN].spill == 3
    assert _cells(rows[BROKEN])[1] == "unreadable" and "hv-broken" in _cells(rows[BROKEN])[3]
    assert rows[BROKEN].spill == 3
    assert _cells(rows[TIMEOUT])[1] == "failed"


def test_a_host_not_yet_counted_says_so_not_zero() -> None:
    state = fleet_state()
    row = host_row(DEMO, state.entries[DEMO], None)
    assert _cells(row)[3:9] == ["…"] * 6


def test_rows_are_rebuilt_only_for_hosts_whose_summary_arrived() -> None:
    state = fleet_state()
    build = HostRowsBuilder()
    first = build(state, Filter())
    state.summaries[DEMO] = summarize(state.entries[DEMO])
    second = build(state, Filter())
    assert [a is b for a, b in zip(first, second, strict=True)] == [True, True, False, True, True]


@pytest.mark.parametrize(("query", "hosts"), [("failed", [1, 4]), ("!failed", [0, 2, 3]), ("demo", [2]),
                                              ("veth-unattached", [0]), ("refused", [1])])
def test_the_filter_on_hosts(query: str, hosts: list[int]) -> None:
    rows = HostRowsBuilder()(_summarized(), Filter.parse(query))
    assert [host_index(r) for r in rows] == hosts


def test_details_of_a_failed_host_and_of_one_with_orphans() -> None:
    state = _summarized()
    down = plain(host_details(state, DOWN))
    assert REFUSED in down.replace("\n", " ") and "No picture" in down
    compute = plain(host_details(state, COMPUTE))
    assert "orphans: 2" in compute and "2 veth-unattached" in compute and "vethc1" in compute


def test_the_header_line_counts_hosts_failures_and_orphans() -> None:
    state = fleet_state()
    assert state.summary_line() == ("5 hosts · 3 ok · 2 failed · orphans 0 on 0 hosts "
                                    "(counting: 0/3 hosts read)")
    state = _summarized()
    assert state.summary_line() == "5 hosts · 3 ok · 2 failed · orphans 2 on 1 host"


def test_hosts_on_screen_are_summarized_first() -> None:
    state = fleet_state()
    state.wanted = (3, 4, 1)
    done: set[int] = set()
    order = []
    start = 0
    while True:
        index, start = state.next_to_summarize(done, start)
        if index is None:
            break
        done.add(index)
        order.append(index)
    assert order == [3, 0, 2]  # wanted first (failed hosts never), then the rest in file order


@pytest.mark.parametrize(("query", "label", "target"), [
    ("fe:16:3e:9d:01:77", "hv-demo: tapa1b2c3d4-5e @ root", Target.link(ROOT, 11)),  # MAC
    ("796091c0", "hv-demo: tap796091c0-07 @ root", Target.link(ROOT, 10)),  # Neutron port uuid prefix
    ("10.5.0.1", "compute01: tun0 @ root", None),  # IP (the target is checked by name below)
])
def test_the_palette_finds_devices_on_every_host(query: str, label: str, target: Target | None) -> None:
    state = fleet_state()
    hits = [h for hits in fleet_hits(state, query) for h in hits]
    chosen = [h for h in hits if h.label == label]
    assert len(chosen) == 1, [h.label for h in hits]
    hit = chosen[0]
    snap = state.entries[hit.index].snapshot()
    assert hit.target is not None
    link = snap.link(hit.target.netns, hit.target.ident)
    assert link is not None and link.name == label.split(": ")[1].split(" @ ")[0]
    if target is not None:
        assert hit.target == target
    assert state.entries[hit.index].host == label.split(":")[0]


def test_a_palette_search_keeps_no_parsed_host() -> None:
    state = fleet_state()
    hits = [h for hits in fleet_hits(state, "qemu-kvm") for h in hits]  # in every answering host's text
    assert hits == []  # no device or namespace is named so
    assert all(e._raw is None and e._snap is None for e in state.entries if e.ok)


def test_the_palette_names_hosts_and_skips_failed_ones_for_devices() -> None:
    state = fleet_state()
    hits = [h for hits in fleet_hits(state, "hv-d") for h in hits]
    assert [(h.label, h.target) for h in hits] == [("host hv-down", None), ("host hv-demo", None)]
    assert all(h.index != DOWN for hits in fleet_hits(state, "lo") for h in hits if h.target is not None)


def test_demo_host_fixture_is_the_demo_with_its_own_name() -> None:
    assert demo_host().host.hostname == "hv-demo"


def test_the_fleet_collector_serves_only_an_opened_host() -> None:
    state = fleet_state()
    collector = FleetCollector(state)
    with pytest.raises(VnettopError, match="no host opened"):
        collector.collect()
    state.current = DEMO
    assert collector.collect().host.hostname == "hv-demo"


def test_the_hosts_view_model_imports_no_textual() -> None:
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, vnettop.ui.fleet_hosts\n"
            "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] == 'textual')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
