"""The /proc scan: which processes hold tun/tap fds and which listen on sockets, per namespace.

The collector calls `ProcScanner.scan()` every second, so the scan is incremental. Reading every
process's fd links costs ~14 ms at 370 processes (KERNEL-NOTES), and even a stat of every process's fd
directory ~1 ms with its Python; instead, each call looks only at the processes `rota.Rota` says are due
(the same rule discovery follows for their namespaces), and reads the fds of
  * processes not seen before (a pid is known by pid *and* start time, so a reused pid is a new process),
  * young processes, on each of their first ticks (a process opens its tun fd or its listening socket
    right after it starts),
  * processes whose number of open fds changed since their fds were read: since Linux 6.2 a stat of
    `/proc/PID/fd` reports that number as its size (~4 us, against ~60 us to list the directory and
    read its links). That count is compared for the known tun holders on every call, for every other
    process on its turn (once in `rota.ROUNDS` calls), and for everyone when the caller says
    (`everyone`: the collector's discovery looked at every process, after a mount or a device pointing
    into an unknown namespace); so a process that opens a tun fd, a namespace fd or a socket is read
    within ROUNDS calls, whatever the host's size;
  * a slice of everyone else (kernel threads aside: they never hold an fd), so that what the count
    cannot show (an fd closed and another opened between two looks, e.g. a process attaching later to a
    persistent admin-down tap, which sends no netlink event, right after closing something) is found
    within `sweep_seconds` (3 s; 15 s when the counts are known; longer past ~1200 processes, where the
    slice is capped at `sweep_max` = 400 fd directories a call, ~18 ms); a swept process's count is
    compared too, so one that opened a socket since its last read makes its namespace's tables due.
`scan(discovery, full=True)` reads everything; the collector asks for it on any tun/tap link event (a
device appearing or going, or its state or carrier changing: a process attaching to or leaving an up
tap), and the scanner does it by itself when a known holder lost a tun fd (fd passing: libvirt hands its
fd to qemu and closes its own).

A holder's `/dev/vhost-net` fds (qemu with `vhost=on`) are read from the same fd links as its tun fds,
and so are fds on network namespaces (`net:[INODE]`, what `lsfd` shows): a namespace kept alive only by
such an fd has no name and no process inside, and discovery learns of it from here (`ns_fds`). vnettop's
own fds are left out: its sockets pin every namespace it reads, and counting them would keep a deleted
namespace alive forever (two vnettops would keep each other's).

An fd on a namespace does not always read `net:[INODE]`: one opened through a bind mount
(`open("/run/netns/X")`) reads as the mount's path, and as `/` once the mount is gone (`ip netns del`
detaches it, and the fd alone keeps the namespace). So fds reading `/`, or a path with a `/netns/`
directory in it (iproute2's, docker's, rootless Podman's), are stat()ed: the nsfs device and inode
decide. Any other path is not (a stat per fd would double the scan); such a namespace, if still mounted
in vnettop's mount namespace, is found through the mount table anyway.

Whether the holders are known at all: without root, other users' fd directories are EACCES, so a device
no fd was found on may still be held; `ProcScan.complete` says whether every process was read.
Process facts (name, command line, user) come from psutil on the live /proc (`procfacts`), only for the
processes shown, cached by (pid, start time).
"""

from __future__ import annotations

import fcntl
import math
import os
import time
from collections.abc import Callable, Collection, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from vnettop.collect.namespaces import inode_from_link
from vnettop.collect.procfacts import FactsCache, FactsSource, facts_source
from vnettop.collect.procfs import DENIED_ERRNOS, TUN_PATH, VHOST_PATH, ProcFs
from vnettop.collect.rota import Rota
from vnettop.collect.sockets import ListeningScanner
from vnettop.collect.tunfd import TunProber
from vnettop.collect.types import Discovery, ProcScan, TunFd
from vnettop.model import CollectError, Listening, NsFd, Process

_NS_PREFIX = "net:["
#: A process whose fd count changed is re-read at most this often (seconds) for that reason alone.
COUNT_GAP = 0.9


