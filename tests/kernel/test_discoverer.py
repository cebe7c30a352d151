"""The incremental discovery on the real kernel: what it returns is what a full `discover` returns,
it re-reads the names and mounts only after the mount table changed, and a namespace added or
deleted is seen on the very next call."""

from __future__ import annotations

import subprocess

from tests.kernelkit import KernelKit
from vnettop.collect.namespaces import Discoverer, discover


def _named(disc: object) -> dict[int, tuple[str, ...]]:
    return {e.inode: e.names for e in disc.namespaces if e.names}  # type: ignore[attr-defined]


def test_incremental_discovery_sees_each_mount_change_at_once(kit: KernelKit) -> None:
    disc = Discoverer()
    try:
        first = disc.discover()
        assert disc.read_mounts
        assert set(_named(first)) <= set(_named(discover())) | set(_named(disc.discover()))  # others churn
        again = disc.discover()
        # Nothing mounted meanwhile (others' tests may have: then it must have re-read).
        assert disc.read_mounts or _named(again) == _named(first)
        name = kit.netns("disc")
        added = disc.discover()
        assert disc.read_mounts  # `ip netns add` mounted: the table was read again
        inode = kit.ns_inode(name)
        assert _named(added).get(inode) == (name,)
        assert _named(discover()).get(inode) == (name,)
        subprocess.run(["ip", "netns", "del", name], check=True)
        gone = disc.discover()
        assert disc.read_mounts and inode not in _named(gone)
    finally:
        disc.close()


def test_nothing_changed_gives_the_last_discovery_itself() -> None:
    disc = Discoverer()
    try:
        for _ in range(20):  # others' tests start processes and namespaces: some calls differ
            first = disc.discover()
            second = disc.discover()
            if not disc.read_mounts and second.pid_netns == first.pid_netns:
                assert second is first
                return
        raise AssertionError("the host never stood still for two discoveries")
    finally:
        disc.close()
