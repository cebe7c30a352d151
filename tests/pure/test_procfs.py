"""The /proc readers and the incremental ProcScanner, against small fake /proc trees under tmp_path."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

from vnettop.collect.processes import ProcScanner
from vnettop.collect.procfs import ProcFs, socket_inode, user_name
from vnettop.collect.types import Discovery, NsEntry, ProcScan

NS_A = 4026530001


class FakeProc:
    """A directory laid out like /proc, with just the files the scanner reads."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def add(self, pid: int, comm: str = "sleep", start: int = 1000, uid: int = 0,
            cmdline: tuple[str, ...] = ("sleep", "inf"), fds: dict[int, str] | None = None,
            iff: dict[int, str] | None = None, kernel: bool = False) -> Path:
        d = self.root / str(pid)
        (d / "fd").mkdir(parents=True, exist_ok=True)
        (d / "fdinfo").mkdir(exist_ok=True)
        (d / "ns").mkdir(exist_ok=True)
        (d / "ns" / "net").touch()
        self.set_start(pid, start, comm, flags=0x00200000 if kernel else 0)
        (d / "comm").write_text(comm + "\n")
        (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in cmdline) + b"\0")
        (d / "status").write_text(f"Name:\t{comm}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n")
        for fd, target in (fds or {}).items():
            self.add_fd(pid, fd, target, (iff or {}).get(fd))
        return d

    def set_start(self, pid: int, start: int, comm: str = "x", flags: int = 0) -> None:
        rest = ["S"] + ["0"] * 5 + [str(flags)] + ["0"] * 12 + [str(start)] + ["0"] * 10
        (self.root / str(pid) / "stat").write_text(f"{pid} ({comm}) {' '.join(rest)}\n")

    def add_fd(self, pid: int, fd: int, target: str, iff: str | None = None) -> None:
        os.symlink(target, self.root / str(pid) / "fd" / str(fd))
        info = "pos:\t0\nflags:\t02\nmnt_id:\t25\nino:\t1\n" + (f"iff:\t{iff}\n" if iff else "")
        (self.root / str(pid) / "fdinfo" / str(fd)).write_text(info)

    def del_fd(self, pid: int, fd: int) -> None:
        os.unlink(self.root / str(pid) / "fd" / str(fd))
        os.unlink(self.root / str(pid) / "fdinfo" / str(fd))

    def set_table(self, pid: int, table: str, text: str) -> None:
        (self.root / str(pid) / "net").mkdir(exist_ok=True)
        (self.root / str(pid) / "net" / table).write_text(text)

    def discovery(self, ns_of: dict[int, int] | None = None) -> Discovery:
        """Every fake pid in NS_A unless `ns_of` says otherwise."""
        pids = sorted(int(p.name) for p in self.root.iterdir() if p.name.isdigit())
        pid_netns = {pid: (ns_of or {}).get(pid, NS_A) for pid in pids}
        inodes = sorted(set(pid_netns.values()))
        entries = tuple(
            NsEntry(ino, (), ino == NS_A, f"/fake/{ino}", tuple(p for p in pids if pid_netns[p] == ino))
            for ino in inodes
        )
        return Discovery(entries, pid_netns)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake(tmp_path: Path) -> FakeProc:
    return FakeProc(tmp_path)


# -- ProcFs ---------------------------------------------------------------------------------------


def test_pids_lists_numeric_entries_only(fake: FakeProc) -> None:
    fake.add(7)
    fake.add(42)
    (fake.root / "self").mkdir()
    (fake.root / "net").mkdir()
    assert sorted(ProcFs(str(fake.root)).pids()) == [7, 42]


def test_fd_targets_and_fdinfo(fake: FakeProc) -> None:
    fake.add(5, fds={0: "/dev/null", 3: "/dev/net/tun", 4: "socket:[777]", 5: "/dev/net/tun"},
             iff={3: "tap0"})
    procfs = ProcFs(str(fake.root))
    assert procfs.fd_targets(5) == {0: "/dev/null", 3: "/dev/net/tun", 4: "socket:[777]", 5: "/dev/net/tun"}
    assert procfs.fdinfo_iff(5, 3) == "tap0"
    assert procfs.fdinfo_iff(5, 5) is None  # opened, never attached
    with pytest.raises(FileNotFoundError):
        procfs.fd_targets(6)


