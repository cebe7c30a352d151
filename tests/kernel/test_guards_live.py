"""The mutator's guards read the system through the live collector, limited to the namespaces a plan
names: a namespace's processes and the peers of its devices are seen, other namespaces are not read."""

from __future__ import annotations

import os

from tests.kernelkit import KernelKit, poll_until
from vnettop.actions import mutator as mut
from vnettop.actions import plans as p


def test_deleting_a_namespace_with_a_process_in_it_warns(kit: KernelKit) -> None:
    ns = kit.netns("gd")
    proc = kit.spawn(["sleep", "300"], netns=ns)
    inode = kit.ns_inode(ns)
    poll_until(lambda: os.stat(f"/proc/{proc.pid}/ns/net").st_ino == inode)
    warnings = mut.Mutator(False, None, environ={}).check(p.DeleteNamespace(ns))
    assert [(w.code, w.subject) for w in warnings] == [("ns-processes", ns)]
    assert f"pid {proc.pid}" in warnings[0].message or f"[{proc.pid}]" in warnings[0].message


def test_the_guards_picture_holds_only_root_and_the_named_namespaces(kit: KernelKit) -> None:
    a, b = kit.netns("ga"), kit.netns("gb")
    kit.veth(kit.name("gva"), kit.name("gvb"), ns_a=a, ns_b=b)
    snap = mut._partial_snapshot(p.DeleteLink(kit.name("gva"), netns=a))
    shown = {ns.inode for ns in snap.namespaces}
    assert kit.ns_inode(a) in shown and kit.ns_inode(b) not in shown
    assert snap.root is not None and snap.owners is None
    (link,) = snap.find_links(kit.name("gva"), kit.ns_inode(a))
    assert link.peer is not None and link.peer.name is None  # b was not read: its end stays unknown
