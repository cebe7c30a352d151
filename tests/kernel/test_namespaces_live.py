"""Namespace discovery against the real kernel: named, process-only, doubly named, half-made."""

from __future__ import annotations

import os

import pytest

from tests.kernelkit import KernelKit, run
from vnettop.collect.namespaces import discover
from vnettop.linux import nsenter

pytestmark = pytest.mark.kernel


def _entry(inode: int):  # type: ignore[no-untyped-def]
    return next((e for e in discover().namespaces if e.inode == inode), None)



def test_root_named_and_process_only_namespaces(kit: KernelKit) -> None:
    ns = kit.netns("a")
    proc, anon_inode = kit.unshared()

    d = discover()

    root = d.namespaces[0]
    assert root.root and root.inode == os.stat("/proc/self/ns/net").st_ino
    assert os.getpid() in root.pids
    named = next(e for e in d.namespaces if e.inode == kit.ns_inode(ns))
    assert ns in named.names and not named.root
    assert named.path.startswith("/run/netns/")
    anon = next(e for e in d.namespaces if e.inode == anon_inode)
    assert anon.names == () and proc.pid in anon.pids
    assert d.pid_netns[proc.pid] == anon_inode
    assert len({e.inode for e in d.namespaces}) == len(d.namespaces)  # deduplicated


def test_a_namespace_with_two_names(kit: KernelKit) -> None:
    ns = kit.netns("two")
    with kit.second_name(ns) as alias:
        entry = _entry(kit.ns_inode(ns))
        assert entry is not None
        assert entry.names == tuple(sorted([ns, alias]))


def test_namespace_file_not_yet_mounted_is_skipped_quietly(kit: KernelKit) -> None:
    # What `ip netns add` leaves for a moment: an empty file on /run, nothing mounted on it yet.
    pending = kit.name("pend")
    path = f"/run/netns/{pending}"
    with open(path, "x"):
        pass
    try:
        d = discover()
        assert all(pending not in e.names for e in d.namespaces)
        assert not [e for e in d.errors if pending in e.scope or pending in e.message]
    finally:
        os.unlink(path)


def test_deleted_namespace_disappears(kit: KernelKit) -> None:
    ns = kit.netns("gone")
    inode = kit.ns_inode(ns)
    assert _entry(inode) is not None
    run(["ip", "netns", "del", ns])
    assert _entry(inode) is None


def test_setns_visit_reaches_each_namespace_and_leaves_caller_alone(kit: KernelKit) -> None:
    a, b = kit.netns("va"), kit.netns("vb")
    fds = [os.open(f"/run/netns/{n}", os.O_RDONLY) for n in (a, b)]
    try:
        seen = nsenter.visit_each(fds, lambda _fd: nsenter.thread_netns_inode())
        assert seen == [kit.ns_inode(a), kit.ns_inode(b)]
        assert nsenter.thread_netns_inode() == os.stat("/proc/self/ns/net").st_ino
        with nsenter.entered(fds[0]):
            assert nsenter.thread_netns_inode() == kit.ns_inode(a)
        assert nsenter.thread_netns_inode() == os.stat("/proc/self/ns/net").st_ino
    finally:
        for fd in fds:
            os.close(fd)


def test_setns_refusal_is_an_oserror_not_a_crash() -> None:
    fd = os.open("/proc/self/ns/mnt", os.O_RDONLY)  # not a network namespace: EINVAL
    try:
        (result,) = nsenter.visit_each([fd], lambda _fd: "entered")
        assert isinstance(result, OSError)
        assert nsenter.thread_netns_inode() == os.stat("/proc/self/ns/net").st_ino
    finally:
        os.close(fd)