def test_start_time_survives_a_comm_with_spaces_and_parentheses(fake: FakeProc) -> None:
    fake.add(9)
    fake.set_start(9, 123456, comm="evil) (x y")
    assert ProcFs(str(fake.root)).start_time(9) == 123456


def test_comm_cmdline_uid(fake: FakeProc) -> None:
    fake.add(11, comm="qemu-kvm", uid=0, cmdline=("qemu-kvm", "-name", "guest=P2"))
    fake.add(12, comm="kworker/0:1", cmdline=())
    (fake.root / "12" / "cmdline").write_bytes(b"")
    procfs = ProcFs(str(fake.root))
    assert procfs.comm(11) == "qemu-kvm"
    assert procfs.cmdline(11) == "qemu-kvm -name guest=P2"
    assert procfs.cmdline(12) == ""
    assert procfs.uid(11) == 0
    assert not procfs.is_live


def test_user_name_falls_back_to_the_uid() -> None:
    assert user_name(0) == "root"
    assert user_name(3_999_999) == "3999999"
    assert user_name(None) is None


def test_socket_inode() -> None:
    assert socket_inode("socket:[12345]") == 12345
    assert socket_inode("/dev/net/tun") is None
    assert socket_inode("socket:[x]") is None
    assert socket_inode("anon_inode:[eventfd]") is None


# -- ProcScanner ----------------------------------------------------------------------------------


def test_scan_finds_tun_fds_by_name_on_a_fake_tree(fake: FakeProc) -> None:
    fake.add(100, comm="qemu-kvm", cmdline=("qemu-kvm", "-name", "guest=P2"),
             fds={0: "/dev/null", 26: "/dev/net/tun", 28: "/dev/vhost-net"}, iff={26: "tap0"})
    fake.add(200, comm="bash")
    scan = ProcScanner(str(fake.root)).scan(fake.discovery())
    assert [(f.pid, f.fd, f.iff, f.exact) for f in scan.tun_fds] == [(100, 26, "tap0", False)]
    (proc,) = scan.processes[NS_A]
    assert (proc.pid, proc.comm, proc.cmdline, proc.user) == (100, "qemu-kvm", "qemu-kvm -name guest=P2", "root")
    assert isinstance(scan, ProcScan) and scan.vhost_fds == {100: (28,)}
    # Not exact: the scanner says so once, as a soft error.
    assert any("name only" in e.message for e in scan.errors)


def test_second_scan_reads_only_new_pids_and_holders(fake: FakeProc) -> None:
    clock = Clock()
    for pid in range(300, 340):
        fake.add(pid)
    fake.add(100, fds={3: "/dev/net/tun"}, iff={3: "tun0"})
    scanner = ProcScanner(str(fake.root), clock=clock, sweep_seconds=3.0)
    scanner.scan(fake.discovery())
    assert scanner.last_fd_reads == 41
    scanner.scan(fake.discovery())  # no time passed: no sweep
    assert scanner.last_fd_reads == 1  # the holder only
    fake.add(400, fds={5: "/dev/net/tun"}, iff={5: "tun1"})
    scan = scanner.scan(fake.discovery())
    assert scanner.last_fd_reads == 2
    assert {(f.pid, f.iff) for f in scan.tun_fds} == {(100, "tun0"), (400, "tun1")}


def test_late_attach_to_a_known_process_is_found_by_the_sweep(fake: FakeProc) -> None:
    clock = Clock()
    for pid in range(300, 360):
        fake.add(pid)
    scanner = ProcScanner(str(fake.root), clock=clock, sweep_seconds=3.0)
    scanner.scan(fake.discovery())
    fake.add_fd(333, 9, "/dev/net/tun", "tap9")  # attaches later; no event, pid already known
    found_after = None
    for tick in range(1, 5):
        clock.now += 1.0
        scan = scanner.scan(fake.discovery())
        assert scanner.last_fd_reads <= 21  # a third of the processes per second, not all of them
        if any(f.pid == 333 for f in scan.tun_fds):
            found_after = tick
            break
    assert found_after is not None and found_after <= 3


