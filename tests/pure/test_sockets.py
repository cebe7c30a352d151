"""Parsing /proc/PID/net/{tcp,udp,tcp6,udp6} and tracing sockets to processes, on fake trees."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import pytest

from tests.pure.test_procfs import NS_A, Clock, FakeProc
from vnettop.collect import sockets
from vnettop.collect.processes import ProcScanner
from vnettop.collect.procfs import ProcFs
from vnettop.collect.sockets import ListeningScanner, parse_table, read_listening
from vnettop.model import Listening

NS_B = 4026530002
TCP_HEAD = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
            "inode\n")
UDP_HEAD = ("   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
            "inode ref pointer drops\n")


def hex_addr(addr: str) -> str:
    """Encode an address the way the kernel prints it: 32-bit words in host order, as %08X each."""
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    packed = socket.inet_pton(family, addr)
    return "".join(f"{w:08X}" for w in struct.unpack(f"={len(packed) // 4}I", packed))


def row(i: int, addr: str, port: int, state: str, inode: int, remote: str = "0.0.0.0", rport: int = 0) -> str:
    return (f"{i:4}: {hex_addr(addr)}:{port:04X} {hex_addr(remote)}:{rport:04X} {state} "
            f"00000000:00000000 00:00000000 00000000     0        0 {inode} 1 0000000000000000 100 0 0 10 0\n")


def table(kind: str, *rows: str) -> str:
    return (TCP_HEAD if kind.startswith("tcp") else UDP_HEAD) + "".join(rows)


def test_tcp_keeps_listen_only_and_decodes_addresses() -> None:
    text = table("tcp",
                 row(0, "127.0.0.1", 53, "0A", 1001),
                 row(1, "10.0.0.2", 22, "01", 1002, remote="10.0.0.9", rport=51000),  # established
                 row(2, "0.0.0.0", 8080, "0A", 1003))
    assert parse_table(text, "tcp") == [(1001, Listening("tcp", "127.0.0.1", 53)),
                                        (1003, Listening("tcp", "0.0.0.0", 8080))]


def test_tcp_address_is_not_byte_swapped_wrongly() -> None:
    # What the kernel prints for 10.0.0.2:53 on a little-endian host.
    text = TCP_HEAD + ("   0: 0200000A:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0"
                       "        0 4242 1 0000000000000000 100 0 0 10 0\n")
    if struct.pack("=I", 1) == b"\x01\0\0\0":
        assert parse_table(text, "tcp") == [(4242, Listening("tcp", "10.0.0.2", 53))]


def test_ipv6_tables() -> None:
    text = table("tcp6", row(0, "::", 443, "0A", 7), row(1, "::1", 631, "0A", 8),
                 row(2, "fe80::1", 80, "06", 9))  # TIME_WAIT
    assert parse_table(text, "tcp6") == [(7, Listening("tcp6", "::", 443)),
                                         (8, Listening("tcp6", "::1", 631))]


def test_udp_keeps_bound_unconnected_sockets() -> None:
    text = table("udp",
                 row(0, "0.0.0.0", 67, "07", 11),
                 row(1, "10.0.0.2", 53, "07", 12),
                 row(2, "10.0.0.2", 40000, "01", 13, remote="8.8.8.8", rport=53),  # a connected client
                 row(3, "0.0.0.0", 0, "07", 14))  # not bound yet
    assert parse_table(text, "udp") == [(11, Listening("udp", "0.0.0.0", 67)),
                                        (12, Listening("udp", "10.0.0.2", 53))]


def test_garbage_lines_are_skipped() -> None:
    text = table("tcp", "   0: nonsense\n", row(1, "127.0.0.1", 25, "0A", 5), "   2: 0100007F:ZZZZ 0 0A 0 0 0 0 0 x\n")
    assert parse_table(text, "tcp") == [(5, Listening("tcp", "127.0.0.1", 25))]


def test_read_listening_without_ipv6_tables(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path)
    fake.add(10)
    fake.set_table(10, "tcp", table("tcp", row(0, "127.0.0.1", 53, "0A", 1)))
    fake.set_table(10, "udp", table("udp", row(0, "127.0.0.1", 53, "07", 2)))
    assert read_listening(ProcFs(str(tmp_path)), 10) == {1: Listening("tcp", "127.0.0.1", 53),
                                                         2: Listening("udp", "127.0.0.1", 53)}


@pytest.fixture
def two_namespaces(tmp_path: Path) -> FakeProc:
    """NS_A: pid 10 (openvpn, udp 1194) and pid 11 (idle). NS_B: pid 20 (dnsmasq, 53 tcp/udp + 67 udp)."""
    fake = FakeProc(tmp_path)
    fake.add(10, comm="openvpn", fds={5: "socket:[501]", 6: "/dev/net/tun"}, iff={6: "tun0"})
    fake.add(11, comm="bash", fds={0: "/dev/pts/0"})
    fake.add(20, comm="dnsmasq", uid=65534, fds={4: "socket:[601]", 5: "socket:[602]", 6: "socket:[603]"})
    for pid in (10, 11):
        fake.set_table(pid, "udp", table("udp", row(0, "0.0.0.0", 1194, "07", 501)))
        fake.set_table(pid, "tcp", table("tcp"))
    fake.set_table(20, "tcp", table("tcp", row(0, "10.0.0.2", 53, "0A", 601)))
    fake.set_table(20, "udp", table("udp", row(0, "10.0.0.2", 53, "07", 602), row(1, "0.0.0.0", 67, "07", 603)))
    return fake


def test_each_namespace_is_read_through_its_own_process(two_namespaces: FakeProc) -> None:
    fake = two_namespaces
    disc = fake.discovery({20: NS_B})
    result, errors = ListeningScanner(ProcFs(str(fake.root))).scan(disc.namespaces)
    assert errors == []
    assert result == {
        NS_A: {10: (Listening("udp", "0.0.0.0", 1194),)},
        NS_B: {20: (Listening("tcp", "10.0.0.2", 53), Listening("udp", "10.0.0.2", 53),
                    Listening("udp", "0.0.0.0", 67))},  # by proto, then port
    }


def test_tables_are_reread_only_every_interval_unless_full(two_namespaces: FakeProc) -> None:
    fake = two_namespaces
    disc = fake.discovery({20: NS_B})
    clock = Clock()
    scanner = ListeningScanner(ProcFs(str(fake.root)), interval=3.0, clock=clock)
    scanner.scan(disc.namespaces)
    fake.set_table(20, "tcp", table("tcp"))  # dnsmasq stopped listening on tcp
    clock.now += 1.0
    assert Listening("tcp", "10.0.0.2", 53) in scanner.scan(disc.namespaces)[0][NS_B][20]
    assert Listening("tcp", "10.0.0.2", 53) not in scanner.scan(disc.namespaces, full=True)[0][NS_B][20]
    fake.set_table(20, "tcp", table("tcp", row(0, "10.0.0.2", 53, "0A", 601)))
    clock.now += 3.0
    assert Listening("tcp", "10.0.0.2", 53) in scanner.scan(disc.namespaces)[0][NS_B][20]


def test_shared_socket_after_fork_lists_every_holder(two_namespaces: FakeProc) -> None:
    fake = two_namespaces
    fake.add_fd(11, 7, "socket:[501]")
    result, _ = ListeningScanner(ProcFs(str(fake.root))).scan(fake.discovery({20: NS_B}).namespaces)
    assert set(result[NS_A]) == {10, 11}


def test_socket_held_from_outside_its_namespace_is_found_on_full_scans(two_namespaces: FakeProc) -> None:
    fake = two_namespaces
    fake.del_fd(10, 5)
    fake.add(30, comm="outsider", fds={3: "socket:[501]"})  # made the socket in NS_A, then left
    disc = fake.discovery({20: NS_B, 30: NS_B})
    scanner = ListeningScanner(ProcFs(str(fake.root)))
    assert NS_A not in scanner.scan(disc.namespaces)[0]
    full, _ = scanner.scan(disc.namespaces, full=True, all_pids=sorted(disc.pid_netns))
    assert full[NS_A] == {30: (Listening("udp", "0.0.0.0", 1194),)}


def test_state_of_a_vanished_namespace_is_dropped(two_namespaces: FakeProc) -> None:
    fake = two_namespaces
    disc = fake.discovery({20: NS_B})
    scanner = ListeningScanner(ProcFs(str(fake.root)))
    scanner.scan(disc.namespaces)
    result, _ = scanner.scan([ns for ns in disc.namespaces if ns.inode == NS_A])
    assert set(result) == {NS_A}
    assert set(scanner._ns) == {NS_A}


def test_namespace_whose_processes_all_exited_is_skipped_quietly(two_namespaces: FakeProc) -> None:
    fake = two_namespaces
    disc = fake.discovery({20: NS_B})
    for name in ("tcp", "udp", "stat", "comm"):
        (fake.root / "20" / ("net/" + name if name in ("tcp", "udp") else name)).unlink()
    result, errors = ListeningScanner(ProcFs(str(fake.root))).scan(disc.namespaces)
    assert NS_B not in result and errors == []


def test_proc_scanner_lists_listeners_per_namespace(two_namespaces: FakeProc) -> None:
    fake = two_namespaces
    scan = ProcScanner(str(fake.root)).scan(fake.discovery({20: NS_B}))
    by_ns = {ns: {p.comm: p for p in procs} for ns, procs in scan.processes.items()}
    assert set(by_ns[NS_A]) == {"openvpn"}  # bash neither holds a tun nor listens
    assert by_ns[NS_A]["openvpn"].listening == (Listening("udp", "0.0.0.0", 1194),)
    dnsmasq = by_ns[NS_B]["dnsmasq"]
    assert dnsmasq.user == "nobody" or dnsmasq.user == "65534"
    assert {(s.proto, s.port) for s in dnsmasq.listening} == {("tcp", 53), ("udp", 53), ("udp", 67)}


class FakeNetlink:
    """Stands in for a sock_diag socket: hands out recorded datagrams one recv() at a time."""

    def __init__(self, *datagrams: bytes) -> None:
        self.datagrams = list(datagrams)

    def recv(self, size: int) -> bytes:
        return self.datagrams.pop(0)


def diag_msg(family: int, addr: str, port: int, inode: int) -> bytes:
    """A SOCK_DIAG_BY_FAMILY reply as the kernel lays it out (struct inet_diag_msg)."""
    raw = socket.inet_pton(family, addr).ljust(16, b"\0")
    body = (struct.pack("=BBBB", family, 10, 0, 0) + struct.pack(">HH", port, 0) + raw + bytes(16)
            + struct.pack("=I", 0) + bytes(8) + struct.pack("=IIIII", 0, 0, 0, 0, inode))
    return struct.pack("=IHHII", 16 + len(body), 20, 2, 1, 0) + body


def done(err: int = 0) -> bytes:
    return struct.pack("=IHHII", 20, 3, 2, 1, 0) + struct.pack("=i", err)


def test_sock_diag_replies_are_decoded() -> None:
    from vnettop.collect.sockets import _read_diag

    out: dict[int, Listening] = {}
    sock = FakeNetlink(diag_msg(socket.AF_INET, "10.0.0.2", 53, 601) + diag_msg(socket.AF_INET, "0.0.0.0", 22, 9),
                       done())
    _read_diag(sock, "tcp", out, 1)  # type: ignore[arg-type]
    assert out == {601: Listening("tcp", "10.0.0.2", 53), 9: Listening("tcp", "0.0.0.0", 22)}
    _read_diag(FakeNetlink(diag_msg(socket.AF_INET6, "fe80::1", 8080, 7) + done()), "tcp6", out, 1)  # type: ignore[arg-type]
    assert out[7] == Listening("tcp6", "fe80::1", 8080)


def test_sock_diag_failure_in_done_is_an_error() -> None:
    from vnettop.collect.sockets import _read_diag

    with pytest.raises(OSError) as exc:
        _read_diag(FakeNetlink(done(-1)), "tcp", {}, 1)  # type: ignore[arg-type]
    assert exc.value.errno == 1


def test_expired_namespaces_are_spread_over_calls(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path)
    for pid in range(100, 140):
        fake.add(pid)
        fake.set_table(pid, "tcp", table("tcp"))
        fake.set_table(pid, "udp", table("udp"))
    disc = fake.discovery({pid: 4026540000 + pid for pid in range(100, 140)})
    clock = Clock()
    scanner = ListeningScanner(ProcFs(str(tmp_path)), interval=3.0, clock=clock)
    scanner.min_per_call = 2
    scanner.scan(disc.namespaces)  # all 40 are new: all read at once
    first = {ino: st.read_at for ino, st in scanner._ns.items()}
    assert len(first) == 40
    clock.now += 3.0
    reread = []
    for _ in range(3):
        before = {ino: st.read_at for ino, st in scanner._ns.items()}
        scanner.scan(disc.namespaces)
        reread.append(sum(1 for ino, st in scanner._ns.items() if st.read_at != before[ino]))
        clock.now += 1.0
    assert reread == [14, 14, 12]  # ceil(40 / 3) a call, the stalest first, until all are fresh
    assert all(st.read_at > first[ino] for ino, st in scanner._ns.items())


def test_a_new_socket_is_traced_without_reading_every_process(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeProc(tmp_path)
    for pid in range(100, 150):
        fake.add(pid)
    fake.set_table(100, "tcp", table("tcp"))
    fake.set_table(100, "udp", table("udp"))
    disc = fake.discovery()
    clock = Clock()
    scanner = ListeningScanner(ProcFs(str(tmp_path)), interval=3.0, clock=clock)
    scanner.scan(disc.namespaces)
    fake.add_fd(102, 7, "socket:[900]")
    fake.set_table(100, "udp", table("udp", row(0, "0.0.0.0", 5353, "07", 900)))
    reads: list[int] = []
    real = ProcFs.fd_targets

    def counting(self: ProcFs, pid: int) -> dict[int, str]:
        reads.append(pid)
        return real(self, pid)

    monkeypatch.setattr(ProcFs, "fd_targets", counting)
    clock.now += 3.0
    result, _ = scanner.scan(disc.namespaces)
    assert result == {NS_A: {102: (Listening("udp", "0.0.0.0", 5353),)}}
    assert reads == [100, 101, 102]  # stopped at the holder


def test_a_socket_made_while_fds_are_read_is_not_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables are read before fd links: a socket made in between is traced next time, never written off."""
    fake = FakeProc(tmp_path)
    fake.add(10, comm="daemon")
    fake.set_table(10, "tcp", table("tcp"))
    fake.set_table(10, "udp", table("udp"))
    real = ProcFs.fd_targets
    made: list[bool] = []

    def racing(self: ProcFs, pid: int) -> dict[int, str]:
        out = real(self, pid)
        if pid == 10 and not made:  # the daemon binds a socket just after we read its fds
            made.append(True)
            fake.add_fd(10, 8, "socket:[777]")
            fake.set_table(10, "udp", table("udp", row(0, "0.0.0.0", 5000, "07", 777)))
        return out

    monkeypatch.setattr(ProcFs, "fd_targets", racing)
    scanner = ProcScanner(str(tmp_path), listen_interval=0, sweep_seconds=0)
    scanner.scan(fake.discovery())
    scan = scanner.scan(fake.discovery())
    (proc,) = scan.processes[NS_A]
    assert proc.listening == (Listening("udp", "0.0.0.0", 5000),)


