"""A small fleet file for the UI tests and scenes: two answering hosts, two that failed, one whose
snapshot cannot be read, written as `vnettop fleet dump` writes them (one `entry_line` per host)."""

from __future__ import annotations

import json
from dataclasses import replace

from tests.fixtures_snapshots import compute_node
from vnettop.demo import demo_snapshot
from vnettop.fleet.fleetfile import entry_line, parse_fleet
from vnettop.model import Host, Snapshot
from vnettop.render.json import snapshot_to_json
from vnettop.ui.fleet_hosts import FleetState

COMPUTE, DOWN, DEMO, BROKEN, TIMEOUT = range(5)
REFUSED = "ssh: connect to host hv-down port 22: Connection refused"
TIMED_OUT = "no answer within 30 s (timeout)"


def demo_host() -> Snapshot:
    return replace(demo_snapshot(), host=Host("hv-demo", "6.18.44"))


def fleet_text() -> str:
    lines = [
        entry_line("compute01", True, 412, json.loads(snapshot_to_json(compute_node()))),
        entry_line("hv-down", False, 2, error=REFUSED),
        entry_line("hv-demo", True, 250, json.loads(snapshot_to_json(demo_host()))),
        entry_line("hv-broken", True, 97, {"schema": "vnettop.snapshot/1", "links": "not a list"}),
        entry_line("hv-timeout", False, 30000, error=TIMED_OUT),
    ]
    return "\n".join(lines) + "\n"


def fleet_state(text: str | None = None, source: str = "fleet.jsonl") -> FleetState:
    entries, notes = parse_fleet(fleet_text() if text is None else text, source)
    return FleetState(entries, notes, source)
