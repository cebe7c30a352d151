"""`vnettop fleet orphans` names OVS interfaces that should be a kernel device and have none, with why."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.fixtures_snapshots import compute_node
from tests.fleet.test_questions import fleet_text
from vnettop.demo_ovs import ovs_snapshot


def _orphans(path: Path, *fmt: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vnettop", "fleet", "orphans", str(path), *fmt],
                          capture_output=True, text=True, timeout=60)


def test_fleet_orphans_lists_the_ovs_interface_with_no_device(tmp_path: Path) -> None:
    path = tmp_path / "fleet.jsonl"
    path.write_text(fleet_text(("hv-ovs", ovs_snapshot()), ("hv12", compute_node())))
    doc = json.loads(_orphans(path, "-f", "json").stdout)
    assert doc["by_host"]["hv-ovs"]["ovs-no-device"] == 1 and doc["by_host"]["hv12"]["ovs-no-device"] == 0
    ovs = [o for o in doc["orphans"] if o["reason"] == "ovs-no-device"]
    assert ovs == [{"host": "hv-ovs", "reason": "ovs-no-device", "netns": "root", "device": None,
                    "ovs_interface": "tapdeadbeef-00",
                    "detail": "system interface tapdeadbeef-00 (bridge br-int, port tapdeadbeef-00), no ofport "
                              "(OVS could not open it): no kernel device of that name in any namespace"}]
    text = _orphans(path).stdout
    line = next(ln for ln in text.splitlines() if "ovs-no-device" in ln)
    assert line.split()[:3] == ["hv-ovs", "ovs-no-device", "root"] and "tapdeadbeef-00" in line
