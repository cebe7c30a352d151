"""vnettop's own view of the host, read the way a user's `vnettop dump` reads it (the live collector)."""

from __future__ import annotations

from vnettop.collect.collector import LiveCollector
from vnettop.model import Link, Namespace, Snapshot


def collect() -> Snapshot:
    c = LiveCollector()
    try:
        return c.collect()
    finally:
        c.close()


def link_in(snap: Snapshot, name: str, netns: int | None = None) -> Link:
    """The device `name` (in namespace `netns` if given); fails the test with what was seen otherwise."""
    found = [ln for ln in snap.links if ln.name == name and (netns is None or ln.netns == netns)]
    assert len(found) == 1, f"vnettop sees {len(found)} device(s) named {name!r}" + (
        f" in netns {netns}" if netns else "")
    return found[0]


def namespace(snap: Snapshot, inode: int) -> Namespace:
    ns = snap.namespace(inode)
    assert ns is not None, f"vnettop does not list the namespace {inode}; it lists " + ", ".join(
        f"{n.inode}{list(n.names)}" for n in snap.namespaces)
    return ns
