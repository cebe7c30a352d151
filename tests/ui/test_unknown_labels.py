"""The TUI says "unknown" where the snapshot does (SNAPSHOT-SCHEMA.md "Unknown is not empty"), pure.

Tree labels, the tun/tap and namespace tables, the details pane, the `h` jump and the events log: a tap
whose holders could not be checked is "holder unknown (needs root)", never "no holder"; a namespace that
could not be entered has its devices unknown, never "0 dev".
"""

from __future__ import annotations

import dataclasses

from rich.console import Console, RenderableType

from tests.fixtures_snapshots import compute_node
from vnettop.model import Namespace, NsFd, Snapshot
from vnettop.ui.changes import diff
from vnettop.ui.details_content import render_details
from vnettop.ui.filtering import Filter
from vnettop.ui.jumps import holder_target
from vnettop.ui.labels import holders_text, ns_label
from vnettop.ui.rows import ns_rows, tun_rows
from vnettop.ui.targets import Target

BLUE, HELD = 4026533100, 4026533101


def _plain(renderable: RenderableType) -> str:
    console = Console(width=200)
    with console.capture() as cap:
        console.print(renderable)
    return cap.get()


def _with(snap: Snapshot, name: str, **tun: object) -> Snapshot:
    links = tuple(
        dataclasses.replace(link, tun=dataclasses.replace(link.tun, **tun))  # type: ignore[arg-type]
        if link.name == name and link.tun is not None else link
        for link in snap.links)
    return dataclasses.replace(snap, links=links)


def unprivileged() -> Snapshot:
    snap = _with(compute_node(), "tap1", holders=None, holders_complete=False)
    snap = _with(snap, "tun0", holders_complete=False)
    extra = (Namespace(BLUE, ("blue",), False, (), readable=False, unreadable_reason="permission denied"),
             Namespace(HELD, (), False, (), mounts=("/srv/ns one",), fds=(NsFd(812, 5),)))
    seen = tuple(dataclasses.replace(ns, pids_complete=False) for ns in snap.namespaces)
    return dataclasses.replace(snap, namespaces=seen + extra)


def _link(snap: Snapshot, name: str):  # type: ignore[no-untyped-def]
    (link,) = snap.find_links(name)
    return link


def test_holders_text_unknown_partial_and_none() -> None:
    snap = unprivileged()
    assert holders_text(_link(snap, "tap1"), snap) == "holder unknown (needs root), persist"
    assert holders_text(_link(snap, "tun0"), snap).endswith(", maybe more (needs root)")
    root_view = compute_node()
    assert holders_text(_link(root_view, "tap1"), root_view) == "no holder, persist"


def test_tree_label_of_an_unreadable_namespace_says_devices_unknown() -> None:
    snap = unprivileged()
    label = ns_label(snap, snap.namespace(BLUE)).plain  # type: ignore[arg-type]
    assert "devices unknown (permission denied)" in label and "0 dev" not in label
    readable = ns_label(snap, snap.namespace(HELD)).plain  # type: ignore[arg-type]
    assert "0 dev" in readable and readable.startswith("/srv/ns one")


def test_tables_say_unknown() -> None:
    snap = unprivileged()
    tuns = {str(r.cells[0]): [str(c) for c in r.cells] for r in tun_rows(snap, Filter())}
    assert tuns["tap1"][4] == "holder unknown (needs root), persist"
    nss = {r.target: [str(c) for c in r.cells] for r in ns_rows(snap, Filter())}
    assert nss[Target.ns(BLUE)][2] == "?"
    assert nss[Target.ns(HELD)][2] == "0"
    root = next(ns for ns in snap.namespaces if ns.root)
    assert nss[Target.ns(root.inode)][3] == f"{len(root.pids)}+"  # others' processes not readable


def test_details_of_namespaces_and_taps() -> None:
    snap = unprivileged()
    blue = _plain(render_details(snap, Target.ns(BLUE)))
    assert "unknown (cannot enter: permission denied)" in blue and "devices   0" not in blue
    held = _plain(render_details(snap, Target.ns(HELD)))
    assert "/srv/ns one" in held and "fd 5 of pid 812" in held
    tap1 = _plain(render_details(snap, Target.link(*_link(snap, "tap1").key)))
    assert "holder unknown (needs root)" in tap1 and "no holder" not in tap1


def test_h_jump_says_the_holder_is_unknown() -> None:
    snap = unprivileged()
    said = holder_target(snap, Target.link(*_link(snap, "tap1").key))
    assert isinstance(said, str) and "unknown" in said and "no process holds it" not in said
    root_view = compute_node()
    said = holder_target(root_view, Target.link(*_link(root_view, "tap1").key))
    assert isinstance(said, str) and "no process holds it" in said


def test_events_say_holder_unknown_when_it_becomes_unknown() -> None:
    before = compute_node()
    after = dataclasses.replace(_with(before, "tap0", holders=None, holders_complete=False),
                                taken_at=before.taken_at)
    (change,) = [c for c in diff(before, after) if c.what == "holders"]
    assert change.subject == "tap0" and change.detail == "holder unknown (needs root)"