def test_without_udp_sock_diag_only_the_udp_tables_come_from_proc(two_namespaces: FakeProc,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel that answers tcp sock_diag but not udp: the tcp listeners it gave are kept, the udp ones
    are read from the /proc udp tables, and the /proc tcp tables (a walk of the global established hash,
    ~6.6 ms a namespace) are not read; with no sock_diag at all, all four tables are."""
    fake = two_namespaces
    disc = fake.discovery({20: NS_B})
    from_diag = Listening("tcp", "10.9.9.9", 8053)
    monkeypatch.setattr(sockets.DiagSockets, "listeners",
                        lambda _self, entries: [sockets.NoUdpDiag({777: from_diag}) for _ in entries])
    fake.add_fd(20, 9, "socket:[777]")
    scanner = ListeningScanner(ProcFs(str(fake.root)), use_diag=True)
    result, errors = scanner.scan(disc.namespaces)
    assert errors == []
    assert result[NS_B][20] == (Listening("tcp", "10.9.9.9", 8053), Listening("udp", "10.0.0.2", 53),
                                Listening("udp", "0.0.0.0", 67))  # not the /proc tcp table's :53
    monkeypatch.setattr(sockets.DiagSockets, "listeners",
                        lambda _self, entries: [OSError(1, "refused") for _ in entries])
    result, _ = ListeningScanner(ProcFs(str(fake.root)), use_diag=True).scan(disc.namespaces)
    assert Listening("tcp", "10.0.0.2", 53) in result[NS_B][20]  # all from /proc
