"""The collector on the whole, live, shared host: it never raises, whatever others do meanwhile.

Other engineers' tests create and delete namespaces, veths and processes on this machine while these
run; that is the point: a collect must show what it can and put the rest in `errors`.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from tests.kernelkit import KernelKit, poll_until, run
from vnettop.collect.collector import LiveCollector
from vnettop.linux.netlink import SIOCGSKNS
from vnettop.model import CollectError, Snapshot

pytestmark = pytest.mark.kernel

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def socket_namespaces() -> set[int]:
    """The network namespace of every socket this process holds (SIOCGSKNS on each socket fd)."""
    found: set[int] = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            ns_fd = fcntl.ioctl(int(name), SIOCGSKNS)
        except OSError:  # closed meanwhile (another thread's), or the listing's own fd
            continue
        try:
            found.add(os.fstat(ns_fd).st_ino)
        finally:
            os.close(ns_fd)
    return found


def check_consistent(snap: Snapshot) -> None:
    root = snap.root
    assert root is not None and snap.namespaces[0] is root
    assert root.inode == os.stat("/proc/self/ns/net").st_ino
    assert any(link.kind == "loopback" for link in snap.links_in(root.inode))
    inodes = {ns.inode for ns in snap.namespaces}
    assert len(inodes) == len(snap.namespaces)
    assert all(link.netns in inodes for link in snap.links)
    keys = [link.key for link in snap.links]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(isinstance(e, CollectError) for e in snap.errors)


def test_collect_on_the_live_host(collector: LiveCollector) -> None:
    first = collector.collect()
    check_consistent(first)
    again = collector.collect()  # the incremental path
    check_consistent(again)
    assert os.getpid() in again.root.pids  # type: ignore[union-attr]


def test_collecting_while_namespaces_come_and_go(kit: KernelKit, collector: LiveCollector) -> None:
    stop = threading.Event()
    failures: list[BaseException] = []
    made: list[str] = []
    collects = [0]

    def churn() -> None:
        i = 0
        try:
            while not stop.is_set():
                name = kit.name(f"h{i % 50}")
                i += 1
                if name not in kit.namespaces:
                    kit.namespaces.append(name)  # so the kit removes it if this test fails midway
                run(["ip", "netns", "add", name])
                made.append(name)
                run(["ip", "link", "add", kit.name("hv"), "type", "veth", "peer", "name", "eth0",
                     "netns", name], check=False)
                proc = subprocess.Popen(["ip", "netns", "exec", name, "unshare", "-n", "true"])
                proc.wait()
                run(["ip", "netns", "del", name])
        except BaseException as exc:
            failures.append(exc)

    def collect_loop() -> None:
        try:
            while not stop.is_set():
                check_consistent(collector.collect())
                collects[0] += 1
        except BaseException as exc:
            failures.append(exc)

    def wait_loop() -> None:
        try:
            while not stop.is_set():
                collector.wait_for_change(0.05)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=f) for f in (churn, collect_loop, collect_loop, wait_loop)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline and not failures:
        stop.wait(0.1)
    stop.set()
    for t in threads:
        t.join(30)
    assert not failures, failures
    assert collects[0] >= 5 and len(made) >= 3

    # Nothing of ours is left, and the pool holds nothing that is gone (it would pin a dead namespace).
    snap = collector.collect()
    assert not [ns for ns in snap.namespaces if any(n.startswith(f"vnt{kit.tag}") for n in ns.names)]
    pool = collector._pool
    assert pool is not None and set(pool.entries) <= {ns.inode for ns in snap.namespaces}
    # No socket of this process is in a namespace that is gone: an event socket the waiter was polling
    # when its namespace was dropped was once kept until the next wait, which never came here, and pinned
    # that namespace (and the root end below) for good.
    assert socket_namespaces() <= {ns.inode for ns in snap.namespaces}
    # The root end goes once the kernel has torn the last namespace down, in a work queue of its own, after
    # its last reference went (usually well under a second).
    poll_until(lambda: kit.name("hv") not in run(["ip", "-o", "link", "show"]).stdout, timeout=60, interval=0.1)


_AS_NOBODY = """
import concurrent.futures.thread, importlib, json, os, pkgutil
import pyroute2.iproute.linux
import vnettop.collect
from vnettop.collect.collector import LiveCollector
# The interpreter and site-packages live under /root (mode 0700), so a process that is nobody from
# the start (preexec_fn) cannot even exec it: import every module the collector loads lazily while
# still root, then drop to nobody for good.
for mod in pkgutil.walk_packages(vnettop.collect.__path__, "vnettop.collect."):  # sources' too
    importlib.import_module(mod.name)
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
with LiveCollector() as c:
    s = c.collect()
    s2 = c.collect()
print(json.dumps({
    "uid": os.getuid(),
    "namespaces": [[n.inode, list(n.names), n.root] for n in s.namespaces],
    "links": [[l.netns, l.name] for l in s2.links],
    "errors": [[e.scope, e.message] for e in s.errors],
}))
"""


def test_without_root_a_snapshot_with_errors_not_an_exception(kit: KernelKit) -> None:
    ns = kit.netns("nr")
    kit.ip("link", "add", kit.name("nb"), "type", "bridge", netns=ns)
    proc = subprocess.run([sys.executable, "-c", _AS_NOBODY], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": REPO}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    out = json.loads(proc.stdout)
    assert out["uid"] == 65534
    root = os.stat("/proc/self/ns/net").st_ino
    assert [root, [], True] in out["namespaces"]
    assert [root, "lo"] in out["links"]  # its own namespace is readable without privileges
    inode = kit.ns_inode(ns)
    assert [inode, [ns], False] in out["namespaces"]  # listed (stat works)...
    assert not [link for link in out["links"] if link[0] == inode]  # ...but not readable
    assert any(scope == f"netns {inode}" and "permission denied" in msg for scope, msg in out["errors"])
