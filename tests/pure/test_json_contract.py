"""The JSON contract of SNAPSHOT-SCHEMA.md: every documented key is written, and files read back strictly."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from vnettop.demo import demo_snapshot, load_demo
from vnettop.errors import SnapshotFormatError
from vnettop.model import Snapshot
from vnettop.render.json import SCHEMA, load_snapshot, snapshot_from_dict, snapshot_to_dict, snapshot_to_json

TOP_KEYS = {"schema", "taken_at", "host", "namespaces", "links", "errors"}
NS_KEYS = {"inode", "names", "root", "pids", "processes"}
PROCESS_KEYS = {"pid", "comm", "cmdline", "user", "listening"}
LINK_KEYS = {"netns", "ifindex", "name", "kind", "mac", "mtu", "admin_up", "oper_state", "master", "lower",
             "peer", "addresses", "stats", "bridge", "bridge_port", "tun"}
STATS_KEYS = {"rx_bytes", "tx_bytes", "rx_packets", "tx_packets", "rx_errors", "tx_errors", "rx_dropped",
              "tx_dropped"}
TUN_KEYS = {"type", "persist", "multi_queue", "vnet_hdr", "pi", "owner", "group", "holders"}


def test_every_documented_key_is_written() -> None:
    d = snapshot_to_dict(demo_snapshot())
    assert TOP_KEYS <= d.keys()
    assert d["schema"] == SCHEMA
    assert d["taken_at"] == "2026-11-25T08:00:00.000Z"
    assert set(d["host"]) == {"hostname", "kernel"}
    for ns in d["namespaces"]:
        assert NS_KEYS <= ns.keys()
        for p in ns["processes"]:
            assert PROCESS_KEYS <= p.keys()
    kinds = set()
    for link in d["links"]:
        assert LINK_KEYS <= link.keys(), link["name"]
        assert set(link["stats"]) == STATS_KEYS
        kinds.add(link["kind"])
        if link["tun"] is not None:
            assert TUN_KEYS <= link["tun"].keys()
            for h in link["tun"]["holders"]:
                assert {"pid", "comm", "fds"} <= h.keys()
        if link["bridge"] is not None:
            assert {"stp", "vlan_filtering", "ports", "fdb"} <= link["bridge"].keys()
        for ref in ("master", "lower", "peer"):
            if link[ref] is not None:
                assert set(link[ref]) == {"netns", "ifindex", "name"}
    assert {"tun", "tap", "veth", "bridge", "vlan", "loopback", "device"} <= kinds


def test_lists_are_sorted_root_first_then_by_key() -> None:
    d = snapshot_to_dict(demo_snapshot())
    assert d["namespaces"][0]["root"] is True
    inodes = [ns["inode"] for ns in d["namespaces"][1:]]
    assert inodes == sorted(inodes)
    keys = [(link["netns"], link["ifindex"]) for link in d["links"]]
    assert keys == sorted(keys)


def test_round_trip_is_lossless() -> None:
    snap = demo_snapshot()
    back = snapshot_from_dict(json.loads(snapshot_to_json(snap)))
    assert back == snap
    assert back.taken_at == snap.taken_at


def test_shipped_demo_matches_its_source() -> None:
    # vnettop/data/demo.json is generated from vnettop/demo.py; regenerate it if this fails.
    assert load_demo() == demo_snapshot()


def test_equality_ignores_time_but_not_content() -> None:
    a = demo_snapshot()
    later = replace(a, duration_ms=99.0)
    assert a == replace(later)
    changed = replace(a, links=a.links[:-1])
    assert changed != a


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d.update(schema="other/9"), "schema is 'other/9'"),
        (lambda d: d.pop("links"), ".links: missing"),
        (lambda d: d["links"][2].update(ifindex="7"), ".links[2].ifindex: expected an integer, found a string"),
        (lambda d: d["namespaces"][0].update(root="yes"), ".namespaces[0].root: expected true or false"),
        (lambda d: d["links"][5]["tun"].update(holders=[{"pid": 1}]), ".links[5].tun.holders[0].comm: missing"),
        (lambda d: d.update(taken_at="yesterday"), "not an ISO 8601 time"),
        (lambda d: d.update(host=None), ".host: missing"),
    ],
)
def test_malformed_snapshot_gives_one_clear_line(mutate, fragment: str) -> None:  # type: ignore[no-untyped-def]
    d = snapshot_to_dict(demo_snapshot())
    mutate(d)
    with pytest.raises(SnapshotFormatError) as exc:
        snapshot_from_dict(d, source="x.json")
    assert fragment in str(exc.value)
    assert "\n" not in str(exc.value)


def test_load_snapshot_file_errors(tmp_path: Path) -> None:
    with pytest.raises(SnapshotFormatError, match="no such file"):
        load_snapshot(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SnapshotFormatError, match="not valid JSON"):
        load_snapshot(str(bad))
    with pytest.raises(SnapshotFormatError, match="is a directory"):
        load_snapshot(str(tmp_path))
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(SnapshotFormatError):
        load_snapshot(str(binary))
    arr = tmp_path / "list.json"
    arr.write_text("[1, 2]")
    with pytest.raises(SnapshotFormatError, match="expected an object"):
        load_snapshot(str(arr))


def test_load_snapshot_reads_a_written_file(tmp_path: Path) -> None:
    path = tmp_path / "snap.json"
    path.write_text(snapshot_to_json(demo_snapshot()))
    snap: Snapshot = load_snapshot(str(path))
    assert snap == demo_snapshot()


def test_model_lookups() -> None:
    snap = demo_snapshot()
    root = snap.root
    assert root is not None and root.label == "root"
    eth0 = snap.link(4026532401, 2)
    em1 = snap.link(4026531840, 2)
    assert eth0 is not None and em1 is not None
    assert (eth0.name, em1.name) == ("eth0", "em1")  # same ifindex, different namespaces
    assert snap.find_namespace("qdhcp-ba48a3fc-7a5b-4b31-9c2e-6d8e1f0a2b3c") is not None
    assert [link.name for link in snap.find_links("lo")] == ["lo", "lo", "lo", "lo"]
    assert snap.ns_label(4026532401) == "pid 4242"
    assert snap.ns_label(1) == "net:[1]"
