"""Listening sockets per namespace, and the processes that hold them.

`/proc/net/tcp` shows only the reader's namespace; `/proc/PID/net/tcp` shows the namespace of PID. So
each namespace's tables are read through one of its own processes, and each socket inode is then
traced to the processes whose fds link to `socket:[inode]`.

Measured trap: reading `/proc/PID/net/tcp` (or tcp6) walks the kernel's *global* established-socket
hash, ~3.3 ms per table here whatever the namespace holds, so ~6.6 ms per namespace. So listeners are
asked of sock_diag instead (NETLINK_SOCK_DIAG; tcp with states = LISTEN only, which walks only the
listening hash; udp with states = CLOSE, the unconnected ones, which saves the ~80 us the two udp
tables cost a namespace), on a socket made inside each namespace by a throwaway thread
(`linux.nsenter.visit_each`) and kept for the next time (`DiagSockets`); the /proc tables remain the
fallback when that is refused.

Tracing inodes means reading fd links of many processes, so it is done only for inodes not seen
before, and (outside full scans) only until each has one holder. A namespace's tables are re-read at
most every `interval` seconds unless a full scan is asked for, a share of the namespaces per call so
the cost does not spike. Tables are read before the fd links they are traced with (two phases:
`read_tables`, then `trace`), because a socket shows in a table only after its fd exists.
"""

from __future__ import annotations

import errno
import itertools
import math
import os
import socket
import struct
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field

from vnettop.collect.procfs import ProcFs, socket_inode
from vnettop.collect.types import NsEntry
from vnettop.linux import nsenter
from vnettop.linux.netlink import NLMSG_DONE, NLMSG_ERROR, DumpError, check_end, messages
from vnettop.model import CollectError, Listening

TCP_LISTEN = "0A"
UDP_UNCONNECTED = "07"  # TCP_CLOSE: a bound udp socket with no fixed peer, i.e. one that serves
TABLES = ("tcp", "udp", "tcp6", "udp6")


def _addr(hex_addr: str) -> str:
    """A /proc/net address (32-bit words in host byte order, as hex) as text."""
    raw = bytes.fromhex(hex_addr)
    words = struct.unpack(f">{len(raw) // 4}I", raw)
    packed = struct.pack(f"={len(words)}I", *words)
    family = socket.AF_INET if len(packed) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, packed)


def parse_table(text: str, proto: str) -> list[tuple[int, Listening]]:
    """(socket inode, Listening) for each listening tcp / bound unconnected udp socket of a table.

    Lines that do not parse are skipped: the tables are the kernel's, but a truncated read (the
    table changing under us) must not break a scan.
    """
    want = TCP_LISTEN if proto.startswith("tcp") else UDP_UNCONNECTED
    out: list[tuple[int, Listening]] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != want:
            continue
        try:
            host, port = fields[1].split(":")
            inode = int(fields[9])
            entry = Listening(proto, _addr(host), int(port, 16))
        except (ValueError, OSError, struct.error):
            continue
        if entry.port == 0:  # bound to nothing yet (a udp socket before bind())
            continue
        out.append((inode, entry))
    return out


def read_listening(procfs: ProcFs, pid: int, tables: Sequence[str] = TABLES) -> dict[int, Listening]:
    """socket inode -> Listening, from the tables of PID's namespace. Raises OSError if PID is gone."""
    out: dict[int, Listening] = {}
    for table in tables:
        try:
            text = procfs.net_table(pid, table)
        except FileNotFoundError:
            if table.endswith("6"):
                continue  # IPv6 disabled: no tcp6/udp6 tables
            raise
        for inode, entry in parse_table(text, table):
            out[inode] = entry
    return out


NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST_DUMP = 0x301  # NLM_F_REQUEST | NLM_F_DUMP
TCPF_LISTEN = 1 << 10
TCPF_CLOSE = 1 << 7  # a udp socket with no fixed peer (what the /proc tables call state 07)
INET_DIAG_MSG_LEN = 72  # inet_diag_msg: 4 bytes + 48-byte sockid + expires, rqueue, wqueue, uid, inode
#: The dumps `dump_listeners` asks for, in order: (family, protocol, states, what it is called).
DIAG_DUMPS = (
    (socket.AF_INET, socket.IPPROTO_TCP, TCPF_LISTEN, "tcp"),
    (socket.AF_INET6, socket.IPPROTO_TCP, TCPF_LISTEN, "tcp6"),
    (socket.AF_INET, socket.IPPROTO_UDP, TCPF_CLOSE, "udp"),
    (socket.AF_INET6, socket.IPPROTO_UDP, TCPF_CLOSE, "udp6"),
)


def diag_request(family: int, protocol: int, states: int, seq: int) -> bytes:
    """One SOCK_DIAG_BY_FAMILY dump request (inet_diag_req_v2 with an empty socket id)."""
    req = struct.pack("=BBBBI", family, protocol, 0, 0, states) + bytes(48)
    return struct.pack("=IHHII", 16 + len(req), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST_DUMP, seq, 0) + req


class NoUdpDiag(OSError):
    """The kernel answered the tcp dumps but refused the udp one (a kernel without udp_diag): `tcp` holds
    what came, and the udp tables are read from /proc for that namespace (not the tcp ones: those walk
    the global established hash, ~6.6 ms a namespace)."""

    def __init__(self, tcp: dict[int, Listening]) -> None:
        super().__init__(errno.ENOENT, "udp sock_diag refused")
        self.tcp = tcp


#: Sequence numbers of sock_diag requests, unique in the process (see `dump_listeners`).
_DIAG_SEQ = itertools.count(1)


def dump_listeners(sock: socket.socket) -> dict[int, Listening]:
    """socket inode -> Listening of every tcp/tcp6 listener and bound, unconnected udp/udp6 socket of the
    namespace of `sock` (a NETLINK_SOCK_DIAG socket, see `DiagSockets`), from sock_diag.

    Why sock_diag for udp too: the /proc udp tables cost ~80 us a namespace to open, read and parse,
    against ~10 us for a dump on the socket already made for tcp; at 1000 namespaces with processes
    that is most of what the listening sockets cost a tick. The sockets returned are what the /proc
    tables give (`parse_table`): LISTEN tcp, and udp in state 07 with a port. A dump the kernel refuses
    (a `DumpError`: its answer ends there) is told apart from one that broke off: a refused IPv4 tcp dump
    raises it (the caller falls back to the /proc tables), a refused udp one raises `NoUdpDiag` with the
    tcp listeners (the caller reads the udp tables only), a refused IPv6 one means no IPv6. Any other
    OSError (a timeout, a cut message) may leave part of an answer queued on `sock`: it is raised, and
    the socket must not be asked again (each request has a sequence number of its own, and replies of
    another are skipped, but what was abandoned is never trusted).
    """
    out: dict[int, Listening] = {}
    for family, protocol, states, proto in DIAG_DUMPS:
        seq = next(_DIAG_SEQ) & 0xFFFFFFFF
        sock.send(diag_request(family, protocol, states, seq))
        try:
            _read_diag(sock, proto, out, seq)
        except DumpError:  # refused: the answer ended with the refusal
            if family == socket.AF_INET and protocol == socket.IPPROTO_UDP:
                raise NoUdpDiag(out) from None
            if family == socket.AF_INET:
                raise
            # no IPv6 (or no diag module for it): nothing listens there
    return out


def _read_diag(sock: socket.socket, proto: str, out: dict[int, Listening], seq: int) -> None:
    """Read the replies to dump `seq` into `out`; DumpError if the kernel reports a failure, another
    OSError if the answer broke off."""
    while True:
        data = sock.recv(1 << 16)
        if not data:
            raise OSError(errno.ECONNRESET, "sock_diag socket closed mid-dump")
        for pos, length, kind, _flags in messages(data, seq):
            # A failed dump reports its errno in NLMSG_DONE's payload, not only in NLMSG_ERROR.
            if kind in (NLMSG_DONE, NLMSG_ERROR):
                check_end(data, pos, length, kind, "sock_diag dump failed")
                return
            if kind == SOCK_DIAG_BY_FAMILY and length >= 16 + INET_DIAG_MSG_LEN:
                body = pos + 16
                family = data[body]
                (port,) = struct.unpack_from(">H", data, body + 4)
                if port == 0:  # bound to nothing yet (as `parse_table` skips it)
                    continue
                raw = data[body + 8 : body + 8 + (4 if family == socket.AF_INET else 16)]
                (inode,) = struct.unpack_from("=I", data, body + 68)
                out[inode] = Listening(proto, socket.inet_ntop(family, raw), port)


