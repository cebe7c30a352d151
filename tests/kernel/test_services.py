"""Real clients: openvpn holding a tun, qemu holding taps, dnsmasq serving inside a namespace.

Each runs inside a throwaway namespace; the scanner must attribute the device exactly and list what
each process listens on *in its own namespace* (read through that namespace's /proc/PID/net tables).
"""

from __future__ import annotations

import os
import shutil
import signal
from typing import Any

import pytest

from tests.kernelkit import KernelKit, poll_until, run
from tests.tunholder import discovery_for_tests, tun_links
from vnettop.collect.holders import attach_holders
from vnettop.collect.processes import ProcScanner
from vnettop.collect.procfs import ProcFs
from vnettop.collect.rota import ROUNDS
from vnettop.collect.sockets import DiagSockets
from vnettop.collect.types import NsEntry, ProcScan
from vnettop.model import Listening, Process, TunHolder

pytestmark = pytest.mark.kernel


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")


def process_in(scan: ProcScan, netns: int, pid: int) -> Process | None:
    return next((p for p in scan.processes.get(netns, ()) if p.pid == pid), None)


def read_pidfile(path: str) -> int:
    def probe() -> int:
        try:
            with open(path) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0
    return poll_until(probe)


def holders(kit: KernelKit, netns: str, scan: ProcScan, name: str) -> tuple[TunHolder, ...]:
    links, errors = attach_holders(tun_links(kit, netns), scan)
    assert not [e for e in errors if name in e.message]
    (link,) = [x for x in links if x.name == name]
    assert link.tun is not None
    return link.tun.holders


def test_openvpn_tun_and_its_udp_port_in_its_namespace(kit: KernelKit) -> None:
    need("openvpn")
    ns = kit.netns("vpn")
    dev = kit.name("tun0")
    lport = 20000 + int(kit.tag, 16) % 20000
    proc = kit.spawn(["openvpn", "--dev", dev, "--dev-type", "tun", "--ifconfig", "10.77.0.1", "10.77.0.2",
                      "--lport", str(lport), "--rport", str(lport + 1), "--remote", "127.0.0.1",
                      "--proto", "udp", "--disable-dco", "--verb", "0"], netns=ns)
    inode = kit.ns_inode(ns)
    scanner = ProcScanner(listen_interval=0)

    def ready() -> ProcScan | None:
        scan = scanner.scan(discovery_for_tests())
        found = process_in(scan, inode, proc.pid)
        return scan if found and found.listening and any(f.pid == proc.pid for f in scan.tun_fds) else None

    scan = poll_until(ready, timeout=10)
    assert scan is not None
    openvpn = process_in(scan, inode, proc.pid)
    assert openvpn is not None and openvpn.comm == "openvpn"
    assert Listening("udp", "0.0.0.0", lport) in openvpn.listening
    (holder,) = holders(kit, ns, scan, dev)
    assert (holder.pid, holder.comm, holder.exact) == (proc.pid, "openvpn", True)
    # Its socket lives in the namespace, so the root namespace's table must not claim it.
    root_procs = scan.processes.get(kit.ns_inode(None), ())
    assert not any(Listening("udp", "0.0.0.0", lport) in p.listening for p in root_procs)


def _qemu(kit: KernelKit, ns: str, netdev: str, *extra: str) -> int:
    pidfile = kit.daemon_pidfile("qemu")
    run(["ip", "netns", "exec", ns, "qemu-system-x86_64", *extra, "-S", "-display", "none", "-nodefaults",
         "-netdev", netdev, "-daemonize", "-pidfile", pidfile])
    return read_pidfile(pidfile)


def test_qemu_holds_its_tap(kit: KernelKit) -> None:
    need("qemu-system-x86_64")
    ns = kit.netns("vm")
    tap = kit.name("vm0")
    pid = _qemu(kit, ns, f"tap,id=n0,ifname={tap},script=no,downscript=no", "-machine", "none")
    scan = ProcScanner().scan(discovery_for_tests(), full=True)
    (holder,) = holders(kit, ns, scan, tap)
    assert (holder.pid, holder.exact, len(holder.fds)) == (pid, True, 1)
    assert holder.comm.startswith("qemu-system")
    assert os.readlink(f"/proc/{pid}/fd/{holder.fds[0]}") == "/dev/net/tun"
    qemu = process_in(scan, kit.ns_inode(ns), pid)
    assert qemu is not None and f"ifname={tap}" in qemu.cmdline


def test_qemu_multi_queue_tap_has_two_fds(kit: KernelKit) -> None:
    need("qemu-system-x86_64")
    ns = kit.netns("mq")
    tap = kit.name("mq0")
    pid = _qemu(kit, ns, f"tap,id=n0,ifname={tap},script=no,downscript=no,queues=2",
                "-M", "q35", "-device", "virtio-net-pci,netdev=n0,mq=on")
    scan = ProcScanner().scan(discovery_for_tests(), full=True)
    (holder,) = holders(kit, ns, scan, tap)
    assert holder.pid == pid and len(holder.fds) == 2 and holder.exact
    assert all(os.readlink(f"/proc/{pid}/fd/{fd}") == "/dev/net/tun" for fd in holder.fds)
    assert tun_links(kit, ns)[0].tun.multi_queue  # type: ignore[union-attr]


