"""The namespace pool's footprint: what it holds per namespace, and the fd limit it works within.

Why these matter: a host with 5000 namespaces needs the pool's fds for every one of them, and a
namespace whose sockets cannot be opened is shown unreadable; at 3 fds a namespace, 5000 namespaces
did not fit under this machine kind's default hard limit of 20000 fds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kernelkit import KernelKit
from vnettop.collect.events import EventHub
from vnettop.collect.nspool import NsPool, _open_ns_fd
from vnettop.collect.types import Discovery, NsEntry

pytestmark = pytest.mark.kernel


def own_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def entry(kit: KernelKit, name: str) -> NsEntry:
    return NsEntry(inode=kit.ns_inode(name), names=(name,), root=False, path=f"/run/netns/{name}", pids=())


def test_a_pooled_namespace_costs_two_fds_and_pyroute2_gets_its_socket_when_asked(kit: KernelKit) -> None:
    names = [kit.netns(f"p{i}") for i in range(8)]
    for i, ns in enumerate(names):
        kit.ip("link", "add", f"vntpl{i}", "type", "bridge", netns=ns)
    hub = EventHub()
    pool = NsPool(hub)
    try:
        before = own_fds()
        opened, unreadable, errors = pool.sync(Discovery(tuple(entry(kit, ns) for ns in names), {}, ()))
        assert sorted(opened) == sorted(kit.ns_inode(ns) for ns in names) and not unreadable and not errors
        assert own_fds() - before == 2 * len(names)  # the counters/dump socket and the event socket
        # The pyroute2 fallback still works, on a socket made now, inside the right namespace.
        pooled = pool.get(kit.ns_inode(names[3]))
        assert pooled is not None
        got = {link.get_attr("IFLA_IFNAME") for link in pooled.ipr.get_links()}
        assert got == {"lo", "vntpl3"}
        assert own_fds() - before > 2 * len(names)  # made now (pyroute2 adds what it needs)
    finally:
        pool.close()
        hub.close()


RAISE = """
import resource, sys
from vnettop.collect.nspool import raise_nofile_limit
resource.setrlimit(resource.RLIMIT_NOFILE, (1024, int(sys.argv[1])))
print(raise_nofile_limit(), *resource.getrlimit(resource.RLIMIT_NOFILE))
"""


def may_raise_hard_limits() -> bool:
    """CAP_SYS_RESOURCE (bit 24) in this process's effective set (root in a sandbox may lack it)."""
    with open("/proc/self/status", encoding="ascii") as f:
        eff = next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))
    return bool(eff >> 24 & 1)


@pytest.mark.parametrize("hard", [4096, 8192])
def test_the_fd_limit_is_raised_past_a_low_hard_limit_when_allowed(hard: int) -> None:
    """With CAP_SYS_RESOURCE (root on a host) the hard limit is raised too: the pool's limit is then
    min(2^20, fs.nr_open), whatever hard limit it started with; without it, the soft limit is raised to
    the hard one, quietly."""
    with open("/proc/sys/fs/nr_open", encoding="ascii") as f:
        ceiling = min(1 << 20, int(f.read())) if may_raise_hard_limits() else hard
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", RAISE, str(hard)], capture_output=True, text=True, check=True,
                         cwd=root).stdout.split()
    assert [int(x) for x in out] == [ceiling, ceiling, ceiling]


GROWN = """
import json, sys
from vnettop.collect.events import EventHub
from vnettop.collect.nspool import FDS_PER_NEW_NAMESPACE, NsPool
from vnettop.collect.types import Discovery, NsEntry

def fd_size():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("FDSize:"))

entries = tuple(NsEntry(int(i), (n,), False, "/run/netns/" + n, ()) for i, n in json.loads(sys.argv[1]))
before = fd_size()
pool = NsPool(EventHub(), events=False)
opened, _, _ = pool.sync(Discovery(entries, {}))
print(json.dumps([before, fd_size(), len(opened), FDS_PER_NEW_NAMESPACE]))
"""


def test_the_fd_table_is_grown_once_before_the_sockets_are_made(kit: KernelKit) -> None:
    """A pool opening N namespaces grows the fd table to hold them before making the sockets (one growth
    instead of one per doubling, each of which waits for an RCU grace period while the socket-making
    thread shares the table): the table then holds more than the N sockets alone would have grown it to."""
    names = [kit.netns(f"g{i}") for i in range(40)]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    arg = json.dumps([[kit.ns_inode(n), n] for n in names])
    # Through a shell that forks it: a table is copied at fork sized by the highest fd open then, and
    # this test process has many open (the child of a shell with three starts with the smallest table).
    before, after, opened, per = json.loads(subprocess.run(
        ["sh", "-c", '"$0" -c "$1" "$2"; exit $?', sys.executable, GROWN, arg], capture_output=True, text=True,
        check=True, cwd=root).stdout)
    assert opened == 40 and before <= 64
    assert after >= per * 40  # 40 sockets alone (~50 fds in all) would have stopped at 64


def test_a_process_fd_that_names_something_else_now_is_never_opened(kit: KernelKit, tmp_path: Path) -> None:
    """A namespace known by a process's fd (`/proc/PID/fd/N`), whose process has since put another file
    under that number: here a FIFO with a writer waiting for a reader. Opening it would be a side effect
    (the writer goes on; a FIFO without one would block for good, a device could start something), so it
    is looked at first and passed over; the namespace is opened by its next path."""
    import threading

    name = kit.netns("fo")
    fd_dir = tmp_path / "4242" / "fd"
    fd_dir.mkdir(parents=True)
    fifo = fd_dir / "7"
    os.mkfifo(fifo)
    opened_for_writing = threading.Event()

    def writer() -> None:
        with open(fifo, "wb"):  # (blocks until someone opens it for reading)
            opened_for_writing.set()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    ns = NsEntry(inode=kit.ns_inode(name), names=(), root=False, path=str(fifo), pids=(),
                 mounts=(f"/run/netns/{name}",))
    try:
        fd = _open_ns_fd(ns, str(tmp_path))
        try:
            assert os.fstat(fd).st_ino == ns.inode
        finally:
            os.close(fd)
        assert not opened_for_writing.wait(0.2), "the FIFO was opened"
    finally:
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))  # (let the writer go)
        thread.join(5)


def test_a_namespace_that_fails_to_open_for_another_reason_than_being_gone_says_why() -> None:
    """Only a path that is gone (ENOENT, ESRCH) means the namespace vanished; any other failure (EMFILE,
    EIO, here ENOTDIR) is raised, so the pool shows the namespace as unreadable and why, rather than
    dropping it without a word."""
    ns = NsEntry(inode=4026532999, names=(), root=False, path="/etc/hostname/x", pids=())
    with pytest.raises(OSError) as raised:
        _open_ns_fd(ns, "/proc")
    assert not isinstance(raised.value, FileNotFoundError)