def _diag_socket(_fd: int = -1) -> socket.socket:
    """A NETLINK_SOCK_DIAG socket in the calling thread's namespace (it stays bound to that namespace)."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG)
    sock.settimeout(2.0)  # the kernel always answers; never hang a collector on it anyway
    return sock


class DiagSockets:
    """A sock_diag socket kept in each namespace whose listeners are asked for, made on first need.

    Why kept: made anew for each read, the sockets of the namespaces due on a tick took a throwaway
    thread's trip through them (a thread made and joined, a setns per namespace, ~1 ms) on most ticks of
    a live view; and every new thread moves the kernel's task mark, so /proc was listed again on those
    ticks as well (`pidlist`). A socket stays bound to the namespace it was made in, so once made it is
    asked from the collector's own thread, with no setns at all.

    A kept socket pins its namespace (after `ip netns del` it would live on, and the root ends of its
    veths with it): `keep_only` closes those of namespaces no longer asked about, which the scanner
    calls as soon as a discovery no longer has them, and the collector's janitor between collects. A
    socket whose dump failed midway is closed, never asked again: an abandoned answer may be queued on it.
    New sockets are made a `batch` of namespaces at a time: each needs an fd on its namespace meanwhile.
    """

    def __init__(self, batch: int = 64) -> None:
        self.batch = batch
        self._socks: dict[int, socket.socket] = {}
        #: Sockets made so far (tests, benchmarks: a repeat read makes none).
        self.made = 0

    def listeners(self, entries: Sequence[NsEntry]) -> list[dict[int, Listening] | OSError]:
        """`dump_listeners` in each namespace of `entries`, in order: its listeners, or why not (an
        OSError in its slot: the namespace could not be entered or is gone, or sock_diag refused)."""
        failed: dict[int, OSError] = {}
        missing = [ns for ns in entries if ns.inode not in self._socks]
        for start in range(0, len(missing), self.batch):
            failed.update(self._open(missing[start : start + self.batch]))
        out: list[dict[int, Listening] | OSError] = []
        for ns in entries:
            sock = self._socks.get(ns.inode)
            if sock is None:
                out.append(failed.get(ns.inode) or OSError(errno.ENOENT, "namespace vanished"))
                continue
            try:
                out.append(dump_listeners(sock))
            except (NoUdpDiag, DumpError) as exc:  # refused: the answer ended there, the socket is clean
                out.append(exc)
            except OSError as exc:  # broke off: part of an answer may be queued, never ask it again
                self._close(ns.inode)
                out.append(exc)
        return out

    def _open(self, entries: Sequence[NsEntry]) -> dict[int, OSError]:
        """Make the sockets of `entries` (ours directly, others on one throwaway thread); why not, by
        namespace. Each path is checked to open the namespace discovered (pids get reused)."""
        failed: dict[int, OSError] = {}
        try:
            here = os.stat("/proc/thread-self/ns/net").st_ino
        except OSError:
            here = -1  # then ours is entered like any other
        fds: list[int] = []
        away: list[int] = []
        try:
            for ns in entries:
                try:
                    fd = os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError as exc:
                    failed[ns.inode] = exc
                    continue
                fds.append(fd)
                try:
                    inode = os.fstat(fd).st_ino
                except OSError as exc:
                    inode, failed[ns.inode] = -1, exc
                if inode != ns.inode:
                    failed.setdefault(ns.inode, OSError(errno.ENOENT, "namespace vanished"))
                    os.close(fds.pop())
                elif inode == here:
                    os.close(fds.pop())
                    try:
                        self._keep(inode, _diag_socket())
                    except OSError as exc:
                        failed[inode] = exc
                else:
                    away.append(inode)
            made = nsenter.visit_each(fds, _diag_socket) if fds else []
        finally:
            for fd in fds:
                os.close(fd)
        for inode, result in zip(away, made, strict=True):
            if isinstance(result, OSError):
                failed[inode] = result
            else:
                self._keep(inode, result)
        return failed

    def _keep(self, inode: int, sock: socket.socket) -> None:
        self._close(inode)
        self._socks[inode] = sock
        self.made += 1

    def _close(self, inode: int) -> None:
        sock = self._socks.pop(inode, None)
        if sock is not None:
            sock.close()

    def held(self) -> frozenset[int]:
        """The namespaces a socket is kept in (tests)."""
        return frozenset(self._socks)

    def keep_only(self, inodes: Collection[int]) -> None:
        """Close the sockets of every namespace not in `inodes` (so none pins a vanished namespace)."""
        for inode in [i for i in self._socks if i not in inodes]:
            self._close(inode)

    def close(self) -> None:
        self.keep_only(())


FdCache = dict[int, dict[int, str]]  # pid -> fd -> link target, as read earlier in the same scan


def socket_owners(procfs: ProcFs, pids: Iterable[int], inodes: set[int],
                  cache: FdCache | None = None, first_only: bool = False) -> dict[int, set[int]]:
    """socket inode -> pids holding an fd on it, among `pids` (a socket may be shared after fork).

    `cache` holds fd links already read during this scan: those pids are looked at first, and their
    links are not read twice. `first_only` stops as soon as every inode has one holder (reading every
    process's fds for one new socket is what this avoids; full scans find all holders).
    """
    owners: dict[int, set[int]] = {}
    if not inodes:
        return owners
    pids = list(pids)
    if cache:
        pids.sort(key=lambda pid: pid not in cache)
    _match(procfs, pids, inodes, cache, first_only, owners)
    return owners


def _match(procfs: ProcFs, pids: Iterable[int], inodes: set[int], cache: FdCache | None,
           first_only: bool, owners: dict[int, set[int]]) -> None:
    for pid in pids:
        if first_only and inodes <= owners.keys():
            break
        targets = cache.get(pid) if cache is not None else None
        if targets is None:
            try:
                targets = procfs.fd_targets(pid)
            except OSError:
                continue
        for target in targets.values():
            ino = socket_inode(target)
            if ino is not None and ino in inodes:
                owners.setdefault(ino, set()).add(pid)


@dataclass
class _NsSockets:
    read_at: float
    table: dict[int, Listening]  # socket inode -> what it listens on
    owners: dict[int, set[int]] = field(default_factory=dict)  # inode -> pids, for inodes seen before
    unowned: set[int] = field(default_factory=set)  # inodes searched for and not found
    #: `by_pid()`'s answer, kept until `owners` changes (most namespaces are not re-read on a tick).
    shown: dict[int, tuple[Listening, ...]] | None = None

    def by_pid(self) -> dict[int, tuple[Listening, ...]]:
        if self.shown is not None:
            return self.shown
        out: dict[int, list[Listening]] = {}
        for inode, pids in self.owners.items():
            for pid in pids:
                out.setdefault(pid, []).append(self.table[inode])
        self.shown = {pid: tuple(sorted(set(items), key=_order)) for pid, items in sorted(out.items())}
        return self.shown


ListenMap = dict[int, dict[int, tuple[Listening, ...]]]  # netns inode -> pid -> sockets


class ListeningScanner:
    """Keeps, per namespace, which process listens on what; re-reads a namespace every `interval` s.

    `use_diag` (default: when reading the live /proc) asks sock_diag for the listeners; otherwise, or
    when that fails, the /proc tables are read.
    """

    def __init__(self, procfs: ProcFs, interval: float = 3.0,
                 clock: Callable[[], float] = time.monotonic, use_diag: bool | None = None) -> None:
        self.procfs = procfs
        self.interval = interval
        self.clock = clock
        self.use_diag = procfs.is_live if use_diag is None else use_diag
        self._ns: dict[int, _NsSockets] = {}
        self._pending: list[tuple[NsEntry, dict[int, Listening], float]] = []  # read, not yet traced
        self._errors: list[CollectError] = []
        #: The namespaces with processes, as last computed from which `namespaces` (the discovery's tuple,
        #: the same object while nothing changed): rebuilt only when it is another.
        self._live: tuple[Sequence[NsEntry] | None, list[NsEntry]] = (None, [])
        self._result: ListenMap | None = None  # `trace`'s last answer, while no namespace was re-read
        #: The sock_diag sockets kept in the namespaces read (when `use_diag`).
        self.diag = DiagSockets()
        #: Expired namespaces re-read per call: at least this many, else a 1/interval share of all, but
        #: never more than `max_per_call` (namespaces where something changed come on top).
        self.min_per_call = 16
        self.max_per_call = 32

    def let_go(self, alive: Collection[int]) -> None:
        """Close what is kept for namespaces not in `alive` (the collector's janitor, between collects)."""
        self.diag.keep_only(alive)

    def close(self) -> None:
        self.diag.close()

    def scan(self, namespaces: Sequence[NsEntry], full: bool = False, all_pids: Sequence[int] = (),
             fd_cache: FdCache | None = None,
             denied: Callable[[int], bool] | None = None) -> tuple[ListenMap, list[CollectError]]:
        """Both phases at once: `read_tables` then `trace`."""
        self.read_tables(namespaces, full, denied)
        return self.trace(full, all_pids, fd_cache)

    def read_tables(self, namespaces: Sequence[NsEntry], full: bool = False,
                    denied: Callable[[int], bool] | None = None, hot: Collection[int] = ()) -> None:
        """Phase 1: re-read the socket tables of the namespaces that are due.

        Call it BEFORE reading the fd links that `trace` uses: a socket shows in a table only once its
        fd exists, so links read afterwards always hold it (read before, they may miss it, and the
        socket would wrongly be remembered as held by nobody). Only namespaces with processes are read,
        and not those whose processes' fds are all `denied` (without root: nothing to trace them to).
        `hot`: namespaces to re-read now whenever they were last read (a process there is new, or
        opened or closed fds: a socket that starts or stops listening does).
        """
        now = self.clock()
        self._errors = []
        self._pending = []
        if denied is None and self._live[0] is namespaces:
            live = self._live[1]
        else:
            live = [ns for ns in namespaces
                    if ns.pids and (denied is None or not all(denied(pid) for pid in ns.pids))]
            self._live = (namespaces if denied is None else None, live)
            alive = {ns.inode for ns in live}
            for gone in set(self._ns) - alive:  # never keep a vanished namespace's state
                del self._ns[gone]
                self._result = None
            self.diag.keep_only(alive)  # nor a socket in it: it would pin it
        due = self._due(live, now, full, hot)
        diag: dict[int, dict[int, Listening]] = {}
        tcp_only: set[int] = set()  # sock_diag answered for tcp only: udp from /proc
        if self.use_diag and due:
            for ns, res in zip(due, self.diag.listeners(due), strict=True):
                if isinstance(res, NoUdpDiag):
                    diag[ns.inode] = res.tcp
                    tcp_only.add(ns.inode)
                elif not isinstance(res, OSError):
                    diag[ns.inode] = res
        for ns in due:
            try:
                table = self._read_table(ns, diag.get(ns.inode), ns.inode in tcp_only)
            except OSError as exc:
                self._errors.append(CollectError(f"netns {ns.inode}",
                                                 f"cannot read its socket tables: {exc.strerror or exc}"))
                table = None
            if table is None:
                self._ns.pop(ns.inode, None)
            else:
                self._pending.append((ns, table, now))

    def trace(self, full: bool = False, all_pids: Sequence[int] = (),
              fd_cache: FdCache | None = None) -> tuple[ListenMap, list[CollectError]]:
        """Phase 2: netns inode -> pid -> its listening sockets there; plus the tables that failed.

        `fd_cache`: fd links the caller read since `read_tables`, reused rather than read again.
        `all_pids`, every visible pid, is searched on full scans for sockets no process of their own
        namespace holds (made there by a process that then left).
        """
        for ns, table, now in self._pending:
            old = self._ns.get(ns.inode)
            state = self._owners(ns, old, table, now, full, fd_cache)
            if old is not None and state.owners == old.owners and state.table == old.table:
                state.shown = old.shown  # the same answer again: the same objects
            else:
                self._result = None
            self._ns[ns.inode] = state
        self._pending = []
        if full:
            self._search_everywhere(all_pids, fd_cache)
            self._result = None
        if self._result is None:
            self._result = {inode: by_pid for inode, state in sorted(self._ns.items())
                            if (by_pid := state.by_pid())}
        return self._result, self._errors

    def _due(self, live: list[NsEntry], now: float, full: bool, hot: Collection[int] = ()) -> list[NsEntry]:
        """Namespaces to re-read now: all on a full scan, new and `hot` ones always, and the stalest
        expired ones up to a share of all per call (at most `max_per_call`), so that re-reads spread
        over ticks instead of all landing on the same one every `interval` (~0.1 ms per namespace with
        sock_diag), and a tick costs the same on a host with thousands of namespaces: there a namespace
        is re-read less often than every `interval` unless something in it changed."""
        if full:
            return live
        fresh = [ns for ns in live if ns.inode not in self._ns or ns.inode in hot]
        expired = sorted((ns for ns in live if ns.inode in self._ns and ns.inode not in hot
                          and now - self._ns[ns.inode].read_at >= self.interval),
                         key=lambda ns: self._ns[ns.inode].read_at)
        share = min(self.max_per_call, max(self.min_per_call, math.ceil(len(live) / max(1.0, self.interval))))
        return fresh + expired[:share]

    def _read_table(self, ns: NsEntry, diag: dict[int, Listening] | None,
                    tcp_only: bool = False) -> dict[int, Listening] | None:
        """socket inode -> Listening for one namespace: `diag` (sock_diag's answer) if given, else its
        /proc tables read through one of its processes (only the udp ones if `diag` is `tcp_only`)."""
        if diag is not None and not tcp_only:
            return dict(diag)
        tables = TABLES if diag is None else ("udp", "udp6")
        last_exc: OSError | None = None
        for pid in ns.pids[:8]:  # the first reader still alive will do
            try:
                table = read_listening(self.procfs, pid, tables)
            except OSError as exc:
                last_exc = exc
                continue
            table.update(diag or {})
            return table
        if last_exc is not None and not isinstance(last_exc, FileNotFoundError | ProcessLookupError):
            raise last_exc
        return None  # its processes all just exited

    def _owners(self, ns: NsEntry, old: _NsSockets | None, table: dict[int, Listening], now: float,
                full: bool, fd_cache: FdCache | None) -> _NsSockets:
        owners = {} if full or old is None else {i: p for i, p in old.owners.items() if i in table}
        unowned = set() if full or old is None else old.unowned & set(table)
        missing = set(table) - set(owners) - unowned
        if missing:
            found = socket_owners(self.procfs, ns.pids, missing, fd_cache,
                                  first_only=not (full or old is None))
            owners.update(found)
            unowned |= missing - set(found)
        return _NsSockets(now, table, owners, unowned)

    def _search_everywhere(self, all_pids: Sequence[int], fd_cache: FdCache | None) -> None:
        """One pass over every process for sockets no process of their own namespace holds."""
        wanted = {inode: state for state in self._ns.values() for inode in state.unowned}
        if not wanted:
            return
        for inode, pids in socket_owners(self.procfs, all_pids, set(wanted), fd_cache).items():
            state = wanted[inode]
            state.owners[inode] = pids
            state.unowned.discard(inode)
            state.shown = None


def _order(entry: Listening) -> tuple[str, int, str]:
    return (entry.proto, entry.port, entry.address)