def test_kernel_threads_are_read_once_and_never_swept(fake: FakeProc) -> None:
    """A kernel thread (PF_KTHREAD) holds no fd for its whole life: after the first read it is neither
    swept nor counted, and the sweep's share is taken of the other processes only (so the same slice of
    them is read, not more)."""
    clock = Clock()
    for pid in range(300, 330):
        fake.add(pid, kernel=True)
    for pid in range(400, 430):
        fake.add(pid)
    scanner = ProcScanner(str(fake.root), clock=clock, sweep_seconds=3.0)
    read: list[int] = []
    real = scanner._read_fds

    def noting(pids: Any, verify: bool) -> bool:
        read.extend(pids)
        return real(pids, verify)

    scanner._read_fds = noting  # type: ignore[method-assign]
    scanner.scan(fake.discovery())
    assert sorted(read) == [*range(300, 330), *range(400, 430)]  # the first scan reads everyone once
    read.clear()
    for _ in range(6):  # two whole sweeps
        clock.now += 1.0
        scanner.scan(fake.discovery())
        assert scanner.last_fd_reads <= 10  # a third of the 30 other processes a second
    assert set(read) == set(range(400, 430)) and not any(pid < 400 for pid in read)


def test_the_kernel_threads_it_knows_are_told_and_kept_current(fake: FakeProc) -> None:
    """`kernel_pids` (what the collector's discovery settles): the kernel threads among the known
    processes, as the scan keeps them: one that exits leaves it, a new one joins it."""
    for pid in range(300, 305):
        fake.add(pid, kernel=True)
    for pid in range(400, 405):
        fake.add(pid)
    scanner = ProcScanner(str(fake.root), clock=Clock())
    told = scanner.kernel_pids
    scanner.scan(fake.discovery())
    assert set(told) == set(range(300, 305))
    shutil.rmtree(fake.root / "302")
    fake.add(306, kernel=True)
    scanner.scan(fake.discovery())
    assert set(scanner.kernel_pids) == {300, 301, 303, 304, 306} and set(told) == set(scanner.kernel_pids)


def test_sweep_is_capped_per_call(fake: FakeProc) -> None:
    clock = Clock()
    for pid in range(300, 360):
        fake.add(pid)
    scanner = ProcScanner(str(fake.root), clock=clock, sweep_seconds=3.0, sweep_max=5)
    scanner.scan(fake.discovery())
    fake.add_fd(359, 9, "/dev/net/tun", "tap9")
    reads = []
    for _ in range(12):
        clock.now += 1.0
        found = any(f.pid == 359 for f in scanner.scan(fake.discovery()).tun_fds)
        reads.append(scanner.last_fd_reads)
        if found:
            break
    assert found and max(reads) <= 6  # 5 swept + the holder once found; all 60 covered in 12 calls


def test_full_scan_reads_everything(fake: FakeProc) -> None:
    for pid in range(300, 320):
        fake.add(pid)
    scanner = ProcScanner(str(fake.root), clock=Clock())
    scanner.scan(fake.discovery())
    fake.add_fd(305, 4, "/dev/net/tun", "tap5")
    assert not scanner.scan(fake.discovery()).tun_fds  # no time passed and the pid is known
    scan = scanner.scan(fake.discovery(), full=True)
    assert scanner.last_fd_reads == 20
    assert [(f.pid, f.fd, f.iff) for f in scan.tun_fds] == [(305, 4, "tap5")]


