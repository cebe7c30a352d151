"""Namespaces kept alive only by a bind mount outside /run/netns, or only by a process's open fd.

`ip netns` and a /proc/PID/ns/net walk miss both; `lsns`/`lsfd` find them through the mount table and
the fd links. Each test builds one with iproute2 / util-linux (independently of vnettop), puts a veth
end in it with the other end in root, and checks that the collector lists the namespace once, with the
label a human would use, its devices, and the root end's peer resolved into it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest

from tests.kernelkit import KernelKit, poll_until, run
from vnettop.collect.collector import LiveCollector
from vnettop.collect.events import EventHub
from vnettop.model import Snapshot

pytestmark = pytest.mark.kernel


@pytest.fixture
def mountdir() -> Iterator[str]:
    """A `vnt...` directory under /tmp for namespace bind mounts; every mount in it is undone after."""
    path = tempfile.mkdtemp(prefix="vnt")
    try:
        yield path
    finally:
        for name in os.listdir(path):
            run(["umount", "-l", os.path.join(path, name)], check=False)
        shutil.rmtree(path, ignore_errors=True)


def _mounted_elsewhere(kit: KernelKit, mountdir: str) -> tuple[str, int, str, str]:
    """A namespace kept only by a bind mount at MOUNTDIR/ns (made with `ip netns add`, bind-mounted,
    then `ip netns del`: its /run/netns name is gone), with a veth root<->it. Returns the path, its inode
    and the two veth names (root end, far end)."""
    name = kit.netns("m")
    a, b = kit.veth(kit.name("mr"), kit.name("mp"), ns_b=name)
    path = os.path.join(mountdir, "ns")
    open(path, "w").close()
    run(["mount", "--bind", f"/run/netns/{name}", path])
    run(["ip", "netns", "del", name])
    assert not os.path.exists(f"/run/netns/{name}")
    return path, os.stat(path).st_ino, a, b


def _held_by_fd(kit: KernelKit) -> tuple[int, int, int, str, str]:
    """A namespace kept only by a sleeping process's fd on it (opened through /run/netns, which is then
    deleted). Returns its inode, the holder's pid and fd, and the veth names (root end, far end)."""
    name = kit.netns("f")
    inode = kit.ns_inode(name)
    a, b = kit.veth(kit.name("fr"), kit.name("fp"), ns_b=name)
    code = ("import os, signal, sys; fd = os.open(sys.argv[1], os.O_RDONLY); print(fd, flush=True); "
            "signal.pause()")
    proc = subprocess.Popen([sys.executable, "-c", code, f"/run/netns/{name}"], stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    kit.procs.append(proc)  # type: ignore[arg-type]
    assert proc.stdout is not None
    fd = int(proc.stdout.readline())
    run(["ip", "netns", "del", name])
    assert not os.path.exists(f"/run/netns/{name}")
    return inode, proc.pid, fd, a, b


def _check_peer(snap: Snapshot, inode: int, root_end: str, far_end: str) -> None:
    root = snap.root
    assert root is not None
    (a,) = snap.find_links(root_end, root.inode)
    assert a.peer is not None and a.peer.netns == inode and a.peer.name == far_end
    assert [link.name for link in snap.links_in(inode) if link.kind == "veth"] == [far_end]
    assert not [e for e in snap.errors if root_end in e.message], snap.errors


def test_namespace_kept_only_by_a_bind_mount_elsewhere(kit: KernelKit, mountdir: str,
                                                       collector: LiveCollector) -> None:
    path, inode, a, b = _mounted_elsewhere(kit, mountdir)
    snap = collector.collect()
    ns = snap.namespace(inode)
    assert ns is not None, f"{path} not found"
    assert ns.mounts == (path,) and ns.names == () and ns.label == path and ns.readable
    assert sum(1 for n in snap.namespaces if n.inode == inode) == 1
    _check_peer(snap, inode, a, b)


def test_namespace_kept_only_by_a_process_fd(kit: KernelKit, collector: LiveCollector) -> None:
    inode, pid, fd, a, b = _held_by_fd(kit)
    snap = collector.collect()
    ns = snap.namespace(inode)
    assert ns is not None, "a namespace held only by an fd is not listed"
    assert [(h.pid, h.fd) for h in ns.fds] == [(pid, fd)]
    assert ns.names == () and ns.pids == () and ns.mounts == ()
    assert ns.label == f"fd {fd} of pid {pid}" and ns.readable
    _check_peer(snap, inode, a, b)


def test_fd_held_namespace_goes_when_its_holder_exits(kit: KernelKit, collector: LiveCollector) -> None:
    """vnettop's own sockets pin what it reads: they must not count as a holder, or it would keep the
    namespace (and the veth in root) alive forever once the real holder is gone."""
    inode, pid, _fd, a, _b = _held_by_fd(kit)
    assert collector.collect().namespace(inode) is not None
    os.killpg(pid, 9)

    def gone() -> bool:
        snap = collector.collect()
        return snap.namespace(inode) is None and not snap.find_links(a)

    poll_until(gone, timeout=10, interval=0.2)


def test_namespace_both_mounted_and_entered_appears_once_with_both(kit: KernelKit, mountdir: str,
                                                                   collector: LiveCollector) -> None:
    path, inode, a, b = _mounted_elsewhere(kit, mountdir)
    proc = subprocess.Popen(["nsenter", f"--net={path}", "sleep", "300"], stdin=subprocess.DEVNULL,
                            start_new_session=True)
    kit.procs.append(proc)  # type: ignore[arg-type]

    def entered() -> bool:
        try:
            return os.stat(f"/proc/{proc.pid}/ns/net").st_ino == inode
        except OSError:
            return False

    poll_until(entered)
    snap = collector.collect()
    found = [ns for ns in snap.namespaces if ns.inode == inode]
    assert len(found) == 1
    (ns,) = found
    assert ns.mounts == (path,) and proc.pid in ns.pids and ns.label == path
    _check_peer(snap, inode, a, b)


def test_a_new_bind_mount_elsewhere_wakes_the_event_hub(kit: KernelKit, mountdir: str) -> None:
    hub = EventHub()
    try:
        name = kit.netns("w")
        path = os.path.join(mountdir, "ns")
        open(path, "w").close()
        hub.wait(0)  # settle: the `ip netns add` above may still be pending
        while hub.wait(0.05):
            pass
        run(["mount", "--bind", f"/run/netns/{name}", path])
        poll_until(lambda: hub.wait(0.2), timeout=5)
        assert ("added", path) in hub.recent_netns_changes()
    finally:
        hub.close()


def test_two_collectors_in_two_processes_do_not_keep_a_deleted_namespace(kit: KernelKit,
                                                                        collector: LiveCollector) -> None:
    """Each sees the other's fds; neither may hold an nsfs fd of its own, or they would keep each
    other's namespaces alive after `ip netns del`."""
    name = kit.netns("t")
    inode = kit.ns_inode(name)
    code = ("import sys, time\nfrom vnettop.collect.collector import LiveCollector\nc = LiveCollector()\n"
            "c.collect(); print('ready', flush=True)\nwhile True:\n    c.collect(); time.sleep(0.1)\n")
    other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                             start_new_session=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                                 os.path.abspath(__file__)))))
    kit.procs.append(other)  # type: ignore[arg-type]
    assert other.stdout is not None and other.stdout.readline().strip() == b"ready"
    assert collector.collect().namespace(inode) is not None
    run(["ip", "netns", "del", name])
    poll_until(lambda: collector.collect().namespace(inode) is None, timeout=10, interval=0.2)
