"""`vnettop diff`: two hosts or two moments, matched by what an operator calls things."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

from tests.fixtures_snapshots import PIDNS, QDHCP, QDHCP_NAME, ROOT, compute_node
from vnettop.diff import change_text, diff
from vnettop.model import Link, LinkRef, Snapshot, TunHolder
from vnettop.render.json import snapshot_to_json


def edit(snap: Snapshot, name: str, **changes: object) -> Snapshot:
    links = tuple(dataclasses.replace(x, **changes) if x.name == name and x.netns == ROOT else x for x in snap.links)
    return dataclasses.replace(snap, links=links)


def renumber(snap: Snapshot, shift: int) -> Snapshot:
    """The same plumbing on another host: every inode and ifindex different, every name the same."""
    def ref(r: LinkRef | None) -> LinkRef | None:
        return None if r is None else LinkRef(r.netns + shift, r.ifindex + 100, r.name)

    links = tuple(dataclasses.replace(x, netns=x.netns + shift, ifindex=x.ifindex + 100, master=ref(x.master),
                                      peer=ref(x.peer), lower=ref(x.lower)) for x in snap.links)
    namespaces = tuple(dataclasses.replace(ns, inode=ns.inode + shift) for ns in snap.namespaces)
    return dataclasses.replace(snap, links=links, namespaces=namespaces)


def test_identical_plumbing_on_another_host_has_no_named_difference() -> None:
    a = compute_node()
    changes = diff(a, renumber(a, 7))
    # Named things match across hosts; the nameless container namespace cannot, so it and its devices
    # are added and removed, and the two root veths that lead into nameless namespaces change peers.
    moved = {c.netns for c in changes if c.op != "changed"}
    assert moved == {f"net:[{PIDNS}]", f"net:[{PIDNS + 7}]"}
    changed = {c.name: [f for f, _, _ in c.fields] for c in changes if c.op == "changed"}
    assert changed == {"vethc1": ["peer"], "vethx": ["peer"]}


def test_counters_and_pids_are_not_changes() -> None:
    a = compute_node()
    busy = dataclasses.replace(a, links=tuple(
        dataclasses.replace(x, stats=dataclasses.replace(x.stats, rx_bytes=x.stats.rx_bytes + 5)) for x in a.links))
    tap0 = next(x for x in a.links if x.name == "tap0")
    assert tap0.tun is not None
    restarted = edit(busy, "tap0", tun=dataclasses.replace(tap0.tun, holders=(TunHolder(9999, "qemu-kvm", (30,)),)))
    assert diff(a, restarted) == []


def test_each_kind_of_change_is_named_with_before_and_after() -> None:
    a = compute_node()
    tap0 = next(x for x in a.links if x.name == "tap0")
    assert tap0.tun is not None
    b = edit(a, "veth-a", master=None, bridge_port=None)
    b = edit(b, "tun0", admin_up=False, addresses=())
    b = edit(b, "tap0", tun=dataclasses.replace(tap0.tun, holders=()))
    b = dataclasses.replace(b, links=(*b.links, Link(ROOT, 40, "vnt-new", "bridge", None, 1500, True, "up")))
    lines = [change_text(c) for c in diff(a, b)]
    assert lines == [
        "~ device root/tap0 (tap): holders qemu-kvm -> none",
        "~ device root/tun0 (tun): admin up -> down; addresses 10.5.0.1/32 -> -",
        "~ device root/veth-a (veth): master br0 -> -; port_state learning -> -",
        "+ device root/vnt-new (bridge)",
    ]


def test_a_peer_moved_to_another_namespace_is_a_change_of_the_peer() -> None:
    a = compute_node()
    b = edit(a, "veth-a", peer=LinkRef(PIDNS, 3, "veth-b"))
    (change,) = [c for c in diff(a, b) if c.name == "veth-a"]
    assert change.fields == (("peer", f"veth-b @ {QDHCP_NAME}", f"veth-b @ net:[{PIDNS}]"),)


def test_namespaces_added_and_removed_by_name() -> None:
    a = compute_node()
    b = dataclasses.replace(a, namespaces=tuple(ns for ns in a.namespaces if ns.inode != QDHCP),
                            links=tuple(x for x in a.links if x.netns != QDHCP))
    changes = diff(a, b)
    assert changes[0].op == "removed" and changes[0].what == "namespace" and changes[0].netns == QDHCP_NAME
    assert {(c.op, c.name) for c in changes[1:]} >= {("removed", "veth-b"), ("removed", "lo")}
    assert diff(b, a)[0].op == "added"


def test_hostile_names_stay_on_one_line() -> None:
    a = compute_node()
    b = dataclasses.replace(a, links=(*a.links, Link(ROOT, 41, "x\nFAKE\x1b[2J", "bridge", None, 1500, True, "up")))
    (line,) = [change_text(c) for c in diff(a, b)]
    assert "\n" not in line and "\x1b" not in line and line.startswith("+ device root/x")


def vnettop(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vnettop", *argv], capture_output=True, text=True, input=stdin,
                          timeout=60)


def test_cli_text_json_exit_code_and_stdin(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(snapshot_to_json(compute_node()))
    b.write_text(snapshot_to_json(edit(compute_node(), "tun0", admin_up=False)))
    same = vnettop("diff", str(a), str(a), "--exit-code")
    assert (same.returncode, same.stdout, same.stderr) == (0, "", "")
    text = vnettop("diff", str(a), str(b))
    assert (text.returncode, text.stdout) == (0, "~ device root/tun0 (tun): admin up -> down\n")
    assert vnettop("diff", str(a), str(b), "--exit-code").returncode == 1
    doc = json.loads(vnettop("diff", "-", str(b), "-f", "json", stdin=a.read_text()).stdout)
    assert doc["schema"] == "vnettop.diff/1"
    assert doc["changes"] == [{"op": "changed", "what": "device", "netns": "root", "name": "tun0", "kind": "tun",
                               "fields": {"admin": {"before": "up", "after": "down"}}}]


def test_cli_bad_input_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    done = vnettop("diff", str(bad), str(bad))
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    both = vnettop("diff", "-", "-")
    assert both.returncode == 2 and "only one of A and B can be standard input" in both.stderr
