"""Questions over a fleet file: find, orphans, diff of two hosts; tolerant of cut-off files, strict otherwise."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures_snapshots import QDHCP_NAME, compute_node
from vnettop.errors import VnettopError
from vnettop.fleet.fleetfile import FleetFormatError, entry_line, parse_fleet, read_fleet
from vnettop.fleet.questions import classify, find, orphans
from vnettop.model import Snapshot
from vnettop.render.json import snapshot_to_dict


def fleet_text(*hosts: tuple[str, Snapshot | str]) -> str:
    out = []
    for name, what in hosts:
        if isinstance(what, str):
            out.append(entry_line(name, False, 30000, error=what))
        else:
            out.append(entry_line(name, True, 12, snapshot_to_dict(what)))
    return "\n".join(out) + "\n"


def hv13() -> Snapshot:
    """hv12's plumbing, but tap0 is gone and tun0 is down."""
    snap = compute_node()
    links = tuple(dataclasses.replace(x, admin_up=False) if x.name == "tun0" else x
                  for x in snap.links if x.name != "tap0")
    return dataclasses.replace(snap, links=links)


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.jsonl"
    path.write_text(fleet_text(("hv12", compute_node()), ("hv99", "no answer within 60 s"), ("hv13", hv13())))
    return path


def test_queries_are_told_apart() -> None:
    assert classify("FA:16:3E:85:F8:0C") == ("mac", "fa:16:3e:85:f8:0c")
    assert classify("10.0.0.2") == ("ip", "10.0.0.2")
    assert classify("fe80::1/64") == ("ip", "fe80::1")
    assert classify("1ec9dbb7-e7a4-4c5e-9a0b-7f1e2d3c4b5a") == ("port-id", "1ec9dbb7-e7a4-4c5e-9a0b-7f1e2d3c4b5a")
    assert classify("1ec9dbb7") == ("port-id", "1ec9dbb7")
    assert classify("tap0") == ("name", "tap0")


def test_find_by_name_on_every_host_with_what_it_is_attached_to(fleet: Path) -> None:
    entries, _ = read_fleet(str(fleet))
    found = find(entries, "tap0")
    assert [(f.host, f.netns, f.device, f.matched) for f in found] == [("hv12", "root", "tap0", "name")]
    assert found[0].path == "qemu-kvm[7748] (vm P2) -> tap0 -> br0"
    veth = find(entries, "veth-a")
    assert [f.host for f in veth] == ["hv12", "hv13"]
    assert veth[0].path == f"veth-a -> br0 -> veth-b @ {QDHCP_NAME}"


def test_find_by_ip_mac_namespace_and_neutron_id(fleet: Path) -> None:
    entries, _ = read_fleet(str(fleet))
    assert [(f.host, f.device, f.matched) for f in find(entries, "10.0.0.2")] == [
        ("hv12", "veth-b", "ip"), ("hv13", "veth-b", "ip")]
    fdb = find(entries, "fa:16:3e:85:f8:0c")
    assert [(f.host, f.device, f.matched, f.path) for f in fdb] == [
        ("hv12", "br0", "fdb", "br0 port tap0 (learned)"),
        ("hv13", "br0", "fdb", "br0 port ifindex 5 (learned)"),  # learned on a port since removed
    ]
    ns = find(entries, "ba48a3fc-4c4e")
    assert {(f.host, f.kind, f.netns) for f in ns} == {("hv12", "namespace", QDHCP_NAME), ("hv13", "namespace", QDHCP_NAME)}


def test_orphans_per_host(fleet: Path) -> None:
    entries, _ = read_fleet(str(fleet))
    got = [(h, o.reason, o.name) for h, o, _ in orphans(entries)]
    assert got == [("hv12", "veth-unattached", "vethc1"), ("hv12", "veth-unattached", "vethx"),
                   ("hv13", "veth-unattached", "vethc1"), ("hv13", "veth-unattached", "vethx")]


def test_a_cut_off_last_line_is_ignored_and_said(tmp_path: Path) -> None:
    text = fleet_text(("hv12", compute_node()), ("hv13", hv13()))
    cut = text[: len(text) - 200]
    entries, notes = parse_fleet(cut, "f.jsonl")
    assert [e.host for e in entries] == ["hv12"]
    assert notes == ["f.jsonl line 2: cut off (the file ends mid-line); ignored"]


@pytest.mark.parametrize(("text", "message"), [
    ('{"schema": "vnettop.fleet/1", "host": "a", "ok": true, "ms": 1}\n', "line 1: host a is ok but has no snapshot object"),
    ('{"schema": "vnettop.fleet/1", "host": 3, "ok": true, "ms": 1, "snapshot": {}}\n', "line 1: needs a string 'host'"),
    ('[1]\n', "line 1: expected an object per line"),
    ('{"schema": "vnettop.fleet/1", "host": "a", "ok": false, "ms": 1}\n{oops\n', "line 2: not valid JSON"),
])
def test_a_bad_line_names_the_line(text: str, message: str) -> None:
    with pytest.raises(FleetFormatError, match=message):
        parse_fleet(text, "f.jsonl")