def test_dnsmasq_listens_on_53_and_67_inside_its_namespace(kit: KernelKit) -> None:
    need("dnsmasq")
    ns = kit.netns("dh")
    inside, _ = kit.veth(kit.name("dhi"), kit.name("dho"), ns_a=ns)
    kit.ip("addr", "add", "10.78.0.2/24", "dev", inside, netns=ns)
    kit.ip("link", "set", inside, "up", netns=ns)
    proc = kit.spawn(["dnsmasq", "--no-daemon", f"--interface={inside}", "--bind-interfaces",
                      "--except-interface=lo", "--dhcp-range=10.78.0.10,10.78.0.20,1h", "--port", "53",
                      "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--dhcp-leasefile=/dev/null"],
                     netns=ns)
    inode = kit.ns_inode(ns)
    scanner = ProcScanner(listen_interval=0)

    def ready() -> Process | None:
        found = process_in(scanner.scan(discovery_for_tests()), inode, proc.pid)
        return found if found and len(found.listening) >= 3 else None

    dnsmasq = poll_until(ready, timeout=10)
    assert dnsmasq is not None and dnsmasq.comm == "dnsmasq"
    assert {Listening("tcp", "10.78.0.2", 53), Listening("udp", "10.78.0.2", 53),
            Listening("udp", "0.0.0.0", 67)} <= set(dnsmasq.listening)
    assert dnsmasq.user == run(["ps", "-o", "user=", "-p", str(proc.pid)]).stdout.strip()
    # Nothing of it leaks into the root namespace's view.
    assert process_in(scanner.scan(discovery_for_tests()), kit.ns_inode(None), proc.pid) is None


LISTENER = """
import socket, sys, time
socks = []
for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((addr, int(sys.argv[1])))
    s.listen()
    socks.append(s)
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))  # an established pair: not listening
socks.append(c)
for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::")):
    u = socket.socket(fam, socket.SOCK_DGRAM)  # bound, unconnected: serves
    if fam == socket.AF_INET6:
        u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    u.bind((addr, int(sys.argv[1]) + 1))
    socks.append(u)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # connected udp: a client, not listening
u.connect(("127.0.0.1", int(sys.argv[1]) + 1))
socks.append(u)
print("ready", flush=True)
time.sleep(3600)
"""


def test_listeners_by_sock_diag_match_ss_and_the_proc_tables(kit: KernelKit) -> None:
    """The fast path (sock_diag inside the namespace) and the fallback (/proc tables) agree with ss,
    for tcp listeners and for bound, unconnected udp sockets."""
    ns = kit.netns("tl")
    port = 30000 + int(kit.tag, 16) % 20000
    proc = kit.spawn(["python3", "-c", LISTENER, str(port)], netns=ns)
    inode = kit.ns_inode(ns)

    def ss_listeners(flags: str) -> set[tuple[str, int]]:
        out = run(["ip", "netns", "exec", ns, "ss", flags]).stdout
        found = set()
        for line in out.splitlines():
            local = line.split()[3]
            addr, _, p = local.rpartition(":")
            found.add((addr.strip("[]"), int(p)))
        return found

    expected = poll_until(lambda: {a for a in ss_listeners("-Htln") if a[1] == port} == {("127.0.0.1", port),
                                                                                         ("::1", port)})
    assert expected
    # ss -ul: bound udp sockets with no peer
    assert {a for a in ss_listeners("-Huln") if a[1] == port + 1} == {("127.0.0.1", port + 1), ("::", port + 1)}
    disc = discovery_for_tests()
    views = []
    for use_diag in (True, False):
        scanner = ProcScanner()
        scanner.listening.use_diag = use_diag
        scan = scanner.scan(disc, full=True)
        mine = process_in(scan, inode, proc.pid)
        assert mine is not None
        views.append(set(mine.listening))
    assert views[0] == views[1] == {Listening("tcp", "127.0.0.1", port), Listening("tcp6", "::1", port),
                                    Listening("udp", "127.0.0.1", port + 1), Listening("udp6", "::", port + 1)}
    # And the fast path really ran (no silent fallback): sock_diag inside the namespace sees both.
    diag = DiagSockets(batch=1)
    entry = NsEntry(inode, (ns,), False, f"/run/netns/{ns}", ())
    (direct,) = diag.listeners([entry])
    assert not isinstance(direct, OSError)
    assert set(direct.values()) == views[0]
    # In batches, mixed with our own namespace, a path that does not open and one that opens another
    # namespace than the one asked for (a reused pid): each in its slot, the socket made once is kept.
    own_inode = os.stat("/proc/self/ns/net").st_ino
    own_entry = NsEntry(own_inode, (), True, "/proc/self/ns/net", ())
    missing_entry = NsEntry(inode + 1, (), False, "/nonexistent", ())
    wrong_entry = NsEntry(inode + 2, (), False, f"/run/netns/{ns}", ())
    own, again, missing, wrong = diag.listeners([own_entry, entry, missing_entry, wrong_entry])
    assert again == direct and isinstance(missing, OSError) and isinstance(wrong, OSError)
    assert not isinstance(own, OSError) and not set(own) & set(direct)
    assert diag.made == 2 and diag.held() == {inode, own_inode}
    # The kept socket is in the namespace and pins it: let go, the namespace dies with its veth's root end.
    peer_root, _ = kit.veth(kit.name("ta"), kit.name("tb"), None, ns)
    proc.kill()
    proc.wait(10)
    run(["ip", "netns", "del", ns])
    assert diag.listeners([entry]) == [{}]  # still answered (nothing listens now): the socket holds it
    diag.keep_only({own_inode})
    assert diag.held() == {own_inode}
    poll_until(lambda: not run(["ip", "link", "show", "dev", peer_root], check=False).stdout, timeout=30)
    diag.close()
    assert diag.held() == frozenset()