def test_holder_losing_its_fd_triggers_a_full_rescan(fake: FakeProc) -> None:
    """fd passing: libvirt opens the tap, hands the fd to qemu, closes its own."""
    fake.add(100, comm="libvirtd", fds={20: "/dev/net/tun"}, iff={20: "tap0"})
    fake.add(200, comm="qemu")
    scanner = ProcScanner(str(fake.root), clock=Clock())
    scanner.scan(fake.discovery())
    fake.del_fd(100, 20)
    fake.add_fd(200, 26, "/dev/net/tun", "tap0")
    scan = scanner.scan(fake.discovery())  # no time passed, so only the rescan can find pid 200
    assert [(f.pid, f.fd) for f in scan.tun_fds] == [(200, 26)]
    assert [p.comm for p in scan.processes[NS_A]] == ["qemu"]


def test_reused_pid_is_a_new_process(fake: FakeProc) -> None:
    fake.add(100, comm="old", start=1000, fds={3: "/dev/net/tun"}, iff={3: "tap0"})
    scanner = ProcScanner(str(fake.root), clock=Clock())
    assert scanner.scan(fake.discovery()).processes[NS_A][0].comm == "old"
    fake.set_start(100, 2000)
    (fake.root / "100" / "comm").write_text("new\n")
    assert scanner.scan(fake.discovery()).processes[NS_A][0].comm == "new"


def test_vanished_processes_are_not_errors(fake: FakeProc) -> None:
    fake.add(100, fds={3: "/dev/net/tun"}, iff={3: "tap0"})
    fake.add(101)
    (fake.root / "101" / "fd").rmdir()  # a zombie, or gone between listdir and readlink
    (fake.root / "102").mkdir()  # gone before we read anything
    scan = ProcScanner(str(fake.root)).scan(fake.discovery())
    assert [f.pid for f in scan.tun_fds] == [100]
    assert not any("permission" in e.message for e in scan.errors)


def test_unreadable_fds_give_one_summary_error(fake: FakeProc, monkeypatch: pytest.MonkeyPatch) -> None:
    for pid in (100, 101, 102):
        fake.add(pid)
    real = ProcFs.fd_targets

    def denied(self: ProcFs, pid: int) -> dict[int, str]:
        if pid != 100:
            raise PermissionError(13, "Permission denied")
        return real(self, pid)

    monkeypatch.setattr(ProcFs, "fd_targets", denied)
    scan = ProcScanner(str(fake.root)).scan(fake.discovery())
    perm = [e for e in scan.errors if "permission denied" in e.message]
    assert len(perm) == 1 and "2 processes" in perm[0].message
    assert not scan.complete
    # The advice fits who we are: root refused (a container or unit without CAP_SYS_PTRACE, a security
    # module) gets no "run as root".
    for euid, advice in ((0, "ptrace access to them was refused"), (1000, "run as root")):
        monkeypatch.setattr(os, "geteuid", lambda e=euid: e)
        scan = ProcScanner(str(fake.root)).scan(fake.discovery())
        (said,) = [e.message for e in scan.errors if "permission denied" in e.message]
        assert advice in said, said



def test_processes_go_under_their_own_namespace(fake: FakeProc) -> None:
    fake.add(100, comm="a", fds={3: "/dev/net/tun"}, iff={3: "tap0"})
    fake.add(200, comm="b", fds={4: "/dev/net/tun"}, iff={4: "tap1"})
    scan = ProcScanner(str(fake.root)).scan(fake.discovery({200: 4026530002}))
    assert {ns: [p.comm for p in ps] for ns, ps in scan.processes.items()} == {NS_A: ["a"], 4026530002: ["b"]}


def test_missing_proc_root_is_an_error_not_an_exception(tmp_path: Path) -> None:
    scan = ProcScanner(str(tmp_path / "nope")).scan(Discovery((), {}))
    assert scan.tun_fds == () and len(scan.errors) == 1


# -- vhost fds ------------------------------------------------------------------------------------


