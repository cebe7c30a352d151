"""Namespace discovery over a fake /proc and /run tree (no root, no kernel namespaces).

The fake tree imitates the two ways discovery reads an inode: /proc/PID/ns/net links are symlinks whose
text is `net:[INODE]` (read with readlink), and /run/netns entries are files whose inode is read with
stat and which count only if they live on the "nsfs" device (here: the tmp directory's device).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from vnettop.collect.namespaces import candidate_paths, discover, inode_from_link

ROOT_INODE = 4026531840


class FakeTree:
    def __init__(self, base: Path) -> None:
        self.proc = base / "proc"
        self.run = base / "run"
        self.proc.mkdir()
        (self.run / "netns").mkdir(parents=True)
        self.self_ns = base / "self-ns-net"
        self.self_ns.symlink_to(f"net:[{ROOT_INODE}]")
        self.dev = os.stat(base).st_dev

    def process(self, pid: int, inode: int | None, text: str | None = None) -> None:
        ns = self.proc / str(pid) / "ns"
        ns.mkdir(parents=True)
        if inode is not None or text is not None:
            (ns / "net").symlink_to(text if text is not None else f"net:[{inode}]")

    def named(self, name: str, directory: str = "netns") -> int:
        """A namespace file; its inode (as stat sees it) is the namespace's identity."""
        path = self.run / directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        return os.stat(path).st_ino

    def discover(self):  # type: ignore[no-untyped-def]
        return discover(str(self.proc), str(self.run), str(self.self_ns), nsfs_dev=self.dev)


@pytest.fixture
def tree(tmp_path: Path) -> FakeTree:
    return FakeTree(tmp_path)


def test_inode_from_link_accepts_only_net_links() -> None:
    assert inode_from_link("net:[4026531840]") == 4026531840
    assert inode_from_link("mnt:[4026531841]") is None
    assert inode_from_link("net:[abc]") is None
    assert inode_from_link("/dev/null") is None


def test_root_named_and_process_only_namespaces_deduplicated_by_inode(tree: FakeTree) -> None:
    blue = tree.named("blue")
    tree.process(1, ROOT_INODE)
    tree.process(40, ROOT_INODE)
    tree.process(300, blue)  # a process inside a named namespace
    tree.process(77, 4026533001)  # `unshare -n`: no name
    tree.process(78, 4026533001)

    d = tree.discover()

    assert [e.inode for e in d.namespaces] == sorted([ROOT_INODE, blue, 4026533001], key=lambda i: i != ROOT_INODE)
    root, *others = d.namespaces
    assert root.root and root.inode == ROOT_INODE and root.pids == (1, 40) and root.names == ()
    assert root.path == str(tree.self_ns)
    by_inode = {e.inode: e for e in others}
    assert by_inode[blue].names == ("blue",) and by_inode[blue].pids == (300,)
    assert by_inode[blue].path == str(tree.run / "netns" / "blue")
    anon = by_inode[4026533001]
    assert anon.names == () and anon.pids == (77, 78) and not anon.root
    assert anon.path == str(tree.proc / "77" / "ns" / "net")
    assert d.pid_netns == {1: ROOT_INODE, 40: ROOT_INODE, 300: blue, 77: 4026533001, 78: 4026533001}
    assert d.errors == ()


def test_namespaces_sorted_root_first_then_by_inode(tree: FakeTree) -> None:
    tree.process(5, 4026533009)
    tree.process(6, 4026533002)
    tree.process(7, ROOT_INODE)
    inodes = [e.inode for e in tree.discover().namespaces]
    assert inodes == [ROOT_INODE, 4026533002, 4026533009]


def test_one_namespace_with_two_names_and_a_docker_name(tree: FakeTree) -> None:
    zeta = tree.named("zeta")
    os.link(tree.run / "netns" / "zeta", tree.run / "netns" / "alpha")  # same inode: a second name
    dock = tree.run / "docker" / "netns"
    dock.mkdir(parents=True)
    os.link(tree.run / "netns" / "zeta", dock / "a1b2c3d4e5f6")

    (entry,) = [e for e in tree.discover().namespaces if e.inode == zeta]

    assert entry.names == ("a1b2c3d4e5f6", "alpha", "zeta")
    assert entry.path == str(tree.run / "netns" / "alpha")  # /run/netns first, then by name


def test_a_file_not_on_nsfs_is_skipped_quietly(tree: FakeTree) -> None:
    # `ip netns add` in progress: the file exists but nothing is mounted on it yet.
    (tree.run / "netns" / "pending").symlink_to("/dev/null")  # another device than the tmp "nsfs"
    real = tree.named("real")
    d = tree.discover()
    assert [e.names for e in d.namespaces if not e.root] == [("real",)]
    assert d.namespaces[-1].inode == real
    assert d.errors == ()


def test_missing_run_directories_are_fine(tmp_path: Path) -> None:
    (tmp_path / "proc" / "9" / "ns").mkdir(parents=True)
    (tmp_path / "proc" / "9" / "ns" / "net").symlink_to("net:[4026533100]")
    (tmp_path / "self").symlink_to(f"net:[{ROOT_INODE}]")
    d = discover(str(tmp_path / "proc"), str(tmp_path / "nothing"), str(tmp_path / "self"), nsfs_dev=0)
    assert [e.inode for e in d.namespaces] == [ROOT_INODE, 4026533100]
    assert d.errors == ()


def test_vanished_and_odd_processes_are_skipped(tree: FakeTree) -> None:
    tree.process(10, ROOT_INODE)
    tree.process(11, None)  # exited: /proc/11 exists but its ns/net is gone
    tree.process(12, None, text="garbage")  # not a net link
    (tree.proc / "self").mkdir()  # non-numeric entries are not processes
    d = tree.discover()
    assert d.pid_netns == {10: ROOT_INODE}
    assert d.errors == ()


def test_permission_denied_becomes_one_error_not_an_exception(
    tree: FakeTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    for pid in (20, 21, 22):
        tree.process(pid, 4026533200)
    tree.process(23, ROOT_INODE)
    real_readlink = os.readlink

    def readlink(path: str) -> str:
        if "/20/" in str(path) or "/21/" in str(path):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_readlink(path)

    monkeypatch.setattr(os, "readlink", readlink)
    d = tree.discover()

    assert d.pid_netns == {22: 4026533200, 23: ROOT_INODE}
    (err,) = d.errors
    assert err.scope == "processes"
    assert "2 processes" in err.message and "20, 21" in err.message


def test_unreadable_root_link_is_an_error(tree: FakeTree) -> None:
    tree.self_ns.unlink()
    tree.self_ns.mkdir()  # readlink on a directory: EINVAL, reported, not raised
    tree.process(3, 4026533300)
    d = tree.discover()
    assert not any(e.root for e in d.namespaces)
    assert [e.inode for e in d.namespaces] == [4026533300]
    assert [e.scope for e in d.errors] == ["netns root"]


def test_candidate_paths_fall_back_to_every_pid(tree: FakeTree) -> None:
    tree.process(50, 4026533400)
    tree.process(51, 4026533400)
    (entry,) = [e for e in tree.discover().namespaces if e.inode == 4026533400]
    assert candidate_paths(entry, str(tree.proc)) == [
        str(tree.proc / "50" / "ns" / "net"),
        str(tree.proc / "51" / "ns" / "net"),
    ]