def test_a_snapshot_that_is_not_one_is_an_error_naming_the_host(tmp_path: Path) -> None:
    entries, _ = parse_fleet(entry_line("hv1", True, 1, {"schema": "nope"}) + "\n", "f")
    with pytest.raises(VnettopError, match="host hv1"):
        entries[0].snapshot()


def vnettop(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vnettop", *argv], capture_output=True, text=True, timeout=60)


def test_cli_find_text_json_and_exit_status(fleet: Path) -> None:
    done = vnettop("fleet", "find", "tap0", str(fleet))
    assert done.returncode == 0
    # "-": no source named an owner on this host.
    assert done.stdout.split() == ["hv12", "root", "tap0", "tap", "name", "-", "qemu-kvm[7748]", "(vm", "P2)",
                                   "->", "tap0", "->", "br0"]
    assert done.stderr == "vnettop: 1 host has no snapshot and was not searched (hv99)\n"
    doc = json.loads(vnettop("fleet", "find", "10.0.0.2", str(fleet), "-f", "json").stdout)
    assert doc["schema"] == "vnettop.fleet-find/1" and doc["not_searched"] == [
        {"host": "hv99", "error": "no answer within 60 s"}]
    assert [m["host"] for m in doc["matches"]] == ["hv12", "hv13"]
    nothing = vnettop("fleet", "find", "vnt-nowhere", str(fleet))
    assert nothing.returncode == 1 and nothing.stdout == ""


def test_cli_orphans_json_counts_every_reason(fleet: Path) -> None:
    doc = json.loads(vnettop("fleet", "orphans", str(fleet), "-f", "json").stdout)
    assert doc["by_host"]["hv12"] == {"tun-unheld": 0, "veth-peer-gone": 0, "veth-unattached": 2,
                                      "netns-empty": 0, "bridge-near-limit": 0, "ovs-no-device": 0}
    assert {o["host"] for o in doc["orphans"]} == {"hv12", "hv13"}


def test_cli_diff_two_hosts_of_a_fleet_file(fleet: Path) -> None:
    done = vnettop("diff", f"{fleet}@hv12", f"{fleet}@hv13")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "- device root/tap0 (tap)\n~ device root/tun0 (tun): admin up -> down\n"
    missing = vnettop("diff", f"{fleet}@hv12", f"{fleet}@hv14")
    assert missing.returncode == 1 and missing.stderr == f"vnettop: {fleet}: no host 'hv14' (hosts: hv12, hv99, hv13)\n"
    failed = vnettop("diff", f"{fleet}@hv12", f"{fleet}@hv99")
    assert failed.returncode == 1 and failed.stderr == "vnettop: host hv99: no snapshot (no answer within 60 s)\n"


def test_a_single_snapshot_is_not_taken_for_a_fleet_file(tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text(json.dumps(snapshot_to_dict(compute_node())))
    done = vnettop("fleet", "orphans", str(one))
    assert done.returncode == 1 and "not a fleet file" in done.stderr


def test_hosts_that_cannot_match_are_not_even_parsed() -> None:
    good = fleet_text(("hv12", compute_node()))
    # A line that starts as vnettop writes it but is broken further on: only parsing would notice.
    broken = good.replace('"hv12"', '"hv50"').replace("10.0.0.2", "10.9.9.9").replace('"links":[', '"links":[oops', 1)
    entries, _ = parse_fleet(good + broken + good.replace('"hv12"', '"hv13"'), "f.jsonl")
    assert [e.host for e in entries] == ["hv12", "hv50", "hv13"]
    assert [f.host for f in find(entries, "10.0.0.2")] == ["hv12", "hv13"]  # hv50's line has no 10.0.0.2
    with pytest.raises(FleetFormatError, match=r"f\.jsonl line 2: not valid JSON"):
        find(entries, "tap0")  # tap0 is on hv50's line too: it must be parsed, and it is broken


def test_escaped_text_is_still_found() -> None:
    snap = compute_node()
    renamed = dataclasses.replace(snap, links=tuple(dataclasses.replace(x, name="café0") if x.name == "tap0" else x
                                                    for x in snap.links))
    line = json.dumps({"schema": "vnettop.fleet/1", "host": "hv1", "ok": True, "ms": 1,
                       "snapshot": snapshot_to_dict(renamed)}, ensure_ascii=True)  # another writer: \u00e9
    entries, _ = parse_fleet(line + "\n", "f")
    assert [(f.host, f.device) for f in find(entries, "café0")] == [("hv1", "café0")]
