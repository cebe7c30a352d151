"""`vnettop diff` over owners: an owner added, removed or renamed, a device or namespace whose owner
changed, and no owner change claimed when one side has no owners section (unknown, not none)."""

from __future__ import annotations

from dataclasses import replace

from vnettop.demo import demo_snapshot
from vnettop.diff import change_text, diff
from vnettop.model import Snapshot


def _without(snap: Snapshot, name: str) -> Snapshot:
    """`snap` without the owner called `name` (parents re-pointed, as a source would give it)."""
    owners = snap.owners or ()
    gone = next(i for i, o in enumerate(owners) if o.name == name)
    kept = [o for i, o in enumerate(owners) if i != gone]

    def moved(parent: int | None) -> int | None:
        if parent is None or parent == gone:
            return None
        return parent - 1 if parent > gone else parent

    return replace(snap, owners=tuple(replace(o, parent=moved(o.parent)) for o in kept))


def test_an_owner_gone_is_removed_and_its_devices_lose_it() -> None:
    before = demo_snapshot()
    after = _without(before, "web-1")
    lines = [change_text(c) for c in diff(before, after)]
    assert "- owner vm/web-1 (libvirt)" in lines
    # its tap now names its next-best owner: the Neutron port libvirt read, exact
    tap = next(line for line in lines if line.startswith("~ device root/tap796091c0-07"))
    assert "owner web-1 (vm) -> 796091c0-07 (neutron-port)" in tap
    back = [change_text(c) for c in diff(after, before)]
    assert "+ owner vm/web-1 (libvirt)" in back


def test_an_owner_renamed_is_matched_by_its_id() -> None:
    before = demo_snapshot()
    owners = tuple(replace(o, name="web-2") if o.name == "web-1" else o for o in before.owners or ())
    after = replace(before, owners=owners)
    changes = [c for c in diff(before, after) if c.what == "owner"]
    assert [(c.op, c.name, c.fields) for c in changes] == [("changed", "web-2", (("name", "web-1", "web-2"),))]


def test_a_namespace_whose_owner_changed() -> None:
    before = demo_snapshot()
    owners = tuple(replace(o, name="proxy-2", id="f" * 64) if o.name == "proxy" else o
                   for o in before.owners or ())
    after = replace(before, owners=owners)
    lines = [change_text(c) for c in diff(before, after)]
    assert any(line.startswith("~ namespace net:[") and "owner proxy (container) -> proxy-2 (container)" in line
               for line in lines), lines
    assert "- owner container/proxy (docker)" in lines and "+ owner container/proxy-2 (docker)" in lines


def test_no_owners_section_is_unknown_not_a_change() -> None:
    before = demo_snapshot()
    after = replace(before, owners=None)
    assert diff(before, after) == []
    assert diff(after, before) == []
