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

from tests.pure.test_procfs import FakeProc
from vnettop.collect.namespaces import candidate_paths, discover, inode_from_link, nsfs_mounts, with_held
from vnettop.collect.processes import ProcScanner
from vnettop.collect.procfs import ProcFs
from vnettop.model import NsFd

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

    def process_link(self, pid: int, inode: int) -> None:
        """Make an existing fake process's ns/net a `net:[INODE]` link (FakeProc makes a plain file)."""
        (self.proc / str(pid) / "ns" / "net").symlink_to(f"net:[{inode}]")

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


# -- namespaces kept by a mount elsewhere, or only by a process's fd ---------------------------------

NSFS_LINE = "{id} 27 0:4 net:[{inode}] {path} rw shared:2 - nsfs nsfs rw\n"


def write_mountinfo(tree: FakeTree, lines: list[str]) -> None:
    (tree.proc / "self").mkdir(exist_ok=True)
    base = ("22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
            "25 22 0:21 / /proc rw - proc proc rw\n"
            "30 22 0:4 mnt:[4026531841] /tmp/a-mount-ns rw - nsfs nsfs rw\n")  # another kind: not ours
    (tree.proc / "self" / "mountinfo").write_text(base + "".join(lines))


def test_nsfs_mounts_reads_network_namespace_mounts_and_unescapes_paths(tmp_path: Path) -> None:
    table = tmp_path / "mountinfo"
    table.write_bytes(
        b"22 1 254:0 / / rw - ext4 /dev/vda rw\n"
        b"40 22 0:4 net:[4026532001] /run/user/1000/netns/netns-7f rw - nsfs nsfs rw\n"
        b"41 22 0:4 net:[4026532002] /tmp/with\\040space\\012and\\134nl rw - nsfs nsfs rw\n"
        b"42 22 0:4 net:[4026532003] /tmp/caf\xc3\xa9/\xff rw - nsfs nsfs rw\n"
        b"43 22 0:4 uts:[4026532004] /tmp/uts rw - nsfs nsfs rw\n"
        b"44 22 0:5 / /tmp/nsfs-named-dir rw - tmpfs nsfs rw\n"  # a tmpfs whose source is called "nsfs"
        b"garbage line\n"
    )
    assert nsfs_mounts(str(table)) == {
        "/run/user/1000/netns/netns-7f": 4026532001,
        "/tmp/with space\nand\\nl": 4026532002,
        os.fsdecode(b"/tmp/caf\xc3\xa9/\xff"): 4026532003,  # undecodable bytes kept: the path must open
    }
    assert nsfs_mounts(str(tmp_path / "missing")) == {}


def test_a_namespace_mounted_elsewhere_is_found_and_named_by_its_path(tree: FakeTree) -> None:
    podman = "/run/user/1000/netns/netns-4f3c"
    write_mountinfo(tree, [NSFS_LINE.format(id=40, inode=4026533501, path=podman)])
    (entry,) = [e for e in tree.discover().namespaces if e.inode == 4026533501]
    assert entry.mounts == (podman,) and entry.names == () and entry.pids == () and entry.path == podman


def test_a_name_and_a_mount_of_it_elsewhere_are_one_namespace(tree: FakeTree) -> None:
    blue = tree.named("blue")
    write_mountinfo(tree, [
        NSFS_LINE.format(id=40, inode=blue, path=tree.run / "netns" / "blue"),  # the name itself
        NSFS_LINE.format(id=41, inode=blue, path="/srv/blue-copy"),
    ])
    tree.process(60, blue)
    found = [e for e in tree.discover().namespaces if e.inode == blue]
    assert len(found) == 1
    (entry,) = found
    assert entry.names == ("blue",) and entry.mounts == ("/srv/blue-copy",) and entry.pids == (60,)
    assert entry.path == str(tree.run / "netns" / "blue")
    assert candidate_paths(entry, str(tree.proc)) == [
        str(tree.run / "netns" / "blue"), str(tree.proc / "60" / "ns" / "net"), "/srv/blue-copy"]


def test_namespaces_held_only_by_fds_come_from_the_proc_scan(tree: FakeTree) -> None:
    """The fd links are read once, by the scanner (for tun holders too); `with_held` adds what they hold."""
    fake = FakeProc(tree.proc)
    fake.add(70, fds={3: "net:[4026533600]", 4: "/dev/null", 5: "mnt:[4026531841]"})
    fake.add(71, fds={9: "net:[4026533600]", 7: f"net:[{ROOT_INODE}]"})
    for pid in (70, 71):
        (tree.proc / str(pid) / "ns" / "net").unlink()
        tree.process_link(pid, ROOT_INODE)
    disc = tree.discover()
    scan = ProcScanner(str(tree.proc)).scan(disc)
    assert scan.ns_fds == {4026533600: (NsFd(70, 3), NsFd(71, 9)), ROOT_INODE: (NsFd(71, 7),)}

    held = with_held(disc, scan.ns_fds, str(tree.proc))
    assert [e.inode for e in held.namespaces] == [ROOT_INODE, 4026533600]
    root, only_fd = held.namespaces
    assert root.fds == (NsFd(71, 7),) and root.path == str(tree.self_ns)  # an fd is one more way in
    assert only_fd.fds == (NsFd(70, 3), NsFd(71, 9)) and only_fd.pids == () and only_fd.names == ()
    assert only_fd.path == str(tree.proc / "70" / "fd" / "3")
    assert candidate_paths(only_fd, str(tree.proc)) == [str(tree.proc / "70" / "fd" / "3"),
                                                        str(tree.proc / "71" / "fd" / "9")]


def test_an_fd_opened_through_a_bind_mount_is_recognised_by_stat(tree: FakeTree) -> None:
    """`open("/run/netns/X")` reads as that path, and as `/` once `ip netns del` detached the mount: such
    fds are stat()ed, and count when they are on nsfs (here: the tmp directory stands for nsfs)."""
    fake = FakeProc(tree.proc)
    blue = tree.named("blue")
    fake.add(80, fds={3: str(tree.run / "netns" / "blue"), 4: str(tree.proc)})  # not "/netns/": not stat()ed
    (tree.proc / "80" / "ns" / "net").unlink()
    tree.process_link(80, ROOT_INODE)
    scanner = ProcScanner(str(tree.proc), nsfs_dev=tree.dev)
    scan = scanner.scan(tree.discover())
    assert scan.ns_fds == {blue: (NsFd(80, 3),)}
    other_dev = ProcScanner(str(tree.proc), nsfs_dev=tree.dev + 1).scan(tree.discover())
    assert other_dev.ns_fds == {}  # a plain file under some .../netns/ directory is not a namespace


def test_an_unreadable_fd_directory_makes_the_scan_incomplete(tree: FakeTree,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeProc(tree.proc)
    fake.add(90, fds={3: "/dev/null"})
    fake.add(91, fds={3: "/dev/null"})
    assert ProcScanner(str(tree.proc)).scan(tree.discover()).complete
    real = ProcFs.fd_targets

    def denied(self: ProcFs, pid: int) -> dict[int, str]:
        if pid == 91:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(self, pid)

    monkeypatch.setattr(ProcFs, "fd_targets", denied)
    scan = ProcScanner(str(tree.proc)).scan(tree.discover())
    assert not scan.complete
