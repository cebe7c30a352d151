"""SNAPSHOT-SCHEMA.md "Unknown is not empty", in the model, the JSON contract and the text dump.

A snapshot taken without root: tap0's holders could not be checked (null), tun0's holder was found but
more may exist, a namespace could not be entered, a veth's peer is in a namespace nobody identified.
Plus the namespaces found only by a mount path or an fd (their labels and JSON fields).
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from tests.fixtures_snapshots import ROOT, UNREADABLE, compute_node
from vnettop.model import UNKNOWN_NS, LinkRef, Namespace, NsFd, Snapshot, TunInfo
from vnettop.render.dot import render_dot
from vnettop.render.json import snapshot_from_dict, snapshot_to_dict, snapshot_to_json
from vnettop.render.text import render_text

MOUNTED, HELD = 4026533001, 4026533002


def _tun(snap: Snapshot, name: str, **changes: object) -> Snapshot:
    links = []
    for link in snap.links:
        if link.name == name and link.tun is not None:
            link = dataclasses.replace(link, tun=dataclasses.replace(link.tun, **changes))  # type: ignore[arg-type]
        links.append(link)
    return dataclasses.replace(snap, links=tuple(links))


@pytest.fixture
def unprivileged() -> Snapshot:
    snap = compute_node()
    snap = _tun(snap, "tap0", holders=None, holders_complete=False)
    snap = _tun(snap, "tun0", holders_complete=False)  # openvpn found; others may hold it too
    snap = _tun(snap, "tap1", holders=None, holders_complete=False)
    vethx = [dataclasses.replace(link, peer=LinkRef(0, 4, None)) if link.name == "vethx" else link
             for link in snap.links]
    namespaces = (*(dataclasses.replace(ns, pids_complete=False) for ns in snap.namespaces),
                  Namespace(UNREADABLE, ("blue",), False, (), readable=False,
                            unreadable_reason="permission denied"),
                  Namespace(MOUNTED, (), False, (), mounts=("/run/user/1000/netns/netns-4f3c",)),
                  Namespace(HELD, (), False, (), fds=(NsFd(812, 5), NsFd(900, 3))))
    return dataclasses.replace(snap, links=tuple(vethx), namespaces=namespaces)


def test_model_states_of_holders() -> None:
    unknown = TunInfo("tap", False, False, True, False, holders=None, holders_complete=False)
    none = TunInfo("tap", False, False, True, False, holders=())
    assert unknown.known_holders == () and not unknown.unheld
    assert none.known_holders == () and none.unheld


def test_labels_of_namespaces_found_by_a_mount_or_an_fd(unprivileged: Snapshot) -> None:
    assert unprivileged.ns_label(MOUNTED) == "/run/user/1000/netns/netns-4f3c"
    assert unprivileged.ns_label(HELD) == "fd 5 of pid 812"
    assert unprivileged.ns_label(0) == UNKNOWN_NS
    mounted = unprivileged.find_namespace("/run/user/1000/netns/netns-4f3c")
    assert mounted is not None and mounted.inode == MOUNTED


def test_json_writes_null_holders_and_readable_false(unprivileged: Snapshot) -> None:
    obj = snapshot_to_dict(unprivileged)
    tuns = {link["name"]: link["tun"] for link in obj["links"] if link["tun"] is not None}
    assert tuns["tap0"]["holders"] is None and tuns["tap0"]["holders_complete"] is False
    assert tuns["tun0"]["holders"][0]["pid"] == 3056 and tuns["tun0"]["holders_complete"] is False
    namespaces = {ns["inode"]: ns for ns in obj["namespaces"]}
    assert namespaces[UNREADABLE]["readable"] is False
    assert namespaces[UNREADABLE]["unreadable_reason"] == "permission denied"
    assert namespaces[ROOT]["readable"] is True and namespaces[ROOT]["unreadable_reason"] is None
    assert namespaces[MOUNTED]["mounts"] == ["/run/user/1000/netns/netns-4f3c"]
    assert namespaces[HELD]["fds"] == [{"pid": 812, "fd": 5}, {"pid": 900, "fd": 3}]
    assert namespaces[ROOT]["pids_complete"] is False and namespaces[HELD]["pids_complete"] is True


def test_json_round_trip_keeps_unknown_unknown(unprivileged: Snapshot) -> None:
    back = snapshot_from_dict(json.loads(snapshot_to_json(unprivileged)))
    assert back == unprivileged


def test_files_from_before_the_fields_read_as_before() -> None:
    """A file without `holders_complete` / `readable`: a holders list was complete, a namespace readable."""
    obj = snapshot_to_dict(compute_node())
    for ns in obj["namespaces"]:
        for key in ("readable", "unreadable_reason", "mounts", "fds", "pids_complete"):
            del ns[key]
    for link in obj["links"]:
        if link["tun"] is not None:
            del link["tun"]["holders_complete"]
    assert snapshot_from_dict(obj) == compute_node()
    # ... and a null holders list (an older writer would not make one, a script may): unknown, not complete.
    tap0 = next(link for link in obj["links"] if link["name"] == "tap0")
    tap0["tun"]["holders"] = None
    back = snapshot_from_dict(obj)
    (link,) = back.find_links("tap0")
    assert link.tun is not None and link.tun.holders is None and not link.tun.holders_complete


def _row(text: str, device: str) -> str:
    (line,) = [ln for ln in text.splitlines() if ln.strip().lstrip("├└─ ").startswith(device + " ")]
    return line


def test_text_dump_says_unknown_not_empty(unprivileged: Snapshot) -> None:
    text = render_text(unprivileged)
    assert "holder unknown (needs root)" in _row(text, "tap0") and "not held" not in _row(text, "tap0")
    assert "holder unknown (needs root)" in _row(text, "tap1")
    assert "held by openvpn[3056]" in _row(text, "tun0") and "maybe more (needs root)" in _row(text, "tun0")
    assert f"@ {UNKNOWN_NS}" in _row(text, "vethx") and "net:[0]" not in text
    lines = text.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("blue "))
    assert lines[head + 1] == "  devices unknown (cannot enter: permission denied)"
    assert "(no devices)" in text  # the mounted and fd-held ones are readable and empty: that is true
    assert any(ln.startswith("/run/user/1000/netns/netns-4f3c ") for ln in lines)
    assert any(ln.startswith("fd 5 of pid 812 ") for ln in lines)
    root_head = next(ln for ln in lines if ln.startswith("root "))
    assert "3 processes seen (others' not readable)" in root_head


def test_text_dump_as_root_still_says_not_held() -> None:
    assert "not held" in _row(render_text(compute_node()), "tap1")


def test_dot_says_devices_unknown_for_a_namespace_it_could_not_enter(unprivileged: Snapshot) -> None:
    dot = render_dot(unprivileged)
    assert "(devices unknown: cannot enter)" in dot
    assert dot.count("(no devices)") == 2  # the mounted and the fd-held ones: readable, and empty