@dataclass(slots=True)
class _Known:
    """What the scanner remembers of one process between calls."""

    start: int
    tun_fds: tuple[int, ...] = ()
    vhost_fds: tuple[int, ...] = ()  # kept for tun holders only
    denied: bool = False  # its fd directory could not be read (not root)
    nfds: int = -1  # how many fds the kernel reported just before they were read (-1: not known)
    read_at: float = 0.0  # the scanner's clock when its fds were last read
    ns_fds: tuple[tuple[int, int], ...] = ()  # (fd, nsfs inode) of its fds on network namespaces
    kernel: bool = False  # a kernel thread: no fds, ever; not swept nor counted again


class ProcScanner:
    """Incremental scanner of a /proc tree (the real one, or a fake one in tests)."""

    def __init__(self, proc_root: str = "/proc", *, exact: bool | None = None,
                 sweep_seconds: float | None = None, sweep_max: int = 400,
                 listen_interval: float | None = None,
                 clock: Callable[[], float] = time.monotonic, facts: FactsSource | None = None,
                 facts_max_age: float = 30.0, nsfs_dev: int | None = None,
                 fd_counts: bool | None = None, self_pid: int | None = None) -> None:
        """`fd_counts`: re-read processes whose fd count changed (None: when the live kernel reports
        counts). `sweep_seconds` (None: 15 s with counts, else 3 s): every process is re-read at
        least this often. `listen_interval` (None: 15 s with counts, else 3 s): a namespace's socket
        tables are re-read at least this often (at once when one of its processes opened or closed fds,
        if counts are known: a socket that starts or stops listening does). `self_pid`: the vnettop
        process whose namespace fds are left out (None: this one; a scan forked ahead for its parent
        gives the parent's, see `scan_ahead`)."""
        self.procfs = ProcFs(proc_root)
        #: Names, command lines and users: psutil on the live /proc, the tree's files on a fake one.
        self.facts = FactsCache(facts or facts_source(self.procfs), facts_max_age, clock)
        self.prober = TunProber(self.procfs, exact)
        self.fd_counts = _kernel_counts_fds(self.procfs) if fd_counts is None else fd_counts
        slow = 15.0 if self.fd_counts else 3.0
        every = slow if listen_interval is None else listen_interval
        self.listening = ListeningScanner(self.procfs, every, clock)
        if self.fd_counts:  # changes are read when they happen: the periodic re-read is a safety net
            self.listening.min_per_call, self.listening.max_per_call = 4, 8
        self.sweep_seconds = slow if sweep_seconds is None else sweep_seconds
        #: At most this many fd directories swept per call (~45 us each): with many processes the
        #: sweep takes longer than `sweep_seconds` rather than costing more per call.
        self.sweep_max = sweep_max
        self.clock = clock
        #: Which known processes are due this call (young ones, and a 1/ROUNDS turn of the others).
        self.rota = Rota(clock=clock)
        self._known: dict[int, _Known] = {}
        #: Kept beside `_known` so that a call costs what changed, not a walk over every process: the
        #: pids holding tun fds, those holding namespace fds, those whose fds we may not read.
        self._holders: set[int] = set()
        self._ns_holders: set[int] = set()
        self._denied_pids: set[int] = set()
        self._kernel_pids: set[int] = set()  # kernel threads: never swept (see `ProcFs.stat_facts`)
        self._ns_fds_memo: dict[int, tuple[NsFd, ...]] | None = None
        #: pid -> its tun fds as last probed, kept while its fds are not read again (a full scan reads all)
        #: and only for attached, exact answers: see `_probe_holders`.
        self._probed: dict[int, list[TunFd]] = {}
        self._sweep_queue: list[int] = []
        self._last: float | None = None
        self._now = 0.0  # the clock at the start of the current call
        #: How many fd directories the last call read (for benchmarks and tests of incrementality).
        self.last_fd_reads = 0
        #: Whether the last call read every process's fds (a full scan, or the first one).
        self.last_read_all = False
        self._root = os.geteuid() == 0
        #: This process, whose own namespace fds are never reported (see the module docstring).
        self._self_pid = (self_pid or os.getpid()) if self.procfs.is_live else None
        #: st_dev of the nsfs file system, to recognise a namespace fd that does not read `net:[...]`.
        self.nsfs_dev = nsfs_dev if nsfs_dev is not None else _nsfs_dev(self.procfs)
        self._fd_cache: dict[int, dict[int, str]] = {}  # fd links read during this call, for the sockets

    # -- the public call ---------------------------------------------------------------------

    def let_go(self, alive: Collection[int]) -> None:
        """Close the sockets kept in namespaces not in `alive` (they pin them; see `DiagSockets`)."""
        self.listening.let_go(alive)

    def close(self) -> None:
        """Close the sockets kept in namespaces (the scanner may still scan: they are made again)."""
        self.listening.close()

    def scan(self, discovery: Discovery, full: bool = False, everyone: bool = False) -> ProcScan:
        """Tun fds and interesting processes now. Never raises: what cannot be read goes to errors.

        `full`: read every process's fds. `everyone`: compare every process's fd count (not only the
        young's and those whose turn it is), as when something told that a process may have changed
        (the collector's discovery looked at every process's namespace)."""
        now = self._now = self.clock()
        errors: list[CollectError] = []
        try:  # the discovery's listing when it has one: this call follows it within milliseconds
            pids = set(discovery.pids) if discovery.pids is not None else set(self.procfs.pids())
        except OSError as exc:
            return ProcScan((), {}, (CollectError("proc", f"cannot list {self.procfs.root}: {exc}"),),
                            complete=False)
        self.last_fd_reads = 0
        self._fd_cache = {}
        _new, due, gone = self.rota.tick(pids, everyone)
        for pid in gone:
            self._drop(pid)
        new = pids - self._known.keys()  # the rota's new, and any whose last read failed

        hot: set[int] = set()  # namespaces whose processes are new or opened/closed fds: tables due now
        if full:
            todo = set(pids)
            self._sweep_queue = []
        else:
            young = self.rota.young()
            swept = self._sweep_slice(pids, now)
            todo = new | (young & due) | swept
            if self.fd_counts:
                # A holder is looked at on every call, but read again only when its fd count changed (a
                # tun fd closed or passed on, or another opened): what the count cannot show, the
                # sweep and a full scan on any tun/tap link event do. The swept are compared too: their
                # read takes in the new count, so a socket opened since would otherwise never make
                # their namespace's tables due.
                changed = self._counts_changed((due | self._holders | swept) - new, young | swept, now)
                todo |= changed
                where = discovery.pid_netns.get
                hot = {ns for pid in new | changed if (ns := where(pid)) is not None}
            else:
                todo |= self._holders
        # Socket tables before fd links (see ListeningScanner.read_tables for why).
        # Root reads every fd directory: no namespace is left out for want of readable fds.
        root_reads_all = self._root and not self._denied_pids
        self.listening.read_tables(discovery.namespaces, full, None if root_reads_all else self._denied, hot)
        lost_fd = self._read_fds(todo, verify=not full)
        if lost_fd and not full:
            self._read_fds(pids - todo, verify=True)
            todo = pids
        self.last_read_all = todo >= pids
        self._last = now

        tun_fds, fallback = self._probe_holders(todo)
        if fallback:
            errors.append(CollectError("proc", f"tun/tap holders matched by device name only ({fallback})"))
        listening, listen_errors = self.listening.trace(full, sorted(pids), self._fd_cache)
        self._fd_cache = {}
        errors.extend(listen_errors)
        denied = len(self._denied_pids)
        if denied:
            # (root refused: a container or unit without CAP_SYS_PTRACE, or a security module; reading a
            # process's fds needs ptrace read access to it, whoever we are: "run as root" is no help)
            fix = "ptrace access to them was refused" if self._root else "run as root to see them"
            errors.append(CollectError(
                "proc", f"cannot read the fds of {denied} processes (permission denied): tun/tap holders "
                f"and listening sockets of other users' processes are not shown; {fix}"))
        holders = {fd.pid for fd in tun_fds}
        processes = self._processes(discovery, holders, listening)
        vhost = {pid: self._known[pid].vhost_fds for pid in sorted(holders)
                 if pid in self._known and self._known[pid].vhost_fds}
        return ProcScan(tuple(tun_fds), processes, tuple(errors), vhost, complete=not denied,
                        ns_fds=self.ns_fds())

    @property
    def kernel_pids(self) -> AbstractSet[int]:
        """The known processes that are kernel threads (PF_KTHREAD), kept current by every call: the
        set itself, read-only to the caller (the collector's discovery gives them no turn)."""
        return self._kernel_pids

    def ns_fds(self) -> dict[int, tuple[NsFd, ...]]:
        """nsfs inode -> the fds processes hold on that network namespace, as last read (a process's fds
        are re-read at least every `sweep_seconds`)."""
        if self._ns_fds_memo is not None:
            return self._ns_fds_memo
        out: dict[int, list[NsFd]] = {}
        known_map = self._known
        for pid in self._ns_holders:
            for fd, inode in known_map[pid].ns_fds:
                out.setdefault(inode, []).append(NsFd(pid, fd))
        self._ns_fds_memo = {inode: tuple(sorted(fds, key=lambda h: (h.pid, h.fd)))
                             for inode, fds in out.items()}
        return self._ns_fds_memo

    # -- fds ---------------------------------------------------------------------------------

    def _denied(self, pid: int) -> bool:
        """Whether this process's fds are unreadable to us (known from the last read, else asked)."""
        known = self._known.get(pid)
        if known is not None:
            return known.denied
        # effective_ids: access(2) checks with the real uid and, for a non-root one, no capability at all;
        # a read-only account holding CAP_DAC_READ_SEARCH + CAP_SYS_PTRACE can read the fds it refuses.
        return not self._root and not os.access(self.procfs.path(pid, "fd"), os.R_OK, effective_ids=True)

    def _counts_changed(self, pids: Iterable[int], anyway: Collection[int], now: float) -> set[int]:
        """Those of `pids`, known and readable, whose fd count differs from the one their fds were read
        at. A process not in `anyway` counts at most once per `COUNT_GAP` (a server opening connections
        all the time is not re-read on every call of a fast caller); one in it (young, or swept this
        call) is read anyway, and this says whether its namespace's socket tables are due too."""
        out: set[int] = set()
        fd_dir = self.procfs.path
        stat = os.stat
        known_map = self._known
        for pid in pids:
            known = known_map.get(pid)
            if (known is None or known.denied or known.kernel
                    or (now - known.read_at < COUNT_GAP and pid not in anyway)):
                continue
            try:
                if stat(fd_dir(pid, "fd")).st_size != known.nfds:
                    out.add(pid)
            except OSError:
                out.add(pid)  # gone (or a zombie): reading it settles which
        return out

    def _sweep_slice(self, pids: set[int], now: float) -> set[int]:
        """Known, non-holder pids to re-read this call, so all are re-read every `sweep_seconds`.

        With fd counts, this very process is left to its count: at 1000 namespaces it holds ~3000
        sockets (~7 ms to read), it never opens a tun/tap, and what else it opens changes its count.
        Kernel threads are left out, and out of the share too: they hold no fds, ever (a hypervisor
        runs hundreds of them; here 62 of ~385 processes were, a sixth of the sweep read for nothing)."""
        if self._last is None or self.sweep_seconds <= 0:
            return set()
        share = min(1.0, max(0.0, now - self._last) / self.sweep_seconds)
        count = min(math.ceil(len(pids - self._kernel_pids) * share), self.sweep_max)
        skip = self._self_pid if self.fd_counts else None
        out: set[int] = set()
        refilled = False
        while len(out) < count:
            if not self._sweep_queue:
                if refilled:
                    break  # every known process is in already
                self._sweep_queue = sorted(self._known, reverse=True)
                refilled = True
                if not self._sweep_queue:
                    break
            pid = self._sweep_queue.pop()
            known = self._known.get(pid)
            if known is not None and not known.kernel and pid != skip:
                out.add(pid)
        return out

    def _read_fds(self, pids: Iterable[int], verify: bool) -> bool:
        """Re-read the fd links of `pids`; True if a known holder lost a tun fd (so: rescan everything).

        A known pid's start time is compared first: a changed one is a new process that reused the pid,
        and is read from scratch. `verify` asks to report lost tun fds (pointless in a full scan).
        """
        lost = False
        for pid in pids:
            old = self._known.get(pid)
            try:
                start, kernel = self.procfs.stat_facts(pid)
            except (OSError, ValueError, IndexError):
                self._drop(pid)
                continue
            if old is not None and old.start != start:  # the pid was reused: forget the one it was
                self._drop(pid)
                old = None
            known = old if old is not None else _Known(start)
            known.kernel = kernel
            self.last_fd_reads += 1
            try:
                known.read_at = self._now
                if self.fd_counts:  # before the links: a change after this shows at the next call
                    known.nfds = os.stat(self.procfs.path(pid, "fd")).st_size
                targets = self.procfs.fd_targets(pid)
            except OSError as exc:
                # Denied: not root. Otherwise gone or a zombie: keep it known (with no fds) so it is
                # not re-read as new every call; if it is gone, the next listing drops it.
                known.denied = exc.errno in DENIED_ERRNOS
                if known.denied:  # (as read: no fds to see, so the socket owners' search skips it)
                    self._fd_cache[pid] = {}
                known.tun_fds = known.vhost_fds = ()
                self._set_ns_fds(pid, known, ())
                self._remember(pid, known)
                continue
            self._fd_cache[pid] = targets
            fds = tuple(sorted(fd for fd, target in targets.items() if target == TUN_PATH))
            if old is not None and verify and not set(old.tun_fds) <= set(fds):
                lost = True
            known.tun_fds = fds
            known.vhost_fds = tuple(sorted(fd for fd, t in targets.items() if t == VHOST_PATH)) if fds else ()
            self._set_ns_fds(pid, known, () if pid == self._self_pid else self._ns_fds(pid, targets))
            known.denied = False
            self._remember(pid, known)
        return lost

    def _remember(self, pid: int, known: _Known) -> None:
        """Keep `known` as what is known of `pid`, and the sets kept beside it in step."""
        self._known[pid] = known
        if known.tun_fds:
            self._holders.add(pid)
        else:
            self._holders.discard(pid)
        if known.denied:
            self._denied_pids.add(pid)
        else:
            self._denied_pids.discard(pid)
        if known.kernel:
            self._kernel_pids.add(pid)
        else:
            self._kernel_pids.discard(pid)

    def _set_ns_fds(self, pid: int, known: _Known, ns_fds: tuple[tuple[int, int], ...]) -> None:
        if ns_fds != known.ns_fds:
            known.ns_fds = ns_fds
            self._ns_fds_memo = None
        if ns_fds:
            self._ns_holders.add(pid)
        else:
            self._ns_holders.discard(pid)

    def _drop(self, pid: int) -> None:
        """Forget a process (it exited, or cannot be read any more)."""
        if self._known.pop(pid, None) is None:
            return
        self._holders.discard(pid)
        self._denied_pids.discard(pid)
        self._kernel_pids.discard(pid)
        self._probed.pop(pid, None)
        if pid in self._ns_holders:
            self._ns_holders.discard(pid)
            self._ns_fds_memo = None

    def _probe_holders(self, read: Collection[int]) -> tuple[list[TunFd], str | None]:
        """A TunFd for every tun fd of every holder, exact where the kernel allows.

        A holder whose fds were not read again (`read`) since an exact probe found each of its tun fds
        attached keeps that answer (~0.1 ms a holder saved per call): the device such an fd is attached
        to stays the same for the fd's life; a device renamed or moved to another namespace sends a link
        event, and the full scan that follows probes everything again. Answers with an fd not attached
        yet, or by name only, are asked again on every call.
        """
        out: list[TunFd] = []
        fallback: str | None = None
        probed = self._probed
        for pid in sorted(self._holders):
            kept = probed.get(pid) if pid not in read else None
            if kept is not None:
                out.extend(kept)
                continue
            try:
                found = self.prober.probe(pid, self._known[pid].tun_fds)
            except OSError:
                self._drop(pid)  # exited since we read its fds
                continue
            if self.prober.last_fallback and fallback is None:
                fallback = self.prober.last_fallback
            if found and all(f.exact and f.iff is not None for f in found):
                probed[pid] = found
            else:
                probed.pop(pid, None)
            out.extend(found)
        return out, fallback

    def _ns_fds(self, pid: int, targets: dict[int, str]) -> tuple[tuple[int, int], ...]:
        """(fd, inode) of the fds among `targets` open on a network namespace, by fd (module docstring)."""
        out = []
        for fd, target in targets.items():
            if target.startswith(_NS_PREFIX):
                inode = inode_from_link(target)
            elif target == "/" or "/netns/" in target:
                inode = self._nsfs_inode(pid, fd)
            else:
                continue
            if inode is not None:
                out.append((fd, inode))
        return tuple(sorted(out))

    def _nsfs_inode(self, pid: int, fd: int) -> int | None:
        """The namespace inode an fd is open on, if it is on nsfs and a network namespace."""
        if self.nsfs_dev is None:
            return None
        try:
            st = os.stat(self.procfs.path(pid, "fd", str(fd)))
        except OSError:
            return None
        if st.st_dev != self.nsfs_dev:
            return None
        if self.procfs.is_live and not _is_netns(self.procfs.path(pid, "fd", str(fd))):
            return None  # nsfs holds every kind of namespace (mount, uts... bind mounts): not this one
        return st.st_ino

    # -- processes ---------------------------------------------------------------------------

    def _processes(self, discovery: Discovery, holders: set[int],
                   listening: dict[int, dict[int, tuple[Listening, ...]]]) -> dict[int, tuple[Process, ...]]:
        """netns inode -> the holders and listeners living in it, by pid."""
        socks: dict[int, list[Listening]] = {}
        for by_pid in listening.values():
            for pid, items in by_pid.items():
                socks.setdefault(pid, []).extend(items)
        out: dict[int, list[Process]] = {}
        shown = holders | set(socks)
        for pid in sorted(shown):
            netns = discovery.pid_netns.get(pid)
            known = self._known.get(pid)  # None: a listener that appeared after this call listed /proc
            try:
                if netns is None:
                    netns = self.procfs.netns_inode(pid)
                facts = self.facts.get(pid, known.start if known is not None else None)
            except (OSError, ValueError, IndexError):
                continue  # exited mid-scan
            items = tuple(sorted(set(socks.get(pid, ())), key=lambda s: (s.proto, s.port, s.address)))
            out.setdefault(netns, []).append(Process(pid, facts.name, facts.cmdline, facts.user, items))
        self.facts.retain(shown)
        return {ns: tuple(procs) for ns, procs in sorted(out.items())}



NS_GET_NSTYPE = 0xB703  # _IO(0xb7, 0x3): the CLONE_NEW* type of a namespace fd
CLONE_NEWNET = 0x40000000


def _is_netns(path: str) -> bool:
    """Whether the nsfs file at `path` is a network namespace (asked of the kernel; opened briefly)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return bool(fcntl.ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWNET)
    except OSError:
        return False
    finally:
        os.close(fd)


def _kernel_counts_fds(procfs: ProcFs) -> bool:
    """Whether a stat of `/proc/PID/fd` reports the number of open fds (Linux >= 6.2; 0 before)."""
    if not procfs.is_live:
        return False  # a fake tree's directories have sizes of their own
    try:
        return os.stat("/proc/self/fd").st_size > 0  # this process has stdin/out/err or sockets open
    except OSError:
        return False


def _nsfs_dev(procfs: ProcFs) -> int | None:
    """The live nsfs device; None for a fake tree (its tests say which device stands for nsfs)."""
    if not procfs.is_live:
        return None
    try:
        return os.stat("/proc/self/ns/net").st_dev
    except OSError:
        return None