LATE_LISTENER = """
import signal, socket, sys
port = int(sys.argv[1])
held = []
def listen(*_):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", port))
    s.listen()
    held.append(s)
signal.signal(signal.SIGUSR1, listen)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound once the handler is in place: "ready"
u.bind(("127.0.0.1", port))
while True:
    signal.pause()
"""


def listening_late(kit: KernelKit, suffix: str, **scanner_args: Any) -> tuple[int, int, int, ProcScanner, list[float]]:
    """A LATE_LISTENER in a new namespace, known to a scanner on a fake clock (`scanner_args`) while it
    listens on udp only, then told to listen on tcp too (done once `ss` shows it): (pid, namespace inode,
    port, scanner, clock)."""
    ns = kit.netns(suffix)
    port = 30000 + (int(kit.tag, 16) + sum(map(ord, suffix))) % 20000
    proc = kit.spawn(["python3", "-c", LATE_LISTENER, str(port)], netns=ns)
    inode = kit.ns_inode(ns)

    def in_ss(flags: str) -> bool:
        return f"127.0.0.1:{port}" in run(["ip", "netns", "exec", ns, "ss", flags]).stdout

    assert poll_until(lambda: in_ss("-Huln"))  # ready
    clock = [0.0]
    scanner = ProcScanner(listen_interval=3600.0, clock=lambda: clock[0], **scanner_args)
    first = process_in(scanner.scan(discovery_for_tests()), inode, proc.pid)
    assert first is not None and set(first.listening) == {Listening("udp", "127.0.0.1", port)}
    os.kill(proc.pid, signal.SIGUSR1)
    assert poll_until(lambda: in_ss("-Htln"))
    return proc.pid, inode, port, scanner, clock


@pytest.mark.parametrize("counts", [True, False])
def test_a_socket_that_starts_listening_is_seen_on_its_turn(kit: KernelKit, counts: bool) -> None:
    """A known, old process in a known namespace starts listening: with the kernel's fd counts its
    namespace's tables are read again when the process's turn comes (its count is compared once in
    `rota.ROUNDS` calls), however long the periodic interval (here an hour); without them (the control)
    only that interval would bring it."""
    if not ProcScanner().fd_counts:
        pytest.skip("this kernel does not report fd counts (Linux < 6.2)")
    pid, inode, port, scanner, clock = listening_late(kit, "ll", sweep_seconds=3600.0, fd_counts=counts)
    seen = []
    for _ in range(ROUNDS):
        clock[0] += 1.0
        after = process_in(scanner.scan(discovery_for_tests()), inode, pid)
        assert after is not None
        seen.append(set(after.listening))
    udp, tcp = Listening("udp", "127.0.0.1", port), Listening("tcp", "127.0.0.1", port)
    if counts:  # on its turn, and kept from then on
        turn = seen.index({udp, tcp})
        assert seen[turn:] == [{udp, tcp}] * (ROUNDS - turn)
    else:
        assert seen == [{udp}] * ROUNDS


def test_a_socket_opened_before_the_sweep_reads_its_process_is_seen_at_once(
        kit: KernelKit, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep re-reads a known process whose fd count changed (it opened a listening socket) before
    the process's turn: that read takes in the new count, so it must make the namespace's tables due
    there and then, or the socket waits for the periodic interval (here an hour). The sweep here takes
    every process on every call, as it reaches any process sooner or later (lowest pids first)."""
    if not ProcScanner().fd_counts:
        pytest.skip("this kernel does not report fd counts (Linux < 6.2)")
    pid, inode, port, scanner, clock = listening_late(kit, "ls", sweep_seconds=1.0, sweep_max=1_000_000,
                                                      fd_counts=True)
    read: list[int] = []
    fd_targets = ProcFs.fd_targets

    def spy(fs: ProcFs, pid: int) -> dict[int, str]:
        read.append(pid)
        return fd_targets(fs, pid)

    monkeypatch.setattr(ProcFs, "fd_targets", spy)
    clock[0] += 1.0
    after = process_in(scanner.scan(discovery_for_tests()), inode, pid)
    assert pid in read  # the sweep took it
    assert after is not None
    assert set(after.listening) == {Listening("udp", "127.0.0.1", port), Listening("tcp", "127.0.0.1", port)}
