"""`fleet find` by owner: a VM, container or pod by name, a container's short id, a Neutron port's uuid;
each match says whose it is (the owners the demo host carries)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures_snapshots import compute_node
from tests.fleet.test_questions import fleet_text, vnettop
from vnettop.demo import PROXY_ID, WEB1_PORT, demo_snapshot
from vnettop.fleet.fleetfile import read_fleet
from vnettop.fleet.questions import find


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.jsonl"
    path.write_text(fleet_text(("hv1", demo_snapshot()), ("hv2", compute_node())))
    return path


def _found(fleet: Path, query: str) -> list[tuple[str, str | None, str, str]]:
    entries, _ = read_fleet(str(fleet))
    return [(f.host, f.device, f.matched, f.owner) for f in find(entries, query)]


def test_a_vm_by_its_name_is_its_tap_with_the_vm_named(fleet: Path) -> None:
    assert _found(fleet, "web-1") == [("hv1", "tap796091c0-07", "owner", "web-1 (vm)")]


def test_a_neutron_port_by_its_whole_uuid_finds_the_tap_and_its_vm(fleet: Path) -> None:
    # The device name carries the first 11 characters; the owner (Nova's metadata) the whole uuid.
    assert _found(fleet, WEB1_PORT) == [("hv1", "tap796091c0-07", "port-id", "web-1 (vm)")]


def test_a_container_by_short_id_and_a_pod_by_name_are_their_namespaces(fleet: Path) -> None:
    assert _found(fleet, PROXY_ID[:12]) == [("hv1", None, "owner", "proxy (container)")]
    assert _found(fleet, "nginx-7d4") == [("hv1", None, "owner", "nginx-7d4 (pod default)")]


def test_an_unowned_match_says_no_owner(fleet: Path) -> None:
    assert ("hv2", "tap0", "name", "") in _found(fleet, "tap0")
    assert ("hv1", "tap0", "name", "P2 (vm, qemu command line)") in _found(fleet, "tap0")


def test_cli_prints_the_owner_in_text_and_json(fleet: Path) -> None:
    done = vnettop("fleet", "find", "proxy", str(fleet))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:8] == ["hv1", "pid", "4242", "-", "namespace", "owner", "proxy", "(container)"]
    doc = json.loads(vnettop("fleet", "find", "web-1", str(fleet), "-f", "json").stdout)
    assert [(m["device"], m["owner"]) for m in doc["matches"]] == [("tap796091c0-07", "web-1 (vm)")]
