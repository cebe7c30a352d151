"""Listening sockets per namespace, and the processes that hold them.

`/proc/net/tcp` shows only the reader's namespace; `/proc/PID/net/tcp` shows the namespace of PID. So
each namespace's tables are read through one of its own processes, and each socket inode is then
traced to the processes whose fds link to `socket:[inode]`.

Tracing inodes means reading fd links of many processes, so it is done only for inodes not seen
before; a namespace's tables themselves are re-read at most every `interval` seconds unless a full
scan is asked for.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from vnettop.collect.procfs import ProcFs, socket_inode
from vnettop.collect.types import NsEntry
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


def read_listening(procfs: ProcFs, pid: int) -> dict[int, Listening]:
    """socket inode -> Listening, from the four tables of PID's namespace. Raises OSError if PID is gone."""
    out: dict[int, Listening] = {}
    for table in TABLES:
        try:
            text = procfs.net_table(pid, table)
        except FileNotFoundError:
            if table.endswith("6"):
                continue  # IPv6 disabled: no tcp6/udp6 tables
            raise
        for inode, entry in parse_table(text, table):
            out[inode] = entry
    return out


def socket_owners(procfs: ProcFs, pids: Iterable[int], inodes: set[int]) -> dict[int, set[int]]:
    """socket inode -> pids holding an fd on it, among `pids` (a socket may be shared after fork)."""
    owners: dict[int, set[int]] = {}
    if not inodes:
        return owners
    for pid in pids:
        try:
            targets = procfs.fd_targets(pid)
        except OSError:
            continue
        for target in targets.values():
            ino = socket_inode(target)
            if ino is not None and ino in inodes:
                owners.setdefault(ino, set()).add(pid)
    return owners


@dataclass
class _NsSockets:
    read_at: float
    by_pid: dict[int, tuple[Listening, ...]]
    owners: dict[int, set[int]] = field(default_factory=dict)  # inode -> pids, for inodes seen before
    unowned: set[int] = field(default_factory=set)  # inodes searched for and not found


class ListeningScanner:
    """Keeps, per namespace, which process listens on what; re-reads a namespace every `interval` s."""

    def __init__(self, procfs: ProcFs, interval: float = 3.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.procfs = procfs
        self.interval = interval
        self.clock = clock
        self._ns: dict[int, _NsSockets] = {}

    def scan(self, namespaces: Sequence[NsEntry], full: bool = False,
             all_pids: Sequence[int] = ()) -> tuple[dict[int, dict[int, tuple[Listening, ...]]],
                                                     list[CollectError]]:
        """netns inode -> pid -> its listening sockets there; plus namespaces whose tables failed.

        `all_pids` (every visible pid) is searched, on full scans only, for owners of sockets that no
        process of the namespace itself holds (a socket made in a namespace by a process that left it).
        """
        now = self.clock()
        errors: list[CollectError] = []
        seen = {ns.inode for ns in namespaces}
        for gone in set(self._ns) - seen:  # never keep state of a namespace that disappeared
            del self._ns[gone]
        result: dict[int, dict[int, tuple[Listening, ...]]] = {}
        for ns in namespaces:
            state = self._ns.get(ns.inode)
            if full or state is None or now - state.read_at >= self.interval:
                try:
                    state = self._refresh(ns, state, now, full, all_pids)
                except OSError as exc:
                    errors.append(CollectError(f"netns {ns.inode}",
                                               f"cannot read its socket tables: {exc.strerror or exc}"))
                    state = None
                if state is None:
                    self._ns.pop(ns.inode, None)
                    continue
                self._ns[ns.inode] = state
            if state.by_pid:
                result[ns.inode] = state.by_pid
        return result, errors

    def _refresh(self, ns: NsEntry, old: _NsSockets | None, now: float, full: bool,
                 all_pids: Sequence[int]) -> _NsSockets | None:
        table: dict[int, Listening] | None = None
        last_exc: OSError | None = None
        for pid in ns.pids[:8]:  # the first reader still alive will do
            try:
                table = read_listening(self.procfs, pid)
                break
            except OSError as exc:
                last_exc = exc
        if table is None:
            if last_exc is not None and not isinstance(last_exc, FileNotFoundError | ProcessLookupError):
                raise last_exc
            return None  # no process in it (a name-only namespace) or they all just exited
        owners = {} if full or old is None else {i: p for i, p in old.owners.items() if i in table}
        unowned = set() if full or old is None else old.unowned & set(table)
        missing = set(table) - set(owners) - unowned
        if missing:
            found = socket_owners(self.procfs, ns.pids, missing)
            if full and set(missing) - set(found):
                ns_pids = set(ns.pids)
                others = [p for p in all_pids if p not in ns_pids]
                found.update(socket_owners(self.procfs, others, missing - set(found)))
            owners.update(found)
            unowned |= missing - set(found)
        by_pid: dict[int, list[Listening]] = {}
        for inode, pids in owners.items():
            for pid in pids:
                by_pid.setdefault(pid, []).append(table[inode])
        frozen = {pid: tuple(sorted(set(items), key=_order)) for pid, items in sorted(by_pid.items())}
        return _NsSockets(now, frozen, owners, unowned)


def _order(entry: Listening) -> tuple[str, int, str]:
    return (entry.proto, entry.port, entry.address)