def test_vhost_fds_are_kept_for_tun_holders_only(fake: FakeProc) -> None:
    fake.add(100, fds={26: "/dev/net/tun", 28: "/dev/vhost-net", 30: "/dev/vhost-net", 3: "/dev/null"},
             iff={26: "tap0"})
    fake.add(200, fds={5: "/dev/vhost-net"})  # vhost without a tap: nothing to show it on
    fake.add(300, fds={7: "/dev/net/tun"}, iff={7: "tap1"})  # a tap without vhost
    scan = ProcScanner(str(fake.root)).scan(fake.discovery())
    assert isinstance(scan, ProcScan)
    assert scan.vhost_fds == {100: (28, 30)}


def test_vhost_fds_follow_a_holder_between_scans(fake: FakeProc) -> None:
    """Holders are re-read every call, so a vhost fd opened or closed later shows at the next scan."""
    fake.add(100, fds={26: "/dev/net/tun"}, iff={26: "tap0"})
    scanner = ProcScanner(str(fake.root), clock=Clock())
    assert isinstance(scan := scanner.scan(fake.discovery()), ProcScan) and scan.vhost_fds == {}
    fake.add_fd(100, 28, "/dev/vhost-net")
    assert isinstance(scan := scanner.scan(fake.discovery()), ProcScan)
    assert scan.vhost_fds == {100: (28,)}
    fake.del_fd(100, 28)
    assert isinstance(scan := scanner.scan(fake.discovery()), ProcScan) and scan.vhost_fds == {}


def test_a_tap_named_with_bytes_that_are_not_utf8_keeps_its_holder(fake: FakeProc) -> None:
    """fdinfo's `iff:` holds the raw name; decoded as the link dump decodes names (vnettop.names), the
    holder is attached to its device (a lossy decoding would leave the tap without its holder)."""
    from vnettop import names
    from vnettop.collect.holders import attach_holders
    from vnettop.model import Link, TunInfo

    fake.add(100, comm="qemu-kvm", fds={26: "/dev/net/tun"})
    (fake.root / "100" / "fdinfo" / "26").write_bytes(b"pos:\t0\nflags:\t02\niff:\tvnt\xff\xfe\n")
    (fake.root / "100" / "comm").write_bytes(b"q\xffemu\n")
    tap_name = names.from_bytes(b"vnt\xff\xfe")
    scan = ProcScanner(str(fake.root)).scan(fake.discovery())
    assert [f.iff for f in scan.tun_fds] == [tap_name]
    tap = Link(NS_A, 5, tap_name, "tap", None, 1500, True, "up",
               tun=TunInfo(type="tap", persist=False, multi_queue=False, vnet_hdr=False, pi=False))
    (held,), _errors = attach_holders([tap], scan)
    assert held.tun is not None and [h.pid for h in held.tun.holders] == [100]
    assert ProcFs(str(fake.root)).comm(100) == names.from_bytes(b"q\xffemu")  # as psutil decodes it


def test_own_fds_read_by_fstat_match_their_links() -> None:
    """This process's fds are read with an fstat per socket (cheaper than a readlink through /proc):
    the targets must be exactly what readlink says, for sockets of every kind and for the rest."""
    held = [socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 0), socket.socket(socket.AF_INET, socket.SOCK_STREAM),
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)]
    r, w = os.pipe()
    f = open(os.devnull, "rb")  # noqa: SIM115 - held open on purpose
    try:
        got = ProcFs("/proc").fd_targets(os.getpid())
        want = {}
        for name in os.listdir("/proc/self/fd"):
            try:
                want[int(name)] = os.readlink(f"/proc/self/fd/{name}")
            except OSError:
                continue  # the directory's own fd, closed by now
        mine = {s.fileno() for s in held} | {r, w, f.fileno()}
        assert {fd: got[fd] for fd in mine} == {fd: want[fd] for fd in mine}
        assert all(got[s.fileno()].startswith("socket:[") for s in held)
        assert got[f.fileno()] == os.devnull and got[r].startswith("pipe:[")
        common = set(got) & set(want)
        assert len(common) >= len(mine) and all(got[fd] == want[fd] for fd in common)
    finally:
        for s in held:
            s.close()
        os.close(r)
        os.close(w)
        f.close()
